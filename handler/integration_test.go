package handler_test

// Integration tests: the real handler, the real SDK clients, moto for
// DynamoDB and EventBridge (events read back through a rule that targets an
// SQS queue), and the in-repo Glue sessions emulator.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"sessionwatch/handler"
	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
	"sessionwatch/state"
)

const functionARN = "arn:aws:lambda:us-east-1:123456789012:function:sessionwatch"

// published is an event as a downstream rule's target receives it.
type published struct {
	DetailType string         `json:"detail-type"`
	Source     string         `json:"source"`
	Resources  []string       `json:"resources"`
	Time       time.Time      `json:"time"`
	Detail     handler.Detail `json:"detail"`
	Raw        map[string]any `json:"-"`
}

type world struct {
	emu   *glueemu.Emulator
	bus   *awstest.Bus
	table string
	calls *awstest.CallCounter
	cfg   handler.Config
	db    *dynamodb.Client
	eb    handler.EventBridge
	glue  *glue.Client
	now   time.Time
}

func newWorld(t *testing.T, configure ...func(*handler.Config)) *world {
	t.Helper()
	awsCfg := awstest.Config(t, awstest.Endpoint(t))
	calls := awstest.CountCalls(&awsCfg)
	emu := glueemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	w := &world{
		emu:   emu,
		table: awstest.NewTable(t, awsCfg),
		bus:   awstest.NewBus(t, awsCfg, ""),
		calls: calls,
		now:   time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
	}
	w.db = dynamodb.NewFromConfig(awsCfg)
	w.eb = eventbridge.NewFromConfig(awsCfg)
	w.glue = glue.NewFromConfig(awsCfg, func(o *glue.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	w.cfg = handler.Config{
		Table: w.table, EventBus: w.bus.Name, Source: "sessionwatch.test",
		MaxConcurrency: 4, RetentionDays: 30,
	}
	for _, f := range configure {
		f(&w.cfg)
	}
	return w
}

// handler builds a handler as the bootstrap does, over eb (the real client
// when nil).
func (w *world) handler(eb handler.EventBridge) *handler.Handler {
	if eb == nil {
		eb = w.eb
	}
	h := handler.New(w.cfg, w.glue, state.NewStore(w.db, w.table), eb, nil)
	h.Now = func() time.Time { return w.now }
	return h
}

// poll runs one poll the way Lambda invokes the function and returns its
// result; it advances the clock by a minute.
func (w *world) poll(t *testing.T, eb handler.EventBridge, payload string) (handler.Result, error) {
	t.Helper()
	res, err := invoke(t, w.handler(eb), payload)
	w.now = w.now.Add(time.Minute)
	return res, err
}

// invoke runs h the way Lambda invokes the function (raw payload, a
// context carrying the function's ARN) and decodes its result.
func invoke(t *testing.T, h *handler.Handler, payload string) (handler.Result, error) {
	t.Helper()
	ctx := lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{InvokedFunctionArn: functionARN})
	out, err := h.Invoke(ctx, []byte(payload))
	var res handler.Result
	if err == nil {
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatalf("result is not JSON: %v: %s", jerr, out)
		}
	}
	return res, err
}

func (w *world) mustPoll(t *testing.T, payload string) handler.Result {
	t.Helper()
	res, err := w.poll(t, nil, payload)
	if err != nil {
		t.Fatalf("poll %s: %v", payload, err)
	}
	return res
}

// received drains the bus's queue.
func (w *world) received(t *testing.T) []published {
	t.Helper()
	return decodeEvents(t, w.bus.Receive(t))
}

func decodeEvents(t *testing.T, raws []json.RawMessage) []published {
	t.Helper()
	out := make([]published, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, raw)
		}
		_ = json.Unmarshal(raw, &out[i].Raw)
	}
	slices.SortFunc(out, func(a, b published) int {
		if a.Detail.SessionID != b.Detail.SessionID {
			if a.Detail.SessionID < b.Detail.SessionID {
				return -1
			}
			return 1
		}
		return int(a.Detail.Sequence - b.Detail.Sequence)
	})
	return out
}

func (w *world) writes() int {
	return w.calls.Count("DynamoDB.PutItem") + w.calls.Count("DynamoDB.UpdateItem")
}

