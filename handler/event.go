package handler

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/state"
)

// Detail is the detail document of every event (DESIGN.md's schema).
// Pointer fields are null when there is no value; fields of Session that
// Glue did not return are omitted.
type Detail struct {
	Version              string         `json:"version"`
	EventID              string         `json:"eventId"`
	SessionID            string         `json:"sessionId"`
	Sequence             int64          `json:"sequence"`
	Status               *string        `json:"status"`
	PreviousStatus       *string        `json:"previousStatus"`
	Severity             string         `json:"severity"`
	Message              string         `json:"message"`
	ErrorMessage         *string        `json:"errorMessage"`
	PreviousErrorMessage *string        `json:"previousErrorMessage"`
	ObservedAt           time.Time      `json:"observedAt"`
	PreviousObservedAt   *time.Time     `json:"previousObservedAt"`
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

// MaxEntrySize is EventBridge's limit on a PutEvents request, and so on
// one entry, as EventBridge computes sizes.
const MaxEntrySize = 256 * 1024

// severity follows DESIGN.md: ERROR for FAILED and every error event, WARN
// for TIMEOUT and deletions, INFO otherwise.
func severity(c Change) string {
	switch {
	case c.DetailType == ErrorChange:
		return "ERROR"
	case c.DetailType == Deleted:
		return "WARN"
	case deref(c.Status) == "FAILED":
		return "ERROR"
	case deref(c.Status) == "TIMEOUT":
		return "WARN"
	}
	return "INFO"
}

func message(id string, c Change) string {
	status, prev := orNone(c.Status), orNone(c.PreviousStatus)
	switch c.DetailType {
	case Deleted:
		return fmt.Sprintf("Session %s was deleted (last seen %s)", id, prev)
	case ErrorChange:
		return fmt.Sprintf("Session %s reported an error in status %s", id, status)
	}
	if c.First {
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

// EventID is the stable id of one observed change: the same session,
// sequence and change always give the same id, so a re-delivery after a
// crash or a race carries the id of the original.
func EventID(sessionID string, sequence int64, c Change) string {
	// What identifies the change: the new status for a state change, the
	// new message for an error, nothing more for a deletion. (Hashing the
	// error into a state change's id would give two ids to one transition
	// seen by two runs, one before and one after the error appeared.)
	what := orNone(c.Status)
	switch c.DetailType {
	case ErrorChange:
		what = deref(c.ErrorMessage)
	case Deleted:
		what = ""
	}
	h := sha256.New()
	for _, part := range []string{sessionID, strconv.FormatInt(sequence, 10), c.DetailType, what} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// buildDetail makes the detail of one change observed at at, numbered seq.
func buildDetail(id string, seq int64, c Change, prev *state.Snapshot, cur *gluetypes.Session, at time.Time) Detail {
	d := Detail{
		Version:              "1",
		EventID:              EventID(id, seq, c),
		SessionID:            id,
		Sequence:             seq,
		Status:               c.Status,
		PreviousStatus:       c.PreviousStatus,
		Severity:             severity(c),
		Message:              message(id, c),
		ErrorMessage:         c.ErrorMessage,
		PreviousErrorMessage: c.PreviousErrorMessage,
		ObservedAt:           at.UTC(),
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
		WorkerType:            some(string(s.WorkerType)),
		NumberOfWorkers:       s.NumberOfWorkers,
		MaxCapacity:           finite(s.MaxCapacity),
		IdleTimeout:           s.IdleTimeout,
		ExecutionTime:         finite(s.ExecutionTime),
		DPUSeconds:            finite(s.DPUSeconds),
		SecurityConfiguration: s.SecurityConfiguration,
		ProfileName:           s.ProfileName,
		SessionType:           some(string(s.SessionType)),
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

// marshal renders a detail compactly, without HTML escaping (EventBridge
// counts bytes, and `<` is not worth six).
func marshal(d Detail) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return "", fmt.Errorf("encode event detail of %s: %w", d.SessionID, err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// entrySize is the size of a PutEvents entry as EventBridge computes it:
// 14 bytes for Time, plus the UTF-8 lengths of Source, DetailType, Detail
// and each resource.
func entrySize(source, detailType, detail string, resources []string) int {
	n := 14 + len(source) + len(detailType) + len(detail)
	for _, r := range resources {
		n += len(r)
	}
	return n
}

// detailLimit is the most bytes a detail may have in an entry with this
// source, detail type and resources.
func detailLimit(source, detailType string, resources []string) int {
	return MaxEntrySize - entrySize(source, detailType, "", resources)
}

// fit renders d, truncating its long free-text strings (error messages,
// the description), longest first, until the detail fits in limit bytes;
// a truncated detail says "truncated": true.
func fit(d Detail, limit int) (string, error) {
	if d.Session != nil {
		s := *d.Session // the fields are cut in a copy, never in Glue's answer
		d.Session = &s
	}
	out, err := marshal(d)
	for over := len(out) - limit; err == nil && over > 0; over = len(out) - limit {
		field := d.longestText()
		if field == nil {
			break // nothing left to cut; PutEvents will refuse it
		}
		cut := truncate(**field, max(0, len(**field)-over-len("…")))
		*field = &cut
		d.Truncated = true
		out, err = marshal(d)
	}
	return out, err
}

// longestText returns the truncatable string field holding the most
// bytes, or nil when none has anything left to cut.
func (d *Detail) longestText() **string {
	fields := []**string{&d.ErrorMessage, &d.PreviousErrorMessage}
	if d.Session != nil {
		fields = append(fields, &d.Session.Description)
	}
	var best **string
	for _, f := range fields {
		if *f != nil && len(**f) > len("…") && (best == nil || len(**f) > len(**best)) {
			best = f
		}
	}
	return best
}

// truncate cuts s to at most n bytes on a rune boundary and appends "…".
func truncate(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// refit cuts a stored detail again to fit in limit bytes. Its eventId and
// every other field stay as they were.
func refit(detail string, limit int) string {
	var d Detail
	if err := json.Unmarshal([]byte(detail), &d); err != nil {
		return detail // not ours to cut; EventBridge will say what is wrong
	}
	out, err := fit(d, limit)
	if err != nil {
		return detail // it encoded once, so this cannot happen; keep it whole
	}
	return out
}
