package templatetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"sessionwatch/handler"
	"sessionwatch/internal/emftest"
)

// emitted returns the names of the metrics a run by trigger writes, read
// from the document the handler's encoder writes (validated against the
// EMF schema on the way).
func emitted(tb testing.TB, trigger string) []string {
	tb.Helper()
	m := handler.RunMetrics{Namespace: "sessionwatch", FunctionName: "f", Trigger: trigger, Result: &handler.Result{}, DPUHourUSD: 0.44}
	if trigger != handler.TriggerCloudTrail {
		m.Fleet = &handler.Fleet{}
	}
	d, err := emftest.Validate(m.EMF())
	if err != nil {
		tb.Fatalf("the encoder's %s document: %v", trigger, err)
	}
	var names []string
	for name := range d.Metrics {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

var triggers = []string{handler.TriggerSchedule, handler.TriggerRequest, handler.TriggerCloudTrail}

// runMetric is one metric of the function's namespace that the template
// reads: its name and its dimensions.
type runMetric struct {
	where string // the widget or alarm using it
	name  string
	dims  map[string]string
}

// checkRunMetric fails unless m is a metric the code emits: a name of the
// encoder's document for its Trigger, with exactly the document's
// dimensions, FunctionName being the function.
func checkRunMetric(t *testing.T, m runMetric) {
	t.Helper()
	keys := make([]string, 0, len(m.dims))
	for k := range m.dims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{handler.DimensionFunctionName, handler.DimensionTrigger}) {
		t.Errorf("%s: %s has dimensions %v, want exactly FunctionName and Trigger (the code's one dimension set)", m.where, m.name, m.dims)
		return
	}
	if got := m.dims[handler.DimensionFunctionName]; got != "${"+functionID+"}" {
		t.Errorf("%s: %s FunctionName = %q, want the function's name", m.where, m.name, got)
	}
	trigger := m.dims[handler.DimensionTrigger]
	if !slices.Contains(triggers, trigger) {
		t.Errorf("%s: %s Trigger = %q, not one the code writes (%v)", m.where, m.name, trigger, triggers)
		return
	}
	if !slices.Contains(emitted(t, trigger), m.name) {
		t.Errorf("%s: %s with Trigger %s is not a metric the code emits (it emits %v)", m.where, m.name, trigger, emitted(t, trigger))
	}
}

// dashboard returns the dashboard's body, parsed, and the metrics of its
// widgets: each metrics row [namespace, name, dimension, value, ...,
// {options}].
func dashboard(t *testing.T, s *stack) (body map[string]any, rows [][]string) {
	t.Helper()
	d, err := s.GetCloudWatchDashboardWithName("Dashboard")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(d.DashboardBody), &body); err != nil {
		t.Fatalf("DashboardBody is not JSON after substitution: %v\n%s", err, d.DashboardBody)
	}
	for _, w := range asSlice(body["widgets"]) {
		for _, row := range asSlice(asMap(asMap(w)["properties"])["metrics"]) {
			var r []string
			for _, e := range asSlice(row) {
				if s, ok := e.(string); ok {
					r = append(r, s)
				}
			}
			rows = append(rows, r)
		}
	}
	return body, rows
}

// TestDashboard: the dashboard's body parses as JSON once substituted;
// every metric of the function's namespace it graphs is one the code
// emits, with the code's dimensions; it shows what the README says it
// shows.
func TestDashboard(t *testing.T) {
	for _, ns := range []string{"sessionwatch", "Data Platform/sessionwatch"} {
		t.Run("MetricsNamespace="+ns, func(t *testing.T) {
			s := deploy(t, map[string]any{"MetricsNamespace": ns})
			_, rows := dashboard(t, s)
			var graphed []string
			for _, r := range rows {
				if len(r) < 2 || len(r)%2 != 0 {
					t.Errorf("metrics row %v: want namespace, name and dimension pairs", r)
					continue
				}
				dims := map[string]string{}
				for i := 2; i < len(r); i += 2 {
					dims[r[i]] = r[i+1]
				}
				switch r[0] {
				case ns:
					checkRunMetric(t, runMetric{"dashboard", r[1], dims})
				case "AWS/Lambda":
					if r[1] != "Errors" || dims["FunctionName"] != "${"+functionID+"}" {
						t.Errorf("AWS/Lambda row %v, want the function's Errors", r)
					}
				case "AWS/SQS":
					if r[1] != "ApproximateNumberOfMessagesVisible" || dims["QueueName"] != "${DeadLetterQueue.QueueName}" {
						t.Errorf("AWS/SQS row %v, want the dead-letter queue's depth", r)
					}
				default:
					t.Errorf("row %v: namespace %q is neither MetricsNamespace (%q) nor AWS/Lambda or AWS/SQS", r, r[0], ns)
				}
				graphed = append(graphed, r[0]+" "+r[1])
			}
			for _, want := range []string{
				"DurationMs", "Published", "Pending", "Errors", "Skipped",
				"SessionsProvisioning", "SessionsReady", "SessionsStopping", "EstimatedUsdPerHour",
				"AlertsStuck", "AlertsRunningLong", "AlertsIdle", "AlertsCost",
			} {
				if !slices.Contains(graphed, ns+" "+want) {
					t.Errorf("the dashboard does not graph %s", want)
				}
			}
			for _, want := range []string{"AWS/Lambda Errors", "AWS/SQS ApproximateNumberOfMessagesVisible"} {
				if !slices.Contains(graphed, want) {
					t.Errorf("the dashboard does not graph %s", want)
				}
			}
			if o, ok := s.Outputs["DashboardName"]; !ok || o.Value != "${Dashboard}" {
				t.Errorf("output DashboardName = %+v, want the dashboard's name", o)
			}
		})
	}
}

