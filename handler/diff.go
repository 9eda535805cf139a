package handler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"sessionwatch/state"
)

// diffSession runs Transition over what Glue answered for a polled
// session and sets its next snapshot and its new events. A change whose
// event cannot be rendered leaves the snapshot as it was, so a later run
// observes it again.
func (h *Handler) diffSession(s *session, at time.Time, resources []string) error {
	next, events := Transition(s.prev, Observation{SessionID: s.id, Session: s.answer, At: at, Activity: s.activity, CreatedBy: s.createdBy}, h.rules())
	out, err := h.render(s.id, events, resources)
	if err != nil {
		return err
	}
	s.next, s.out = next, out
	for _, ev := range events {
		if ev.DetailType == DetailTypeAlert {
			s.alerts = append(s.alerts, ev.Detail.Alert)
		}
	}
	return nil
}

// rules are the parts of the configuration transitions follow.
func (h *Handler) rules() Rules {
	return Rules{
		RetentionDays: h.cfg.RetentionDays,
		StuckMinutes:  h.cfg.StuckMinutes, RunningHours: h.cfg.RunningHours, IdleMinutes: h.cfg.IdleMinutes,
		CostUSD: h.cfg.CostUSD, DPUHourUSD: h.cfg.DPUHourUSD,
	}
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
		var created *time.Time
		if ev.Detail.Session != nil {
			created = ev.Detail.Session.CreatedOn
		}
		out = append(out, &outgoing{resources: resources, ev: state.Event{
			DetailType: ev.DetailType, EventID: ev.Detail.EventID, SessionID: id, Sequence: ev.Detail.Sequence,
			Time: ev.Detail.ObservedAt, Detail: detail, CreatedOn: created,
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
