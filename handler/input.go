package handler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxRequestIDs caps how many ids one request may name in each of
// sessionIds, track and untrack: far more than one run can poll in a
// Lambda's time, small enough that a mistake cannot stall the function.
const MaxRequestIDs = 10000

// Request is what one run is asked to do. The zero value polls with the
// configured defaults.
type Request struct {
	SessionIDs []string `json:"sessionIds,omitempty"`
	Track      []string `json:"track,omitempty"`
	Untrack    []string `json:"untrack,omitempty"`
	// Discover, when set, overrides DISCOVER for this run. ParseRequest
	// sets it to true when the payload gives tags without discover.
	Discover *bool `json:"discover,omitempty"`
	// Tags, when not nil, replace DISCOVER_TAGS for this run; an empty map
	// is no filter. (Not omitempty: {} and no tags differ.)
	Tags   map[string]string `json:"tags"`
	DryRun bool              `json:"dryRun,omitempty"`
	// Scheduled is set when the payload is an EventBridge event (a rule's
	// schedule, EventBridge Scheduler, `sam local generate-event`), not a
	// poll request: it is not part of a request's JSON.
	Scheduled bool `json:"-"`
	// CloudTrail is set when the payload is a CloudTrail record of a Glue
	// session API call (CreateSession, StopSession, DeleteSession): the run
	// then polls only the session it names.
	CloudTrail *CloudTrailCall `json:"-"`
}

// What started a run, as the metrics' Trigger dimension names it.
const (
	TriggerSchedule   = "schedule"
	TriggerRequest    = "request"
	TriggerCloudTrail = "cloudtrail"
)

// Trigger says what started the run: a schedule, a poll request (a
// direct invoke, a schedule's Input, the CLI) or a CloudTrail record.
func (r Request) Trigger() string {
	if r.CloudTrail != nil {
		return TriggerCloudTrail
	}
	if r.Scheduled {
		return TriggerSchedule
	}
	return TriggerRequest
}

// InputError is a rejected invocation payload. Lambda reports its type name
// as the errorType.
type InputError struct{ Reason string }

func (e *InputError) Error() string { return "invalid input: " + e.Reason }

func badInput(format string, args ...any) error {
	return &InputError{Reason: fmt.Sprintf(format, args...)}
}

// envelopeFields are the top-level fields of an EventBridge event.
var envelopeFields = []string{"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail", "replay-name"}

var requestFields = []string{"sessionIds", "track", "untrack", "discover", "tags", "dryRun"}

