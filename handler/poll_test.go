package handler_test

// Fast tests of whole runs: testbeds on the in-memory fakes (see
// setup_test.go).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"

	"sessionwatch/handler"
	"sessionwatch/internal/fakeaws"
)

func keys(m map[string]any) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keys(m); !slices.Equal(got, want) {
		t.Errorf("%s fields:\n got %q\nwant %q", what, got, want)
	}
}

func wantTime(t *testing.T, what string, v any, want time.Time) {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Errorf("%s: got %v, want a time", what, v)
		return
	}
	got, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !got.Equal(want) {
		t.Errorf("%s: got %s, want %s", what, s, want.Format(time.RFC3339Nano))
	}
}

var eventIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestPollEventSchema(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	tb.glue.put(fullSession("s-1", "READY"), nil)
	first := tb.now
	tb.poll(t, lambdaCtx(), handler.Request{})

	evs := tb.events(t)
	wantEvents(t, evs, "s-1#1 Glue Session State Change null->READY")
	if len(evs) != 1 {
		t.FailNow()
	}
	e := evs[0]
	if got := aws.ToString(e.entry.Source); got != testSource {
		t.Errorf("Source: got %s, want %s", got, testSource)
	}
	if got := aws.ToString(e.entry.EventBusName); got != testBus {
		t.Errorf("EventBusName: got %s, want %s", got, testBus)
	}
	if got, want := e.entry.Resources, []string{"arn:aws:glue:us-east-1:123456789012:session/s-1"}; !slices.Equal(got, want) {
		t.Errorf("Resources: got %q, want %q", got, want)
	}
	if e.entry.Time == nil || !e.entry.Time.Equal(first) {
		t.Errorf("Time: got %v, want %v", e.entry.Time, first)
	}
	wantKeys(t, "detail", e.fields, "version", "eventId", "sessionId", "createdBy", "sequence", "status", "previousStatus",
		"severity", "message", "errorMessage", "previousErrorMessage", "observedAt", "previousObservedAt", "session", "cost")
	if cost, _ := e.fields["cost"].(map[string]any); cost == nil || cost["basis"] == nil || cost["estimatedUsd"] == nil {
		t.Errorf("cost: got %v, want a cost block (the session's capacity is known)", e.fields["cost"])
	}
	for name, want := range map[string]any{
		"version": "1", "sessionId": "s-1", "createdBy": nil, "sequence": 1.0, "status": "READY", "previousStatus": nil,
		"severity": "INFO", "errorMessage": nil, "previousErrorMessage": nil, "previousObservedAt": nil,
	} {
		if got := e.fields[name]; got != want {
			t.Errorf("%s: got %#v, want %#v", name, got, want)
		}
	}
	if !eventIDRe.MatchString(e.detail.EventID) {
		t.Errorf("eventId: got %q, want 32 hex digits", e.detail.EventID)
	}
	if e.detail.Message == "" || !strings.Contains(e.detail.Message, "s-1") {
		t.Errorf("message: got %q, want a sentence naming s-1", e.detail.Message)
	}
	wantTime(t, "observedAt", e.fields["observedAt"], first)

	sess, _ := e.fields["session"].(map[string]any)
	wantKeys(t, "session", sess, "createdOn", "description", "role", "command", "glueVersion", "workerType",
		"numberOfWorkers", "maxCapacity", "idleTimeout", "executionTime", "dpuSeconds", "progress",
		"securityConfiguration", "profileName", "connections", "sessionType")
	wantTime(t, "session.createdOn", sess["createdOn"], time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC))
	for name, want := range map[string]any{
		"description": "notebook of the data team", "role": "arn:aws:iam::123456789012:role/GlueNotebook",
		"glueVersion": "4.0", "workerType": "G.1X", "numberOfWorkers": 5.0, "maxCapacity": 5.0, "idleTimeout": 60.0,
		"executionTime": 120.0, "dpuSeconds": 600.0, "progress": 0.5, "securityConfiguration": "encrypted",
		"profileName": "small", "sessionType": "LIVY",
	} {
		if got := sess[name]; got != want {
			t.Errorf("session.%s: got %#v, want %#v", name, got, want)
		}
	}
	if got, _ := json.Marshal(sess["command"]); string(got) != `{"name":"glueetl","pythonVersion":"3"}` {
		t.Errorf("session.command: got %s", got)
	}
	if got, _ := json.Marshal(sess["connections"]); string(got) != `["vpc-conn"]` {
		t.Errorf("session.connections: got %s", got)
	}

	// Five minutes later the session failed: a state change and an error.
	tb.advance(5 * time.Minute)
	completed := tb.now.Add(-time.Minute)
	tb.glue.update("s-1", func(s *gluetypes.Session) {
		s.Status, s.ErrorMessage, s.CompletedOn = "FAILED", aws.String("OOM on executor 3"), &completed
	})
	tb.reset()
	tb.poll(t, lambdaCtx(), handler.Request{})
	evs = tb.events(t)
	wantEvents(t, evs, "s-1#2 Glue Session State Change READY->FAILED", "s-1#3 Glue Session Error READY->FAILED")
	for _, e := range evs {
		t.Run(aws.ToString(e.entry.DetailType), func(t *testing.T) {
			if got := e.fields["severity"]; got != "ERROR" {
				t.Errorf("severity: got %v, want ERROR", got)
			}
			if got := e.fields["errorMessage"]; got != "OOM on executor 3" {
				t.Errorf("errorMessage: got %v, want the error", got)
			}
			if got := e.fields["previousErrorMessage"]; got != nil {
				t.Errorf("previousErrorMessage: got %v, want null", got)
			}
			wantTime(t, "observedAt", e.fields["observedAt"], tb.now)
			wantTime(t, "previousObservedAt", e.fields["previousObservedAt"], first)
			if e.entry.Time == nil || !e.entry.Time.Equal(tb.now) {
				t.Errorf("Time: got %v, want %v", e.entry.Time, tb.now)
			}
			sess, _ := e.fields["session"].(map[string]any)
			wantTime(t, "session.completedOn", sess["completedOn"], completed)
		})
	}
	if evs[0].detail.EventID == evs[1].detail.EventID {
		t.Errorf("the two events share the eventId %s", evs[0].detail.EventID)
	}
	if got, want := tb.snapshot(t, "s-1").ExpiresAt, completed.Add(30*24*time.Hour).Unix(); got != want {
		t.Errorf("ExpiresAt: got %d, want CompletedOn + 30 days = %d", got, want)
	}
}

