package main

import (
	"slices"
	"testing"
	"time"

	"sessionwatch/state"
)

func TestRateMinutes(t *testing.T) {
	for expr, want := range map[string]int{
		"rate(5 minutes)": 5, "rate(1 minute)": 1, "rate(1 hour)": 60, "rate(2 hours)": 120, "rate(1 day)": 1440,
		"cron(0/5 * * * ? *)": 0, "": 0, "rate(5 weeks)": 0, "rate( 5 minutes)": 0,
	} {
		if got := rateMinutes(expr); got != want {
			t.Errorf("rateMinutes(%q) = %d, want %d", expr, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 45 * time.Second: "45s", 17*time.Minute + 59*time.Second: "17m",
		2*time.Hour + 5*time.Minute: "2h05m", 76 * time.Hour: "3d04h",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestAlertNames(t *testing.T) {
	got := alertNames([]string{"COST:10", "IDLE:1764000000", "IDLE:1764003600", "RUNNING_LONG:8", "STUCK:PROVISIONING"})
	want := []string{"COST $10", "IDLE", "RUNNING_LONG 8h", "STUCK"}
	if !slices.Equal(got, want) {
		t.Errorf("alertNames = %q, want %q", got, want)
	}
}

// TestCostOf: a live session's cost goes on between runs; a finished
// one's is its last snapshot's; unknown capacity, unknown cost.
func TestCostOf(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	created := now.Add(-2 * time.Hour)
	dpu, hours := 4.0, 1.0
	tests := []struct {
		name string
		snap state.Snapshot
		want *float64
	}{
		{"live: DPU × hours since CreatedOn", state.Snapshot{Status: "READY", CreatedOn: &created, DPU: &dpu, DPUHours: &hours}, ptr(3.52)},
		{"live: Glue's larger figure", state.Snapshot{Status: "READY", CreatedOn: &created, DPU: &dpu, DPUHours: ptr(10.0)}, ptr(4.4)},
		{"finished: the last snapshot's", state.Snapshot{Status: "STOPPED", CreatedOn: &created, DPU: &dpu, DPUHours: &hours}, ptr(0.44)},
		{"deleted: the last snapshot's", state.Snapshot{Status: "READY", Deleted: true, CreatedOn: &created, DPU: &dpu, DPUHours: &hours}, ptr(0.44)},
		{"unknown capacity", state.Snapshot{Status: "READY", CreatedOn: &created}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := costOf(&tt.snap, now, 0.44)
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("costOf = %v, want %v", deref(got), deref(tt.want))
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