// metricAlarms returns the alarms on the function's own metrics
// (Namespace MetricsNamespace), by logical id.
func metricAlarms(t *testing.T, s *stack) map[string]runMetric {
	t.Helper()
	out := map[string]runMetric{}
	ns := fmt.Sprint(s.Params["MetricsNamespace"])
	for id, res := range s.Resolved {
		if res["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		a, err := s.GetCloudWatchAlarmWithName(id)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(a.Namespace) != ns {
			continue
		}
		dims := map[string]string{}
		for _, d := range a.Dimensions {
			dims[d.Name] = d.Value
		}
		out[id] = runMetric{id, aws.ToString(a.MetricName), dims}
	}
	return out
}

// TestMetricAlarms: every alarm on the function's metrics reads a metric
// the code emits, is named after the stack and notifies the alarm topic;
// each catches what the README says, with periods that follow
// ScheduleMinutes.
func TestMetricAlarms(t *testing.T) {
	s := deploy(t, nil)
	alarms := metricAlarms(t, s)
	want := map[string]struct {
		metric, stat, op, missing string
		threshold                 float64
	}{
		"HeartbeatAlarm": {"DurationMs", "SampleCount", "LessThanThreshold", "breaching", 1},
		"PendingAlarm":   {"Pending", "Minimum", "GreaterThanThreshold", "notBreaching", 0},
		"SkippedAlarm":   {"Skipped", "Minimum", "GreaterThanThreshold", "notBreaching", 0},
		"RunErrorsAlarm": {"Errors", "Minimum", "GreaterThanThreshold", "notBreaching", 0},
	}
	if got := slices.Sorted(maps.Keys(alarms)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Errorf("alarms on the run metrics: %v, want %v", got, slices.Sorted(maps.Keys(want)))
	}
	for id, m := range alarms {
		t.Run(id, func(t *testing.T) {
			checkRunMetric(t, m)
			a, _ := s.GetCloudWatchAlarmWithName(id)
			if !strings.HasPrefix(aws.ToString(a.AlarmName), testStack+"-") {
				t.Errorf("AlarmName %q, want it to start with the stack's name", aws.ToString(a.AlarmName))
			}
			if !slices.Equal(a.AlarmActions, []string{"${AlarmTopic}"}) || !slices.Equal(a.OKActions, []string{"${AlarmTopic}"}) {
				t.Errorf("actions %v / %v, want the alarm topic", a.AlarmActions, a.OKActions)
			}
			w := want[id]
			threshold := -1.0
			if a.Threshold != nil {
				threshold = *a.Threshold
			}
			if m.name != w.metric || aws.ToString(a.Statistic) != w.stat || a.ComparisonOperator != w.op ||
				aws.ToString(a.TreatMissingData) != w.missing || threshold != w.threshold {
				t.Errorf("%s %s %s %v, missing data %s; want %s %s %s %v, %s", m.name, aws.ToString(a.Statistic), a.ComparisonOperator,
					threshold, aws.ToString(a.TreatMissingData), w.metric, w.stat, w.op, w.threshold, w.missing)
			}
			if m.dims[handler.DimensionTrigger] != handler.TriggerSchedule {
				t.Errorf("Trigger %q, want schedule: a run by a CloudTrail record polls one session", m.dims[handler.DimensionTrigger])
			}
		})
	}
	for _, id := range []string{"ErrorsAlarm", "DeadLetterAlarm"} {
		if _, ok := s.Resolved[id]; !ok {
			t.Errorf("%s is gone", id)
		}
	}
}