func TestPollOmitsWhatGlueDidNotReturn(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	tb.glue.put(bare("s-1", "PROVISIONING"), nil)
	tb.poll(t, context.Background(), handler.Request{})
	evs := tb.events(t)
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	if sess, ok := evs[0].fields["session"].(map[string]any); ok && len(sess) > 0 {
		t.Errorf("session: got %v, want nothing Glue did not return", sess)
	}
	if got := evs[0].entry.Resources; len(got) != 0 {
		t.Errorf("Resources outside Lambda: got %q, want none", got)
	}
}

func TestPollSeverity(t *testing.T) {
	for _, tc := range []struct {
		name, status, err string
		want              []string // "detail-type severity"
	}{
		{"PROVISIONING", "PROVISIONING", "", []string{"Glue Session State Change INFO"}},
		{"READY", "READY", "", []string{"Glue Session State Change INFO"}},
		{"STOPPING", "STOPPING", "", []string{"Glue Session State Change INFO"}},
		{"STOPPED", "STOPPED", "", []string{"Glue Session State Change INFO"}},
		{"unknown status", "RESIZING", "", []string{"Glue Session State Change INFO"}},
		{"FAILED", "FAILED", "", []string{"Glue Session State Change ERROR"}},
		{"TIMEOUT", "TIMEOUT", "", []string{"Glue Session State Change WARN"}},
		{"error in READY", "READY", "disk full", []string{"Glue Session State Change INFO", "Glue Session Error ERROR"}},
		{"error in TIMEOUT", "TIMEOUT", "idle", []string{"Glue Session State Change WARN", "Glue Session Error ERROR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t, env("SESSION_IDS", "s-1"))
			s := bare("s-1", tc.status)
			if tc.err != "" {
				s.ErrorMessage = aws.String(tc.err)
			}
			tb.glue.put(s, nil)
			tb.poll(t, context.Background(), handler.Request{})
			var got []string
			for _, e := range tb.events(t) {
				got = append(got, aws.ToString(e.entry.DetailType)+" "+e.detail.Severity)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPollDeletion: a tracked session Glue no longer knows is announced
// deleted once, leaves the registry, and is not polled again.
func TestPollDeletion(t *testing.T) {
	tb := newTestbed(t)
	tb.glue.put(fullSession("s-1", "READY"), nil)
	first := tb.now
	tb.poll(t, lambdaCtx(), handler.Request{Track: []string{"s-1"}})

	tb.glue.remove("s-1")
	tb.advance(time.Minute)
	tb.reset()
	res := tb.poll(t, lambdaCtx(), handler.Request{})
	if len(res.NotFound) != 0 {
		t.Errorf("notFound: got %q, want none (the session has a snapshot)", res.NotFound)
	}
	evs := tb.events(t)
	wantEvents(t, evs, "s-1#2 Glue Session Deleted READY->null")
	if len(evs) == 1 {
		e := evs[0]
		wantKeys(t, "detail", e.fields, "version", "eventId", "sessionId", "createdBy", "sequence", "status", "previousStatus",
			"severity", "message", "errorMessage", "previousErrorMessage", "observedAt", "previousObservedAt")
		if e.detail.Severity != "WARN" {
			t.Errorf("severity: got %s, want WARN", e.detail.Severity)
		}
		wantTime(t, "previousObservedAt", e.fields["previousObservedAt"], first)
		if got, want := e.entry.Resources, []string{"arn:aws:glue:us-east-1:123456789012:session/s-1"}; !slices.Equal(got, want) {
			t.Errorf("Resources: got %q, want %q", got, want)
		}
	}
	snap := tb.snapshot(t, "s-1")
	if !snap.Deleted || snap.ExpiresAt != tb.now.Add(30*24*time.Hour).Unix() {
		t.Errorf("snapshot: got deleted %v, expires %d, want deleted, expiring 30 days after %v", snap.Deleted, snap.ExpiresAt, tb.now)
	}

	tb.advance(time.Minute)
	tb.reset()
	gets := tb.glue.getCalls("s-1")
	res = tb.poll(t, lambdaCtx(), handler.Request{})
	if n := len(tb.events(t)); n != 0 || tb.writes() != 0 || tb.ebCalls() != 0 {
		t.Errorf("after the deletion: got %d events, %d writes, %d PutEvents calls, want none", n, tb.writes(), tb.ebCalls())
	}
	if got := tb.glue.getCalls("s-1"); got != gets {
		t.Errorf("GetSession of a deleted session: got %d calls, want %d (not polled again)", got, gets)
	}
	if res.Polled != 0 || len(res.NotFound) != 0 {
		t.Errorf("result: got %+v, want nothing polled, nothing not found", res)
	}
}

// TestPollFinishedNotPolledAgain: a tracked session seen finished leaves
// the registry and is not polled again. (One named in SESSION_IDS or a
// request's sessionIds is polled on every run it is named in: see
// TestLifecycle.)
func TestPollFinishedNotPolledAgain(t *testing.T) {
	for _, status := range []string{"FAILED", "TIMEOUT", "STOPPED"} {
		t.Run(status, func(t *testing.T) {
			tb := newTestbed(t)
			tb.glue.put(bare("s-1", "READY"), nil)
			tb.glue.put(bare("s-2", "READY"), nil)
			tb.poll(t, context.Background(), handler.Request{Track: []string{"s-1", "s-2"}})
			tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status = gluetypes.SessionStatus(status) })
			tb.advance(time.Minute)
			tb.poll(t, context.Background(), handler.Request{})
			if got, want := tb.snapshot(t, "s-1").ExpiresAt, tb.now.Add(30*24*time.Hour).Unix(); got != want {
				t.Errorf("ExpiresAt without CompletedOn: got %d, want first observed + 30 days = %d", got, want)
			}
			for range 3 {
				tb.advance(time.Minute)
				res := tb.poll(t, context.Background(), handler.Request{})
				if res.Polled != 1 {
					t.Errorf("polled: got %d, want 1 (s-2 only)", res.Polled)
				}
			}
			if got := tb.glue.getCalls("s-1"); got != 2 {
				t.Errorf("GetSession s-1: got %d calls, want 2", got)
			}
			if got := tb.glue.getCalls("s-2"); got != 5 {
				t.Errorf("GetSession s-2: got %d calls, want 5", got)
			}
		})
	}
}

func TestPollQuietRunDoesNothing(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2"))
	tb.glue.put(fullSession("s-1", "READY"), nil)
	s2 := bare("s-2", "READY")
	s2.ErrorMessage = aws.String("warning: slow")
	tb.glue.put(s2, nil)
	tb.poll(t, context.Background(), handler.Request{})
	tb.reset()
	tb.advance(time.Minute)
	// Fields other than the status and the error change without an event.
	tb.glue.update("s-1", func(s *gluetypes.Session) { s.Progress, s.ExecutionTime = 0.9, aws.Float64(999) })
	res := tb.poll(t, context.Background(), handler.Request{})
	if tb.writes() != 0 || tb.ebCalls() != 0 {
		t.Errorf("quiet run: got %v DynamoDB calls and %d PutEvents calls, want no write and no PutEvents", tb.dbCalls(), tb.ebCalls())
	}
	if res.Polled != 2 || res.Published != 0 || res.Changed != 0 {
		t.Errorf("result: got %+v, want 2 polled, nothing published or changed", res)
	}
}

func TestPollBatching(t *testing.T) {
	t.Run("by count", func(t *testing.T) {
		ids := manyIDs(25, "s-")
		tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids, ",")))
		for _, id := range ids {
			tb.glue.put(bare(id, "READY"), nil)
		}
		res := tb.poll(t, lambdaCtx(), handler.Request{})
		if got, want := tb.batchSizes(), []int{5, 10, 10}; !slices.Equal(got, want) {
			t.Errorf("PutEvents batches: got %v, want %v", got, want)
		}
		if res.Published != 25 || len(tb.events(t)) != 25 {
			t.Errorf("published: got %d (%d accepted), want 25", res.Published, len(tb.events(t)))
		}
	})
	t.Run("by size", func(t *testing.T) {
		ids := manyIDs(7, "s-")
		tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids, ",")))
		for _, id := range ids {
			s := fullSession(id, "READY")
			s.Description = aws.String(strings.Repeat("d", 100_000))
			tb.glue.put(s, nil)
		}
		res := tb.poll(t, lambdaCtx(), handler.Request{})
		if got, want := tb.batchSizes(), []int{1, 2, 2, 2}; !slices.Equal(got, want) {
			t.Errorf("PutEvents batches: got %v, want %v", got, want)
		}
		for i, b := range tb.bus.calls() {
			size := 0
			for _, en := range b {
				size += fakeaws.EntrySize(en)
			}
			if size > fakeaws.MaxRequestSize {
				t.Errorf("batch %d: %d bytes, over %d", i, size, fakeaws.MaxRequestSize)
			}
		}
		if res.Published != 7 || len(tb.events(t)) != 7 {
			t.Errorf("published: got %d (%d accepted), want 7", res.Published, len(tb.events(t)))
		}
		for _, e := range tb.events(t) {
			if e.detail.Truncated {
				t.Errorf("%s: truncated, want whole (it fits)", e)
			}
		}
	})
}

