package templatetest

// Tests of the TrackFromCloudTrail rules: what the template declares, that
// their patterns pick exactly the records they should (in moto), and that
// their input transformers hand the function the record's envelope and the
// fields it reads and nothing else, neither in moto nor under AWS's
// documented transformer behaviour (ebModels, transformer_test.go), which moto does not
// follow.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/awslabs/goformation/v7/cloudformation/events"

	"sessionwatch/internal/awstest"
)

// plantedSecret is put into the DefaultArguments of a CreateSession
// record, in its request parameters and in its response elements.
const plantedSecret = "PLANTED-SECRET-7f3a"

// cloudTrailRules are the rules TrackFromCloudTrail adds, by logical id,
// with the Lambda permission of each.
var cloudTrailRules = map[string]string{
	"CloudTrailCreateRule":     "CloudTrailCreatePermission",
	"CloudTrailStopDeleteRule": "CloudTrailStopDeletePermission",
}

// record is one CloudTrail record as EventBridge delivers it.
type record struct {
	name string
	raw  []byte
	// matchedBy is the rule that should match it ("" for none).
	matchedBy string
	// reduced is the input the rule's transformer should produce from it,
	// as JSON, when it is matched.
	reduced string
}

// records returns the CloudTrail records the rules are tested with: the
// sample records under events/ (a create, a stop and a delete, matched; a
// failed create, not matched), and, made from the sample create, a create
// whose DefaultArguments hold plantedSecret (matched), a RunStatement and
// a create of an id holding a double quote (not matched).
func records(tb testing.TB) []record {
	tb.Helper()
	read := func(name string) map[string]any { return readJSON(tb, filepath.Join("../../events", name)) }
	create := func(change func(d map[string]any)) map[string]any {
		m := read("cloudtrail-create-session.json")
		change(asMap(m["detail"]))
		return m
	}
	samples := []struct {
		name      string
		m         map[string]any
		matchedBy string
	}{
		{"cloudtrail-create-session.json", read("cloudtrail-create-session.json"), "CloudTrailCreateRule"},
		{"cloudtrail-stop-session.json", read("cloudtrail-stop-session.json"), "CloudTrailStopDeleteRule"},
		{"cloudtrail-delete-session.json", read("cloudtrail-delete-session.json"), "CloudTrailStopDeleteRule"},
		{"cloudtrail-create-session-failed.json", read("cloudtrail-create-session-failed.json"), ""},
		{"create with a secret", create(func(d map[string]any) {
			for _, args := range []any{asMap(d["requestParameters"])["defaultArguments"], asMap(asMap(d["responseElements"])["session"])["defaultArguments"]} {
				asMap(args)["--conf"] = "spark.hadoop.fs.s3a.secret.key=" + plantedSecret
			}
		}), "CloudTrailCreateRule"},
		{"RunStatement", create(func(d map[string]any) {
			d["eventName"] = "RunStatement"
			d["requestParameters"] = map[string]any{"sessionId": "data-eng-notebook-7", "code": "print(1)"}
			d["responseElements"] = map[string]any{"id": 1}
		}), ""},
		{"create of an id with a double quote", create(func(d map[string]any) {
			asMap(d["requestParameters"])["id"] = `nb-"7"`
			asMap(asMap(d["responseElements"])["session"])["id"] = `nb-"7"`
		}), ""},
	}
	envelope := func(r map[string]any) string {
		b, _ := json.Marshal(map[string]any{
			"version": r["version"], "id": r["id"], "detail-type": r["detail-type"], "source": r["source"],
			"account": r["account"], "time": r["time"], "region": r["region"], "resources": r["resources"],
		})
		return string(b[:len(b)-1]) // without its closing brace
	}
	var out []record
	for _, sm := range samples {
		r := record{name: sm.name, matchedBy: sm.matchedBy}
		m := sm.m
		r.raw, _ = json.Marshal(m)
		d := asMap(m["detail"])
		switch r.matchedBy {
		case "CloudTrailCreateRule":
			r.reduced = fmt.Sprintf(`%s,"detail":{"eventSource":%q,"eventName":%q,"userIdentity":{"arn":%q},"requestParameters":{"id":%q},"responseElements":{"session":{"id":%q}}}}`,
				envelope(m), d["eventSource"], d["eventName"], asMap(d["userIdentity"])["arn"],
				asMap(d["requestParameters"])["id"], asMap(asMap(d["responseElements"])["session"])["id"])
		case "CloudTrailStopDeleteRule":
			r.reduced = fmt.Sprintf(`%s,"detail":{"eventSource":%q,"eventName":%q,"requestParameters":{"id":%q}}}`,
				envelope(m), d["eventSource"], d["eventName"], asMap(d["requestParameters"])["id"])
		}
		out = append(out, r)
	}
	if !bytes.Contains(out[4].raw, []byte(plantedSecret)) {
		tb.Fatal("no planted secret")
	}
	return out
}

