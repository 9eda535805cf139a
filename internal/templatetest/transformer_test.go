package templatetest

// A model of how Amazon EventBridge renders a target's input transformer,
// so that the templates can be checked against AWS's behaviour where moto
// renders differently (see awstest.Bus.AddTransformedRule).
//
// What it follows, from AWS's documentation "Amazon EventBridge input
// transformation" (eb-transform-target-input), Input transform examples and
// Common issues with transforming input:
//   - "For Strings, quotes are required": a template is either JSON or
//     quoted text lines ("For (non-JSON) text output as multi-line
//     strings, wrap each separate line in your input template in double
//     quotes").
//   - "If you specify a variable to match a JSON path that doesn't exist in
//     the event, that variable isn't created and won't appear in the
//     output": nothing is substituted, inside a string or as a JSON value
//     (where the value becomes "").
//   - "Quotes are not required for variables that represent strings ...
//     EventBridge automatically adds quotes to string variable values":
//     a string placed as a JSON value comes out quoted; objects, arrays,
//     numbers and booleans come out as they are.
//   - "If a JSON path references a JSON object or array, but the variable
//     is referenced in a string, EventBridge removes any internal quotes"
//     (recorded for text templates; in a JSON template such a rendering
//     is recorded as not delivered).
//   - "EventBridge doesn't escape values extracted by Input Path, when
//     populating the Input Template for a target".
// The examples it is held to below are the documentation's, and the
// renderings recorded against AWS itself by the LocalStack project's
// AWS-validated snapshot tests of input transformers (TestInputTransformer,
// github.com/localstack/localstack): a missing path renders as "" in a
// string and as "" for a JSON value; a JSON template whose rendering is
// not valid JSON is not delivered at all.
//
// Two points are not settled by the documentation, so the model takes
// both ways and the templates must work under each: whether a string
// substituted into a JSON string is escaped (the documentation says it is
// not; the escaping reading would make any value safe), and whether a null
// value inside a string renders as "" or as "null".

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

// ebModel is one reading of EventBridge's rendering.
type ebModel struct {
	// escape JSON-escapes a string substituted inside a JSON string.
	escape bool
	// nullInString is what a null value renders as inside a string.
	nullInString string
}

// ebModels are the readings every template must work under.
var ebModels = map[string]ebModel{
	"no escaping, null as empty": {escape: false, nullInString: ""},
	"no escaping, null as null":  {escape: false, nullInString: "null"},
	"escaping, null as empty":    {escape: true, nullInString: ""},
	"escaping, null as null":     {escape: true, nullInString: "null"},
}

// missing marks a path that the event does not have.
type missing struct{}

// lookup resolves a JSON path of dot notation ($.detail.cost.estimatedUsd,
// $.detail-type) in an event decoded with UseNumber.
func lookup(event map[string]any, path string) any {
	if !strings.HasPrefix(path, "$.") {
		return missing{}
	}
	var v any = event
	for _, key := range strings.Split(path[2:], ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return missing{}
		}
		if v, ok = m[key]; !ok {
			return missing{}
		}
	}
	return v
}

// render returns what EventBridge delivers to the target for event, and
// false when it delivers nothing.
func (m ebModel) render(paths map[string]string, template string, event map[string]any) (string, bool) {
	t := strings.TrimSpace(template)
	isJSON := strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")
	var b strings.Builder
	inString := false
	for i := 0; i < len(template); i++ {
		c := template[i]
		switch {
		case c == '\\' && inString && i+1 < len(template):
			b.WriteByte(c)
			b.WriteByte(template[i+1])
			i++
		case c == '"':
			inString = !inString
			b.WriteByte(c)
		case c == '<':
			end := strings.IndexByte(template[i:], '>')
			path, ok := paths[template[i+1:i+max(end, 1)]]
			if end < 0 || !ok {
				return "", false // PutTargets refuses an undefined placeholder
			}
			b.WriteString(m.value(lookup(event, path), inString, isJSON))
			i += end
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	if isJSON {
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(out)); err != nil {
			return "", false
		}
		return compact.String(), true
	}
	return out, true
}

// value renders one substituted value, in a JSON template or a text one.
func (m ebModel) value(v any, inString, isJSON bool) string {
	switch v := v.(type) {
	case missing:
		if inString {
			return ""
		}
		return `""`
	case nil:
		if inString {
			return m.nullInString
		}
		return "null"
	case string:
		if !inString {
			if m.escape {
				q, _ := json.Marshal(v)
				return string(q)
			}
			return `"` + v + `"`
		}
		if m.escape {
			q, _ := json.Marshal(v)
			return string(q[1 : len(q)-1])
		}
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	default: // object or array
		j, _ := json.Marshal(v)
		if inString && !isJSON {
			return strings.ReplaceAll(string(j), `"`, "")
		}
		return string(j) // inside a JSON string, this breaks the JSON
	}
}

func decodeEvent(tb testing.TB, raw []byte) map[string]any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil {
		tb.Fatalf("event %s: %v", raw, err)
	}
	return ev
}

