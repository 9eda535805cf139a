package templatetest

// Tests that hold the template to what the code really does, against moto:
// the sample rules' patterns installed on a bus deliver exactly the events
// they should, and the IAM actions granted are exactly the operations a
// run with every feature on makes.

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"sessionwatch/handler"
	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
	"sessionwatch/internal/wiring"
	"sessionwatch/state"
)

// observedRun runs the real handler against moto and the Glue emulator with
// every feature on (configured ids, track, untrack, discovery, a fresh
// table to migrate, an EventBridge outage whose events go to the outbox
// and out of it), through a lifecycle that emits every kind of event, and
// returns the events each named rule's queue received and every AWS
// operation made.
func observedRun(t *testing.T, patterns map[string]string) (received map[string][]string, ops map[string]bool) {
	t.Helper()
	awsCfg := awstest.Config(t, awstest.Endpoint(t))
	calls := awstest.CountCalls(&awsCfg)
	table := awstest.NewTable(t, awsCfg)
	bus := awstest.NewBus(t, awsCfg, "")
	queues := map[string]*awstest.Queue{}
	for _, name := range slices.Sorted(maps.Keys(patterns)) {
		queues[name] = bus.AddRule(t, name, patterns[name])
	}

	emu := glueemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	glueCfg := awsCfg.Copy()
	glueCalls := awstest.CountCalls(&glueCfg)
	g := glue.NewFromConfig(glueCfg, wiring.GlueOptions, func(o *glue.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	cfg := handler.Config{
		Table: table, EventBus: bus.Name, Source: "sessionwatch", SessionIDs: []string{"s-fail"},
		Discover: true, DiscoverTags: map[string]string{"team": "data"}, MaxConcurrency: 4, RetentionDays: 30,
	}
	eb := &outage{EventBridge: eventbridge.NewFromConfig(awsCfg)}
	h := handler.New(cfg, g, state.NewStore(dynamodb.NewFromConfig(awsCfg), table), eb, nil)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	h.Now = func() time.Time { return now }
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:sessionwatch",
	})
	tagged := map[string]string{"team": "data"}
	emu.Put(glueemu.Session{ID: "s-fail", Status: "READY"})
	emu.Put(glueemu.Session{ID: "s-idle", Status: "READY", Tags: tagged})
	emu.Put(glueemu.Session{ID: "s-gone", Status: "READY"})
	emu.Put(glueemu.Session{ID: "s-ok", Status: "READY"})
	steps := []struct {
		payload string
		change  func()
		down    bool // EventBridge refuses every event: they go to the outbox
	}{
		{payload: `{"track": ["s-gone", "s-ok"]}`, change: func() {}},
		{payload: `{}`, down: true, change: func() {
			emu.Update("s-fail", func(s *glueemu.Session) { s.Status, s.ErrorMessage = "FAILED", "OutOfMemoryError" })
			emu.Update("s-idle", func(s *glueemu.Session) { s.Status = "TIMEOUT" })
			emu.Delete("s-gone")
			emu.Update("s-ok", func(s *glueemu.Session) { s.Status = "STOPPED" })
		}},
		{payload: `{"untrack": ["s-gone"]}`, change: func() {}},
	}
	for _, step := range steps {
		step.change()
		eb.down = step.down
		out, err := h.Invoke(ctx, []byte(step.payload))
		if step.down {
			if err == nil {
				t.Fatalf("run %s with EventBridge down: got %s, want the run to fail", step.payload, out)
			}
			now = now.Add(5 * time.Minute)
			continue
		}
		if err != nil {
			t.Fatalf("run %s: %v", step.payload, err)
		}
		var res handler.Result
		if err := json.Unmarshal(out, &res); err != nil || len(res.Errors) > 0 {
			t.Fatalf("run %s: %s (%v)", step.payload, out, err)
		}
		now = now.Add(5 * time.Minute)
	}

	received = map[string][]string{}
	for name, q := range queues {
		for _, raw := range q.Receive(t) {
			var e struct {
				DetailType string         `json:"detail-type"`
				Detail     handler.Detail `json:"detail"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			received[name] = append(received[name], e.Detail.SessionID+" "+e.DetailType+" "+orNull(e.Detail.Status))
		}
		slices.Sort(received[name])
	}
	ops = map[string]bool{}
	for op := range calls.Counts() {
		ops[op] = true
	}
	for op := range glueCalls.Counts() {
		ops[op] = true
	}
	return received, ops
}

// outage is an EventBridge client that refuses every call while down.
type outage struct {
	handler.EventBridge
	down bool
}

func (o *outage) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	if o.down {
		return nil, errors.New("EventBridge is down")
	}
	return o.EventBridge.PutEvents(ctx, in, opts...)
}

func orNull(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// TestSampleRulesInMoto installs the template's sample rule patterns on a
// bus in moto, with an SQS queue each, and checks that the events the
// handler really emits reach exactly the rules they should.
func TestSampleRulesInMoto(t *testing.T) {
	s := deploy(t, map[string]any{"EnableSampleRules": "true"})
	patterns := map[string]string{}
	for _, id := range []string{"FailedSessionsRule", "SessionErrorsRule", "AuditTrailRule"} {
		rule, err := s.GetEventsRuleWithName(id)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := json.Marshal(rule.EventPattern)
		patterns[id] = string(p)
	}
	received, _ := observedRun(t, patterns)

	want := map[string][]string{
		"FailedSessionsRule": {
			"s-fail Glue Session State Change FAILED",
			"s-idle Glue Session State Change TIMEOUT",
		},
		"SessionErrorsRule": {"s-fail Glue Session Error FAILED"},
	}
	for _, name := range []string{"FailedSessionsRule", "SessionErrorsRule"} {
		if !slices.Equal(received[name], want[name]) {
			t.Errorf("%s received %q, want %q", name, received[name], want[name])
		}
	}
	// The audit trail gets everything: 4 first sightings, then FAILED and
	// its error, TIMEOUT, the deletion and STOPPED.
	audit := received["AuditTrailRule"]
	if len(audit) != 9 || !slices.Contains(audit, "s-gone Glue Session Deleted null") {
		t.Errorf("AuditTrailRule received %q, want all 9 events", audit)
	}
}

// TestPolicyMatchesObservedCalls compares the IAM actions the template
// grants (with discovery on) with the AWS operations a run with every
// feature on really makes.
func TestPolicyMatchesObservedCalls(t *testing.T) {
	s := deploy(t, map[string]any{"Discover": "true"})
	granted := map[string]bool{}
	for _, st := range statements(t, s, function(t, s)) {
		for _, a := range strs(st["Action"]) {
			granted[a] = true
		}
	}
	_, ops := observedRun(t, map[string]string{})
	used := map[string]bool{}
	for op := range ops {
		service, name, _ := strings.Cut(op, ".")
		prefix := map[string]string{"DynamoDB": "dynamodb", "EventBridge": "events", "Glue": "glue"}[service]
		if prefix == "" {
			continue // SQS and table set-up belong to the test
		}
		used[prefix+":"+name] = true
	}
	// Table and bus set-up calls made by the test itself, not the function.
	for _, setup := range []string{"dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTimeToLive", "dynamodb:DeleteTable",
		"events:CreateEventBus", "events:PutRule", "events:PutTargets", "events:RemoveTargets", "events:DeleteRule", "events:DeleteEventBus"} {
		delete(used, setup)
	}
	if got, want := slices.Sorted(maps.Keys(granted)), slices.Sorted(maps.Keys(used)); !slices.Equal(got, want) {
		t.Errorf("granted %q\nbut a run calls %q", got, want)
	}
}
