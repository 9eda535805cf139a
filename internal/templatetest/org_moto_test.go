package templatetest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"sessionwatch/handler"
	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
	"sessionwatch/internal/wiring"
	"sessionwatch/state"
)

// The hub's account and Region in moto: another account (AWS's documented
// example) and another Region than the spoke's.
const (
	motoHubAccount = "111122223333"
	motoHubRegion  = "eu-west-1"
)

// hopEvent is an event as a rule's SQS queue receives it.
type hopEvent struct {
	DetailType string         `json:"detail-type"`
	Region     string         `json:"region"`
	Resources  []string       `json:"resources"`
	Detail     handler.Detail `json:"detail"`
}

// TestOrganizationInMoto runs the real handler, configured as template.yaml
// configures a spoke with HubEventBusArn set, against moto, with the
// spoke's forwarding rule installed as the template declares it (its
// pattern, and a target that is the hub bus's ARN in another account and
// Region) and the hub's rules (deploy/hub.yaml) on that hub bus, each with
// an SQS queue.
//
// What moto 5.2.1 shows, and what it does not: it delivers a bus-to-bus
// target to the bus of the ARN's own account and Region (a bus created
// there with the x-moto-account-id header), so the hop itself runs here; but
// it checks neither the target's role nor the hub bus's policy (the hop
// works with no policy at all), and it re-publishes the event in the hub's
// account and Region without its "resources" (EventBridge keeps "account",
// "region", "resources" and "detail" across a bus-to-bus hop: README,
// Across an Organization). So this test proves, on events a run really
// emits: that the forwarding rule matches every one of them, with the
// session ARN (its account and Region) in "resources"; that each reaches
// the hub with its detail intact; and that the hub's rules, matching on
// source, detail-type and detail, route them as the spoke's sample rules
// would. The policies are proven on the templates (TestHubForwarding,
// TestHubTemplate).
func TestOrganizationInMoto(t *testing.T) {
	endpoint := awstest.Endpoint(t)
	spokeCfg := awstest.Config(t, endpoint)
	hubCfg := awstest.Config(t, endpoint)
	hubCfg.Region = motoHubRegion
	hubCfg.APIOptions = append(hubCfg.APIOptions, smithyhttp.AddHeaderValue("x-moto-account-id", motoHubAccount))

	// The hub: its bus in the hub account, every rule of deploy/hub.yaml.
	hubBus := awstest.NewBus(t, hubCfg, "")
	hub := orgResolve(t, hubPath, map[string]any{"OrganizationId": testOrgID, "EventBusName": hubBus.Name})
	hubQueues := map[string]*awstest.Queue{}
	for _, id := range ofType(hub.Resolved, "AWS::Events::Rule") {
		p := asMap(hub.Resolved[id]["Properties"])
		pattern, _ := json.Marshal(p["EventPattern"])
		hubQueues[id] = hubBus.AddRule(t, fmt.Sprint(p["Name"]), string(pattern))
	}

	// The spoke: template.yaml's forwarding rule on the function's bus, and
	// beside it a queue with the same pattern (what the rule forwards), and
	// deploy/hub-account.yaml's pattern for the spoke's account and for
	// another one.
	s := deploy(t, map[string]any{"HubEventBusArn": hubBus.ARN, "CostUsd": "10,50"})
	fwd := asMap(s.Resolved["HubForwardingRule"]["Properties"])
	fwdPattern, _ := json.Marshal(fwd["EventPattern"])
	target := asMap(asSlice(fwd["Targets"])[0])
	if target["Arn"] != hubBus.ARN {
		t.Fatalf("forwarding target %v, want the hub bus %s", target["Arn"], hubBus.ARN)
	}
	spokeBus := awstest.NewBus(t, spokeCfg, string(fwdPattern))
	accountPatterns := map[string]string{}
	for _, acct := range []string{testAccount, motoHubAccount} {
		r := orgResolve(t, hubAccountPath, map[string]any{"AccountId": acct})
		p, _ := json.Marshal(asMap(r.Resolved["AccountRule"]["Properties"])["EventPattern"])
		accountPatterns[acct] = string(p)
	}
	spokeAccountQueue := spokeBus.AddRule(t, "account-spoke", accountPatterns[testAccount])
	otherAccountQueue := spokeBus.AddRule(t, "account-other", accountPatterns[motoHubAccount])
	installForwardingRule(t, spokeCfg, spokeBus.Name, string(fwdPattern), hubBus.ARN)

	runSpoke(t, s, spokeCfg, spokeBus.Name)

	forwarded := decodeHop(t, spokeBus.Receive(t))
	arrived := decodeHop(t, hubBus.Receive(t))
	if len(forwarded) != 10 {
		t.Fatalf("the forwarding rule matched %d events, want the run's 10: %v", len(forwarded), lines(forwarded))
	}
	t.Run("forwarded events name the session's account and Region", func(t *testing.T) {
		for _, e := range forwarded {
			want := "arn:aws:glue:" + testRegion + ":" + testAccount + ":session/" + e.Detail.SessionID
			if !slices.Equal(e.Resources, []string{want}) || e.Region != testRegion {
				t.Errorf("%s: region %q, resources %q, want %s and [%s]", line(e), e.Region, e.Resources, testRegion, want)
			}
		}
	})
	t.Run("every event reaches the hub with its detail", func(t *testing.T) {
		byID := map[string]hopEvent{}
		for _, e := range arrived {
			byID[e.Detail.EventID] = e
		}
		for _, e := range forwarded {
			got, ok := byID[e.Detail.EventID]
			if !ok {
				t.Errorf("%s did not reach the hub", line(e))
				continue
			}
			if !jsonEqual(got.Detail, e.Detail) || got.DetailType != e.DetailType {
				t.Errorf("%s arrived as %s", line(e), line(got))
			}
		}
		if len(arrived) != len(forwarded) {
			t.Errorf("the hub received %d events, the spoke forwarded %d", len(arrived), len(forwarded))
		}
		if len(arrived) > 0 {
			t.Logf("moto's copy on the hub: region %q, resources %q (EventBridge keeps the spoke's)", arrived[0].Region, arrived[0].Resources)
		}
	})
	t.Run("hub rules route them", func(t *testing.T) {
		want := map[string][]string{
			"FailedSessionsRule": {"s-fail Glue Session State Change FAILED"},
			"SessionErrorsRule":  {"s-fail Glue Session Error FAILED"},
			"SessionAlertsRule": {
				"s-long Glue Session Alert READY COST usd=10",
				"s-long Glue Session Alert READY COST usd=50",
				"s-stuck Glue Session Alert PROVISIONING STUCK minutes=15",
			},
			"CountStateChangesRule": {
				"s-fail Glue Session State Change FAILED",
				"s-fail Glue Session State Change READY",
				"s-long Glue Session State Change READY",
				"s-stuck Glue Session State Change PROVISIONING",
			},
			"CountErrorsRule":    {"s-fail Glue Session Error FAILED"},
			"CountDeletionsRule": {"s-long Glue Session Deleted null"},
			"CountAlertsRule": {
				"s-long Glue Session Alert READY COST usd=10",
				"s-long Glue Session Alert READY COST usd=50",
				"s-long Glue Session Alert READY RUNNING_LONG hours=8",
				"s-stuck Glue Session Alert PROVISIONING STUCK minutes=15",
			},
			"CountStuckRule":       {"s-stuck Glue Session Alert PROVISIONING STUCK minutes=15"},
			"CountRunningLongRule": {"s-long Glue Session Alert READY RUNNING_LONG hours=8"},
			"CountIdleRule":        nil,
			"CountCostRule": {
				"s-long Glue Session Alert READY COST usd=10",
				"s-long Glue Session Alert READY COST usd=50",
			},
		}
		for _, id := range slices.Sorted(maps.Keys(hubQueues)) {
			got := lines(decodeHop(t, hubQueues[id].Receive(t)))
			w, ok := want[id]
			if !ok {
				t.Errorf("hub rule %s has no expectation here", id)
			}
			if !slices.Equal(got, w) {
				t.Errorf("%s received %q\nwant %q", id, got, w)
			}
		}
	})
	t.Run("per-account rule", func(t *testing.T) {
		if got := spokeAccountQueue.Receive(t); len(got) != len(forwarded) {
			t.Errorf("the rule for the spoke's account matched %d events, want all %d", len(got), len(forwarded))
		}
		if got := otherAccountQueue.Receive(t); len(got) != 0 {
			t.Errorf("the rule for another account matched %d events, want none", len(got))
		}
	})
}

