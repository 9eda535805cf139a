// Package handler is one sessionwatch run: it reads the invocation, works
// out which Glue interactive sessions to watch, fetches them, diffs each
// with its snapshot, publishes the changes to EventBridge and saves the new
// snapshots.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"golang.org/x/sync/errgroup"

	"sessionwatch/state"
)

// Glue is the part of *glue.Client the handler uses.
type Glue interface {
	GetSession(context.Context, *glue.GetSessionInput, ...func(*glue.Options)) (*glue.GetSessionOutput, error)
	ListSessions(context.Context, *glue.ListSessionsInput, ...func(*glue.Options)) (*glue.ListSessionsOutput, error)
}

var _ Glue = (*glue.Client)(nil)

// AWSConcurrency is how many DynamoDB and EventBridge calls a run keeps in
// flight at once. MAX_CONCURRENCY bounds Glue calls only: Glue's session
// APIs throttle far sooner than DynamoDB on-demand or PutEvents.
const AWSConcurrency = 16

// MaxSkippedKept bounds how many skipped ids a run records for the next
// one to poll first (they share the registry's 400 KB item).
const MaxSkippedKept = 1000

// ListPageSize is the MaxResults of every ListSessions call: Glue's
// largest page, so discovery makes as few calls as it can.
const ListPageSize = 1000

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
	}
}

// SessionError is one session that could not be handled in a run; a
// failure of the run's own (discovery, the skipped list) has no session id
// and is written with "sessionId": null.
type SessionError struct {
	SessionID string `json:"sessionId"`
	Error     string `json:"error"`
}

// MarshalJSON writes an empty SessionID as null.
func (e SessionError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		SessionID *string `json:"sessionId"`
		Error     string  `json:"error"`
	}{some(e.SessionID), e.Error})
}

// DryRunEvent is an event a dry run would have published.
type DryRunEvent struct {
	DetailType string          `json:"detailType"`
	Detail     json.RawMessage `json:"detail"`
}

// Result is the response of a run.
type Result struct {
	// Watched counts the session ids in the watched set.
	Watched int `json:"watched"`
	// Polled counts the sessions whose current state was fetched.
	Polled int `json:"polled"`
	// Changed counts the sessions whose snapshot was (or, in a dry run,
	// would be) written.
	Changed int `json:"changed"`
	// Published counts the events EventBridge accepted.
	Published int `json:"published"`
	// Pending counts the events kept in the table for a later run.
	Pending int `json:"pending"`
	// Conflicts counts sessions another run committed first.
	Conflicts int `json:"conflicts"`
	// NotFound lists ids Glue does not know and that have no snapshot.
	NotFound []string `json:"notFound"`
	// Skipped lists ids not polled because the deadline was near.
	Skipped []string `json:"skipped"`
	// Errors lists the sessions (or the discovery) that failed.
	Errors []SessionError `json:"errors"`
	// DryRun is set on a dry run, and Events then lists every event the run
	// would have published.
	DryRun bool           `json:"dryRun,omitempty"`
	Events *[]DryRunEvent `json:"events,omitempty"`
}

// Invoke is the Lambda entry point: it parses the raw payload (an empty one
// is `{}`), runs a poll and returns its result as JSON.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := ParseRequest(payload)
	if err != nil {
		h.Logger.ErrorContext(ctx, "rejected invocation", "error", err)
		return nil, err
	}
	res, err := h.Poll(ctx, req)
	if err != nil {
		return nil, &RunError{Err: err}
	}
	return json.Marshal(res)
}

// RunError is a run that failed as a whole: the table could not be read or
// written, or EventBridge accepted none of the events. Lambda reports its
// type name as the errorType.
type RunError struct{ Err error }

func (e *RunError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *RunError) Unwrap() error { return e.Err }

// session is one watched session through a run.
type session struct {
	id     string
	prev   *state.Snapshot    // nil: never seen
	cur    *gluetypes.Session // nil: not found (when fetched)
	listed bool               // cur came from ListSessions
	polled bool
	skip   bool // not polled: finished, deleted, skipped or failed
	// wasSkipped: the last run ran out of time before polling it.
	wasSkipped bool
	next       *state.Snapshot
	out        []*outgoing
}

