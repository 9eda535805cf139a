package handler_test

// Whole runs of the alerts issue: idle detection with ListStatements,
// its failures, statement code and output never kept, alerts delivered
// once through an EventBridge rule, quiet runs after them, an outage.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/glueemu"
)

// idleRule is the pattern of a rule that a user's IDLE handling listens
// on (README, Alerts).
const idleRule = `{"detail-type": ["Glue Session Alert"], "detail": {"alert": ["IDLE"]}}`

// statementSecret is in statements' code and output: nothing a run
// produces may hold it.
const statementSecret = "aws_secret_access_key=stmt-SECRET-9f2e"

// TestIdleAlertThroughARule: a READY session whose last statement ended
// 40 minutes ago raises one IDLE alert, delivered through a rule matching
// IDLE alerts (moto, SQS); the next run is quiet, with no write; a
// statement run then, and a second idle spell, alert again. Statement
// timestamps in milliseconds, as Glue's Livy statements give them.
func TestIdleAlertThroughARule(t *testing.T) {
	tb := newTestbed(t, ruleMatching(idleRule), glueEmulator(), env("SESSION_IDS", "nb-1"), env("IDLE_MINUTES", "30"))
	created := tb.now.Add(-2 * time.Hour)
	s := emuSession("nb-1", "READY")
	s.CreatedOn = &created
	tb.emu.Put(s)
	done := tb.now.Add(-40 * time.Minute)
	tb.emu.SetStatements("nb-1",
		glueemu.Statement{ID: 1, State: "AVAILABLE", Code: "df = spark.read.csv('s3://b/k')  # " + statementSecret,
			Output:    &glueemu.StatementOutput{Status: "ok", Data: &glueemu.StatementData{TextPlain: strings.Repeat("row,", 1000) + statementSecret}},
			StartedOn: done.Add(-time.Minute).UnixMilli(), CompletedOn: done.UnixMilli()})
	tb.mustInvoke(t, "")
	got := tb.received(t)
	wantEvents(t, got, "nb-1#2 Glue Session Alert null->READY")
	if len(got) == 1 {
		d := got[0].detail
		if d.Alert != "IDLE" || d.Threshold == nil || d.Threshold.Minutes == nil || *d.Threshold.Minutes != 30 || d.Severity != "WARN" ||
			!strings.HasPrefix(d.Message, "Session nb-1 has been idle for 40 minutes (threshold 30)") {
			t.Errorf("alert: %+v, message %q", d, d.Message)
		}
	}

	tb.reset()
	tb.advance(5 * time.Minute)
	res := tb.mustInvoke(t, "")
	if tb.writes() != 0 || tb.ebCalls() != 0 || res.Published != 0 {
		t.Errorf("run after the alert: %+v, %d writes, %d PutEvents calls; want quiet", res, tb.writes(), tb.ebCalls())
	}

	// A statement runs: busy, no alert. It ends; 31 minutes later, a
	// second idle spell alerts again.
	tb.emu.SetStatements("nb-1", glueemu.Statement{ID: 2, State: "RUNNING", StartedOn: tb.now.UnixMilli()})
	tb.mustInvoke(t, "")
	ended := tb.now
	tb.emu.SetStatements("nb-1", glueemu.Statement{ID: 2, State: "AVAILABLE", StartedOn: ended.Add(-time.Minute).UnixMilli(), CompletedOn: ended.UnixMilli()})
	tb.advance(31 * time.Minute)
	tb.mustInvoke(t, "")
	wantEvents(t, tb.received(t), "nb-1#3 Glue Session Alert READY->READY")

	for _, text := range []string{tb.logs.String(), strings.Join(itemsText(t, tb), "\n")} {
		if strings.Contains(text, "stmt-SECRET") || strings.Contains(text, "row,row") {
			t.Error("statement code or output reached the log or the table")
		}
	}
	for _, e := range tb.attempts(t) {
		if strings.Contains(aws.ToString(e.entry.Detail), "stmt-SECRET") {
			t.Error("statement code or output reached an event")
		}
	}
}

// itemsText renders every item of the table, for secret scans.
func itemsText(t *testing.T, tb *testbed) []string {
	var out []string
	for id, item := range tb.items(t) {
		out = append(out, id)
		for name, v := range item {
			out = append(out, name, fmt.Sprint(v))
		}
	}
	return out
}

