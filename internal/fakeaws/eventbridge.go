package fakeaws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"sessionwatch/handler"
)

var _ handler.EventBridge = (*EventBridge)(nil)

// MaxEntries is the most entries one PutEvents call may carry.
const MaxEntries = 10

// MaxRequestSize is the most bytes the entries of one PutEvents call may
// total, as [EntrySize] counts them (256 KiB).
const MaxRequestSize = 256 * 1024

// EventBridge is an in-memory stand-in for EventBridge's PutEvents: it
// records every entry it accepts.
//
// Like EventBridge, it rejects a whole request (a ValidationException) that
// has no entry, more than [MaxEntries] entries, or entries totalling more
// than [MaxRequestSize] bytes; and it fails single entries, with an
// ErrorCode and ErrorMessage in the answer and FailedEntryCount counting
// them, when Source, DetailType or Detail is missing (InvalidArgument),
// Detail is not a JSON object (MalformedDetail) or Source starts with
// "aws." (NotAuthorizedForSourceException).
type EventBridge struct {
	// Latency is waited before every call is answered; a context ending
	// first ends the call with the context's error.
	Latency time.Duration
	// Fail, when set, is called before every PutEvents with its entries; a
	// non-nil error is returned as the call's error and nothing is
	// recorded.
	Fail func(entries []types.PutEventsRequestEntry) error
	// EntryFail, when set, is called for every valid entry of a request
	// with its index in the request; a non-empty code fails that entry with
	// that ErrorCode and msg as its ErrorMessage, and it is not recorded.
	EntryFail func(i int, e types.PutEventsRequestEntry) (code, msg string)

	mu      sync.Mutex
	entries []types.PutEventsRequestEntry
	calls   int
	ids     atomic.Int64
}

// NewEventBridge returns a fake that has recorded nothing.
func NewEventBridge() *EventBridge { return &EventBridge{} }

// Entries returns a copy of every entry accepted so far, in order.
func (e *EventBridge) Entries() []types.PutEventsRequestEntry {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]types.PutEventsRequestEntry, len(e.entries))
	for i, en := range e.entries {
		out[i] = copyEntry(en)
	}
	return out
}

// Calls returns how many PutEvents calls were made, failed ones included.
func (e *EventBridge) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

// Reset forgets the recorded entries and sets the call count to zero.
func (e *EventBridge) Reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entries, e.calls = nil, 0
}

// EntrySize is the size of an entry as EventBridge computes it against
// [MaxRequestSize]: 14 bytes if Time is set, plus the UTF-8 lengths of
// Source, DetailType, Detail and every resource.
func EntrySize(en types.PutEventsRequestEntry) int {
	n := len(aws.ToString(en.Source)) + len(aws.ToString(en.DetailType)) + len(aws.ToString(en.Detail))
	if en.Time != nil {
		n += 14
	}
	for _, r := range en.Resources {
		n += len(r)
	}
	return n
}

// PutEvents records the entries that are valid and that EntryFail lets
// through, and answers for each, in order, an event id or an error.
func (e *EventBridge) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
	if err := wait(ctx, e.Latency); err != nil {
		return nil, fmt.Errorf("operation error EventBridge: PutEvents: %w", err)
	}
	if e.Fail != nil {
		if err := e.Fail(in.Entries); err != nil {
			return nil, err
		}
	}
	switch n := len(in.Entries); {
	case n == 0:
		return nil, ebValidation("1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > MaxEntries:
		return nil, ebValidation(fmt.Sprintf("1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d (got %d)", MaxEntries, n))
	}
	size := 0
	for _, en := range in.Entries {
		size += EntrySize(en)
	}
	if size > MaxRequestSize {
		return nil, ebValidation(fmt.Sprintf("Total size of the entries in the request is over the limit (%d bytes; at most %d).", size, MaxRequestSize))
	}

	out := &eventbridge.PutEventsOutput{Entries: make([]types.PutEventsResultEntry, len(in.Entries))}
	var accepted []types.PutEventsRequestEntry
	for i, en := range in.Entries {
		code, msg := checkEntry(en)
		if code == "" && e.EntryFail != nil {
			code, msg = e.EntryFail(i, copyEntry(en))
		}
		if code != "" {
			out.Entries[i] = types.PutEventsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String(msg)}
			out.FailedEntryCount++
			continue
		}
		out.Entries[i] = types.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("fake-%08d", e.ids.Add(1)))}
		accepted = append(accepted, copyEntry(en))
	}
	e.mu.Lock()
	e.entries = append(e.entries, accepted...)
	e.mu.Unlock()
	return out, nil
}

// checkEntry returns the ErrorCode and ErrorMessage EventBridge gives an
// invalid entry, or "" for a valid one.
func checkEntry(en types.PutEventsRequestEntry) (code, msg string) {
	switch {
	case aws.ToString(en.Source) == "":
		return "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."
	case aws.ToString(en.DetailType) == "":
		return "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."
	case aws.ToString(en.Detail) == "":
		return "InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."
	case strings.HasPrefix(aws.ToString(en.Source), "aws."):
		return "NotAuthorizedForSourceException", "Not authorized for the source."
	}
	detail := bytes.TrimSpace([]byte(*en.Detail))
	if !json.Valid(detail) || detail[0] != '{' {
		return "MalformedDetail", "Detail is malformed."
	}
	return "", ""
}

func copyEntry(en types.PutEventsRequestEntry) types.PutEventsRequestEntry {
	c := en
	c.Resources = slices.Clone(en.Resources)
	for _, p := range []**string{&c.Source, &c.DetailType, &c.Detail, &c.EventBusName, &c.TraceHeader} {
		if *p != nil {
			*p = aws.String(**p)
		}
	}
	if en.Time != nil {
		c.Time = aws.Time(*en.Time)
	}
	return c
}

// ebValidation is EventBridge's ValidationException.
func ebValidation(msg string) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: msg, Fault: smithy.FaultClient}
}
