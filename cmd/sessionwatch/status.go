package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"sessionwatch/handler"
)

const statusDoc = `Prints the health of the installation: events pending, sessions tracked
and by status, estimated spend an hour, the latest change (from the
table), and when the last scheduled run completed and what it reported
(from the function's CloudWatch metrics: a quiet run writes nothing to the
table). Never calls Glue.

Exit status: 0 healthy; 1 something needs attention (events pending, no
scheduled run within three schedule periods, errors or skipped sessions in
the last run, unreadable items) or the command failed; 3 nothing found
wrong but something could not be read (shown as "unknown").`

// The exit status of status when the installation is not healthy.
const (
	exitAttention = 1
	exitUnknown   = 3
)

// healthError is status's verdict when it is not healthy.
type healthError struct {
	code int
	msg  string
}

func (e healthError) Error() string { return e.msg }

// report is what status finds, and what status --json prints.
type report struct {
	At        time.Time `json:"at"`
	Healthy   bool      `json:"healthy"`
	Attention []string  `json:"attention"`
	Unknown   []string  `json:"unknown"`
	// Notes are worth knowing but need no one's action on sessionwatch.
	Notes     []string `json:"notes"`
	Stack     string   `json:"stack,omitempty"`
	Table     string   `json:"table"`
	Function  string   `json:"function"`
	Namespace string   `json:"namespace"`
	// ScheduleMinutes is the schedule's period; ScheduleAssumed is set when
	// neither the stack nor --schedule-minutes gave it.
	ScheduleMinutes int  `json:"scheduleMinutes"`
	ScheduleAssumed bool `json:"scheduleAssumed"`
	// Fleet is nil when the table could not be read.
	Fleet *fleetHealth `json:"fleet"`
	// LastRun is nil when none was found or the metrics could not be read
	// (then Unknown says so).
	LastRun *lastRun `json:"lastScheduledRun"`
}

type fleetHealth struct {
	Tracked  int            `json:"tracked"`
	ByStatus map[string]int `json:"byStatus"`
	// Stuck counts the sessions PROVISIONING or STOPPING for more than
	// STUCK_MINUTES.
	Stuck   int `json:"stuck"`
	Pending int `json:"pending"`
	// ReadyDPU is the DPU of the READY sessions whose capacity is known;
	// ReadyUnpriced counts the others.
	ReadyDPU       float64       `json:"readyDpu"`
	ReadyUnpriced  int           `json:"readyUnpriced"`
	USDPerHour     float64       `json:"estimatedUsdPerHour"`
	DPUHourUSD     float64       `json:"dpuHourUsd"`
	LatestChange   *latestChange `json:"latestChange"`
	UnreadableKeys []string      `json:"unreadable"`
}

type latestChange struct {
	At        time.Time `json:"at"`
	SessionID string    `json:"sessionId"`
	Status    string    `json:"status"`
	Deleted   bool      `json:"deleted,omitempty"`
}

// notPolled is how a tracked id with no status yet is counted.
const notPolled = "not polled yet"

