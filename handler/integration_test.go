package handler_test

// Integration tests: testbeds on moto for DynamoDB and EventBridge (events
// read back through a rule that targets an SQS queue) and the in-repo Glue
// sessions emulator, through the real SDK clients (see setup_test.go).

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"sessionwatch/handler"
	"sessionwatch/internal/glueemu"
)

func TestLifecycle(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-ok,s-bad"))
	step := func(okStatus, badStatus, badErr string) {
		tb.emu.Update("s-ok", func(s *glueemu.Session) { s.Status = okStatus })
		tb.emu.Update("s-bad", func(s *glueemu.Session) { s.Status, s.ErrorMessage = badStatus, badErr })
	}
	tb.emu.Put(emuSession("s-ok", "PROVISIONING"))
	tb.emu.Put(emuSession("s-bad", "PROVISIONING"))

	res := tb.mustInvoke(t, "")
	if res.Polled != 2 || res.Published != 2 || res.Changed != 2 {
		t.Errorf("first run: got %+v, want 2 polled, 2 published, 2 changed", res)
	}
	wantEvents(t, tb.received(t),
		"s-bad#1 Glue Session State Change null->PROVISIONING",
		"s-ok#1 Glue Session State Change null->PROVISIONING")
	tb.reset()

	step("READY", "READY", "")
	tb.mustInvoke(t, "{}")
	step("STOPPING", "FAILED", "OutOfMemoryError: Java heap space")
	tb.mustInvoke(t, `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-24T12:00:00Z","region":"us-east-1","resources":[],"detail":{}}`)
	step("STOPPED", "FAILED", "OutOfMemoryError: Java heap space")
	tb.mustInvoke(t, "")
	events := tb.received(t)
	wantEvents(t, events,
		"s-bad#2 Glue Session State Change PROVISIONING->READY",
		"s-bad#3 Glue Session State Change READY->FAILED",
		"s-bad#4 Glue Session Error READY->FAILED",
		"s-ok#2 Glue Session State Change PROVISIONING->READY",
		"s-ok#3 Glue Session State Change READY->STOPPING",
		"s-ok#4 Glue Session State Change STOPPING->STOPPED")

	for _, e := range events {
		if got := aws.ToString(e.entry.Source); got != "sessionwatch.test" {
			t.Errorf("source: got %q", got)
		}
		if want := "arn:aws:glue:us-east-1:123456789012:session/" + e.detail.SessionID; !slices.Equal(e.entry.Resources, []string{want}) {
			t.Errorf("resources: got %q, want %q", e.entry.Resources, want)
		}
		if !e.entry.Time.Equal(e.detail.ObservedAt) {
			t.Errorf("time %v != observedAt %v", *e.entry.Time, e.detail.ObservedAt)
		}
		if e.detail.PreviousObservedAt == nil {
			t.Errorf("%s#%d: previousObservedAt is null after the first sighting", e.detail.SessionID, e.detail.Sequence)
		}
	}
	failed, errEvent := events[1], events[2]
	if failed.detail.Severity != "ERROR" || errEvent.detail.Severity != "ERROR" || events[0].detail.Severity != "INFO" {
		t.Errorf("severities: got %s %s %s, want INFO ERROR ERROR", events[0].detail.Severity, failed.detail.Severity, errEvent.detail.Severity)
	}
	if got := orNull(errEvent.detail.ErrorMessage); got != "OutOfMemoryError: Java heap space" {
		t.Errorf("errorMessage: got %q", got)
	}
	if got := failed.detail.Message; got != "Session s-bad changed from READY to FAILED" {
		t.Errorf("message: got %q", got)
	}

	// Both sessions are finished: they leave the registry. Named in
	// SESSION_IDS, they are still polled on every run (a configured id can
	// be re-created), and the run is quiet.
	tb.reset()
	res = tb.mustInvoke(t, "")
	if got := tb.emu.Calls()["GetSession"]; got != 2 || res.Polled != 2 || tb.writes() != 0 || len(tb.received(t)) != 0 {
		t.Errorf("after finish: %d GetSession calls, %d polled, %d writes; want both polled, nothing written or published", got, res.Polled, tb.writes())
	}
	if reg := tb.registry(t); len(reg) != 0 {
		t.Errorf("registry after both finished: %q, want empty", reg)
	}
	item := tb.items(t)["s-ok"]
	if _, ok := item["ExpiresAt"]; !ok {
		t.Errorf("finished snapshot has no ExpiresAt: %v", item)
	}
}

