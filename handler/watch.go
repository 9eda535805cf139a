package handler

import (
	"context"
	"fmt"
	"slices"

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
	id   string
	prev *state.Snapshot // nil: never seen
	// answer is what Glue said of it this run: nil when not asked yet, or
	// when Glue does not know it (then polled is set).
	answer *gluetypes.Session
	listed bool // answer came from ListSessions
	polled bool // Glue answered for it this run
	// overdue: the last run ran out of time before polling it.
	overdue bool
	next    *state.Snapshot // to save; nil when nothing changed
	out     []*outgoing     // its events: earlier unpublished ones, then new ones
}

// due tells whether the session needs a GetSession call: it was not
// listed, and its snapshot is not finished or deleted.
func (s *session) due() bool {
	return !s.listed && (s.prev == nil || !s.prev.Done())
}

// watched is the watched set of a run.
type watched struct {
	sessions []*session
	// overdue are the ids the last run recorded as skipped.
	overdue []string
}

// watch applies track/untrack and works out the watched set: configured
// ids, requested ids, the registry and, when discovering, ListSessions;
// then it loads their snapshots. Only a failure to read the table fails
// the run.
func (h *Handler) watch(ctx, fetchCtx context.Context, req Request, res *Result) (watched, error) {
	discover, tags := h.cfg.Discover, h.cfg.DiscoverTags
	if req.Discover != nil {
		discover = *req.Discover
	}
	if req.Tags != nil {
		tags = req.Tags
	}
	var reg state.Registry
	var listed []gluetypes.Session
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		reg, err = h.registry(gctx, req)
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
		return watched{}, err
	}

	var w watched
	byID := map[string]*session{}
	add := func(id string) *session {
		if s, ok := byID[id]; ok {
			return s
		}
		s := &session{id: id}
		byID[id] = s
		w.sessions = append(w.sessions, s)
		return s
	}
	for _, ids := range [][]string{h.cfg.SessionIDs, req.SessionIDs, reg.Tracked} {
		for _, id := range ids {
			add(id)
		}
	}
	for i := range listed {
		if id := aws.ToString(listed[i].Id); ValidateSessionID(id) == nil {
			s := add(id)
			s.answer, s.listed = &listed[i], true
		}
	}
	ids := make([]string, len(w.sessions))
	for i, s := range w.sessions {
		ids[i] = s.id
	}
	snaps, err := h.store.Load(ctx, ids)
	if err != nil {
		return watched{}, err
	}
	for _, s := range w.sessions {
		s.prev = snaps[s.id]
	}
	for _, id := range reg.Skipped {
		if s, ok := byID[id]; ok {
			s.overdue = true
		}
	}
	w.overdue = reg.Skipped
	res.Watched = len(w.sessions)
	return w, nil
}

// registry applies the request's track and untrack, then reads the
// registry. A dry run reads it and changes only its copy.
func (h *Handler) registry(ctx context.Context, req Request) (state.Registry, error) {
	if !req.DryRun {
		if err := h.store.Track(ctx, req.Track); err != nil {
			return state.Registry{}, err
		}
		if err := h.store.Untrack(ctx, req.Untrack); err != nil {
			return state.Registry{}, err
		}
	}
	reg, err := h.store.Registry(ctx)
	if err != nil {
		return reg, err
	}
	if req.DryRun {
		for _, id := range req.Track {
			if !slices.Contains(reg.Tracked, id) {
				reg.Tracked = append(reg.Tracked, id)
			}
		}
		reg.Tracked = slices.DeleteFunc(reg.Tracked, func(id string) bool { return slices.Contains(req.Untrack, id) })
	}
	return reg, nil
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
