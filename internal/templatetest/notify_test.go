package templatetest

// Tests of the notifications the sample rules send (README,
// Notifications): a custom notification for Amazon Q Developer in chat
// applications on SessionAlertTopic, plain text on SessionEmailTopic.

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"sessionwatch/internal/awstest"
)

// notificationTopics are the topics people read, by what each target
// renders for them.
var notificationTopics = map[string]string{"${SessionAlertTopic}": "chat", "${SessionEmailTopic}": "email"}

// notifyingRules are the rules that notify people, each through one chat
// and one email target.
var notifyingRules = []string{"FailedSessionsRule", "SessionErrorsRule", "SessionAlertsRule"}

// chatPaths are the only event fields a chat template may read: each has
// a known character set (ids, enums, numbers, timestamps, ARNs), so it
// renders the same whether or not EventBridge escapes it. Free text (the
// error messages, the session's description) would break the JSON, and the
// notification with it, where EventBridge does not escape.
var chatPaths = []string{
	"$.region", "$.account", "$.detail-type",
	"$.detail.eventId", "$.detail.sessionId", "$.detail.message", "$.detail.status", "$.detail.previousStatus",
	"$.detail.severity", "$.detail.alert", "$.detail.observedAt", "$.detail.createdBy",
	"$.detail.cost.estimatedUsd", "$.detail.cost.dpuHours", "$.detail.cost.dpu", "$.detail.cost.basis",
	"$.detail.threshold.minutes", "$.detail.threshold.hours", "$.detail.threshold.usd",
}

// notifyTarget is one target of a rule on a notification topic.
type notifyTarget struct {
	rule, kind string // kind: chat or email
	pattern    map[string]any
	paths      map[string]string
	template   string
}

func (n notifyTarget) name() string { return n.rule + "-" + n.kind }

// notifyTargets lists every rule target on a notification topic.
func notifyTargets(tb testing.TB, s *stack) []notifyTarget {
	tb.Helper()
	var out []notifyTarget
	for _, id := range slices.Sorted(maps.Keys(s.Resolved)) {
		rule, err := s.GetEventsRuleWithName(id)
		if err != nil {
			continue // not a rule
		}
		for _, tg := range rule.Targets {
			kind, ok := notificationTopics[tg.Arn]
			if !ok {
				continue
			}
			if tg.InputTransformer == nil {
				tb.Fatalf("%s sends the raw event to %s: people read this topic", id, tg.Arn)
			}
			out = append(out, notifyTarget{rule: id, kind: kind, pattern: asMap(rule.EventPattern),
				paths: tg.InputTransformer.InputPathsMap, template: tg.InputTransformer.InputTemplate})
		}
	}
	return out
}

func chatSchema(tb testing.TB) *jsonschema.Schema {
	tb.Helper()
	sch, err := jsonschema.NewCompiler().Compile("testdata/chat-notification.schema.json")
	if err != nil {
		tb.Fatal(err)
	}
	return sch
}

// checkChat proves that out is a custom notification and returns it.
func checkChat(tb testing.TB, sch *jsonschema.Schema, out string) map[string]any {
	tb.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		tb.Fatalf("not JSON: %v\n%s", err, out)
	}
	if err := sch.Validate(v); err != nil {
		tb.Fatalf("not a custom notification: %v\n%s", err, out)
	}
	return v.(map[string]any)
}

// joinedText is a text template's quoted lines as one quoted string with
// newlines: the same substitutions in a form moto can deliver (it parses
// every rendering as one JSON value, where EventBridge delivers the lines
// as they are: see awstest's TestAddTransformedRule).
func joinedText(tb testing.TB, template string) string {
	tb.Helper()
	var lines []string
	for _, l := range strings.Split(template, "\n") {
		if len(l) < 2 || l[0] != '"' || l[len(l)-1] != '"' {
			tb.Fatalf("text template line %q is not a quoted string", l)
		}
		lines = append(lines, l[1:len(l)-1])
	}
	return `"` + strings.Join(lines, `\n`) + `"`
}

// placeholders are the <name>s of a template.
var placeholder = regexp.MustCompile(`<([^<>]*)>`)