func TestQuietRunWritesNothing(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1,s-2"))
	tb.emu.Put(emuSession("s-1", "READY"))
	tb.emu.Put(emuSession("s-2", "PROVISIONING"))
	tb.mustInvoke(t, "")
	tb.reset()
	res := tb.mustInvoke(t, "")
	if tb.writes() != 0 || tb.ebCalls() != 0 {
		t.Errorf("quiet run: %v DynamoDB calls, %d PutEvents calls; want no writes and no PutEvents", tb.dbCalls(), tb.ebCalls())
	}
	if res.Polled != 2 || res.Published != 0 || res.Changed != 0 {
		t.Errorf("quiet run result: %+v", res)
	}
	if got := tb.received(t); len(got) != 0 {
		t.Errorf("quiet run published %q", got)
	}
}

func TestErrorChanges(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1"))
	s := emuSession("s-1", "READY")
	s.ErrorMessage = "first error"
	tb.emu.Put(s)
	tb.mustInvoke(t, "")
	tb.emu.Update("s-1", func(s *glueemu.Session) { s.ErrorMessage = "second error" })
	tb.mustInvoke(t, "")
	tb.emu.Update("s-1", func(s *glueemu.Session) { s.ErrorMessage = "" })
	res := tb.mustInvoke(t, "") // cleared: saved, no event
	if res.Changed != 1 || res.Published != 0 {
		t.Errorf("cleared error: got %+v, want 1 changed, 0 published", res)
	}
	tb.emu.Update("s-1", func(s *glueemu.Session) { s.ErrorMessage = "first error" })
	tb.mustInvoke(t, "")
	events := tb.received(t)
	wantEvents(t, events,
		"s-1#1 Glue Session State Change null->READY",
		"s-1#2 Glue Session Error null->READY",
		"s-1#3 Glue Session Error READY->READY",
		"s-1#4 Glue Session Error READY->READY")
	if got := orNull(events[2].detail.PreviousErrorMessage); got != "first error" {
		t.Errorf("previousErrorMessage: got %q", got)
	}
	if got := orNull(events[3].detail.PreviousErrorMessage); got != "null" {
		t.Errorf("after clearing, previousErrorMessage: got %q, want null", got)
	}
}

func TestDeletionAndUnknownID(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1"))
	tb.emu.Put(emuSession("s-1", "READY"))
	tb.mustInvoke(t, "")
	tb.emu.Delete("s-1")
	res := tb.mustInvoke(t, `{"sessionIds": ["never-existed"]}`)
	if !slices.Equal(res.NotFound, []string{"never-existed"}) {
		t.Errorf("notFound: got %q", res.NotFound)
	}
	events := tb.received(t)
	wantEvents(t, events,
		"s-1#1 Glue Session State Change null->READY",
		"s-1#2 Glue Session Deleted READY->null")
	if d := events[1].detail; d.Severity != "WARN" || d.Session != nil {
		t.Errorf("deleted event: severity %s, session %+v", d.Severity, d.Session)
	}
	// Deleted, it left the registry; named in SESSION_IDS, it is asked
	// for again, and its deletion is not announced twice.
	tb.reset()
	tb.mustInvoke(t, "")
	if got := tb.received(t); len(got) != 0 || tb.emu.Calls()["GetSession"] != 1 || tb.writes() != 0 {
		t.Errorf("after deletion: events %q, %d GetSession calls, %d writes; want one call, nothing else", got, tb.emu.Calls()["GetSession"], tb.writes())
	}
	if reg := tb.registry(t); len(reg) != 0 {
		t.Errorf("registry: %q, want empty", reg)
	}
}

