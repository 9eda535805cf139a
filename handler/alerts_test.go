package handler_test

// Whole runs of the alerts issue: idle detection with ListStatements,
// its failures, statement code and output never kept, alerts delivered
// once through an EventBridge rule, quiet runs after them, an outage.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"

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

// backends are the two ways a test of this file runs: in memory
// (fakeGlue, fakeaws) and on the wire (the Glue emulator over HTTP, moto
// through the fault proxy, whose rule delivers IDLE alerts to SQS).
var backends = []struct {
	name string
	opts []option
}{
	{"fake", nil},
	{"wire", []option{glueEmulator(), viaFaultProxy(), ruleMatching(idleRule)}},
}

// stage puts session id in the testbed's Glue, whichever it is: in
// status, created then, and with one statement that completed at done
// (Glue's milliseconds), or none when done is zero.
func stage(tb *testbed, id, status string, created, done time.Time) {
	if tb.emu != nil {
		s := emuSession(id, status)
		s.CreatedOn = &created
		tb.emu.Put(s)
		if !done.IsZero() {
			tb.emu.SetStatements(id, glueemu.Statement{ID: 1, State: "AVAILABLE", StartedOn: done.Add(-time.Minute).UnixMilli(), CompletedOn: done.UnixMilli()})
		}
		return
	}
	s := bare(id, status)
	s.CreatedOn = &created
	tb.glue.put(s, nil)
	if !done.IsZero() {
		tb.glue.setStatements(id, gluetypes.Statement{Id: 1, State: gluetypes.StatementStateAvailable, StartedOn: done.Add(-time.Minute).UnixMilli(), CompletedOn: done.UnixMilli()})
	}
}

// inOrder sorts events by session and sequence: the order of wantEvents,
// whatever order the batches went in.
func inOrder(evs []event) []event {
	out := slices.Clone(evs)
	slices.SortFunc(out, func(a, b event) int {
		return cmp.Or(strings.Compare(a.detail.SessionID, b.detail.SessionID), cmp.Compare(a.detail.Sequence, b.detail.Sequence))
	})
	return out
}

