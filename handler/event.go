package handler

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/state"
)

// Detail is the detail document of every event (README, Events).
// Pointer fields are null when there is no value; fields of Session that
// Glue did not return are omitted.
type Detail struct {
	Version              string         `json:"version"`
	EventID              string         `json:"eventId"`
	SessionID            string         `json:"sessionId"`
	CreatedBy            *string        `json:"createdBy"`
	Sequence             int64          `json:"sequence"`
	Status               *string        `json:"status"`
	PreviousStatus       *string        `json:"previousStatus"`
	Severity             string         `json:"severity"`
	Message              string         `json:"message"`
	ErrorMessage         *string        `json:"errorMessage"`
	PreviousErrorMessage *string        `json:"previousErrorMessage"`
	ObservedAt           time.Time      `json:"observedAt"`
	PreviousObservedAt   *time.Time     `json:"previousObservedAt"`
	Backfill             bool           `json:"backfill,omitempty"`
	Alert                string         `json:"alert,omitempty"`
	Threshold            *Threshold     `json:"threshold,omitempty"`
	Cost                 *Cost          `json:"cost,omitempty"`
	Truncated            bool           `json:"truncated,omitempty"`
	Session              *SessionDetail `json:"session,omitempty"`
}

// SessionDetail is what Glue said of the session, less DefaultArguments,
// which can hold secrets and never leave Glue through sessionwatch.
type SessionDetail struct {
	CreatedOn             *time.Time     `json:"createdOn,omitempty"`
	CompletedOn           *time.Time     `json:"completedOn,omitempty"`
	Description           *string        `json:"description,omitempty"`
	Role                  *string        `json:"role,omitempty"`
	Command               *CommandDetail `json:"command,omitempty"`
	GlueVersion           *string        `json:"glueVersion,omitempty"`
	WorkerType            *string        `json:"workerType,omitempty"`
	NumberOfWorkers       *int32         `json:"numberOfWorkers,omitempty"`
	MaxCapacity           *float64       `json:"maxCapacity,omitempty"`
	IdleTimeout           *int32         `json:"idleTimeout,omitempty"`
	ExecutionTime         *float64       `json:"executionTime,omitempty"`
	DPUSeconds            *float64       `json:"dpuSeconds,omitempty"`
	Progress              *float64       `json:"progress,omitempty"`
	SecurityConfiguration *string        `json:"securityConfiguration,omitempty"`
	ProfileName           *string        `json:"profileName,omitempty"`
	Connections           []string       `json:"connections,omitempty"`
	SessionType           *string        `json:"sessionType,omitempty"`
}

// CommandDetail is the session's command.
type CommandDetail struct {
	Name          *string `json:"name,omitempty"`
	PythonVersion *string `json:"pythonVersion,omitempty"`
}

// severity is ERROR for FAILED and every error event, WARN for TIMEOUT and
// deletions, INFO otherwise (README, Events).
func severity(c change) string {
	switch {
	case c.detailType == DetailTypeError:
		return "ERROR"
	case c.detailType == DetailTypeDeleted, c.detailType == DetailTypeAlert:
		return "WARN"
	case aws.ToString(c.status) == "FAILED":
		return "ERROR"
	case aws.ToString(c.status) == "TIMEOUT":
		return "WARN"
	}
	return "INFO"
}

func message(id string, c change) string {
	status, prev := orNone(c.status), orNone(c.previousStatus)
	switch c.detailType {
	case DetailTypeAlert:
		return c.message
	case DetailTypeDeleted:
		return fmt.Sprintf("Session %s was deleted (last seen %s)", id, prev)
	case DetailTypeError:
		return fmt.Sprintf("Session %s reported an error in status %s", id, status)
	}
	if c.first {
		return fmt.Sprintf("Session %s first seen in %s", id, status)
	}
	return fmt.Sprintf("Session %s changed from %s to %s", id, prev, status)
}

func orNone(s *string) string {
	if s == nil {
		return "no status"
	}
	return *s
}