// TestIdleCheckFailures: a ListStatements that fails fails only the idle
// check: the session's other events go, and it is in errors when the
// failure can pass (throttling, 5xx), or counted in idleUnchecked when
// Glue refuses it for good (access denied, as SageMaker Unified Studio's
// tag-based access does), not in errors. A malformed answer quoting a
// statement's code is reported without it.
func TestIdleCheckFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		unchecked bool
	}{
		{"throttled", &gluetypes.InternalServiceException{Message: aws.String("Rate exceeded")}, false},
		{"access denied", &gluetypes.AccessDeniedException{Message: aws.String("not authorized by the project's tags")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2"), env("IDLE_MINUTES", "30"))
			tb.glue.put(bare("s-1", "READY"), nil)
			tb.glue.put(bare("s-2", "READY"), nil)
			tb.glue.statementsErr = func(id string, _ int) error {
				if id == "s-1" {
					return tc.err
				}
				return nil
			}
			res := tb.poll(t, lambdaCtx(), handler.Request{})
			wantEvents(t, tb.events(t), "s-1#1 Glue Session State Change null->READY", "s-2#1 Glue Session State Change null->READY")
			inErrors := len(res.Errors) == 1 && res.Errors[0].SessionID == "s-1" && strings.Contains(res.Errors[0].Error, "idle check")
			if tc.unchecked {
				if len(res.Errors) != 0 || len(res.IdleUnchecked) != 1 || res.IdleUnchecked[0] != "s-1" {
					t.Errorf("errors %+v, idleUnchecked %q; want s-1 counted apart, no error", res.Errors, res.IdleUnchecked)
				}
			} else if !inErrors || len(res.IdleUnchecked) != 0 {
				t.Errorf("errors %+v, idleUnchecked %q; want s-1's idle check in errors", res.Errors, res.IdleUnchecked)
			}
		})
	}

	t.Run("malformed answer quoting a statement", func(t *testing.T) {
		tb := newTestbed(t, glueEmulator(), env("SESSION_IDS", "s-1"), env("IDLE_MINUTES", "30"))
		tb.emu.Put(emuSession("s-1", "READY"))
		tb.emu.Inject(glueemu.Fault{Operation: "ListStatements", Raw: `{"Statements": [{"Id": 1, "Code": 4242424242, "State": "AVAILABLE"}]}`})
		res := tb.mustInvoke(t, "")
		if len(res.Errors) != 1 || strings.Contains(res.Errors[0].Error, "4242424242") || !strings.Contains(res.Errors[0].Error, "malformed") {
			t.Errorf("errors %+v, want one malformed ListStatements answer, quoting nothing", res.Errors)
		}
		if strings.Contains(tb.logs.String(), "4242424242") {
			t.Error("the log quotes the answer")
		}
	})
}

// TestAlertOutage: an alert EventBridge does not accept is kept and
// delivered later with its eventId, and fires once.
func TestAlertOutage(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"), env("STUCK_MINUTES", "15"))
	created := tb.now.Add(-20 * time.Minute)
	s := bare("s-1", "PROVISIONING")
	s.CreatedOn = &created
	tb.glue.put(s, nil)
	tb.bus.failWith(errors.New("EventBridge is down"))
	if _, err := tb.h.Poll(lambdaCtx(), handler.Request{}); err == nil {
		t.Fatal("run during the outage: got no error")
	}
	kept := tb.pending(t, "s-1")
	tb.bus.failWith(nil)
	tb.advance(5 * time.Minute)
	tb.poll(t, lambdaCtx(), handler.Request{})
	evs := tb.events(t)
	wantEvents(t, evs, "s-1#1 Glue Session State Change null->PROVISIONING", "s-1#2 Glue Session Alert null->PROVISIONING")
	if len(evs) == 2 && len(kept) == 2 && evs[1].detail.EventID != kept[1].EventID {
		t.Errorf("alert delivered with eventId %s, kept as %s", evs[1].detail.EventID, kept[1].EventID)
	}
}

// TestHostileStatements: megabytes of statement output, and times far in
// the past and the future, do not break a run or reach anything it
// writes.
func TestHostileStatements(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2"), env("IDLE_MINUTES", "30"))
	for _, id := range []string{"s-1", "s-2"} {
		tb.glue.put(bare(id, "READY"), nil)
	}
	big := strings.Repeat(statementSecret, 200_000) // about 8 MB
	tb.glue.setStatements("s-1",
		gluetypes.Statement{Id: 1, State: "AVAILABLE", Code: aws.String(big), Output: &gluetypes.StatementOutput{Data: &gluetypes.StatementOutputData{TextPlain: aws.String(big)}},
			CompletedOn: 1},
		gluetypes.Statement{Id: 2, State: "AVAILABLE", CompletedOn: 1<<62 - 1})
	tb.glue.setStatements("s-2", gluetypes.Statement{Id: 1, State: "ERROR", CompletedOn: -5})
	res := tb.poll(t, lambdaCtx(), handler.Request{})
	if len(res.Errors) != 0 {
		t.Errorf("errors: %+v", res.Errors)
	}
	for _, text := range append(itemsText(t, tb), tb.logs.String()) {
		if strings.Contains(text, "stmt-SECRET") {
			t.Fatal("statement code reached the table or the log")
		}
	}
	for _, e := range tb.attempts(t) {
		if strings.Contains(aws.ToString(e.entry.Detail), "stmt-SECRET") {
			t.Fatal("statement code reached an event")
		}
	}
}

var _ = context.Background