// TestEventBridgeModel holds the model to AWS's documented and recorded
// renderings.
func TestEventBridgeModel(t *testing.T) {
	// The documentation's example event.
	ec2 := decodeEvent(t, []byte(`{"version": "0", "detail-type": "EC2 Instance State-change Notification",
		"source": "aws.ec2", "detail": {"instance-id": "i-0123456789", "state": "RUNNING"}}`))
	ec2Paths := map[string]string{"instance": "$.detail.instance-id", "state": "$.detail.state"}
	// LocalStack's AWS-recorded event.
	acct := decodeEvent(t, []byte(`{"detail-type": "core.update-account-command", "detail": {"command": "update-account",
		"payload": {"acc_id": "0a787ecb-4015", "sf_id": "baz"}, "listsingle": ["HIGH"], "listmulti": ["ACTIVE", "INACTIVE"], "valid": true}}`))
	acctPaths := map[string]string{"userId": "$.detail.payload.acc_id", "payload": "$.detail.payload",
		"listsingle": "$.detail.listsingle", "listmulti": "$.detail.listmulti", "valid": "$.detail.valid",
		"systemstring": "$.detail.awsAccountId", "command": "$.detail.notinmessage", "detail-type": "$.detail-type"}
	cases := []struct {
		name     string
		event    map[string]any
		paths    map[string]string
		template string
		want     string // "" for not delivered
	}{
		{"doc: simple string", ec2, ec2Paths, `"instance <instance> is in <state>"`, `"instance i-0123456789 is in RUNNING"`},
		{"doc: simple JSON", ec2, ec2Paths, `{"instance" : <instance>, "state": <state>}`, `{"instance":"i-0123456789","state":"RUNNING"}`},
		{"doc: JSON with strings and variables", ec2, ec2Paths, `{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \"<instance>\" is in <state>"}`,
			`{"instance":"i-0123456789","state":"RUNNING","instanceStatus":"instance \"i-0123456789\" is in RUNNING"}`},
		{"doc: mix of variables and static information", ec2, ec2Paths, `{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}`,
			`{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}`},
		{"recorded: missing path in a string", acct, acctPaths, `"Event of <detail-type> type, info extracted from detail <command>"`,
			`"Event of core.update-account-command type, info extracted from detail "`},
		{"recorded: missing path as a JSON value", acct, acctPaths, `{"detailType": <detail-type>, "command": <command>}`,
			`{"detailType":"core.update-account-command","command":""}`},
		{"recorded: object in a string loses its quotes", acct, acctPaths, `"Payload of <payload> with path users-service/users/<userId> and <userId>"`,
			`"Payload of {acc_id:0a787ecb-4015,sf_id:baz} with path users-service/users/0a787ecb-4015 and 0a787ecb-4015"`},
		{"recorded: multi-line text", acct, acctPaths, "\"<listsingle> single list item\"\n\"<listmulti> multiple list items\"\n\"<systemstring> system account id\"",
			"\"[HIGH] single list item\"\n\"[ACTIVE,INACTIVE] multiple list items\"\n\" system account id\""},
		{"recorded: boolean in a string", acct, acctPaths, `"Command is <valid>!"`, `"Command is true!"`},
		{"recorded: object inside a JSON string is not delivered", acct, acctPaths, `{"payload": "<payload>"}`, ""},
		{"recorded: undefined placeholder is refused", acct, acctPaths, `"<notdefinedkey>"`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for name, m := range ebModels {
				got, ok := m.render(c.paths, c.template, c.event)
				if !ok {
					got = ""
				}
				if got != c.want {
					t.Errorf("%s: got %s, want %s", name, got, c.want)
				}
			}
		})
	}

	t.Run("a quote in a value", func(t *testing.T) {
		ev := decodeEvent(t, []byte(`{"detail": {"msg": "he said \"no\"\nthen left"}}`))
		paths := map[string]string{"msg": "$.detail.msg"}
		got := map[bool]bool{}
		for _, m := range ebModels {
			_, ok := m.render(paths, `{"text": "<msg>"}`, ev)
			got[m.escape] = ok
		}
		if want := map[bool]bool{true: true, false: false}; !maps.Equal(got, want) {
			t.Errorf("delivered by escaping: %v, want %v: only escaping keeps such a JSON valid", got, want)
		}
	})
}
