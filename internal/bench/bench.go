// Package bench measures what a sessionwatch run costs: its AWS calls and
// its duration. It drives the real handler (the Lambda entry point, built
// from the environment as the bootstrap builds it) against the in-repo Glue
// emulator, reached over HTTP by the real Glue client with production's
// retry options, and the in-memory DynamoDB and EventBridge stand-ins, each
// adding a fixed latency per call and counting calls by operation. It sets
// the counts beside their lower bound and the wall time beside its
// critical-path bound, samples memory, and runs a naive poller on the same
// fleet as the baseline a user would otherwise write.
//
// It is a tool and test helper: `make bench` runs it through
// internal/bench/run, and its tests assert the call counts. Production code
// never imports it.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"sessionwatch/handler"
	"sessionwatch/internal/wiring"
	"sessionwatch/state"
)

// Mode is how a run finds the sessions it watches.
type Mode string

const (
	// ByIDs watches the fleet by id (SESSION_IDS) and calls GetSession for
	// each.
	ByIDs Mode = "ids"
	// Discover watches what ListSessions returns (DISCOVER=true).
	Discover Mode = "discover"
	// Registry watches the sessions tracked in the table's registry, as
	// `sessionwatch track` and requests' "track" put them there (neither
	// SESSION_IDS nor DISCOVER), and calls GetSession for each. The ids
	// are tracked before the first run, in batches of
	// handler.MaxRequestIDs, through state.Store.Track.
	Registry Mode = "registry"
)

// Situation is what changed in the fleet since the previous run.
type Situation string

const (
	// Quiet: nothing changed since the previous run.
	Quiet Situation = "quiet"
	// Changed: 5% of the sessions changed status since the previous run.
	Changed Situation = "5% changed"
	// First: the first run, the table is empty and every session is new.
	First Situation = "first"
)

// Situations and Modes list the values in the order the tables print them.
// Modes are the modes measured at every fleet size; Registry is measured
// at the sizes the runner's -registry-n names.
var (
	Situations = []Situation{Quiet, Changed, First}
	Modes      = []Mode{ByIDs, Discover}
)

// Table is the snapshot table of every run.
const Table = "sessionwatch-bench"

// LambdaTimeout is the function timeout in template.yaml: a measured
// sessionwatch run gets it as its deadline, as in Lambda.
const LambdaTimeout = 120 * time.Second

// FunctionARN is the ARN a measured run is invoked with, so that its events
// carry resources as they do in Lambda.
const FunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:sessionwatch"

// Case is one measured run.
type Case struct {
	N         int
	Situation Situation
	Mode      Mode
	// Naive runs the naive poller instead of sessionwatch.
	Naive bool `json:",omitempty"`
	// Latency is added to every call of every service.
	Latency time.Duration
	// MaxConcurrency is MAX_CONCURRENCY; 0 leaves the variable unset (the
	// function's default).
	MaxConcurrency int `json:",omitempty"`
	// PageSize is the largest ListSessions page the emulator answers; 0 is
	// glueemu.DefaultPageSize.
	PageSize int `json:",omitempty"`
	// IdleMinutes is IDLE_MINUTES: 0 leaves idle detection off (the
	// default); above 0, each READY session's statements are listed.
	IdleMinutes int `json:",omitempty"`
	// ReadyEvery, above 1, makes one session in ReadyEvery READY (20: 5%)
	// and the others PROVISIONING, created ProvisioningAge before the run
	// (under STUCK_MINUTES, so no alert): unfinished like READY ones, they
	// are polled, stored and changed alike, and the bound differs only by
	// ListStatements. 0 leaves every session READY.
	ReadyEvery int `json:",omitempty"`
	// Statements is how many statements each READY session has run,
	// StatementBytes the size of one's code and output together;
	// LongStatements, when set, is the first READY session's number
	// instead (a long-lived notebook: several ListStatements pages).
	Statements     int `json:",omitempty"`
	LongStatements int `json:",omitempty"`
	StatementBytes int `json:",omitempty"`
	// StatementsPage is the largest ListStatements page the emulator
	// answers; 0 is glueemu.DefaultStatementsPageSize.
	StatementsPage int `json:",omitempty"`
	// ThrottleRate, when positive, makes Glue throttle above that many
	// requests a second (bursts of ThrottleBurst) during the measured run.
	ThrottleRate  float64 `json:",omitempty"`
	ThrottleBurst int     `json:",omitempty"`
	// IDLength, when above SessionID's 15 characters, pads every session
	// id to that many (Glue allows 255), so that the registry's index and
	// every snapshot hold ids of that length.
	IDLength int `json:",omitempty"`
	// MemoryMB is the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE)
	// as the bootstrap sees it: a child process (RunChild) sets the soft
	// memory limit the bootstrap sets from it (wiring.LimitMemory, half of
	// it, unless GOMEMLIMIT is set). 0 sets none; Run in a test's process
	// never sets it.
	MemoryMB int `json:",omitempty"`
	// IndexLatency, when positive, times a read of the table's index
	// alone (state.Store.ReadShelf, every page) after the measured run,
	// at that latency a call (Result.IndexReadAlone).
	IndexLatency time.Duration `json:",omitempty"`
	// HeapProfile, if set, is where the heap profile is written at the
	// peak of the heap in use during the measured run.
	HeapProfile string `json:",omitempty"`
	// Server is the URL of an AWS server (ServeAWS) holding the case's
	// fleet, which RunChild starts; if empty, Run serves the emulator and
	// the stand-ins in its own process.
	Server string `json:",omitempty"`
}