// TestNotificationTemplates checks the templates themselves: each
// notifying rule has its chat and email target, every placeholder is
// defined (PutTargets refuses one that is not), the chat templates read
// no free text, and the email templates use EventBridge's form for
// multi-line text.
func TestNotificationTemplates(t *testing.T) {
	s := deploy(t, map[string]any{"EnableSampleRules": "true"})
	targets := notifyTargets(t, s)
	var got []string
	for _, n := range targets {
		got = append(got, n.name())
	}
	var want []string
	for _, r := range slices.Sorted(slices.Values(notifyingRules)) {
		want = append(want, r+"-chat", r+"-email")
	}
	if !slices.Equal(got, want) {
		t.Fatalf("notification targets %v, want %v", got, want)
	}
	for _, n := range targets {
		t.Run(n.name(), func(t *testing.T) {
			used := map[string]bool{}
			for _, m := range placeholder.FindAllStringSubmatch(n.template, -1) {
				used[m[1]] = true
				if _, ok := n.paths[m[1]]; !ok {
					t.Errorf("placeholder <%s> is not in InputPathsMap", m[1])
				}
			}
			for name := range n.paths {
				if !used[name] {
					t.Errorf("InputPathsMap %s is never used", name)
				}
			}
			if stripped := placeholder.ReplaceAllString(n.template, ""); strings.ContainsAny(stripped, "<>") {
				t.Error("a '<' or '>' that is not a placeholder: EventBridge would read it as one")
			}
			switch n.kind {
			case "chat":
				for name, path := range n.paths {
					if !slices.Contains(chatPaths, path) {
						t.Errorf("%s reads %s, which can hold anything: keep it to the email", name, path)
					}
				}
			case "email":
				joinedText(t, n.template)
				if strings.Contains(n.template, "time") {
					t.Error(`the text holds "time", which moto 5.2.1 cannot deliver (see awstest's TestAddTransformedRule)`)
				}
				for _, path := range []string{"$.detail.sessionId", "$.detail.message", "$.detail.session.description"} {
					if !slices.Contains(slices.Collect(maps.Values(n.paths)), path) {
						t.Errorf("the email does not show %s", path)
					}
				}
				if n.rule != "SessionAlertsRule" && !slices.Contains(slices.Collect(maps.Values(n.paths)), "$.detail.errorMessage") {
					t.Error("the email does not show the error message")
				}
			}
		})
	}
}

// hardError and hardDescription are free texts at their worst: quotes,
// backslashes, newlines, tabs, angle brackets and non-ASCII.
const (
	hardError       = "Py4JJavaError: An error occurred while calling o84.sql.\n: \"sales\" table <not> found at C:\\data\n\tat org.apache.spark… (more)"
	hardDescription = "Ad hoc \"weekly\" sales\nby team\\region"
	hardCreatedBy   = "arn:aws:sts::123456789012:assumed-role/DataEngineer/alice"
)

// hardCases derives, from a real emitted event, the cases a template must
// survive: free text at its worst, createdBy absent, null or set, and no
// cost block (the session's capacity unknown).
func hardCases(tb testing.TB, raw []byte) map[string]map[string]any {
	tb.Helper()
	out := map[string]map[string]any{}
	for _, createdBy := range []string{"absent", "null", "set"} {
		for _, cost := range []string{"with cost", "no cost"} {
			ev := decodeEvent(tb, raw)
			d := asMap(ev["detail"])
			d["errorMessage"] = hardError
			if sess := asMap(d["session"]); sess != nil {
				sess["description"] = hardDescription
			}
			switch createdBy {
			case "null":
				d["createdBy"] = nil
			case "set":
				d["createdBy"] = hardCreatedBy
			default:
				delete(d, "createdBy")
			}
			if cost == "no cost" {
				delete(d, "cost")
			}
			out["createdBy "+createdBy+", "+cost] = ev
		}
	}
	return out
}

