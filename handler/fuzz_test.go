package handler_test

// Fuzz tests of input parsing, the transition and event building. `go test` runs
// their seeds (the f.Add calls and testdata/fuzz/<FuzzName>/); fuzz one
// with `go test -fuzz=FuzzParseRequest -fuzztime=60s ./handler/` and commit
// what it finds under testdata/fuzz.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/state"
)

// noPanic turns a panic of the fuzzed code into a failure of this input,
// so that running the seeds never takes the test binary down.
func noPanic(t *testing.T) {
	if p := recover(); p != nil {
		t.Fatalf("panic: %v", p)
	}
}

// FuzzParseRequest: parsing never panics; it either accepts a payload that
// is empty or valid JSON and returns a Request that keeps every promise
// (valid, de-duplicated ids, at most MaxRequestIDs of them, none both
// tracked and untracked, no blank tag key) and survives a round trip, or
// rejects it with an *InputError and a valid message.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		``, ` `, `{}`, `null`, `[]`, `"x"`, `42`, `true`, `{`, `{"dryRun": true} x`,
		`{"sessionIds": ["s-1", "s-2", "s-1"], "track": ["s-3"], "untrack": ["s-4"], "discover": true, "tags": {"team": "data"}, "dryRun": false}`,
		`{"sessionIds": null, "discover": null, "tags": null}`,
		`{"tags": {}}`, `{"sessionIds": []}`, `{"discover": false}`,
		`{"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "account": "1", "time": "t", "region": "r", "resources": [], "detail": {}}`,
		`{"detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": "{}"}`,
		`{"detail-type": "x", "source": "y", "dryRun": true}`,
		`{"sessionIDs": ["s-1"]}`, `{"dryRun": 1}`, `{"tags": {" ": "x"}}`, `{"tags": {"a": 1}}`,
		`{"sessionIds": [""]}`, `{"sessionIds": [null]}`, `{"sessionIds": ["s\u0000"]}`, `{"sessionIds": ["s\u0085"]}`,
		`{"sessionIds": ["\ud800"]}`, `{"sessionIds": ["` + strings.Repeat("é", 255) + `"]}`, `{"sessionIds": ["` + strings.Repeat("x", 256) + `"]}`,
		`{"track": ["a"], "untrack": ["a"]}`, `{"track": ["a", "a"], "untrack": ["b"]}`,
		"{\"sessionIds\": [\"s-\xff\"]}", "\xef\xbb\xbf{}", `{"dryRun": true, "dryRun": false}`,
		`{"sessionIds": [[["x"]]]}`, `{"x": [[[[[[[[[[]]]]]]]]]]}`, `{"sessionIds": ["a b", " c ", "日本", "🙂"]}`,
		`{"tags": {"k": "` + "\u2028" + `"}}`, `{"discover": "true"}`, `{"sessionIds": {"a": 1}}`, `{"sessionIds": "a"}`,
		`{"sessionIds": 1e400}`, `{"dryRun": true}` + "\n", "\t{\"untrack\": [\"x\"]}\r\n",
		`{"tags": {"team": null}}`, `{"tags": {"a": "1", "a": "2"}}`, `{"dryRun": false, "dry\u0052un": true}`,
		`{"sessionIds": ["\ud83d\ude42", "\\ud800"]}`, `{"sessionIds": ["\udc00"]}`, `{"sessionIds": ["\ud83d\u0041"]}`,
		`{"detail-type": "x", "source": "y", "detail": {"a": [{"b": 1, "b": 2}]}}`, `{"detail-type": "x", "source": "y", "detail": {"\ud800": 1}}`,
		// CloudTrail records: whole, reduced, failed, and wrong in each field
		// sessionwatch reads.
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": {"eventSource": "glue.amazonaws.com", "eventName": "CreateSession", "userIdentity": {"arn": "arn:aws:iam::123456789012:user/a"}, "requestParameters": {"id": "s-1", "defaultArguments": {"k": "v"}}, "responseElements": {"session": {"id": "s-1"}}}}`,
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": {"eventName": "StopSession", "errorCode": null, "userIdentity": {"arn": null}, "requestParameters": {"id": "s-1"}, "responseElements": {"session": {"id": null}}}}`,
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": {"eventName": "DeleteSession", "requestParameters": {"id": "s\u0000"}}}`,
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": {"eventName": "CreateSession", "errorCode": "AccessDeniedException", "responseElements": null}}`,
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": {"eventName": "RunStatement", "requestParameters": {"sessionId": "s-1"}}}`,
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": {"eventName": "StopSession", "requestParameters": {"id": 1}}}`,
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": {"eventName": "CreateSession", "userIdentity": {"arn": "a\u2028"}, "responseElements": {"session": "s-1"}}}`,
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": {"eventName": ["StopSession"], "errorCode": 1}}`,
		`{"detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "detail": "{}"}`,
	} {
		f.Add([]byte(seed))
	}
	for _, name := range []string{"create-session", "stop-session", "delete-session", "create-session-failed"} {
		raw, err := os.ReadFile("../events/cloudtrail-" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		defer noPanic(t)
		req, err := handler.ParseRequest(payload)
		if err != nil {
			var inputErr *handler.InputError
			if !errors.As(err, &inputErr) {
				t.Fatalf("error %T %v, want an *InputError", err, err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid input: ") || len(msg) == len("invalid input: ") || !utf8.ValidString(msg) {
				t.Errorf("message %q, want a valid sentence", msg)
			}
			return
		}
		if trimmed := bytes.TrimSpace(payload); len(trimmed) > 0 && !json.Valid(trimmed) {
			t.Errorf("accepted a payload that is not JSON: %q", payload)
		}
		checkRequest(t, req)
		if req.CloudTrail != nil {
			checkCall(t, req)
			return // a record is no part of a request's JSON
		}
		out, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("marshal %+v: %v", req, err)
		}
		again, err := handler.ParseRequest(out)
		if err != nil {
			t.Fatalf("round trip: %s rejected: %v", out, err)
		}
		if !sameRequest(req, again) {
			t.Errorf("round trip: %+v became %+v", req, again)
		}
	})
}

