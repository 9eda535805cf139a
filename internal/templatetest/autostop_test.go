package templatetest

// Tests of auto-stop (AutoStopIdleSessions): the template's rule, roles and
// state machine, and the state machine's definition run in moto against
// the alerts a real run emits.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"

	"sessionwatch/handler"
	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
	"sessionwatch/internal/wiring"
	"sessionwatch/state"
)

// autoStopResources are the resources AutoStopIdleSessions creates.
var autoStopResources = []string{"AutoStopRule", "AutoStopRuleRole", "AutoStopStateMachine", "AutoStopStateMachineRole"}

// autoStop is the template deployed with auto-stop on, and its state
// machine.
func autoStop(tb testing.TB, params map[string]any) (*stack, *serverless.StateMachine) {
	tb.Helper()
	p := map[string]any{"AutoStopIdleSessions": "true"}
	maps.Copy(p, params)
	s := deploy(tb, p)
	sm, err := s.GetServerlessStateMachineWithName("AutoStopStateMachine")
	if err != nil {
		tb.Fatal(err)
	}
	return s, sm
}

// autoStopPattern is the auto-stop rule's event pattern as JSON.
func autoStopPattern(tb testing.TB, s *stack) string {
	tb.Helper()
	rule, err := s.GetEventsRuleWithName("AutoStopRule")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := json.Marshal(rule.EventPattern)
	if err != nil {
		tb.Fatal(err)
	}
	return string(p)
}

// definition reads the state machine's definition file and substitutes
// its DefinitionSubstitutions as CloudFormation does (every ${name} of the
// map replaced by its value), with the values in resolved standing for
// the resolved Refs and GetAtts ("${SessionAlertTopic}" for the topic's
// ARN, which a test replaces by a real one). It fails if a placeholder is
// left or a substitution is not used.
func definition(tb testing.TB, sm *serverless.StateMachine, resolved map[string]string) string {
	tb.Helper()
	if sm.DefinitionUri == nil || sm.DefinitionUri.String == nil {
		tb.Fatal("the state machine has no DefinitionUri naming a file")
	}
	data, err := os.ReadFile("../../" + *sm.DefinitionUri.String)
	if err != nil {
		tb.Fatal(err)
	}
	def := string(data)
	for name, v := range sm.DefinitionSubstitutions {
		if r, ok := resolved[v]; ok {
			v = r
		}
		placeholder := "${" + name + "}"
		if !strings.Contains(def, placeholder) {
			tb.Errorf("DefinitionSubstitutions %s is not used in %s", name, *sm.DefinitionUri.String)
		}
		def = strings.ReplaceAll(def, placeholder, v)
	}
	if left := regexp.MustCompile(`\$\{[^}]*\}`).FindAllString(def, -1); len(left) > 0 {
		tb.Errorf("%s keeps placeholders no substitution fills: %v", *sm.DefinitionUri.String, left)
	}
	if !json.Valid([]byte(def)) {
		tb.Fatalf("the substituted definition is not JSON:\n%s", def)
	}
	return def
}

// canonicalJSON writes v as JSON with sorted keys.
func canonicalJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// taskActions lists the IAM actions of the definition's Task states:
// arn:aws:states:::aws-sdk:glue:getTags is glue:GetTags, the optimised
// arn:aws:states:::sns:publish is sns:Publish.
func taskActions(tb testing.TB, def string) []string {
	tb.Helper()
	var asl struct {
		States map[string]struct {
			Type, Resource string
		}
	}
	if err := json.Unmarshal([]byte(def), &asl); err != nil {
		tb.Fatal(err)
	}
	var actions []string
	for name, st := range asl.States {
		if st.Type != "Task" {
			continue
		}
		rest, ok := strings.CutPrefix(st.Resource, "arn:aws:states:::")
		if !ok {
			tb.Errorf("state %s: resource %q is not a service integration", name, st.Resource)
			continue
		}
		rest = strings.TrimPrefix(rest, "aws-sdk:")
		service, api, _ := strings.Cut(rest, ":")
		actions = append(actions, service+":"+strings.ToUpper(api[:1])+api[1:])
	}
	slices.Sort(actions)
	return slices.Compact(actions)
}