func TestPollTruncation(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	// Multibyte runes, and characters JSON escapes (quotes, newlines,
	// control characters) so the encoded size exceeds the raw one.
	unit := "é日本\"\n\x01🙂 "
	errMsg := strings.Repeat(unit, 300_000/len(unit))
	s := fullSession("s-1", "FAILED")
	s.ErrorMessage = aws.String(errMsg)
	s.Description = aws.String(strings.Repeat("ü", 100_000))
	tb.glue.put(s, nil)
	res := tb.poll(t, lambdaCtx(), handler.Request{})
	if res.Published != 2 {
		t.Fatalf("published: got %d, want 2 (the fake refuses an oversize entry)", res.Published)
	}
	for _, e := range tb.events(t) {
		en := e.entry
		t.Run(aws.ToString(en.DetailType), func(t *testing.T) {
			if size := fakeaws.EntrySize(en); size > fakeaws.MaxRequestSize {
				t.Errorf("entry size: got %d, want at most %d", size, fakeaws.MaxRequestSize)
			}
			detail := aws.ToString(en.Detail)
			if !utf8.ValidString(detail) {
				t.Errorf("detail is not valid UTF-8")
			}
			e := decodeEvent(t, en)
			if e.fields["truncated"] != true {
				t.Errorf("truncated: got %v, want true", e.fields["truncated"])
			}
			got := aws.ToString(e.detail.ErrorMessage)
			if !strings.HasSuffix(got, "…") || !strings.HasPrefix(errMsg, strings.TrimSuffix(got, "…")) || len(got) >= len(errMsg) {
				t.Errorf("errorMessage: got %d bytes, want a prefix of the %d-byte message ending in …", len(got), len(errMsg))
			}
			if !utf8.ValidString(got) {
				t.Errorf("errorMessage is not valid UTF-8")
			}
		})
	}
}

// TestPollTruncationSharesRoom: an error message and a description of 300
// KB each cannot both fit in an entry: both are cut to one common length,
// heads kept, instead of the error message becoming "…" to keep the
// description nearly whole.
func TestPollTruncationSharesRoom(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	errMsg := "java.lang.OutOfMemoryError: " + strings.Repeat("e", 300_000)
	desc := strings.Repeat("d", 300_000)
	s := fullSession("s-1", "FAILED")
	s.ErrorMessage, s.Description = aws.String(errMsg), aws.String(desc)
	tb.glue.put(s, nil)
	if res := tb.poll(t, lambdaCtx(), handler.Request{}); res.Published != 2 {
		t.Fatalf("published: got %d, want 2", res.Published)
	}
	for _, e := range tb.events(t) {
		gotErr, gotDesc := aws.ToString(e.detail.ErrorMessage), aws.ToString(e.detail.Session.Description)
		errHead, cutErr := strings.CutSuffix(gotErr, "…")
		descHead, cutDesc := strings.CutSuffix(gotDesc, "…")
		if !cutErr || !cutDesc || !strings.HasPrefix(errMsg, errHead) || !strings.HasPrefix(desc, descHead) || !e.detail.Truncated {
			t.Errorf("%s: errorMessage %d bytes, description %d bytes, truncated %v; want both heads of the originals, cut",
				e, len(gotErr), len(gotDesc), e.detail.Truncated)
		}
		if len(errHead) != len(descHead) || len(errHead) < 100_000 {
			t.Errorf("%s: errorMessage keeps %d bytes, description %d; want one common length, near half the entry each", e, len(errHead), len(descHead))
		}
	}
}

