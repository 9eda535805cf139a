package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sessionwatch/handler"
)

const listDoc = `Lists the watched sessions from the table (never from Glue): status, since
when, age, DPU, estimated cost so far, alerts fired, events pending.
Stuck sessions come first (PROVISIONING or STOPPING for more than
STUCK_MINUTES, the longest stuck first), then live sessions by estimated
cost, highest first; with --all, finished and deleted sessions follow.`

// listJSON is what list --json prints.
type listJSON struct {
	At         time.Time        `json:"at"`
	DPUHourUSD float64          `json:"dpuHourUsd"`
	Sessions   []row            `json:"sessions"`
	Unreadable []unreadableItem `json:"unreadable"`
}

func listCmd(ctx context.Context, args []string, lookup handler.Lookup, stdout, stderr io.Writer) error {
	fs := newFlags("list", listDoc, stderr)
	tf := addTargetFlags(fs)
	asJSON := fs.Bool("json", false, "print the sessions as one JSON document")
	all := fs.Bool("all", false, "also list the finished, deleted and untracked sessions the table still keeps")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	t, err := tf.resolve(ctx, lookup)
	if err != nil {
		return err
	}
	now := clock().UTC()
	f, err := readFleet(ctx, t.store, t.segments, now, t.config.DPUHourUSD, time.Duration(t.config.StuckMinutes)*time.Minute)
	if err != nil {
		return err
	}
	rows := make([]row, 0, len(f.rows))
	for _, r := range f.rows {
		if *all || r.Watched || r.Pending > 0 {
			rows = append(rows, r)
		}
	}
	for _, u := range f.unreadable {
		fmt.Fprintf(stderr, "sessionwatch: unreadable item: %s\n", u.Error)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(listJSON{At: now, DPUHourUSD: t.config.DPUHourUSD, Sessions: rows, Unreadable: append([]unreadableItem{}, f.unreadable...)})
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SESSION ID\tSTATUS\tSINCE\tAGE\tDPU\tEST. COST\tALERTS\tPENDING")
	for _, r := range rows {
		status, since, age, dpu, cost, alerts := "(not polled yet)", "-", "-", "?", "?", "-"
		switch {
		case r.Deleted:
			status = "(deleted)"
		case r.Status != "":
			status = r.Status
		case r.Since != nil:
			status = "(no status)"
		}
		if r.Stuck {
			status += " (stuck)"
		}
		if r.Since != nil {
			since = r.Since.UTC().Format("2006-01-02 15:04Z")
		}
		if r.AgeSeconds != nil {
			age = duration(time.Duration(*r.AgeSeconds) * time.Second)
		}
		if r.DPU != nil {
			dpu = fmt.Sprint(*r.DPU)
		}
		if r.EstimatedUSD != nil {
			cost = fmt.Sprintf("$%.2f", *r.EstimatedUSD)
		}
		if len(r.Alerts) > 0 {
			alerts = strings.Join(r.Alerts, ", ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.SessionID, status, since, age, dpu, cost, alerts, r.Pending)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	what := "watched"
	if *all {
		what = "kept"
	}
	fmt.Fprintf(stdout, "%d session(s) %s; %d event(s) pending; costs estimated at $%g a DPU-hour as of %s\n",
		len(rows), what, f.pending, t.config.DPUHourUSD, now.Format("2006-01-02 15:04Z"))
	return nil
}