// Poll runs one poll: fetch, diff, publish, save.
func (h *Handler) Poll(ctx context.Context, req Request) (*Result, error) {
	start := h.Now()
	res := &Result{NotFound: []string{}, Skipped: []string{}, Errors: []SessionError{}, DryRun: req.DryRun}
	// Near the invocation's deadline: no Glue call starts in the last
	// DeadlineReserve, and publishing stops half-way through it, so what
	// could not be published is still saved as pending in time.
	fetchCtx, cancelFetch := withReserve(ctx, h.DeadlineReserve)
	defer cancelFetch()
	publishCtx, cancelPublish := withReserve(ctx, h.DeadlineReserve/2)
	defer cancelPublish()

	sessions, skipped, err := h.watch(ctx, fetchCtx, req, res)
	if err != nil {
		h.Logger.ErrorContext(ctx, "run failed", "error", err)
		return nil, err
	}
	res.Watched = len(sessions)
	h.fetch(fetchCtx, sessions, res)

	// EventBridge keeps an event's time to the second: observedAt does too,
	// so the two stay equal.
	at := h.Now().UTC().Truncate(time.Second)
	resources := resourcesFor(ctx)
	var all []*outgoing
	for _, s := range sessions {
		if err := h.diff(s, at, resources); err != nil {
			res.Errors = append(res.Errors, SessionError{SessionID: s.id, Error: err.Error()})
			h.Logger.ErrorContext(ctx, "session failed", "sessionId", s.id, "error", err)
		}
		all = append(all, s.out...)
		s.cur = nil // built into events; a large fleet's answers need not outlive the diff
		if s.next != nil {
			res.Changed++
		}
	}
	if req.DryRun {
		events := make([]DryRunEvent, len(all))
		for i, o := range all {
			events[i] = DryRunEvent{DetailType: o.ev.DetailType, Detail: json.RawMessage(o.ev.Detail)}
		}
		res.Events = &events
		h.summary(ctx, res, start)
		return res, nil
	}
	if len(all) > 0 {
		h.pub.publish(publishCtx, all)
	}
	for _, o := range all {
		if o.err == nil {
			res.Published++
		}
	}
	if err := h.save(ctx, sessions, res); err != nil {
		h.Logger.ErrorContext(ctx, "run failed", "error", err)
		return nil, err
	}
	if err := h.store.MarkSkipped(ctx, skipped, res.Skipped[:min(len(res.Skipped), MaxSkippedKept)]); err != nil {
		// Only the order of the next run's polls depends on it.
		res.Errors = append(res.Errors, SessionError{Error: err.Error()})
		h.Logger.WarnContext(ctx, "skipped sessions not recorded", "error", err)
	}
	h.summary(ctx, res, start)
	if len(all) > 0 && res.Published == 0 {
		return nil, fmt.Errorf("publish to event bus %s: none of %d events was accepted (kept for the next run): %w", h.cfg.EventBus, len(all), all[0].err)
	}
	return res, nil
}