// roleStatements returns a role's trusted service and its policies'
// statements.
func roleStatements(tb testing.TB, s *stack, id string) (service string, sts []map[string]any) {
	tb.Helper()
	role, err := s.GetIAMRoleWithName(id)
	if err != nil {
		tb.Fatal(err)
	}
	trust := asSlice(asMap(role.AssumeRolePolicyDocument)["Statement"])
	if len(trust) != 1 {
		tb.Fatalf("%s: %d trust statements, want 1", id, len(trust))
	}
	service = fmt.Sprint(asMap(asMap(trust[0])["Principal"])["Service"])
	if got := fmt.Sprint(asMap(asMap(asMap(trust[0])["Condition"])["StringEquals"])["aws:SourceAccount"]); got != testAccount {
		tb.Errorf("%s: trust is not limited to this account (aws:SourceAccount %q)", id, got)
	}
	if len(role.ManagedPolicyArns) > 0 {
		tb.Errorf("%s has managed policies %v", id, role.ManagedPolicyArns)
	}
	for _, p := range role.Policies {
		for _, st := range asSlice(asMap(p.PolicyDocument)["Statement"]) {
			sts = append(sts, asMap(st))
		}
	}
	return service, sts
}

// grantsOf maps each action a role's statements allow to its resources.
func grantsOf(tb testing.TB, sts []map[string]any) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for i, st := range sts {
		if st["Effect"] != "Allow" {
			tb.Errorf("statement %d: Effect %v", i, st["Effect"])
		}
		for _, key := range []string{"NotAction", "NotResource", "Condition"} {
			if _, ok := st[key]; ok {
				tb.Errorf("statement %d uses %s", i, key)
			}
		}
		for _, a := range strs(st["Action"]) {
			out[a] = append(out[a], strs(st["Resource"])...)
		}
	}
	return out
}