// TestIdleCheckFailures: a ListStatements that fails fails only the idle
// check: the session's other events go, and it is in errors when the
// failure can pass (throttling, a 5xx), or counted in idleUnchecked when
// Glue refuses it for good (access denied, as SageMaker Unified Studio's
// tag-based access does), not in errors, on every run it lasts. Once
// ListStatements answers again, the idle session's IDLE alert fires, once.
// In memory, and on the wire (the emulator answering ListStatements with
// the error, through the SDK's retries). A malformed answer quoting a
// statement's code is reported without it.
func TestIdleCheckFailures(t *testing.T) {
	for _, backend := range backends {
		for _, tc := range []struct {
			name      string
			code      string // Glue's error code on the wire
			err       error  // what fakeGlue answers
			runs      int    // runs the failure lasts
			unchecked bool   // counted in idleUnchecked, not in errors
		}{
			{"throttled", "ThrottlingException", &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}, 1, false},
			{"5xx", "InternalServiceException", &gluetypes.InternalServiceException{Message: aws.String("internal failure")}, 1, false},
			{"access denied", "AccessDeniedException", &gluetypes.AccessDeniedException{Message: aws.String("not authorized by the project's tags")}, 2, true},
		} {
			t.Run(backend.name+"/"+tc.name, func(t *testing.T) {
				tb := newTestbed(t, append(slices.Clone(backend.opts), env("SESSION_IDS", "s-1,s-2"), env("IDLE_MINUTES", "30"))...)
				created, done := tb.now.Add(-2*time.Hour), tb.now.Add(-40*time.Minute)
				stage(tb, "s-1", "READY", created, done)
				stage(tb, "s-2", "READY", created, done)
				if tb.emu != nil {
					tb.emu.Inject(glueemu.Fault{Operation: "ListStatements", SessionID: "s-1", Code: tc.code, Message: "injected " + tc.code})
				} else {
					tb.glue.statementsErr = func(id string, _ int) error {
						if id == "s-1" {
							return tc.err
						}
						return nil
					}
				}
				for run := 1; run <= tc.runs; run++ {
					res := tb.poll(t, lambdaCtx(), handler.Request{})
					if run == 1 {
						// s-1's state change goes; s-2, checked, alerts.
						wantEvents(t, inOrder(tb.events(t)), "s-1#1 Glue Session State Change null->READY",
							"s-2#1 Glue Session State Change null->READY", "s-2#2 Glue Session Alert null->READY")
					} else if len(tb.events(t)) != 0 || tb.writes() != 0 {
						t.Errorf("run %d, still failing: %d events, %d writes; want quiet", run, len(tb.events(t)), tb.writes())
					}
					inErrors := len(res.Errors) == 1 && res.Errors[0].SessionID == "s-1" && strings.Contains(res.Errors[0].Error, "idle check")
					if tc.unchecked {
						if len(res.Errors) != 0 || !slices.Equal(res.IdleUnchecked, []string{"s-1"}) {
							t.Errorf("run %d: errors %+v, idleUnchecked %q; want s-1 counted apart, no error", run, res.Errors, res.IdleUnchecked)
						}
					} else if !inErrors || len(res.IdleUnchecked) != 0 {
						t.Errorf("run %d: errors %+v, idleUnchecked %q; want s-1's idle check in errors", run, res.Errors, res.IdleUnchecked)
					}
					if tb.emu != nil && !tc.unchecked && tb.emu.Calls()["ListStatements"] < 3 {
						t.Errorf("ListStatements called %d times, want s-1's retried by the SDK", tb.emu.Calls()["ListStatements"])
					}
					tb.reset()
					tb.advance(5 * time.Minute)
				}

				// ListStatements answers again: s-1's IDLE alert, once.
				if tb.emu != nil {
					tb.emu.ClearFaults()
				} else {
					tb.glue.statementsErr = nil
				}
				res := tb.poll(t, lambdaCtx(), handler.Request{})
				evs := tb.events(t)
				wantEvents(t, evs, "s-1#2 Glue Session Alert READY->READY")
				if len(res.Errors) != 0 || len(res.IdleUnchecked) != 0 {
					t.Errorf("run after the failure: errors %+v, idleUnchecked %q", res.Errors, res.IdleUnchecked)
				}
				if len(evs) == 1 && (evs[0].detail.Alert != "IDLE" || !strings.HasPrefix(evs[0].detail.Message, "Session s-1 has been idle for ")) {
					t.Errorf("alert %s: %q", evs[0].detail.Alert, evs[0].detail.Message)
				}
				if tb.motoBus != nil {
					wantEvents(t, tb.received(t), "s-1#2 Glue Session Alert READY->READY") // through the rule to SQS
				}
				tb.reset()
				tb.advance(5 * time.Minute)
				if res := tb.poll(t, lambdaCtx(), handler.Request{}); len(tb.events(t)) != 0 || tb.writes() != 0 || len(res.Errors) != 0 {
					t.Errorf("the run after: %+v, %d events, %d writes; want quiet", res, len(tb.events(t)), tb.writes())
				}
				if tb.motoBus != nil {
					wantEvents(t, tb.received(t)) // nothing since the alert
				}
			})
		}
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

// TestAlertOutage: alerts EventBridge does not accept (a STUCK and an
// IDLE one) are kept, delivered by the next run with their eventIds, and
// fire once. In memory, and on the wire: PutEvents failing at the fault
// proxy in front of moto (through the SDK's retries), the IDLE alert then
// reaching the SQS queue behind a rule matching IDLE alerts, once.
func TestAlertOutage(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.name, func(t *testing.T) {
			tb := newTestbed(t, append(slices.Clone(backend.opts), env("SESSION_IDS", "s-idle,s-stuck"), env("STUCK_MINUTES", "15"), env("IDLE_MINUTES", "30"))...)
			stage(tb, "s-idle", "READY", tb.now.Add(-2*time.Hour), tb.now.Add(-40*time.Minute))
			stage(tb, "s-stuck", "PROVISIONING", tb.now.Add(-20*time.Minute), time.Time{})
			if tb.proxy != nil {
				tb.proxy.inject(wireFault{Op: "PutEvents", Status: http.StatusInternalServerError, Code: "InternalException", Message: "EventBridge is down"})
			} else {
				tb.bus.failWith(errors.New("EventBridge is down"))
			}
			if _, err := tb.h.Poll(lambdaCtx(), handler.Request{}); err == nil {
				t.Fatal("run during the outage: got no error")
			}
			if n := len(tb.events(t)); n != 0 {
				t.Fatalf("%d events accepted during the outage", n)
			}
			kept := append(tb.pending(t, "s-idle"), tb.pending(t, "s-stuck")...)
			if len(kept) != 4 {
				t.Fatalf("kept %d events, want 4 (two first sightings, two alerts)", len(kept))
			}

			if tb.proxy != nil {
				tb.proxy.clear()
			} else {
				tb.bus.failWith(nil)
			}
			tb.advance(5 * time.Minute)
			tb.poll(t, lambdaCtx(), handler.Request{})
			evs := inOrder(tb.events(t))
			wantEvents(t, evs, "s-idle#1 Glue Session State Change null->READY", "s-idle#2 Glue Session Alert null->READY",
				"s-stuck#1 Glue Session State Change null->PROVISIONING", "s-stuck#2 Glue Session Alert null->PROVISIONING")
			var keptIDs []string
			for _, k := range kept {
				keptIDs = append(keptIDs, k.EventID)
			}
			if got := eventIDs(evs); !slices.Equal(got, keptIDs) {
				t.Errorf("delivered eventIds %q, kept %q", got, keptIDs)
			}
			if len(evs) == 4 && (evs[1].detail.Alert != "IDLE" || evs[3].detail.Alert != "STUCK") {
				t.Errorf("alerts %s, %s; want IDLE, STUCK", evs[1].detail.Alert, evs[3].detail.Alert)
			}
			if tb.motoBus != nil {
				got := tb.received(t)
				wantEvents(t, got, "s-idle#2 Glue Session Alert null->READY")
				if len(got) == 1 && got[0].detail.EventID != kept[1].EventID {
					t.Errorf("the rule delivered eventId %s, kept as %s", got[0].detail.EventID, kept[1].EventID)
				}
			}

			// Once: the next run publishes and writes nothing, and the
			// queue gets nothing more.
			writes, published := tb.writes(), len(tb.events(t))
			tb.advance(5 * time.Minute)
			tb.poll(t, lambdaCtx(), handler.Request{})
			if tb.writes() != writes || len(tb.events(t)) != published {
				t.Errorf("the run after: %d writes, %d events; want none", tb.writes()-writes, len(tb.events(t))-published)
			}
			if tb.motoBus != nil {
				if got := tb.received(t); len(got) != 1 {
					t.Errorf("the queue got %d events in all, want the IDLE alert once", len(got))
				}
			}
		})
	}
}

