package handler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"golang.org/x/sync/errgroup"

	"sessionwatch/state"
)

// EventBridge is the part of *eventbridge.Client the handler uses.
type EventBridge interface {
	PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventBridge = (*eventbridge.Client)(nil)

// MaxBatch is the most entries PutEvents takes in one call.
const MaxBatch = 10

// retryableEntryErrors are the per-entry error codes worth sending again
// within the same run; any other code waits for a later run.
var retryableEntryErrors = map[string]bool{
	"InternalFailure": true, "InternalException": true, "ThrottlingException": true,
	"ServiceUnavailable": true, "ServiceUnavailableException": true,
}

// outgoing is one event on its way to EventBridge.
type outgoing struct {
	ev        state.Event
	resources []string
	kept      bool  // it is in the outbox: an earlier run could not publish it
	err       error // nil once published
}

// gather lists every event the run publishes: the outbox's and the new
// ones, grouped by session, each session's in sequence order. An event in
// the outbox that was observed again goes once, as first observed.
func gather(outbox []state.Event, changed []*session, resources func(string) []string) []*outgoing {
	var out []*outgoing
	kept := map[string]bool{}
	for _, ev := range outbox {
		kept[ev.EventID] = true
		out = append(out, &outgoing{ev: ev, resources: resources(ev.SessionID), kept: true})
	}
	for _, s := range changed {
		for _, o := range s.out {
			if !kept[o.ev.EventID] {
				out = append(out, o)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *outgoing) int {
		if c := strings.Compare(a.ev.SessionID, b.ev.SessionID); c != 0 {
			return c
		}
		return cmp.Compare(a.ev.Sequence, b.ev.Sequence)
	})
	return out
}

// publisher sends events in batches of at most MaxBatch entries and
// MaxEntrySize bytes.
type publisher struct {
	eb       EventBridge
	bus      string
	source   string
	retries  int           // extra attempts for entries failing with a retryable code
	backoff  time.Duration // before the first of them, doubled each time
	parallel int           // PutEvents calls in flight at once
}

// publish sends a round's events, counting in res those EventBridge
// accepted and in causes why the others were not (how many for each).
func (h *Handler) publish(ctx context.Context, events []*outgoing, res *Result, causes map[string]int) {
	if len(events) == 0 {
		return // a run with nothing to publish does not touch EventBridge
	}
	h.pub.publish(ctx, events)
	for _, o := range events {
		if o.err == nil {
			res.Published++
			continue
		}
		causes[strings.Replace(o.err.Error(), "entry "+o.ev.EventID+": ", "", 1)]++
	}
}

// publish sends every event, setting its err to nil on success or to why
// it was not published.
func (p *publisher) publish(ctx context.Context, events []*outgoing) {
	todo := events
	for _, o := range todo {
		o.err = errors.New("not sent")
		if limit := detailLimit(p.source, o.ev.DetailType, o.resources); len(o.ev.Detail) > limit {
			// Kept by a run that added no resources, or under another
			// source: cut again to fit this entry.
			o.ev.Detail = refit(o.ev.Detail, limit)
		}
	}
	for attempt := 0; len(todo) > 0 && attempt <= p.retries; attempt++ {
		if attempt > 0 && sleep(ctx, p.backoff<<(attempt-1)) != nil {
			return
		}
		var mu sync.Mutex
		var again []*outgoing
		g := errgroup.Group{}
		g.SetLimit(p.parallel)
		for _, chain := range chains(p.batches(todo)) {
			g.Go(func() error {
				for _, batch := range chain {
					retry := p.send(ctx, batch)
					mu.Lock()
					again = append(again, retry...)
					mu.Unlock()
				}
				return nil
			})
		}
		_ = g.Wait() // send records failures in the events themselves
		todo = again
	}
}

// send makes one PutEvents call and returns the entries worth retrying.
func (p *publisher) send(ctx context.Context, batch []*outgoing) (retry []*outgoing) {
	entries := make([]ebtypes.PutEventsRequestEntry, len(batch))
	for i, o := range batch {
		entries[i] = p.entry(o)
	}
	res, err := p.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		// The SDK already retried what was retryable; the events wait for
		// the next run.
		for _, o := range batch {
			o.err = fmt.Errorf("put events: %w", err)
		}
		return nil
	}
	if len(res.Entries) != len(batch) {
		for _, o := range batch {
			o.err = fmt.Errorf("put events: %d entries answered for %d sent", len(res.Entries), len(batch))
		}
		return nil
	}
	for i, r := range res.Entries {
		o := batch[i]
		if r.ErrorCode == nil || *r.ErrorCode == "" {
			o.err = nil
			continue
		}
		o.err = fmt.Errorf("put events: entry %s: %s: %s", o.ev.EventID, *r.ErrorCode, aws.ToString(r.ErrorMessage))
		if retryableEntryErrors[*r.ErrorCode] {
			retry = append(retry, o)
		}
	}
	return retry
}

func (p *publisher) entry(o *outgoing) ebtypes.PutEventsRequestEntry {
	return ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(p.bus),
		Source:       aws.String(p.source),
		DetailType:   aws.String(o.ev.DetailType),
		Detail:       aws.String(o.ev.Detail),
		Resources:    o.resources,
		Time:         aws.Time(o.ev.Time),
	}
}

func (p *publisher) size(o *outgoing) int {
	return entrySize(p.source, o.ev.DetailType, o.ev.Detail, o.resources)
}

// batches splits events into PutEvents calls by count and by size.
func (p *publisher) batches(events []*outgoing) [][]*outgoing {
	var out [][]*outgoing
	var cur []*outgoing
	size := 0
	for _, o := range events {
		n := p.size(o)
		if len(cur) == MaxBatch || (len(cur) > 0 && size+n > MaxEntrySize) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, o)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// chains groups batches so that batches sharing a session are sent one
// after the other, in order: a session's events reach EventBridge in
// sequence order, while unrelated batches go in parallel.
func chains(batches [][]*outgoing) [][][]*outgoing {
	var out [][][]*outgoing
	for i, b := range batches {
		if i > 0 && batches[i-1][len(batches[i-1])-1].ev.SessionID == b[0].ev.SessionID {
			out[len(out)-1] = append(out[len(out)-1], b)
			continue
		}
		out = append(out, [][]*outgoing{b})
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