// ParseRequest reads an invocation payload: an EventBridge event (a rule's
// schedule, EventBridge Scheduler, or `sam local generate-event`), a
// CloudTrail record of a Glue session API call, a poll request, `{}` or
// nothing. Anything else is an *InputError naming the
// problem.
func ParseRequest(payload []byte) (Request, error) {
	var req Request
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 {
		return req, nil
	}
	if !utf8.Valid(payload) {
		return req, badInput("payload is not valid UTF-8")
	}
	if payload[0] != '{' {
		if !json.Valid(payload) {
			return req, badInput("payload is not valid JSON")
		}
		return req, badInput("payload must be a JSON object, got %s", jsonKind(payload))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(payload, &fields); err != nil {
		return req, badInput("payload is not valid JSON: %v", err)
	}
	if err := checkTokens(payload); err != nil {
		return req, err
	}
	if isEventBridgeEvent(fields) {
		for name := range fields {
			if !slices.Contains(envelopeFields, name) {
				return req, badInput("unknown field %.64q in an EventBridge event (a poll request goes in a schedule's Input, not beside the event's fields)", name)
			}
		}
		if isCloudTrailRecord(fields) {
			// Its detail is the record: many fields sessionwatch does not
			// read, none of them "unknown".
			call, err := parseCloudTrail(fields["detail"])
			if err != nil {
				return Request{}, err
			}
			req.CloudTrail = call
			return req, nil
		}
		req.Scheduled = true
		return req, nil
	}
	for name, raw := range fields {
		if !slices.Contains(requestFields, name) {
			return req, badInput("unknown field %.64q (a poll request takes %s)", name, strings.Join(requestFields, ", "))
		}
		if string(raw) == "null" {
			continue
		}
		var err error
		switch name {
		case "sessionIds":
			req.SessionIDs, err = parseIDs(name, raw)
		case "track":
			req.Track, err = parseIDs(name, raw)
		case "untrack":
			req.Untrack, err = parseIDs(name, raw)
		case "discover":
			req.Discover = new(bool)
			err = decodeField(name, raw, req.Discover, "true or false")
		case "dryRun":
			err = decodeField(name, raw, &req.DryRun, "true or false")
		case "tags":
			req.Tags, err = parseTags(raw)
		}
		if err != nil {
			return Request{}, err
		}
	}
	if req.Tags != nil {
		// Tags are a filter for discovery: given alone they mean "discover
		// with this filter for this run", whatever DISCOVER says.
		switch {
		case req.Discover == nil:
			req.Discover = new(true)
		case !*req.Discover:
			return Request{}, badInput(`field "tags" is a filter for discovery, but "discover" is false: give one or the other`)
		}
	}
	for _, id := range req.Track {
		if slices.Contains(req.Untrack, id) {
			return Request{}, badInput("session id %q is in both track and untrack", id)
		}
	}
	return req, nil
}

// isEventBridgeEvent tells an EventBridge event from a poll request: events
// carry "detail-type" and "source" (the three schedule shapes all do).
func isEventBridgeEvent(fields map[string]json.RawMessage) bool {
	_, dt := fields["detail-type"]
	_, src := fields["source"]
	return dt && src
}

func decodeField(name string, raw json.RawMessage, dst any, want string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(dst); err != nil {
		return badInput("field %q must be %s, got %s", name, want, jsonKind(raw))
	}
	return nil
}

// parseTags reads the tags filter: an object whose every value is a
// string (null is not one: it would become the filter k="").
func parseTags(raw json.RawMessage) (map[string]string, error) {
	var fields map[string]json.RawMessage
	if err := decodeField("tags", raw, &fields, `an object of strings, like {"team": "data"}`); err != nil {
		return nil, err
	}
	tags := make(map[string]string, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if strings.TrimSpace(k) == "" {
			return nil, badInput("field \"tags\": a tag key is empty")
		}
		var v string
		if kind := jsonKind(fields[k]); kind != "a string" || json.Unmarshal(fields[k], &v) != nil {
			return nil, badInput("field \"tags\": the value of tag %.64q must be a string, got %s", k, kind)
		}
		tags[k] = v
	}
	return tags, nil
}

func parseIDs(name string, raw json.RawMessage) ([]string, error) {
	var ids []string
	if err := decodeField(name, raw, &ids, "a list of session id strings"); err != nil {
		return nil, err
	}
	if len(ids) > MaxRequestIDs {
		return nil, badInput("field %q has %d ids; at most %d are accepted in one request", name, len(ids), MaxRequestIDs)
	}
	out := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		if err := ValidateSessionID(id); err != nil {
			return nil, badInput("field %q, item %d: %v", name, i, err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// ValidateSessionID rejects an id Glue could never accept: empty, longer
// than 255 characters, or holding control characters.
func ValidateSessionID(id string) error {
	switch n := utf8.RuneCountInString(id); {
	case n == 0:
		return errors.New("session id is empty")
	case n > 255:
		return fmt.Errorf("session id %.40q… is %d characters long; Glue allows at most 255", id, n)
	case !utf8.ValidString(id):
		return fmt.Errorf("session id %q is not valid UTF-8", id)
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return fmt.Errorf("session id %q holds a control character", id)
	}
	return nil
}

// jsonKind names the JSON type of a value for error messages.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}
