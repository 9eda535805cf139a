package handler_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/state"
)

// alertRules are the alert thresholds of the table: STUCK after 15
// minutes, RUNNING_LONG at 8 and 24 hours, IDLE after 30 minutes, COST at
// $10 and $50, at $0.44 a DPU-hour.
var alertRules = handler.Rules{RetentionDays: 30, StuckMinutes: 15, RunningHours: []float64{8, 24}, IdleMinutes: 30,
	CostUSD: []float64{10, 50}, DPUHourUSD: 0.44}

// TestTransitionAlerts: the alert rules of the transition, each kind at,
// just below and just above its threshold, several at once, once each,
// and what resets them.
func TestTransitionAlerts(t *testing.T) {
	at := observedAt
	ago := func(d time.Duration) *time.Time { v := at.Add(-d); return &v }
	// seen is a snapshot of a session created createdAgo and seen in
	// status since (unfinished), with the alerts already fired.
	seen := func(status string, since time.Duration, fired ...string) *state.Snapshot {
		s := &state.Snapshot{SessionID: "s-1", Status: status, ObservedAt: *ago(since), StatusSince: ago(since),
			Sequence: 4, Version: 2, Shelf: state.OnShelf, Fired: fired}
		if len(fired) == 0 {
			s.Fired = nil
		}
		return s
	}
	// glue is Glue's answer: created createdAgo ago, 5 DPU.
	glue := func(status string, createdAgo time.Duration) *gluetypes.Session {
		s := &gluetypes.Session{Id: aws.String("s-1"), Status: gluetypes.SessionStatus(status), CreatedOn: ago(createdAgo), MaxCapacity: aws.Float64(5)}
		return s
	}
	idle := func(lastCompleted time.Duration) *handler.Activity {
		return &handler.Activity{LastCompleted: ago(lastCompleted)}
	}
	type row struct {
		name     string
		prev     *state.Snapshot
		answer   *gluetypes.Session
		activity *handler.Activity
		rules    *handler.Rules
		want     []string // "ALERT threshold" of each alert event, in order
		fired    []string // the snapshot's Fired after it (nil: unchanged, no write)
		usd      float64  // when set, the estimatedUsd of Glue's answer the row stands on
		noCost   bool     // no event carries a cost block (capacity unknown)
	}
	noCost := func(s *gluetypes.Session) *gluetypes.Session { s.MaxCapacity = nil; return s }
	rows := []row{
		{name: "STUCK just below", prev: seen("PROVISIONING", 15*time.Minute-time.Second), answer: noCost(glue("PROVISIONING", 15*time.Minute-time.Second))},
		{name: "STUCK at (not more than 15 minutes)", prev: seen("PROVISIONING", 15*time.Minute), answer: noCost(glue("PROVISIONING", 15*time.Minute))},
		{name: "STUCK just above", prev: seen("PROVISIONING", 15*time.Minute+time.Second), answer: noCost(glue("PROVISIONING", 16*time.Minute)),
			want: []string{"STUCK 15m"}, fired: []string{"STUCK:PROVISIONING"}},
		{name: "STUCK once", prev: seen("PROVISIONING", time.Hour, "STUCK:PROVISIONING"), answer: noCost(glue("PROVISIONING", time.Hour))},
		{name: "STUCK again in another status", prev: seen("STOPPING", 20*time.Minute, "STUCK:PROVISIONING"), answer: noCost(glue("STOPPING", 2*time.Hour)),
			want: []string{"STUCK 15m"}, fired: []string{"STUCK:PROVISIONING", "STUCK:STOPPING"}},
		{name: "a status change resets STUCK", prev: seen("PROVISIONING", time.Hour, "STUCK:PROVISIONING"), answer: noCost(glue("READY", time.Hour)),
			fired: []string{}},
		{name: "first seen PROVISIONING: STUCK counts from CreatedOn", answer: noCost(glue("PROVISIONING", 20*time.Minute)),
			want: []string{"STUCK 15m"}, fired: []string{"STUCK:PROVISIONING"}},
		{name: "STUCK off", prev: seen("PROVISIONING", time.Hour), answer: noCost(glue("PROVISIONING", time.Hour)), rules: &handler.Rules{RetentionDays: 30}},
		{name: "RUNNING_LONG just below", prev: seen("READY", time.Hour), answer: noCost(glue("READY", 8*time.Hour-time.Second))},
		{name: "RUNNING_LONG at (not more than 8 hours)", prev: seen("READY", time.Hour), answer: noCost(glue("READY", 8*time.Hour))},
		{name: "RUNNING_LONG just above", prev: seen("READY", time.Hour), answer: noCost(glue("READY", 8*time.Hour+time.Second)),
			want: []string{"RUNNING_LONG 8h"}, fired: []string{"RUNNING_LONG:8"}},
		{name: "RUNNING_LONG, both thresholds at once, ascending", prev: seen("READY", time.Hour), answer: noCost(glue("READY", 25*time.Hour)),
			want: []string{"RUNNING_LONG 8h", "RUNNING_LONG 24h"}, fired: []string{"RUNNING_LONG:8", "RUNNING_LONG:24"}},
		{name: "RUNNING_LONG, the next threshold only", prev: seen("READY", time.Hour, "RUNNING_LONG:8"), answer: noCost(glue("READY", 25*time.Hour)),
			want: []string{"RUNNING_LONG 24h"}, fired: []string{"RUNNING_LONG:8", "RUNNING_LONG:24"}},
		{name: "IDLE just below", prev: seen("READY", time.Hour), answer: noCost(glue("READY", time.Hour)), activity: idle(30*time.Minute - time.Second)},
		{name: "IDLE at (not more than 30 minutes)", prev: seen("READY", time.Hour), answer: noCost(glue("READY", time.Hour)), activity: idle(30 * time.Minute)},
		{name: "IDLE just above", prev: seen("READY", time.Hour), answer: noCost(glue("READY", time.Hour)), activity: idle(30*time.Minute + time.Second),
			want: []string{"IDLE 30m"}, fired: []string{"IDLE:" + ago(30*time.Minute+time.Second).Format(time.RFC3339)}},
		{name: "IDLE with no statement counts from CreatedOn", prev: seen("READY", time.Hour), answer: noCost(glue("READY", time.Hour)),
			activity: &handler.Activity{}, want: []string{"IDLE 30m"}, fired: []string{"IDLE:" + ago(time.Hour).Format(time.RFC3339)}},
		{name: "IDLE once per spell", prev: seen("READY", time.Hour, "IDLE:"+ago(40*time.Minute).Format(time.RFC3339)),
			answer: noCost(glue("READY", time.Hour)), activity: idle(40 * time.Minute)},
		{name: "IDLE again in a second spell", prev: seen("READY", 3*time.Hour, "IDLE:"+ago(2*time.Hour).Format(time.RFC3339)),
			answer: noCost(glue("READY", 3*time.Hour)), activity: idle(35 * time.Minute),
			want: []string{"IDLE 30m"}, fired: []string{"IDLE:" + ago(35*time.Minute).Format(time.RFC3339)}},
		{name: "busy is not idle", prev: seen("READY", time.Hour), answer: noCost(glue("READY", time.Hour)),
			activity: &handler.Activity{Busy: true, LastCompleted: ago(time.Hour)}},
		{name: "IDLE not checked: no alert", prev: seen("READY", time.Hour), answer: noCost(glue("READY", time.Hour))},
		{name: "COST just below ($9.99)", prev: seen("READY", time.Hour), answer: glue("READY", 4*time.Hour+32*time.Minute+27*time.Second), usd: 9.99},
		{name: "COST at ($10.00 to the cent: not more than $10)", prev: seen("READY", time.Hour), answer: glue("READY", 4*time.Hour+32*time.Minute+43*time.Second), usd: 10},
		{name: "COST just above ($10.01)", prev: seen("READY", time.Hour), answer: glue("READY", 4*time.Hour+33*time.Minute), usd: 10.01,
			want: []string{"COST $10"}, fired: []string{"COST:10"}},
		{name: "first seen long after its creation: every threshold, ascending", answer: glue("READY", 25*time.Hour), activity: idle(2 * time.Hour),
			want:  []string{"RUNNING_LONG 8h", "RUNNING_LONG 24h", "IDLE 30m", "COST $10", "COST $50"},
			fired: []string{"RUNNING_LONG:8", "RUNNING_LONG:24", "IDLE:" + ago(2*time.Hour).Format(time.RFC3339), "COST:10", "COST:50"}},
		{name: "unknown worker type: no cost block, no COST; the other alerts fire", answer: func() *gluetypes.Session {
			s := noCost(glue("READY", 25*time.Hour))
			s.WorkerType, s.NumberOfWorkers = "X.9X", aws.Int32(10) // 250 DPU-hours, had it been guessed at 1 DPU
			return s
		}(), activity: idle(2 * time.Hour), noCost: true,
			want:  []string{"RUNNING_LONG 8h", "RUNNING_LONG 24h", "IDLE 30m"},
			fired: []string{"RUNNING_LONG:8", "RUNNING_LONG:24", "IDLE:" + ago(2*time.Hour).Format(time.RFC3339)}},
		{name: "neither MaxCapacity nor workers: no cost block, no COST; the other alerts fire", prev: seen("READY", time.Hour),
			answer: func() *gluetypes.Session {
				s := noCost(glue("READY", 30*time.Hour))
				s.WorkerType = "G.2X" // a known type, but no NumberOfWorkers
				return s
			}(), activity: idle(time.Hour), noCost: true,
			want:  []string{"RUNNING_LONG 8h", "RUNNING_LONG 24h", "IDLE 30m"},
			fired: []string{"RUNNING_LONG:8", "RUNNING_LONG:24", "IDLE:" + ago(time.Hour).Format(time.RFC3339)}},
		{name: "backfill: no alert", answer: func() *gluetypes.Session {
			s := glue("STOPPED", 30*time.Hour)
			s.CompletedOn, s.DPUSeconds = ago(time.Hour), aws.Float64(5*29*3600)
			return s
		}(), fired: []string{}},
		{name: "a re-created session starts its alerts afresh", prev: func() *state.Snapshot {
			s := seen("READY", time.Hour, "RUNNING_LONG:8", "COST:10")
			s.CreatedOn = ago(20 * time.Hour)
			return s
		}(), answer: glue("READY", 9*time.Hour),
			want: []string{"RUNNING_LONG 8h"}, fired: []string{"RUNNING_LONG:8"}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.prev != nil && r.prev.CreatedOn == nil {
				r.prev.CreatedOn = r.answer.CreatedOn // the same session, unless the row says otherwise
			}
			rules := alertRules
			if r.rules != nil {
				rules = *r.rules
			}
			if r.name == "a re-created session starts its alerts afresh" {
				rules.CostUSD = nil
			}
			if r.usd != 0 {
				if c := handler.CostOf(r.answer, at, rules.DPUHourUSD); c == nil || c.EstimatedUSD != r.usd {
					t.Fatalf("the row stands on a cost of $%g, Glue's answer costs %+v", r.usd, c)
				}
			}
			obs := handler.Observation{SessionID: "s-1", Session: r.answer, At: at, Activity: r.activity}
			next, events := handler.Transition(r.prev, obs, rules)
			if r.noCost && len(events) == 0 {
				t.Fatal("no event to look for a cost block in")
			}
			var got []string
			ids := map[string]bool{}
			for _, e := range events {
				d := e.Detail
				if ids[d.EventID] {
					t.Errorf("eventId %s twice", d.EventID)
				}
				ids[d.EventID] = true
				if r.noCost {
					raw, err := json.Marshal(d)
					var fields map[string]any
					if err == nil {
						err = json.Unmarshal(raw, &fields)
					}
					if _, has := fields["cost"]; has || err != nil || d.Cost != nil {
						t.Errorf("%s %s: a cost block %+v (%v), want none", e.DetailType, d.Alert, d.Cost, err)
					}
				}
				if e.DetailType != handler.DetailTypeAlert {
					continue
				}
				th := d.Threshold
				switch {
				case th.Minutes != nil:
					got = append(got, fmt.Sprintf("%s %dm", d.Alert, *th.Minutes))
				case th.Hours != nil:
					got = append(got, fmt.Sprintf("%s %gh", d.Alert, *th.Hours))
				case th.USD != nil:
					got = append(got, fmt.Sprintf("%s $%g", d.Alert, *th.USD))
				}
				if d.Severity != "WARN" || !strings.HasPrefix(d.Message, "Session s-1 has ") || d.Status == nil || *d.Status != string(r.answer.Status) {
					t.Errorf("alert %s: severity %s, message %q, status %v", d.Alert, d.Severity, d.Message, d.Status)
				}
			}
			if !slices.Equal(got, r.want) {
				t.Errorf("alerts %q, want %q", got, r.want)
			}
			switch {
			case r.fired == nil && len(events) == 0 && next != nil && r.prev != nil:
				t.Errorf("no alert, but a write: %+v", next)
			case r.fired != nil:
				if next == nil {
					t.Fatalf("no next snapshot, want Fired %q", r.fired)
				}
				if !slices.Equal(append([]string{}, next.Fired...), r.fired) {
					t.Errorf("Fired %q, want %q", next.Fired, r.fired)
				}
				// The same observation again is quiet: each alert fires once.
				if again, more := handler.Transition(next, obs, rules); again != nil || len(more) > 0 {
					t.Errorf("the same observation again gives %d events", len(more))
				}
			}
		})
	}
}