// String names the case in messages.
func (c Case) String() string {
	who := "sessionwatch"
	if c.Naive {
		who = "naive"
	}
	s := fmt.Sprintf("%s N=%d %s %s latency=%s", who, c.N, c.Situation, c.Mode, c.Latency)
	if c.ReadyEvery > 1 {
		s += fmt.Sprintf(" ready=1/%d", c.ReadyEvery)
	}
	if c.IdleMinutes > 0 {
		s += fmt.Sprintf(" idle=%dm statements=%d", c.IdleMinutes, c.Statements)
		if c.LongStatements > 0 {
			s += fmt.Sprintf(" (one session %d)", c.LongStatements)
		}
	}
	if c.ThrottleRate > 0 {
		s += fmt.Sprintf(" throttle=%g/s", c.ThrottleRate)
	}
	if c.IDLength > 0 {
		s += fmt.Sprintf(" ids of %d characters", c.IDLength)
	}
	return s
}

// Concurrency is the MAX_CONCURRENCY the run uses.
func (c Case) Concurrency() int {
	if c.MaxConcurrency > 0 {
		return c.MaxConcurrency
	}
	return DefaultMaxConcurrency
}

// DefaultMaxConcurrency is MAX_CONCURRENCY's default (README.md,
// Configuration).
const DefaultMaxConcurrency = 8

// Result is what a measured run did and took.
type Result struct {
	Case Case
	// Calls are the calls the measured run made, by operation, failed and
	// retried ones included; Bound is their lower bound.
	Calls Calls
	Bound Calls
	// Changed and Events are the sessions that changed and the events the
	// situation calls for (what the bound is computed from).
	Changed, Events int
	// Polled, Published and Errors are from the run's response.
	Polled, Published, Errors int
	// FirstError is the first error the response lists, if any.
	FirstError string `json:",omitempty"`
	// Wall is the run's wall time; CriticalPath its bound (see Formula).
	Wall, CriticalPath time.Duration
	// HeapBase is the heap in use when the run started (with the
	// stand-ins' state when Run serves them itself), HeapPeak the most
	// sampled during the run.
	HeapBase, HeapPeak uint64
	// RSSBase is the process's resident set when the run started and
	// RSSPeak its peak from then on: the child's maximum RSS when run by
	// RunChild (its peak is reset just before the run), else VmHWM.
	RSSBase, RSSPeak uint64
	// GlueMaxInFlight is the most Glue requests the emulator served at once.
	GlueMaxInFlight int
	// StatementBytes are the response bytes the emulator sent for the
	// run's ListStatements calls: every READY session's statements, code
	// and output, read (and dropped) on every run with idle detection on.
	StatementBytes int64
	// SetUpRSSPeak is the child's peak resident set before the measured
	// run (VmHWM before it is reset): the set-up, that is tracking the
	// ids and the seed run, a first run over the whole fleet when the
	// situation is not First. 0 when not run by RunChild.
	SetUpRSSPeak uint64 `json:",omitempty"`
	// IndexRead is the time the measured run spent reading the table's
	// index (the registry and the outbox): from the start of its first
	// Query page to the end of its last, its own work between the pages
	// included (on a fresh table, the migration between the two reads
	// too); IndexPages are its Query calls.
	IndexRead  time.Duration
	IndexPages int
	// IndexReadAlone is the time of the index read timed after the run
	// at Case.IndexLatency; 0 without one.
	IndexReadAlone time.Duration `json:",omitempty"`
	// Estimated marks a naive result computed (calls × latency), not run.
	Estimated bool `json:",omitempty"`
}

