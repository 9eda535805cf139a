package handler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"golang.org/x/sync/errgroup"
)

// fetch calls GetSession for every watched session that is due, at most
// MaxConcurrency at once; fetchCtx ends where no call may start any more.
// A listed session counts as polled: ListSessions answered for it.
func (h *Handler) fetch(fetchCtx context.Context, sessions []*session, res *Result) {
	var mu sync.Mutex
	g := errgroup.Group{}
	g.SetLimit(h.cfg.MaxConcurrency)
	for _, s := range fetchOrder(sessions) {
		if s.listed {
			s.polled = true
			continue
		}
		if !s.due() {
			continue
		}
		g.Go(func() error {
			if fetchCtx.Err() != nil {
				mu.Lock()
				res.Skipped = append(res.Skipped, s.id)
				mu.Unlock()
				return nil
			}
			answer, found, err := h.getSession(fetchCtx, s.id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && fetchCtx.Err() != nil:
				res.Skipped = append(res.Skipped, s.id) // cut short by the deadline: the next run polls it
			case err != nil:
				res.fail(s.id, err)
				h.Logger.WarnContext(fetchCtx, "session failed", "sessionId", s.id, "error", err)
			case found:
				s.answer, s.polled = answer, true
			default:
				s.polled = true // Glue does not know it
			}
			return nil
		})
	}
	_ = g.Wait() // every goroutine returns nil: failures are per session
	for _, s := range sessions {
		if s.polled {
			res.Polled++
			if s.answer == nil && s.prev == nil {
				res.NotFound = append(res.NotFound, s.id)
			}
		}
	}
}

// getSession asks Glue for one session; found is false when Glue answers
// that it does not know it.
func (h *Handler) getSession(ctx context.Context, id string) (answer *gluetypes.Session, found bool, err error) {
	out, err := h.glue.GetSession(ctx, &glue.GetSessionInput{Id: aws.String(id), RequestOrigin: h.origin()})
	var notFound *gluetypes.EntityNotFoundException
	switch {
	case errors.As(err, &notFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("get session: %w", glueError("GetSession", err))
	case out.Session == nil:
		return nil, false, errors.New("get session: answer holds no session")
	}
	out.Session.DefaultArguments = nil // never used, can hold secrets
	return out.Session, true, nil
}

// fetchOrder puts first the sessions the last run skipped, then the ones
// never seen, so that a run cut short by its deadline does not starve
// them: the next run starts where it stopped.
func fetchOrder(sessions []*session) []*session {
	rank := func(s *session) int {
		switch {
		case s.overdue:
			return 0
		case s.prev == nil:
			return 1
		}
		return 2
	}
	out := slices.Clone(sessions)
	slices.SortStableFunc(out, func(a, b *session) int { return rank(a) - rank(b) })
	return out
}