// installForwardingRule puts the spoke's forwarding rule on the bus: the
// template's pattern, the hub bus as its target. moto checks no role; the
// ARN names the role the template creates.
func installForwardingRule(t *testing.T, cfg aws.Config, bus, pattern, hubARN string) {
	t.Helper()
	eb := eventbridge.NewFromConfig(cfg)
	ctx := t.Context()
	const name, id = "HubForwardingRule", "HubEventBus"
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(bus), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus), Ids: []string{id}})
		_, _ = eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(name), EventBusName: aws.String(bus)})
	})
	out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus), Targets: []ebtypes.Target{{
		Id: aws.String(id), Arn: aws.String(hubARN), RoleArn: aws.String("arn:aws:iam::" + testAccount + ":role/sessionwatch-HubForwardingRole"),
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutTargets: %v %v", err, out)
	}
}

// runSpoke runs the real handler twice, configured as the template s
// configures the function (less the table and the bus, the test's), over
// three sessions: first sightings of s-fail (READY), s-stuck (PROVISIONING
// for 20 minutes: STUCK) and s-long (READY for 9 hours on 20 DPU:
// RUNNING_LONG 8 and COST 10 and 50), then s-fail FAILED with an error and
// s-long deleted: 10 events.
func runSpoke(t *testing.T, s *stack, cfg aws.Config, bus string) {
	t.Helper()
	table := awstest.NewTable(t, cfg)
	emu := glueemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	g := glue.NewFromConfig(cfg, wiring.GlueOptions, func(o *glue.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	hcfg := templateConfig(t, s, table, bus)
	hcfg.SessionIDs = []string{"s-fail", "s-stuck", "s-long"}
	h := handler.New(hcfg, g, state.NewStore(dynamodb.NewFromConfig(cfg), table), eventbridge.NewFromConfig(cfg), nil)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	h.Now = func() time.Time { return now }
	ctx := lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:" + testRegion + ":" + testAccount + ":function:sessionwatch",
	})
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	workers := func(n int32) *int32 { return &n }
	emu.Put(glueemu.Session{ID: "s-fail", Status: "READY", CreatedOn: ago(time.Hour), WorkerType: "G.1X", NumberOfWorkers: workers(2)})
	emu.Put(glueemu.Session{ID: "s-stuck", Status: "PROVISIONING", CreatedOn: ago(20 * time.Minute), WorkerType: "G.1X", NumberOfWorkers: workers(5)})
	emu.Put(glueemu.Session{ID: "s-long", Status: "READY", CreatedOn: ago(9 * time.Hour), WorkerType: "G.2X", NumberOfWorkers: workers(10)})
	for i, change := range []func(){
		func() {},
		func() {
			emu.Update("s-fail", func(s *glueemu.Session) { s.Status, s.ErrorMessage = "FAILED", "OutOfMemoryError" })
			emu.Delete("s-long")
		},
	} {
		change()
		out, err := h.Invoke(ctx, []byte(`{}`))
		var res handler.Result
		if err != nil || json.Unmarshal(out, &res) != nil || len(res.Errors) > 0 {
			t.Fatalf("run %d: %s (%v)", i+1, out, err)
		}
		now = now.Add(time.Minute) // within STUCK's 15 minutes of the next alert
	}
}

func decodeHop(t *testing.T, bodies []json.RawMessage) []hopEvent {
	t.Helper()
	var out []hopEvent
	for _, b := range bodies {
		var e hopEvent
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		out = append(out, e)
	}
	return out
}

func line(e hopEvent) string {
	l := e.Detail.SessionID + " " + e.DetailType + " " + orNull(e.Detail.Status)
	if e.Detail.Alert != "" {
		l += " " + e.Detail.Alert + " " + thresholdString(e.Detail.Threshold)
	}
	return l
}

func lines(es []hopEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, line(e))
	}
	slices.Sort(out)
	return out
}
