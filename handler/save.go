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

// MaxPendingBytes bounds the event details a snapshot keeps, so the item
// stays under DynamoDB's 400 KB: when they would exceed it, each is cut to
// its share (the same truncation that fits an entry into PutEvents).
const MaxPendingBytes = 300 * 1024

// MaxOverdueKept bounds how many skipped ids a run records for the next
// one to poll first (they share the registry's 400 KB item).
const MaxOverdueKept = 1000

// save writes every changed snapshot, keeping its unpublished events in
// it. It fails only when no write succeeded at all.
func (h *Handler) save(ctx context.Context, sessions []*session, res *Result) error {
	var mu sync.Mutex
	var failures []error
	writes := 0
	g := errgroup.Group{}
	g.SetLimit(AWSConcurrency)
	for _, s := range sessions {
		if s.next == nil {
			continue
		}
		writes++
		var unpublished []state.Event
		for _, o := range s.out {
			if o.err != nil {
				unpublished = append(unpublished, o.ev)
			}
		}
		s.next.Pending = bounded(unpublished)
		g.Go(func() error {
			err := h.store.Save(ctx, s.next, versionOf(s.prev))
			conflict := errors.Is(err, state.ErrConflict)
			if conflict && len(unpublished) > 0 {
				// Another run saved first, but what this run observed and
				// could not publish must not be lost: keep it in theirs.
				err = h.keep(ctx, s.id, unpublished)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				res.Pending += len(unpublished)
			case errors.Is(err, state.ErrConflict) && len(unpublished) == 0:
			default:
				failures = append(failures, err)
				res.fail(s.id, err)
				h.Logger.ErrorContext(ctx, "session not saved", "sessionId", s.id, "error", err)
			}
			if conflict {
				res.Conflicts++
				h.Logger.InfoContext(ctx, "another run saved the session first", "sessionId", s.id)
			}
			return nil
		})
	}
	_ = g.Wait()
	if writes > 0 && len(failures) == writes {
		return fmt.Errorf("save snapshots: all %d writes failed: %w", writes, failures[0])
	}
	return nil
}

// keep adds events to the pending events of the session's stored snapshot,
// re-reading it after each conflict.
func (h *Handler) keep(ctx context.Context, id string, events []state.Event) error {
	var err error
	for range 5 {
		var snaps map[string]*state.Snapshot
		if snaps, err = h.store.Load(ctx, []string{id}); err != nil {
			return err
		}
		cur := snaps[id]
		next := successor(cur, id)
		var merged []state.Event
		if cur != nil {
			merged = cur.Pending
		}
		for _, ev := range events {
			if !slices.ContainsFunc(merged, func(p state.Event) bool { return p.EventID == ev.EventID }) {
				merged = append(merged, ev)
			}
		}
		next.Pending = bounded(merged)
		if err = h.store.Save(ctx, next, versionOf(cur)); !errors.Is(err, state.ErrConflict) {
			return err
		}
	}
	return err
}

func versionOf(s *state.Snapshot) int64 {
	if s == nil {
		return 0
	}
	return s.Version
}

// bounded cuts the details of events to share MaxPendingBytes when they
// would exceed it.
func bounded(events []state.Event) []state.Event {
	total := 0
	for _, ev := range events {
		total += len(ev.Detail)
	}
	if total <= MaxPendingBytes {
		return events
	}
	share := MaxPendingBytes / len(events)
	out := slices.Clone(events)
	for i := range out {
		if len(out[i].Detail) > share {
			out[i].Detail = refit(out[i].Detail, share)
		}
	}
	return out
}

// recordOverdue replaces the overdue ids this run found with the ones it
// skipped itself, for the next run to poll first. Only the order of the
// next run's polls depends on it, so a failure is reported, not fatal.
func (h *Handler) recordOverdue(ctx context.Context, found []string, res *Result) {
	skipped := res.Skipped[:min(len(res.Skipped), MaxOverdueKept)]
	if err := h.store.MarkSkipped(ctx, found, skipped); err != nil {
		res.fail("", err)
		h.Logger.WarnContext(ctx, "skipped sessions not recorded", "error", err)
	}
}