func TestPollEntryFailures(t *testing.T) {
	t.Run("retryable failure retried in the run", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2,s-3"))
		for _, id := range []string{"s-1", "s-2", "s-3"} {
			tb.glue.put(bare(id, "READY"), nil)
		}
		var mu sync.Mutex
		failed := 0
		tb.bus.failEntries(func(_ int, e ebtypes.PutEventsRequestEntry) (string, string) {
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(aws.ToString(e.Detail), `"sessionId":"s-2"`) && failed < 2 {
				failed++
				return "ThrottlingException", "Rate exceeded"
			}
			return "", ""
		})
		res := tb.poll(t, context.Background(), handler.Request{})
		if res.Published != 3 || res.Pending != 0 {
			t.Errorf("result: got %d published, %d pending, want 3 and 0", res.Published, res.Pending)
		}
		if got, want := tb.batchSizes(), []int{1, 1, 3}; !slices.Equal(got, want) {
			t.Errorf("PutEvents batches: got %v, want %v", got, want)
		}
		wantEvents(t, tb.events(t), "s-1#1 Glue Session State Change null->READY", "s-3#1 Glue Session State Change null->READY",
			"s-2#1 Glue Session State Change null->READY")
		if p := tb.pending(t, "s-2"); len(p) != 0 {
			t.Errorf("s-2 pending: got %d events, want none", len(p))
		}
	})

	t.Run("non-retryable failure waits for the next run", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2,s-3"))
		for _, id := range []string{"s-1", "s-2", "s-3"} {
			tb.glue.put(bare(id, "READY"), nil)
		}
		var attempted []string
		tb.bus.failEntries(func(_ int, e ebtypes.PutEventsRequestEntry) (string, string) {
			if strings.Contains(aws.ToString(e.Detail), `"sessionId":"s-2"`) {
				attempted = append(attempted, aws.ToString(e.Detail))
				return "AccessDeniedException", "not authorized"
			}
			return "", ""
		})
		first := tb.now
		res := tb.poll(t, context.Background(), handler.Request{})
		if res.Published != 2 || res.Pending != 1 || tb.ebCalls() != 1 {
			t.Errorf("result: got %d published, %d pending in %d calls, want 2 and 1 in 1 call", res.Published, res.Pending, tb.ebCalls())
		}
		if p := tb.pending(t, "s-2"); len(p) != 1 {
			t.Fatalf("s-2 pending: got %d events, want 1", len(p))
		}

		tb.bus.failEntries(nil)
		tb.reset()
		tb.advance(time.Minute)
		res = tb.poll(t, context.Background(), handler.Request{})
		evs := tb.events(t)
		wantEvents(t, evs, "s-2#1 Glue Session State Change null->READY")
		if res.Published != 1 || res.Pending != 0 {
			t.Errorf("second run: got %d published, %d pending, want 1 and 0", res.Published, res.Pending)
		}
		if len(evs) == 1 {
			if got := aws.ToString(evs[0].entry.Detail); len(attempted) != 1 || got != attempted[0] {
				t.Errorf("re-sent detail:\n got %s\nwant %s", got, attempted)
			}
			if !evs[0].entry.Time.Equal(first) {
				t.Errorf("Time: got %v, want the observation time %v", evs[0].entry.Time, first)
			}
		}
		if p := tb.pending(t, "s-2"); len(p) != 0 {
			t.Errorf("s-2 pending after publishing: got %d events, want none", len(p))
		}

		tb.reset()
		tb.poll(t, context.Background(), handler.Request{})
		if tb.writes() != 0 || tb.ebCalls() != 0 {
			t.Errorf("third run: got %v and %d PutEvents calls, want no write, no PutEvents", tb.dbCalls(), tb.ebCalls())
		}
	})
}

func TestPollPutEventsOutage(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	tb.glue.put(bare("s-1", "READY"), nil)
	tb.bus.failWith(&smithy.GenericAPIError{Code: "InternalException", Message: "EventBridge is down"})
	out, err := tb.h.Invoke(context.Background(), []byte(`{}`))
	if err == nil {
		t.Fatalf("got %s, want an error (nothing could be published)", out)
	}
	if !strings.Contains(err.Error(), "EventBridge is down") {
		t.Errorf("got %v, want the cause", err)
	}
	if kept := tb.pending(t, "s-1"); len(kept) != 1 {
		t.Fatalf("outbox: got %+v, want one pending event", kept)
	}
	attempted := tb.attempts(t)[0]

	tb.bus.failWith(nil)
	tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status = "STOPPING" })
	tb.advance(time.Minute)
	tb.reset()
	res := tb.poll(t, context.Background(), handler.Request{})
	evs := tb.events(t)
	wantEvents(t, evs, "s-1#1 Glue Session State Change null->READY", "s-1#2 Glue Session State Change READY->STOPPING")
	if len(evs) == 2 && evs[0].detail.EventID != attempted.detail.EventID {
		t.Errorf("eventId of the late event: got %s, want %s", evs[0].detail.EventID, attempted.detail.EventID)
	}
	if res.Published != 2 || res.Pending != 0 {
		t.Errorf("result: got %d published, %d pending, want 2 and 0", res.Published, res.Pending)
	}
}

func TestPollEventIDStable(t *testing.T) {
	dryRun := func(t *testing.T, tb *testbed) []handler.DryRunEvent {
		t.Helper()
		res := tb.poll(t, context.Background(), handler.Request{DryRun: true})
		if res.Events == nil {
			t.Fatal("dry run: got no events list")
		}
		return *res.Events
	}
	idOf := func(t *testing.T, ev handler.DryRunEvent) string {
		t.Helper()
		var d handler.Detail
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			t.Fatal(err)
		}
		return d.EventID
	}

	t.Run("two dry runs and the real run agree", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-1"))
		tb.glue.put(bare("s-1", "READY"), nil)
		a := dryRun(t, tb)
		tb.advance(time.Second)
		b := dryRun(t, tb)
		if len(a) != 1 || len(b) != 1 || idOf(t, a[0]) != idOf(t, b[0]) {
			t.Fatalf("dry runs: got %s and %s, want one event with the same id", a, b)
		}
		tb.poll(t, context.Background(), handler.Request{})
		if evs := tb.events(t); len(evs) != 1 || evs[0].detail.EventID != idOf(t, a[0]) {
			t.Errorf("published %v, want the dry run's eventId %s", evs, idOf(t, a[0]))
		}
	})

	t.Run("replay after a crash before saving", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-1"))
		tb.glue.put(bare("s-1", "READY"), nil)
		tb.poll(t, context.Background(), handler.Request{})
		tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status = "STOPPING" })
		tb.reset()
		tb.db.Fail = func(op string, _ any) error {
			if op == "PutItem" {
				return errors.New("the function timed out")
			}
			return nil
		}
		tb.advance(time.Minute)
		if _, err := tb.h.Poll(context.Background(), handler.Request{}); err == nil {
			t.Error("got no error, want the failed save reported")
		}
		tb.db.Fail = nil
		tb.advance(time.Minute)
		tb.poll(t, context.Background(), handler.Request{})
		evs := tb.events(t)
		wantEvents(t, evs, "s-1#2 Glue Session State Change READY->STOPPING", "s-1#2 Glue Session State Change READY->STOPPING")
		if len(evs) == 2 && evs[0].detail.EventID != evs[1].detail.EventID {
			t.Errorf("eventIds: got %s then %s, want the same", evs[0].detail.EventID, evs[1].detail.EventID)
		}
	})

	t.Run("different change, different id", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-1"))
		tb.glue.put(bare("s-1", "READY"), nil)
		tb.poll(t, context.Background(), handler.Request{})
		first := tb.events(t)[0].detail.EventID
		seen := map[string]string{first: "READY"}
		for _, status := range []string{"STOPPING", "STOPPED", "FAILED", "RESIZING"} {
			tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status = gluetypes.SessionStatus(status) })
			evs := dryRun(t, tb)
			if len(evs) != 1 {
				t.Fatalf("%s: got %d events, want 1", status, len(evs))
			}
			id := idOf(t, evs[0])
			if other, dup := seen[id]; dup {
				t.Errorf("%s: eventId %s already given to %s", status, id, other)
			}
			seen[id] = status
		}
		tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status, s.ErrorMessage = "READY", aws.String("x") })
		for _, msg := range []string{"y", "z"} {
			tb.glue.update("s-1", func(s *gluetypes.Session) { s.ErrorMessage = aws.String(msg) })
			evs := dryRun(t, tb)
			if len(evs) != 1 {
				t.Fatalf("error %s: got %d events, want 1", msg, len(evs))
			}
			id := idOf(t, evs[0])
			if other, dup := seen[id]; dup {
				t.Errorf("error %s: eventId %s already given to %s", msg, id, other)
			}
			seen[id] = "error " + msg
		}
	})
}

