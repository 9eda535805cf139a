package handler_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"sessionwatch/handler"
)

func manyIDs(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func idsJSON(list ...string) string {
	b, err := json.Marshal(list)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestParseRequestAccepts(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		name    string
		payload string
		want    handler.Request
	}{
		{"EventBridge rule schedule", `{
		  "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
		  "detail-type": "Scheduled Event", "source": "aws.events",
		  "account": "123456789012", "time": "2026-11-24T12:00:00Z", "region": "us-east-1",
		  "resources": ["arn:aws:events:us-east-1:123456789012:rule/sessionwatch"],
		  "detail": {}}`, handler.Request{Scheduled: true}},
		{"EventBridge Scheduler", `{
		  "version": "0", "id": "1f4b6c1e-7a0e-4d2c-9b5f-2f0b3a2c7d11",
		  "detail-type": "Scheduled Event", "source": "aws.scheduler",
		  "account": "123456789012", "time": "2026-11-24T12:00:00Z", "region": "us-east-1",
		  "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/sessionwatch"],
		  "detail": "{}"}`, handler.Request{Scheduled: true}},
		{"sam local generate-event cloudwatch scheduled-event", `{
		  "id": "cdc73f9d-aea9-11e3-9d5a-835b769c0d9c",
		  "detail-type": "Scheduled Event",
		  "source": "aws.events",
		  "account": "123456789012",
		  "time": "1970-01-01T00:00:00Z",
		  "region": "us-east-1",
		  "resources": ["arn:aws:events:us-east-1:123456789012:rule/ExampleRule"],
		  "detail": {}
		}`, handler.Request{Scheduled: true}},
		{"full poll request", `{"sessionIds": ["s-1", "s-2"], "track": ["s-3"], "untrack": ["s-4"],
		  "discover": true, "tags": {"team": "data"}, "dryRun": true}`, handler.Request{
			SessionIDs: []string{"s-1", "s-2"}, Track: []string{"s-3"}, Untrack: []string{"s-4"},
			Discover: &yes, Tags: map[string]string{"team": "data"}, DryRun: true,
		}},
		{"discover false", `{"discover": false}`, handler.Request{Discover: new(bool)}},
		{"tags without discover: discover", `{"tags": {"team": "data"}}`, handler.Request{Discover: &yes, Tags: map[string]string{"team": "data"}}},
		{"discover false, tags null", `{"discover": false, "tags": null}`, handler.Request{Discover: new(bool)}},
		{"null fields", `{"sessionIds": null, "discover": null, "tags": null}`, handler.Request{}},
		{"empty object", `{}`, handler.Request{}},
		{"empty payload", ``, handler.Request{}},
		{"whitespace", " \n\t\r ", handler.Request{}},
		{"whitespace around an object", "\n {\"dryRun\": true} \n", handler.Request{DryRun: true}},
		{"duplicates removed", `{"sessionIds": ["a", "b", "a", "b", "c"]}`, handler.Request{SessionIDs: []string{"a", "b", "c"}}},
		{"255-character id", `{"sessionIds": ["` + strings.Repeat("x", 255) + `"]}`, handler.Request{SessionIDs: []string{strings.Repeat("x", 255)}}},
		{"255 two-byte characters", `{"track": ["` + strings.Repeat("é", 255) + `"]}`, handler.Request{Track: []string{strings.Repeat("é", 255)}}},
		{"escaped surrogate pair", `{"sessionIds": ["s-\ud83d\ude42"]}`, handler.Request{SessionIDs: []string{"s-🙂"}}},
		{"escaped backslash before u", `{"sessionIds": ["s-\\ud800"]}`, handler.Request{SessionIDs: []string{`s-\ud800`}}},
		{"same name in sibling objects", `{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}}`, handler.Request{Scheduled: true}},
		{"MaxRequestIDs ids", `{"sessionIds": ` + idsJSON(manyIDs(handler.MaxRequestIDs, "s-")...) + `}`, handler.Request{SessionIDs: manyIDs(handler.MaxRequestIDs, "s-")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := handler.ParseRequest([]byte(tc.payload))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("nil payload", func(t *testing.T) {
		got, err := handler.ParseRequest(nil)
		if err != nil || !reflect.DeepEqual(got, handler.Request{}) {
			t.Fatalf("got %+v, %v, want the zero request", got, err)
		}
	})
}

func TestParseRequestRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		want    []string // substrings of the error message
	}{
		{"invalid JSON", `{"sessionIds": [`, []string{"not valid JSON"}},
		{"invalid JSON, not an object", `nope`, []string{"not valid JSON"}},
		{"null", `null`, []string{"must be a JSON object", "null"}},
		{"poll request fields beside an EventBridge event", `{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}, "dryRun": true}`, []string{`unknown field "dryRun"`}},
		{"trailing garbage", `{"dryRun": true} x`, []string{"not valid JSON"}},
		{"array", `["s-1"]`, []string{"must be a JSON object", "a list"}},
		{"string", `"s-1"`, []string{"must be a JSON object", "a string"}},
		{"number", `42`, []string{"must be a JSON object", "a number"}},
		{"boolean", `true`, []string{"must be a JSON object", "a boolean"}},
		{"unknown field", `{"sessionIDs": ["s-1"]}`, []string{`"sessionIDs"`}},
		{"unknown field beside known ones", `{"dryRun": true, "dry_run": true}`, []string{`"dry_run"`}},
		{"sessionIds a string", `{"sessionIds": "s-1"}`, []string{`"sessionIds"`, "a string"}},
		{"sessionIds of numbers", `{"sessionIds": [1, 2]}`, []string{`"sessionIds"`}},
		{"sessionIds an object", `{"sessionIds": {"s-1": true}}`, []string{`"sessionIds"`, "an object"}},
		{"track a string", `{"track": "s-1"}`, []string{`"track"`}},
		{"untrack a number", `{"untrack": 3}`, []string{`"untrack"`}},
		{"discover a string", `{"discover": "true"}`, []string{`"discover"`}},
		{"dryRun a number", `{"dryRun": 1}`, []string{`"dryRun"`}},
		{"tags a list", `{"tags": ["team=data"]}`, []string{`"tags"`}},
		{"tags of numbers", `{"tags": {"team": 1}}`, []string{`"tags"`}},
		{"tag key empty", `{"tags": {" ": "x"}}`, []string{`"tags"`, "empty"}},
		{"empty id", `{"sessionIds": ["s-1", ""]}`, []string{`"sessionIds"`, "empty"}},
		{"null id", `{"track": [null]}`, []string{`"track"`, "empty"}},
		{"256-character id", `{"sessionIds": ["` + strings.Repeat("x", 256) + `"]}`, []string{`"sessionIds"`, "255"}},
		{"256 two-byte characters", `{"untrack": ["` + strings.Repeat("é", 256) + `"]}`, []string{`"untrack"`, "255"}},
		{"NUL in id", `{"sessionIds": ["s\u00001"]}`, []string{`"sessionIds"`, "control"}},
		{"tab in id", `{"sessionIds": ["s\t1"]}`, []string{`"sessionIds"`, "control"}},
		{"C1 control in id", `{"track": ["s\u00851"]}`, []string{`"track"`, "control"}},
		{"tracked and untracked", `{"track": ["s-1", "s-2"], "untrack": ["s-2"]}`, []string{`"s-2"`, "track", "untrack"}},
		{"invalid UTF-8", "{\"sessionIds\": [\"s-\xff\"]}", []string{"UTF-8"}},
		{"field given twice", `{"dryRun": true, "dryRun": false}`, []string{`"dryRun"`, "twice"}},
		{"field given twice, same value", `{"sessionIds": ["s-1"], "sessionIds": ["s-1"]}`, []string{`"sessionIds"`, "twice"}},
		{"tag given twice", `{"tags": {"team": "a", "team": "b"}}`, []string{`"team"`, "twice"}},
		{"envelope field given twice", `{"detail-type": "Scheduled Event", "source": "aws.events", "source": "x", "detail": {}}`, []string{`"source"`, "twice"}},
		{"detail field given twice", `{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"a": [{"b": {"c": 1, "c": 2}}]}}`, []string{`"c"`, "twice", "detail"}},
		{"field given twice, once escaped", `{"dryRun": true, "dry\u0052un": false}`, []string{`"dryRun"`, "twice"}},
		{"null tag value", `{"tags": {"team": null}}`, []string{`"tags"`, `"team"`, "string", "null"}},
		{"boolean tag value", `{"tags": {"team": true}}`, []string{`"tags"`, `"team"`, "string"}},
		{"object tag value", `{"tags": {"team": {}}}`, []string{`"tags"`, `"team"`, "string"}},
		{"lone high surrogate in an id", `{"sessionIds": ["s-\ud800"]}`, []string{"\\ud800", "surrogate"}},
		{"lone low surrogate in an id", `{"track": ["\udc00-s"]}`, []string{"\\udc00", "surrogate"}},
		{"high surrogate before a non-surrogate", `{"sessionIds": ["s-\ud83d\u0041"]}`, []string{"\\ud83d", "surrogate"}},
		{"two high surrogates", `{"sessionIds": ["s-\ud83d\ud83d\ude42"]}`, []string{"\\ud83d", "surrogate"}},
		{"lone surrogate in a tag", `{"tags": {"team": "\udfff"}}`, []string{"\\udfff", "surrogate"}},
		{"lone surrogate in a field name", `{"\ud800": 1}`, []string{"\\ud800", "surrogate"}},
		{"lone surrogate in a detail", `{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {"note": "\ud800"}}`, []string{"\\ud800", "surrogate"}},
		{"discover false with tags", `{"discover": false, "tags": {"team": "data"}}`, []string{`"discover"`, `"tags"`}},
		{"discover false with empty tags", `{"tags": {}, "discover": false}`, []string{`"discover"`, `"tags"`}},
		{"too many ids", `{"track": ` + idsJSON(manyIDs(handler.MaxRequestIDs+1, "s-")...) + `}`, []string{`"track"`, fmt.Sprint(handler.MaxRequestIDs)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := handler.ParseRequest([]byte(tc.payload))
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			var inputErr *handler.InputError
			if !errors.As(err, &inputErr) {
				t.Fatalf("got %T %v, want a *handler.InputError", err, err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want it to contain %q", err, want)
				}
			}
		})
	}
}
