package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"sessionwatch/handler"
)

// metricNames are the metrics each run writes (README, Metrics), in the
// order status shows them.
var metricNames = []string{
	handler.MetricWatched, handler.MetricPolled, handler.MetricChanged, handler.MetricPublished,
	handler.MetricPending, handler.MetricConflicts, handler.MetricNotFound, handler.MetricSkipped,
	handler.MetricErrors, handler.MetricAlerts, handler.MetricIdleUnchecked, handler.MetricDurationMs,
	handler.MetricSessionsProvisioning, handler.MetricSessionsReady, handler.MetricSessionsStopping,
	handler.MetricReadyDpu, handler.MetricEstimatedUsdPerHour,
}

// The dimensions of every metric, and the trigger of a scheduled run.
const (
	dimFunction     = handler.DimensionFunctionName
	dimTrigger      = handler.DimensionTrigger
	triggerSchedule = handler.TriggerSchedule
	// heartbeatMetric is the metric whose latest datapoint with
	// Trigger=schedule is the last scheduled run.
	heartbeatMetric = handler.MetricDurationMs
)

// lookback is how far back status looks for the last scheduled run.
const (
	lookback     = 24 * time.Hour
	lookbackText = "24 hours"
)

// cloudWatchOptions configure the CLI's CloudWatch client: none but in
// tests, where moto, which speaks only the awsQuery protocol to CloudWatch
// clients, stands in for the service (the SDK speaks Smithy RPC v2 CBOR to
// it by default).
var cloudWatchOptions []func(*cloudwatch.Options)

// cloudWatch is the part of *cloudwatch.Client the CLI uses.
type cloudWatch interface {
	GetMetricData(context.Context, *cloudwatch.GetMetricDataInput, ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// lastRun is the last scheduled run as its metrics tell it.
type lastRun struct {
	// At is the start of the minute of its datapoint (metrics are read at
	// one-minute resolution).
	At time.Time `json:"at"`
	// Values are its figures, by metric name; a metric it did not write is
	// absent.
	Values map[string]float64 `json:"values"`
}

// readLastRun finds the last scheduled run of function in namespace
// within lookback of now: the latest datapoint of DurationMs with
// Trigger=schedule, then every metric of that minute. It returns nil
// when there was none.
func readLastRun(ctx context.Context, cw cloudWatch, namespace, function string, now time.Time) (*lastRun, error) {
	end := now.Truncate(time.Minute).Add(time.Minute)
	beat, err := metricData(ctx, cw, end.Add(-lookback), end, []string{heartbeatMetric}, namespace, function, cwtypes.ScanByTimestampDescending)
	if err != nil {
		return nil, err
	}
	var at time.Time
	for _, r := range beat {
		for _, ts := range r.Timestamps {
			if ts.After(at) {
				at = ts
			}
		}
	}
	if at.IsZero() {
		return nil, nil
	}
	at = at.UTC()
	figures, err := metricData(ctx, cw, at, at.Add(time.Minute), metricNames, namespace, function, cwtypes.ScanByTimestampDescending)
	if err != nil {
		return nil, err
	}
	run := &lastRun{At: at, Values: map[string]float64{}}
	for _, r := range figures {
		for i, ts := range r.Timestamps {
			if n := idIndex(aws.ToString(r.Id)); n >= 0 && ts.Equal(at) && i < len(r.Values) {
				run.Values[metricNames[n]] = r.Values[i]
			}
		}
	}
	return run, nil
}

// metricData reads names with Trigger=schedule, at one-minute periods
// (the Maximum of each: the worst of two runs in one minute), every page.
func metricData(ctx context.Context, cw cloudWatch, start, end time.Time, names []string, namespace, function string, scan cwtypes.ScanBy) ([]cwtypes.MetricDataResult, error) {
	queries := make([]cwtypes.MetricDataQuery, len(names))
	for i, name := range names {
		queries[i] = cwtypes.MetricDataQuery{
			Id: aws.String(fmt.Sprintf("m%d", metricIndex(name))),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace:  aws.String(namespace),
					MetricName: aws.String(name),
					Dimensions: []cwtypes.Dimension{
						{Name: aws.String(dimFunction), Value: aws.String(function)},
						{Name: aws.String(dimTrigger), Value: aws.String(triggerSchedule)},
					},
				},
				Period: aws.Int32(60),
				Stat:   aws.String("Maximum"),
			},
		}
	}
	in := &cloudwatch.GetMetricDataInput{MetricDataQueries: queries, StartTime: aws.Time(start), EndTime: aws.Time(end), ScanBy: scan}
	var out []cwtypes.MetricDataResult
	p := cloudwatch.NewGetMetricDataPaginator(cw, in)
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read metrics of %s from CloudWatch namespace %s: %w", function, namespace, err)
		}
		out = append(out, res.MetricDataResults...)
	}
	return out, nil
}

func metricIndex(name string) int {
	for i, n := range metricNames {
		if n == name {
			return i
		}
	}
	panic("unknown metric " + name)
}

// idIndex is the index in metricNames of a query id m<i>; -1 for any
// other id.
func idIndex(id string) int {
	var i int
	if _, err := fmt.Sscanf(id, "m%d", &i); err != nil || i < 0 || i >= len(metricNames) {
		return -1
	}
	return i
}