// TestTransitionAlertMessage: a message a person reads on a phone. Hours
// are rounded down to a tenth, shown whole when they are: a threshold of
// half an hour must not read "for 0 hours".
func TestTransitionAlertMessage(t *testing.T) {
	for _, tc := range []struct {
		age       time.Duration
		threshold float64
		want      string
	}{
		{8*time.Hour + time.Second, 8, "Session etl-dev has been READY for 8 hours (threshold 8); estimated cost so far $17.60"},
		{8*time.Hour + 15*time.Minute, 8, "Session etl-dev has been READY for 8.2 hours (threshold 8); estimated cost so far $18.15"},
		{35 * time.Minute, 0.5, "Session etl-dev has been READY for 0.5 hours (threshold 0.5); estimated cost so far $1.28"},
	} {
		created := observedAt.Add(-tc.age)
		s := &gluetypes.Session{Id: aws.String("etl-dev"), Status: "READY", CreatedOn: &created, MaxCapacity: aws.Float64(5)}
		_, events := handler.Transition(nil, handler.Observation{SessionID: "etl-dev", Session: s, At: observedAt},
			handler.Rules{RetentionDays: 30, RunningHours: []float64{tc.threshold}, DPUHourUSD: 0.44})
		if len(events) != 2 {
			t.Fatalf("%v: got %d events, want a first sighting and an alert", tc.age, len(events))
		}
		if got := events[1].Detail.Message; got != tc.want {
			t.Errorf("%v: message %q, want %q", tc.age, got, tc.want)
		}
	}
}

