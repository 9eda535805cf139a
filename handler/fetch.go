package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/state"
)

// fetched is what fetch leaves for the rest of the run.
type fetched struct {
	changed []*session // sessions whose snapshot changes or that have new events
	// cutAt is the position in the plan's order where the deadline
	// stopped the Glue calls (len(order) when it did not); cut are the
	// sessions before it whose GetSession the deadline cut short.
	cutAt int
	cut   map[*session]bool
	// polled are the sessions Glue answered for.
	polled map[*session]bool
}

// fetch goes through the plan in order, state.BatchSize sessions at a
// time: it loads their snapshots (up to AWSConcurrency chunks ahead),
// asks Glue for each one ListSessions did not answer (MaxConcurrency calls
// in flight), and diffs each as soon as its answer comes; a quiet session
// is forgotten at once, so memory holds what changed, not the fleet, and
// each full round of RoundSize changed sessions goes to r to be published
// and saved while the polling goes on. It starts no Glue call and reads no
// more snapshots after fetchCtx ends than one round of sessions
// ListSessions answered (their state is in hand): the sessions it did not
// reach are skipped. It fails only when the table cannot be read.
func (h *Handler) fetch(ctx, fetchCtx context.Context, p *plan, res *Result, r *rounds) (*fetched, error) {
	at := h.Now().UTC().Truncate(time.Second) // EventBridge keeps an event's time to the second
	resources := resourcesFor(ctx)
	chunks := slices.Collect(slices.Chunk(p.order, state.BatchSize))
	loads := h.prefetch(ctx, chunks, p.preloaded)
	defer loads.stop()

	var mu sync.Mutex
	f := &fetched{cutAt: len(p.order), cut: map[*session]bool{}, polled: map[*session]bool{}}
	skip := func(s *session, inFlight bool) {
		mu.Lock()
		defer mu.Unlock()
		if inFlight {
			f.cut[s] = true
		}
		res.Skipped = append(res.Skipped, s.id)
	}
	done := func(s *session, err error) {
		if err != nil { // Glue did not answer: the snapshot stays, a later run polls it again
			s.prev = nil // as a quiet session's, read by nothing else
			mu.Lock()
			defer mu.Unlock()
			res.fail(s.id, err)
			h.Logger.WarnContext(ctx, "session failed", "sessionId", s.id, "error", err)
			return
		}
		notFound := s.answer == nil && (s.prev == nil || !s.prev.Seen())
		answer := s.answer
		s.prev = p.floor(s)
		diffErr := h.diffSession(s, at, resources(s.id))
		s.answer = nil // a large fleet's answers need not outlive the diff
		if s.next == nil {
			s.prev, s.activity = nil, nil // quiet or failed: only save reads them, of changed sessions
		}
		mu.Lock()
		defer mu.Unlock()
		res.Polled++
		res.fleet.observe(answer)
		f.polled[s] = true
		if notFound {
			res.NotFound = append(res.NotFound, s.id)
		}
		switch {
		case diffErr != nil:
			res.fail(s.id, diffErr)
			h.Logger.ErrorContext(ctx, "session failed", "sessionId", s.id, "error", diffErr)
		case s.next != nil:
			f.changed = append(f.changed, s)
		}
	}

	// MaxConcurrency workers take the sessions that need Glue one at a time,
	// in the plan's order: a call starts only when a worker is free, so the
	// calls start in that order however the goroutines are scheduled, and
	// the rotation holds.
	work := make(chan *session)
	var workers sync.WaitGroup
	for range h.cfg.MaxConcurrency {
		workers.Go(func() {
			for s := range work {
				if s.listed { // its state is in hand; only the idle check asks Glue
					h.checkIdle(fetchCtx, s, &mu, res)
					done(s, nil)
					continue
				}
				answer, err := h.getSession(fetchCtx, s.id)
				if err != nil && fetchCtx.Err() != nil {
					skip(s, true) // cut short by the deadline: the next run polls it first
					continue
				}
				s.answer = answer
				if err == nil && h.checksIdle(answer) {
					h.checkIdle(fetchCtx, s, &mu, res)
				}
				done(s, err)
			}
		})
	}
	// toGlue hands a session to a worker; false when the deadline came
	// first.
	toGlue := func(s *session) bool {
		if fetchCtx.Err() != nil {
			return false
		}
		select {
		case work <- s:
			return true
		case <-fetchCtx.Done():
			return false
		}
	}

	var loadErr error
	pos, late := 0, 0
	for i, chunk := range chunks {
		if fetchCtx.Err() != nil && (late >= RoundSize || !slices.ContainsFunc(chunk, func(s *session) bool { return s.listed })) {
			// Past the deadline, sessions ListSessions answered are still
			// diffed, their state being in hand, but one round of them at
			// most: reading and saving more snapshots would overrun the
			// reserve. The others wait for the next run.
			for _, s := range chunk {
				f.cutAt = min(f.cutAt, pos)
				skip(s, false)
				pos++
			}
			continue
		}
		if fetchCtx.Err() != nil {
			late += len(chunk)
		}
		snaps, unreadable, err := loads.wait(ctx, i)
		if err != nil {
			loadErr = err
			break
		}
		for _, s := range chunk {
			s.prev = snaps[s.id]
			switch {
			case unreadable[s.id] != nil:
				mu.Lock()
				res.fail(s.id, unreadable[s.id])
				mu.Unlock()
				h.Logger.ErrorContext(ctx, "session failed", "sessionId", s.id, "error", unreadable[s.id])
			case s.listed && h.checksIdle(s.answer) && toGlue(s):
			case s.listed:
				done(s, nil) // no idle check, or no time left for one
			case !toGlue(s):
				f.cutAt = min(f.cutAt, pos)
				skip(s, false)
			}
			pos++
		}
		loads.release()
		// A full round of changed sessions is published and saved while
		// the polling goes on.
		mu.Lock()
		var round []*session
		if len(f.changed) >= RoundSize {
			round = f.changed[:RoundSize:RoundSize]
			f.changed = slices.Clone(f.changed[RoundSize:])
		}
		mu.Unlock()
		if round != nil {
			r.hand(fetchCtx, round)
		}
	}
	close(work)
	workers.Wait() // failures are per session
	if loadErr != nil {
		return nil, loadErr
	}
	// Answers come in any order: list them in the plan's.
	if len(res.NotFound)+len(res.Skipped) < 2 {
		return f, nil
	}
	rank := make(map[string]int, len(p.order))
	for i, s := range p.order {
		rank[s.id] = i
	}
	byRank := func(a, b string) int { return rank[a] - rank[b] }
	slices.SortFunc(res.NotFound, byRank)
	slices.SortFunc(res.Skipped, byRank)
	return f, nil
}