func TestTrackUntrack(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute))
	tb.emu.Put(emuSession("s-1", "READY"))
	tb.emu.Put(emuSession("s-2", "READY"))
	res := tb.mustInvoke(t, `{"track": ["s-1", "s-2"]}`)
	if res.Watched != 2 {
		t.Errorf("after track: watched %d, want 2", res.Watched)
	}
	res = tb.mustInvoke(t, `{"untrack": ["s-2"]}`)
	if res.Watched != 1 {
		t.Errorf("after untrack: watched %d, want 1", res.Watched)
	}
	if ids := tb.registry(t); !slices.Equal(ids, []string{"s-1"}) {
		t.Errorf("registry: got %q; want [s-1]", ids)
	}
	wantEvents(t, tb.received(t),
		"s-1#1 Glue Session State Change null->READY",
		"s-2#1 Glue Session State Change null->READY")
}

func TestDiscoveryWithTags(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("DISCOVER", "true"), env("DISCOVER_TAGS", "team=data"))
	tb.emu.SetPageSize(2)
	for i := range 5 {
		s := emuSession(fmt.Sprintf("d-%d", i), "READY")
		s.Tags = map[string]string{"team": "data"}
		tb.emu.Put(s)
	}
	other := emuSession("other", "READY")
	other.Tags = map[string]string{"team": "web"}
	tb.emu.Put(other)
	res := tb.mustInvoke(t, "")
	if res.Polled != 5 || tb.emu.Calls()["GetSession"] != 0 {
		t.Errorf("discovery: polled %d with %v Glue calls; want 5 polled by ListSessions alone", res.Polled, tb.emu.Calls())
	}
	if got := tb.emu.Calls()["ListSessions"]; got != 3 {
		t.Errorf("ListSessions calls: got %d, want 3 pages", got)
	}
	if got := len(tb.received(t)); got != 5 {
		t.Errorf("events: got %d, want 5", got)
	}
	tb.reset()
	// A request overrides the tags for one run. The sessions discovered
	// before were seen unfinished: they stay watched, polled by id.
	res = tb.mustInvoke(t, `{"tags": {"team": "web"}}`)
	wantEvents(t, tb.received(t), "other#1 Glue Session State Change null->READY")
	if res.Polled != 6 || tb.emu.Calls()["GetSession"] != 5 {
		t.Errorf("tag override: polled %d with %d GetSession calls, want 6 (other listed, the 5 others by id)", res.Polled, tb.emu.Calls()["GetSession"])
	}
}

func TestDryRun(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1"))
	tb.emu.Put(emuSession("s-1", "READY"))
	res := tb.mustInvoke(t, `{"dryRun": true, "track": ["s-2"]}`)
	if res.Events == nil || len(*res.Events) != 1 || (*res.Events)[0].DetailType != handler.DetailTypeStateChange {
		t.Fatalf("dry run events: got %+v", res.Events)
	}
	var d map[string]any
	if err := json.Unmarshal((*res.Events)[0].Detail, &d); err != nil || d["sessionId"] != "s-1" {
		t.Errorf("dry run detail: %v %v", d, err)
	}
	if tb.writes() != 0 || tb.ebCalls() != 0 {
		t.Errorf("dry run made calls: %v DynamoDB, %d PutEvents", tb.dbCalls(), tb.ebCalls())
	}
	if got := tb.received(t); len(got) != 0 {
		t.Errorf("dry run published %q", got)
	}
	// The real run after it publishes the same event id.
	tb.mustInvoke(t, "")
	events := tb.received(t)
	if len(events) != 1 || events[0].detail.EventID != d["eventId"] {
		t.Errorf("after dry run: got %q, want one event with id %v", events, d["eventId"])
	}
}