// summary renders events as "id#seq detail-type prev->status" lines.
func summary(events []published) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = fmt.Sprintf("%s#%d %s %s->%s", e.Detail.SessionID, e.Detail.Sequence, e.DetailType, str(e.Detail.PreviousStatus), str(e.Detail.Status))
	}
	return out
}

func str(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

func assertEvents(t *testing.T, got []published, want ...string) {
	t.Helper()
	if g := summary(got); !slices.Equal(g, want) {
		t.Errorf("events:\n got %q\nwant %q", g, want)
	}
}

func sess(id, status string) glueemu.Session {
	created := time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)
	return glueemu.Session{
		ID: id, Status: status, CreatedOn: &created, Role: "arn:aws:iam::123456789012:role/GlueNotebook",
		Command: &glueemu.Command{Name: "glueetl", PythonVersion: "3"}, GlueVersion: "4.0",
		WorkerType: "G.1X", NumberOfWorkers: aws.Int32(5), IdleTimeout: aws.Int32(60),
		DefaultArguments: map[string]string{"--secret-token": "hunter2-do-not-leak"},
	}
}

func TestLifecycle(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-ok", "s-bad"} })
	step := func(okStatus, badStatus, badErr string) {
		w.emu.Update("s-ok", func(s *glueemu.Session) { s.Status = okStatus })
		w.emu.Update("s-bad", func(s *glueemu.Session) { s.Status, s.ErrorMessage = badStatus, badErr })
	}
	w.emu.Put(sess("s-ok", "PROVISIONING"))
	w.emu.Put(sess("s-bad", "PROVISIONING"))

	res := w.mustPoll(t, "")
	if res.Polled != 2 || res.Published != 2 || res.Changed != 2 {
		t.Errorf("first run: got %+v, want 2 polled, 2 published, 2 changed", res)
	}
	assertEvents(t, w.received(t),
		"s-bad#1 Glue Session State Change null->PROVISIONING",
		"s-ok#1 Glue Session State Change null->PROVISIONING")

	step("READY", "READY", "")
	w.mustPoll(t, "{}")
	step("STOPPING", "FAILED", "OutOfMemoryError: Java heap space")
	w.mustPoll(t, `{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-24T12:00:00Z","region":"us-east-1","resources":[],"detail":{}}`)
	step("STOPPED", "FAILED", "OutOfMemoryError: Java heap space")
	w.mustPoll(t, "")
	events := w.received(t)
	assertEvents(t, events,
		"s-bad#2 Glue Session State Change PROVISIONING->READY",
		"s-bad#3 Glue Session State Change READY->FAILED",
		"s-bad#4 Glue Session Error READY->FAILED",
		"s-ok#2 Glue Session State Change PROVISIONING->READY",
		"s-ok#3 Glue Session State Change READY->STOPPING",
		"s-ok#4 Glue Session State Change STOPPING->STOPPED")

	for _, e := range events {
		if e.Source != "sessionwatch.test" {
			t.Errorf("source: got %q", e.Source)
		}
		if want := "arn:aws:glue:us-east-1:123456789012:session/" + e.Detail.SessionID; !slices.Equal(e.Resources, []string{want}) {
			t.Errorf("resources: got %q, want %q", e.Resources, want)
		}
		if !e.Time.Equal(e.Detail.ObservedAt) {
			t.Errorf("time %v != observedAt %v", e.Time, e.Detail.ObservedAt)
		}
		if e.Detail.PreviousObservedAt == nil {
			t.Errorf("%s#%d: previousObservedAt is null after the first sighting", e.Detail.SessionID, e.Detail.Sequence)
		}
	}
	failed, errEvent := events[1], events[2]
	if failed.Detail.Severity != "ERROR" || errEvent.Detail.Severity != "ERROR" || events[0].Detail.Severity != "INFO" {
		t.Errorf("severities: got %s %s %s, want INFO ERROR ERROR", events[0].Detail.Severity, failed.Detail.Severity, errEvent.Detail.Severity)
	}
	if got := str(errEvent.Detail.ErrorMessage); got != "OutOfMemoryError: Java heap space" {
		t.Errorf("errorMessage: got %q", got)
	}
	if got := failed.Detail.Message; got != "Session s-bad changed from READY to FAILED" {
		t.Errorf("message: got %q", got)
	}

	// Both sessions are finished: the next run polls neither.
	w.emu.ResetCalls()
	res = w.mustPoll(t, "")
	if got := w.emu.Calls()["GetSession"]; got != 0 || res.Polled != 0 {
		t.Errorf("after finish: %d GetSession calls, %d polled; want 0", got, res.Polled)
	}
	item, err := w.db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &w.table, Key: keyOf("s-ok")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := item.Item["ExpiresAt"]; !ok {
		t.Errorf("finished snapshot has no ExpiresAt: %v", item.Item)
	}
}