// designWorkerDPU is the README's table (Cost) of the DPU of one worker of each
// worker type (Events, cost).
var designWorkerDPU = map[string]float64{
	"G.025X": 0.25, "G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8, "G.12X": 12, "G.16X": 16,
	"Z.2X": 2, "R.1X": 1, "R.2X": 2, "R.4X": 4, "R.8X": 8,
}

// TestCostOf: the cost block, from Glue's capacity and DPU-seconds.
func TestCostOf(t *testing.T) {
	at := observedAt
	hoursAgo := func(h float64) *time.Time { v := at.Add(-time.Duration(h * float64(time.Hour))); return &v }
	type want struct {
		dpu       float64 // 0: none
		hours     float64
		usd       float64
		basis     string
		noneAtAll bool
	}
	type row struct {
		name string
		s    gluetypes.Session
		want want
	}
	rows := []row{
		{"MaxCapacity, unfinished: the estimate", gluetypes.Session{Status: "READY", MaxCapacity: aws.Float64(5), CreatedOn: hoursAgo(2)},
			want{5, 10, 4.4, "estimate", false}},
		{"workers × worker DPU", gluetypes.Session{Status: "READY", NumberOfWorkers: aws.Int32(10), WorkerType: "G.2X", CreatedOn: hoursAgo(1)},
			want{20, 20, 8.8, "estimate", false}},
		{"unfinished: Glue's figure when larger", gluetypes.Session{Status: "READY", MaxCapacity: aws.Float64(5), CreatedOn: hoursAgo(1), DPUSeconds: aws.Float64(36000)},
			want{5, 10, 4.4, "glue", false}},
		{"finished: Glue's DPUSeconds", gluetypes.Session{Status: "STOPPED", MaxCapacity: aws.Float64(5), CreatedOn: hoursAgo(3), CompletedOn: hoursAgo(1), DPUSeconds: aws.Float64(4500)},
			want{5, 1.25, 0.55, "glue", false}},
		{"finished without DPUSeconds: CreatedOn to CompletedOn", gluetypes.Session{Status: "FAILED", MaxCapacity: aws.Float64(2), CreatedOn: hoursAgo(3), CompletedOn: hoursAgo(1)},
			want{2, 4, 1.76, "estimate", false}},
		{"unknown worker type: no DPU, never guessed", gluetypes.Session{Status: "READY", NumberOfWorkers: aws.Int32(3), WorkerType: "X.9X", CreatedOn: hoursAgo(1)},
			want{noneAtAll: true}},
		{"unknown worker type, even with Glue's figure: no cost block (README, Cost: capacity known)", gluetypes.Session{Status: "READY", NumberOfWorkers: aws.Int32(3), WorkerType: "X.9X", CreatedOn: hoursAgo(1), DPUSeconds: aws.Float64(7200)},
			want{noneAtAll: true}},
		{"finished, no CompletedOn nor DPUSeconds: to the observation, an estimate", gluetypes.Session{Status: "FAILED", MaxCapacity: aws.Float64(2), CreatedOn: hoursAgo(3)},
			want{2, 6, 2.64, "estimate", false}},
		{"neither MaxCapacity nor workers", gluetypes.Session{Status: "READY", CreatedOn: hoursAgo(1)}, want{noneAtAll: true}},
		{"negative capacity", gluetypes.Session{Status: "READY", MaxCapacity: aws.Float64(-5), CreatedOn: hoursAgo(1)}, want{noneAtAll: true}},
		{"NaN capacity", gluetypes.Session{Status: "READY", MaxCapacity: aws.Float64(math.NaN()), CreatedOn: hoursAgo(1)}, want{noneAtAll: true}},
		{"created in the future: nothing used yet", gluetypes.Session{Status: "READY", MaxCapacity: aws.Float64(5), CreatedOn: hoursAgo(-24 * 365)},
			want{5, 0, 0, "estimate", false}},
		{"created in the year 1: a large, finite cost", gluetypes.Session{Status: "READY", MaxCapacity: aws.Float64(1), CreatedOn: aws.Time(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))},
			want{1, 2562047.788, 1127301.03, "estimate", false}},
	}
	// One row per worker type of the README's table (Cost), the new
	// G.12X, G.16X and R.* included: 3 workers for 2 hours.
	if !maps.Equal(handler.WorkerDPU, designWorkerDPU) {
		t.Errorf("the handler's worker DPU %v, the README's %v", handler.WorkerDPU, designWorkerDPU)
	}
	for _, wt := range slices.Sorted(maps.Keys(designWorkerDPU)) {
		dpu := 3 * designWorkerDPU[wt]
		rows = append(rows, row{"worker type " + wt, gluetypes.Session{Status: "READY", NumberOfWorkers: aws.Int32(3), WorkerType: gluetypes.WorkerType(wt), CreatedOn: hoursAgo(2)},
			want{dpu, 2 * dpu, math.Round(2*dpu*0.44*100) / 100, "estimate", false}})
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			got := handler.CostOf(&tc.s, at, 0.44)
			if tc.want.noneAtAll {
				if got != nil {
					t.Errorf("got %+v, want no cost block", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no cost block")
			}
			var dpu float64
			if got.DPU != nil {
				dpu = *got.DPU
			}
			w := tc.want
			if dpu != w.dpu || got.DPUHours != w.hours || got.EstimatedUSD != w.usd || got.Basis != w.basis {
				t.Errorf("got dpu %g, %g DPU-hours, $%g, %s; want dpu %g, %g, $%g, %s", dpu, got.DPUHours, got.EstimatedUSD, got.Basis, w.dpu, w.hours, w.usd, w.basis)
			}
		})
	}
	// Every event of a session with a known capacity carries it.
	s := &gluetypes.Session{Id: aws.String("s-1"), Status: "READY", MaxCapacity: aws.Float64(5), CreatedOn: hoursAgo(2)}
	_, events := handler.Transition(nil, handler.Observation{SessionID: "s-1", Session: s, At: at}, alertRules)
	for _, e := range events {
		if want := handler.CostOf(s, at, 0.44); !reflect.DeepEqual(e.Detail.Cost, want) {
			t.Errorf("%s: cost %+v, want %+v", e.DetailType, e.Detail.Cost, want)
		}
	}
}