func TestPollDryRun(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	tb.glue.put(fullSession("s-1", "READY"), nil)
	tb.glue.put(bare("s-2", "FAILED"), nil)
	before := len(tb.items(t))
	res := tb.poll(t, lambdaCtx(), handler.Request{DryRun: true, Track: []string{"s-2"}, SessionIDs: []string{"s-404"}})
	if tb.writes() != 0 || tb.ebCalls() != 0 || len(tb.items(t)) != before {
		t.Errorf("dry run: got %v, %d PutEvents calls, %d items (%d before), want no write, no PutEvents", tb.dbCalls(), tb.ebCalls(), len(tb.items(t)), before)
	}
	if !res.DryRun || res.Events == nil {
		t.Fatalf("result: got %+v, want a dry run with events", res)
	}
	var got []string
	for _, ev := range *res.Events {
		var d map[string]any
		if err := json.Unmarshal(ev.Detail, &d); err != nil {
			t.Fatalf("detail %s is not a JSON object: %v", ev.Detail, err)
		}
		got = append(got, fmt.Sprintf("%s %s %v", d["sessionId"], ev.DetailType, d["status"]))
	}
	slices.Sort(got)
	if want := []string{"s-1 Glue Session State Change READY", "s-2 Glue Session State Change FAILED"}; !slices.Equal(got, want) {
		t.Errorf("events: got %q, want %q", got, want)
	}
	if !slices.Equal(res.NotFound, []string{"s-404"}) {
		t.Errorf("notFound: got %q, want [s-404]", res.NotFound)
	}
	out, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Events []struct {
			DetailType string         `json:"detailType"`
			Detail     map[string]any `json:"detail"`
		} `json:"events"`
	}
	if err := json.Unmarshal(out, &decoded); err != nil || len(decoded.Events) != 2 || decoded.Events[0].Detail["eventId"] == nil {
		t.Errorf("result JSON %s: want events with detail objects (%v)", out, err)
	}

	t.Run("earlier unpublished events included", func(t *testing.T) {
		tb.bus.failWith(errors.New("down"))
		if _, err := tb.h.Poll(context.Background(), handler.Request{}); err == nil {
			t.Fatal("got no error, want the outage")
		}
		tb.bus.failWith(nil)
		tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status = "STOPPING" })
		tb.reset()
		res := tb.poll(t, context.Background(), handler.Request{DryRun: true})
		if res.Events == nil || len(*res.Events) != 2 {
			t.Fatalf("events: got %v, want the pending one and the new one", res.Events)
		}
		if tb.writes() != 0 || tb.ebCalls() != 0 {
			t.Errorf("dry run: got %v and %d PutEvents calls, want none", tb.dbCalls(), tb.ebCalls())
		}
	})
}

func TestPollResultJSON(t *testing.T) {
	tb := newTestbed(t)
	for _, payload := range [][]byte{nil, []byte(""), []byte("{}")} {
		t.Run(fmt.Sprintf("%q", payload), func(t *testing.T) {
			out, err := tb.h.Invoke(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`"notFound":[]`, `"errors":[]`, `"polled":0`, `"published":0`} {
				if !bytes.Contains(out, []byte(want)) {
					t.Errorf("got %s, want it to contain %s", out, want)
				}
			}
			if bytes.Contains(out, []byte(`"events"`)) {
				t.Errorf("got %s, want no events outside a dry run", out)
			}
		})
	}
	t.Run("dry run with nothing to publish", func(t *testing.T) {
		out, err := tb.h.Invoke(context.Background(), []byte(`{"dryRun": true}`))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte(`"events":[]`)) {
			t.Errorf("got %s, want events []", out)
		}
	})
}

