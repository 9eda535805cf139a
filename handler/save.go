package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"

	"sessionwatch/state"
)

// save commits what the run observed. For each changed session, its new
// events EventBridge did not accept go to the outbox first, then its
// snapshot is written with a conditional write on its version: a crash in
// between leaves the change to be observed again (with the same eventIds),
// and a lost race leaves the events in the outbox. Events the outbox held
// and EventBridge accepted are then taken out of it. It fails only when
// not one write succeeded.
func (h *Handler) save(ctx context.Context, changed []*session, events []*outgoing, res *Result) error {
	var mu sync.Mutex
	var failures []error
	fail := func(id string, err error) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, err)
		res.fail(id, err)
		h.Logger.ErrorContext(ctx, "session not saved", "sessionId", id, "error", err)
	}
	g := errgroup.Group{}
	g.SetLimit(AWSConcurrency)
	for _, s := range changed {
		g.Go(func() error {
			var unpublished []state.Event
			for _, o := range s.out {
				if o.err != nil {
					unpublished = append(unpublished, o.ev)
				}
			}
			if err := h.store.Keep(ctx, unpublished); err != nil {
				fail(s.id, err) // the snapshot stays as it was: the change is observed again
				return nil
			}
			err := h.store.Save(ctx, s.next, versionOf(s.prev))
			mu.Lock()
			defer mu.Unlock()
			res.Pending += len(unpublished)
			switch {
			case errors.Is(err, state.ErrConflict):
				res.Conflicts++
				h.Logger.InfoContext(ctx, "another run saved the session first", "sessionId", s.id)
			case err != nil:
				failures = append(failures, err)
				res.fail(s.id, err)
				h.Logger.ErrorContext(ctx, "session not saved", "sessionId", s.id, "error", err)
			}
			return nil
		})
	}
	_ = g.Wait()

	var delivered []string
	for _, o := range events {
		switch {
		case o.kept && o.err == nil:
			delivered = append(delivered, o.ev.EventID)
		case o.kept:
			res.Pending++
		}
	}
	if err := h.store.Discard(ctx, delivered); err != nil {
		// Sent again by the next run, with the same eventIds.
		res.fail("", err)
		h.Logger.WarnContext(ctx, "published events not taken out of the outbox", "error", err)
	}
	if len(changed) > 0 && len(failures) == len(changed) {
		return fmt.Errorf("save snapshots: all %d writes failed: %w", len(changed), failures[0])
	}
	return nil
}

// versionOf is the version a snapshot was read at; 0 for none.
func versionOf(s *state.Snapshot) int64 {
	if s == nil {
		return 0
	}
	return s.Version
}

// recordCursor remembers, when the deadline cut the run short, where the
// next run goes on: after the last session this run reached before the
// cut, with the ones it reached but could not poll first. It is the only
// write a run with nothing changed may make; a failure is reported, not
// fatal (only the order of the next run's polls depends on it).
func (h *Handler) recordCursor(ctx context.Context, p *plan, f *fetched, res *Result) {
	if len(res.Skipped) == 0 {
		return
	}
	next := state.Run{Layout: state.Layout, Cursor: p.run.Cursor}
	for i, s := range p.order {
		switch {
		case i < p.behind && !f.polled[s]:
			next.Behind = append(next.Behind, s.id) // still behind
		case i >= p.behind && i < f.cutAt:
			next.Cursor = s.id
			if f.cut[s] {
				next.Behind = append(next.Behind, s.id)
			}
		}
	}
	if next.Cursor == p.run.Cursor && slices.Equal(next.Behind, p.run.Behind) {
		return // it reached nothing: the next run starts where this one did
	}
	if err := h.store.WriteRun(ctx, next); err != nil {
		res.fail("", err)
		h.Logger.WarnContext(ctx, "where the run stopped was not recorded", "error", err)
	}
}