// eventID is the stable id of one observed change: the same session,
// sequence and change always give the same id, so a re-delivery after a
// crash or a race carries the id of the original. The session's CreatedOn
// is part of it: a session re-created under a reused id never shares an id
// with its predecessor, even once the predecessor's snapshot has expired
// and its numbering starts again.
func eventID(sessionID string, sequence int64, c change) string {
	// What identifies the change: the new status for a state change, the
	// new message for an error, nothing more for a deletion. (Hashing the
	// error into a state change's id would give two ids to one transition
	// seen by two runs, one before and one after the error appeared.)
	what := orNone(c.status)
	switch c.detailType {
	case DetailTypeError:
		what = aws.ToString(c.errorMessage)
	case DetailTypeDeleted:
		what = ""
	case DetailTypeAlert:
		what = c.fired
	}
	parts := []string{sessionID, strconv.FormatInt(sequence, 10), c.detailType, what}
	if c.createdOn != nil {
		parts = append(parts, c.createdOn.UTC().Format(time.RFC3339Nano))
	}
	h := sha256.New()
	for _, part := range parts {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// buildDetail makes the detail of change c, numbered seq, observed at at;
// prev is the snapshot before it and cur Glue's answer (nil for a
// deletion).
func buildDetail(id string, seq int64, c change, prev *state.Snapshot, cur *gluetypes.Session, at time.Time) Detail {
	d := Detail{
		Version:              "1",
		EventID:              eventID(id, seq, c),
		SessionID:            id,
		CreatedBy:            c.createdBy,
		Sequence:             seq,
		Status:               c.status,
		PreviousStatus:       c.previousStatus,
		Severity:             severity(c),
		Message:              message(id, c),
		ErrorMessage:         c.errorMessage,
		PreviousErrorMessage: c.previousErrorMessage,
		ObservedAt:           at.UTC(),
		Backfill:             c.backfill,
		Alert:                c.alert,
		Threshold:            c.threshold,
		Cost:                 c.cost,
	}
	if prev != nil && !prev.ObservedAt.IsZero() {
		t := prev.ObservedAt.UTC()
		d.PreviousObservedAt = &t
	}
	if cur != nil {
		d.Session = sessionDetail(cur)
	}
	return d
}

func sessionDetail(s *gluetypes.Session) *SessionDetail {
	d := &SessionDetail{
		CreatedOn:             utc(s.CreatedOn),
		CompletedOn:           utc(s.CompletedOn),
		Description:           s.Description,
		Role:                  s.Role,
		GlueVersion:           s.GlueVersion,
		WorkerType:            nonEmpty(string(s.WorkerType)),
		NumberOfWorkers:       s.NumberOfWorkers,
		MaxCapacity:           finite(s.MaxCapacity),
		IdleTimeout:           s.IdleTimeout,
		ExecutionTime:         finite(s.ExecutionTime),
		DPUSeconds:            finite(s.DPUSeconds),
		SecurityConfiguration: s.SecurityConfiguration,
		ProfileName:           s.ProfileName,
		SessionType:           nonEmpty(string(s.SessionType)),
	}
	if s.Progress != 0 && finite(&s.Progress) != nil {
		// The SDK models Progress as a plain number: a missing value and 0
		// look alike, so 0 is left out rather than invented.
		d.Progress = &s.Progress
	}
	if s.Command != nil {
		d.Command = &CommandDetail{Name: s.Command.Name, PythonVersion: s.Command.PythonVersion}
	}
	if s.Connections != nil && s.Connections.Connections != nil {
		d.Connections = s.Connections.Connections
	}
	return d
}

// utc returns t in UTC, or nil when there is none or it cannot be written
// as an RFC 3339 time (years outside 0–9999): left out, never invented.
func utc(t *time.Time) *time.Time {
	if t == nil || t.Year() < 0 || t.Year() > 9999 {
		return nil
	}
	u := t.UTC()
	return &u
}

// finite returns f, or nil when it is NaN or infinite (which the SDK can
// decode from Glue but JSON cannot hold).
func finite(f *float64) *float64 {
	if f == nil || math.IsNaN(*f) || math.IsInf(*f, 0) {
		return nil
	}
	return f
}