func statusCmd(ctx context.Context, args []string, lookup handler.Lookup, stdout, stderr io.Writer) error {
	fs := newFlags("status", statusDoc, stderr)
	tf := addTargetFlags(fs)
	asJSON := fs.Bool("json", false, "print the report as one JSON document")
	function := fs.String("function", "", "the function whose metrics to read (from the stack with --stack)")
	schedule := fs.Int("schedule-minutes", 0, "the schedule's period in minutes (default: from the stack, else 5, the template's default)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *schedule < 0 {
		return usageError{fmt.Sprintf("--schedule-minutes takes a positive number, got %d", *schedule)}
	}
	t, err := tf.resolve(ctx, lookup)
	if err != nil {
		return err
	}
	now := clock().UTC()
	rep := &report{At: now, Attention: []string{}, Unknown: []string{}, Notes: []string{}, Table: t.config.Table, Function: *function, Namespace: t.config.MetricsNamespace, ScheduleMinutes: *schedule}
	if t.stack != nil {
		rep.Stack = t.stack.name
		if rep.Function == "" {
			rep.Function = t.stack.outputs[outputFunction]
		}
		if rep.ScheduleMinutes == 0 {
			rep.ScheduleMinutes = t.stack.scheduleMinutes
		}
	}
	if rep.ScheduleMinutes == 0 {
		rep.ScheduleMinutes, rep.ScheduleAssumed = 5, true
	}

	// The table.
	f, err := readFleet(ctx, t.store, t.segments, now, t.config.DPUHourUSD, time.Duration(t.config.StuckMinutes)*time.Minute)
	if err != nil {
		rep.Unknown = append(rep.Unknown, fmt.Sprintf("the table: %v", err))
	} else {
		rep.Fleet = health(f, t.config.DPUHourUSD)
		if n := rep.Fleet.Pending; n > 0 {
			rep.Attention = append(rep.Attention, fmt.Sprintf("%d event(s) pending: EventBridge has not accepted them yet and the next run retries; see the function's log for why", n))
		}
		if n := rep.Fleet.Stuck; n > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%d session(s) stuck PROVISIONING or STOPPING for more than %d minutes: sessionwatch list shows them first", n, t.config.StuckMinutes))
		}
		if n := len(rep.Fleet.UnreadableKeys); n > 0 {
			rep.Attention = append(rep.Attention, fmt.Sprintf("%d item(s) of the table cannot be read (%s): their sessions fail in every run", n, strings.Join(rep.Fleet.UnreadableKeys, ", ")))
		}
	}

	// The metrics.
	switch {
	case rep.Function == "":
		rep.Unknown = append(rep.Unknown, "the last scheduled run: no function name (give --function or --stack)")
	default:
		run, err := readLastRun(ctx, cloudwatch.NewFromConfig(t.aws, cloudWatchOptions...), rep.Namespace, rep.Function, now)
		switch {
		case err != nil:
			rep.Unknown = append(rep.Unknown, fmt.Sprintf("the last scheduled run: %v", err))
		case run == nil:
			rep.Attention = append(rep.Attention, fmt.Sprintf("no scheduled run in the last %s (metrics of %s in namespace %s): is the schedule enabled, the function deployed?", lookbackText, rep.Function, rep.Namespace))
		default:
			rep.LastRun = run
			rep.Attention = append(rep.Attention, runProblems(run, now, rep.ScheduleMinutes)...)
			if n := run.Values["IdleUnchecked"]; n > 0 {
				rep.Notes = append(rep.Notes, fmt.Sprintf("the last scheduled run could not check %g session(s) for idleness (their tags deny glue:ListStatements to the function): no IDLE alert for them", n))
			}
		}
	}
	rep.Healthy = len(rep.Attention) == 0 && len(rep.Unknown) == 0

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := printReport(stdout, rep, t); err != nil {
		return err
	}
	switch {
	case len(rep.Attention) > 0:
		return healthError{exitAttention, fmt.Sprintf("%d thing(s) need attention", len(rep.Attention))}
	case len(rep.Unknown) > 0:
		return healthError{exitUnknown, fmt.Sprintf("%d thing(s) could not be read", len(rep.Unknown))}
	}
	return nil
}

// health sums up the fleet the table holds.
func health(f *fleet, price float64) *fleetHealth {
	h := &fleetHealth{ByStatus: map[string]int{}, Pending: f.pending, DPUHourUSD: price, UnreadableKeys: []string{}}
	for _, r := range f.rows {
		if !r.Watched {
			continue
		}
		h.Tracked++
		if r.Stuck {
			h.Stuck++
		}
		status := r.Status
		if status == "" {
			status = notPolled
		}
		h.ByStatus[status]++
		if r.Status == "READY" {
			if r.DPU != nil {
				h.ReadyDPU += *r.DPU
			} else {
				h.ReadyUnpriced++
			}
		}
	}
	h.USDPerHour = roundCents(h.ReadyDPU * price)
	if s := f.latest; s != nil {
		h.LatestChange = &latestChange{At: s.ObservedAt.UTC(), SessionID: s.SessionID, Status: s.Status, Deleted: s.Deleted}
	}
	for _, u := range f.unreadable {
		h.UnreadableKeys = append(h.UnreadableKeys, fmt.Sprintf("%q", u.Key))
	}
	return h
}

// runProblems are what needs attention in the last scheduled run: none
// within three schedule periods (the heartbeat alarm's rule), errors,
// skipped sessions.
func runProblems(run *lastRun, now time.Time, scheduleMinutes int) []string {
	var out []string
	period := time.Duration(scheduleMinutes) * time.Minute
	// The datapoint's minute began at At: the run completed within it.
	if late := now.Sub(run.At.Add(time.Minute)); late > 3*period {
		out = append(out, fmt.Sprintf("no scheduled run completed in the last %s (three schedule periods of %s): the last one was %s ago; is the schedule enabled?", duration(3*period), duration(period), duration(now.Sub(run.At))))
	}
	if n := run.Values["Errors"]; n > 0 {
		out = append(out, fmt.Sprintf("the last scheduled run had %g session error(s): see its log's error lines", n))
	}
	if n := run.Values["Skipped"]; n > 0 {
		out = append(out, fmt.Sprintf("the last scheduled run skipped %g session(s) for lack of time: the fleet no longer fits the function's timeout (raise Timeout or MaxConcurrency)", n))
	}
	return out
}