// watch applies track/untrack and works out the watched set: configured
// ids, requested ids, the registry and, when discovering, ListSessions.
// Only a failure to read the table fails the run.
func (h *Handler) watch(ctx, fetchCtx context.Context, req Request, res *Result) (sessions []*session, skipped []string, err error) {
	discover, tags := h.cfg.Discover, h.cfg.DiscoverTags
	if req.Discover != nil {
		discover = *req.Discover
	}
	if req.Tags != nil {
		tags = req.Tags
	}
	var reg state.Registry
	var listed []gluetypes.Session
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		reg, err = h.registry(gctx, req)
		return err
	})
	if discover {
		listCtx, cancel := context.WithCancel(fetchCtx)
		defer cancel()
		context.AfterFunc(gctx, cancel)
		g.Go(func() error {
			var err error
			if listed, err = h.list(listCtx, tags); err != nil {
				// Not fatal: the sessions listed so far are polled, the
				// others on a later run.
				res.Errors = append(res.Errors, SessionError{Error: "discover: " + err.Error()})
				h.Logger.WarnContext(ctx, "discovery incomplete", "error", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}

	byID := map[string]*session{}
	add := func(id string) *session {
		if s, ok := byID[id]; ok {
			return s
		}
		s := &session{id: id}
		byID[id] = s
		sessions = append(sessions, s)
		return s
	}
	for _, ids := range [][]string{h.cfg.SessionIDs, req.SessionIDs, reg.Tracked} {
		for _, id := range ids {
			add(id)
		}
	}
	for i := range listed {
		if id := aws.ToString(listed[i].Id); ValidateSessionID(id) == nil {
			s := add(id)
			s.cur, s.listed = &listed[i], true
		}
	}
	ids := make([]string, len(sessions))
	for i, s := range sessions {
		ids[i] = s.id
	}
	snaps, err := h.store.Load(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range sessions {
		s.prev = snaps[s.id]
		s.skip = s.prev != nil && s.prev.Done()
	}
	for _, id := range reg.Skipped {
		if s, ok := byID[id]; ok {
			s.wasSkipped = true
		}
	}
	return sessions, reg.Skipped, nil
}

// registry applies the request's track and untrack, then reads the
// registry. A dry run reads it and changes only its copy.
func (h *Handler) registry(ctx context.Context, req Request) (state.Registry, error) {
	if !req.DryRun {
		if err := h.store.Track(ctx, req.Track); err != nil {
			return state.Registry{}, err
		}
		if err := h.store.Untrack(ctx, req.Untrack); err != nil {
			return state.Registry{}, err
		}
	}
	reg, err := h.store.Registry(ctx)
	if err != nil {
		return reg, err
	}
	if req.DryRun {
		for _, id := range req.Track {
			if !slices.Contains(reg.Tracked, id) {
				reg.Tracked = append(reg.Tracked, id)
			}
		}
		reg.Tracked = slices.DeleteFunc(reg.Tracked, func(id string) bool { return slices.Contains(req.Untrack, id) })
	}
	return reg, nil
}

// list returns every session ListSessions answers for the tag filter, all
// pages; on a failure, the pages read so far and the error.
func (h *Handler) list(ctx context.Context, tags map[string]string) ([]gluetypes.Session, error) {
	var out []gluetypes.Session
	in := &glue.ListSessionsInput{Tags: tags, RequestOrigin: h.origin(), MaxResults: aws.Int32(ListPageSize)}
	p := glue.NewListSessionsPaginator(h.glue, in)
	for page := 1; p.HasMorePages(); page++ {
		res, err := p.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("list sessions page %d: %w", page, err)
		}
		for i := range res.Sessions {
			res.Sessions[i].DefaultArguments = nil // never used, can hold secrets
		}
		out = append(out, res.Sessions...)
	}
	return out, nil
}

func (h *Handler) origin() *string {
	if h.cfg.RequestOrigin == "" {
		return nil
	}
	return &h.cfg.RequestOrigin
}

// withReserve returns ctx ending reserve before ctx's deadline, if it has
// one.
func withReserve(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-reserve))
	}
	return context.WithCancel(ctx)
}

// fetch calls GetSession for every watched session that needs it, at most
// MaxConcurrency at once; fetchCtx ends where no call may start any more.
func (h *Handler) fetch(fetchCtx context.Context, sessions []*session, res *Result) {
	var mu sync.Mutex
	g := errgroup.Group{}
	g.SetLimit(h.cfg.MaxConcurrency)
	for _, s := range fetchOrder(sessions) {
		if s.skip {
			continue
		}
		if s.listed {
			s.polled = true
			continue
		}
		g.Go(func() error {
			skip := func() {
				s.skip = true
				mu.Lock()
				res.Skipped = append(res.Skipped, s.id)
				mu.Unlock()
			}
			if fetchCtx.Err() != nil {
				skip()
				return nil
			}
			out, err := h.glue.GetSession(fetchCtx, &glue.GetSessionInput{Id: aws.String(s.id), RequestOrigin: h.origin()})
			var notFound *gluetypes.EntityNotFoundException
			switch {
			case err != nil && fetchCtx.Err() != nil:
				skip() // cut short by the deadline: the next run polls it
			case err == nil && out.Session != nil:
				out.Session.DefaultArguments = nil // never used, can hold secrets
				s.cur, s.polled = out.Session, true
			case errors.As(err, &notFound):
				s.polled = true
			default:
				if err == nil {
					err = errors.New("answer holds no session")
				}
				s.skip = true
				mu.Lock()
				res.Errors = append(res.Errors, SessionError{SessionID: s.id, Error: fmt.Sprintf("get session: %v", err)})
				mu.Unlock()
				h.Logger.WarnContext(fetchCtx, "session failed", "sessionId", s.id, "error", err)
			}
			return nil
		})
	}
	_ = g.Wait() // every goroutine returns nil: failures are per session
	for _, s := range sessions {
		if s.polled {
			res.Polled++
			if s.cur == nil && s.prev == nil {
				res.NotFound = append(res.NotFound, s.id)
			}
		}
	}
}

