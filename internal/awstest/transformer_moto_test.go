package awstest_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"sessionwatch/internal/awstest"
)

// TestAddTransformedRule proves what AddTransformedRule's comment says
// of moto's rendering, and two more of its ways that a text template
// meets: moto parses every rendering as one JSON value, so a multi-line
// text (EventBridge's form for it: one quoted string per line) fails
// PutEvents, and a rendering that is a string holding "time" fails it too
// (moto then looks the event's "time" up in that string).
func TestAddTransformedRule(t *testing.T) {
	t.Parallel()
	cfg := motoConfig(t)
	bus := awstest.NewBus(t, cfg, `{"source":["nothing"]}`)
	eb := eventbridge.NewFromConfig(cfg)
	put := func(detail string) error {
		_, err := eb.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: aws.String(bus.Name), Source: aws.String("test"), DetailType: aws.String("t"), Detail: aws.String(detail),
		}}})
		return err
	}
	paths := map[string]string{"v": "$.detail.v", "n": "$.detail.n", "gone": "$.detail.gone"}
	tr := func(template string) *ebtypes.InputTransformer {
		return &ebtypes.InputTransformer{InputPathsMap: paths, InputTemplate: aws.String(template)}
	}

	jsonQ := bus.AddTransformedRule(t, "json", `{"detail":{"kind":["json"]}}`, tr(`{"v": "<v>", "n": "<n>", "gone": "<gone>"}`))
	if err := put(`{"kind": "json", "v": "plain", "n": null}`); err != nil {
		t.Fatal(err)
	}
	got := jsonQ.Receive(t)
	if len(got) != 1 {
		t.Fatalf("received %d, want 1", len(got))
	}
	var body map[string]string
	if err := json.Unmarshal(got[0], &body); err != nil {
		t.Fatal(err)
	}
	if body["v"] != "plain" || body["n"] != "<n>" || body["gone"] != "<gone>" {
		t.Errorf("got %v: want the value, and <name> left for a null and a missing path", body)
	}
	// Unescaped, a quote breaks the JSON: the whole call fails.
	if err := put(`{"kind": "json", "v": "say \"hi\""}`); err == nil {
		t.Error("a value with a quote was delivered: moto escapes now, update AddTransformedRule's comment")
	}

	textQ := bus.AddTransformedRule(t, "text", `{"detail":{"kind":["text"]}}`, tr(`"one <v>\ntwo"`))
	if err := put(`{"kind": "text", "v": "plain"}`); err != nil {
		t.Fatal(err)
	}
	if got := textQ.Receive(t); len(got) != 1 || string(got[0]) != `"one plain\ntwo"` {
		t.Errorf("got %s, want the text as one JSON string", got)
	}
	if err := put(`{"kind": "text", "v": "a time"}`); err == nil {
		t.Error(`a text holding "time" was delivered: update this comment and notify_test.go`)
	}

	lines := bus.AddTransformedRule(t, "lines", `{"detail":{"kind":["lines"]}}`, tr("\"one <v>\"\n\"two\""))
	if err := put(`{"kind": "lines", "v": "plain"}`); err == nil || len(lines.Receive(t)) != 0 {
		t.Errorf("multi-line text: %v: want the call to fail", err)
	}
}
