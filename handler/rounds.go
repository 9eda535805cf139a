package handler

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"sessionwatch/state"
)

// RoundSize is how many changed sessions a run publishes and saves at a
// time while it goes on polling. A run over a large fleet that changes
// (the first run over 100,000 new ids) commits its work round by round, so
// that what it observed before its deadline is saved before the deadline,
// and the next run goes on from there instead of doing it all again.
// Every round but the last holds exactly RoundSize sessions, so that a
// fleet whose sessions have one event each fills its PutEvents batches
// as one round would.
const RoundSize = 500

// rounds publishes and saves a run's changed sessions, one round at a
// time, beside fetch: fetch hands it a round when RoundSize sessions have
// changed, and waits while the round before is still being saved (so no
// more than two rounds are ever held). The last round, whatever fetch
// left, is committed by finish in the run's reserve. What the rounds add
// to the response is kept apart (part) and merged by finish, so that the
// polling goroutines and the rounds never write the same Result.
type rounds struct {
	h          *Handler
	ctx        context.Context // for the saves: the invocation's own
	publishCtx context.Context
	resources  func(string) []string
	// outbox goes with the first round; kept are its eventIds, which a
	// re-observed change of a later round must not send twice.
	outbox []state.Event
	kept   map[string]bool

	in       chan []*session
	done     chan struct{}
	leftover []*session // rounds fetch could not hand over before its deadline

	part      *Result
	attempted int            // events sent to EventBridge, over every round
	firstErr  error          // why the first of them was not accepted
	causes    map[string]int // why events were not accepted: how many
	saveErr   error          // the first round of which not one write succeeded
}

// startRounds starts committing rounds for p; the outbox goes with the
// first. A dry run commits nothing: it has no rounds, only finish.
func (h *Handler) startRounds(ctx, publishCtx context.Context, p *plan, dryRun bool) *rounds {
	r := &rounds{
		h: h, ctx: ctx, publishCtx: publishCtx, resources: resourcesFor(ctx),
		kept: map[string]bool{}, causes: map[string]int{}, done: make(chan struct{}), part: &Result{},
	}
	r.outbox = p.outbox
	for _, ev := range p.outbox {
		r.kept[ev.EventID] = true
	}
	if dryRun {
		close(r.done)
		return r
	}
	in := make(chan []*session)
	r.in = in
	go func() {
		defer close(r.done)
		for batch := range in {
			r.commit(batch)
		}
	}()
	return r
}

// hand gives the rounds a full round. It waits while the round before is
// being saved, up to fetchCtx's end: a round it could not hand over by
// then, like every round of a dry run (which commits nothing), goes to
// finish.
func (r *rounds) hand(fetchCtx context.Context, batch []*session) {
	if r.in == nil {
		r.leftover = append(r.leftover, batch...)
		return
	}
	select {
	case r.in <- batch:
	case <-fetchCtx.Done():
		r.leftover = append(r.leftover, batch...)
	}
}

// stop waits for the round in hand, committing nothing more: the run
// failed as a whole.
func (r *rounds) stop() {
	if r.in != nil {
		close(r.in)
		r.in = nil
	}
	<-r.done
}

// finish commits the last round (last, and any round fetch could not
// hand over), adds what every round did to res and returns the run's
// failure when not one write of a round succeeded. A dry run lists its
// events instead.
func (r *rounds) finish(last []*session, res *Result) error {
	r.stop()
	last = append(r.leftover, last...)
	if res.DryRun {
		events := r.events(last)
		res.countChanges(last)
		res.listEvents(events)
		return nil
	}
	r.commit(last)
	res.Changed += r.part.Changed
	res.Published += r.part.Published
	res.Pending += r.part.Pending
	res.Conflicts += r.part.Conflicts
	res.Errors = append(res.Errors, r.part.Errors...)
	if len(r.part.alerts) > 0 && res.alerts == nil {
		res.alerts = map[string]int{}
	}
	for kind, n := range r.part.alerts {
		res.alerts[kind] += n
	}
	if r.part.Published > 0 {
		// One line per cause, not per event: an outage leaves thousands.
		// None accepted at all is the run's failure, which Lambda logs.
		for _, cause := range slices.Sorted(maps.Keys(r.causes)) {
			r.h.Logger.WarnContext(r.ctx, "events not published, kept for the next run", "events", r.causes[cause], "error", cause)
		}
	}
	return r.saveErr
}

// noneAccepted is the run's failure when it had events to publish and
// EventBridge accepted none of them (they are kept for the next run).
func (r *rounds) noneAccepted() error {
	if r.attempted == 0 || r.part.Published > 0 {
		return nil
	}
	return fmt.Errorf("publish to event bus %s: none of %d events was accepted (kept for the next run): %w",
		r.h.cfg.EventBus, r.attempted, r.firstErr)
}

// events are the events of a round: with the first, the outbox's and
// its sessions' new ones, in session and sequence order; with a later
// one, its sessions' new events that the outbox did not hold already.
func (r *rounds) events(batch []*session) []*outgoing {
	events := gather(r.outbox, batch, r.resources)
	if r.outbox != nil {
		r.outbox = nil
		return events
	}
	fresh := events[:0]
	for _, o := range events {
		if !r.kept[o.ev.EventID] {
			fresh = append(fresh, o)
		}
	}
	return fresh
}

// commit publishes a round's events, then saves its sessions (save.go).
func (r *rounds) commit(batch []*session) {
	events := r.events(batch)
	if len(events) == 0 && len(batch) == 0 {
		return
	}
	r.part.countChanges(batch)
	r.h.publish(r.publishCtx, events, r.part, r.causes)
	for _, o := range events {
		if o.err != nil && r.firstErr == nil {
			r.firstErr = o.err
		}
	}
	r.attempted += len(events)
	if err := r.h.save(r.ctx, batch, events, r.part); err != nil && r.saveErr == nil {
		r.saveErr = err
	}
	// Committed: the plan keeps the session (the cursor needs it), not
	// what it held.
	for _, s := range batch {
		s.prev, s.next, s.out, s.activity = nil, nil, nil, nil
	}
}