func TestAutoStopTemplate(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		s := deploy(t, nil)
		for _, id := range slices.Concat(autoStopResources, []string{"SessionAlertTopic"}) {
			if _, ok := s.Resolved[id]; ok {
				t.Errorf("%s is created without AutoStopIdleSessions", id)
			}
		}
	})

	t.Run("dry run by default", func(t *testing.T) {
		_, sm := autoStop(t, nil)
		if got := sm.DefinitionSubstitutions["DryRun"]; got != "true" {
			t.Errorf("DryRun = %q, want true: a first deploy only notifies", got)
		}
	})

	// The notification topic exists with auto-stop alone, without the
	// sample rules.
	s, sm := autoStop(t, map[string]any{"AutoStopDryRun": "false"})
	for _, id := range slices.Concat(autoStopResources, []string{"SessionAlertTopic"}) {
		if _, ok := s.Resolved[id]; !ok {
			t.Errorf("%s is not created with AutoStopIdleSessions", id)
		}
	}
	if _, ok := s.Outputs["SessionAlertTopicArn"]; !ok {
		t.Error("no SessionAlertTopicArn output with auto-stop alone")
	}
	if _, ok := s.Outputs["AutoStopStateMachineArn"]; !ok {
		t.Error("no AutoStopStateMachineArn output")
	}

	t.Run("state machine", func(t *testing.T) {
		if got := aws.ToString(sm.Type); got != "STANDARD" {
			t.Errorf("Type = %q, want STANDARD", got)
		}
		if got := aws.ToString(sm.Role); got != "${AutoStopStateMachineRole.Arn}" {
			t.Errorf("Role = %q, want its own role", got)
		}
		want := map[string]string{
			"Partition": testPartition, "Region": testRegion, "AccountId": testAccount,
			"DryRun": "false", "NotificationTopicArn": "${SessionAlertTopic}",
		}
		if !maps.Equal(sm.DefinitionSubstitutions, want) {
			t.Errorf("DefinitionSubstitutions = %v, want %v", sm.DefinitionSubstitutions, want)
		}
		definition(t, sm, exampleTopic)
	})

	// Step Functions names an AWS SDK integration's errors
	// ServiceName.ErrorName in PascalCase ("Glue.IllegalSessionStateException",
	// Step Functions developer guide, AWS SDK service integrations); moto
	// 5.2.1 spells the service as in the resource ("glue."), which is the
	// spelling TestAutoStopInMoto exercises. Every Glue error caught or
	// retried must be named AWS's way.
	t.Run("Glue error names", func(t *testing.T) {
		var asl struct {
			States map[string]struct {
				Retry, Catch []struct{ ErrorEquals []string }
			}
		}
		if err := json.Unmarshal([]byte(definition(t, sm, exampleTopic)), &asl); err != nil {
			t.Fatal(err)
		}
		caught := 0
		for name, st := range asl.States {
			for _, c := range slices.Concat(st.Retry, st.Catch) {
				for _, e := range c.ErrorEquals {
					if moto, ok := strings.CutPrefix(e, "glue."); ok && !slices.Contains(c.ErrorEquals, "Glue."+moto) {
						t.Errorf("state %s catches moto's %s but not AWS's Glue.%s", name, e, moto)
					}
					if strings.HasPrefix(e, "Glue.") {
						caught++
					}
				}
			}
		}
		if caught == 0 {
			t.Error("no Glue error is caught or retried")
		}
	})

	t.Run("state machine role", func(t *testing.T) {
		service, sts := roleStatements(t, s, "AutoStopStateMachineRole")
		if service != "states.amazonaws.com" {
			t.Errorf("trusts %s, want states.amazonaws.com", service)
		}
		got := grantsOf(t, sts)
		sessions := "arn:aws:glue:us-east-1:123456789012:session/*"
		want := map[string][]string{
			"glue:GetTags":     {sessions},
			"glue:StopSession": {sessions},
			"sns:Publish":      {"${SessionAlertTopic}"},
		}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("grants %v, want %v", got, want)
		}
		// Exactly the calls the definition makes.
		if calls, granted := taskActions(t, definition(t, sm, exampleTopic)), slices.Sorted(maps.Keys(got)); !slices.Equal(calls, granted) {
			t.Errorf("the definition calls %v, the role grants %v", calls, granted)
		}
	})

	t.Run("rule", func(t *testing.T) {
		rule, err := s.GetEventsRuleWithName("AutoStopRule")
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(rule.EventBusName); got != "default" {
			t.Errorf("EventBusName = %q, want the bus sessionwatch publishes to", got)
		}
		if len(rule.Targets) != 1 || rule.Targets[0].Arn != "${AutoStopStateMachine}" || aws.ToString(rule.Targets[0].RoleArn) != "${AutoStopRuleRole.Arn}" {
			t.Errorf("Targets = %+v, want only the state machine, with the rule's role", rule.Targets)
		}
		service, sts := roleStatements(t, s, "AutoStopRuleRole")
		if service != "events.amazonaws.com" {
			t.Errorf("rule role trusts %s, want events.amazonaws.com", service)
		}
		if got, want := grantsOf(t, sts), map[string][]string{"states:StartExecution": {"${AutoStopStateMachine}"}}; !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("rule role grants %v, want %v", got, want)
		}
	})

	t.Run("rule patterns", func(t *testing.T) {
		source := fmt.Sprint(s.Params["EventSource"])
		published := publishedEvents(t)
		for _, c := range []struct {
			onCost, pattern string
		}{
			{"false", `{"detail":{"alert":["IDLE"],"status":["READY"]},"detail-type":["Glue Session Alert"],"source":["` + source + `"]}`},
			{"true", `{"detail":{"alert":["IDLE","COST"],"status":["READY"]},"detail-type":["Glue Session Alert"],"source":["` + source + `"]}`},
		} {
			s, _ := autoStop(t, map[string]any{"AutoStopOnCost": c.onCost})
			got := autoStopPattern(t, s)
			if got != c.pattern {
				t.Errorf("AutoStopOnCost=%s: EventPattern = %s, want %s", c.onCost, got, c.pattern)
			}
			rule, _ := s.GetEventsRuleWithName("AutoStopRule")
			var matched []string
			for _, name := range slices.Sorted(maps.Keys(published)) {
				if matchPattern(asMap(rule.EventPattern), published[name]) {
					matched = append(matched, name)
				}
			}
			if !slices.Equal(matched, []string{"alert.json"}) {
				t.Errorf("AutoStopOnCost=%s: matches the published examples %v, want the IDLE alert.json only", c.onCost, matched)
			}
		}
	})

	// The README's Auto-stop section shows the default pattern and a
	// notification: they are the template's and the definition's.
	t.Run("README", func(t *testing.T) {
		readme, err := os.ReadFile("../../README.md")
		if err != nil {
			t.Fatal(err)
		}
		_, section, _ := strings.Cut(string(readme), "\n## Auto-stop\n")
		section, _, _ = strings.Cut(section, "\n## ")
		blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(section, -1)
		if len(blocks) != 2 {
			t.Fatalf("%d JSON blocks in the Auto-stop section, want 2 (the pattern, a notification)", len(blocks))
		}
		var pattern any
		if err := json.Unmarshal([]byte(blocks[0][1]), &pattern); err != nil {
			t.Fatal(err)
		}
		if got, want := canonicalJSON(t, pattern), autoStopPattern(t, deploy(t, map[string]any{"AutoStopIdleSessions": "true"})); got != want {
			t.Errorf("the README's pattern %s, the template's %s", got, want)
		}
		var n customNotification
		dec := json.NewDecoder(strings.NewReader(blocks[1][1]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&n); err != nil || n.Version != "1.0" || n.Source != "custom" || n.Content.TextType != "client-markdown" {
			t.Errorf("the README's notification is not a custom notification: %+v (%v)", n, err)
		}
		def, err := os.ReadFile("../../statemachine/auto-stop.asl.json")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(def), strings.TrimSuffix(strings.SplitAfter(n.Content.Title, "session `")[0], "`")) {
			t.Errorf("the README's notification title %q is none the definition writes", n.Content.Title)
		}
	})

	t.Run("on a created bus", func(t *testing.T) {
		s, _ := autoStop(t, map[string]any{"CreateEventBus": "true", "EventBusName": "sessionwatch"})
		rule, err := s.GetEventsRuleWithName("AutoStopRule")
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(rule.EventBusName); got != "${EventBus}" {
			t.Errorf("EventBusName = %q, want ${EventBus}", got)
		}
	})
}

