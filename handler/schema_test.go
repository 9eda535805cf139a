package handler_test

// Every event the handler's tests emit is held to the published contract,
// schema/ (one JSON Schema per detail type), by a real validator
// (internal/schematest): every PutEvents entry that reaches a busRecorder,
// whatever the test and whether EventBridge accepts it, every event a
// rule's queue receives from moto, and every event a dry run lists. A
// field the code emits and the schema lacks fails the test that emitted
// it. When the whole package has run, TestMain fails if a field (or a
// type of a field, such as null) that the schemas allow was never seen in
// any of those events: a schema field the code never emits, or a case no
// test covers.

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/schematest"
)

// notYetEmitted are schema fields that the code does not emit yet, by
// detail type: the coverage check expects them unseen, and fails once
// they are seen (then drop them from here). None today.
var notYetEmitted = map[string][]string{}

// schemaViolations holds, per busRecorder, the entries that did not
// follow the schema and whether a test reported them yet.
var schemaViolations = struct {
	sync.Mutex
	errs     map[*busRecorder][]error
	reported map[*busRecorder]int
}{errs: map[*busRecorder][]error{}, reported: map[*busRecorder]int{}}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if unreported := unreportedViolations(); len(unreported) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: events that do not follow schema/, sent outside a testbed:")
		for _, err := range unreported {
			fmt.Fprintln(os.Stderr, err)
		}
		code = 1
	}
	if code == 0 && wholePackage() {
		if msg := schemaCoverage(); msg != "" {
			fmt.Fprint(os.Stderr, msg)
			code = 1
		}
	}
	os.Exit(code)
}

// wholePackage tells whether every test of the package ran: only then can
// a field no event had be blamed on the schema.
func wholePackage() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return !testing.Short()
}

// schemaCoverage returns why the events of the tests did not cover the
// schemas, or "".
func schemaCoverage() string {
	unseen, err := schematest.Unseen()
	if err != nil {
		return fmt.Sprintf("FAIL: schema coverage: %v\n", err)
	}
	msg := ""
	for _, dt := range handler.DetailTypes {
		expected := notYetEmitted[dt]
		for _, field := range unseen[dt] {
			if !slices.Contains(expected, field) {
				msg += fmt.Sprintf("  %s: %s\n", dt, field)
			}
		}
		for _, field := range expected {
			if !slices.Contains(unseen[dt], field) {
				msg += fmt.Sprintf("  %s: %s is emitted now: remove it from notYetEmitted\n", dt, field)
			}
		}
	}
	if msg == "" {
		return ""
	}
	return "FAIL: no handler test emitted these fields (or types) that schema/ allows: emit them in a test, or take them out of the schema:\n" + msg
}

// checkEntries validates the entries of one PutEvents call sent to b.
func checkEntries(b *busRecorder, entries []ebtypes.PutEventsRequestEntry) {
	var errs []error
	for _, e := range entries {
		if err := schematest.Entry(e); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return
	}
	schemaViolations.Lock()
	defer schemaViolations.Unlock()
	schemaViolations.errs[b] = append(schemaViolations.errs[b], errs...)
}

// reportViolations fails t with the entries sent to b that did not follow
// the schema and that no test reported yet.
func reportViolations(t *testing.T, b *busRecorder) {
	t.Helper()
	schemaViolations.Lock()
	errs := schemaViolations.errs[b][schemaViolations.reported[b]:]
	schemaViolations.reported[b] = len(schemaViolations.errs[b])
	schemaViolations.Unlock()
	for _, err := range errs {
		t.Error(err)
	}
}

func unreportedViolations() []error {
	schemaViolations.Lock()
	defer schemaViolations.Unlock()
	var out []error
	for b, errs := range schemaViolations.errs {
		out = append(out, errs[schemaViolations.reported[b]:]...)
	}
	return out
}

// checkDryRun validates the events a dry run listed, as the entries the
// run would have sent.
func (tb *testbed) checkDryRun(t *testing.T, res *handler.Result) {
	t.Helper()
	if res == nil || res.Events == nil {
		return
	}
	for _, e := range *res.Events {
		entry := ebtypes.PutEventsRequestEntry{Source: aws.String(tb.cfg.Source), DetailType: aws.String(e.DetailType), Detail: aws.String(string(e.Detail))}
		if err := schematest.Entry(entry); err != nil {
			t.Errorf("dry run: %v", err)
		}
	}
}

// checkDelivered validates an event as moto delivered it to a rule's queue.
func checkDelivered(t *testing.T, raw []byte) {
	t.Helper()
	if err := schematest.Delivered(raw); err != nil {
		t.Errorf("delivered: %v", err)
	}
}

