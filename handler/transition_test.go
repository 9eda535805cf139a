package handler_test

import (
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
	// when the transition observes Glue's answer.
	seenAt     = time.Date(2026, 11, 24, 11, 55, 0, 0, time.UTC)
	observedAt = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	rules      = handler.Rules{RetentionDays: 30}
	retention  = 30 * 24 * time.Hour
)

// snap is a stored snapshot of s-1 at sequence 4, version 2.
func snap(status, errMsg string) *state.Snapshot {
	s := &state.Snapshot{SessionID: "s-1", Status: status, ObservedAt: seenAt, Sequence: 4, Version: 2}
	s.SetError(errMsg)
	return s
}

// answer is Glue's answer for s-1.
func answer(status, errMsg string) *gluetypes.Session {
	s := &gluetypes.Session{Id: aws.String("s-1"), Status: gluetypes.SessionStatus(status)}
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

// ev is an event of a transition with its pointers rendered ("-" for
// nil), so that events compare with == and print readably.
type ev struct {
	Type                               string
	Seq                                int64
	Status, Previous, Error, PrevError string
	Severity                           string
}

func (e ev) String() string {
	return fmt.Sprintf("%s #%d %s←%s error %s←%s %s", e.Type, e.Seq, e.Status, e.Previous, e.Error, e.PrevError, e.Severity)
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
// pair, first sightings, errors that appear, change and clear, and
// deletions.
func TestTransition(t *testing.T) {
	long := strings.Repeat("é", state.MaxStoredError) // past what a snapshot keeps whole
	longKept := snap("READY", long).ErrorMessage
	completed := observedAt.Add(-time.Hour)
	finishedAt := func(a *gluetypes.Session) *gluetypes.Session { a.CompletedOn = &completed; return a }
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
				r.next = with(r.prev, func(s *state.Snapshot) {
					s.Status, s.ObservedAt, s.Sequence = to, observedAt, 5
					if state.IsFinished(to) {
						s.ExpiresAt = observedAt.Add(retention).Unix()
					}
				})
				severity := map[string]string{"FAILED": "ERROR", "TIMEOUT": "WARN"}[to]
				r.events = []ev{{stateChange, 5, to, from, "-", "-", cmpOr(severity, "INFO")}}
			}
			rows = append(rows, r)
		}
	}
	deletedSnap := with(snap("READY", ""), func(s *state.Snapshot) { s.Deleted = true })
	expiring := with(snap("STOPPED", ""), func(s *state.Snapshot) { s.ExpiresAt = 12345 })
	rows = append(rows, []row{
		{name: "first sighting", answer: answer("PROVISIONING", ""),
			next:   &state.Snapshot{SessionID: "s-1", Status: "PROVISIONING", ObservedAt: observedAt, Sequence: 1},
			events: []ev{{stateChange, 1, "PROVISIONING", "-", "-", "-", "INFO"}}},
		{name: "first sighting with an error", answer: answer("FAILED", "boom"),
			next: &state.Snapshot{SessionID: "s-1", Status: "FAILED", ErrorMessage: "boom", ObservedAt: observedAt, Sequence: 2,
				ExpiresAt: observedAt.Add(retention).Unix()},
			events: []ev{{stateChange, 1, "FAILED", "-", "boom", "-", "ERROR"}, {errorChange, 2, "FAILED", "-", "boom", "-", "ERROR"}}},
		{name: "first sighting, finished: expires after CompletedOn", answer: finishedAt(answer("STOPPED", "")),
			next: &state.Snapshot{SessionID: "s-1", Status: "STOPPED", ObservedAt: observedAt, Sequence: 1,
				ExpiresAt: completed.Add(retention).Unix()},
			events: []ev{{stateChange, 1, "STOPPED", "-", "-", "-", "INFO"}}},
		{name: "first sighting without a status", answer: answer("", ""),
			next:   &state.Snapshot{SessionID: "s-1", ObservedAt: observedAt, Sequence: 1},
			events: []ev{{stateChange, 1, "-", "-", "-", "-", "INFO"}}},
		{name: "unknown status passed through", prev: snap("READY", ""), answer: answer("RESIZING", ""),
			next:   with(snap("READY", ""), func(s *state.Snapshot) { s.Status, s.ObservedAt, s.Sequence = "RESIZING", observedAt, 5 }),
			events: []ev{{stateChange, 5, "RESIZING", "READY", "-", "-", "INFO"}}},
		{name: "unknown status unchanged", prev: snap("RESIZING", ""), answer: answer("RESIZING", "")},
		{name: "status goes missing", prev: snap("READY", ""), answer: answer("", ""),
			next:   with(snap("READY", ""), func(s *state.Snapshot) { s.Status, s.ObservedAt, s.Sequence = "", observedAt, 5 }),
			events: []ev{{stateChange, 5, "-", "READY", "-", "-", "INFO"}}},
		{name: "error appears", prev: snap("READY", ""), answer: answer("READY", "boom"),
			next:   with(snap("READY", "boom"), func(s *state.Snapshot) { s.ObservedAt, s.Sequence = observedAt, 5 }),
			events: []ev{{errorChange, 5, "READY", "READY", "boom", "-", "ERROR"}}},
		{name: "error changes", prev: snap("READY", "boom"), answer: answer("READY", "bang"),
			next:   with(snap("READY", "bang"), func(s *state.Snapshot) { s.ObservedAt, s.Sequence = observedAt, 5 }),
			events: []ev{{errorChange, 5, "READY", "READY", "bang", "boom", "ERROR"}}},
		{name: "error unchanged", prev: snap("READY", "boom"), answer: answer("READY", "boom")},
		{name: "error clears: remembered, not announced", prev: snap("READY", "boom"), answer: answer("READY", ""),
			next: snap("READY", "")},
		{name: "long error unchanged (kept as a digest)", prev: snap("READY", long), answer: answer("READY", long)},
		{name: "long error changes after the part kept", prev: snap("READY", long), answer: answer("READY", long+"!"),
			next:   with(snap("READY", long+"!"), func(s *state.Snapshot) { s.ObservedAt, s.Sequence = observedAt, 5 }),
			events: []ev{{errorChange, 5, "READY", "READY", long + "!", longKept, "ERROR"}}},
		{name: "status and error change together", prev: snap("READY", ""), answer: answer("FAILED", "boom"),
			next: with(snap("FAILED", "boom"), func(s *state.Snapshot) {
				s.ObservedAt, s.Sequence, s.ExpiresAt = observedAt, 6, observedAt.Add(retention).Unix()
			}),
			events: []ev{{stateChange, 5, "FAILED", "READY", "boom", "-", "ERROR"}, {errorChange, 6, "FAILED", "READY", "boom", "-", "ERROR"}}},
		{name: "status changes, error stays", prev: snap("READY", "boom"), answer: answer("STOPPING", "boom"),
			next:   with(snap("STOPPING", "boom"), func(s *state.Snapshot) { s.ObservedAt, s.Sequence = observedAt, 5 }),
			events: []ev{{stateChange, 5, "STOPPING", "READY", "boom", "boom", "INFO"}}},
		{name: "status changes, error clears", prev: snap("FAILED", "boom"), answer: answer("READY", ""),
			next:   with(snap("READY", ""), func(s *state.Snapshot) { s.ObservedAt, s.Sequence = observedAt, 5 }),
			events: []ev{{stateChange, 5, "READY", "FAILED", "-", "boom", "INFO"}}},
		{name: "finished again keeps its expiry", prev: expiring, answer: answer("FAILED", ""),
			next:   with(expiring, func(s *state.Snapshot) { s.Status, s.ObservedAt, s.Sequence = "FAILED", observedAt, 5 }),
			events: []ev{{stateChange, 5, "FAILED", "STOPPED", "-", "-", "ERROR"}}},
		{name: "deleted", prev: snap("READY", ""),
			next: with(snap("READY", ""), func(s *state.Snapshot) {
				s.Deleted, s.ObservedAt, s.Sequence, s.ExpiresAt = true, observedAt, 5, observedAt.Add(retention).Unix()
			}),
			events: []ev{{deleted, 5, "-", "READY", "-", "-", "WARN"}}},
		{name: "deleted with an error", prev: snap("FAILED", "boom"),
			next: with(snap("FAILED", "boom"), func(s *state.Snapshot) {
				s.Deleted, s.ObservedAt, s.Sequence, s.ExpiresAt = true, observedAt, 5, observedAt.Add(retention).Unix()
			}),
			events: []ev{{deleted, 5, "-", "FAILED", "-", "boom", "WARN"}}},
		{name: "not found, never seen: nothing", prev: nil},
		{name: "deletion not announced twice", prev: deletedSnap},
		{name: "seen again after its deletion: a first sighting, the sequence goes on", prev: deletedSnap, answer: answer("READY", ""),
			next:   with(deletedSnap, func(s *state.Snapshot) { s.Deleted, s.ObservedAt, s.Sequence = false, observedAt, 5 }),
			events: []ev{{stateChange, 5, "READY", "-", "-", "-", "INFO"}}},
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
				got[i] = ev{e.DetailType, d.Sequence, orDash(d.Status), orDash(d.PreviousStatus), orDash(d.ErrorMessage), orDash(d.PreviousErrorMessage), d.Severity}
				if !d.ObservedAt.Equal(observedAt) || d.SessionID != "s-1" || !eventIDRe.MatchString(d.EventID) {
					t.Errorf("event %d: observedAt %v, sessionId %q, eventId %q", i, d.ObservedAt, d.SessionID, d.EventID)
				}
				if r.prev != nil && (d.PreviousObservedAt == nil || !d.PreviousObservedAt.Equal(r.prev.ObservedAt)) {
					t.Errorf("event %d: previousObservedAt %v, want %v", i, d.PreviousObservedAt, r.prev.ObservedAt)
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

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