func TestCloudTrailRules(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		s := deploy(t, nil)
		for rule, perm := range cloudTrailRules {
			for _, id := range []string{rule, perm, "CloudTrailDeadLetterQueuePolicy"} {
				if _, ok := s.Resolved[id]; ok {
					t.Errorf("%s is created without TrackFromCloudTrail", id)
				}
			}
		}
	})

	s := deploy(t, map[string]any{"TrackFromCloudTrail": "true", "CreateEventBus": "true", "EventBusName": "sessionwatch"})
	fn := function(t, s)
	// Runs at once would reuse sequence numbers on a moving session.
	if got := aws.ToInt(fn.ReservedConcurrentExecutions); got != 1 {
		t.Errorf("ReservedConcurrentExecutions = %d, want 1", got)
	}
	for id, perm := range cloudTrailRules {
		t.Run(id, func(t *testing.T) {
			rule, err := s.GetEventsRuleWithName(id)
			if err != nil {
				t.Fatal(err)
			}
			// CloudTrail records reach the default bus only, whatever bus
			// sessionwatch publishes to.
			if got := aws.ToString(rule.EventBusName); got != "default" {
				t.Errorf("EventBusName = %q, want default", got)
			}
			if aws.ToString(rule.State) != "ENABLED" {
				t.Errorf("State = %q", aws.ToString(rule.State))
			}
			p := asMap(rule.EventPattern)
			d := asMap(p["detail"])
			if !slices.Equal(strs(p["source"]), []string{"aws.glue"}) || !slices.Equal(strs(p["detail-type"]), []string{"AWS API Call via CloudTrail"}) ||
				!slices.Equal(strs(d["eventSource"]), []string{"glue.amazonaws.com"}) {
				t.Errorf("pattern %v does not select Glue's CloudTrail records", p)
			}
			if len(rule.Targets) != 1 {
				t.Fatalf("%d targets, want 1", len(rule.Targets))
			}
			tg := rule.Targets[0]
			if tg.Arn != "${"+functionID+".Arn}" {
				t.Errorf("target %s, want the function", tg.Arn)
			}
			if tg.InputTransformer == nil || tg.Input != nil || tg.InputPath != nil {
				t.Fatal("the target does not reduce the record with an input transformer")
			}
			for name, path := range tg.InputTransformer.InputPathsMap {
				if strings.HasPrefix(path, "$.detail.requestParameters") && path != "$.detail.requestParameters.id" ||
					strings.HasPrefix(path, "$.detail.responseElements") && path != "$.detail.responseElements.session.id" ||
					path == "$.detail" || path == "$" {
					t.Errorf("variable %s takes %s, which can hold the session's DefaultArguments", name, path)
				}
			}
			if rp := tg.RetryPolicy; rp == nil || rp.MaximumRetryAttempts == nil || rp.MaximumEventAgeInSeconds == nil {
				t.Error("no explicit RetryPolicy")
			}
			if dl := tg.DeadLetterConfig; dl == nil || aws.ToString(dl.Arn) != "${DeadLetterQueue.Arn}" {
				t.Errorf("DeadLetterConfig %+v, want the dead-letter queue", dl)
			}
			lp, err := s.GetLambdaPermissionWithName(perm)
			if err != nil {
				t.Fatal(err)
			}
			if lp.Action != "lambda:InvokeFunction" || lp.Principal != "events.amazonaws.com" ||
				lp.FunctionName != "${"+functionID+".Arn}" || aws.ToString(lp.SourceArn) != "${"+id+".Arn}" {
				t.Errorf("permission %s: %s for %s on %s from %s", perm, lp.Action, lp.Principal, lp.FunctionName, aws.ToString(lp.SourceArn))
			}
		})
	}

	t.Run("dead-letter queue lets the rules send", func(t *testing.T) {
		qp, err := s.GetSQSQueuePolicyWithName("CloudTrailDeadLetterQueuePolicy")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(qp.Queues, []string{"${DeadLetterQueue}"}) {
			t.Errorf("Queues = %v", qp.Queues)
		}
		sts := asSlice(asMap(qp.PolicyDocument)["Statement"])
		if len(sts) != 1 {
			t.Fatalf("%d statements, want 1", len(sts))
		}
		st := asMap(sts[0])
		if asMap(st["Principal"])["Service"] != "events.amazonaws.com" || !slices.Equal(strs(st["Action"]), []string{"sqs:SendMessage"}) ||
			!slices.Equal(strs(st["Resource"]), []string{"${DeadLetterQueue.Arn}"}) {
			t.Errorf("statement %v", st)
		}
		arns := strs(asMap(asMap(st["Condition"])["ArnEquals"])["aws:SourceArn"])
		if want := []string{"${CloudTrailCreateRule.Arn}", "${CloudTrailStopDeleteRule.Arn}"}; !slices.Equal(arns, want) {
			t.Errorf("aws:SourceArn %v, want %v", arns, want)
		}
	})

	t.Run("transformers under AWS's documented behaviour", func(t *testing.T) {
		for _, r := range records(t) {
			for id := range cloudTrailRules {
				if r.matchedBy != id {
					continue
				}
				tr := transformer(t, s, id)
				for reading, m := range ebModels {
					got, ok := m.render(tr.InputPathsMap, tr.InputTemplate, decodeEvent(t, r.raw))
					if !ok {
						t.Errorf("%s through %s (%s): not delivered", r.name, id, reading)
						continue
					}
					if strings.Contains(got, plantedSecret) {
						t.Errorf("%s through %s (%s) carries the planted secret: %s", r.name, id, reading, got)
					}
					if canonical(t, []byte(got)) != canonical(t, []byte(r.reduced)) {
						t.Errorf("%s through %s (%s):\n got %s\nwant %s", r.name, id, reading, got, r.reduced)
					}
				}
			}
		}
	})

	// AWS puts a string into a quoted placeholder without escaping it, so
	// an id holding a double quote would hand the function invalid JSON or
	// a different record: the rules' patterns leave such ids out (proved in
	// moto by TestCloudTrailRulesInMoto).
	t.Run("unescaped ids are why quotes are filtered out", func(t *testing.T) {
		tr := transformer(t, s, "CloudTrailStopDeleteRule")
		for id, valid := range map[string]bool{`nb-"quoted"`: false, `a", "x": "b`: true, `back\slash`: false} {
			raw, _ := json.Marshal(map[string]any{"detail": map[string]any{"eventSource": "glue.amazonaws.com", "eventName": "StopSession", "requestParameters": map[string]any{"id": id}},
				"version": "0", "id": "e", "detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "account": "123456789012", "time": "t", "region": "us-east-1", "resources": []any{}})
			// AWS's documented reading: no escaping (a rendering that is
			// not JSON is not delivered).
			got, delivered := ebModels["no escaping, null as empty"].render(tr.InputPathsMap, tr.InputTemplate, decodeEvent(t, raw))
			if delivered != valid {
				t.Errorf("id %q: delivered %v, want %v: %s", id, delivered, valid, got)
			}
			var rec struct {
				Detail struct {
					RequestParameters struct{ ID string } `json:"requestParameters"`
				} `json:"detail"`
			}
			if valid && (json.Unmarshal([]byte(got), &rec) != nil || rec.Detail.RequestParameters.ID == id) {
				t.Errorf("id %q: the output names the same id; the model escapes", id)
			}
		}
	})
}

// transformer returns the input transformer of the rule's only target.
func transformer(tb testing.TB, s *stack, id string) *events.Rule_InputTransformer {
	tb.Helper()
	rule, err := s.GetEventsRuleWithName(id)
	if err != nil {
		tb.Fatal(err)
	}
	if len(rule.Targets) != 1 || rule.Targets[0].InputTransformer == nil {
		tb.Fatalf("%s has no single target with an input transformer", id)
	}
	return rule.Targets[0].InputTransformer
}

// TestCloudTrailRulesInMoto installs the two rules, their patterns and
// their transformers as the template declares them, on a bus in moto with
// an SQS queue as target, sends every test record, and checks which
// rule received which record, and what: exactly the reduced record, with
// the envelope moto gave the event, and no planted secret.
func TestCloudTrailRulesInMoto(t *testing.T) {
	s := deploy(t, map[string]any{"TrackFromCloudTrail": "true"})
	cfg := awstest.Config(t, awstest.Endpoint(t))
	bus := awstest.NewBus(t, cfg, "")
	queues := map[string]*awstest.Queue{}
	for _, id := range slices.Sorted(maps.Keys(cloudTrailRules)) {
		rule, err := s.GetEventsRuleWithName(id)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := json.Marshal(rule.EventPattern)
		tr := transformer(t, s, id)
		queues[id] = bus.AddTransformedRule(t, id, string(p), &ebtypes.InputTransformer{
			InputPathsMap: tr.InputPathsMap, InputTemplate: aws.String(tr.InputTemplate),
		})
	}
	eb := eventbridge.NewFromConfig(cfg)
	for _, r := range records(t) {
		t.Run(r.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(r.raw, &m); err != nil {
				t.Fatal(err)
			}
			when, err := time.Parse(time.RFC3339, m["time"].(string))
			if err != nil {
				t.Fatal(err)
			}
			detail, _ := json.Marshal(m["detail"])
			out, err := eb.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
				EventBusName: aws.String(bus.Name), Source: aws.String(m["source"].(string)),
				DetailType: aws.String(m["detail-type"].(string)), Detail: aws.String(string(detail)),
				Time: aws.Time(when), Resources: strs(m["resources"]),
			}}})
			if err != nil || out.FailedEntryCount != 0 {
				t.Fatalf("PutEvents: %v %+v", err, out)
			}
			eventID := aws.ToString(out.Entries[0].EventId)
			// What every rule but the default received: the reduced record
			// of this one only.
			if all := bus.Receive(t); len(all) != 1 {
				t.Fatalf("the match-all rule received %d events", len(all))
			}
			for id, q := range queues {
				bodies := q.Receive(t)
				for _, b := range bodies {
					if bytes.Contains(b, []byte(plantedSecret)) {
						t.Errorf("%s received the planted secret: %s", id, b)
					}
				}
				if id != r.matchedBy {
					if len(bodies) != 0 {
						t.Errorf("%s matched it: %s", id, bodies)
					}
					continue
				}
				if len(bodies) != 1 {
					t.Fatalf("%s received %d events, want 1", id, len(bodies))
				}
				// moto's envelope: its own event id, no account of the
				// record's own, the time the test gave.
				var want map[string]any
				if err := json.Unmarshal([]byte(r.reduced), &want); err != nil {
					t.Fatal(err)
				}
				want["id"] = eventID
				wantJSON, _ := json.Marshal(want)
				if got := canonical(t, bodies[0]); got != canonical(t, wantJSON) {
					t.Errorf("%s delivered\n %s\nwant %s", id, got, wantJSON)
				}
			}
		})
	}
}

// TestReadmeCloudTrailExample holds the README's example of what the
// function receives to what the CreateSession rule's transformer makes of
// the sample record.
func TestReadmeCloudTrailExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, b := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(readme, -1) {
		var ev struct {
			Source string `json:"source"`
		}
		if json.Unmarshal(b[1], &ev) == nil && ev.Source == "aws.glue" {
			found = append(found, string(b[1]))
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d CloudTrail examples in README.md, want 1", len(found))
	}
	create := records(t)[0]
	if create.name != "cloudtrail-create-session.json" {
		t.Fatalf("records(t)[0] is %s", create.name)
	}
	if got, want := canonical(t, []byte(found[0])), canonical(t, []byte(create.reduced)); got != want {
		t.Errorf("README.md shows\n %s\nthe rule hands on\n %s", got, want)
	}
}
