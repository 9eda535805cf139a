package handler_test

// How every handler test is set up. A testbed is one sessionwatch
// deployment (its configuration, Glue, the DynamoDB table, EventBridge, a
// clock and a JSON log) with the real handler over it:
//
//	tb := newTestbed(t, env("SESSION_IDS", "s-1"))    // all in memory
//	tb.glue.put(bare("s-1", "READY"), nil)           // what Glue answers
//	tb.poll(t, lambdaCtx(), handler.Request{})       // one run
//	wantEvents(t, tb.events(t), "s-1#1 Glue Session State Change null->READY")
//	snap := tb.snapshot(t, "s-1")                    // what the table holds
//
// and the same test on the wire, with moto, the Glue emulator and a
// minute between runs:
//
//	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute), env("SESSION_IDS", "s-1"))
//	tb.emu.Put(emuSession("s-1", "READY"))
//	tb.mustInvoke(t, "")
//	wantEvents(t, tb.received(t), "s-1#1 Glue Session State Change null->READY")
//
// Without options everything is in memory and a test takes milliseconds:
// keep it so unless the test is about the wire. The options:
//
//	glueEmulator()   Glue is tb.emu (internal/glueemu over HTTP, through a
//	                 real *glue.Client) instead of tb.glue (fakeGlue)
//	onMoto()         DynamoDB and EventBridge are moto, through the real SDK
//	                 clients, instead of tb.db and tb.eb (internal/fakeaws):
//	                 a fresh table, and a bus whose one rule delivers every
//	                 event to an SQS queue, read back with tb.received
//	ruleMatching(p)  onMoto, the rule delivering only what p matches
//	viaFaultProxy()  onMoto, the clients going through tb.proxy
//	env(name, v)     an environment variable of the function; the config is
//	                 read by handler.ConfigFromEnv, as at cold start
//	clockStep(d)     the clock (tb.now, testStart at first, moved by
//	                 tb.advance) also moves by d after every tb.poll and
//	                 tb.invoke
//
// Runs: tb.poll (Poll; the test fails on an error), tb.invoke and
// tb.mustInvoke (Invoke as Lambda calls it: the raw payload, lambdaCtx, the
// result decoded), or tb.h.Poll and tb.h.Invoke to look at the error.
// tb.newHandler builds another handler over the same backends (a second
// Lambda instance, for races); tb.reconfigure changes the configuration.
//
// Faults, by service:
//
//	Glue         tb.glue.getErr, listErr; tb.emu.Inject, SetLatency
//	DynamoDB     tb.db.Fail, Unprocessed, Latency; on moto tb.proxy.inject
//	EventBridge  tb.bus.failWith (whole calls), tb.bus.failEntries (single
//	             entries) on any backend; tb.eb.Latency; on moto
//	             tb.proxy.inject (on the wire, through the SDK's retries)
//
// What runs left, whatever the backends: tb.events (accepted by
// EventBridge), tb.attempts (sent), tb.received (delivered by the rule),
// all as []event; tb.batchSizes, tb.ebCalls, tb.dbCalls, tb.writes and the
// Glue backend's own counts. tb.reset forgets them all. The table is read
// only through tb.snapshot, tb.snapshots, tb.registry and tb.items.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/awstest"
	"sessionwatch/internal/emftest"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/internal/glueemu"
	"sessionwatch/internal/wiring"
	"sessionwatch/state"
)

const (
	// testTable and testBus name the in-memory table and bus; moto's get
	// unique names.
	testTable = "snapshots"
	testBus   = "test-bus"
	// testSource is EVENT_SOURCE.
	testSource = "sessionwatch.test"
	// functionARN is the ARN of the function in lambdaCtx, testFunction
	// its name.
	functionARN  = "arn:aws:lambda:us-east-1:123456789012:function:sessionwatch"
	testFunction = "sessionwatch"
	// testSecret is a DefaultArguments value of the sessions of
	// fullSession and emuSession, which nothing a run produces may hold.
	testSecret = "hunter2-do-not-leak"
)

// Credentials of every moto client: distinctive, so that the secret scan
// can look for them in everything a run produced.
const (
	wireKeyID  = "AKIASESSIONWATCHFAULT"
	wireSecret = "wJalrXUtnFEMI/K7MDENG/sessionwatchSECRETkey"
)