func TestPollEmptyPayload(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	tb.glue.put(bare("s-1", "READY"), nil)
	out, err := tb.h.Invoke(lambdaCtx(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var res handler.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if res.Polled != 1 || res.Published != 1 {
		t.Errorf("got %s, want 1 polled, 1 published", out)
	}
}

func TestPollRejectedInput(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	tb.glue.put(bare("s-1", "READY"), nil)
	_, err := tb.h.Invoke(context.Background(), []byte(`{"track": ["s-2"], "sessionIDs": ["s-1"]}`))
	var inputErr *handler.InputError
	if !errors.As(err, &inputErr) {
		t.Fatalf("got %v, want an InputError", err)
	}
	if len(tb.dbCalls()) != 0 || tb.ebCalls() != 0 || tb.glue.totalGets() != 0 {
		t.Errorf("got %v, %d PutEvents, %d GetSession calls, want none", tb.dbCalls(), tb.ebCalls(), tb.glue.totalGets())
	}
}

func TestPollNotFound(t *testing.T) {
	tb := newTestbed(t)
	res := tb.poll(t, context.Background(), handler.Request{SessionIDs: []string{"s-404", "s-405"}})
	slices.Sort(res.NotFound)
	if !slices.Equal(res.NotFound, []string{"s-404", "s-405"}) || res.Polled != 2 {
		t.Errorf("result: got %+v, want 2 polled, both not found", res)
	}
	if tb.writes() != 0 || tb.ebCalls() != 0 {
		t.Errorf("got %v and %d PutEvents calls, want no write, no PutEvents", tb.dbCalls(), tb.ebCalls())
	}
}

func TestPollTrackUntrack(t *testing.T) {
	tb := newTestbed(t)
	tracked := func(t *testing.T) []string {
		t.Helper()
		return tb.registry(t)
	}
	tb.glue.put(bare("s-3", "READY"), nil)
	tb.glue.put(bare("s-4", "READY"), nil)

	res := tb.poll(t, context.Background(), handler.Request{Track: []string{"s-3", "s-4"}})
	if got := tracked(t); !slices.Equal(got, []string{"s-3", "s-4"}) {
		t.Errorf("registry: got %q, want [s-3 s-4]", got)
	}
	if res.Watched != 2 || res.Published != 2 {
		t.Errorf("first run: got %+v, want 2 watched, 2 published", res)
	}

	tb.advance(time.Minute)
	tb.poll(t, context.Background(), handler.Request{})
	if tb.glue.getCalls("s-3") != 2 || tb.glue.getCalls("s-4") != 2 {
		t.Errorf("GetSession: got %v, want both tracked sessions polled again", tb.glue.gets)
	}

	tb.advance(time.Minute)
	res = tb.poll(t, context.Background(), handler.Request{Untrack: []string{"s-3"}})
	if got := tracked(t); !slices.Equal(got, []string{"s-4"}) {
		t.Errorf("registry: got %q, want [s-4]", got)
	}
	if tb.glue.getCalls("s-3") != 2 || res.Watched != 1 {
		t.Errorf("after untrack: got %d GetSession s-3 calls and %d watched, want 2 and 1", tb.glue.getCalls("s-3"), res.Watched)
	}
}

func TestPollGlueFailures(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2,s-3"))
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		tb.glue.put(fullSession(id, "READY"), nil)
	}
	tb.glue.getErr = func(id string) error {
		if id == "s-2" {
			return &gluetypes.AccessDeniedException{Message: aws.String("not authorized to glue:GetSession")}
		}
		return nil
	}
	res := tb.poll(t, context.Background(), handler.Request{})
	if res.Published != 2 || res.Polled != 2 {
		t.Errorf("result: got %+v, want 2 polled and published", res)
	}
	if len(res.Errors) != 1 || res.Errors[0].SessionID != "s-2" || !strings.Contains(res.Errors[0].Error, "AccessDenied") {
		t.Errorf("errors: got %+v, want s-2's access denied", res.Errors)
	}
	if tb.snapshot(t, "s-2") != nil {
		t.Errorf("s-2: got a snapshot, want none")
	}
	if !strings.Contains(tb.logs.String(), `"sessionId":"s-2"`) {
		t.Errorf("logs: got %s, want a line about s-2", tb.logs)
	}

	t.Run("table unreadable", func(t *testing.T) {
		for _, op := range []string{"BatchGetItem", "GetItem"} {
			tb.db.Fail = func(o string, _ any) error {
				if o == op {
					return &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}
				}
				return nil
			}
			tb.reset()
			if _, err := tb.h.Invoke(context.Background(), nil); err == nil {
				t.Errorf("%s failing: got no error, want the run to fail", op)
			}
			if tb.ebCalls() != 0 {
				t.Errorf("%s failing: got %d PutEvents calls, want none", op, tb.ebCalls())
			}
		}
		tb.db.Fail = nil
	})
}

func TestPollDiscovery(t *testing.T) {
	tb := newTestbed(t, env("GLUE_REQUEST_ORIGIN", "sessionwatch-test"))
	for i, id := range manyIDs(5, "d-") {
		team := "data"
		if i%2 == 1 {
			team = "web"
		}
		tb.glue.put(bare(id, "READY"), map[string]string{"team": team})
	}
	yes := true
	res := tb.poll(t, context.Background(), handler.Request{Discover: &yes, Tags: map[string]string{"team": "data"}})
	wantEvents(t, tb.events(t), "d-0#1 Glue Session State Change null->READY", "d-2#1 Glue Session State Change null->READY",
		"d-4#1 Glue Session State Change null->READY")
	if res.Polled != 3 || tb.glue.totalGets() != 0 {
		t.Errorf("got %d polled and %d GetSession calls, want 3 and none (listed sessions need no GetSession)", res.Polled, tb.glue.totalGets())
	}
	if len(tb.glue.lists) != 2 {
		t.Errorf("ListSessions: got %d calls, want 2 pages", len(tb.glue.lists))
	}
	for _, in := range tb.glue.lists {
		if in.Tags["team"] != "data" || len(in.Tags) != 1 {
			t.Errorf("ListSessions Tags: got %v, want team=data", in.Tags)
		}
	}
	for _, o := range tb.glue.origins {
		if o != "sessionwatch-test" {
			t.Errorf("RequestOrigin: got %q, want sessionwatch-test", o)
		}
	}

	t.Run("listing fails", func(t *testing.T) {
		tb.glue.listErr = func(page int) error {
			if page == 2 {
				return &gluetypes.InternalServiceException{Message: aws.String("oops")}
			}
			return nil
		}
		tb.glue.put(bare("d-6", "READY"), map[string]string{"team": "data"})
		tb.glue.put(bare("x-1", "READY"), nil)
		tb.reset()
		res := tb.poll(t, context.Background(), handler.Request{Discover: &yes, Tags: map[string]string{"team": "data"}, SessionIDs: []string{"x-1"}})
		if len(res.Errors) != 1 || res.Errors[0].SessionID != "" || !strings.Contains(res.Errors[0].Error, "discover") {
			t.Errorf("errors: got %+v, want one discovery error", res.Errors)
		}
		wantEvents(t, tb.events(t), "x-1#1 Glue Session State Change null->READY")
	})
}