// idleSpell is what one run made of a READY session's statements: the
// start of the idle spell its IDLE alert recorded ("" when none fired),
// and the alert's message.
type idleSpell struct{ since, message string }

// idleSpells runs one poll, with IDLE_MINUTES=30 and fakeGlue, over READY
// sessions created 2 hours before it, each with the statements given, and
// returns each one's idle spell.
func idleSpells(t *testing.T, statements map[string][]gluetypes.Statement) (map[string]idleSpell, *testbed, *handler.Result) {
	t.Helper()
	ids := slices.Sorted(maps.Keys(statements))
	tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids, ",")), env("IDLE_MINUTES", "30"))
	created := tb.now.Add(-2 * time.Hour)
	for _, id := range ids {
		s := bare(id, "READY")
		s.CreatedOn = &created
		tb.glue.put(s, nil)
		tb.glue.setStatements(id, statements[id]...)
	}
	res := tb.poll(t, lambdaCtx(), handler.Request{})
	out := map[string]idleSpell{}
	for _, e := range tb.events(t) {
		if e.detail.Alert == handler.AlertIdle {
			out[e.detail.SessionID] = idleSpell{message: e.detail.Message}
		}
	}
	for id, snap := range tb.snapshots(t) {
		for _, key := range snap.Fired {
			if since, ok := strings.CutPrefix(key, handler.AlertIdle+":"); ok {
				spell := out[id]
				spell.since = since
				out[id] = spell
			}
		}
	}
	return out, tb, res
}