// fastBackoff replaces the SDK's backoff (up to 20 s) in every client a
// testbed builds, so that the SDK's retries (same retryable errors, same
// number of attempts) keep a test fast.
const fastBackoff = time.Millisecond

// noMatch is an event pattern no sessionwatch event matches: for
// ruleMatching, when a moto test publishes many events (moto delivers
// about one event to SQS every 90 ms) and reads tb.events instead.
const noMatch = `{"source":["nothing.matches.this"]}`

// testStart is the clock of a testbed's first run.
var testStart = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// option chooses a testbed's backends, configuration or clock.
type option func(*choices)

type choices struct {
	fresh    bool
	env      map[string]string
	emulator bool
	moto     bool
	pattern  string
	proxy    bool
	step     time.Duration
}

// env sets one environment variable of the function (SESSION_IDS,
// DISCOVER, MAX_CONCURRENCY, ...), over the testbed's defaults: its table
// and bus, EVENT_SOURCE=testSource, MAX_CONCURRENCY=4, and the STUCK and
// RUNNING_LONG alerts off (their defaults are on; a test of alerts sets
// them).
func env(name, value string) option {
	return func(c *choices) {
		if c.env == nil {
			c.env = map[string]string{}
		}
		c.env[name] = value
	}
}

// glueEmulator makes Glue the emulator (tb.emu), spoken to over HTTP by a
// real *glue.Client configured as the bootstrap configures it, instead of
// fakeGlue (tb.glue).
func glueEmulator() option { return func(c *choices) { c.emulator = true } }

// onMoto makes DynamoDB and EventBridge moto, through the real SDK
// clients: a fresh table, and a fresh bus with one rule delivering every
// event to an SQS queue (tb.received). tb.db and tb.eb are then nil.
func onMoto() option { return func(c *choices) { c.moto = true } }

// ruleMatching is onMoto with the bus's rule matching pattern instead of
// every event.
func ruleMatching(pattern string) option {
	return func(c *choices) { c.moto, c.pattern = true, pattern }
}

// viaFaultProxy is onMoto with the DynamoDB and EventBridge clients going
// through tb.proxy, which fails the calls it is told to on the wire.
func viaFaultProxy() option { return func(c *choices) { c.moto, c.proxy = true, true } }

// freshTable leaves the table as a deploy creates it, with no run item:
// the first run then migrates it (see state.Migrate). Without it, the
// table is at this version's layout, as after a first run.
func freshTable() option { return func(c *choices) { c.fresh = true } }

// clockStep moves the clock on by d after every tb.poll and tb.invoke, as
// a schedule would between runs.
func clockStep(d time.Duration) option { return func(c *choices) { c.step = d } }

// testbed is one sessionwatch deployment and the handler over it; see the
// top of this file.
type testbed struct {
	cfg  handler.Config
	h    *handler.Handler // built by newTestbed over the fields below
	now  time.Time        // the clock of every handler of the testbed
	logs *syncBuffer      // every handler's JSON log, debug level
	// metrics holds every handler's EMF documents, one a line; each is
	// validated against the EMF schema when the test ends.
	metrics *syncBuffer
	// store is the state.Store of every handler (tune it, e.g. Backoff;
	// read the table through tb.snapshot and tb.registry).
	store *state.Store
	// bus is what every handler publishes through.
	bus *busRecorder

	glue *fakeGlue         // Glue, unless glueEmulator
	emu  *glueemu.Emulator // Glue, with glueEmulator

	db *fakeaws.DynamoDB    // DynamoDB, unless onMoto
	eb *fakeaws.EventBridge // EventBridge behind tb.bus, unless onMoto
	// motoBus is the EventBridge bus, with onMoto; motoBus.ARN is its ARN.
	motoBus *awstest.Bus
	proxy   *faultProxy // with viaFaultProxy

	glueAPI handler.Glue   // tb.glue, or the client of tb.emu
	dbAPI   state.DynamoDB // tb.db, or the client of moto
	table   string         // the table created, whatever cfg.Table says
	step    time.Duration
	logger  *slog.Logger
	calls   *awstest.CallCounter // the moto clients' calls
	direct  *dynamodb.Client     // to moto, uncounted and unproxied

	mu        sync.Mutex
	delivered []event // read from the rule's queue since the last reset
	drainErr  error   // of reset's drain of the queue, for received to report
}

