// Package state holds what sessionwatch remembers between runs, in one
// DynamoDB table: a snapshot per session, the registry of watched
// sessions, the outbox of events EventBridge has not accepted yet, and
// where a run cut short by its deadline stopped. README.md, "Storage",
// describes the items and why they keep every promise.
package state

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
	"unicode/utf8"
)

// MaxStoredError is the most bytes of an error message a snapshot keeps:
// a DynamoDB item holds 400 KB at most, and Glue sets no bound.
const MaxStoredError = 4096

// Snapshot is the last state of one session that a run committed.
type Snapshot struct {
	SessionID string `dynamodbav:"SessionId"`
	// CreatedOn is Glue's CreatedOn of the session described: Glue session
	// ids are reused, and a session re-created under the same id has
	// another. Nil when Glue gave none, or the snapshot predates it.
	CreatedOn *time.Time `dynamodbav:"CreatedOn,omitempty"`
	// Status is Glue's status as last seen; empty when Glue gave none.
	Status string `dynamodbav:"Status,omitempty"`
	// ErrorMessage is Glue's error message as last seen, cut to
	// MaxStoredError bytes; ErrorDigest then holds the whole message's
	// SHA-256, so a change after the cut is still seen.
	ErrorMessage string `dynamodbav:"ErrorMessage,omitempty"`
	ErrorDigest  string `dynamodbav:"ErrorDigest,omitempty"`
	// ObservedAt is when the current status or error was first observed.
	ObservedAt time.Time `dynamodbav:"ObservedAt"`
	// Deleted is set once Glue answered that the session does not exist.
	Deleted bool `dynamodbav:"Deleted,omitempty"`
	// Sequence is the sequence number of the session's last event; 0 for
	// a session tracked but never seen.
	Sequence int64 `dynamodbav:"Sequence"`
	// Version counts the writes of this item; a save is conditional on it,
	// so two runs never both commit the same change.
	Version int64 `dynamodbav:"Version"`
	// ExpiresAt (epoch seconds) is the DynamoDB TTL: set once the session
	// is finished, deleted or untracked, never while it is watched.
	ExpiresAt int64 `dynamodbav:"ExpiresAt,omitempty"`
	// Shelf is OnShelf while the session is watched (tracked, or seen
	// unfinished), which lists it in the table's index; empty otherwise.
	Shelf string `dynamodbav:"Shelf,omitempty"`
	// Untracked is set when a user stopped watching the session: seeing it
	// unfinished again does not put it back in the registry.
	Untracked bool `dynamodbav:"Untracked,omitempty"`
	// StatusSince is when the session was first observed in its current
	// status (its CreatedOn, for a session first seen PROVISIONING): a
	// STUCK alert counts from it. Nil in snapshots older than alerts, which
	// count from ObservedAt.
	StatusSince *time.Time `dynamodbav:"StatusSince,omitempty"`
	// Fired are the alerts already announced, one key each (STUCK:<status>,
	// RUNNING_LONG:<hours>, IDLE:<start of the idle spell>, COST:<usd>), so
	// that each fires once.
	Fired []string `dynamodbav:"Fired,stringset,omitempty"`
	// DPU is the session's capacity (its events' cost.dpu) and DPUHours
	// the DPU-hours it had used (cost.dpuHours), as of the last write; nil
	// when unknown. They are written with a change, never for themselves
	// (a quiet run writes nothing): `sessionwatch list` reads them.
	DPU      *float64 `dynamodbav:"Dpu,omitempty"`
	DPUHours *float64 `dynamodbav:"DpuHours,omitempty"`
	// CreatedBy is the ARN of the principal that created the session, from
	// its CloudTrail CreateSession record; empty when sessionwatch never
	// saw that record (and in snapshots older than it).
	CreatedBy string `dynamodbav:"CreatedBy,omitempty"`
}

// Event is one event as it goes to EventBridge, kept in the outbox until
// EventBridge accepts it. Detail is the JSON document, stored verbatim so
// a re-delivery is byte-for-byte the same.
type Event struct {
	DetailType string `dynamodbav:"DetailType" json:"detailType"`
	Detail     string `dynamodbav:"Detail" json:"detail"`
	// EventID is the detail's eventId, kept beside it for bookkeeping.
	EventID string `dynamodbav:"EventId" json:"-"`
	// SessionID and Sequence are the detail's sessionId and sequence: a
	// session first seen again continues its numbering after them.
	SessionID string `dynamodbav:"Owner" json:"-"`
	Sequence  int64  `dynamodbav:"Seq" json:"-"`
	// CreatedOn is the CreatedOn of the session the event is about (nil
	// when Glue gave none): it tells a session re-created under the same
	// id from the one whose events wait in the outbox.
	CreatedOn *time.Time `dynamodbav:"Created,omitempty" json:"-"`
	// Time is the event's time (the observation time).
	Time time.Time `dynamodbav:"EventTime" json:"-"`
}

// Finished statuses: a session in one of them is not polled again.
var finished = map[string]bool{"FAILED": true, "TIMEOUT": true, "STOPPED": true}

// IsFinished tells whether a Glue status is final.
func IsFinished(status string) bool { return finished[status] }

// Seen tells whether the snapshot describes a session Glue answered for,
// as opposed to an id tracked but never polled.
func (s *Snapshot) Seen() bool { return s.Sequence > 0 }

// Done tells whether the session needs no more polling: it reached a final
// status or was deleted.
func (s *Snapshot) Done() bool { return s.Deleted || IsFinished(s.Status) }

// Watched tells whether the session is in the registry.
func (s *Snapshot) Watched() bool { return s.Shelf != "" }

// SetError records Glue's error message, cut to MaxStoredError bytes.
func (s *Snapshot) SetError(msg string) {
	s.ErrorMessage, s.ErrorDigest = msg, ""
	if len(msg) > MaxStoredError {
		n := MaxStoredError
		for n > 0 && !utf8.RuneStart(msg[n]) {
			n--
		}
		s.ErrorMessage, s.ErrorDigest = msg[:n]+"…", digest(msg)
	}
}

// SameError tells whether msg is the error message the snapshot recorded.
func (s *Snapshot) SameError(msg string) bool {
	if s.ErrorDigest != "" {
		return digest(msg) == s.ErrorDigest
	}
	return msg == s.ErrorMessage
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