// fetchOrder puts first the sessions the last run skipped, then the ones
// never seen, so that a run cut short by its deadline does not starve
// them: the next run starts where it stopped.
func fetchOrder(sessions []*session) []*session {
	rank := func(s *session) int {
		switch {
		case s.wasSkipped:
			return 0
		case s.prev == nil:
			return 1
		}
		return 2
	}
	out := slices.Clone(sessions)
	slices.SortStableFunc(out, func(a, b *session) int { return rank(a) - rank(b) })
	return out
}

// diff works out a session's new snapshot (nil when nothing changed) and
// the events to publish: the earlier unpublished ones, then the new ones.
// A change whose event cannot be built leaves the snapshot as it was, so a
// later run observes it again.
func (h *Handler) diff(s *session, at time.Time, resources func(string) []string) error {
	for _, ev := range pendingOf(s.prev) {
		s.out = append(s.out, &outgoing{session: s.id, ev: ev, resources: resources(s.id)})
	}
	next, changed := clone(s.prev), false
	var fresh []*outgoing
	var buildErr error
	if s.polled {
		next, changed = h.advance(s.id, s.prev, s.cur, at)
		for _, c := range Diff(s.prev, s.cur) {
			next.Sequence++
			d := buildDetail(s.id, next.Sequence, c, s.prev, s.cur, at)
			res := resources(s.id)
			detail, err := fit(d, detailLimit(h.cfg.Source, c.DetailType, res))
			if err != nil {
				next, changed, fresh, buildErr = clone(s.prev), false, nil, err
				break
			}
			ev := state.Event{DetailType: c.DetailType, EventID: d.EventID, Time: at, Detail: detail}
			fresh = append(fresh, &outgoing{session: s.id, ev: ev, resources: res})
		}
	}
	s.out = append(s.out, fresh...)
	if changed || len(s.out) > 0 {
		s.next = next
	}
	return buildErr
}

// advance returns the snapshot after observing cur (nil: not found) at
// at, and whether it differs from prev.
func (h *Handler) advance(id string, prev *state.Snapshot, cur *gluetypes.Session, at time.Time) (*state.Snapshot, bool) {
	next := clone(prev)
	if next == nil {
		next = &state.Snapshot{SessionID: id}
	}
	known := prev != nil && !prev.Deleted
	if cur == nil {
		if !known {
			return next, false
		}
		next.Deleted, next.ObservedAt, next.ExpiresAt = true, at, h.expiry(at)
		return next, true
	}
	status, errMsg := string(cur.Status), aws.ToString(cur.ErrorMessage)
	if known && status == prev.Status && prev.SameError(errMsg) {
		return next, false
	}
	if !known || status != prev.Status || (errMsg != "" && !prev.SameError(errMsg)) {
		next.ObservedAt = at
	}
	next.Deleted, next.Status = false, status
	next.SetError(errMsg)
	if state.IsFinished(status) && next.ExpiresAt == 0 {
		finished := at
		if cur.CompletedOn != nil {
			finished = *cur.CompletedOn
		}
		next.ExpiresAt = h.expiry(finished)
	}
	return next, true
}

func (h *Handler) expiry(t time.Time) int64 {
	return t.Add(time.Duration(h.cfg.RetentionDays) * 24 * time.Hour).Unix()
}

func pendingOf(s *state.Snapshot) []state.Event {
	if s == nil {
		return nil
	}
	return s.Pending
}

// clone copies a snapshot without its pending events, which the save
// recomputes from what was published.
func clone(s *state.Snapshot) *state.Snapshot {
	if s == nil {
		return nil
	}
	c := *s
	c.Pending = nil
	return &c
}

// MaxPendingBytes bounds the event details a snapshot keeps, so the item
// stays under DynamoDB's 400 KB: when they would exceed it, each is cut to
// its share (the same truncation that fits an entry into PutEvents).
const MaxPendingBytes = 300 * 1024

