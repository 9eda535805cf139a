package handler

import (
	"context"
	"encoding/json"
	"slices"
	"time"
)

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
	// NotFoundTotal, and the other ...Total fields, are set only in a
	// response whose list was cut to stay within Lambda's limit
	// (MaxResponseSize): the list's full length.
	NotFoundTotal int `json:"notFoundTotal,omitempty"`
	// Skipped lists ids not polled because the deadline was near.
	Skipped      []string `json:"skipped"`
	SkippedTotal int      `json:"skippedTotal,omitempty"`
	// Errors lists the sessions (or the run's own steps) that failed.
	Errors      []SessionError `json:"errors"`
	ErrorsTotal int            `json:"errorsTotal,omitempty"`
	// IdleUnchecked lists the READY sessions whose idle check Glue refused
	// for good (access denied, as tag-based access in SageMaker Unified
	// Studio projects does): counted apart from errors, so that an alarm on
	// errors keeps its meaning.
	IdleUnchecked      []string `json:"idleUnchecked"`
	IdleUncheckedTotal int      `json:"idleUncheckedTotal,omitempty"`
	// DryRun is set on a dry run, and Events then lists every event the run
	// would have published.
	DryRun      bool           `json:"dryRun,omitempty"`
	Events      *[]DryRunEvent `json:"events,omitempty"`
	EventsTotal int            `json:"eventsTotal,omitempty"`

	// fleet and alerts are for the run's metrics only (metrics.go).
	fleet  Fleet
	alerts map[string]int
}

// countChanges counts the sessions that changed, and their alerts by kind
// for the run's metrics.
func (r *Result) countChanges(changed []*session) {
	r.Changed += len(changed)
	for _, s := range changed {
		for _, kind := range s.alerts {
			if r.alerts == nil {
				r.alerts = map[string]int{}
			}
			r.alerts[kind]++
		}
	}
}

// MaxResponseSize bounds the JSON Invoke returns: Lambda refuses a
// synchronous response over 6 MB, here read as 6,000,000 bytes (the
// smaller of 6×10⁶ and 6×2²⁰).
const MaxResponseSize = 6_000_000

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
	}{nonEmpty(e.SessionID), e.Error})
}

// DryRunEvent is an event a dry run would have published.
type DryRunEvent struct {
	DetailType string          `json:"detailType"`
	Detail     json.RawMessage `json:"detail"`
}

// newResult is the result of a run that has done nothing yet: its lists
// are empty, never null.
func newResult(req Request) *Result {
	return &Result{NotFound: []string{}, Skipped: []string{}, Errors: []SessionError{}, IdleUnchecked: []string{}, DryRun: req.DryRun}
}

// fail records that a session (or, with an empty id, the run's own step)
// failed. Callers running in parallel hold their lock.
func (r *Result) fail(sessionID string, err error) {
	r.Errors = append(r.Errors, SessionError{SessionID: sessionID, Error: err.Error()})
}

// listEvents sets the events a dry run would have published.
func (r *Result) listEvents(events []*outgoing) {
	list := make([]DryRunEvent, len(events))
	for i, o := range events {
		list[i] = DryRunEvent{DetailType: o.ev.DetailType, Detail: json.RawMessage(o.ev.Detail)}
	}
	r.Events = &list
}

// summary logs the run's one summary line and writes its metrics: with
// the EMF document, the only lines of a healthy run.
func (h *Handler) summary(ctx context.Context, req Request, res *Result, start time.Time, coldStart bool) {
	elapsed := h.Now().Sub(start)
	h.Logger.InfoContext(ctx, "run complete",
		"watched", res.Watched, "polled", res.Polled, "changed", res.Changed,
		"published", res.Published, "pending", res.Pending, "conflicts", res.Conflicts,
		"notFound", len(res.NotFound), "skipped", len(res.Skipped), "errors", len(res.Errors),
		"idleUnchecked", len(res.IdleUnchecked),
		"dryRun", res.DryRun, "durationMs", elapsed.Milliseconds())
	h.writeMetrics(ctx, req, res, start, elapsed, coldStart)
}

// marshalWithin renders r as JSON in fewer than limit bytes. When it would
// not fit, its lists (notFound, skipped, errors, idleUnchecked, events)
// are cut to their heads, sharing the room fairly (every list bigger than
// a common share of bytes is cut to it), and each cut list's full length
// is set beside it as <list>Total. r itself is left as it was.
func (r *Result) marshalWithin(limit int) ([]byte, error) {
	out, err := json.Marshal(r)
	if err != nil || len(out) < limit {
		return out, err
	}
	c := *r
	var events []DryRunEvent
	if r.Events != nil {
		events = *r.Events
		c.Events = &[]DryRunEvent{}
	}
	// Every list at its most: cut, and so with its Total.
	c.NotFound, c.Skipped, c.Errors, c.IdleUnchecked = []string{}, []string{}, []SessionError{}, []string{}
	c.NotFoundTotal, c.SkippedTotal, c.ErrorsTotal, c.EventsTotal = len(r.NotFound), len(r.Skipped), len(r.Errors), len(events)
	c.IdleUncheckedTotal = len(r.IdleUnchecked)
	fixed, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	lists := []*cutList{itemSizes(r.NotFound), itemSizes(r.Skipped), itemSizes(r.Errors), itemSizes(events), itemSizes(r.IdleUnchecked)}
	shareRoom(lists, limit-1-len(fixed))
	c.NotFound, c.NotFoundTotal = r.NotFound[:lists[0].keep], lists[0].total()
	c.Skipped, c.SkippedTotal = r.Skipped[:lists[1].keep], lists[1].total()
	c.Errors, c.ErrorsTotal = r.Errors[:lists[2].keep], lists[2].total()
	c.IdleUnchecked, c.IdleUncheckedTotal = r.IdleUnchecked[:lists[4].keep], lists[4].total()
	if r.Events != nil {
		head := events[:lists[3].keep]
		c.Events, c.EventsTotal = &head, lists[3].total()
	}
	return json.Marshal(c)
}

// cutList is one list of a response being cut: the JSON size of each of
// its items, the size of them all (commas included), and how many of
// them are kept.
type cutList struct {
	sizes []int
	full  int
	keep  int
}

func itemSizes[T any](items []T) *cutList {
	l := &cutList{sizes: make([]int, len(items)), full: max(len(items)-1, 0)}
	for i, it := range items {
		b, _ := json.Marshal(it) // it was marshalled once already, whole
		l.sizes[i] = len(b)
		l.full += len(b)
	}
	return l
}

// total is the full length of a cut list, and 0 for a whole one.
func (l *cutList) total() int {
	if l.keep == len(l.sizes) {
		return 0
	}
	return len(l.sizes)
}

// shareRoom sets how many items of each list to keep so that they hold at
// most room bytes together: by water-filling, each list gets its whole
// size or an equal share of what the smaller lists left, whichever is
// less, and keeps the head of its items that fits in it.
func shareRoom(lists []*cutList, room int) {
	order := slices.Clone(lists)
	slices.SortFunc(order, func(a, b *cutList) int { return a.full - b.full })
	for i, l := range order {
		share := max(room, 0) / (len(order) - i)
		used := 0
		for l.keep < len(l.sizes) {
			next := used + l.sizes[l.keep]
			if l.keep > 0 {
				next++ // the comma before it
			}
			if next > share {
				break
			}
			used = next
			l.keep++
		}
		room -= used
	}
}