func printReport(w io.Writer, rep *report, t *target) error {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "  %-19s%s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintln(w, "Installation")
	if rep.Stack != "" {
		line("stack", "%s (%s)", rep.Stack, t.stack.status)
	}
	line("table", "%s", rep.Table)
	line("function", "%s", orUnknown(rep.Function))
	line("metrics namespace", "%s", rep.Namespace)
	schedule := "every " + duration(time.Duration(rep.ScheduleMinutes)*time.Minute)
	if rep.ScheduleAssumed {
		schedule += " (assumed: give --schedule-minutes or --stack)"
	}
	line("schedule", "%s", schedule)

	fmt.Fprintln(w, "\nTable")
	if h := rep.Fleet; h == nil {
		for _, what := range []string{"sessions tracked", "events pending", "estimated spend", "latest change"} {
			line(what, "unknown")
		}
	} else {
		line("sessions tracked", "%d%s", h.Tracked, byStatus(h.ByStatus))
		line("events pending", "%d", h.Pending)
		spend := fmt.Sprintf("$%.2f an hour (%g DPU READY × $%g a DPU-hour)", h.USDPerHour, h.ReadyDPU, h.DPUHourUSD)
		if h.ReadyUnpriced > 0 {
			spend += fmt.Sprintf(", and %d READY session(s) of unknown capacity", h.ReadyUnpriced)
		}
		line("estimated spend", "%s", spend)
		latest := "none"
		if c := h.LatestChange; c != nil {
			what := c.Status
			if c.Deleted {
				what = "deleted"
			}
			latest = fmt.Sprintf("%s (%s ago): %s %s", c.At.Format("2006-01-02 15:04Z"), duration(rep.At.Sub(c.At)), c.SessionID, what)
		}
		line("latest change", "%s", latest)
	}

	fmt.Fprintln(w, "\nLast scheduled run (CloudWatch metrics)")
	switch run := rep.LastRun; {
	case run != nil:
		line("completed", "in the minute from %s (%s ago)", run.At.Format("2006-01-02 15:04Z"), duration(rep.At.Sub(run.At)))
		line("reported", "%s", figures(run.Values, "Watched", "Polled", "Changed", "Published", "Alerts", "DurationMs"))
		line("problems", "%s", figures(run.Values, "Pending", "Errors", "Skipped", "Conflicts", "NotFound", "IdleUnchecked"))
		line("fleet", "%s", figures(run.Values, "SessionsProvisioning", "SessionsReady", "SessionsStopping", "ReadyDpu", "EstimatedUsdPerHour"))
	case rep.Function != "" && !hasPrefix(rep.Unknown, "the last scheduled run"):
		line("completed", "none in the last %s", lookbackText)
	default:
		line("completed", "unknown")
		line("reported", "unknown")
	}

	fmt.Fprintln(w)
	for _, a := range rep.Attention {
		fmt.Fprintf(w, "! %s\n", a)
	}
	for _, u := range rep.Unknown {
		fmt.Fprintf(w, "? unknown: %s\n", u)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	switch {
	case len(rep.Attention) > 0:
		fmt.Fprintln(w, "status: needs attention")
	case len(rep.Unknown) > 0:
		fmt.Fprintln(w, "status: unknown")
	default:
		fmt.Fprintln(w, "status: healthy")
	}
	return nil
}

func byStatus(counts map[string]int) string {
	if len(counts) == 0 {
		return ""
	}
	parts := []string{}
	for _, s := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", s, counts[s]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// figures shows the named metrics of a run, "unknown" for one it did not
// write.
func figures(values map[string]float64, names ...string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		if v, ok := values[n]; ok {
			parts[i] = fmt.Sprintf("%s %g", n, v)
		} else {
			parts[i] = n + " unknown"
		}
	}
	return strings.Join(parts, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func hasPrefix(list []string, prefix string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

func roundCents(v float64) float64 {
	return float64(int64(v*100+0.5)) / 100
}
