package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"sessionwatch/state"
)

// clock is the CLI's time; tests set it.
var clock = time.Now

// fleet is what the table says about the sessions: one row a session, the
// outbox, and the items the code could not read. It is read with one
// parallel Scan, never from Glue.
type fleet struct {
	rows       []row
	pending    int // events in the outbox
	unreadable []unreadableItem
	// latest is the snapshot observed last (its change is the table's
	// latest), nil when the table holds none.
	latest *state.Snapshot
}

type unreadableItem struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

// row is one session as `list` shows it.
type row struct {
	SessionID string `json:"sessionId"`
	// Status is Glue's status as last seen; "" for a tracked id never
	// polled yet. Deleted is set once Glue answered that it is gone.
	Status    string     `json:"status"`
	Deleted   bool       `json:"deleted,omitempty"`
	Since     *time.Time `json:"since"`
	CreatedOn *time.Time `json:"createdOn"`
	// AgeSeconds is the time since CreatedOn; nil when unknown.
	AgeSeconds *int64   `json:"ageSeconds"`
	DPU        *float64 `json:"dpu"`
	// EstimatedUSD is what the session has cost so far (see costOf).
	EstimatedUSD *float64 `json:"estimatedUsd"`
	Alerts       []string `json:"alerts"`
	Pending      int      `json:"pending"`
	Watched      bool     `json:"watched"`
	// Stuck is set for a session PROVISIONING or STOPPING for more than
	// STUCK_MINUTES.
	Stuck bool `json:"stuck"`
}

// readFleet scans the table and builds a row for every snapshot and for
// every session with events in the outbox, priced at price a DPU-hour as
// of now; a session PROVISIONING or STOPPING for more than stuck is stuck
// (0: never).
func readFleet(ctx context.Context, store *state.Store, segments int, now time.Time, price float64, stuck time.Duration) (*fleet, error) {
	f := &fleet{}
	byID := map[string]*row{}
	pendingOf := map[string]int{}
	err := store.Scan(ctx, segments, func(it state.Scanned) error {
		switch {
		case it.Err != nil:
			f.unreadable = append(f.unreadable, unreadableItem{Key: it.Key, Error: it.Err.Error()})
		case it.Event != nil:
			f.pending++
			pendingOf[it.Event.SessionID]++
		case it.Snapshot != nil:
			s := it.Snapshot
			byID[s.SessionID] = newRow(s, now, price, stuck)
			if s.Seen() && (f.latest == nil || s.ObservedAt.After(f.latest.ObservedAt) ||
				(s.ObservedAt.Equal(f.latest.ObservedAt) && s.SessionID < f.latest.SessionID)) {
				f.latest = s
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, n := range pendingOf {
		r, ok := byID[id]
		if !ok { // cannot happen while the outbox keeps its snapshots: shown all the same
			r = &row{SessionID: id}
			byID[id] = r
		}
		r.Pending = n
	}
	f.rows = make([]row, 0, len(byID))
	for _, r := range byID {
		f.rows = append(f.rows, *r)
	}
	sortRows(f.rows)
	slices.SortFunc(f.unreadable, func(a, b unreadableItem) int { return strings.Compare(a.Key, b.Key) })
	return f, nil
}

func newRow(s *state.Snapshot, now time.Time, price float64, stuck time.Duration) *row {
	r := &row{SessionID: s.SessionID, Deleted: s.Deleted, CreatedOn: s.CreatedOn, DPU: s.DPU, Watched: s.Watched(), Alerts: alertNames(s.Fired)}
	if s.Seen() {
		r.Status = s.Status
		since := s.ObservedAt
		if s.StatusSince != nil {
			since = *s.StatusSince
		}
		r.Since = &since
		if stuck > 0 && !s.Deleted && (s.Status == "PROVISIONING" || s.Status == "STOPPING") && now.Sub(since) > stuck {
			r.Stuck = true
		}
	}
	if s.CreatedOn != nil {
		age := int64(now.Sub(*s.CreatedOn).Seconds())
		r.AgeSeconds = &age
	}
	r.EstimatedUSD = costOf(s, now, price)
	return r
}

// costOf is what the session has cost so far, in dollars at price a
// DPU-hour, as its events' cost block says it: for a finished or deleted
// session the DPU-hours of its last snapshot; for a live one the larger of
// those and its DPU times the hours since CreatedOn, to now (the estimate
// goes on between runs, which write nothing while nothing changes). Nil
// when its capacity is unknown.
func costOf(s *state.Snapshot, now time.Time, price float64) *float64 {
	if s.DPU == nil {
		return nil
	}
	hours := 0.0
	if s.DPUHours != nil {
		hours = *s.DPUHours
	}
	if !s.Done() && s.CreatedOn != nil {
		hours = max(hours, *s.DPU*max(0, now.Sub(*s.CreatedOn).Hours()))
	}
	usd := math.Round(hours*price*100) / 100
	return &usd
}

// alertNames shows the alerts a snapshot remembers firing (its Fired
// keys) as a person reads them: STUCK, RUNNING_LONG 8h, IDLE, COST $10.
func alertNames(fired []string) []string {
	names := make([]string, 0, len(fired))
	for _, key := range fired {
		kind, arg, _ := strings.Cut(key, ":")
		switch kind {
		case "RUNNING_LONG":
			names = append(names, "RUNNING_LONG "+arg+"h")
		case "COST":
			names = append(names, "COST $"+arg)
		default: // STUCK:<status>, IDLE:<start of the spell>
			names = append(names, kind)
		}
	}
	return slices.Compact(names)
}

// rank orders rows: stuck sessions first, then live ones (the costly
// first), then the finished and deleted ones.
func rank(r *row) int {
	switch {
	case r.Stuck:
		return 0
	case r.Deleted || state.IsFinished(r.Status):
		return 2
	}
	return 1
}

// sortRows puts the costly and stuck sessions first: stuck ones (the
// longest stuck first), then live ones by estimated cost, highest first
// (unknown cost last), then finished and deleted ones the same way; ties
// by time in the status (longest first), then by id.
func sortRows(rows []row) {
	slices.SortFunc(rows, func(a, b row) int {
		if c := cmp.Compare(rank(&a), rank(&b)); c != 0 {
			return c
		}
		if c := cmp.Compare(costKey(b.EstimatedUSD), costKey(a.EstimatedUSD)); c != 0 {
			return c
		}
		if c := cmp.Compare(sinceKey(a.Since), sinceKey(b.Since)); c != 0 {
			return c
		}
		return strings.Compare(a.SessionID, b.SessionID)
	})
}

func costKey(usd *float64) float64 {
	if usd == nil {
		return -1
	}
	return *usd
}

func sinceKey(t *time.Time) int64 {
	if t == nil {
		return math.MaxInt64
	}
	return t.UnixNano()
}

// duration shows d as a person reads an age: 45s, 17m, 2h05m, 3d04h.
func duration(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