// save writes every changed snapshot, keeping its unpublished events in
// it. It fails only when no write succeeded at all.
func (h *Handler) save(ctx context.Context, sessions []*session, res *Result) error {
	var mu sync.Mutex
	var failures []error
	writes := 0
	g := errgroup.Group{}
	g.SetLimit(AWSConcurrency)
	for _, s := range sessions {
		if s.next == nil {
			continue
		}
		writes++
		var unpublished []state.Event
		for _, o := range s.out {
			if o.err != nil {
				unpublished = append(unpublished, o.ev)
			}
		}
		s.next.Pending = bounded(unpublished)
		g.Go(func() error {
			err := h.store.Save(ctx, s.next, versionOf(s.prev))
			conflict := errors.Is(err, state.ErrConflict)
			if conflict && len(unpublished) > 0 {
				// Another run saved first, but what this run observed and
				// could not publish must not be lost: keep it in theirs.
				err = h.keep(ctx, s.id, unpublished)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				res.Pending += len(unpublished)
			case errors.Is(err, state.ErrConflict) && len(unpublished) == 0:
			default:
				failures = append(failures, err)
				res.Errors = append(res.Errors, SessionError{SessionID: s.id, Error: err.Error()})
				h.Logger.ErrorContext(ctx, "session not saved", "sessionId", s.id, "error", err)
			}
			if conflict {
				res.Conflicts++
				h.Logger.InfoContext(ctx, "another run saved the session first", "sessionId", s.id)
			}
			return nil
		})
	}
	_ = g.Wait()
	if writes > 0 && len(failures) == writes {
		return fmt.Errorf("save snapshots: all %d writes failed: %w", writes, failures[0])
	}
	return nil
}

// keep adds events to the pending events of the session's stored snapshot,
// re-reading it after each conflict.
func (h *Handler) keep(ctx context.Context, id string, events []state.Event) error {
	var err error
	for range 5 {
		var snaps map[string]*state.Snapshot
		if snaps, err = h.store.Load(ctx, []string{id}); err != nil {
			return err
		}
		cur := snaps[id]
		next := clone(cur)
		if next == nil {
			next = &state.Snapshot{SessionID: id}
		}
		merged := pendingOf(cur)
		for _, ev := range events {
			if !slices.ContainsFunc(merged, func(p state.Event) bool { return p.EventID == ev.EventID }) {
				merged = append(merged, ev)
			}
		}
		next.Pending = bounded(merged)
		if err = h.store.Save(ctx, next, versionOf(cur)); !errors.Is(err, state.ErrConflict) {
			return err
		}
	}
	return err
}

func versionOf(s *state.Snapshot) int64 {
	if s == nil {
		return 0
	}
	return s.Version
}

// bounded cuts the details of events to share MaxPendingBytes when they
// would exceed it.
func bounded(events []state.Event) []state.Event {
	total := 0
	for _, ev := range events {
		total += len(ev.Detail)
	}
	if total <= MaxPendingBytes {
		return events
	}
	share := MaxPendingBytes / len(events)
	out := slices.Clone(events)
	for i := range out {
		if len(out[i].Detail) > share {
			out[i].Detail = refit(out[i].Detail, share)
		}
	}
	return out
}

func (h *Handler) summary(ctx context.Context, res *Result, start time.Time) {
	h.Logger.InfoContext(ctx, "run complete",
		"watched", res.Watched, "polled", res.Polled, "changed", res.Changed,
		"published", res.Published, "pending", res.Pending, "conflicts", res.Conflicts,
		"notFound", len(res.NotFound), "skipped", len(res.Skipped), "errors", len(res.Errors),
		"dryRun", res.DryRun, "durationMs", h.Now().Sub(start).Milliseconds())
}

// resourcesFor returns the function that names a session's ARN, built from
// the invoked function's ARN (partition, region, account); without one
// (outside Lambda) events carry no resources.
func resourcesFor(ctx context.Context) func(string) []string {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return func(string) []string { return nil }
	}
	parts := strings.Split(lc.InvokedFunctionArn, ":")
	if len(parts) < 6 || parts[0] != "arn" || parts[4] == "" {
		return func(string) []string { return nil }
	}
	prefix := fmt.Sprintf("arn:%s:glue:%s:%s:session/", parts[1], parts[3], parts[4])
	return func(id string) []string { return []string{prefix + id} }
}