// newTestbed builds a testbed with the backends, configuration and clock
// the options choose: by default the in-memory fakes, fakeGlue, a still
// clock at testStart and no session configured.
func newTestbed(t *testing.T, opts ...option) *testbed {
	t.Helper()
	var c choices
	for _, o := range opts {
		o(&c)
	}
	tb := &testbed{now: testStart, logs: &syncBuffer{}, metrics: &syncBuffer{}, step: c.step}
	t.Cleanup(func() { emftest.Documents(t, tb.metrics.String()) })
	tb.logger = slog.New(slog.NewJSONHandler(tb.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var eb handler.EventBridge
	if c.moto {
		endpoint := awstest.Endpoint(t)
		awsCfg := awstest.Config(t, endpoint)
		tb.table = awstest.NewTable(t, awsCfg)
		tb.motoBus = awstest.NewBus(t, awsCfg, c.pattern)
		tb.direct = dynamodb.NewFromConfig(awsCfg)
		clients := awsCfg.Copy()
		if c.proxy {
			tb.proxy = newFaultProxy(t, endpoint)
			clients.BaseEndpoint = aws.String(tb.proxy.URL)
		}
		clients.Credentials = credentials.NewStaticCredentialsProvider(wireKeyID, wireSecret, "")
		clients.Retryer = func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = fastBackoff })
		}
		tb.calls = awstest.CountCalls(&clients)
		tb.dbAPI, eb = dynamodb.NewFromConfig(clients), eventbridge.NewFromConfig(clients)
	} else {
		tb.table = testTable
		tb.db, tb.eb = fakeaws.NewDynamoDB(testTable), fakeaws.NewEventBridge()
		tb.dbAPI, eb = tb.db, tb.eb
	}
	tb.bus = newBusRecorder(eb)
	t.Cleanup(func() { reportViolations(t, tb.bus) }) // see schema_test.go
	if !c.fresh {
		tb.seed(t, map[string]dbtypes.AttributeValue{
			state.KeyAttribute: &dbtypes.AttributeValueMemberS{Value: state.RunKey},
			"Layout":           &dbtypes.AttributeValueMemberN{Value: strconv.Itoa(state.Layout)},
		})
	}

	if c.emulator {
		tb.emu = glueemu.New()
		srv := httptest.NewServer(tb.emu)
		t.Cleanup(srv.Close)
		tb.glueAPI = emuGlue(srv.URL)
	} else {
		tb.glue = newFakeGlue()
		tb.glueAPI = tb.glue
	}

	vars := map[string]string{"SNAPSHOT_TABLE": tb.table, "EVENT_BUS_NAME": testBus, "EVENT_SOURCE": testSource, "MAX_CONCURRENCY": "4",
		"STUCK_MINUTES": "0", "RUNNING_HOURS": "off"}
	if tb.motoBus != nil {
		vars["EVENT_BUS_NAME"] = tb.motoBus.Name
	}
	maps.Copy(vars, c.env)
	cfg, err := handler.ConfigFromEnv(func(name string) (string, bool) { v, ok := vars[name]; return v, ok })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	tb.reconfigure(func(into *handler.Config) { *into = cfg })
	return tb
}

// reconfigure changes the configuration and rebuilds tb.store and tb.h
// over it, as a new deployment would.
func (tb *testbed) reconfigure(change func(*handler.Config)) {
	change(&tb.cfg)
	tb.store = state.NewStore(tb.dbAPI, tb.cfg.Table)
	tb.h = tb.newHandler(nil, nil)
}

// newHandler builds another handler over the testbed's configuration,
// store, clock and log, as another Lambda instance would be; g and eb,
// when not nil, replace tb's Glue and tb.bus for it.
func (tb *testbed) newHandler(g handler.Glue, eb handler.EventBridge) *handler.Handler {
	if g == nil {
		g = tb.glueAPI
	}
	if eb == nil {
		eb = tb.bus
	}
	h := handler.New(tb.cfg, g, tb.store, eb, tb.logger)
	h.Now = func() time.Time { return tb.now }
	h.Metrics, h.FunctionName = tb.metrics, testFunction
	return h
}