func checkRequest(t *testing.T, req handler.Request) {
	t.Helper()
	for name, ids := range map[string][]string{"sessionIds": req.SessionIDs, "track": req.Track, "untrack": req.Untrack} {
		if len(ids) > handler.MaxRequestIDs {
			t.Errorf("%s: %d ids accepted, over %d", name, len(ids), handler.MaxRequestIDs)
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if err := handler.ValidateSessionID(id); err != nil {
				t.Errorf("%s: accepted %q: %v", name, id, err)
			}
			if strings.HasPrefix(id, "\x1f") {
				t.Errorf("%s: accepted %q, which could name one of the table's own items", name, id)
			}
			if seen[id] {
				t.Errorf("%s: %q twice", name, id)
			}
			seen[id] = true
		}
	}
	for _, id := range req.Track {
		if slices.Contains(req.Untrack, id) {
			t.Errorf("%q both tracked and untracked", id)
		}
	}
	for k := range req.Tags {
		if strings.TrimSpace(k) == "" {
			t.Errorf("blank tag key %q accepted", k)
		}
	}
}

// checkCall: a CloudTrail record accepted is of a call sessionwatch acts
// on, and nothing else is asked beside it; a successful call names a valid
// session, only CreateSession a creator.
func checkCall(t *testing.T, req handler.Request) {
	t.Helper()
	c := req.CloudTrail
	if !slices.Contains([]string{handler.CallCreateSession, handler.CallStopSession, handler.CallDeleteSession}, c.EventName) {
		t.Errorf("accepted a record of %q", c.EventName)
	}
	if req.Trigger() != handler.TriggerCloudTrail {
		t.Errorf("trigger %q", req.Trigger())
	}
	switch {
	case c.Failed && (c.ErrorCode == "" || c.SessionID != "" || c.CreatedBy != ""):
		t.Errorf("failed call %+v: want its error code, no session, no creator", *c)
	case !c.Failed && handler.ValidateSessionID(c.SessionID) != nil:
		t.Errorf("call %+v: invalid session id accepted", *c)
	case c.CreatedBy != "" && (c.EventName != handler.CallCreateSession || !utf8.ValidString(c.CreatedBy) || strings.IndexFunc(c.CreatedBy, unicode.IsControl) >= 0):
		t.Errorf("call %+v: creator accepted", *c)
	}
	r := req
	r.CloudTrail = nil
	if !reflect.DeepEqual(r, handler.Request{}) {
		t.Errorf("a request beside the record: %+v", r)
	}
}

