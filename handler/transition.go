package handler

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/state"
)

// The detail types sessionwatch publishes.
const (
	DetailTypeStateChange = "Glue Session State Change"
	DetailTypeError       = "Glue Session Error"
	DetailTypeDeleted     = "Glue Session Deleted"
)

// Observation is what one run learned of one session.
type Observation struct {
	SessionID string
	// Session is Glue's answer; nil when Glue answered that it does not
	// know the session (EntityNotFoundException).
	Session *gluetypes.Session
	// At is when the answer was observed, to the second.
	At time.Time
}

// Rules are the parts of the configuration that decide a transition.
type Rules struct {
	// RetentionDays is how long a finished or deleted session's snapshot
	// is kept after it finished.
	RetentionDays int
}

// Event is one event a transition decided to publish: its detail type and
// its detail, not yet rendered to JSON.
type Event struct {
	DetailType string
	Detail     Detail
}

// Transition is the rule of sessionwatch: from a session's snapshot (nil:
// never seen) and what Glue answered, it returns the next snapshot and the
// events that announce the difference, in sequence order. next is nil when
// there is nothing to write. The next snapshot can change without an event
// (an error message that clears is remembered, not announced). It does no
// I/O and leaves its arguments alone.
func Transition(prev *state.Snapshot, obs Observation, rules Rules) (next *state.Snapshot, events []Event) {
	known := prev != nil && !prev.Deleted
	cur := obs.Session
	if cur == nil {
		if !known {
			return nil, nil // Glue never knew it, or its deletion was announced
		}
		next = successor(prev, obs.SessionID)
		next.Deleted, next.ObservedAt, next.ExpiresAt = true, obs.At, expiry(obs.At, rules)
		c := change{
			detailType:           DetailTypeDeleted,
			previousStatus:       nonEmpty(prev.Status),
			previousErrorMessage: nonEmpty(prev.ErrorMessage),
		}
		return next, []Event{announce(next, c, prev, nil, obs.At)}
	}

	status, errMsg := string(cur.Status), aws.ToString(cur.ErrorMessage)
	statusChanged := !known || status != prev.Status
	newError := errMsg != "" && (!known || !prev.SameError(errMsg))
	if !statusChanged && !newError && prev.SameError(errMsg) {
		return nil, nil
	}
	next = successor(prev, obs.SessionID)
	if statusChanged || newError {
		next.ObservedAt = obs.At
	}
	next.Deleted, next.Status = false, status
	next.SetError(errMsg)
	if state.IsFinished(status) && next.ExpiresAt == 0 {
		finished := obs.At
		if cur.CompletedOn != nil {
			finished = *cur.CompletedOn
		}
		next.ExpiresAt = expiry(finished, rules)
	}

	base := change{first: !known, status: nonEmpty(status), errorMessage: nonEmpty(errMsg)}
	if known {
		base.previousStatus, base.previousErrorMessage = nonEmpty(prev.Status), nonEmpty(prev.ErrorMessage)
	}
	if statusChanged {
		c := base
		c.detailType = DetailTypeStateChange
		events = append(events, announce(next, c, prev, cur, obs.At))
	}
	if newError {
		c := base
		c.detailType = DetailTypeError
		events = append(events, announce(next, c, prev, cur, obs.At))
	}
	return next, events
}

// announce numbers change c with the session's next sequence number and
// builds its event.
func announce(next *state.Snapshot, c change, prev *state.Snapshot, cur *gluetypes.Session, at time.Time) Event {
	next.Sequence++
	return Event{DetailType: c.detailType, Detail: buildDetail(next.SessionID, next.Sequence, c, prev, cur, at)}
}

// successor is the starting point of the snapshot after prev: a copy of it
// without its pending events (the save works those out from what was
// published), or a new snapshot of id.
func successor(prev *state.Snapshot, id string) *state.Snapshot {
	if prev == nil {
		return &state.Snapshot{SessionID: id}
	}
	next := *prev
	next.Pending = nil
	return &next
}

// expiry is the TTL of a snapshot whose session finished at t.
func expiry(t time.Time, rules Rules) int64 {
	return t.Add(time.Duration(rules.RetentionDays) * 24 * time.Hour).Unix()
}

// change is one thing a transition announces. Nil pointers are "none": no
// status (a deletion) or no error message.
type change struct {
	detailType string
	// first is set when the session is seen for the first time.
	first                bool
	status               *string
	previousStatus       *string
	errorMessage         *string
	previousErrorMessage *string
}

// nonEmpty returns a pointer to s, or nil for the empty string: Glue's
// "no value" is never published as "".
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
