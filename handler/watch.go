package handler

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"golang.org/x/sync/errgroup"

	"sessionwatch/state"
)

// ListPageSize is the MaxResults of every ListSessions call: Glue's
// largest page, so discovery makes as few calls as it can.
const ListPageSize = 1000

// session is one watched session through a run.
type session struct {
	id     string
	prev   *state.Snapshot    // nil: never seen
	answer *gluetypes.Session // Glue's answer; nil when not asked yet or not found
	listed bool               // answer came from ListSessions
	// activity is what ListStatements said of a READY session when idle
	// detection is on; nil otherwise, or when it failed.
	activity *Activity
	next     *state.Snapshot // to save; nil when nothing changed
	out      []*outgoing     // its new events
	alerts   []string        // the kinds of its new alerts
	// createdBy is the creator a CloudTrail CreateSession record names for
	// the session; empty otherwise.
	createdBy string
}

// plan is a run's watched set, in the order the run goes through it: the
// sessions the last run reached but could not poll first, then every
// other one in id order, starting after the last run's cursor and
// wrapping around, so that runs cut short by their deadline share the
// fleet fairly.
type plan struct {
	order  []*session
	behind int // the first behind sessions of order are the last run's leftovers
	run    state.Run
	outbox []state.Event
	// kept is, per session, the last of its events still in the outbox.
	kept map[string]state.Event
	// preloaded, when set, holds the snapshots of order read already (by
	// a record's run, to tell whether it knows the session): fetch does
	// not read them again.
	preloaded *loaded
}