// Run sets up the fleet, the emulator and the stand-ins, brings the table
// to the case's situation (a first run at zero latency seeds it, then 5% of
// the sessions change in the emulator) and measures one run at the case's
// latency.
func Run(ctx context.Context, c Case) (*Result, error) {
	if c.N < 0 || (c.Mode != ByIDs && c.Mode != Discover && c.Mode != Registry) || (c.Naive && c.Mode == Registry) || (c.Situation != Quiet && c.Situation != Changed && c.Situation != First) ||
		min(c.IdleMinutes, c.ReadyEvery, c.Statements, c.LongStatements, c.StatementBytes, c.StatementsPage) < 0 {
		return nil, fmt.Errorf("bench: bad case %v", c)
	}
	fl := newFleet(c)
	var side awsSide
	if c.Server != "" {
		side = newRemoteAWS(c.Server)
	} else {
		side = startLocalAWS(fl, c)
	}
	defer side.close()
	g := glue.New(glue.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		BaseEndpoint: aws.String(side.glueURL()),
		// The SDK's default client, as in production: it keeps 10 idle
		// connections per host, more than MAX_CONCURRENCY's default 8.
		HTTPClient: awshttp.NewBuildableClient(),
	}, wiring.GlueOptions)

	db := &queryClock{DynamoDB: side.dynamoDB()}
	poll, err := poller(c, fl, g, db, side.eventBridge())
	if err != nil {
		return nil, err
	}
	if c.Mode == Registry {
		if err := track(ctx, db, fl); err != nil {
			return nil, err
		}
	}
	if c.Situation != First {
		out, err := poll(ctx)
		if err != nil {
			return nil, fmt.Errorf("bench: seed run of %v: %w", c, err)
		}
		if out.Errors > 0 || out.Polled != c.N {
			return nil, fmt.Errorf("bench: seed run of %v polled %d, %d errors: %s", c, out.Polled, out.Errors, out.FirstError)
		}
		if c.Situation == Changed {
			if err := side.change(); err != nil {
				return nil, err
			}
		}
	}
	changed, events := fl.expect(c.Situation)

	err = errors.Join(side.resetCalls(), side.setLatency(c.Latency))
	if c.ThrottleRate > 0 {
		err = errors.Join(err, side.throttle(c.ThrottleRate, c.ThrottleBurst))
	}
	if err != nil {
		return nil, err
	}

	runCtx := lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{InvokedFunctionArn: FunctionARN})
	timeout := LambdaTimeout
	if c.Naive {
		timeout = time.Hour // the user's own poller has no Lambda deadline
	}
	runCtx, cancel := context.WithTimeout(runCtx, timeout)
	defer cancel()

	_, setUp := rss()
	db.reset()
	mem := startMemory(c.HeapProfile)
	start := time.Now()
	out, err := poll(runCtx)
	wall := time.Since(start)
	m := mem.stop()
	indexRead, indexPages := db.read()
	if err != nil {
		return nil, fmt.Errorf("bench: %v: %w", c, err)
	}

	served, err := side.calls()
	if err != nil {
		return nil, err
	}
	var alone time.Duration // after the run's calls are counted
	if c.IndexLatency > 0 {
		if alone, err = readIndex(ctx, side, db, c.IndexLatency); err != nil {
			return nil, err
		}
	}
	var bound Calls
	if c.Naive {
		bound = NaiveCalls(c, changed, events)
	} else {
		bound = Bound(c, changed, events)
	}
	return &Result{
		Case: c, Calls: served.Calls, Bound: bound,
		Changed: changed, Events: events,
		Polled: out.Polled, Published: out.Published, Errors: out.Errors, FirstError: out.FirstError,
		Wall: wall, CriticalPath: CriticalPath(c, bound),
		HeapBase: m.heapBase, HeapPeak: m.heapPeak, RSSBase: m.rssBase, RSSPeak: m.rssPeak,
		GlueMaxInFlight: served.MaxInFlight, StatementBytes: served.StatementBytes,
		SetUpRSSPeak: setUp, IndexRead: indexRead, IndexPages: indexPages, IndexReadAlone: alone,
	}, nil
}

