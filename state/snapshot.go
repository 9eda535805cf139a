// Package state holds what sessionwatch remembers between runs: one
// snapshot per watched Glue session, the registry of tracked session ids,
// and their DynamoDB store.
package state

import "time"

// Snapshot is the last state of one session that a run committed, with the
// events observed but not yet published.
type Snapshot struct {
	SessionID string `dynamodbav:"SessionId"`
	// Status is Glue's status as last seen; empty when Glue gave none.
	Status string `dynamodbav:"Status,omitempty"`
	// ErrorMessage is Glue's error message as last seen.
	ErrorMessage string `dynamodbav:"ErrorMessage,omitempty"`
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