// floor is the snapshot a transition starts from: the stored one, or,
// when events of an earlier session under the same id (another CreatedOn)
// still wait in the outbox, one whose numbering goes on after them, as
// re-created sessions do (README, The watched set) while anything of the
// old one is stored. Events of the same session are never renumbered:
// observed again after a crash, a change gets its first eventId.
func (p *plan) floor(s *session) *state.Snapshot {
	kept, ok := p.kept[s.id]
	stored := s.prev
	if !ok || (stored != nil && stored.Sequence >= kept.Sequence) || s.answer == nil ||
		kept.CreatedOn == nil || s.answer.CreatedOn == nil || kept.CreatedOn.Equal(*s.answer.CreatedOn) {
		return stored
	}
	if stored == nil {
		// Only the old session's unpublished events remain: the new one is
		// a first sighting, numbered after them.
		return &state.Snapshot{SessionID: s.id, Sequence: kept.Sequence, Deleted: true}
	}
	raised := *stored
	raised.Sequence = kept.Sequence
	return &raised
}

// getSession asks Glue for one session. Its answer is nil when Glue says
// it does not know the session (EntityNotFoundException): the observation
// of a deletion.
func (h *Handler) getSession(ctx context.Context, id string) (*gluetypes.Session, error) {
	out, err := h.glue.GetSession(ctx, &glue.GetSessionInput{Id: aws.String(id), RequestOrigin: h.origin()})
	var notFound *gluetypes.EntityNotFoundException
	switch {
	case errors.As(err, &notFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get session: %w", glueError("GetSession", err))
	case out.Session == nil:
		return nil, errors.New("get session: answer holds no session")
	}
	out.Session.DefaultArguments = nil // never used, can hold secrets
	return out.Session, nil
}
