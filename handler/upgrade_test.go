package handler_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/state"
)

// firstVersionTable reads testdata/v1-table.json: the items of a table the
// first version of sessionwatch wrote (see its "comment"), in DynamoDB's
// JSON.
func firstVersionTable(t *testing.T) []map[string]dbtypes.AttributeValue {
	t.Helper()
	raw, err := os.ReadFile("testdata/v1-table.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var items []map[string]dbtypes.AttributeValue
	for _, it := range doc.Items {
		item := map[string]dbtypes.AttributeValue{}
		for name, v := range it {
			item[name] = dynamoJSON(t, v)
		}
		items = append(items, item)
	}
	return items
}

// dynamoJSON decodes one attribute value written in DynamoDB's JSON.
func dynamoJSON(t *testing.T, raw json.RawMessage) dbtypes.AttributeValue {
	t.Helper()
	var v struct {
		S    *string
		N    *string
		BOOL *bool
		SS   []string
		L    []json.RawMessage
		M    map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	switch {
	case v.S != nil:
		return &dbtypes.AttributeValueMemberS{Value: *v.S}
	case v.N != nil:
		return &dbtypes.AttributeValueMemberN{Value: *v.N}
	case v.BOOL != nil:
		return &dbtypes.AttributeValueMemberBOOL{Value: *v.BOOL}
	case v.SS != nil:
		return &dbtypes.AttributeValueMemberSS{Value: v.SS}
	case v.L != nil:
		l := &dbtypes.AttributeValueMemberL{}
		for _, e := range v.L {
			l.Value = append(l.Value, dynamoJSON(t, e))
		}
		return l
	case v.M != nil:
		m := &dbtypes.AttributeValueMemberM{Value: map[string]dbtypes.AttributeValue{}}
		for k, e := range v.M {
			m.Value[k] = dynamoJSON(t, e)
		}
		return m
	}
	t.Fatalf("unknown attribute value %s", raw)
	return nil
}

// TestUpgradeFromFirstVersion: deploying this version over a table the
// first version wrote loses nothing and announces nothing twice. Its first
// run publishes exactly the two events the first version kept pending
// (with their eventIds), announces no session again, moves the one-item
// registry into the index (the ids it had skipped first), and puts the
// sessions last seen unfinished in the registry; the run after it is
// quiet: no write, no event.
func TestUpgradeFromFirstVersion(t *testing.T) {
	for _, backend := range []struct {
		name string
		opts []option
	}{{"fake", nil}, {"moto", []option{onMoto()}}} {
		t.Run(backend.name, func(t *testing.T) {
			tb := newTestbed(t, append(backend.opts, freshTable(), env("SESSION_IDS", "cfg-ready"),
				env("DISCOVER", "true"), env("DISCOVER_TAGS", "team=data"))...)
			for _, item := range firstVersionTable(t) {
				tb.seed(t, item)
			}
			// Glue as the first version last saw it.
			created := time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)
			done := created.Add(30 * time.Minute)
			glue := func(id, status, errMsg string, tags map[string]string) {
				s := &gluetypes.Session{Id: aws.String(id), Status: gluetypes.SessionStatus(status), CreatedOn: &created}
				if errMsg != "" {
					s.ErrorMessage = aws.String(errMsg)
				}
				if state.IsFinished(status) {
					s.CompletedOn = &done
				}
				tb.glue.put(s, tags)
			}
			data := map[string]string{"team": "data"}
			glue("cfg-ready", "STOPPING", "", nil)
			glue("trk-ready", "READY", "Py4JJavaError", nil)
			glue("trk-stopped", "STOPPED", "", nil)
			glue("disc-ready", "READY", "", data)
			glue("disc-failed", "FAILED", "OutOfMemoryError", data)
			tb.now = time.Date(2026, 11, 20, 9, 10, 0, 0, time.UTC)

			res := tb.poll(t, lambdaCtx(), handler.Request{})
			evs := tb.events(t)
			wantEvents(t, evs, "cfg-ready#2 Glue Session State Change READY->STOPPING", "trk-ready#2 Glue Session Error READY->READY")
			if ids := eventIDs(evs); !sameSet(ids, []string{"71f57f38afb8a2f55fa35387692d27ed", "d977411dabf27e0512d6ae52d33de56c"}) {
				t.Errorf("eventIds %q, want the ones the first version kept", ids)
			}
			if res.Published != 2 || res.Pending != 0 || len(res.Errors) != 0 {
				t.Errorf("first run: %+v, want the 2 kept events published, no error", res)
			}
			if got, want := tb.registry(t), []string{"cfg-ready", "disc-ready", "trk-ready", "trk-unknown"}; !slices.Equal(got, want) {
				t.Errorf("registry %q, want %q (the tracked ids and the sessions last seen unfinished)", got, want)
			}
			items := tb.items(t)
			for id, item := range items {
				if _, ok := item["Pending"]; ok {
					t.Errorf("%q still keeps events in its snapshot", id)
				}
				if strings.HasPrefix(id, state.OutboxPrefix) {
					t.Errorf("outbox still holds %q", id)
				}
			}
			if _, ok := items[state.LegacyRegistryKey]; ok {
				t.Error("the first version's registry item is still there")
			}
			if run := tb.run(t); run.Layout != state.Layout {
				t.Errorf("run item %+v, want layout %d", run, state.Layout)
			}

			tb.reset()
			tb.advance(5 * time.Minute)
			res = tb.poll(t, lambdaCtx(), handler.Request{})
			if len(tb.events(t)) != 0 || tb.writes() != 0 || len(res.Errors) != 0 {
				t.Errorf("second run: %+v, %d events, DynamoDB calls %v; want quiet", res, len(tb.events(t)), tb.dbCalls())
			}
		})
	}
}