// watch applies track/untrack and works out the watched set: configured
// ids, requested ids, the registry and, when discovering, ListSessions;
// it also reads the outbox. Only a failure to read the table fails the
// run.
func (h *Handler) watch(ctx, fetchCtx context.Context, req Request, res *Result) (*plan, error) {
	if req.CloudTrail != nil {
		return h.watchCall(ctx, req.CloudTrail, res)
	}
	discover, tags := h.cfg.Discover, h.cfg.DiscoverTags
	if req.Discover != nil {
		discover = *req.Discover
	}
	if req.Tags != nil {
		tags = req.Tags
	}
	var shelf state.Shelf
	var run state.Run
	var listed []gluetypes.Session
	if !req.DryRun {
		// Before the reads: a run that tracks ids (rare) waits for it, and
		// the index then lists them as soon as DynamoDB does.
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return h.store.Track(gctx, req.Track) })
		g.Go(func() error {
			return h.store.Untrack(gctx, req.Untrack, h.Now().Add(retention(h.rules())).Unix())
		})
		if err := g.Wait(); err != nil {
			return nil, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		shelf, err = h.store.ReadShelf(gctx)
		return err
	})
	g.Go(func() (err error) {
		run, err = h.store.ReadRun(gctx)
		return err
	})
	if discover {
		listCtx, cancel := context.WithCancel(fetchCtx)
		defer cancel()
		context.AfterFunc(gctx, cancel)
		g.Go(func() error {
			var err error
			if listed, err = h.list(listCtx, tags); err != nil {
				// Not fatal: the sessions listed so far are polled, the
				// others on a later run.
				res.fail("", fmt.Errorf("discover: %w", err))
				h.Logger.WarnContext(ctx, "discovery incomplete", "error", err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if run.Layout < state.Layout && !req.DryRun {
		// A table the first version wrote: move its registry and pending
		// events into this layout, once, then read it again.
		var err error
		if run, err = h.store.Migrate(ctx, run); err != nil {
			return nil, err
		}
		if shelf, err = h.store.ReadShelf(ctx); err != nil {
			return nil, err
		}
	}

	byID := map[string]*session{}
	add := func(id string) *session {
		s, ok := byID[id]
		if !ok {
			s = &session{id: id}
			byID[id] = s
		}
		return s
	}
	registry := slices.DeleteFunc(shelf.Watched, func(id string) bool { return slices.Contains(req.Untrack, id) })
	for _, ids := range [][]string{h.cfg.SessionIDs, req.SessionIDs, registry, req.Track} {
		for _, id := range ids {
			add(id)
		}
	}
	for i := range listed {
		if id := aws.ToString(listed[i].Id); ValidateSessionID(id) == nil {
			s := add(id)
			answer := listed[i] // a copy: diffed, it is let go of, and the list with it
			s.answer, s.listed = &answer, true
		}
	}
	p := newPlan(run, shelf.Outbox)
	for _, id := range run.Behind {
		if s, ok := byID[id]; ok {
			p.order = append(p.order, s)
			delete(byID, id)
		}
	}
	p.behind = len(p.order)
	rest := make([]*session, 0, len(byID))
	for _, s := range byID {
		rest = append(rest, s)
	}
	slices.SortFunc(rest, func(a, b *session) int { return strings.Compare(a.id, b.id) })
	start, _ := slices.BinarySearchFunc(rest, run.Cursor, func(s *session, cursor string) int {
		if s.id <= cursor {
			return -1
		}
		return 1
	})
	p.order = append(append(p.order, rest[start:]...), rest[:start]...)
	res.Watched = len(p.order)
	return p, nil
}

// newPlan is a plan with the outbox read, no session in it yet.
func newPlan(run state.Run, outbox []state.Event) *plan {
	p := &plan{run: run, outbox: outbox, kept: map[string]state.Event{}}
	for _, ev := range outbox {
		if ev.Sequence >= p.kept[ev.SessionID].Sequence {
			p.kept[ev.SessionID] = ev
		}
	}
	return p
}

// watchCall is the watched set of a run started by a CloudTrail record:
// the one session it names, and the outbox. CreateSession tracks the id
// and polls it whatever its snapshot says; StopSession and DeleteSession
// poll it only when sessionwatch tracks it or has a snapshot of it. It
// reads neither the registry nor, unless the table must be migrated
// first, writes the run item: the cursor of full runs stays theirs.
func (h *Handler) watchCall(ctx context.Context, call *CloudTrailCall, res *Result) (*plan, error) {
	create := call.EventName == CallCreateSession
	if create {
		if err := h.store.Track(ctx, []string{call.SessionID}); err != nil {
			return nil, err
		}
	}
	var run state.Run
	var outbox []state.Event
	var item *loaded
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		run, err = h.store.ReadRun(gctx)
		return err
	})
	g.Go(func() (err error) {
		outbox, err = h.store.ReadOutbox(gctx)
		return err
	})
	if !create {
		g.Go(func() error {
			snaps, unreadable, err := h.store.Load(gctx, []string{call.SessionID})
			item = &loaded{snaps: snaps, unreadable: unreadable}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if run.Layout < state.Layout {
		// A table the first version wrote: migrated before anything is
		// saved over its snapshots (which may hold pending events).
		var err error
		if run, err = h.store.Migrate(ctx, run); err != nil {
			return nil, err
		}
		if outbox, err = h.store.ReadOutbox(ctx); err != nil {
			return nil, err
		}
	}
	p := newPlan(run, outbox)
	// An unreadable item is a snapshot: polling it reports it.
	if create || item.snaps[call.SessionID] != nil || item.unreadable[call.SessionID] != nil {
		p.order = []*session{{id: call.SessionID, createdBy: call.CreatedBy}}
		p.preloaded = item // nil for a create: its item was just written
	}
	res.Watched = len(p.order)
	return p, nil
}

// list returns every session ListSessions answers for the tag filter, all
// pages; on a failure, the pages read so far and the error.
func (h *Handler) list(ctx context.Context, tags map[string]string) ([]gluetypes.Session, error) {
	var out []gluetypes.Session
	in := &glue.ListSessionsInput{Tags: tags, RequestOrigin: h.origin(), MaxResults: aws.Int32(ListPageSize)}
	p := glue.NewListSessionsPaginator(h.glue, in)
	for page := 1; p.HasMorePages(); page++ {
		res, err := p.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("list sessions page %d: %w", page, glueError("ListSessions", err))
		}
		for i := range res.Sessions {
			res.Sessions[i].DefaultArguments = nil // never used, can hold secrets
		}
		out = append(out, res.Sessions...)
	}
	return out, nil
}