func TestQuietRunWritesNothing(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-1", "s-2"} })
	w.emu.Put(sess("s-1", "READY"))
	w.emu.Put(sess("s-2", "PROVISIONING"))
	w.mustPoll(t, "")
	w.received(t)
	w.calls.Reset()
	res := w.mustPoll(t, "")
	if w.writes() != 0 || w.calls.Count("EventBridge.PutEvents") != 0 {
		t.Errorf("quiet run: %v calls; want no writes and no PutEvents", w.calls.Counts())
	}
	if res.Polled != 2 || res.Published != 0 || res.Changed != 0 {
		t.Errorf("quiet run result: %+v", res)
	}
	if got := w.received(t); len(got) != 0 {
		t.Errorf("quiet run published %q", summary(got))
	}
}

func TestErrorChanges(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-1"} })
	s := sess("s-1", "READY")
	s.ErrorMessage = "first error"
	w.emu.Put(s)
	w.mustPoll(t, "")
	w.emu.Update("s-1", func(s *glueemu.Session) { s.ErrorMessage = "second error" })
	w.mustPoll(t, "")
	w.emu.Update("s-1", func(s *glueemu.Session) { s.ErrorMessage = "" })
	res := w.mustPoll(t, "") // cleared: saved, no event
	if res.Changed != 1 || res.Published != 0 {
		t.Errorf("cleared error: got %+v, want 1 changed, 0 published", res)
	}
	w.emu.Update("s-1", func(s *glueemu.Session) { s.ErrorMessage = "first error" })
	w.mustPoll(t, "")
	events := w.received(t)
	assertEvents(t, events,
		"s-1#1 Glue Session State Change null->READY",
		"s-1#2 Glue Session Error null->READY",
		"s-1#3 Glue Session Error READY->READY",
		"s-1#4 Glue Session Error READY->READY")
	if got := str(events[2].Detail.PreviousErrorMessage); got != "first error" {
		t.Errorf("previousErrorMessage: got %q", got)
	}
	if got := str(events[3].Detail.PreviousErrorMessage); got != "null" {
		t.Errorf("after clearing, previousErrorMessage: got %q, want null", got)
	}
}

func TestDeletionAndUnknownID(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-1"} })
	w.emu.Put(sess("s-1", "READY"))
	w.mustPoll(t, "")
	w.emu.Delete("s-1")
	res := w.mustPoll(t, `{"sessionIds": ["never-existed"]}`)
	if !slices.Equal(res.NotFound, []string{"never-existed"}) {
		t.Errorf("notFound: got %q", res.NotFound)
	}
	events := w.received(t)
	assertEvents(t, events,
		"s-1#1 Glue Session State Change null->READY",
		"s-1#2 Glue Session Deleted READY->null")
	if d := events[1].Detail; d.Severity != "WARN" || d.Session != nil {
		t.Errorf("deleted event: severity %s, session %+v", d.Severity, d.Session)
	}
	w.emu.ResetCalls()
	w.mustPoll(t, "")
	if got := w.received(t); len(got) != 0 || w.emu.Calls()["GetSession"] != 0 {
		t.Errorf("after deletion: events %q, %d GetSession calls", summary(got), w.emu.Calls()["GetSession"])
	}
}