// TestPollTagsMeanDiscover: a request's tags mean "discover with this
// filter for this run", DISCOVER being false, unless discover is
// explicitly false, which contradicts them and is rejected.
func TestPollTagsMeanDiscover(t *testing.T) {
	setup := func(t *testing.T) *testbed {
		tb := newTestbed(t, env("SESSION_IDS", "x-1"))
		for i, id := range manyIDs(4, "d-") {
			tb.glue.put(bare(id, "READY"), map[string]string{"team": []string{"data", "web"}[i%2]})
		}
		tb.glue.put(bare("x-1", "READY"), nil)
		return tb
	}
	t.Run("tags alone", func(t *testing.T) {
		tb := setup(t)
		res := tb.mustInvoke(t, `{"tags": {"team": "data"}}`)
		wantEvents(t, tb.events(t), "d-0#1 Glue Session State Change null->READY", "d-2#1 Glue Session State Change null->READY",
			"x-1#1 Glue Session State Change null->READY")
		if len(tb.glue.lists) == 0 || res.Watched != 3 {
			t.Fatalf("got %+v after %d ListSessions calls, want the sessions of team data discovered", res, len(tb.glue.lists))
		}
		for _, in := range tb.glue.lists {
			if !maps.Equal(in.Tags, map[string]string{"team": "data"}) {
				t.Errorf("ListSessions Tags: got %v, want team=data", in.Tags)
			}
		}
	})
	t.Run("empty tags: discover without a filter", func(t *testing.T) {
		tb := setup(t)
		if res := tb.mustInvoke(t, `{"tags": {}}`); res.Watched != 5 {
			t.Errorf("got %+v, want every session discovered", res)
		}
	})
	t.Run("null tags: as if absent", func(t *testing.T) {
		tb := setup(t)
		if res := tb.mustInvoke(t, `{"tags": null}`); res.Watched != 1 || len(tb.glue.lists) != 0 {
			t.Errorf("got %+v after %d ListSessions calls, want x-1 only, no discovery", res, len(tb.glue.lists))
		}
	})
	t.Run("discover false with tags", func(t *testing.T) {
		tb := setup(t)
		_, err := tb.invoke(t, `{"discover": false, "tags": {"team": "data"}}`)
		var inputErr *handler.InputError
		if !errors.As(err, &inputErr) || !strings.Contains(err.Error(), `"discover"`) || !strings.Contains(err.Error(), `"tags"`) {
			t.Fatalf("got %v, want an InputError naming discover and tags", err)
		}
		if len(tb.dbCalls()) != 0 || len(tb.glue.lists) != 0 || tb.glue.totalGets() != 0 {
			t.Errorf("calls: DynamoDB %v, %d ListSessions, %d GetSession; want none", tb.dbCalls(), len(tb.glue.lists), tb.glue.totalGets())
		}
	})
}

func TestPollSecretsNeverLeave(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2,s-3"))
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		s := fullSession(id, "READY")
		if id == "s-2" {
			s.Status, s.ErrorMessage = "FAILED", aws.String("job failed")
		}
		tb.glue.put(s, nil)
	}
	tb.glue.getErr = func(id string) error {
		if id == "s-3" {
			return &gluetypes.OperationTimeoutException{Message: aws.String("timed out")}
		}
		return nil
	}
	tb.bus.failEntries(func(i int, e ebtypes.PutEventsRequestEntry) (string, string) {
		if i == 0 {
			return "AccessDeniedException", "no"
		}
		return "", ""
	})
	var results [][]byte
	for _, payload := range []string{`{"dryRun": true}`, `{}`, `{}`} {
		out, err := tb.h.Invoke(lambdaCtx(), []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, out)
		tb.bus.failEntries(nil)
		tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status = "STOPPED" })
		tb.advance(time.Minute)
	}
	if len(tb.events(t)) < 3 {
		t.Fatalf("got %d events, want some to check", len(tb.events(t)))
	}
	check := func(what, text string) {
		t.Helper()
		for _, secret := range []string{testSecret, "--secret-token", "efaultArguments"} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q", what, secret)
			}
		}
	}
	for i, e := range tb.events(t) {
		b, _ := json.Marshal(e.entry)
		check(fmt.Sprintf("entry %d", i), string(b))
	}
	for id, item := range tb.items(t) {
		var v any
		if err := attributevalue.UnmarshalMap(item, &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		check("item "+id, string(b))
	}
	for i, out := range results {
		check(fmt.Sprintf("result %d", i), string(out))
	}
	if tb.logs.Len() == 0 {
		t.Fatal("no log line written")
	}
	check("the log", tb.logs.String())
}

func TestPollConcurrency(t *testing.T) {
	ids := manyIDs(40, "s-")
	tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids, ",")), env("MAX_CONCURRENCY", "3"))
	for _, id := range ids {
		tb.glue.put(bare(id, "READY"), nil)
	}
	var calls gauge
	tb.glue.getErr = func(string) error { return calls.call(2 * time.Millisecond) }
	res := tb.poll(t, context.Background(), handler.Request{})
	if res.Published != 40 {
		t.Errorf("published: got %d, want 40", res.Published)
	}
	if most := calls.peak(); most > 3 || most < 2 {
		t.Errorf("GetSession calls in flight: got at most %d, want up to MAX_CONCURRENCY=3", most)
	}
}

// TestPollItemFits: the snapshot of a session whose events could not be
// published must still fit in a DynamoDB item (400 KB), or the events are
// lost once the session moves on (here: is deleted). README, Guarantees:
// a later run publishes them even if the session has moved on.
func TestPollItemFits(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	s := bare("s-1", "FAILED")
	s.ErrorMessage = aws.String(strings.Repeat("x", 150_000))
	tb.glue.put(s, nil)
	tb.bus.failWith(errors.New("down"))
	_, err := tb.h.Poll(context.Background(), handler.Request{})
	if err == nil {
		t.Errorf("got no error, want the run to fail (nothing published)")
	}
	if snap, kept := tb.snapshot(t, "s-1"), tb.pending(t, "s-1"); snap == nil || len(kept) != 2 {
		t.Errorf("snapshot saved: %v, %d events kept, want two pending events (run error: %v)", snap != nil, len(kept), err)
	}
	tb.bus.failWith(nil)
	tb.glue.remove("s-1")
	tb.poll(t, context.Background(), handler.Request{})
	// The kept events, then the deletion (s-1 is named in SESSION_IDS, so
	// polled again although finished).
	wantEvents(t, tb.events(t), "s-1#1 Glue Session State Change null->FAILED", "s-1#2 Glue Session Error null->FAILED",
		"s-1#3 Glue Session Deleted FAILED->null")
}

func TestPollDeadlineReserve(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2"))
	tb.glue.put(bare("s-1", "READY"), nil)
	tb.glue.put(bare("s-2", "READY"), nil)
	ctx, cancel := context.WithTimeout(lambdaCtx(), time.Second) // under the 3 s reserve
	defer cancel()
	res := tb.poll(t, ctx, handler.Request{})
	slices.Sort(res.Skipped)
	if !slices.Equal(res.Skipped, []string{"s-1", "s-2"}) || res.Polled != 0 || tb.glue.totalGets() != 0 {
		t.Errorf("got %+v and %d GetSession calls, want both skipped, none polled", res, tb.glue.totalGets())
	}
	if tb.writes() != 0 || tb.ebCalls() != 0 {
		t.Errorf("got %v and %d PutEvents calls, want nothing written (the next run starts where this one did), nothing published", tb.dbCalls(), tb.ebCalls())
	}
}

