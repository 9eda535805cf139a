package handler

import (
	"reflect"
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
	DetailTypeAlert       = "Glue Session Alert"
)

// Observation is what one run learned of one session.
type Observation struct {
	SessionID string
	// Session is Glue's answer; nil when Glue answered that it does not
	// know the session (EntityNotFoundException).
	Session *gluetypes.Session
	// At is when the answer was observed, to the second.
	At time.Time
	// Activity is what ListStatements said of the session's statements;
	// nil when it was not asked (not READY, idle detection off, or it
	// failed).
	Activity *Activity
	// CreatedBy is the creator a CloudTrail CreateSession record of the
	// session names; empty when the run was not started by one. It goes
	// to a session seen for the first time (a new one under a reused id
	// included), or to the snapshot's session when that has none yet.
	CreatedBy string
}

// Rules are the parts of the configuration that decide a transition.
type Rules struct {
	// RetentionDays is how long a finished or deleted session's snapshot
	// is kept after it finished.
	RetentionDays int
	// StuckMinutes, RunningHours, IdleMinutes and CostUSD are the alert
	// thresholds (0 or empty: off); DPUHourUSD the price of a DPU-hour.
	StuckMinutes int
	RunningHours []float64
	IdleMinutes  int
	CostUSD      []float64
	DPUHourUSD   float64
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
// (an error message that clears is remembered, not announced; a session
// that finished leaves the registry). It does no I/O and leaves its
// arguments alone.
func Transition(prev *state.Snapshot, obs Observation, rules Rules) (next *state.Snapshot, events []Event) {
	known := prev != nil && prev.Seen() && !prev.Deleted
	cur := obs.Session
	if cur == nil {
		if !known {
			return nil, nil // Glue never knew it, or its deletion was announced
		}
		next = successor(prev, obs.SessionID)
		next.Deleted, next.ObservedAt, next.Shelf = true, obs.At, ""
		next.ExpiresAt = expiry(obs.At, obs.At, rules)
		return next, []Event{announce(next, gone(prev), prev, nil, obs.At)}
	}

	next = successor(prev, obs.SessionID)
	// Glue reuses session ids: another CreatedOn is another session. The
	// old one, last seen unfinished, is gone; the new one is a first
	// sighting whose numbering goes on from the old one's.
	reborn := known && prev.CreatedOn != nil && cur.CreatedOn != nil && !prev.CreatedOn.Equal(*cur.CreatedOn)
	if reborn && !state.IsFinished(prev.Status) {
		events = append(events, announce(next, gone(prev), prev, nil, obs.At))
	}
	first := !known || reborn
	before := prev // what "previous" means in the events
	if reborn {
		before = nil
		next.Status, next.ErrorMessage, next.ErrorDigest, next.ObservedAt, next.ExpiresAt = "", "", "", time.Time{}, 0
		next.StatusSince, next.Fired = nil, nil
	}
	if first {
		next.CreatedBy = "" // a new session: the old one's creator is not its
	}
	if obs.CreatedBy != "" && next.CreatedBy == "" {
		next.CreatedBy = obs.CreatedBy
	}
	if cur.CreatedOn != nil && (first || next.CreatedOn == nil) {
		created := cur.CreatedOn.UTC()
		next.CreatedOn = &created
	}

	status, errMsg := string(cur.Status), aws.ToString(cur.ErrorMessage)
	finished := state.IsFinished(status)
	if first && !reborn && finished && cur.CompletedOn != nil && obs.At.Sub(*cur.CompletedOn) > retention(rules) {
		// Ended before the retention period: never announced nor stored,
		// so a session Glue keeps listing is never announced twice. A
		// tracked id of it leaves the registry.
		if prev == nil || !prev.Watched() {
			return nil, nil
		}
		next = successor(prev, obs.SessionID)
		next.Shelf, next.ExpiresAt = "", expiry(obs.At, obs.At, rules)
		return next, nil
	}
	statusChanged := first || status != next.Status
	newError := errMsg != "" && (first || !next.SameError(errMsg))
	if statusChanged || newError {
		next.ObservedAt = obs.At
	}
	if statusChanged {
		since := obs.At
		if first && status == "PROVISIONING" && cur.CreatedOn != nil {
			since = cur.CreatedOn.UTC()
		}
		next.StatusSince = &since
		next.Fired = forgetStuck(next.Fired)
	}
	next.Deleted, next.Status = false, status
	next.SetError(errMsg)
	settle(next, cur, obs.At, rules)

	backfill := first && !reborn && finished
	cost := CostOf(cur, obs.At, rules.DPUHourUSD)
	next.DPU, next.DPUHours = nil, nil
	if cost != nil {
		dpu, hours := *cost.DPU, cost.DPUHours
		next.DPU, next.DPUHours = &dpu, &hours
	}
	base := change{first: first, backfill: backfill, createdOn: next.CreatedOn, createdBy: nonEmpty(next.CreatedBy), cost: cost,
		status: nonEmpty(status), errorMessage: nonEmpty(errMsg)}
	if !first {
		base.previousStatus, base.previousErrorMessage = nonEmpty(prev.Status), nonEmpty(prev.ErrorMessage)
	}
	if statusChanged {
		c := base
		c.detailType = DetailTypeStateChange
		events = append(events, announce(next, c, before, cur, obs.At))
	}
	if newError {
		c := base
		c.detailType = DetailTypeError
		events = append(events, announce(next, c, before, cur, obs.At))
	}
	// Alerts are about a live session, or the one that just ended (its
	// final cost); none for a session first seen finished (what ended
	// before sessionwatch looked), none again once it is finished.
	if !finished || (statusChanged && !first) {
		for _, a := range alerts(next, cur, obs, rules, cost) {
			c := base
			c.detailType, c.alert, c.fired, c.threshold, c.message = a.detailType, a.alert, a.fired, a.threshold, a.message
			events = append(events, announce(next, c, before, cur, obs.At))
			next.Fired = remember(next.Fired, a.fired)
		}
	}
	if len(events) == 0 && sameRecord(prev, next) {
		return nil, nil
	}
	return next, events
}

// settle sets what follows from the session's status: a session seen
// unfinished is watched until it is seen finished (unless a user
// untracked it); a finished or untracked one expires, RETENTION_DAYS after
// it finished (or after it was untracked), never less than a day after the
// write.
func settle(next *state.Snapshot, cur *gluetypes.Session, at time.Time, rules Rules) {
	switch finished := state.IsFinished(next.Status); {
	case !finished && !next.Untracked:
		next.Shelf, next.ExpiresAt = state.OnShelf, 0
		return
	case finished:
		next.Shelf = ""
		if next.ExpiresAt == 0 {
			completed := at
			if cur.CompletedOn != nil {
				completed = *cur.CompletedOn
			}
			next.ExpiresAt = expiry(completed, at, rules)
		}
	case next.ExpiresAt == 0: // unfinished, untracked
		next.ExpiresAt = expiry(at, at, rules)
	}
	next.ExpiresAt = max(next.ExpiresAt, at.Add(24*time.Hour).Unix())
}

// sameRecord tells whether next records nothing prev does not. A later
// expiry, or a CreatedOn the snapshot lacked, is written with the next
// change, not for itself: a quiet run writes nothing.
func sameRecord(prev, next *state.Snapshot) bool {
	if prev == nil || (prev.ExpiresAt == 0) != (next.ExpiresAt == 0) {
		return false
	}
	p := *prev
	p.ExpiresAt = next.ExpiresAt
	p.DPU, p.DPUHours = next.DPU, next.DPUHours // what it cost so far goes with a change
	if p.CreatedOn == nil {
		p.CreatedOn = next.CreatedOn
	}
	return reflect.DeepEqual(&p, next)
}

// gone is the deletion of the session prev describes.
func gone(prev *state.Snapshot) change {
	return change{
		detailType:           DetailTypeDeleted,
		createdOn:            prev.CreatedOn,
		createdBy:            nonEmpty(prev.CreatedBy),
		previousStatus:       nonEmpty(prev.Status),
		previousErrorMessage: nonEmpty(prev.ErrorMessage),
	}
}

// announce numbers change c with the session's next sequence number and
// builds its event.
func announce(next *state.Snapshot, c change, prev *state.Snapshot, cur *gluetypes.Session, at time.Time) Event {
	next.Sequence++
	return Event{DetailType: c.detailType, Detail: buildDetail(next.SessionID, next.Sequence, c, prev, cur, at)}
}

// successor is the starting point of the snapshot after prev: a copy of
// it, or a new snapshot of id.
func successor(prev *state.Snapshot, id string) *state.Snapshot {
	if prev == nil {
		return &state.Snapshot{SessionID: id}
	}
	next := *prev
	return &next
}

func retention(rules Rules) time.Duration {
	return time.Duration(rules.RetentionDays) * 24 * time.Hour
}

// expiry is the TTL of a snapshot whose session finished at t, written at
// at: RETENTION_DAYS after t, and never less than a day after at.
func expiry(t, at time.Time, rules Rules) int64 {
	return max(t.Add(retention(rules)).Unix(), at.Add(24*time.Hour).Unix())
}

// change is one thing a transition announces. Nil pointers are "none": no
// status (a deletion) or no error message.
type change struct {
	detailType string
	// first is set when the session is seen for the first time, backfill
	// when it was then already finished.
	first, backfill bool
	// createdOn is the CreatedOn of the session the change is about, and
	// createdBy its creator (nil: unknown).
	createdOn *time.Time
	createdBy *string
	// cost is what the session had cost at the observation (nil: unknown).
	cost *Cost
	// alert, threshold and message describe an alert; fired is its key in
	// the snapshot's Fired, which names it in its eventId too.
	alert, fired, message string
	threshold             *Threshold
	status                *string
	previousStatus        *string
	errorMessage          *string
	previousErrorMessage  *string
}

// nonEmpty returns a pointer to s, or nil for the empty string: Glue's
// "no value" is never published as "".
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