// The sessions of TestAutoStopInMoto, as the Glue emulator has them at
// alertsNow (IDLE_MINUTES 30, COST_USD 10, the template's other defaults).
const (
	idleSession    = "as-idle"    // READY, last statement ended 45 minutes ago: IDLE
	idleSession2   = "as-idle-2"  // the same
	optOutSession  = "as-opt-out" // the same, tagged sessionwatch:auto-stop=false
	costlySession  = "as-costly"  // READY and busy, 20 DPU for 9 hours: COST 10 (and RUNNING_LONG 8)
	stuckSession   = "as-stuck"   // PROVISIONING for 20 minutes: STUCK
	optOutTag      = "sessionwatch:auto-stop"
	motoGlueRole   = "arn:aws:iam::123456789012:role/glue-sessions"
	motoStatesRole = "arn:aws:iam::123456789012:role/auto-stop"
)

// exampleTopic resolves the notification topic's Ref in a definition.
var exampleTopic = map[string]string{"${SessionAlertTopic}": "arn:aws:sns:us-east-1:123456789012:sessionwatch-SessionAlertTopic"}

var alertsNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// alertRun runs the real handler once, configured as the template s
// configures the function, against the Glue emulator's sessions above and
// moto's EventBridge, with one rule (and SQS queue) per pattern on the
// bus. It returns the events each rule's queue received, by session id.
func alertRun(t *testing.T, awsCfg aws.Config, s *stack, patterns map[string]string) map[string]map[string]json.RawMessage {
	t.Helper()
	table := awstest.NewTable(t, awsCfg)
	bus := awstest.NewBus(t, awsCfg, "")
	queues := map[string]*awstest.Queue{}
	for _, name := range slices.Sorted(maps.Keys(patterns)) {
		queues[name] = bus.AddRule(t, name, patterns[name])
	}

	emu := glueemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	ago := func(d time.Duration) *time.Time { t := alertsNow.Add(-d); return &t }
	ms := func(d time.Duration) int64 { return alertsNow.Add(-d).UnixMilli() }
	workers := func(n int32) *int32 { return &n }
	idle := []glueemu.Statement{{ID: 0, State: "AVAILABLE", StartedOn: ms(50 * time.Minute), CompletedOn: ms(45 * time.Minute)}}
	emu.Put(glueemu.Session{ID: idleSession, Status: "READY", CreatedOn: ago(2 * time.Hour), MaxCapacity: aws.Float64(2)})
	emu.SetStatements(idleSession, idle...)
	emu.Put(glueemu.Session{ID: idleSession2, Status: "READY", CreatedOn: ago(2 * time.Hour), MaxCapacity: aws.Float64(2)})
	emu.SetStatements(idleSession2, idle...)
	emu.Put(glueemu.Session{ID: optOutSession, Status: "READY", CreatedOn: ago(2 * time.Hour), MaxCapacity: aws.Float64(2),
		Tags: map[string]string{optOutTag: "false"}})
	emu.SetStatements(optOutSession, idle...)
	emu.Put(glueemu.Session{ID: costlySession, Status: "READY", CreatedOn: ago(9 * time.Hour), WorkerType: "G.2X", NumberOfWorkers: workers(10)})
	emu.SetStatements(costlySession, glueemu.Statement{ID: 3, State: "RUNNING", StartedOn: ms(time.Hour)})
	emu.Put(glueemu.Session{ID: stuckSession, Status: "PROVISIONING", CreatedOn: ago(20 * time.Minute), WorkerType: "G.1X", NumberOfWorkers: workers(2)})

	g := glue.NewFromConfig(awsCfg, wiring.GlueOptions, func(o *glue.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	cfg := templateConfig(t, s, table, bus.Name)
	h := handler.New(cfg, g, state.NewStore(dynamodb.NewFromConfig(awsCfg), table), eventbridge.NewFromConfig(awsCfg), nil)
	h.Now = func() time.Time { return alertsNow }
	ctx := lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:sessionwatch",
	})
	payload := fmt.Sprintf(`{"sessionIds": [%q, %q, %q, %q, %q]}`, idleSession, idleSession2, optOutSession, costlySession, stuckSession)
	out, err := h.Invoke(ctx, []byte(payload))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var res handler.Result
	if err := json.Unmarshal(out, &res); err != nil || len(res.Errors) > 0 || len(res.IdleUnchecked) > 0 {
		t.Fatalf("run: %s (%v)", out, err)
	}

	received := map[string]map[string]json.RawMessage{}
	for name, q := range queues {
		received[name] = map[string]json.RawMessage{}
		for _, raw := range q.Receive(t) {
			var e struct {
				Detail handler.Detail `json:"detail"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			key := e.Detail.SessionID + " " + e.Detail.Alert
			if _, dup := received[name][key]; dup {
				t.Errorf("%s received %s twice", name, key)
			}
			received[name][key] = raw
		}
	}
	return received
}

// notifications is an SNS topic in moto with an SQS queue subscribed to
// it (raw message delivery: the queue holds the published messages as
// they are).
type notifications struct {
	TopicARN string
	queueURL string
	sqs      *sqs.Client
}

func newNotifications(t *testing.T, awsCfg aws.Config) *notifications {
	t.Helper()
	ctx := t.Context()
	sn, sq := sns.NewFromConfig(awsCfg), sqs.NewFromConfig(awsCfg)
	name := fmt.Sprintf("auto-stop-%d", time.Now().UnixNano())
	topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sn.DeleteTopic(context.Background(), &sns.DeleteTopicInput{TopicArn: topic.TopicArn}) })
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sq.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl}) })
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint:   aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		t.Fatal(err)
	}
	return &notifications{TopicARN: aws.ToString(topic.TopicArn), queueURL: aws.ToString(q.QueueUrl), sqs: sq}
}

// customNotification is an Amazon Q Developer in chat applications custom
// notification, every field its documentation lists ("Custom notifications
// using Amazon Q Developer in chat applications", Event schema): version
// 1.0, source custom, and nothing else.
type customNotification struct {
	Version string `json:"version"`
	Source  string `json:"source"`
	ID      string `json:"id"`
	Content struct {
		TextType    string   `json:"textType"`
		Title       string   `json:"title"`
		Description string   `json:"description"`
		NextSteps   []string `json:"nextSteps"`
		Keywords    []string `json:"keywords"`
	} `json:"content"`
	Metadata struct {
		ThreadID          string            `json:"threadId"`
		Summary           string            `json:"summary"`
		EventType         string            `json:"eventType"`
		RelatedResources  []string          `json:"relatedResources"`
		AdditionalContext map[string]string `json:"additionalContext"`
	} `json:"metadata"`
}

// receive returns the one message the topic got since the last call,
// parsed as a custom notification.
func (n *notifications) receive(t *testing.T) customNotification {
	t.Helper()
	out, err := n.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(n.queueURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("the notification topic got %d messages, want 1", len(out.Messages))
	}
	m := out.Messages[0]
	if _, err := n.sqs.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(n.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	var c customNotification
	dec := json.NewDecoder(strings.NewReader(aws.ToString(m.Body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("the notification is not a custom notification: %v\n%s", err, aws.ToString(m.Body))
	}
	if c.Version != "1.0" || c.Source != "custom" || c.Content.TextType != "client-markdown" || c.Content.Title == "" || c.Content.Description == "" {
		t.Errorf("not a complete custom notification: %+v", c)
	}
	return c
}

// enableStepFunctions makes moto execute state machines, their aws-sdk
// and optimised tasks included, against its own services (moto's
// configuration, POST /moto-api/config). It only adds to what moto does:
// no other test depends on executions staying idle.
func enableStepFunctions(t *testing.T, endpoint string) {
	t.Helper()
	resp, err := http.Post(endpoint+"/moto-api/config", "application/json",
		strings.NewReader(`{"stepfunctions": {"execute_state_machine": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("moto config: HTTP %d", resp.StatusCode)
	}
}

// withResources returns the event with its resources replaced.
func withResources(t *testing.T, event json.RawMessage, resources ...string) json.RawMessage {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(event, &e); err != nil {
		t.Fatal(err)
	}
	e["resources"] = resources
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// execute starts the state machine with the event as its input and waits
// for the execution to end; it returns its status and, when it failed,
// the error.
func execute(t *testing.T, c *sfn.Client, machineARN string, event json.RawMessage) (sfntypes.ExecutionStatus, string) {
	t.Helper()
	out, err := c.StartExecution(t.Context(), &sfn.StartExecutionInput{
		StateMachineArn: aws.String(machineARN), Input: aws.String(string(event)),
		Name: aws.String(fmt.Sprintf("alert-%d", time.Now().UnixNano())),
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := c.DescribeExecution(t.Context(), &sfn.DescribeExecutionInput{ExecutionArn: out.ExecutionArn})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			return d.Status, aws.ToString(d.Error) + " " + aws.ToString(d.Cause)
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s still running after 30 s", aws.ToString(out.ExecutionArn))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAutoStopInMoto proves auto-stop as far as moto 5.2.1 goes. A real
// run against the Glue emulator emits the alerts, and the template's rule
// pattern, installed in moto's EventBridge with an SQS target, picks the
// ones auto-stop acts on. moto does not deliver a rule's event to a
// state machine target, so the test starts the template's state machine
// itself (its definition substituted as CloudFormation would), in moto's
// Step Functions, with the event the queue received.
//
// The alert comes from the Glue emulator, the stop goes to moto's Glue:
// moto's Glue sessions are stubs with no statements (no ListStatements, so
// nothing in moto can be found idle), and the emulator has no StopSession
// and cannot be reached from moto's Step Functions. So each session the
// state machine acts on is created under the same id in both, with the
// same opt-out tag: the id and the ARN in the event name moto's session.
func TestAutoStopInMoto(t *testing.T) {
	endpoint := awstest.Endpoint(t)
	awsCfg := awstest.Config(t, endpoint)
	enableStepFunctions(t, endpoint)

	params := map[string]any{"IdleMinutes": "30", "CostUsd": "10"}
	idleOnly, _ := autoStop(t, params)
	withCost, _ := autoStop(t, map[string]any{"IdleMinutes": "30", "CostUsd": "10", "AutoStopOnCost": "true"})
	received := alertRun(t, awsCfg, idleOnly, map[string]string{
		"AutoStopRule":       autoStopPattern(t, idleOnly),
		"AutoStopRuleOnCost": autoStopPattern(t, withCost),
	})

	// What the rule must match: IDLE alerts of READY sessions, COST ones
	// with AutoStopOnCost; never STUCK, RUNNING_LONG or state changes.
	want := map[string][]string{
		"AutoStopRule":       {idleSession + " IDLE", idleSession2 + " IDLE", optOutSession + " IDLE"},
		"AutoStopRuleOnCost": {costlySession + " COST", idleSession + " IDLE", idleSession2 + " IDLE", optOutSession + " IDLE"},
	}
	for name, w := range want {
		if got := slices.Sorted(maps.Keys(received[name])); !slices.Equal(got, w) {
			t.Errorf("%s received %q, want %q", name, got, w)
		}
	}
	idleEvent, idleEvent2 := received["AutoStopRule"][idleSession+" IDLE"], received["AutoStopRule"][idleSession2+" IDLE"]
	optOutEvent, costEvent := received["AutoStopRule"][optOutSession+" IDLE"], received["AutoStopRuleOnCost"][costlySession+" COST"]
	if idleEvent == nil || idleEvent2 == nil || optOutEvent == nil || costEvent == nil {
		t.Fatal("missing events to run the state machine with")
	}

	// moto's Glue: the sessions the state machine acts on, under the
	// emulator's ids. The costly one is left out: Glue answers that it does
	// not exist.
	g := glue.NewFromConfig(awsCfg)
	for id, tags := range map[string]map[string]string{idleSession: nil, idleSession2: nil, optOutSession: {optOutTag: "false"}} {
		if _, err := g.CreateSession(t.Context(), &glue.CreateSessionInput{
			Id: aws.String(id), Role: aws.String(motoGlueRole), Tags: tags,
			Command: &gluetypes.SessionCommand{Name: aws.String("glueetl"), PythonVersion: aws.String("3")},
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = g.DeleteSession(context.Background(), &glue.DeleteSessionInput{Id: aws.String(id)}) })
	}
	status := func(id string) gluetypes.SessionStatus {
		t.Helper()
		out, err := g.GetSession(t.Context(), &glue.GetSessionInput{Id: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Session.Status
	}

	topic := newNotifications(t, awsCfg)
	states := sfn.NewFromConfig(awsCfg)
	// run creates the template's state machine with AutoStopDryRun, runs it
	// once with the event, and deletes it. One machine per execution: once
	// a region of moto 5.2.1 holds a state machine with a finished
	// execution, every StartExecution there answers HTTP 500 (moto deep-
	// copies the region's backend, and with it that execution's lock).
	run := func(t *testing.T, dryRun string, event json.RawMessage) (sfntypes.ExecutionStatus, string) {
		t.Helper()
		_, sm := autoStop(t, map[string]any{"AutoStopDryRun": dryRun})
		out, err := states.CreateStateMachine(t.Context(), &sfn.CreateStateMachineInput{
			Name:       aws.String(fmt.Sprintf("auto-stop-%d", time.Now().UnixNano())),
			Definition: aws.String(definition(t, sm, map[string]string{"${SessionAlertTopic}": topic.TopicARN})),
			RoleArn:    aws.String(motoStatesRole),
			Type:       sfntypes.StateMachineTypeStandard,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := states.DeleteStateMachine(context.Background(), &sfn.DeleteStateMachineInput{StateMachineArn: out.StateMachineArn}); err != nil {
				t.Error(err)
			}
		}()
		return execute(t, states, aws.ToString(out.StateMachineArn), event)
	}

	steps := []struct {
		name        string
		dryRun      string // AutoStopDryRun
		event       json.RawMessage
		session     string
		wantStatus  gluetypes.SessionStatus // moto's session after the execution ("" when moto has none)
		outcome     string
		title       string
		description string // a part of it
	}{
		{"dry run stops nothing", "true", idleEvent, idleSession, gluetypes.SessionStatusReady,
			"DRY_RUN", ":test_tube: Auto-stop dry run: would stop Glue session `as-idle` (IDLE)", "Dry run: nothing was stopped."},
		{"opted out", "false", optOutEvent, optOutSession, gluetypes.SessionStatusReady,
			"OPTED_OUT", ":information_source: Auto-stop skipped Glue session `as-opt-out` (IDLE)", "Not stopped: the session is tagged sessionwatch:auto-stop=false."},
		{"opted out in dry run too", "true", optOutEvent, optOutSession, gluetypes.SessionStatusReady,
			"OPTED_OUT", ":information_source: Auto-stop skipped Glue session `as-opt-out` (IDLE)", "Not stopped: the session is tagged sessionwatch:auto-stop=false."},
		{"stopped", "false", idleEvent, idleSession, gluetypes.SessionStatusStopping,
			"STOPPED", ":octagonal_sign: Auto-stop stopped Glue session `as-idle` (IDLE)",
			"Session as-idle has been idle for 45 minutes (threshold 30); estimated cost so far $1.76. sessionwatch stopped the session: its unsaved notebook state is lost."},
		// The same alert again (EventBridge delivers at least once): Glue
		// refuses to stop a session that is STOPPING.
		{"already stopping", "false", idleEvent, idleSession, gluetypes.SessionStatusStopping,
			"NOT_READY", ":information_source: Auto-stop did not stop Glue session `as-idle` (IDLE)", "IllegalSessionStateException"},
		{"gone", "false", costEvent, costlySession, "",
			"GONE", ":information_source: Auto-stop did not stop Glue session `as-costly` (COST)", "Not stopped: the session no longer exists, Glue answered"},
		// An alert naming a session of another region (forwarded from
		// another stack's bus, say) stops nothing here, even though this
		// region has a session of that id, and the execution fails.
		{"other region", "false", withResources(t, idleEvent2, "arn:aws:glue:eu-west-1:123456789012:session/"+idleSession2), idleSession2, gluetypes.SessionStatusReady,
			"OTHER_ACCOUNT", ":x: Auto-stop refused Glue session `as-idle-2` (IDLE)",
			"Not stopped: the event does not name arn:aws:glue:us-east-1:123456789012:session/as-idle-2 in its resources"},
		{"no resources", "false", withResources(t, idleEvent2), idleSession2, gluetypes.SessionStatusReady,
			"OTHER_ACCOUNT", ":x: Auto-stop refused Glue session `as-idle-2` (IDLE)", "Not stopped"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, failure := run(t, st.dryRun, st.event)
			want := sfntypes.ExecutionStatusSucceeded
			if strings.HasPrefix(st.title, ":x:") {
				want = sfntypes.ExecutionStatusFailed
			}
			if got != want {
				t.Errorf("execution %s (%s), want %s", got, failure, want)
			}
			if st.wantStatus != "" {
				if s := status(st.session); s != st.wantStatus {
					t.Errorf("moto's session %s is %s, want %s", st.session, s, st.wantStatus)
				}
			}
			n := topic.receive(t)
			t.Logf("notification: %s: %s", n.Content.Title, n.Content.Description)
			if n.Content.Title != st.title || !strings.Contains(n.Content.Description, st.description) {
				t.Errorf("notification %q: %q, want %q: …%s…", n.Content.Title, n.Content.Description, st.title, st.description)
			}
			// Threaded with the sample rules' notifications of the session.
			var alert struct {
				Region string         `json:"region"`
				Detail handler.Detail `json:"detail"`
			}
			if err := json.Unmarshal(st.event, &alert); err != nil {
				t.Fatal(err)
			}
			m := n.Metadata
			if n.ID != alert.Detail.EventID+"-auto-stop" || m.ThreadID != "sessionwatch-"+st.session || m.Summary != st.title ||
				!slices.Equal(m.RelatedResources, []string{st.session}) ||
				!maps.Equal(m.AdditionalContext, map[string]string{"sessionId": st.session, "alert": alert.Detail.Alert, "outcome": st.outcome}) ||
				!slices.Equal(n.Content.Keywords, []string{"sessionwatch", "auto-stop", st.outcome}) {
				t.Errorf("notification id %q, metadata %+v, keywords %q", n.ID, m, n.Content.Keywords)
			}
			if len(n.Content.NextSteps) != 2 || !strings.Contains(n.Content.NextSteps[0], "aws glue get-session --region "+alert.Region+" --id "+st.session) {
				t.Errorf("nextSteps %q", n.Content.NextSteps)
			}
		})
	}
}