// TestIdleSpellStart: where an idle spell starts (README, Idle
// detection): at the latest time a statement ended, its CompletedOn, or
// its StartedOn when Glue gives it no CompletedOn (a statement cancelled
// before it ran to the end); at CreatedOn when no statement has either.
func TestIdleSpellStart(t *testing.T) {
	at := testStart
	ms := func(ago time.Duration) int64 { return at.Add(-ago).UnixMilli() }
	rfc := func(ago time.Duration) string { return at.Add(-ago).Format(time.RFC3339) }
	for _, tc := range []struct {
		name       string
		statements []gluetypes.Statement
		since      string // "" for no IDLE alert
	}{
		{"no statement: CreatedOn", nil, rfc(2 * time.Hour)},
		{"the latest CompletedOn", []gluetypes.Statement{
			{Id: 1, State: "AVAILABLE", StartedOn: ms(52 * time.Minute), CompletedOn: ms(50 * time.Minute)},
			{Id: 2, State: "AVAILABLE", StartedOn: ms(41 * time.Minute), CompletedOn: ms(40 * time.Minute)},
		}, rfc(40 * time.Minute)},
		{"no CompletedOn: its StartedOn, later than the others' CompletedOn", []gluetypes.Statement{
			{Id: 1, State: "AVAILABLE", StartedOn: ms(52 * time.Minute), CompletedOn: ms(50 * time.Minute)},
			{Id: 2, State: "CANCELLED", StartedOn: ms(35 * time.Minute)},
		}, rfc(35 * time.Minute)},
		{"no CompletedOn: its StartedOn, not CreatedOn, so not idle yet", []gluetypes.Statement{
			{Id: 1, State: "CANCELLED", StartedOn: ms(20 * time.Minute)},
		}, ""},
		{"neither time: CreatedOn", []gluetypes.Statement{{Id: 1, State: "CANCELLED"}}, rfc(2 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spells, _, res := idleSpells(t, map[string][]gluetypes.Statement{"s-1": tc.statements})
			if len(res.Errors) != 0 {
				t.Errorf("errors: %+v", res.Errors)
			}
			if got := spells["s-1"].since; got != tc.since {
				t.Errorf("idle spell from %q, want %q (message %q)", got, tc.since, spells["s-1"].message)
			}
		})
	}
}

// TestHostileStatements: megabytes of statement output, and times far in
// the past and the future, do not break a run or reach anything it
// writes, and each time is read as the idle rules say (statementTime): 1
// as a second after the epoch (an ancient spell: IDLE), −5 as absent (the
// spell counts from CreatedOn), 2⁶² − 1 as a time far in the future (the
// session is not idle), and a realistic time in seconds and in
// milliseconds as the same instant.
func TestHostileStatements(t *testing.T) {
	at := testStart
	fortyAgo := at.Add(-40 * time.Minute)
	big := strings.Repeat(statementSecret, 200_000) // about 8 MB
	spells, tb, res := idleSpells(t, map[string][]gluetypes.Statement{
		"s-future": {
			{Id: 1, State: "AVAILABLE", Code: aws.String(big), Output: &gluetypes.StatementOutput{Data: &gluetypes.StatementOutputData{TextPlain: aws.String(big)}},
				CompletedOn: 1},
			{Id: 2, State: "AVAILABLE", CompletedOn: 1<<62 - 1},
		},
		"s-one":      {{Id: 1, State: "AVAILABLE", CompletedOn: 1}},
		"s-negative": {{Id: 1, State: "ERROR", StartedOn: -5, CompletedOn: -5}},
		"s-seconds":  {{Id: 1, State: "AVAILABLE", StartedOn: fortyAgo.Unix() - 60, CompletedOn: fortyAgo.Unix()}}, // about 1.8e9
		"s-millis":   {{Id: 1, State: "AVAILABLE", StartedOn: fortyAgo.UnixMilli() - 60_000, CompletedOn: fortyAgo.UnixMilli()}},
	})
	if len(res.Errors) != 0 {
		t.Errorf("errors: %+v", res.Errors)
	}
	for id, want := range map[string]idleSpell{
		"s-future":   {},
		"s-one":      {"1970-01-01T00:00:01Z", fmt.Sprintf("Session s-one has been idle for %d minutes (threshold 30)", int(at.Sub(time.Unix(1, 0)).Minutes()))},
		"s-negative": {at.Add(-2 * time.Hour).Format(time.RFC3339), "Session s-negative has been idle for 120 minutes (threshold 30)"},
		"s-seconds":  {fortyAgo.Format(time.RFC3339), "Session s-seconds has been idle for 40 minutes (threshold 30)"},
		"s-millis":   {fortyAgo.Format(time.RFC3339), "Session s-millis has been idle for 40 minutes (threshold 30)"},
	} {
		if got := spells[id]; got != want {
			t.Errorf("%s: idle spell %+v, want %+v", id, got, want)
		}
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
				var calls gauge
				call := func() error { return calls.call(2 * time.Millisecond) }
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
				if most := calls.peak(); most > maxConcurrency || (concurrent && most < 2) {
					t.Errorf("Glue calls in flight: at most %d, want up to MAX_CONCURRENCY=%d", most, maxConcurrency)
				}
			})
		}
	}
}
