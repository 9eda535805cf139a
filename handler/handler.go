// Package handler is one sessionwatch run: it reads the invocation, works
// out which Glue interactive sessions to watch, fetches them, diffs each
// with its snapshot, publishes the changes to EventBridge and saves the new
// snapshots. Each step has a file of its own: watch.go, fetch.go, diff.go
// (over the pure Transition of transition.go), publish.go, save.go, the
// last two in rounds beside the polling (rounds.go); the table's items are
// the state package's.
package handler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"sessionwatch/state"
)

// Glue is the part of *glue.Client the handler uses.
type Glue interface {
	GetSession(context.Context, *glue.GetSessionInput, ...func(*glue.Options)) (*glue.GetSessionOutput, error)
	ListSessions(context.Context, *glue.ListSessionsInput, ...func(*glue.Options)) (*glue.ListSessionsOutput, error)
	ListStatements(context.Context, *glue.ListStatementsInput, ...func(*glue.Options)) (*glue.ListStatementsOutput, error)
}

var _ Glue = (*glue.Client)(nil)

// AWSConcurrency is how many DynamoDB and EventBridge calls a run keeps in
// flight at once. MAX_CONCURRENCY bounds Glue calls only: Glue's session
// APIs throttle far sooner than DynamoDB on-demand or PutEvents.
const AWSConcurrency = 16

// Handler runs polls. Build it once at cold start with New; it is safe for
// concurrent use.
type Handler struct {
	cfg   Config
	glue  Glue
	store *state.Store
	pub   publisher
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Logger receives one summary line per run and one line per failure.
	Logger *slog.Logger
	// DeadlineReserve is the time kept back before the invocation's
	// deadline for publishing and saving: no new Glue call starts after it.
	DeadlineReserve time.Duration
	// Metrics, when set, receives each run's CloudWatch embedded metric
	// format document, one line (metrics.go): the Lambda bootstrap sets it
	// to stdout, which Lambda sends to the function's log group.
	Metrics io.Writer
	// FunctionName is the FunctionName dimension of the metrics:
	// AWS_LAMBDA_FUNCTION_NAME in Lambda.
	FunctionName string

	started atomic.Bool // a run has started: the next ones are warm
}

// New returns a handler for cfg that talks to Glue, the snapshot store and
// EventBridge through the given clients.
func New(cfg Config, g Glue, store *state.Store, eb EventBridge, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		cfg:   cfg,
		glue:  g,
		store: store,
		pub: publisher{
			eb: eb, bus: cfg.EventBus, source: cfg.Source,
			retries: 2, backoff: 100 * time.Millisecond, parallel: AWSConcurrency,
		},
		Now:             time.Now,
		Logger:          logger,
		DeadlineReserve: 3 * time.Second,
		FunctionName:    lambdacontext.FunctionName,
	}
}

// Invoke is the Lambda entry point: it parses the raw payload (an empty one
// is `{}`), runs a poll and returns its result as JSON. A rejected or
// failed invocation is returned, not logged: the Lambda runtime writes it
// to the log, one line ({"errorMessage": …, "errorType": "RunError"}), and
// hands it to the invoker, so a failure is logged once.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := ParseRequest(payload)
	if err != nil {
		return nil, err
	}
	res, err := h.Poll(ctx, req)
	if err != nil {
		return nil, &RunError{Err: err}
	}
	return res.marshalWithin(MaxResponseSize)
}

// RunError is a run that failed as a whole: the table could not be read or
// written, or EventBridge accepted none of the events. Lambda reports its
// type name as the errorType.
type RunError struct{ Err error }

func (e *RunError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *RunError) Unwrap() error { return e.Err }

// Poll runs one poll: watch, fetch (load, poll, diff), publish, save,
// the last two in rounds of RoundSize changed sessions beside the polling
// (rounds.go). It returns an error only when the run failed as a whole;
// the caller reports it.
func (h *Handler) Poll(ctx context.Context, req Request) (*Result, error) {
	start := h.Now()
	coldStart := !h.started.Swap(true)
	res := newResult(req)
	if call := req.CloudTrail; call != nil && call.Failed {
		// The call failed: no session changed, nothing to ask anyone. The
		// run still reports itself, like every run (README, Metrics).
		h.summary(ctx, req, res, start, coldStart)
		return res, nil
	}
	// Near the invocation's deadline: no Glue call starts in the last
	// DeadlineReserve, and publishing stops half-way through it, so what
	// could not be published is still kept in the outbox in time.
	fetchCtx, cancelFetch := withReserve(ctx, h.DeadlineReserve)
	defer cancelFetch()
	publishCtx, cancelPublish := withReserve(ctx, h.DeadlineReserve/2)
	defer cancelPublish()

	p, err := h.watch(ctx, fetchCtx, req, res)
	if err != nil {
		return nil, err
	}
	r := h.startRounds(ctx, publishCtx, p, req.DryRun)
	f, err := h.fetch(ctx, fetchCtx, p, res, r)
	if err != nil {
		r.stop() // the rounds committed already are saved
		return nil, err
	}
	if err := r.finish(f.changed, res); err != nil {
		return nil, err
	}
	if req.DryRun {
		h.summary(ctx, req, res, start, coldStart)
		return res, nil
	}
	if req.CloudTrail == nil {
		// A run started by a CloudTrail record polls one session: where
		// the full runs stand in the fleet is theirs alone.
		h.recordCursor(ctx, p, f, res)
	}
	h.summary(ctx, req, res, start, coldStart)
	if err := r.noneAccepted(); err != nil {
		return nil, err
	}
	if err := creatorUnrecorded(req.CloudTrail, res); err != nil {
		return nil, err
	}
	return res, nil
}

// creatorUnrecorded fails the run of a CreateSession record whose session
// could not be read (throttled, failing, out of time): the record is the
// only thing that names the session's creator, and a run that succeeded
// would drop it for good. Failing hands the record back to Lambda, whose
// retries (and then the dead-letter queue) deliver it again; the session
// is tracked already, so it is announced by the schedule in any case.
func creatorUnrecorded(call *CloudTrailCall, res *Result) error {
	if call == nil || call.EventName != CallCreateSession || call.CreatedBy == "" {
		return nil
	}
	for _, e := range res.Errors {
		if e.SessionID == call.SessionID {
			return fmt.Errorf("CreateSession record of %s: the session could not be read (%s); its creator is kept only if the record comes again", call.SessionID, e.Error)
		}
	}
	if slices.Contains(res.Skipped, call.SessionID) {
		return fmt.Errorf("CreateSession record of %s: no time left to read the session; its creator is kept only if the record comes again", call.SessionID)
	}
	return nil
}

// withReserve returns ctx ending reserve before ctx's deadline, if it has
// one.
func withReserve(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-reserve))
	}
	return context.WithCancel(ctx)
}

// origin is the RequestOrigin of every Glue call, nil when none is set.
func (h *Handler) origin() *string {
	return nonEmpty(h.cfg.RequestOrigin)
}
