package handler_test

import (
	"cmp"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/state"
)

// glueStatuses are the six statuses Glue documents for a session.
var glueStatuses = []string{"PROVISIONING", "READY", "FAILED", "TIMEOUT", "STOPPING", "STOPPED"}

var (
	// seenAt is when the snapshots of the table were observed, observedAt
	// when the transition observes Glue's answer; created is the
	// session's CreatedOn, recreated another session's under the same id.
	seenAt     = time.Date(2026, 11, 24, 11, 55, 0, 0, time.UTC)
	observedAt = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	created    = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	recreated  = time.Date(2026, 11, 24, 11, 58, 0, 0, time.UTC)
	rules      = handler.Rules{RetentionDays: 30}
	retention  = 30 * 24 * time.Hour
	// expires is the TTL of a snapshot that finishes at observedAt.
	expires = observedAt.Add(retention).Unix()
)

// snap is a stored snapshot of s-1 at sequence 4, version 2, as this
// version writes it: watched while unfinished, expiring once finished.
func snap(status, errMsg string) *state.Snapshot {
	s := &state.Snapshot{SessionID: "s-1", CreatedOn: &created, Status: status, ObservedAt: seenAt, Sequence: 4, Version: 2}
	s.SetError(errMsg)
	if state.IsFinished(status) {
		s.ExpiresAt = seenAt.Add(retention).Unix()
	} else {
		s.Shelf = state.OnShelf
	}
	return s
}

// answer is Glue's answer for s-1.
func answer(status, errMsg string) *gluetypes.Session {
	s := &gluetypes.Session{Id: aws.String("s-1"), Status: gluetypes.SessionStatus(status), CreatedOn: &created}
	if errMsg != "" {
		s.ErrorMessage = aws.String(errMsg)
	}
	return s
}

// with returns a copy of s changed by f.
func with(s *state.Snapshot, f func(*state.Snapshot)) *state.Snapshot {
	c := *s
	f(&c)
	return &c
}

// in sets what a snapshot records of a session seen in status at
// observedAt: watched while unfinished; once finished, expiring keep (or
// RETENTION_DAYS after observedAt when keep is 0).
func in(status string, keep int64) func(*state.Snapshot) {
	return func(s *state.Snapshot) {
		s.Status, s.ObservedAt, s.StatusSince = status, observedAt, &observedAt
		s.Shelf, s.ExpiresAt = state.OnShelf, 0
		if state.IsFinished(status) {
			s.Shelf, s.ExpiresAt = "", cmp.Or(keep, expires)
		}
	}
}

// ev is an event of a transition with its pointers rendered ("-" for
// nil), so that events compare with == and print readably.
type ev struct {
	Type                               string
	Seq                                int64
	Status, Previous, Error, PrevError string
	Severity                           string
	Backfill                           bool
}

func (e ev) String() string {
	return fmt.Sprintf("%s #%d %s←%s error %s←%s %s backfill=%v", e.Type, e.Seq, e.Status, e.Previous, e.Error, e.PrevError, e.Severity, e.Backfill)
}