func TestOutageThenSessionMovesOn(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1"))
	tb.bus.failWith(errors.New("api error InternalException: event bus unavailable"))
	tb.emu.Put(emuSession("s-1", "READY"))
	_, err := tb.invoke(t, "")
	if err == nil {
		t.Fatal("a run whose every event failed to publish returned no error")
	}
	tb.emu.Update("s-1", func(s *glueemu.Session) { s.Status, s.ErrorMessage = "STOPPING", "boom" })
	_, err = tb.invoke(t, "")
	if err == nil {
		t.Fatal("second run with the bus down returned no error")
	}
	tb.emu.Update("s-1", func(s *glueemu.Session) { s.Status = "STOPPED" })
	tb.bus.failWith(nil)
	res, err := tb.invoke(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Published != 4 || res.Pending != 0 {
		t.Errorf("recovery run: got %+v, want 4 published, 0 pending", res)
	}
	wantEvents(t, tb.received(t),
		"s-1#1 Glue Session State Change null->READY",
		"s-1#2 Glue Session State Change READY->STOPPING",
		"s-1#3 Glue Session Error READY->STOPPING",
		"s-1#4 Glue Session State Change STOPPING->STOPPED")
}

func TestEntryFailure(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1,s-2"))
	s := emuSession("s-1", "FAILED")
	s.ErrorMessage = "boom"
	tb.emu.Put(s)
	tb.emu.Put(emuSession("s-2", "READY"))
	tb.bus.failEntries(func(_ int, e ebtypes.PutEventsRequestEntry) (string, string) {
		if aws.ToString(e.DetailType) == handler.DetailTypeError {
			return "AccessDeniedException", "injected"
		}
		return "", ""
	})
	res, err := tb.invoke(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Published != 2 || res.Pending != 1 {
		t.Errorf("partial failure: got %+v, want 2 published, 1 pending", res)
	}
	first := tb.received(t)
	wantEvents(t, first,
		"s-1#1 Glue Session State Change null->FAILED",
		"s-2#1 Glue Session State Change null->READY")
	tb.reset()
	tb.bus.failEntries(nil)
	res = tb.mustInvoke(t, "")
	if res.Published != 1 || res.Pending != 0 {
		t.Errorf("retry run: got %+v, want the pending event published", res)
	}
	wantEvents(t, tb.received(t), "s-1#2 Glue Session Error null->FAILED")
}

func TestConcurrentRunsShareEventIDs(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1,s-2,s-3"))
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		tb.emu.Put(emuSession(id, "READY"))
	}
	var wg sync.WaitGroup
	results := make([]error, 2)
	for i := range results {
		wg.Go(func() {
			_, results[i] = tb.newHandler(nil, nil).Invoke(lambdaCtx(), nil)
		})
	}
	wg.Wait()
	for _, err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]map[string]bool{} // session#sequence -> event ids
	for _, e := range tb.received(t) {
		k := fmt.Sprintf("%s#%d", e.detail.SessionID, e.detail.Sequence)
		if ids[k] == nil {
			ids[k] = map[string]bool{}
		}
		ids[k][e.detail.EventID] = true
	}
	if len(ids) != 3 {
		t.Errorf("changes delivered: got %d, want 3", len(ids))
	}
	for k, set := range ids {
		if len(set) != 1 {
			t.Errorf("%s delivered with %d event ids, want 1", k, len(set))
		}
	}
	// The table holds each change once: a third run sees nothing new.
	res := tb.mustInvoke(t, "")
	if res.Changed != 0 || res.Published != 0 {
		t.Errorf("after the race: %+v, want nothing to do", res)
	}
}

// TestBusByARN: EVENT_BUS_NAME may be the bus's ARN as well as its name.
func TestBusByARN(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1"))
	tb.reconfigure(func(c *handler.Config) { c.EventBus = tb.motoBus.ARN })
	tb.emu.Put(emuSession("s-1", "READY"))
	if res := tb.mustInvoke(t, ""); res.Published != 1 {
		t.Errorf("published %d, want 1", res.Published)
	}
	wantEvents(t, tb.received(t), "s-1#1 Glue Session State Change null->READY")
}
