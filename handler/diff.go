package handler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"sessionwatch/state"
)

// diff runs Transition over every polled session and returns the events
// to publish: for each session, the events earlier runs could not publish,
// then its new ones.
func (h *Handler) diff(ctx context.Context, sessions []*session, res *Result) []*outgoing {
	// EventBridge keeps an event's time to the second: observedAt does too,
	// so the two stay equal.
	at := h.Now().UTC().Truncate(time.Second)
	resources := resourcesFor(ctx)
	rules := Rules{RetentionDays: h.cfg.RetentionDays}
	var all []*outgoing
	for _, s := range sessions {
		if err := h.diffSession(s, at, rules, resources(s.id)); err != nil {
			res.fail(s.id, err)
			h.Logger.ErrorContext(ctx, "session failed", "sessionId", s.id, "error", err)
		}
		all = append(all, s.out...)
		s.answer = nil // built into events; a large fleet's answers need not outlive the diff
		if s.next != nil {
			res.Changed++
		}
	}
	return all
}

// diffSession sets the session's next snapshot and its events. A change
// whose event cannot be rendered leaves the snapshot as it was, so a later
// run observes it again.
func (h *Handler) diffSession(s *session, at time.Time, rules Rules, resources []string) error {
	if s.prev != nil {
		for _, ev := range s.prev.Pending {
			s.out = append(s.out, &outgoing{session: s.id, ev: ev, resources: resources})
		}
	}
	var err error
	if s.polled {
		next, events := Transition(s.prev, Observation{SessionID: s.id, Session: s.answer, At: at}, rules)
		var fresh []*outgoing
		if fresh, err = h.render(s.id, events, resources); err == nil {
			s.next = next
			s.out = append(s.out, fresh...)
		}
	}
	if s.next == nil && len(s.out) > 0 {
		// Unchanged, but its pending events are rewritten once published.
		s.next = successor(s.prev, s.id)
	}
	return err
}

// render turns a session's new events into entries' details, fitted to
// EventBridge's entry size with the resources they go with.
func (h *Handler) render(id string, events []Event, resources []string) ([]*outgoing, error) {
	out := make([]*outgoing, 0, len(events))
	for _, ev := range events {
		detail, err := fit(ev.Detail, detailLimit(h.cfg.Source, ev.DetailType, resources))
		if err != nil {
			return nil, err
		}
		out = append(out, &outgoing{session: id, resources: resources, ev: state.Event{
			DetailType: ev.DetailType, EventID: ev.Detail.EventID, Time: ev.Detail.ObservedAt, Detail: detail,
		}})
	}
	return out, nil
}

// resourcesFor returns the function that names a session's ARN, built from
// the invoked function's ARN (partition, region, account); without one
// (outside Lambda) events carry no resources.
func resourcesFor(ctx context.Context) func(string) []string {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return func(string) []string { return nil }
	}
	parts := strings.Split(lc.InvokedFunctionArn, ":")
	if len(parts) < 6 || parts[0] != "arn" || parts[4] == "" {
		return func(string) []string { return nil }
	}
	prefix := fmt.Sprintf("arn:%s:glue:%s:%s:session/", parts[1], parts[3], parts[4])
	return func(id string) []string { return []string{prefix + id} }
}
