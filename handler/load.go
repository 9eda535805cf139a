package handler

import (
	"context"

	"sessionwatch/state"
)

// prefetcher loads the snapshots of chunks in order, at most
// AWSConcurrency chunks ahead of the one being polled; a plan of one
// chunk read already (preloaded) is not read again.
type prefetcher struct {
	results []chan loaded
	slots   chan struct{}
	cancel  context.CancelFunc
}

type loaded struct {
	snaps      map[string]*state.Snapshot
	unreadable map[string]error
	err        error
}

func (h *Handler) prefetch(ctx context.Context, chunks [][]*session, preloaded *loaded) *prefetcher {
	ctx, cancel := context.WithCancel(ctx)
	p := &prefetcher{results: make([]chan loaded, len(chunks)), slots: make(chan struct{}, AWSConcurrency), cancel: cancel}
	for i := range p.results {
		p.results[i] = make(chan loaded, 1)
	}
	if preloaded != nil && len(chunks) == 1 {
		p.slots <- struct{}{} // released as a loaded chunk's slot is
		p.results[0] <- *preloaded
		return p
	}
	go func() {
		for i, chunk := range chunks {
			select {
			case p.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			ids := make([]string, len(chunk))
			for j, s := range chunk {
				ids[j] = s.id
			}
			go func() {
				snaps, unreadable, err := h.store.Load(ctx, ids)
				p.results[i] <- loaded{snaps, unreadable, err}
			}()
		}
	}()
	return p
}

// wait returns the snapshots of chunk i, or an error when they could not
// be read or ctx ended first.
func (p *prefetcher) wait(ctx context.Context, i int) (map[string]*state.Snapshot, map[string]error, error) {
	select {
	case l := <-p.results[i]:
		return l.snaps, l.unreadable, l.err
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// release lets the prefetcher load one more chunk.
func (p *prefetcher) release() { <-p.slots }

// stop abandons the chunks not loaded yet.
func (p *prefetcher) stop() { p.cancel() }