// TestNotificationsInMoto has moto's EventBridge deliver the events a run
// really emits to SQS targets carrying the template's input transformers,
// and checks what a person would get: a custom notification in the chat
// channel, readable text by email. The same events, and their hard cases,
// are then rendered the way EventBridge renders them (ebModel), under every
// reading of its documentation.
func TestNotificationsInMoto(t *testing.T) {
	s := deploy(t, allOn)
	sch := chatSchema(t)
	targets := notifyTargets(t, s)
	queues := map[string]*awstest.Queue{}
	var every *awstest.Queue
	lifecycleRun(t, s, func(bus *awstest.Bus) {
		every = bus.Queue // the bus's own rule matches every event
		for _, n := range targets {
			p, _ := json.Marshal(n.pattern)
			tmpl := n.template
			if n.kind == "email" {
				tmpl = joinedText(t, tmpl)
			}
			queues[n.name()] = bus.AddTransformedRule(t, n.name(), string(p), &ebtypes.InputTransformer{InputPathsMap: n.paths, InputTemplate: aws.String(tmpl)})
		}
	})
	var events [][]byte
	for _, raw := range every.Receive(t) {
		events = append(events, raw)
	}

	for _, n := range targets {
		var matched []map[string]any
		var matchedRaw [][]byte
		for _, raw := range events {
			if ev := decodeEvent(t, raw); matchPattern(n.pattern, ev) {
				matched, matchedRaw = append(matched, ev), append(matchedRaw, raw)
			}
		}
		if len(matched) == 0 {
			t.Fatalf("%s: the run emitted no event it matches", n.name())
		}
		var want []string
		for _, ev := range matched {
			want = append(want, asMap(ev["detail"])["message"].(string))
		}
		slices.Sort(want)

		t.Run(n.name()+" through moto", func(t *testing.T) {
			var got []string
			for _, body := range queues[n.name()].Receive(t) {
				switch n.kind {
				case "chat":
					got = append(got, checkChatFor(t, sch, string(body), matched))
				case "email":
					var text string
					if err := json.Unmarshal(body, &text); err != nil {
						t.Fatalf("email body %s: %v", body, err)
					}
					got = append(got, checkEmailFor(t, text, matched))
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("notified %q, want %q", got, want)
			}
		})

		t.Run(n.name()+" as EventBridge renders it", func(t *testing.T) {
			for name, m := range ebModels {
				for i, ev := range matched {
					out, ok := m.render(n.paths, n.template, ev)
					if !ok {
						t.Fatalf("%s: event %s is not delivered", name, matchedRaw[i])
					}
					if n.kind == "chat" {
						checkChatFor(t, sch, out, matched)
					} else {
						checkEmailFor(t, out, matched)
					}
				}
				for c, ev := range hardCases(t, matchedRaw[0]) {
					out, ok := m.render(n.paths, n.template, ev)
					if !ok {
						t.Fatalf("%s, %s: not delivered", name, c)
					}
					d := asMap(ev["detail"])
					switch n.kind {
					case "chat":
						checkChatFor(t, sch, out, []map[string]any{ev})
						if strings.Contains(out, "sales") {
							t.Errorf("%s, %s: free text reached the chat notification: %s", name, c, out)
						}
					case "email":
						checkEmailFor(t, out, []map[string]any{ev})
						parts := []string{"weekly"}
						if slices.Contains(slices.Collect(maps.Values(n.paths)), "$.detail.errorMessage") {
							parts = append(parts, "Py4JJavaError")
						}
						for _, part := range parts {
							if !strings.Contains(out, part) {
								t.Errorf("%s, %s: the email lacks %q:\n%s", name, c, part, out)
							}
						}
					}
					if d["createdBy"] != nil && !strings.Contains(out, hardCreatedBy) {
						t.Errorf("%s, %s: createdBy is not shown:\n%s", name, c, out)
					}
				}
			}
		})
	}

	// Moto delivers the hard cases to the chat targets too: the free text
	// stays out of them, so moto's unescaped substitution cannot break them
	// (its email rendering of a quote would fail PutEvents as a whole).
	t.Run("hard cases through moto", func(t *testing.T) {
		cfg := awstest.Config(t, awstest.Endpoint(t))
		bus := awstest.NewBus(t, cfg, `{"source":["nothing"]}`)
		eb := eventbridge.NewFromConfig(cfg)
		queues := map[string]*awstest.Queue{}
		sent := map[string][]map[string]any{}
		for _, n := range targets {
			if n.kind != "chat" {
				continue
			}
			p, _ := json.Marshal(n.pattern)
			queues[n.name()] = bus.AddTransformedRule(t, n.name(), string(p), &ebtypes.InputTransformer{InputPathsMap: n.paths, InputTemplate: aws.String(n.template)})
			for _, raw := range events {
				if !matchPattern(n.pattern, decodeEvent(t, raw)) {
					continue
				}
				cases := hardCases(t, raw)
				// Moto renders a null createdBy as an absent one: two cases
				// cover what it can tell apart, and each costs a second.
				for _, c := range []string{"createdBy absent, no cost", "createdBy set, with cost"} {
					ev := cases[c]
					detail, _ := json.Marshal(ev["detail"])
					out, err := eb.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
						EventBusName: aws.String(bus.Name), Source: aws.String(ev["source"].(string)),
						DetailType: aws.String(ev["detail-type"].(string)), Detail: aws.String(string(detail)),
						Resources: strs(ev["resources"]),
					}}})
					if err != nil || out.FailedEntryCount != 0 {
						t.Fatalf("PutEvents: %v %+v", err, out)
					}
					sent[n.name()] = append(sent[n.name()], ev)
				}
				break // one real event per rule, in all its hard cases
			}
		}
		for name, q := range queues {
			bodies := q.Receive(t)
			if len(bodies) != len(sent[name]) {
				t.Errorf("%s: %d notifications for %d events", name, len(bodies), len(sent[name]))
			}
			for _, body := range bodies {
				checkChatFor(t, sch, string(body), sent[name])
			}
		}
	})
}