// TestPollSkippedFirst: a run cut short by its deadline is followed by one
// that polls the skipped sessions first, so a fleet too large for one run
// is still covered over several.
func TestPollSkippedFirst(t *testing.T) {
	ids := []string{"s-1", "s-2", "s-3", "s-4", "s-5", "s-6"}
	tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids, ",")), env("MAX_CONCURRENCY", "1"))
	for _, id := range ids {
		tb.glue.put(bare(id, "READY"), nil)
	}
	polled := map[string]int{}
	var mu sync.Mutex
	tb.glue.getErr = func(id string) error {
		mu.Lock()
		polled[id]++
		mu.Unlock()
		time.Sleep(40 * time.Millisecond)
		return nil
	}
	tb.h.DeadlineReserve = 100 * time.Millisecond
	for run := range 6 {
		ctx, cancel := context.WithTimeout(lambdaCtx(), 200*time.Millisecond)
		res := tb.poll(t, ctx, handler.Request{})
		cancel()
		t.Logf("run %d: polled %d, skipped %q", run+1, res.Polled, res.Skipped)
		tb.advance(time.Minute)
	}
	for _, id := range ids {
		if polled[id] == 0 {
			t.Errorf("%s never polled in 6 runs cut short: %v", id, polled)
		}
	}
	if got := len(tb.events(t)); got != len(ids) {
		t.Errorf("events: got %d, want one first sighting per session", got)
	}
}

// TestPollPendingRefitsForResources: an event kept by a run outside Lambda
// (the CLI: no function ARN, so no Resources) and sent by the Lambda (which
// adds the session's ARN) must still fit EventBridge's limit.
func TestPollPendingRefitsForResources(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	s := bare("s-1", "READY")
	s.Description = aws.String(strings.Repeat("d", 300_000))
	tb.glue.put(s, nil)
	tb.bus.failWith(errors.New("down"))
	if _, err := tb.h.Poll(context.Background(), handler.Request{}); err == nil {
		t.Fatal("got no error, want the outage")
	}
	if kept := tb.pending(t, "s-1"); len(kept) != 1 {
		t.Fatalf("outbox: got %d events, want one", len(kept))
	}
	tb.bus.failWith(nil)
	tb.reset()
	res, err := tb.h.Poll(lambdaCtx(), handler.Request{})
	if err != nil {
		t.Errorf("Lambda run: got %v, want the pending event published", err)
	}
	for _, e := range tb.attempts(t) {
		if size := fakeaws.EntrySize(e.entry); size > fakeaws.MaxRequestSize {
			t.Errorf("entry sent: %d bytes, over %d", size, fakeaws.MaxRequestSize)
		}
	}
	if res != nil && res.Published != 1 {
		t.Errorf("published: got %d, want 1", res.Published)
	}
}

// TestPollConflictKeepsUnpublished: two runs at once; the one that loses the
// save had observed a change (READY→STOPPING) that it could not publish.
// The change must still be published later, though the session moved on.
func TestPollConflictKeepsUnpublished(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	tb.glue.put(bare("s-1", "READY"), nil)
	tb.poll(t, context.Background(), handler.Request{}) // run A

	// Run B shares A's table and bus but has its own view of Glue and its
	// own clock; its GetSession runs A's whole run before answering.
	bGlue := newFakeGlue()
	bGlue.put(bare("s-1", "STOPPING"), nil)
	b := tb.newHandler(bGlue, nil)
	b.Now = func() time.Time { return testStart.Add(time.Minute) }
	tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status = "STOPPED" })
	tb.advance(2 * time.Minute)
	bGlue.getErr = func(string) error {
		tb.poll(t, context.Background(), handler.Request{}) // A commits READY→STOPPED first
		tb.bus.failWith(errors.New("down for B"))           // and then the bus fails for B
		return nil
	}
	bRes, bErr := b.Poll(context.Background(), handler.Request{})
	t.Logf("run B: result %+v, error %v", bRes, bErr)
	tb.bus.failWith(nil)

	tb.advance(time.Minute)
	tb.poll(t, context.Background(), handler.Request{})
	var got []string
	for _, e := range tb.events(t) {
		got = append(got, e.String())
	}
	if !slices.Contains(got, "s-1#2 Glue Session State Change READY->STOPPING") {
		t.Errorf("events: got %q, want READY->STOPPING (observed by B) published at least once", got)
	}
}

// TestSessionErrorJSON: every errors entry has a sessionId key, null for a
// failure of the run's own (README, The response: [{"sessionId": …, "error": …}]).
func TestSessionErrorJSON(t *testing.T) {
	for _, tt := range []struct {
		in   handler.SessionError
		want string
	}{
		{handler.SessionError{SessionID: "s-1", Error: "get session: boom"}, `{"sessionId":"s-1","error":"get session: boom"}`},
		{handler.SessionError{Error: "discover: list sessions page 3: boom"}, `{"sessionId":null,"error":"discover: list sessions page 3: boom"}`},
	} {
		got, err := json.Marshal(tt.in)
		if err != nil || string(got) != tt.want {
			t.Errorf("got %s (%v), want %s", got, err, tt.want)
		}
	}
}

// TestRunFailureLoggedOnce: a run that fails as a whole, whatever failed
// (reading the table, or publishing every event), is returned by Invoke
// as a RunError naming the cause, and the handler logs no ERROR line of
// its own for it: the Lambda runtime writes the returned error to the log,
// so the failure appears once (internal/localinvoke proves that under the
// Runtime Interface Emulator).
func TestRunFailureLoggedOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(tb *testbed)
	}{
		{"table unreadable", func(tb *testbed) {
			tb.db.Fail = func(string, any) error { return errors.New("table gone") }
		}},
		{"nothing published", func(tb *testbed) { tb.bus.failWith(errors.New("bus gone")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t, env("SESSION_IDS", "s-1"))
			tb.glue.put(bare("s-1", "READY"), nil)
			tc.fail(tb)
			_, err := tb.h.Invoke(lambdaCtx(), []byte(`{}`))
			var runErr *handler.RunError
			if !errors.As(err, &runErr) || !strings.Contains(err.Error(), "gone") {
				t.Fatalf("got %v, want a RunError naming the cause", err)
			}
			for line := range strings.Lines(tb.logs.String()) {
				if strings.Contains(line, `"level":"ERROR"`) {
					t.Errorf("the handler logged the failure, which Lambda logs too: %s", line)
				}
			}
		})
	}
}