func TestTrackUntrack(t *testing.T) {
	w := newWorld(t)
	w.emu.Put(sess("s-1", "READY"))
	w.emu.Put(sess("s-2", "READY"))
	res := w.mustPoll(t, `{"track": ["s-1", "s-2"]}`)
	if res.Watched != 2 {
		t.Errorf("after track: watched %d, want 2", res.Watched)
	}
	res = w.mustPoll(t, `{"untrack": ["s-2"]}`)
	if res.Watched != 1 {
		t.Errorf("after untrack: watched %d, want 1", res.Watched)
	}
	ids, err := state.NewStore(w.db, w.table).Tracked(context.Background())
	if err != nil || !slices.Equal(ids, []string{"s-1"}) {
		t.Errorf("registry: got %q, %v; want [s-1]", ids, err)
	}
	assertEvents(t, w.received(t),
		"s-1#1 Glue Session State Change null->READY",
		"s-2#1 Glue Session State Change null->READY")
}

func TestDiscoveryWithTags(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) {
		c.Discover, c.DiscoverTags = true, map[string]string{"team": "data"}
	})
	w.emu.SetPageSize(2)
	for i := range 5 {
		s := sess(fmt.Sprintf("d-%d", i), "READY")
		s.Tags = map[string]string{"team": "data"}
		w.emu.Put(s)
	}
	other := sess("other", "READY")
	other.Tags = map[string]string{"team": "web"}
	w.emu.Put(other)
	res := w.mustPoll(t, "")
	if res.Polled != 5 || w.emu.Calls()["GetSession"] != 0 {
		t.Errorf("discovery: polled %d with %v Glue calls; want 5 polled by ListSessions alone", res.Polled, w.emu.Calls())
	}
	if got := w.emu.Calls()["ListSessions"]; got != 3 {
		t.Errorf("ListSessions calls: got %d, want 3 pages", got)
	}
	if got := len(w.received(t)); got != 5 {
		t.Errorf("events: got %d, want 5", got)
	}
	// A request overrides the tags for one run.
	res = w.mustPoll(t, `{"tags": {"team": "web"}}`)
	assertEvents(t, w.received(t), "other#1 Glue Session State Change null->READY")
	if res.Polled != 1 {
		t.Errorf("tag override: polled %d, want 1", res.Polled)
	}
}

func TestDryRun(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-1"} })
	w.emu.Put(sess("s-1", "READY"))
	res := w.mustPoll(t, `{"dryRun": true, "track": ["s-2"]}`)
	if res.Events == nil || len(*res.Events) != 1 || (*res.Events)[0].DetailType != handler.StateChange {
		t.Fatalf("dry run events: got %+v", res.Events)
	}
	var d map[string]any
	if err := json.Unmarshal((*res.Events)[0].Detail, &d); err != nil || d["sessionId"] != "s-1" {
		t.Errorf("dry run detail: %v %v", d, err)
	}
	if w.writes() != 0 || w.calls.Count("EventBridge.PutEvents") != 0 {
		t.Errorf("dry run made calls: %v", w.calls.Counts())
	}
	if got := w.received(t); len(got) != 0 {
		t.Errorf("dry run published %q", summary(got))
	}
	// The real run after it publishes the same event id.
	w.mustPoll(t, "")
	events := w.received(t)
	if len(events) != 1 || events[0].Detail.EventID != d["eventId"] {
		t.Errorf("after dry run: got %q, want one event with id %v", summary(events), d["eventId"])
	}
}

// flakyBus fails whole PutEvents calls while down, and fails the entries
// whose detail type is in failTypes with the given code.
type flakyBus struct {
	inner     handler.EventBridge
	mu        sync.Mutex
	down      bool
	failTypes map[string]string
}

func (f *flakyBus) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.mu.Lock()
	down, failTypes := f.down, f.failTypes
	f.mu.Unlock()
	if down {
		return nil, errors.New("api error InternalException: event bus unavailable")
	}
	var pass []ebtypes.PutEventsRequestEntry
	results := make([]ebtypes.PutEventsResultEntry, len(in.Entries))
	failed := int32(0)
	for i, e := range in.Entries {
		if code, ok := failTypes[aws.ToString(e.DetailType)]; ok {
			results[i] = ebtypes.PutEventsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected")}
			failed++
			continue
		}
		pass = append(pass, e)
	}
	if len(pass) > 0 {
		out, err := f.inner.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: pass}, opts...)
		if err != nil {
			return nil, err
		}
		j := 0
		for i := range results {
			if results[i].ErrorCode == nil {
				results[i] = out.Entries[j]
				j++
			}
		}
		failed += out.FailedEntryCount
	}
	return &eventbridge.PutEventsOutput{Entries: results, FailedEntryCount: failed}, nil
}