// track puts the fleet's ids in the registry as `sessionwatch track` and
// requests do (state.Store.Track), handler.MaxRequestIDs at a time (a
// request's most), making each batch's ids only when it is tracked so
// that the process does not hold them all.
func track(ctx context.Context, db state.DynamoDB, fl fleet) error {
	store := state.NewStore(db, Table)
	for from := 0; from < fl.n; from += handler.MaxRequestIDs {
		if err := store.Track(ctx, fl.idRange(from, min(from+handler.MaxRequestIDs, fl.n))); err != nil {
			return fmt.Errorf("bench: track: %w", err)
		}
	}
	return nil
}

// readIndex times a read of the table's index alone, every page, at
// latency a call.
func readIndex(ctx context.Context, side awsSide, db state.DynamoDB, latency time.Duration) (time.Duration, error) {
	if err := side.setLatency(latency); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := state.NewStore(db, Table).ReadShelf(ctx); err != nil {
		return 0, fmt.Errorf("bench: read the index: %w", err)
	}
	return time.Since(start), nil
}

// queryClock times the Query calls a run makes: from the start of the
// first to the end of the last since reset, and their number.
type queryClock struct {
	state.DynamoDB
	mu          sync.Mutex
	first, last time.Time
	pages       int
}

func (q *queryClock) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	start := time.Now()
	out, err := q.DynamoDB.Query(ctx, in, opts...)
	end := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pages == 0 {
		q.first = start
	}
	q.last = end
	q.pages++
	return out, err
}

func (q *queryClock) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pages = 0
}

func (q *queryClock) read() (time.Duration, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pages == 0 {
		return 0, 0
	}
	return q.last.Sub(q.first), q.pages
}

// outcome is what a run answered.
type outcome struct {
	Polled, Published, Errors int
	FirstError                string
}

// scheduleEvent is the payload an EventBridge Scheduler schedule delivers.
const scheduleEvent = `{"version":"0","id":"5e0bd8d8-7a0c-4d3a-9c2b-0f1e2d3c4b5a","detail-type":"Scheduled Event","source":"aws.scheduler","account":"123456789012","time":"2026-11-24T12:00:00Z","region":"us-east-1","resources":["arn:aws:scheduler:us-east-1:123456789012:schedule/default/sessionwatch"],"detail":"{}"}`

// poller returns the run to measure: sessionwatch's handler, configured
// from the environment as the bootstrap configures it and invoked with a
// schedule's payload, or the naive poller.
func poller(c Case, fl fleet, g *glue.Client, db state.DynamoDB, eb handler.EventBridge) (func(context.Context) (outcome, error), error) {
	if c.Naive {
		n := &Naive{Glue: g, DB: db, EventBridge: eb, Table: Table, Discover: c.Mode == Discover}
		if c.Mode == ByIDs {
			n.IDs = fl.ids()
		}
		return func(ctx context.Context) (outcome, error) {
			polled, published, err := n.Run(ctx)
			return outcome{Polled: polled, Published: published}, err
		}, nil
	}
	env := map[string]string{"SNAPSHOT_TABLE": Table}
	switch c.Mode {
	case ByIDs:
		env["SESSION_IDS"] = strings.Join(fl.ids(), ",")
	case Discover:
		env["DISCOVER"] = "true"
	}
	// Registry: neither; the run watches what the registry holds.
	if c.MaxConcurrency > 0 {
		env["MAX_CONCURRENCY"] = fmt.Sprint(c.MaxConcurrency)
	}
	if c.IdleMinutes > 0 {
		env["IDLE_MINUTES"] = fmt.Sprint(c.IdleMinutes)
	}
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil, fmt.Errorf("bench: configuration: %w", err)
	}
	h := handler.New(cfg, g, state.NewStore(db, Table), eb, nil)
	return func(ctx context.Context) (outcome, error) {
		b, err := h.Invoke(ctx, []byte(scheduleEvent))
		if err != nil {
			return outcome{}, err
		}
		var res struct {
			Polled, Published int
			Errors            []handler.SessionError
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return outcome{}, fmt.Errorf("bench: response %s: %w", b, err)
		}
		out := outcome{Polled: res.Polled, Published: res.Published, Errors: len(res.Errors)}
		if len(res.Errors) > 0 {
			out.FirstError = res.Errors[0].SessionID + ": " + res.Errors[0].Error
		}
		return out, nil
	}, nil
}