// TestIdleStatementCalls pins the ListStatements term of the call bound
// (README, Performance; internal/bench's Bound): with IDLE_MINUTES set, one
// call per page of statements for each session Glue gives as READY (one
// for a session with fewer than a page, or none), and none for any other
// status or for a session Glue does not know, polled by id and discovered
// alike; none with IDLE_MINUTES off; the same again on a quiet run. The
// pages share the MAX_CONCURRENCY workers with GetSession: Glue calls in
// flight never pass it.
func TestIdleStatementCalls(t *testing.T) {
	// fakeGlue's ListStatements pages hold 2 statements: want is the
	// pages of each READY session.
	ready := map[string]struct{ statements, want int }{
		"r-none": {0, 1}, "r-one": {1, 1}, "r-page": {2, 1}, "r-page-and-one": {3, 2}, "r-five": {5, 3},
	}
	for i := range 12 { // enough READY sessions to fill the workers
		ready[fmt.Sprintf("r-busy-%02d", i)] = struct{ statements, want int }{4, 2}
	}
	others := []string{"PROVISIONING", "STOPPING", "STOPPED", "FAILED", "TIMEOUT"}
	const maxConcurrency = 3

	for _, mode := range []string{"by id", "discovered"} {
		for _, idle := range []string{"off", "30"} {
			t.Run(mode+"/IDLE_MINUTES="+idle, func(t *testing.T) {
				var ids []string
				for id := range ready {
					ids = append(ids, id)
				}
				for _, status := range others {
					ids = append(ids, "n-"+strings.ToLower(status))
				}
				opts := []option{env("MAX_CONCURRENCY", fmt.Sprint(maxConcurrency))}
				if idle != "off" {
					opts = append(opts, env("IDLE_MINUTES", idle))
				}
				if mode == "by id" {
					opts = append(opts, env("SESSION_IDS", strings.Join(append(ids, "n-gone"), ",")))
				} else {
					opts = append(opts, env("DISCOVER", "true"))
				}
				tb := newTestbed(t, opts...)
				statements := func(n int) []gluetypes.Statement {
					sts := make([]gluetypes.Statement, n)
					for i := range sts {
						sts[i] = gluetypes.Statement{Id: int32(i), State: gluetypes.StatementStateAvailable, CompletedOn: tb.now.Add(-time.Minute).UnixMilli()}
					}
					return sts
				}
				for id, r := range ready {
					tb.glue.put(bare(id, "READY"), nil)
					tb.glue.setStatements(id, statements(r.statements)...)
				}
				for _, status := range others {
					id := "n-" + strings.ToLower(status)
					tb.glue.put(bare(id, status), nil)
					tb.glue.setStatements(id, statements(3)...) // there to be read, if anything asked
				}
				tb.glue.setStatements("n-gone", statements(3)...)

				// Every Glue call, counted in flight.
				var mu sync.Mutex
				inFlight, most := 0, 0
				call := func() error {
					mu.Lock()
					inFlight++
					most = max(most, inFlight)
					mu.Unlock()
					time.Sleep(2 * time.Millisecond)
					mu.Lock()
					inFlight--
					mu.Unlock()
					return nil
				}
				tb.glue.getErr = func(string) error { return call() }
				tb.glue.listErr = func(int) error { return call() }
				tb.glue.statementsErr = func(string, int) error { return call() }

				for run := range 2 { // the first run, then a quiet one
					tb.glue.resetCalls()
					res := tb.poll(t, lambdaCtx(), handler.Request{})
					if len(res.Errors) != 0 || len(res.IdleUnchecked) != 0 {
						t.Fatalf("run %d: errors %+v, idleUnchecked %q", run+1, res.Errors, res.IdleUnchecked)
					}
					total, wantTotal := 0, 0
					for id, r := range ready {
						want := r.want
						if idle == "off" {
							want = 0
						}
						wantTotal += want
						total += tb.glue.statementCalls(id)
						if got := tb.glue.statementCalls(id); got != want {
							t.Errorf("run %d: %s (READY, %d statements): %d ListStatements calls, want %d", run+1, id, r.statements, got, want)
						}
					}
					for _, id := range append(slices.Clone(ids[len(ready):]), "n-gone") {
						if got := tb.glue.statementCalls(id); got != 0 {
							t.Errorf("run %d: %s: %d ListStatements calls, want none (not READY)", run+1, id, got)
						}
					}
					if total != wantTotal {
						t.Errorf("run %d: %d ListStatements calls in all, want %d", run+1, total, wantTotal)
					}
				}
				// Discovering with idle detection off, the only Glue calls
				// are the ListSessions pages, one after the other.
				concurrent := mode == "by id" || idle != "off"
				if most > maxConcurrency || (concurrent && most < 2) {
					t.Errorf("Glue calls in flight: at most %d, want up to MAX_CONCURRENCY=%d", most, maxConcurrency)
				}
			})
		}
	}
}