func TestOutageThenSessionMovesOn(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-1"} })
	bus := &flakyBus{inner: w.eb, down: true}
	w.emu.Put(sess("s-1", "READY"))
	_, err := w.poll(t, bus, "")
	if err == nil {
		t.Fatal("a run whose every event failed to publish returned no error")
	}
	w.emu.Update("s-1", func(s *glueemu.Session) { s.Status, s.ErrorMessage = "STOPPING", "boom" })
	_, err = w.poll(t, bus, "")
	if err == nil {
		t.Fatal("second run with the bus down returned no error")
	}
	w.emu.Update("s-1", func(s *glueemu.Session) { s.Status = "STOPPED" })
	bus.down = false
	res, err := w.poll(t, bus, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Published != 4 || res.Pending != 0 {
		t.Errorf("recovery run: got %+v, want 4 published, 0 pending", res)
	}
	assertEvents(t, w.received(t),
		"s-1#1 Glue Session State Change null->READY",
		"s-1#2 Glue Session State Change READY->STOPPING",
		"s-1#3 Glue Session Error READY->STOPPING",
		"s-1#4 Glue Session State Change STOPPING->STOPPED")
}

func TestEntryFailure(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-1", "s-2"} })
	s := sess("s-1", "FAILED")
	s.ErrorMessage = "boom"
	w.emu.Put(s)
	w.emu.Put(sess("s-2", "READY"))
	bus := &flakyBus{inner: w.eb, failTypes: map[string]string{handler.ErrorChange: "AccessDeniedException"}}
	res, err := w.poll(t, bus, "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Published != 2 || res.Pending != 1 {
		t.Errorf("partial failure: got %+v, want 2 published, 1 pending", res)
	}
	first := w.received(t)
	assertEvents(t, first,
		"s-1#1 Glue Session State Change null->FAILED",
		"s-2#1 Glue Session State Change null->READY")
	bus.failTypes = nil
	res = w.mustPoll(t, "")
	if res.Published != 1 || res.Pending != 0 {
		t.Errorf("retry run: got %+v, want the pending event published", res)
	}
	assertEvents(t, w.received(t), "s-1#2 Glue Session Error null->FAILED")
}

func TestConcurrentRunsShareEventIDs(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-1", "s-2", "s-3"} })
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		w.emu.Put(sess(id, "READY"))
	}
	var wg sync.WaitGroup
	results := make([]error, 2)
	for i := range results {
		wg.Go(func() {
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: functionARN})
			_, results[i] = w.handler(nil).Invoke(ctx, nil)
		})
	}
	wg.Wait()
	for _, err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]map[string]bool{} // session#sequence -> event ids
	for _, e := range w.received(t) {
		k := fmt.Sprintf("%s#%d", e.Detail.SessionID, e.Detail.Sequence)
		if ids[k] == nil {
			ids[k] = map[string]bool{}
		}
		ids[k][e.Detail.EventID] = true
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
	res := w.mustPoll(t, "")
	if res.Changed != 0 || res.Published != 0 {
		t.Errorf("after the race: %+v, want nothing to do", res)
	}
}

func keyOf(id string) map[string]dbtypes.AttributeValue {
	return map[string]dbtypes.AttributeValue{"SessionId": &dbtypes.AttributeValueMemberS{Value: id}}
}

// TestBusByARN: EVENT_BUS_NAME may be the bus's ARN as well as its name.
func TestBusByARN(t *testing.T) {
	w := newWorld(t, func(c *handler.Config) { c.SessionIDs = []string{"s-1"} })
	w.cfg.EventBus = w.bus.ARN
	w.emu.Put(sess("s-1", "READY"))
	if res := w.mustPoll(t, ""); res.Published != 1 {
		t.Errorf("published %d, want 1", res.Published)
	}
	assertEvents(t, w.received(t), "s-1#1 Glue Session State Change null->READY")
}
