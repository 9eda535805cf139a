package handler

import (
	"context"
	"encoding/json"
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
	// Skipped lists ids not polled because the deadline was near.
	Skipped []string `json:"skipped"`
	// Errors lists the sessions (or the run's own steps) that failed.
	Errors []SessionError `json:"errors"`
	// DryRun is set on a dry run, and Events then lists every event the run
	// would have published.
	DryRun bool           `json:"dryRun,omitempty"`
	Events *[]DryRunEvent `json:"events,omitempty"`
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
	return &Result{NotFound: []string{}, Skipped: []string{}, Errors: []SessionError{}, DryRun: req.DryRun}
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

// summary logs the run's one summary line.
func (h *Handler) summary(ctx context.Context, res *Result, start time.Time) {
	h.Logger.InfoContext(ctx, "run complete",
		"watched", res.Watched, "polled", res.Polled, "changed", res.Changed,
		"published", res.Published, "pending", res.Pending, "conflicts", res.Conflicts,
		"notFound", len(res.NotFound), "skipped", len(res.Skipped), "errors", len(res.Errors),
		"dryRun", res.DryRun, "durationMs", h.Now().Sub(start).Milliseconds())
}
