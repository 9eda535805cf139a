// Package state holds what sessionwatch remembers between runs: one
// snapshot per watched Glue session, the registry of tracked session ids,
// and their DynamoDB store.
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

// Snapshot is the last state of one session that a run committed, with the
// events observed but not yet published.
type Snapshot struct {
	SessionID string `dynamodbav:"SessionId"`
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
	// Sequence is the sequence number of the session's last event.
	Sequence int64 `dynamodbav:"Sequence"`
	// Version counts the writes of this item; a save is conditional on it,
	// so two runs never both commit the same change.
	Version int64 `dynamodbav:"Version"`
	// ExpiresAt (epoch seconds) is the DynamoDB TTL, set once the session
	// is finished or deleted.
	ExpiresAt int64 `dynamodbav:"ExpiresAt,omitempty"`
	// Pending are events observed but not yet published, kept so that a
	// later run publishes them even if the session has moved on.
	Pending []Event `dynamodbav:"Pending,omitempty"`
}

// Event is one event as it goes to EventBridge. Detail is the JSON
// document, stored verbatim so a re-delivery is byte-for-byte the same.
type Event struct {
	DetailType string `dynamodbav:"DetailType" json:"detailType"`
	Detail     string `dynamodbav:"Detail" json:"detail"`
	// EventID is the detail's eventId, kept beside it for bookkeeping.
	EventID string `dynamodbav:"EventId" json:"-"`
	// Time is the event's time (the observation time).
	Time time.Time `dynamodbav:"Time" json:"-"`
}

// Finished statuses: a session in one of them is not polled again.
var finished = map[string]bool{"FAILED": true, "TIMEOUT": true, "STOPPED": true}

// IsFinished tells whether a Glue status is final.
func IsFinished(status string) bool { return finished[status] }

// Done tells whether the session needs no more polling: it reached a final
// status or was deleted. Its pending events still need publishing.
func (s *Snapshot) Done() bool { return s.Deleted || IsFinished(s.Status) }

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