// TestAlarmPeriodsFollowSchedule: ScheduleMinutes builds the schedule and
// the alarms' periods: the heartbeat alarms after three periods without a
// scheduled run, the pending and skipped alarms after three runs, the
// errors alarm after 30 minutes of runs; ScheduleExpression, when set,
// replaces the schedule only.
func TestAlarmPeriodsFollowSchedule(t *testing.T) {
	cases := []struct {
		params   map[string]any
		schedule string
		period   int
		errEvals int
	}{
		{nil, "rate(5 minutes)", 300, 6},
		{map[string]any{"ScheduleMinutes": "60"}, "rate(60 minutes)", 3600, 1},
		{map[string]any{"ScheduleMinutes": "1"}, "rate(1 minute)", 60, 30},
		{map[string]any{"ScheduleMinutes": "15", "ScheduleExpression": "cron(0/15 * * * ? *)"}, "cron(0/15 * * * ? *)", 900, 2},
	}
	for _, c := range cases {
		t.Run(c.schedule, func(t *testing.T) {
			s := deploy(t, c.params)
			if got := scheduleEvent(t, s).Schedule; got != c.schedule {
				t.Errorf("Schedule = %q, want %q", got, c.schedule)
			}
			for id := range metricAlarms(t, s) {
				a, _ := s.GetCloudWatchAlarmWithName(id)
				evals := map[string]int{"RunErrorsAlarm": c.errEvals}[id]
				if evals == 0 {
					evals = 3
				}
				if aws.ToInt(a.Period) != c.period || a.EvaluationPeriods != evals || aws.ToInt(a.DatapointsToAlarm) != evals {
					t.Errorf("%s: Period %d, %d of %d periods; want Period %d, %d of %d", id, aws.ToInt(a.Period),
						aws.ToInt(a.DatapointsToAlarm), a.EvaluationPeriods, c.period, evals, evals)
				}
			}
			body, _ := dashboard(t, s) // the dashboard's period follows too
			for _, w := range asSlice(body["widgets"]) {
				p := asMap(asMap(w)["properties"])
				if strings.Contains(fmt.Sprint(p["metrics"]), "sessionwatch") && p["period"] != float64(c.period) {
					t.Errorf("widget %q: period %v, want %d", p["title"], p["period"], c.period)
				}
			}
		})
	}

	// Every allowed value has its row, and CloudWatch takes the alarms it
	// builds: a period a multiple of 60 s, the periods evaluated at most a
	// day, the errors alarm's periods the fewest covering 30 minutes.
	raw := deploy(t, nil).Raw
	rows := asMap(asMap(raw["Mappings"])["Schedule"])
	for _, v := range asSlice(asMap(asMap(raw["Parameters"])["ScheduleMinutes"])["AllowedValues"]) {
		n, err := strconv.Atoi(v.(string))
		if err != nil {
			t.Fatalf("ScheduleMinutes allows %q: %v", v, err)
		}
		row := asMap(rows[fmt.Sprint(n)])
		if row == nil {
			t.Errorf("ScheduleMinutes %d has no row in the Schedule mapping", n)
			continue
		}
		unit := "minutes"
		if n == 1 {
			unit = "minute"
		}
		seconds, errPeriods := int(row["Seconds"].(float64)), int(row["ErrorPeriods"].(float64))
		if row["Expression"] != fmt.Sprintf("rate(%d %s)", n, unit) || seconds != 60*n {
			t.Errorf("ScheduleMinutes %d: %v", n, row)
		}
		if 3*seconds > 86400 || errPeriods*seconds > 86400 {
			t.Errorf("ScheduleMinutes %d: the alarms would evaluate more than a day", n)
		}
		if errPeriods*seconds < 1800 || (errPeriods-1)*seconds >= 1800 {
			t.Errorf("ScheduleMinutes %d: %d error periods of %d s, want the fewest covering 30 minutes", n, errPeriods, seconds)
		}
	}
}

// TestMetricsNamespaceParameter: the parameter's pattern (a Java regular
// expression with lookaheads, which Go's regexp lacks: Python's re, which
// has them, reads it here) lets through what the function accepts and
// stops what it refuses.
func TestMetricsNamespaceParameter(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 not found: it reads the MetricsNamespace pattern, which has lookaheads")
		}
		t.Skip("python3 not found")
	}
	p := asMap(asMap(deploy(t, nil).Raw["Parameters"])["MetricsNamespace"])
	pattern := fmt.Sprint(p["AllowedPattern"])
	values := []string{"sessionwatch", "Data Platform/sessionwatch", "team#1:glue.sessions_v2-x", strings.Repeat("n", 255),
		strings.Repeat("n", 256), "AWS/Glue", ":x", " ", "   ", "séance", "a,b", "tab\there", "aws/lowercase-is-fine", "x AWS/"}
	in, _ := json.Marshal(map[string]any{"pattern": pattern, "values": values})
	cmd := exec.Command(python, "-c",
		`import json,re,sys; d=json.load(sys.stdin); print(json.dumps([re.fullmatch(d["pattern"], v) is not None for v in d["values"]]))`)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var cfn []bool
	if err := json.Unmarshal(out, &cfn); err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		_, err := handler.ConfigFromEnv(func(k string) (string, bool) {
			switch k {
			case "SNAPSHOT_TABLE":
				return "t", true
			case "METRICS_NAMESPACE":
				return v, true
			}
			return "", false
		})
		code := err == nil && strings.TrimSpace(v) != "" // blank is unset for the function, refused by CloudFormation
		if cfn[i] != code {
			t.Errorf("MetricsNamespace %q: CloudFormation accepts %v, the function %v", v, cfn[i], code)
		}
	}
	if !cfn[0] {
		t.Error("the default breaks the parameter's own pattern")
	}
}