func orDash(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

const (
	stateChange = handler.DetailTypeStateChange
	errorChange = handler.DetailTypeError
	deleted     = handler.DetailTypeDeleted
)

// TestTransition is the rule of sessionwatch as one table: from a snapshot
// and Glue's answer, the next snapshot and the events, for every status
// pair, first sightings, errors that appear, change and clear, deletions,
// the registry (tracked, untracked, finished), expiry, re-created
// sessions and backfill.
func TestTransition(t *testing.T) {
	long := strings.Repeat("é", state.MaxStoredError) // past what a snapshot keeps whole
	longKept := snap("READY", long).ErrorMessage
	completed := observedAt.Add(-time.Hour)
	finishedAt := func(a *gluetypes.Session, at time.Time) *gluetypes.Session { a.CompletedOn = &at; return a }
	type row struct {
		name   string
		prev   *state.Snapshot    // nil: never seen
		answer *gluetypes.Session // nil: Glue does not know the session
		next   *state.Snapshot    // nil: nothing to write
		events []ev
	}
	var rows []row
	for _, from := range glueStatuses {
		for _, to := range glueStatuses {
			r := row{name: from + "→" + to, prev: snap(from, ""), answer: answer(to, "")}
			if from != to {
				r.next = with(r.prev, in(to, r.prev.ExpiresAt))
				r.next.Sequence = 5
				severity := map[string]string{"FAILED": "ERROR", "TIMEOUT": "WARN"}[to]
				r.events = []ev{{stateChange, 5, to, from, "-", "-", cmp.Or(severity, "INFO"), false}}
			}
			rows = append(rows, r)
		}
	}
	deletedSnap := with(snap("READY", ""), func(s *state.Snapshot) { s.Deleted, s.Shelf, s.ExpiresAt = true, "", expires })
	stub := &state.Snapshot{SessionID: "s-1", Shelf: state.OnShelf, Version: 1}
	legacy := with(snap("READY", ""), func(s *state.Snapshot) { s.Shelf, s.CreatedOn = "", nil })
	untracked := with(snap("READY", ""), func(s *state.Snapshot) { s.Shelf, s.Untracked, s.ExpiresAt = "", true, expires+99 })
	retracked := with(snap("STOPPED", ""), func(s *state.Snapshot) { s.Shelf, s.ExpiresAt = state.OnShelf, 0 })
	expiringSoon := with(snap("STOPPED", ""), func(s *state.Snapshot) { s.ExpiresAt = observedAt.Unix() + 60 })
	rows = append(rows, []row{
		{name: "first sighting", answer: answer("PROVISIONING", ""),
			next:   &state.Snapshot{SessionID: "s-1", CreatedOn: &created, Status: "PROVISIONING", ObservedAt: observedAt, StatusSince: &created, Sequence: 1, Shelf: state.OnShelf},
			events: []ev{{stateChange, 1, "PROVISIONING", "-", "-", "-", "INFO", false}}},
		{name: "first sighting, already failed: backfill", answer: answer("FAILED", "boom"),
			next: &state.Snapshot{SessionID: "s-1", CreatedOn: &created, Status: "FAILED", ErrorMessage: "boom", ObservedAt: observedAt, StatusSince: &observedAt, Sequence: 2,
				ExpiresAt: expires},
			events: []ev{{stateChange, 1, "FAILED", "-", "boom", "-", "ERROR", true}, {errorChange, 2, "FAILED", "-", "boom", "-", "ERROR", true}}},
		{name: "first sighting, finished: expires after CompletedOn", answer: finishedAt(answer("STOPPED", ""), completed),
			next: &state.Snapshot{SessionID: "s-1", CreatedOn: &created, Status: "STOPPED", ObservedAt: observedAt, StatusSince: &observedAt, Sequence: 1,
				ExpiresAt: completed.Add(retention).Unix()},
			events: []ev{{stateChange, 1, "STOPPED", "-", "-", "-", "INFO", true}}},
		{name: "first sighting, finished before the retention period: neither announced nor stored",
			answer: finishedAt(answer("STOPPED", ""), observedAt.Add(-retention-time.Second))},
		{name: "first sighting, finished just within the retention period", answer: finishedAt(answer("STOPPED", ""), observedAt.Add(-retention)),
			next: &state.Snapshot{SessionID: "s-1", CreatedOn: &created, Status: "STOPPED", ObservedAt: observedAt, StatusSince: &observedAt, Sequence: 1,
				ExpiresAt: observedAt.Add(24 * time.Hour).Unix()},
			events: []ev{{stateChange, 1, "STOPPED", "-", "-", "-", "INFO", true}}},
		{name: "first sighting without a status", answer: answer("", ""),
			next:   &state.Snapshot{SessionID: "s-1", CreatedOn: &created, ObservedAt: observedAt, StatusSince: &observedAt, Sequence: 1, Shelf: state.OnShelf},
			events: []ev{{stateChange, 1, "-", "-", "-", "-", "INFO", false}}},
		{name: "tracked, never seen: first sighting", prev: stub, answer: answer("READY", ""),
			next:   &state.Snapshot{SessionID: "s-1", CreatedOn: &created, Status: "READY", ObservedAt: observedAt, StatusSince: &observedAt, Sequence: 1, Version: 1, Shelf: state.OnShelf},
			events: []ev{{stateChange, 1, "READY", "-", "-", "-", "INFO", false}}},
		{name: "tracked, Glue does not know it: nothing", prev: stub},
		{name: "tracked, finished before the retention period: leaves the registry", prev: stub,
			answer: finishedAt(answer("STOPPED", ""), observedAt.Add(-2*retention)),
			next:   with(stub, func(s *state.Snapshot) { s.Shelf, s.ExpiresAt = "", expires })},
		{name: "tracked again once finished, still finished: leaves the registry", prev: retracked, answer: answer("STOPPED", ""),
			next: with(retracked, func(s *state.Snapshot) { s.Shelf, s.ExpiresAt = "", expires })},
		{name: "untracked, moving on: stays out of the registry, expiry kept", prev: untracked, answer: answer("STOPPING", ""),
			next: with(untracked, func(s *state.Snapshot) {
				s.Status, s.ObservedAt, s.Sequence = "STOPPING", observedAt, 5
				s.StatusSince = &observedAt
			}),
			events: []ev{{stateChange, 5, "STOPPING", "READY", "-", "-", "INFO", false}}},
		{name: "untracked, unchanged: nothing", prev: untracked, answer: answer("READY", "")},
		{name: "first version's unfinished snapshot joins the registry", prev: legacy, answer: answer("READY", ""),
			next: with(legacy, func(s *state.Snapshot) { s.Shelf, s.CreatedOn = state.OnShelf, &created })},
		{name: "a CreatedOn the snapshot lacks is kept with the next change only", prev: with(snap("READY", ""), func(s *state.Snapshot) { s.CreatedOn = nil }),
			answer: answer("READY", "")},
		{name: "finished, expiring within a day, changes: kept at least a day", prev: expiringSoon, answer: answer("STOPPED", "late"),
			next: with(expiringSoon, func(s *state.Snapshot) {
				s.ErrorMessage, s.ObservedAt, s.Sequence, s.ExpiresAt = "late", observedAt, 5, observedAt.Add(24*time.Hour).Unix()
			}),
			events: []ev{{errorChange, 5, "STOPPED", "STOPPED", "late", "-", "ERROR", false}}},
		{name: "unknown status passed through", prev: snap("READY", ""), answer: answer("RESIZING", ""),
			next: with(snap("READY", ""), func(s *state.Snapshot) {
				s.Status, s.ObservedAt, s.Sequence = "RESIZING", observedAt, 5
				s.StatusSince = &observedAt
			}),
			events: []ev{{stateChange, 5, "RESIZING", "READY", "-", "-", "INFO", false}}},
		{name: "unknown status unchanged", prev: snap("RESIZING", ""), answer: answer("RESIZING", "")},
		{name: "status goes missing", prev: snap("READY", ""), answer: answer("", ""),
			next: with(snap("READY", ""), func(s *state.Snapshot) {
				s.Status, s.ObservedAt, s.Sequence = "", observedAt, 5
				s.StatusSince = &observedAt
			}),
			events: []ev{{stateChange, 5, "-", "READY", "-", "-", "INFO", false}}},
		{name: "error appears", prev: snap("READY", ""), answer: answer("READY", "boom"),
			next:   with(snap("READY", "boom"), func(s *state.Snapshot) { s.ObservedAt, s.Sequence = observedAt, 5 }),
			events: []ev{{errorChange, 5, "READY", "READY", "boom", "-", "ERROR", false}}},
		{name: "error changes", prev: snap("READY", "boom"), answer: answer("READY", "bang"),
			next:   with(snap("READY", "bang"), func(s *state.Snapshot) { s.ObservedAt, s.Sequence = observedAt, 5 }),
			events: []ev{{errorChange, 5, "READY", "READY", "bang", "boom", "ERROR", false}}},
		{name: "error unchanged", prev: snap("READY", "boom"), answer: answer("READY", "boom")},
		{name: "error clears: remembered, not announced", prev: snap("READY", "boom"), answer: answer("READY", ""),
			next: snap("READY", "")},
		{name: "long error unchanged (kept as a digest)", prev: snap("READY", long), answer: answer("READY", long)},
		{name: "long error changes after the part kept", prev: snap("READY", long), answer: answer("READY", long+"!"),
			next:   with(snap("READY", long+"!"), func(s *state.Snapshot) { s.ObservedAt, s.Sequence = observedAt, 5 }),
			events: []ev{{errorChange, 5, "READY", "READY", long + "!", longKept, "ERROR", false}}},
		{name: "status and error change together", prev: snap("READY", ""), answer: answer("FAILED", "boom"),
			next: with(snap("READY", "boom"), func(s *state.Snapshot) {
				in("FAILED", 0)(s)
				s.Sequence = 6
			}),
			events: []ev{{stateChange, 5, "FAILED", "READY", "boom", "-", "ERROR", false}, {errorChange, 6, "FAILED", "READY", "boom", "-", "ERROR", false}}},
		{name: "status changes, error stays", prev: snap("READY", "boom"), answer: answer("STOPPING", "boom"),
			next:   with(snap("STOPPING", "boom"), func(s *state.Snapshot) { s.ObservedAt, s.Sequence, s.StatusSince = observedAt, 5, &observedAt }),
			events: []ev{{stateChange, 5, "STOPPING", "READY", "boom", "boom", "INFO", false}}},
		{name: "status changes, error clears", prev: snap("FAILED", "boom"), answer: answer("READY", ""),
			next:   with(snap("FAILED", ""), func(s *state.Snapshot) { in("READY", 0)(s); s.Sequence = 5 }),
			events: []ev{{stateChange, 5, "READY", "FAILED", "-", "boom", "INFO", false}}},
		{name: "deleted", prev: snap("READY", ""),
			next: with(snap("READY", ""), func(s *state.Snapshot) {
				s.Deleted, s.ObservedAt, s.Sequence, s.Shelf, s.ExpiresAt = true, observedAt, 5, "", expires
			}),
			events: []ev{{deleted, 5, "-", "READY", "-", "-", "WARN", false}}},
		{name: "deleted with an error", prev: snap("FAILED", "boom"),
			next: with(snap("FAILED", "boom"), func(s *state.Snapshot) {
				s.Deleted, s.ObservedAt, s.Sequence, s.ExpiresAt = true, observedAt, 5, expires
			}),
			events: []ev{{deleted, 5, "-", "FAILED", "-", "boom", "WARN", false}}},
		{name: "not found, never seen: nothing", prev: nil},
		{name: "deletion not announced twice", prev: deletedSnap},
		{name: "seen again after its deletion: a first sighting, watched again, the sequence goes on", prev: deletedSnap, answer: answer("READY", ""),
			next:   with(deletedSnap, func(s *state.Snapshot) { s.Deleted, s.Sequence = false, 5; in("READY", 0)(s) }),
			events: []ev{{stateChange, 5, "READY", "-", "-", "-", "INFO", false}}},
		{name: "re-created while the old one ran: the old one's deletion, then a first sighting", prev: snap("READY", "boom"),
			answer: createdAt(answer("PROVISIONING", ""), recreated),
			next: &state.Snapshot{SessionID: "s-1", CreatedOn: &recreated, Status: "PROVISIONING", ObservedAt: observedAt, StatusSince: &recreated, Sequence: 6,
				Version: 2, Shelf: state.OnShelf},
			events: []ev{{deleted, 5, "-", "READY", "-", "boom", "WARN", false}, {stateChange, 6, "PROVISIONING", "-", "-", "-", "INFO", false}}},
		{name: "re-created after the old one finished: a first sighting only", prev: snap("STOPPED", ""),
			answer: createdAt(answer("READY", ""), recreated),
			next: &state.Snapshot{SessionID: "s-1", CreatedOn: &recreated, Status: "READY", ObservedAt: observedAt, StatusSince: &observedAt, Sequence: 5,
				Version: 2, Shelf: state.OnShelf},
			events: []ev{{stateChange, 5, "READY", "-", "-", "-", "INFO", false}}},
		{name: "re-created and already failed: not a backfill", prev: snap("STOPPED", ""),
			answer: createdAt(answer("FAILED", "oom"), recreated),
			next: &state.Snapshot{SessionID: "s-1", CreatedOn: &recreated, Status: "FAILED", ErrorMessage: "oom", ObservedAt: observedAt, StatusSince: &observedAt,
				Sequence: 6, Version: 2, ExpiresAt: expires},
			events: []ev{{stateChange, 5, "FAILED", "-", "oom", "-", "ERROR", false}, {errorChange, 6, "FAILED", "-", "oom", "-", "ERROR", false}}},
		{name: "first version's snapshot without CreatedOn is not taken for a re-creation", prev: with(snap("READY", ""), func(s *state.Snapshot) { s.CreatedOn = nil }),
			answer: createdAt(answer("STOPPING", ""), recreated),
			next: with(snap("READY", ""), func(s *state.Snapshot) {
				s.CreatedOn, s.Status, s.ObservedAt, s.Sequence, s.StatusSince = &recreated, "STOPPING", observedAt, 5, &observedAt
			}),
			events: []ev{{stateChange, 5, "STOPPING", "READY", "-", "-", "INFO", false}}},
	}...)

	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			prevCopy := copySnapshot(r.prev)
			obs := handler.Observation{SessionID: "s-1", Session: r.answer, At: observedAt}
			next, events := handler.Transition(r.prev, obs, rules)
			if !reflect.DeepEqual(r.prev, prevCopy) {
				t.Fatalf("Transition changed the snapshot it was given")
			}
			if !reflect.DeepEqual(next, r.next) {
				t.Errorf("next snapshot:\n got %+v\nwant %+v", next, r.next)
			}
			got := make([]ev, len(events))
			for i, e := range events {
				d := e.Detail
				got[i] = ev{e.DetailType, d.Sequence, orDash(d.Status), orDash(d.PreviousStatus), orDash(d.ErrorMessage), orDash(d.PreviousErrorMessage), d.Severity, d.Backfill}
				if !d.ObservedAt.Equal(observedAt) || d.SessionID != "s-1" || !eventIDRe.MatchString(d.EventID) {
					t.Errorf("event %d: observedAt %v, sessionId %q, eventId %q", i, d.ObservedAt, d.SessionID, d.EventID)
				}
			}
			if !reflect.DeepEqual(got, r.events) && (len(got) > 0 || len(r.events) > 0) {
				t.Errorf("events:\n got %v\nwant %v", got, r.events)
			}
			// Saved, the same answer is no change any more.
			if next != nil {
				if again, more := handler.Transition(next, obs, rules); again != nil || len(more) > 0 {
					t.Errorf("the same answer after saving gives %+v and %d events, want nothing", again, len(more))
				}
			}
		})
	}
}