// advance moves the clock on by d.
func (tb *testbed) advance(d time.Duration) {
	if d != 0 {
		tb.now = tb.now.Add(d)
	}
}

// lambdaCtx is a context as Lambda gives the handler: it carries
// functionARN, from which events name their session's ARN.
func lambdaCtx() context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{InvokedFunctionArn: functionARN})
}

// poll runs one poll with tb.h and fails the test on an error.
func (tb *testbed) poll(t *testing.T, ctx context.Context, req handler.Request) *handler.Result {
	t.Helper()
	res, err := tb.h.Poll(ctx, req)
	tb.advance(tb.step)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	tb.checkDryRun(t, res)
	return res
}

// invoke runs tb.h the way Lambda invokes the function (the raw payload,
// lambdaCtx) and decodes its result.
func (tb *testbed) invoke(t *testing.T, payload string) (handler.Result, error) {
	t.Helper()
	out, err := tb.h.Invoke(lambdaCtx(), []byte(payload))
	tb.advance(tb.step)
	var res handler.Result
	if err == nil {
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatalf("result is not JSON: %v: %s", jerr, out)
		}
		tb.checkDryRun(t, &res)
	}
	return res, err
}

// mustInvoke is invoke that fails the test on an error.
func (tb *testbed) mustInvoke(t *testing.T, payload string) handler.Result {
	t.Helper()
	res, err := tb.invoke(t, payload)
	if err != nil {
		t.Fatalf("invoke %s: %v", payload, err)
	}
	return res
}

// reset forgets what the runs so far left: events, attempts, deliveries
// (the rule's queue is drained) and the call counts of DynamoDB,
// EventBridge and Glue. The table, Glue's sessions, the hooks and the
// counts of tb.proxy stay.
func (tb *testbed) reset() {
	tb.bus.reset()
	if tb.db != nil {
		tb.db.Reset()
		tb.eb.Reset()
	}
	if tb.calls != nil {
		tb.calls.Reset()
	}
	if tb.glue != nil {
		tb.glue.resetCalls()
	}
	if tb.emu != nil {
		tb.emu.ResetCalls()
	}
	if tb.motoBus != nil {
		// Moto delivers during PutEvents: what the queue holds now came
		// before the reset.
		_, err := tb.motoBus.Drain(context.Background())
		tb.mu.Lock()
		tb.drainErr = errors.Join(tb.drainErr, err)
		tb.mu.Unlock()
	}
	tb.mu.Lock()
	tb.delivered = nil
	tb.mu.Unlock()
}

// events returns the entries EventBridge accepted since the last reset, in
// the order sent.
func (tb *testbed) events(t *testing.T) []event {
	t.Helper()
	return decodeEvents(t, tb.bus.acceptedEntries())
}

// attempts returns every entry sent to EventBridge since the last reset,
// accepted or not, in the order sent.
func (tb *testbed) attempts(t *testing.T) []event {
	t.Helper()
	return decodeEvents(t, slices.Concat(tb.bus.calls()...))
}

// batchSizes returns the number of entries of every PutEvents call since
// the last reset, sorted: batches are sent in parallel, in no set order.
func (tb *testbed) batchSizes() []int {
	var out []int
	for _, b := range tb.bus.calls() {
		out = append(out, len(b))
	}
	slices.Sort(out)
	return out
}

// ebCalls counts the PutEvents calls since the last reset, failed ones
// included.
func (tb *testbed) ebCalls() int { return len(tb.bus.calls()) }

// received returns the events the moto bus's rule delivered to its queue
// since the last reset, as a downstream consumer receives them, sorted by
// session and sequence (the queue keeps no order).
func (tb *testbed) received(t *testing.T) []event {
	t.Helper()
	raws := tb.motoBus.Receive(t)
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.drainErr != nil {
		t.Fatalf("draining the queue at a reset: %v", tb.drainErr)
	}
	for _, raw := range raws {
		tb.delivered = append(tb.delivered, decodeDelivered(t, raw))
	}
	out := slices.Clone(tb.delivered)
	slices.SortFunc(out, func(a, b event) int {
		if c := strings.Compare(a.detail.SessionID, b.detail.SessionID); c != 0 {
			return c
		}
		return int(a.detail.Sequence - b.detail.Sequence)
	})
	return out
}

