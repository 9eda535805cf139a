package handler

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// DefaultMetricsNamespace is METRICS_NAMESPACE's default.
const DefaultMetricsNamespace = "sessionwatch"

// The metrics of a run's CloudWatch embedded metric format (EMF) document
// (README, Metrics). The template's dashboard and alarms use these names;
// a test keeps them in step.
const (
	MetricWatched       = "Watched"
	MetricPolled        = "Polled"
	MetricChanged       = "Changed"
	MetricPublished     = "Published"
	MetricPending       = "Pending"
	MetricConflicts     = "Conflicts"
	MetricNotFound      = "NotFound"
	MetricSkipped       = "Skipped"
	MetricErrors        = "Errors"
	MetricAlerts        = "Alerts"
	MetricIdleUnchecked = "IdleUnchecked"
	MetricDurationMs    = "DurationMs"
	// The fleet as a full run saw it: the sessions it polled or listed,
	// by the status Glue gave.
	MetricSessionsProvisioning = "SessionsProvisioning"
	MetricSessionsReady        = "SessionsReady"
	MetricSessionsStopping     = "SessionsStopping"
	MetricReadyDpu             = "ReadyDpu"
	MetricEstimatedUsdPerHour  = "EstimatedUsdPerHour"
)

// alertMetrics names the per-kind count of each alert: the dashboard
// shows the alerts by kind from them (EventBridge's own metrics count a
// rule's matches, not the kinds of what it matched).
var alertMetrics = map[string]string{
	AlertStuck:       "AlertsStuck",
	AlertRunningLong: "AlertsRunningLong",
	AlertIdle:        "AlertsIdle",
	AlertCost:        "AlertsCost",
}

// The dimensions of every metric: one dimension set.
const (
	DimensionFunctionName = "FunctionName"
	DimensionTrigger      = "Trigger"
)

// CloudWatch units (MetricDatum, Unit).
const (
	unitCount        = "Count"
	unitMilliseconds = "Milliseconds"
	unitNone         = "None"
)

// Fleet is the fleet as a run saw it: the sessions Glue answered for (by
// GetSession or ListSessions), counted by status, and the capacity of the
// READY ones.
type Fleet struct {
	Provisioning, Ready, Stopping int
	// ReadyDPU is the DPU of the READY sessions whose capacity is known.
	ReadyDPU float64
}

// observe counts one session Glue answered for.
func (f *Fleet) observe(s *gluetypes.Session) {
	if s == nil {
		return
	}
	switch s.Status {
	case gluetypes.SessionStatusProvisioning:
		f.Provisioning++
	case gluetypes.SessionStatusReady:
		f.Ready++
		if dpu := capacity(s); dpu != nil {
			f.ReadyDPU += *dpu
		}
	case gluetypes.SessionStatusStopping:
		f.Stopping++
	}
}

// RunMetrics is what one run's EMF document reports.
type RunMetrics struct {
	Namespace    string
	FunctionName string
	// Trigger is what started the run (Request.Trigger).
	Trigger string
	// ColdStart is set on the first run of the process.
	ColdStart bool
	// Time is when the run started: the metrics' timestamp.
	Time     time.Time
	Duration time.Duration
	Result   *Result
	// Fleet is nil for a run by a CloudTrail record, which polls one
	// session: the fleet gauges count full runs only.
	Fleet *Fleet
	// DPUHourUSD prices ReadyDpu into EstimatedUsdPerHour.
	DPUHourUSD float64
	// Alerts counts the run's new alerts by kind (AlertStuck, ...).
	Alerts map[string]int
}

// metric is one metric of a document, in the order it is written.
type metric struct {
	name  string
	unit  string
	value float64
}