// TestTransitionEventIDs: an eventId names one change (a detail type at
// a sequence number, with its new status for a state change or its new
// message for an error) and nothing else, and the same observation always
// gives the same ids, whenever it is observed (a re-delivery after a crash
// carries the original's id).
func TestTransitionEventIDs(t *testing.T) {
	changeOf := map[string]string{} // eventId → the change it names
	idOf := map[string]string{}     // change → its eventId
	for _, from := range append(glueStatuses, "") {
		for _, to := range glueStatuses {
			for _, errMsg := range []string{"", "boom", "bang"} {
				prev := snap(from, "")
				if from == "" {
					prev = nil
				}
				obs := handler.Observation{SessionID: "s-1", Session: answer(to, errMsg), At: observedAt}
				_, first := handler.Transition(prev, obs, rules)
				obs.At = observedAt.Add(time.Hour)
				_, later := handler.Transition(prev, obs, rules)
				for i, e := range first {
					id := e.Detail.EventID
					if later[i].Detail.EventID != id {
						t.Errorf("%s→%s: eventId %s observed later is %s", from, to, id, later[i].Detail.EventID)
					}
					what := orDash(e.Detail.Status)
					if e.DetailType == handler.DetailTypeError {
						what = orDash(e.Detail.ErrorMessage)
					}
					change := fmt.Sprintf("%s #%d %s", e.DetailType, e.Detail.Sequence, what)
					if other, ok := changeOf[id]; ok && other != change {
						t.Errorf("%q and %q share the eventId %s", other, change, id)
					}
					if other, ok := idOf[change]; ok && other != id {
						t.Errorf("%q has two eventIds, %s and %s", change, other, id)
					}
					changeOf[id], idOf[change] = change, id
				}
			}
		}
	}
}

// TestTransitionEventIDsAcrossIncarnations: a session re-created under a
// reused id, once its predecessor's snapshot expired, numbers its events
// from 1 again; its ids still differ from the predecessor's.
func TestTransitionEventIDsAcrossIncarnations(t *testing.T) {
	for _, status := range glueStatuses {
		first := handler.Observation{SessionID: "s-1", Session: answer(status, "boom"), At: observedAt}
		second := handler.Observation{SessionID: "s-1", Session: createdAt(answer(status, "boom"), recreated), At: observedAt}
		_, a := handler.Transition(nil, first, rules)
		_, b := handler.Transition(nil, second, rules)
		for i := range a {
			if a[i].Detail.Sequence != b[i].Detail.Sequence || a[i].Detail.EventID == b[i].Detail.EventID {
				t.Errorf("%s: event %d of the two sessions: #%d %s and #%d %s, want the same sequence and two ids",
					status, i, a[i].Detail.Sequence, a[i].Detail.EventID, b[i].Detail.Sequence, b[i].Detail.EventID)
			}
		}
	}
}

func createdAt(a *gluetypes.Session, at time.Time) *gluetypes.Session {
	a.CreatedOn = &at
	return a
}
