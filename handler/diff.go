package handler

import (
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/state"
)

// The detail types sessionwatch publishes.
const (
	StateChange = "Glue Session State Change"
	ErrorChange = "Glue Session Error"
	Deleted     = "Glue Session Deleted"
)

// Change is one thing a poll observed about a session. Nil pointers are
// "none": no status (first sighting, deletion) or no error message.
type Change struct {
	DetailType string
	// First is set when the session is seen for the first time.
	First                bool
	Status               *string
	PreviousStatus       *string
	ErrorMessage         *string
	PreviousErrorMessage *string
}

// Diff compares a session's snapshot (nil: never seen) with what Glue
// answered (nil: Glue does not know the session) and returns the changes to
// publish. It does no I/O.
func Diff(prev *state.Snapshot, cur *gluetypes.Session) []Change {
	if cur == nil {
		if prev == nil || prev.Deleted {
			return nil
		}
		return []Change{{
			DetailType:           Deleted,
			PreviousStatus:       some(prev.Status),
			PreviousErrorMessage: some(prev.ErrorMessage),
		}}
	}
	status, errMsg := string(cur.Status), deref(cur.ErrorMessage)
	var prevStatus, prevErr *string
	first := prev == nil || prev.Deleted
	if !first {
		prevStatus, prevErr = some(prev.Status), some(prev.ErrorMessage)
	}
	var changes []Change
	if first || status != prev.Status {
		changes = append(changes, Change{
			DetailType: StateChange, First: first, Status: some(status), PreviousStatus: prevStatus,
			ErrorMessage: some(errMsg), PreviousErrorMessage: prevErr,
		})
	}
	if errMsg != "" && (first || !prev.SameError(errMsg)) {
		changes = append(changes, Change{
			DetailType: ErrorChange, First: first, Status: some(status), PreviousStatus: prevStatus,
			ErrorMessage: some(errMsg), PreviousErrorMessage: prevErr,
		})
	}
	return changes
}

// some returns a pointer to s, or nil for the empty string.
func some(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
