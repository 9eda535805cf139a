package templatetest

// Tests that hold the template to what the code really does, against moto:
// the sample rules' patterns installed on a bus deliver exactly the events
// they should, and the IAM actions granted are exactly the operations a
// run with every feature on makes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"sessionwatch/internal/schematest"
	"sessionwatch/internal/wiring"
	"sessionwatch/state"
)

// allOn are the template's parameters with every feature of the function
// on: configured ids, discovery with a tag filter, idle detection and cost
// alerts (stuck and long-running alerts are on by default), the sample
// rules, the CloudTrail rules, auto-stop and the forwarding to a hub.
var allOn = map[string]any{
	"SessionIds": "s-fail", "Discover": "true", "DiscoverTags": "team=data",
	"IdleMinutes": "30", "CostUsd": "10,50", "EnableSampleRules": "true",
	"TrackFromCloudTrail": "true", "AutoStopIdleSessions": "true",
	"HubEventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/sessionwatch-hub",
}

// observedRun runs the real handler against moto and the Glue emulator,
// configured as the template s configures the function (less the table
// and the bus, which are the test's), through a lifecycle that emits every
// kind of event: track, untrack, a fresh table to migrate, an EventBridge
// outage whose events go to the outbox and out of it, and sessions stuck,
// idle, busy, long-running and costly. It returns the events each named
// rule's queue received and every AWS operation made.
func observedRun(t *testing.T, s *stack, patterns map[string]string) (received map[string][]string, ops map[string]bool) {
	t.Helper()
	queues := map[string]*awstest.Queue{}
	ops = lifecycleRun(t, s, func(bus *awstest.Bus) {
		for _, name := range slices.Sorted(maps.Keys(patterns)) {
			queues[name] = bus.AddRule(t, name, patterns[name])
		}
	})
	received = map[string][]string{}
	for name, q := range queues {
		for _, raw := range q.Receive(t) {
			if err := schematest.Delivered(raw); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			var e struct {
				DetailType string         `json:"detail-type"`
				Detail     handler.Detail `json:"detail"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			line := e.Detail.SessionID + " " + e.DetailType + " " + orNull(e.Detail.Status)
			if e.Detail.Alert != "" {
				line += " " + e.Detail.Alert + " " + thresholdString(e.Detail.Threshold)
			}
			received[name] = append(received[name], line)
		}
		slices.Sort(received[name])
	}
	return received, ops
}

// lifecycleRun is the run observedRun describes: setup adds, to the bus the
// handler publishes to, the rules whose queues the caller reads afterwards.
// It returns every AWS operation made, the test's own included.
func lifecycleRun(t *testing.T, s *stack, setup func(bus *awstest.Bus)) (ops map[string]bool) {
	t.Helper()
	awsCfg := awstest.Config(t, awstest.Endpoint(t))
	calls := awstest.CountCalls(&awsCfg)
	table := awstest.NewTable(t, awsCfg)
	bus := awstest.NewBus(t, awsCfg, "")
	setup(bus)

	emu := glueemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	glueCfg := awsCfg.Copy()
	glueCalls := awstest.CountCalls(&glueCfg)
	g := glue.NewFromConfig(glueCfg, wiring.GlueOptions, func(o *glue.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	cfg := templateConfig(t, s, table, bus.Name)
	eb := &outage{EventBridge: eventbridge.NewFromConfig(awsCfg)}
	h := handler.New(cfg, g, state.NewStore(dynamodb.NewFromConfig(awsCfg), table), eb, nil)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	h.Now = func() time.Time { return now }
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:sessionwatch",
	})
	tagged := map[string]string{"team": "data"}
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	workers := func(n int32) *int32 { return &n }
	ms := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() } // Livy's unit
	// With the template's defaults (STUCK_MINUTES 15, RUNNING_HOURS 8,24,
	// DPU_HOUR_USD 0.44) and allOn's IDLE_MINUTES 30 and COST_USD 10,50:
	// s-fail is busy (a statement running), 2 DPU for an hour: no alert.
	emu.Put(glueemu.Session{ID: "s-fail", Status: "READY", CreatedOn: ago(time.Hour), WorkerType: "G.1X", NumberOfWorkers: workers(2)})
	emu.SetStatements("s-fail", glueemu.Statement{ID: 0, State: "RUNNING", StartedOn: ms(10 * time.Minute)})
	// s-idle ran its last statement 45 minutes ago: IDLE; 5 DPU for two
	// hours, $4.40: below COST's $10.
	emu.Put(glueemu.Session{ID: "s-idle", Status: "READY", Tags: tagged, CreatedOn: ago(2 * time.Hour), MaxCapacity: aws.Float64(5)})
	emu.SetStatements("s-idle",
		glueemu.Statement{ID: 0, State: "AVAILABLE", StartedOn: ms(80 * time.Minute), CompletedOn: ms(78 * time.Minute)},
		glueemu.Statement{ID: 1, State: "AVAILABLE", StartedOn: ms(50 * time.Minute), CompletedOn: ms(45 * time.Minute)})
	// s-gone was created 10 minutes ago and ran nothing: not idle yet.
	emu.Put(glueemu.Session{ID: "s-gone", Status: "READY", CreatedOn: ago(10 * time.Minute)})
	// s-ok has run a job for 9 hours on 20 DPU, $79.20: RUNNING_LONG 8,
	// COST 10 and COST 50; busy, so not idle.
	emu.Put(glueemu.Session{ID: "s-ok", Status: "READY", CreatedOn: ago(9 * time.Hour), WorkerType: "G.2X", NumberOfWorkers: workers(10)})
	emu.SetStatements("s-ok", glueemu.Statement{ID: 7, State: "RUNNING", StartedOn: ms(3 * time.Hour)})
	// s-stuck has been PROVISIONING for 20 minutes: STUCK.
	emu.Put(glueemu.Session{ID: "s-stuck", Status: "PROVISIONING", Tags: tagged, CreatedOn: ago(20 * time.Minute), WorkerType: "G.1X", NumberOfWorkers: workers(5)})
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
		if err := json.Unmarshal(out, &res); err != nil || len(res.Errors) > 0 || len(res.IdleUnchecked) > 0 {
			t.Fatalf("run %s: %s (%v)", step.payload, out, err)
		}
		now = now.Add(5 * time.Minute)
	}

	ops = map[string]bool{}
	for op := range calls.Counts() {
		ops[op] = true
	}
	for op := range glueCalls.Counts() {
		ops[op] = true
	}
	return ops
}

// thresholdString writes an alert's threshold as minutes=15, hours=8 or
// usd=10.
func thresholdString(th *handler.Threshold) string {
	switch {
	case th == nil:
		return "none"
	case th.Minutes != nil:
		return fmt.Sprintf("minutes=%d", *th.Minutes)
	case th.Hours != nil:
		return fmt.Sprintf("hours=%g", *th.Hours)
	case th.USD != nil:
		return fmt.Sprintf("usd=%g", *th.USD)
	}
	return "empty"
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

// templateConfig is the function's configuration as the template s sets
// its environment, with the test's own table and bus.
func templateConfig(t *testing.T, s *stack, table, bus string) handler.Config {
	t.Helper()
	vars := function(t, s).Environment.Variables
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) {
		switch k {
		case "SNAPSHOT_TABLE":
			return table, true
		case "EVENT_BUS_NAME":
			return bus, true
		}
		v, ok := vars[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("the template's configuration: %v", err)
	}
	return cfg
}

// ruleExpectations are, for every rule of the template with an event
// pattern, the events of observedRun it must receive (as observedRun
// writes them); it must receive none of the run's other events, which
// the audit trail lists. A rule added to the template without an entry
// here fails TestRulePatternsInMoto: add the events it must match.
var ruleExpectations = map[string][]string{
	"FailedSessionsRule": {
		"s-fail Glue Session State Change FAILED",
		"s-idle Glue Session State Change TIMEOUT",
	},
	"SessionErrorsRule": {"s-fail Glue Session Error FAILED"},
	// RUNNING_LONG stays out of the notification topic.
	"SessionAlertsRule": {
		"s-idle Glue Session Alert READY IDLE minutes=30",
		"s-ok Glue Session Alert READY COST usd=10",
		"s-ok Glue Session Alert READY COST usd=50",
		"s-stuck Glue Session Alert PROVISIONING STUCK minutes=15",
	},
	// Auto-stop acts on IDLE alerts of READY sessions (COST too only with
	// AutoStopOnCost, off here).
	"AutoStopRule": {"s-idle Glue Session Alert READY IDLE minutes=30"},
	// The CloudTrail rules take Glue's own records, never sessionwatch's
	// events: TestCloudTrailRules proves them against the sample records.
	"CloudTrailCreateRule":     nil,
	"CloudTrailStopDeleteRule": nil,
	"AuditTrailRule":           everyEvent,
	// A spoke forwards every event to the hub.
	"HubForwardingRule": everyEvent,
}

// everyEvent is every event of observedRun: 5 first sightings and 5
// alerts (STUCK, RUNNING_LONG, IDLE, COST twice), then FAILED and its
// error, TIMEOUT, the deletion and STOPPED.
var everyEvent = []string{
	"s-fail Glue Session Error FAILED",
	"s-fail Glue Session State Change FAILED",
	"s-fail Glue Session State Change READY",
	"s-gone Glue Session Deleted null",
	"s-gone Glue Session State Change READY",
	"s-idle Glue Session Alert READY IDLE minutes=30",
	"s-idle Glue Session State Change READY",
	"s-idle Glue Session State Change TIMEOUT",
	"s-ok Glue Session Alert READY COST usd=10",
	"s-ok Glue Session Alert READY COST usd=50",
	"s-ok Glue Session Alert READY RUNNING_LONG hours=8",
	"s-ok Glue Session State Change READY",
	"s-ok Glue Session State Change STOPPED",
	"s-stuck Glue Session Alert PROVISIONING STUCK minutes=15",
	"s-stuck Glue Session State Change PROVISIONING",
}

// patternlessRules are the template's AWS::Events::Rule resources without
// an event pattern, each with what proves it instead. (The poll schedule
// is the function's SAM Schedule event, Events.Poll, which SAM turns into
// a rule at deploy time: TestSchedule checks it.)
var patternlessRules = map[string]string{}

// TestRulePatternsInMoto installs every event pattern of the template on
// a bus in moto, each rule with an SQS queue, and checks that the events
// the handler really emits reach exactly the rules they should.
func TestRulePatternsInMoto(t *testing.T) {
	s := deploy(t, allOn)
	patterns := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(asMap(s.Raw["Resources"]))) {
		res := asMap(asMap(s.Raw["Resources"])[id])
		if res["Type"] != "AWS::Events::Rule" {
			continue
		}
		if _, ok := asMap(res["Properties"])["EventPattern"]; !ok {
			if _, ok := patternlessRules[id]; !ok {
				t.Errorf("%s has no event pattern and is not in patternlessRules", id)
			}
			continue
		}
		if _, ok := ruleExpectations[id]; !ok {
			t.Errorf("%s has no entry in ruleExpectations: list the events of observedRun it must match", id)
			continue
		}
		rule, err := s.GetEventsRuleWithName(id)
		if err != nil {
			t.Errorf("%s is not created with the parameters %v: add what turns it on to allOn", id, allOn)
			continue
		}
		p, _ := json.Marshal(rule.EventPattern)
		patterns[id] = string(p)
	}
	for id := range ruleExpectations {
		if _, ok := patterns[id]; !ok {
			t.Errorf("ruleExpectations lists %s, which the template does not have with a pattern", id)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	received, _ := observedRun(t, s, patterns)
	for _, id := range slices.Sorted(maps.Keys(patterns)) {
		want := slices.Sorted(slices.Values(ruleExpectations[id]))
		if got := received[id]; !slices.Equal(got, want) {
			t.Errorf("%s received %q, want %q", id, got, want)
		}
	}
}

// TestPolicyMatchesObservedCalls compares the IAM actions the template
// grants with every feature on with the AWS operations a run so
// configured really makes.
func TestPolicyMatchesObservedCalls(t *testing.T) {
	s := deploy(t, allOn)
	granted := map[string]bool{}
	for _, st := range statements(t, s, function(t, s)) {
		for _, a := range strs(st["Action"]) {
			granted[a] = true
		}
	}
	_, ops := observedRun(t, s, map[string]string{})
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