// sameRequest compares requests, an empty list or map being the same as
// none (JSON's omitempty cannot tell them apart), and what started the
// run being no part of a request's JSON.
func sameRequest(a, b handler.Request) bool {
	norm := func(r handler.Request) handler.Request {
		r.Scheduled = false
		for _, p := range []*[]string{&r.SessionIDs, &r.Track, &r.Untrack} {
			if len(*p) == 0 {
				*p = nil
			}
		}
		if len(r.Tags) == 0 {
			r.Tags = nil
		}
		return r
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// FuzzTransition: the transition is pure and deterministic, leaves its
// inputs alone, announces exactly the changes README, Events defines (a
// state change when the status differs or at first sighting, an error when
// a non-empty message differs, a deletion when a known session is gone),
// never a "" standing for a missing value; the eventIds of its events are
// 32 hex digits, distinct, stable; and once its next snapshot is saved the
// same answer gives no change (even for error messages cut to
// MaxStoredError).
func FuzzTransition(f *testing.F) {
	f.Add(true, false, "READY", "", true, "READY", "", uint16(0))
	f.Add(true, false, "READY", "", true, "FAILED", "OOM", uint16(0))
	f.Add(false, false, "", "", true, "READY", "boom", uint16(0))
	f.Add(true, false, "READY", "old", true, "READY", "new", uint16(0))
	f.Add(true, false, "READY", "same", true, "READY", "same", uint16(0))
	f.Add(true, false, "READY", "x", true, "READY", "", uint16(0))
	f.Add(true, false, "READY", "", false, "", "", uint16(0))
	f.Add(true, true, "READY", "", false, "", "", uint16(0))
	f.Add(true, true, "READY", "", true, "READY", "", uint16(0))
	f.Add(false, false, "", "", false, "", "", uint16(0))
	f.Add(true, false, "", "", true, "", "", uint16(0))
	f.Add(true, false, "READY", "é日🙂", true, "READY", "é日🙂", uint16(2000))
	f.Add(true, false, "READY", "a", true, "READY", "ab", uint16(5000))
	f.Add(true, false, "RESIZING", "\xff", true, "résizing", "\x00\u2028", uint16(1))
	f.Fuzz(func(t *testing.T, hasPrev, deleted bool, prevStatus, prevErr string, hasCur bool, curStatus, curErr string, repeat uint16) {
		defer noPanic(t)
		if n := int(repeat) % 3000; n > 1 {
			// Long messages: past MaxStoredError the snapshot keeps a digest.
			prevErr, curErr = strings.Repeat(prevErr, n), strings.Repeat(curErr, n)
		}
		var prev *state.Snapshot
		if hasPrev {
			prev = &state.Snapshot{SessionID: "s-1", Status: prevStatus, Deleted: deleted, Sequence: 3, Version: 2}
			prev.SetError(prevErr)
		}
		var cur *gluetypes.Session
		if hasCur {
			cur = &gluetypes.Session{Id: aws.String("s-1"), Status: gluetypes.SessionStatus(curStatus)}
			if curErr != "" {
				cur.ErrorMessage = aws.String(curErr)
			}
		}
		obs := handler.Observation{SessionID: "s-1", Session: cur, At: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
		prevCopy, curCopy := copySnapshot(prev), copySession(cur)
		next, got := handler.Transition(prev, obs, handler.Rules{RetentionDays: 30})
		if !reflect.DeepEqual(prev, prevCopy) || !reflect.DeepEqual(cur, curCopy) {
			t.Fatalf("Transition changed its inputs")
		}
		if againNext, again := handler.Transition(prev, obs, handler.Rules{RetentionDays: 30}); !reflect.DeepEqual(got, again) || !reflect.DeepEqual(next, againNext) {
			t.Fatalf("Transition is not deterministic: %+v then %+v", got, again)
		}

		first := prev == nil || prev.Deleted
		var want []string
		switch {
		case cur == nil && !first:
			want = []string{handler.DetailTypeDeleted}
		case cur == nil:
		default:
			if first || curStatus != prev.Status {
				want = append(want, handler.DetailTypeStateChange)
			}
			if curErr != "" && (first || !prev.SameError(curErr)) {
				want = append(want, handler.DetailTypeError)
			}
		}
		var types []string
		for _, e := range got {
			types = append(types, e.DetailType)
		}
		if !slices.Equal(types, want) {
			t.Fatalf("events %q, want %q", types, want)
		}
		if len(got) > 0 && next == nil {
			t.Fatalf("events without a next snapshot to save")
		}

		ids := map[string]bool{}
		for i, e := range got {
			d := e.Detail
			for name, p := range map[string]*string{"status": d.Status, "previousStatus": d.PreviousStatus, "errorMessage": d.ErrorMessage, "previousErrorMessage": d.PreviousErrorMessage} {
				if p != nil && *p == "" {
					t.Errorf("%s: %s is \"\", want null", e.DetailType, name)
				}
			}
			if e.DetailType == handler.DetailTypeDeleted {
				if d.Status != nil || d.ErrorMessage != nil || aws.ToString(d.PreviousStatus) != prev.Status {
					t.Errorf("deletion %+v, want no status, previous status %q", d, prev.Status)
				}
			} else {
				if aws.ToString(d.Status) != curStatus || aws.ToString(d.ErrorMessage) != curErr {
					t.Errorf("%s: %+v, want status %q, error %q", e.DetailType, d, curStatus, curErr)
				}
				if first && (d.PreviousStatus != nil || d.PreviousErrorMessage != nil) {
					t.Errorf("%s: first sighting with a previous state %+v", e.DetailType, d)
				}
				if !first && aws.ToString(d.PreviousStatus) != prev.Status {
					t.Errorf("%s: previous status %q, want %q", e.DetailType, aws.ToString(d.PreviousStatus), prev.Status)
				}
			}
			seq := int64(i + 1)
			if prev != nil {
				seq += prev.Sequence
			}
			if d.Sequence != seq || next.Sequence < seq {
				t.Errorf("%s: sequence %d, want %d (next snapshot at %d)", e.DetailType, d.Sequence, seq, next.Sequence)
			}
			if !eventIDRe.MatchString(d.EventID) {
				t.Errorf("eventId %q: want 32 hex digits", d.EventID)
			}
			if ids[d.EventID] {
				t.Errorf("two events share the eventId %s", d.EventID)
			}
			ids[d.EventID] = true
		}

		// Saved, the same answer is no change.
		if next != nil {
			if againNext, again := handler.Transition(next, obs, handler.Rules{RetentionDays: 30}); againNext != nil || len(again) != 0 {
				t.Errorf("after saving, the same answer gives %+v and %d events, want nothing", againNext, len(again))
			}
			if len(next.ErrorMessage) > state.MaxStoredError+len("…") || !utf8.ValidString(next.ErrorMessage) && utf8.ValidString(curErr) {
				t.Errorf("stored error: %d bytes, valid UTF-8 %v", len(next.ErrorMessage), utf8.ValidString(next.ErrorMessage))
			}
		}
	})
}

func copySnapshot(s *state.Snapshot) *state.Snapshot {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

func copySession(s *gluetypes.Session) *gluetypes.Session {
	if s == nil {
		return nil
	}
	c := *s
	if s.ErrorMessage != nil {
		c.ErrorMessage = aws.String(*s.ErrorMessage)
	}
	return &c
}

// fuzzSecret is the DefaultArguments value FuzzBuildEvent looks for.
const fuzzSecret = "sw-fuzz-secret-7f3a9c"

// FuzzBuildEvent: whatever Glue answers (any status, error message and
// description, of any size and bytes, any timestamps), over two runs with
// EventBridge down or up for the first, every entry sent is a valid JSON
// object detail in valid UTF-8, within EventBridge's 256 KiB, with a
// 32-hex-digit eventId, the session's id, Glue's status passed through (or
// null), its error message whole or cut with "truncated", no
// DefaultArguments; every change is delivered once, and the second run
// succeeds.
func FuzzBuildEvent(f *testing.F) {
	f.Add("s-1", "READY", "", "notebook", "FAILED", "OutOfMemoryError", int64(1_700_000_000), int64(0), false, uint32(0))
	f.Add("s-1", "PROVISIONING", "", "", "READY", "", int64(0), int64(0), true, uint32(0))
	f.Add("séance 日本", "RESIZING", "é\u2028\"<>&", "d\x00\x1b", "", "", int64(-1), int64(1), true, uint32(0))
	f.Add("s-1", "FAILED", "x", "d", "FAILED", "y", int64(253_402_300_799), int64(-62_135_596_800), false, uint32(0))
	f.Add("s-big", "READY", "e", "é日🙂\"\\", "FAILED", "\u0001", int64(1), int64(2), true, uint32(150_000))
	f.Add("s-big", "FAILED", "😀", "d", "STOPPED", "😀", int64(1), int64(2), false, uint32(200_000))
	f.Add("s-\xff", "READY", "\xff", "\xfe", "READY", "\xc3\x28", int64(0), int64(0), false, uint32(3))
	f.Fuzz(func(t *testing.T, id, status1, err1, desc, status2, err2 string, created, completed int64, down bool, grow uint32) {
		defer noPanic(t)
		if handler.ValidateSessionID(id) != nil {
			return
		}
		for _, s := range []string{id, status1, err1, desc, status2, err2} {
			if strings.Contains(strings.ToLower(s), "sw-fuzz-secret") {
				return
			}
		}
		if n := int(grow % 400_000); n > len(desc) && len(desc) > 0 {
			desc = strings.Repeat(desc, n/len(desc)) // up to 400 KB: past the entry limit
			err1 = strings.Repeat(err1, min(n/max(len(err1), 1), 300_000/max(len(err1), 1)))
		}
		r := newTestbed(t, env("SESSION_IDS", ""))
		var mu sync.Mutex
		var sent []ebtypes.PutEventsRequestEntry
		r.eb.Fail = func(entries []ebtypes.PutEventsRequestEntry) error {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, entries...)
			if down {
				return errors.New("EventBridge is down")
			}
			return nil
		}
		s := &gluetypes.Session{
			Id: aws.String(id), Status: gluetypes.SessionStatus(status1), Description: aws.String(desc),
			DefaultArguments: map[string]string{"--api-key": fuzzSecret, "--" + fuzzSecret: "x"},
		}
		if err1 != "" {
			s.ErrorMessage = aws.String(err1)
		}
		if created != 0 {
			s.CreatedOn = aws.Time(time.Unix(created, 0))
		}
		if completed != 0 {
			s.CompletedOn = aws.Time(time.Unix(completed, 0))
		}
		r.glue.put(s, nil)
		req := handler.Request{SessionIDs: []string{id}}
		// The first run outside Lambda (no resources), the second inside:
		// a kept event must still fit once the session's ARN is added.
		_, err := r.h.Poll(context.Background(), req)
		if err != nil && !down {
			t.Fatalf("first run: %v", err)
		}
		down = false
		r.glue.update(id, func(s *gluetypes.Session) {
			s.Status, s.ErrorMessage = gluetypes.SessionStatus(status2), nil
			if err2 != "" {
				s.ErrorMessage = aws.String(err2)
			}
		})
		r.advance(time.Minute)
		if _, err := r.h.Poll(lambdaCtx(), req); err != nil {
			t.Fatalf("second run: %v", err)
		}

		for _, en := range sent {
			checkFuzzEntry(t, en, id, err1, err2)
		}
		accepted := r.eb.Entries()
		seen := map[string]bool{}
		var statuses []string
		for _, en := range accepted {
			var d handler.Detail
			if err := json.Unmarshal([]byte(aws.ToString(en.Detail)), &d); err != nil {
				t.Fatalf("detail: %v", err)
			}
			if seen[d.EventID] {
				t.Errorf("eventId %s delivered twice", d.EventID)
			}
			seen[d.EventID] = true
			if aws.ToString(en.DetailType) == handler.DetailTypeStateChange {
				statuses = append(statuses, aws.ToString(d.Status))
			}
		}
		want := []string{asJSON(status1)}
		if status2 != status1 && utf8.ValidString(status1+status2) && !state.IsFinished(status1) {
			want = append(want, asJSON(status2))
		}
		if completed != 0 && state.IsFinished(status1) && r.now.Sub(time.Unix(completed, 0)) > 30*24*time.Hour {
			// Finished before the retention period: never announced, never
			// stored; the second answer is then a first sighting.
			want = nil
			if !state.IsFinished(status2) && utf8.ValidString(status2) {
				want = []string{asJSON(status2)}
			}
		}
		if len(statuses) < len(want) || !slices.Equal(statuses[:len(want)], want) {
			t.Errorf("state changes delivered %q, want %q", statuses, want)
		}
	})
}

// asJSON is s as it reads after a trip through JSON (invalid bytes become
// U+FFFD).
func asJSON(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

func checkFuzzEntry(t *testing.T, en ebtypes.PutEventsRequestEntry, id string, errs ...string) {
	t.Helper()
	detail := aws.ToString(en.Detail)
	if !utf8.ValidString(detail) {
		t.Fatalf("detail is not valid UTF-8")
	}
	if size := fakeaws.EntrySize(en); size > fakeaws.MaxRequestSize {
		t.Errorf("entry: %d bytes, over %d", size, fakeaws.MaxRequestSize)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(detail), &fields); err != nil {
		t.Fatalf("detail is not a JSON object: %v", err)
	}
	var d handler.Detail
	if err := json.Unmarshal([]byte(detail), &d); err != nil {
		t.Fatalf("detail does not decode: %v", err)
	}
	if !eventIDRe.MatchString(d.EventID) || d.SessionID != asJSON(id) || d.Sequence < 1 || d.Version != "1" {
		t.Errorf("detail: eventId %q, sessionId %q, sequence %d, version %q", d.EventID, d.SessionID, d.Sequence, d.Version)
	}
	if !slices.Contains([]string{"INFO", "WARN", "ERROR"}, d.Severity) {
		t.Errorf("severity %q", d.Severity)
	}
	if v, ok := fields["status"]; !ok || v == "" {
		t.Errorf("status %#v, want a status or null", v)
	}
	if e := d.ErrorMessage; e != nil {
		whole := slices.ContainsFunc(errs, func(s string) bool { return asJSON(s) == *e })
		cut := d.Truncated && strings.HasSuffix(*e, "…") && slices.ContainsFunc(errs, func(s string) bool {
			return strings.HasPrefix(asJSON(s), strings.TrimSuffix(*e, "…"))
		})
		if !whole && !cut {
			t.Errorf("errorMessage (%d bytes, truncated %v) is neither Glue's message nor a marked cut of it", len(*e), d.Truncated)
		}
	}
	if en.Time == nil || !en.Time.Equal(d.ObservedAt) {
		t.Errorf("Time %v, observedAt %v: want equal", en.Time, d.ObservedAt)
	}
	if strings.Contains(strings.ToLower(detail), "sw-fuzz-secret") || strings.Contains(strings.ToLower(detail), "defaultarguments") {
		t.Errorf("detail holds DefaultArguments: %.300s", detail)
	}
}