// checkChatFor proves that out is a custom notification of one of the
// events and returns that event's message.
func checkChatFor(tb testing.TB, sch *jsonschema.Schema, out string, events []map[string]any) string {
	tb.Helper()
	n := checkChat(tb, sch, out)
	content, meta := asMap(n["content"]), asMap(n["metadata"])
	for _, ev := range events {
		d := asMap(ev["detail"])
		msg, id := d["message"].(string), d["sessionId"].(string)
		if content["title"] != nil && strings.HasSuffix(content["title"].(string), " "+msg) {
			if meta["threadId"] != "sessionwatch-"+id || !strings.Contains(content["description"].(string), "`"+id+"`") || n["id"] != d["eventId"] {
				tb.Errorf("notification of %s does not name its session and event:\n%s", msg, out)
			}
			return msg
		}
	}
	tb.Errorf("notification of none of the events:\n%s", out)
	return ""
}

// checkEmailFor proves that text is the readable notification of one of
// the events and returns that event's message.
func checkEmailFor(tb testing.TB, text string, events []map[string]any) string {
	tb.Helper()
	if json.Valid([]byte(text)) && strings.HasPrefix(text, "{") {
		tb.Errorf("the email is JSON:\n%s", text)
	}
	for _, ev := range events {
		d := asMap(ev["detail"])
		msg, id := d["message"].(string), d["sessionId"].(string)
		if strings.HasPrefix(strings.TrimPrefix(text, `"`), "sessionwatch: "+msg) {
			if !strings.Contains(text, "Session:        "+id) || !strings.Contains(text, d["eventId"].(string)) {
				tb.Errorf("email of %s does not name its session and event:\n%s", msg, text)
			}
			return msg
		}
	}
	tb.Errorf("email of none of the events:\n%s", text)
	return ""
}

// TestReadmeNotificationExample holds the README's rendered notifications
// to what the template renders, as EventBridge does, from the published
// alert example.
func TestReadmeNotificationExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Notifications\n")
	if !ok {
		t.Fatal("README.md has no Notifications section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	chat := regexp.MustCompile("(?s)```json\n(.*?)```").FindStringSubmatch(section)
	email := regexp.MustCompile("(?s)```text\n(.*?)```").FindStringSubmatch(section)
	if chat == nil || email == nil {
		t.Fatal("the Notifications section lacks its ```json chat example or its ```text email example")
	}
	raw, err := os.ReadFile("../../events/published/alert.json")
	if err != nil {
		t.Fatal(err)
	}
	ev := decodeEvent(t, raw)
	m := ebModels["no escaping, null as empty"]
	for _, n := range notifyTargets(t, deploy(t, map[string]any{"EnableSampleRules": "true"})) {
		if n.rule != "SessionAlertsRule" {
			continue
		}
		out, ok := m.render(n.paths, n.template, ev)
		if !ok {
			t.Fatalf("%s: not delivered", n.name())
		}
		switch n.kind {
		case "chat":
			if readme, rendered := canonical(t, []byte(chat[1])), canonical(t, []byte(out)); readme != rendered {
				t.Errorf("README's chat example differs from the rendering:\nREADME   %s\nrendered %s", readme, rendered)
			}
		case "email":
			if readme := strings.TrimSuffix(email[1], "\n"); readme != out {
				t.Errorf("README's email example differs from the rendering:\nREADME\n%s\nrendered\n%s", readme, out)
			}
		}
	}
}

// TestSessionEmailTopic checks the email topic's policy, which lets the
// notifying rules publish and nothing else, and its optional subscription.
func TestSessionEmailTopic(t *testing.T) {
	s := deploy(t, map[string]any{"EnableSampleRules": "true", "NotificationEmail": "data-team@example.com"})
	checkRulesOnlyPublish(t, s, "SessionEmailTopicPolicy", "SessionEmailTopic", notifyingRules)

	sub, err := s.GetSNSSubscriptionWithName("SessionEmailSubscription")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Protocol != "email" || aws.ToString(sub.Endpoint) != "data-team@example.com" || sub.TopicArn != "${SessionEmailTopic}" {
		t.Errorf("subscription %s %s to %s", sub.Protocol, aws.ToString(sub.Endpoint), sub.TopicArn)
	}
	for _, params := range []map[string]any{
		{"EnableSampleRules": "true"},
		{"EnableSampleRules": "false", "NotificationEmail": "data-team@example.com"},
	} {
		if _, err := deploy(t, params).GetSNSSubscriptionWithName("SessionEmailSubscription"); err == nil {
			t.Errorf("subscribed with %v", params)
		}
	}
}