func (m RunMetrics) metrics() []metric {
	r := m.Result
	alerts := 0
	for _, n := range m.Alerts {
		alerts += n
	}
	out := []metric{
		{MetricWatched, unitCount, float64(r.Watched)},
		{MetricPolled, unitCount, float64(r.Polled)},
		{MetricChanged, unitCount, float64(r.Changed)},
		{MetricPublished, unitCount, float64(r.Published)},
		{MetricPending, unitCount, float64(r.Pending)},
		{MetricConflicts, unitCount, float64(r.Conflicts)},
		{MetricNotFound, unitCount, float64(len(r.NotFound))},
		{MetricSkipped, unitCount, float64(len(r.Skipped))},
		{MetricErrors, unitCount, float64(len(r.Errors))},
		{MetricAlerts, unitCount, float64(alerts)},
	}
	for _, kind := range []string{AlertStuck, AlertRunningLong, AlertIdle, AlertCost} {
		out = append(out, metric{alertMetrics[kind], unitCount, float64(m.Alerts[kind])})
	}
	out = append(out,
		metric{MetricIdleUnchecked, unitCount, float64(len(r.IdleUnchecked))},
		metric{MetricDurationMs, unitMilliseconds, float64(m.Duration.Milliseconds())},
	)
	if f := m.Fleet; f != nil {
		out = append(out,
			metric{MetricSessionsProvisioning, unitCount, float64(f.Provisioning)},
			metric{MetricSessionsReady, unitCount, float64(f.Ready)},
			metric{MetricSessionsStopping, unitCount, float64(f.Stopping)},
			metric{MetricReadyDpu, unitNone, round(f.ReadyDPU, 4)},
			metric{MetricEstimatedUsdPerHour, unitNone, round(f.ReadyDPU*m.DPUHourUSD, 4)},
		)
	}
	return out
}

// EMF renders the run's metrics as one embedded metric format document on
// one line, newline included: the _aws metadata (timestamp in epoch
// milliseconds, one metric directive with one dimension set), then the
// dimensions, ColdStart and each metric's value as members of the root
// (CloudWatch User Guide, "Specification: Embedded metric format";
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
// The members are written in a fixed order, so a reader of the log finds
// them in the same place every run.
func (m RunMetrics) EMF() []byte {
	ms := m.metrics()
	var b bytes.Buffer
	b.WriteString(`{"_aws":{"Timestamp":`)
	b.WriteString(strconv.FormatInt(m.Time.UnixMilli(), 10))
	b.WriteString(`,"CloudWatchMetrics":[{"Namespace":`)
	writeJSON(&b, m.Namespace)
	b.WriteString(`,"Dimensions":[["` + DimensionFunctionName + `","` + DimensionTrigger + `"]],"Metrics":[`)
	for i, x := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Name":"` + x.name + `","Unit":"` + x.unit + `"}`)
	}
	b.WriteString(`]}]},"` + DimensionFunctionName + `":`)
	writeJSON(&b, m.FunctionName)
	b.WriteString(`,"` + DimensionTrigger + `":`)
	writeJSON(&b, m.Trigger)
	b.WriteString(`,"ColdStart":` + strconv.FormatBool(m.ColdStart))
	for _, x := range ms {
		b.WriteString(`,"` + x.name + `":`)
		b.WriteString(strconv.FormatFloat(x.value, 'f', -1, 64))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// writeJSON writes s as a JSON string.
func writeJSON(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s) // a string always marshals
	b.Write(out)
}

// fleetFor is the fleet a run by trigger reports: none for a run by a
// CloudTrail record.
func fleetFor(trigger string, f *Fleet) *Fleet {
	if trigger == TriggerCloudTrail {
		return nil
	}
	return f
}

// writeMetrics writes the run's EMF document to h.Metrics, unless the run
// is a dry run or no writer is set (outside Lambda).
func (h *Handler) writeMetrics(ctx context.Context, req Request, res *Result, start time.Time, elapsed time.Duration, coldStart bool) {
	if h.Metrics == nil || req.DryRun {
		return
	}
	doc := RunMetrics{
		Namespace: h.cfg.MetricsNamespace, FunctionName: h.FunctionName, Trigger: req.Trigger(),
		ColdStart: coldStart, Time: start, Duration: elapsed, Result: res,
		Fleet: fleetFor(req.Trigger(), &res.fleet), DPUHourUSD: h.cfg.DPUHourUSD, Alerts: res.alerts,
	}.EMF()
	if _, err := h.Metrics.Write(doc); err != nil {
		h.Logger.WarnContext(ctx, "metrics not written", "error", err)
	}
}