// TestEventShapes publishes the events that no other test happens to:
// alerts on a session Glue describes in full (every session field, an
// error message now and before, a just-ended session's final cost), the
// RUNNING_LONG and COST thresholds, a session Glue gives no status, an
// alert naming the session's creator, and an alert cut to fit
// EventBridge's limit. Each must follow the schema (see
// the top of this file) and say what the README, Alerts, says.
func TestEventShapes(t *testing.T) {
	t.Run("alerts on a full session", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-full"), env("RUNNING_HOURS", "0.5,1.5"), env("COST_USD", "1,100"))
		s := fullSession("s-full", "READY") // created an hour before testStart, 5 DPU
		s.ErrorMessage = aws.String("first error")
		tb.glue.put(s, nil)
		tb.poll(t, lambdaCtx(), handler.Request{})
		tb.advance(time.Hour)
		tb.poll(t, lambdaCtx(), handler.Request{})
		tb.glue.update("s-full", func(s *gluetypes.Session) {
			s.Status, s.CompletedOn, s.DPUSeconds = "FAILED", aws.Time(tb.now), aws.Float64(400*3600)
		})
		tb.poll(t, lambdaCtx(), handler.Request{})
		got := tb.events(t)
		wantEvents(t, got,
			"s-full#1 Glue Session State Change null->READY",
			"s-full#2 Glue Session Error null->READY",
			"s-full#3 Glue Session Alert null->READY",
			"s-full#4 Glue Session Alert null->READY",
			"s-full#5 Glue Session Alert READY->READY",
			"s-full#6 Glue Session State Change READY->FAILED",
			"s-full#7 Glue Session Alert READY->FAILED")
		if len(got) != 7 {
			return
		}
		want := []struct {
			alert     string
			threshold string
			prevError *string
		}{
			2: {handler.AlertRunningLong, `{"hours":0.5}`, nil},
			3: {handler.AlertCost, `{"usd":1}`, nil},
			4: {handler.AlertRunningLong, `{"hours":1.5}`, aws.String("first error")},
			6: {handler.AlertCost, `{"usd":100}`, aws.String("first error")},
		}
		for i, w := range want {
			if w.alert == "" {
				continue
			}
			d := got[i].detail
			th, _ := json.Marshal(d.Threshold)
			if d.Alert != w.alert || string(th) != w.threshold || aws.ToString(d.ErrorMessage) != "first error" ||
				aws.ToString(d.PreviousErrorMessage) != aws.ToString(w.prevError) {
				t.Errorf("event %s: alert %s, threshold %s, errorMessage %v, previousErrorMessage %v; want %s, %s, first error, %v",
					got[i], d.Alert, th, aws.ToString(d.ErrorMessage), aws.ToString(d.PreviousErrorMessage), w.alert, w.threshold, aws.ToString(w.prevError))
			}
		}
		if final := got[6].detail; final.Session == nil || final.Session.CompletedOn == nil || final.Cost == nil || final.Cost.EstimatedUSD != 176 {
			t.Errorf("final COST alert: session %+v, cost %+v; want completedOn and $176 (400 DPU-hours at $0.44)", final.Session, final.Cost)
		}
	})

	t.Run("a session Glue gives no status", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-none"), env("COST_USD", "0.5"))
		s := bare("s-none", "")
		s.CreatedOn, s.MaxCapacity = aws.Time(testStart.Add(-time.Hour)), aws.Float64(2)
		tb.glue.put(s, nil)
		tb.poll(t, lambdaCtx(), handler.Request{})
		tb.glue.remove("s-none")
		tb.poll(t, lambdaCtx(), handler.Request{})
		got := tb.events(t)
		// A status Glue did not give is null, never invented; the cost
		// alert ($0.88 for 2 DPU over an hour) does not need one.
		wantEvents(t, got,
			"s-none#1 Glue Session State Change null->null",
			"s-none#2 Glue Session Alert null->null",
			"s-none#3 Glue Session Deleted null->null")
	})

	t.Run("an alert on a session whose creator is known", func(t *testing.T) {
		tb := newTestbed(t, env("STUCK_MINUTES", "15"))
		tb.glue.put(fullSession(sampleID, "PROVISIONING"), nil) // created an hour before testStart
		tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
		got := tb.events(t)
		wantEvents(t, got,
			sampleID+"#1 Glue Session State Change null->PROVISIONING",
			sampleID+"#2 Glue Session Alert null->PROVISIONING")
		wantCreatedBy(t, got, alice, alice)
	})

	t.Run("an alert cut to fit", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-long"), env("RUNNING_HOURS", "0.5"))
		s := fullSession("s-long", "READY")
		s.Description = aws.String(strings.Repeat("d", handler.MaxEntrySize+1))
		tb.glue.put(s, nil)
		tb.poll(t, lambdaCtx(), handler.Request{})
		got := tb.events(t)
		wantEvents(t, got,
			"s-long#1 Glue Session State Change null->READY",
			"s-long#2 Glue Session Alert null->READY")
		for _, e := range got {
			if !e.detail.Truncated || e.detail.Session == nil || !strings.HasSuffix(aws.ToString(e.detail.Session.Description), "…") {
				t.Errorf("event %s: truncated %v; want true and the description cut", e, e.detail.Truncated)
			}
		}
	})
}
