package schematest_test

import (
	"encoding/json"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"sessionwatch/internal/schematest"
	"sessionwatch/schema"
)

func load(t *testing.T, detailType string) map[string]any {
	t.Helper()
	raw, err := schema.Content(detailType)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", detailType, err)
	}
	return doc
}

// TestSchemaFiles checks what the Schema Registry and a consumer rely on:
// draft 4, one detail type each, a title (the registry's schema name),
// content within CreateSchema's 100,000 characters (the Schema Registry
// API reference), and every object of the detail closed, so that a field
// the code adds and the schema lacks fails validation.
func TestSchemaFiles(t *testing.T) {
	for _, f := range schema.Files {
		t.Run(f.Name, func(t *testing.T) {
			raw, _ := schema.Content(f.DetailType)
			if n := len([]rune(string(raw))); n > 100000 {
				t.Errorf("%d characters, over the registry's 100,000", n)
			}
			doc := load(t, f.DetailType)
			if doc["$schema"] != "http://json-schema.org/draft-04/schema#" || doc["title"] != f.Title ||
				doc["x-amazon-events-detail-type"] != f.DetailType {
				t.Errorf("$schema %v, title %v, x-amazon-events-detail-type %v", doc["$schema"], doc["title"], doc["x-amazon-events-detail-type"])
			}
			props := doc["properties"].(map[string]any)
			if got := props["detail-type"].(map[string]any)["enum"]; !reflect.DeepEqual(got, []any{f.DetailType}) {
				t.Errorf("detail-type enum %v", got)
			}
			defs := doc["definitions"].(map[string]any)
			for name, def := range defs {
				d := def.(map[string]any)
				if d["type"] == "object" && d["additionalProperties"] != false {
					t.Errorf("definitions/%s: additionalProperties %v, want false", name, d["additionalProperties"])
				}
			}
			if props["detail"].(map[string]any)["$ref"] != "#/definitions/"+f.Title {
				t.Errorf("detail is %v, want a $ref to #/definitions/%s", props["detail"], f.Title)
			}
		})
	}
}

// TestSharedParts: the four files are each self-contained (the registry
// takes one document per schema), so the parts they share are copies;
// this keeps the copies equal.
func TestSharedParts(t *testing.T) {
	shared := map[string]any{}
	for _, f := range schema.Files {
		doc := load(t, f.DetailType)
		defs := doc["definitions"].(map[string]any)
		for name, def := range defs {
			if name == f.Title {
				continue
			}
			if prev, ok := shared[name]; ok && !reflect.DeepEqual(prev, def) {
				t.Errorf("%s: definitions/%s differs from the other files'", f.Name, name)
			}
			shared[name] = def
		}
		env := maps.Clone(doc["properties"].(map[string]any))
		delete(env, "detail-type")
		delete(env, "detail")
		env["required"] = doc["required"]
		if prev, ok := shared["envelope"]; ok && !reflect.DeepEqual(prev, env) {
			t.Errorf("%s: the envelope differs from the other files'", f.Name)
		}
		shared["envelope"] = env
	}
}

func published(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("../../events/published/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestErrorsNameEventAndField: a failure says which event, and which
// field of it, breaks the contract.
func TestErrorsNameEventAndField(t *testing.T) {
	ev := published(t, "state-change.json")
	detail := ev["detail"].(map[string]any)
	detail["addedByCode"] = "x"
	detail["session"].(map[string]any)["role"] = 5
	delete(detail, "eventId")
	raw, _ := json.Marshal(ev)
	err := schematest.Event(raw)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"Glue Session State Change" nightly-etl-dev#3`, "glue-session-state-change.json",
		`"/detail"`, "addedByCode", "eventId", `"/detail/session/role"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}

	raw, _ = json.Marshal(map[string]any{"detail-type": "Glue Session Restarted", "detail": map[string]any{"sessionId": "s-1", "sequence": 1}})
	if err := schematest.Event(raw); err == nil || !strings.Contains(err.Error(), `"Glue Session Restarted" s-1#1`) {
		t.Errorf("unknown detail type: %v", err)
	}
}

// TestForms: an event as EventBridge delivers it, as moto delivers it (no
// account), and as the PutEvents entry it came from, all validate; a
// detail that breaks the schema fails in each form.
func TestForms(t *testing.T) {
	for _, f := range schema.Files {
		name := strings.TrimPrefix(f.Name, "glue-session-")
		t.Run(name, func(t *testing.T) {
			ev := published(t, name)
			raw, _ := json.Marshal(ev)
			if err := schematest.Event(raw); err != nil {
				t.Errorf("delivered by EventBridge: %v", err)
			}
			delete(ev, "account")
			moto, _ := json.Marshal(ev)
			if err := schematest.Event(moto); err == nil {
				t.Error("an event without account passed as one EventBridge delivers")
			}
			if err := schematest.Delivered(moto); err != nil {
				t.Errorf("delivered by moto: %v", err)
			}
			detail, _ := json.Marshal(ev["detail"])
			at, _ := time.Parse(time.RFC3339, ev["time"].(string))
			entry := ebtypes.PutEventsRequestEntry{Source: aws.String("sessionwatch"), DetailType: aws.String(f.DetailType),
				Detail: aws.String(string(detail)), Time: &at, Resources: []string{ev["resources"].([]any)[0].(string)}}
			if err := schematest.Entry(entry); err != nil {
				t.Errorf("entry: %v", err)
			}
			entry.Resources = nil
			if err := schematest.Entry(entry); err != nil {
				t.Errorf("entry without resources: %v", err)
			}
			entry.Detail = aws.String(strings.Replace(string(detail), `"sequence":`, `"sequence":-`, 1))
			if err := schematest.Entry(entry); err == nil || !strings.Contains(err.Error(), `"/detail/sequence"`) {
				t.Errorf("entry with a negative sequence: %v", err)
			}
		})
	}
}

// TestUnseen: the fields and types the schemas allow that no validated
// event had, listed by detail type.
func TestUnseen(t *testing.T) {
	ev := published(t, "deleted.json")
	raw, _ := json.Marshal(ev)
	if err := schematest.Event(raw); err != nil {
		t.Fatal(err)
	}
	unseen, err := schematest.Unseen()
	if err != nil {
		t.Fatal(err)
	}
	got := unseen["Glue Session Deleted"]
	// deleted.json has every required field, with previousStatus set and
	// previousErrorMessage and createdBy null.
	for _, want := range []string{"/detail/createdBy string", "/detail/previousStatus null", "/detail/previousErrorMessage string"} {
		if !slices.Contains(got, want) {
			t.Errorf("unseen %q lacks %q", got, want)
		}
	}
	for _, never := range []string{"/detail/status null", "/detail/previousStatus string", "/detail/sessionId"} {
		if slices.Contains(got, never) {
			t.Errorf("unseen %q holds %q, which the event had", got, never)
		}
	}
	if len(unseen["Glue Session Alert"]) == 0 {
		t.Error("nothing unseen of an alert, though no alert was validated")
	}
}