// dbCalls counts the DynamoDB calls of the handlers since the last reset,
// by operation ("PutItem"), attempts the SDK retried included.
func (tb *testbed) dbCalls() map[string]int {
	if tb.db != nil {
		return tb.db.Calls()
	}
	out := map[string]int{}
	for op, n := range tb.calls.Counts() {
		if name, ok := strings.CutPrefix(op, "DynamoDB."); ok {
			out[name] = n
		}
	}
	return out
}

// writes counts the DynamoDB writes since the last reset.
func (tb *testbed) writes() int {
	c := tb.dbCalls()
	return c["PutItem"] + c["UpdateItem"] + c["DeleteItem"]
}

// seed stores item in the table as it is, without a call being counted.
func (tb *testbed) seed(t *testing.T, item map[string]dbtypes.AttributeValue) {
	t.Helper()
	if tb.db != nil {
		if err := tb.db.SetItem(tb.table, item); err != nil {
			t.Fatalf("seed: %v", err)
		}
		return
	}
	if _, err := tb.direct.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(tb.table), Item: item}); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

// items returns every item of the table, the registry's included, by
// partition key, read without a call being counted.
func (tb *testbed) items(t *testing.T) map[string]map[string]dbtypes.AttributeValue {
	t.Helper()
	if tb.db != nil {
		return tb.db.Items(tb.table)
	}
	out := map[string]map[string]dbtypes.AttributeValue{}
	p := dynamodb.NewScanPaginator(tb.direct, &dynamodb.ScanInput{TableName: aws.String(tb.table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("scan %s: %v", tb.table, err)
		}
		for _, item := range page.Items {
			k, _ := item[fakeaws.DefaultHashKey].(*dbtypes.AttributeValueMemberS)
			if k == nil {
				t.Fatalf("item without a string %s: %v", fakeaws.DefaultHashKey, item)
			}
			out[k.Value] = item
		}
	}
	return out
}

// snapshots returns every session's snapshot in the table.
func (tb *testbed) snapshots(t *testing.T) map[string]*state.Snapshot {
	t.Helper()
	out := map[string]*state.Snapshot{}
	for id, item := range tb.items(t) {
		if strings.HasPrefix(id, "\x1f") {
			continue // the outbox and the run item
		}
		var s state.Snapshot
		if err := attributevalue.UnmarshalMap(item, &s); err != nil {
			t.Fatalf("snapshot %s: %v", id, err)
		}
		out[id] = &s
	}
	return out
}

// snapshot returns the stored snapshot of id, or nil.
func (tb *testbed) snapshot(t *testing.T, id string) *state.Snapshot {
	t.Helper()
	return tb.snapshots(t)[id]
}

// registry returns the ids of the watched sessions (the items on the
// shelf that are not outbox events), sorted.
func (tb *testbed) registry(t *testing.T) []string {
	t.Helper()
	var ids []string
	for id, item := range tb.items(t) {
		if _, ok := item[state.ShelfAttribute]; ok && !strings.HasPrefix(id, state.OutboxPrefix) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// outbox returns the events the outbox keeps, by eventId.
func (tb *testbed) outbox(t *testing.T) map[string]state.Event {
	t.Helper()
	out := map[string]state.Event{}
	for id, item := range tb.items(t) {
		if strings.HasPrefix(id, state.OutboxPrefix) {
			var ev state.Event
			if err := attributevalue.UnmarshalMap(item, &ev); err != nil {
				t.Fatalf("outbox item %q: %v", id, err)
			}
			if _, ok := item[state.TTLAttribute]; ok {
				t.Errorf("outbox item %s has a TTL", ev.EventID)
			}
			out[ev.EventID] = ev
		}
	}
	return out
}

// pending returns the events of session id that the outbox keeps, in
// sequence order.
func (tb *testbed) pending(t *testing.T, id string) []state.Event {
	t.Helper()
	var out []state.Event
	for _, ev := range tb.outbox(t) {
		if ev.SessionID == id {
			out = append(out, ev)
		}
	}
	slices.SortFunc(out, func(a, b state.Event) int { return cmp.Compare(a.Sequence, b.Sequence) })
	return out
}

// run returns the run item: the table's layout and where the last run cut
// short stopped.
func (tb *testbed) run(t *testing.T) state.Run {
	t.Helper()
	var run state.Run
	if item, ok := tb.items(t)[state.RunKey]; ok {
		if err := attributevalue.UnmarshalMap(item, &run); err != nil {
			t.Fatalf("run item: %v", err)
		}
	}
	return run
}

// --- Events -----------------------------------------------------------------

// event is one event as a test sees it, on any backend: its PutEvents entry
// (for an event read back from a rule's queue, the entry rebuilt from what
// was delivered: detail-type, source, resources, time and detail), with
// the detail decoded twice: into handler.Detail, and into a map to see
// which fields are present.
type event struct {
	entry  ebtypes.PutEventsRequestEntry
	detail handler.Detail
	fields map[string]any
}

// String is the event as wantEvents compares it:
// "id#sequence detail-type previous->status".
func (e event) String() string {
	return fmt.Sprintf("%s#%d %s %s->%s", e.detail.SessionID, e.detail.Sequence, aws.ToString(e.entry.DetailType), orNull(e.detail.PreviousStatus), orNull(e.detail.Status))
}

func orNull(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

// wantEvents fails unless got are the events want, in order, as
// event.String renders them.
func wantEvents(t *testing.T, got []event, want ...string) {
	t.Helper()
	g := make([]string, len(got))
	for i, e := range got {
		g[i] = e.String()
	}
	if !slices.Equal(g, want) {
		t.Errorf("events:\n got %q\nwant %q", g, want)
	}
}

func decodeEvent(t *testing.T, en ebtypes.PutEventsRequestEntry) event {
	t.Helper()
	e := event{entry: en}
	raw := []byte(aws.ToString(en.Detail))
	if err := json.Unmarshal(raw, &e.detail); err != nil {
		t.Fatalf("detail %s: %v", raw, err)
	}
	if err := json.Unmarshal(raw, &e.fields); err != nil {
		t.Fatalf("detail %s: %v", raw, err)
	}
	return e
}

func decodeEvents(t *testing.T, entries []ebtypes.PutEventsRequestEntry) []event {
	t.Helper()
	out := make([]event, len(entries))
	for i, en := range entries {
		out[i] = decodeEvent(t, en)
	}
	return out
}

// decodeDelivered decodes an event as a rule's SQS target receives it.
func decodeDelivered(t *testing.T, raw json.RawMessage) event {
	t.Helper()
	var d struct {
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Resources  []string        `json:"resources"`
		Time       time.Time       `json:"time"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("delivered event: %v: %s", err, raw)
	}
	checkDelivered(t, raw)
	return decodeEvent(t, ebtypes.PutEventsRequestEntry{
		DetailType: aws.String(d.DetailType), Source: aws.String(d.Source), Resources: d.Resources,
		Time: aws.Time(d.Time), Detail: aws.String(string(d.Detail)),
	})
}

// --- Sessions ---------------------------------------------------------------

// fullSession is a fakeGlue session with every field Glue can return set,
// secret default arguments included.
func fullSession(id, status string) *gluetypes.Session {
	created := time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)
	return &gluetypes.Session{
		Id: aws.String(id), Status: gluetypes.SessionStatus(status), CreatedOn: &created,
		Description: aws.String("notebook of the data team"), Role: aws.String("arn:aws:iam::123456789012:role/GlueNotebook"),
		Command:     &gluetypes.SessionCommand{Name: aws.String("glueetl"), PythonVersion: aws.String("3")},
		GlueVersion: aws.String("4.0"), WorkerType: gluetypes.WorkerTypeG1x, NumberOfWorkers: aws.Int32(5),
		MaxCapacity: aws.Float64(5), IdleTimeout: aws.Int32(60), ExecutionTime: aws.Float64(120),
		DPUSeconds: aws.Float64(600), Progress: 0.5, SecurityConfiguration: aws.String("encrypted"),
		ProfileName: aws.String("small"), Connections: &gluetypes.ConnectionsList{Connections: []string{"vpc-conn"}},
		SessionType:      gluetypes.SessionTypeLivy,
		DefaultArguments: map[string]string{"--secret-token": testSecret, "--enable-glue-datacatalog": "true"},
	}
}

// bare is a fakeGlue session with only an id and a status.
func bare(id, status string) *gluetypes.Session {
	return &gluetypes.Session{Id: aws.String(id), Status: gluetypes.SessionStatus(status)}
}

// emuSession is an emulator session with the fields a notebook session
// has, a secret default argument included.
func emuSession(id, status string) glueemu.Session {
	created := time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)
	return glueemu.Session{
		ID: id, Status: status, CreatedOn: &created, Role: "arn:aws:iam::123456789012:role/GlueNotebook",
		Command: &glueemu.Command{Name: "glueetl", PythonVersion: "3"}, GlueVersion: "4.0",
		WorkerType: "G.1X", NumberOfWorkers: aws.Int32(5), IdleTimeout: aws.Int32(60),
		DefaultArguments: map[string]string{"--secret-token": testSecret},
	}
}

// emuBare is an emulator session with only an id and a status.
func emuBare(id, status string) glueemu.Session {
	return glueemu.Session{ID: id, Status: status}
}

// --- The doubles the testbed puts in place ---------------------------------

// busRecorder is the EventBridge every handler of a testbed publishes
// through, in front of the backend (the in-memory fake or moto's client):
// it records every PutEvents call and the entries EventBridge accepted,
// and fails whole calls or single entries on demand. It is the tests' one
// EventBridge double.
type busRecorder struct {
	inner handler.EventBridge

	mu        sync.Mutex
	callErr   error
	entryFail func(i int, e ebtypes.PutEventsRequestEntry) (code, msg string)
	batches   [][]ebtypes.PutEventsRequestEntry
	accepted  []ebtypes.PutEventsRequestEntry
}

func newBusRecorder(inner handler.EventBridge) *busRecorder { return &busRecorder{inner: inner} }

// failWith fails every PutEvents call with err, EventBridge being down,
// until called with nil. The calls are still recorded.
func (b *busRecorder) failWith(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.callErr = err
}

// failEntries fails, until called with nil, every entry for which f
// returns a code (its index in the call, the entry): EventBridge answers
// it with that ErrorCode and msg, and the other entries go through.
func (b *busRecorder) failEntries(f func(i int, e ebtypes.PutEventsRequestEntry) (code, msg string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entryFail = f
}

// calls returns the entries of every call since the last reset.
func (b *busRecorder) calls() [][]ebtypes.PutEventsRequestEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.batches)
}

// acceptedEntries returns the entries accepted since the last reset.
func (b *busRecorder) acceptedEntries() []ebtypes.PutEventsRequestEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.accepted)
}

func (b *busRecorder) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches, b.accepted = nil, nil
}

// PutEvents records the call, answers it with the failures asked for, and
// passes what is left to the backend.
func (b *busRecorder) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	checkEntries(b, in.Entries) // see schema_test.go
	b.mu.Lock()
	b.batches = append(b.batches, slices.Clone(in.Entries))
	callErr, entryFail := b.callErr, b.entryFail
	b.mu.Unlock()
	if callErr != nil {
		return nil, callErr
	}
	results := make([]ebtypes.PutEventsResultEntry, len(in.Entries))
	var failed int32
	pass := make([]int, 0, len(in.Entries)) // indexes of the entries sent on
	for i, e := range in.Entries {
		if entryFail != nil {
			if code, msg := entryFail(i, e); code != "" {
				results[i] = ebtypes.PutEventsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String(msg)}
				failed++
				continue
			}
		}
		pass = append(pass, i)
	}
	if len(pass) == 0 {
		return &eventbridge.PutEventsOutput{Entries: results, FailedEntryCount: failed}, nil
	}
	fwd := in
	if len(pass) < len(in.Entries) {
		c := *in
		c.Entries = nil
		for _, i := range pass {
			c.Entries = append(c.Entries, in.Entries[i])
		}
		fwd = &c
	}
	out, err := b.inner.PutEvents(ctx, fwd, opts...)
	if err != nil {
		return out, err
	}
	if len(out.Entries) != len(pass) {
		return nil, fmt.Errorf("busRecorder: %d answers to %d entries", len(out.Entries), len(pass))
	}
	var accepted []ebtypes.PutEventsRequestEntry
	for j, r := range out.Entries {
		results[pass[j]] = r
		if aws.ToString(r.ErrorCode) == "" {
			accepted = append(accepted, in.Entries[pass[j]])
		}
	}
	b.mu.Lock()
	b.accepted = append(b.accepted, accepted...)
	b.mu.Unlock()
	return &eventbridge.PutEventsOutput{Entries: results, FailedEntryCount: failed + out.FailedEntryCount, ResultMetadata: out.ResultMetadata}, nil
}

// emuGlue is a Glue client for the emulator at url, configured as the
// bootstrap configures it (wiring.GlueOptions: as many attempts, the same
// retryable errors) but retrying after a millisecond, and without the
// adaptive mode's client-side rate limiting, which would make a session
// throttled for a whole run slow every other call of the test by seconds.
func emuGlue(url string) *glue.Client {
	cfg := aws.Config{Region: awstest.Region, Credentials: credentials.NewStaticCredentialsProvider(wireKeyID, wireSecret, "")}
	return glue.NewFromConfig(cfg, wiring.GlueOptions, func(o *glue.Options) {
		o.BaseEndpoint = aws.String(url)
		attempts := max(o.Retryer.MaxAttempts(), o.RetryMaxAttempts)
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts, so.MaxBackoff = attempts, fastBackoff
		})
	})
}

// wireFault is a failure the fault proxy answers instead of moto.
type wireFault struct {
	Op      string // "PutEvents", "PutItem", "BatchGetItem", "GetItem", "UpdateItem"
	Status  int
	Code    string
	Message string
	Times   int               // requests to fail; 0: until cleared
	Match   func([]byte) bool // nil: every request of Op
}

// faultProxy sits between the SDK clients and moto, answers the requests a
// fault matches with an AWS JSON error, and forwards the others.
type faultProxy struct {
	URL   string
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	faults []*wireFault
	counts map[string]int
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{proxy: httputil.NewSingleHostReverseProxy(u), counts: map[string]int{}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// inject adds a fault: the requests it matches fail from now on.
func (p *faultProxy) inject(f wireFault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, &f)
}

// clear removes every fault.
func (p *faultProxy) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// count returns how many requests of op reached the proxy, faulted or not.
func (p *faultProxy) count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[op]
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	_, op, _ := strings.Cut(target, ".")
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.mu.Lock()
	p.counts[op]++
	var hit *wireFault
	for i, f := range p.faults {
		if f.Op == op && (f.Match == nil || f.Match(body)) {
			hit = f
			if f.Times > 0 {
				if f.Times--; f.Times == 0 {
					p.faults = slices.Delete(p.faults, i, i+1)
				}
			}
			break
		}
	}
	p.mu.Unlock()
	if hit == nil {
		p.proxy.ServeHTTP(w, r)
		return
	}
	contentType := "application/x-amz-json-1.1"
	if strings.HasPrefix(target, "DynamoDB") {
		contentType = "application/x-amz-json-1.0"
	}
	out, _ := json.Marshal(map[string]string{"__type": hit.Code, "message": hit.Message})
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", "fault-proxy")
	w.WriteHeader(hit.Status)
	w.Write(out)
}

// syncBuffer is a bytes.Buffer safe for the concurrent runs of a race.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// gauge counts the calls in flight and the most there were at once.
type gauge struct {
	mu        sync.Mutex
	now, most int
}

// call is one call that lasts d.
func (g *gauge) call(d time.Duration) error {
	g.mu.Lock()
	g.now++
	g.most = max(g.most, g.now)
	g.mu.Unlock()
	time.Sleep(d)
	g.mu.Lock()
	g.now--
	g.mu.Unlock()
	return nil
}

// peak is the most calls there were in flight at once.
func (g *gauge) peak() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}
