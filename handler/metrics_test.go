package handler_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/emftest"
)

// scheduledEvent is what an EventBridge rule's schedule delivers.
const scheduledEvent = `{"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012", "time": "2026-11-24T12:00:00Z", "region": "us-east-1", "resources": [], "detail": {}}`

// metricsDocs returns the EMF documents the testbed's handlers wrote,
// each validated against the EMF schema.
func (tb *testbed) metricsDocs(t *testing.T) []*emftest.Document {
	t.Helper()
	return emftest.Documents(t, tb.metrics.String())
}

// wantMetricsOf checks a run's EMF document against the run's response:
// every count is the response's, and the document has the namespace, the
// one dimension set and the dimensions' values it should.
func wantMetricsOf(t *testing.T, d *emftest.Document, res handler.Result, trigger string, coldStart bool) {
	t.Helper()
	if d.Namespace != "sessionwatch" {
		t.Errorf("Namespace = %q, want the default sessionwatch", d.Namespace)
	}
	if len(d.Dimensions) != 1 || strings.Join(d.Dimensions[0], ",") != "FunctionName,Trigger" {
		t.Errorf("Dimensions = %v, want [[FunctionName Trigger]]", d.Dimensions)
	}
	if d.Members["FunctionName"] != testFunction || d.Members["Trigger"] != trigger || d.Members["ColdStart"] != coldStart {
		t.Errorf("FunctionName %v, Trigger %v, ColdStart %v; want %s, %s, %v",
			d.Members["FunctionName"], d.Members["Trigger"], d.Members["ColdStart"], testFunction, trigger, coldStart)
	}
	want := map[string]int{
		"Watched": res.Watched, "Polled": res.Polled, "Changed": res.Changed, "Published": res.Published,
		"Pending": res.Pending, "Conflicts": res.Conflicts, "NotFound": len(res.NotFound), "Skipped": len(res.Skipped),
		"Errors": len(res.Errors), "IdleUnchecked": len(res.IdleUnchecked),
	}
	for name, v := range want {
		got, ok := d.Metrics[name]
		if !ok || got != float64(v) {
			t.Errorf("%s = %v (present: %v), want the response's %d", name, got, ok, v)
		}
		if d.Units[name] != "Count" {
			t.Errorf("%s unit %q, want Count", name, d.Units[name])
		}
	}
	if d.Units["DurationMs"] != "Milliseconds" {
		t.Errorf("DurationMs unit %q, want Milliseconds", d.Units["DurationMs"])
	}
}

// TestMetricsDocument: a scheduled run writes one EMF document whose
// counts are its response's, with the fleet it saw and its alerts by kind;
// the next run is warm, and a poll request's run says so in Trigger.
func TestMetricsDocument(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-ready,s-prov,s-stop,s-done,s-gone"), env("STUCK_MINUTES", "15"))
	tb.glue.put(fullSession("s-ready", "READY"), nil) // MaxCapacity 5
	prov := bare("s-prov", "PROVISIONING")
	prov.CreatedOn = aws.Time(testStart.Add(-20 * time.Minute)) // past STUCK_MINUTES
	tb.glue.put(prov, nil)
	stop := bare("s-stop", "STOPPING")
	stop.NumberOfWorkers, stop.WorkerType = aws.Int32(4), "G.2X" // 8 DPU, not READY: not in ReadyDpu
	tb.glue.put(stop, nil)
	tb.glue.put(bare("s-done", "STOPPED"), nil)
	// The clock moves 7 ms each time the handler reads it.
	clock := testStart
	tb.h.Now = func() time.Time { t := clock; clock = clock.Add(7 * time.Millisecond); return t }

	res := tb.mustInvoke(t, scheduledEvent)
	docs := tb.metricsDocs(t)
	if len(docs) != 1 {
		t.Fatalf("%d EMF documents, want 1", len(docs))
	}
	d := docs[0]
	wantMetricsOf(t, d, res, "schedule", true)
	for name, want := range map[string]float64{
		"SessionsProvisioning": 1, "SessionsReady": 1, "SessionsStopping": 1,
		"ReadyDpu": 5, "EstimatedUsdPerHour": 5 * 0.44,
		"Alerts": 1, "AlertsStuck": 1, "AlertsRunningLong": 0, "AlertsIdle": 0, "AlertsCost": 0,
		"NotFound": 1, "DurationMs": float64(summaryDuration(t, tb.logs.String())),
	} {
		if got := d.Metrics[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"ReadyDpu", "EstimatedUsdPerHour"} {
		if d.Units[name] != "None" {
			t.Errorf("%s unit %q, want None", name, d.Units[name])
		}
	}
	if d.Metrics["DurationMs"] <= 0 {
		t.Errorf("DurationMs = %v, want the time the run took on the test clock", d.Metrics["DurationMs"])
	}
	if got, _ := d.Members["_aws"].(map[string]any)["Timestamp"].(json.Number).Int64(); got != testStart.UnixMilli() {
		t.Errorf("Timestamp %d, want the run's start %d", got, testStart.UnixMilli())
	}

	res = tb.mustInvoke(t, `{}`)
	docs = tb.metricsDocs(t)
	if len(docs) != 2 {
		t.Fatalf("second run: %d EMF documents in all, want 2", len(docs))
	}
	wantMetricsOf(t, docs[1], res, "request", false)
}

// TestMetricsNotWritten: a dry run and a rejected invocation write no
// document.
func TestMetricsNotWritten(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1"))
	tb.glue.put(bare("s-1", "READY"), nil)
	tb.mustInvoke(t, `{"dryRun": true}`)
	if _, err := tb.invoke(t, `{"sessionIds": "s-1"}`); err == nil {
		t.Fatal("a malformed request was accepted")
	}
	if got := tb.metrics.String(); got != "" {
		t.Errorf("a dry run and a rejected invocation wrote %q, want nothing", got)
	}
}

// TestRunLogLines: a healthy run logs its summary line and nothing else
// (the EMF document goes beside it); a run with problems adds one line per
// problem.
func TestRunLogLines(t *testing.T) {
	tb := newTestbed(t, env("SESSION_IDS", "s-1,s-2,s-3"))
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		tb.glue.put(bare(id, "READY"), nil)
	}
	tb.mustInvoke(t, "")
	tb.glue.update("s-1", func(s *gluetypes.Session) { s.Status = "STOPPING" })
	tb.mustInvoke(t, "") // a change published: still healthy
	lines := logLines(tb)
	if len(lines) != 2 || !strings.Contains(lines[0], `"msg":"run complete"`) || !strings.Contains(lines[1], `"msg":"run complete"`) {
		t.Errorf("two healthy runs logged %d lines, want their two summary lines:\n%s", len(lines), tb.logs)
	}
	if n := len(tb.metricsDocs(t)); n != 2 {
		t.Errorf("%d EMF documents, want one a run", n)
	}

	tb.glue.getErr = func(id string) error {
		if id == "s-1" || id == "s-3" {
			return errors.New("throttled")
		}
		return nil
	}
	res := tb.mustInvoke(t, "")
	lines = logLines(tb)[2:] // after the healthy runs' two
	if len(res.Errors) != 2 || len(lines) != 3 {
		t.Fatalf("a run with %d failed sessions logged %d lines, want the summary and one a failure:\n%s", len(res.Errors), len(lines), tb.logs)
	}
	for _, id := range []string{"s-1", "s-3"} {
		if n := strings.Count(tb.logs.String(), `"sessionId":"`+id+`"`); n != 1 {
			t.Errorf("%s: %d lines, want 1:\n%s", id, n, tb.logs)
		}
	}

	// EventBridge refuses some entries: one line for the cause, however
	// many events it holds back.
	tb.glue.getErr = nil
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		tb.glue.update(id, func(s *gluetypes.Session) { s.Status = "STOPPED" })
	}
	tb.bus.failEntries(func(i int, e ebtypes.PutEventsRequestEntry) (string, string) {
		if strings.Contains(aws.ToString(e.Detail), `"s-1"`) {
			return "", ""
		}
		return "AccessDeniedException", "not authorized"
	})
	before := len(logLines(tb))
	res = tb.mustInvoke(t, "")
	lines = logLines(tb)[before:]
	if res.Published != 1 || res.Pending != 2 || len(lines) != 2 || !strings.Contains(lines[0], "events not published") {
		t.Errorf("a run with 2 events refused (published %d, pending %d) logged %d lines, want the cause's and the summary:\n%s",
			res.Published, res.Pending, len(lines), strings.Join(lines, "\n"))
	}
}

// summaryDuration reads durationMs from the last summary line of a log.
func summaryDuration(t *testing.T, log string) int64 {
	t.Helper()
	var d int64 = -1
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var l struct {
			Msg        string `json:"msg"`
			DurationMs int64  `json:"durationMs"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "run complete" {
			d = l.DurationMs
		}
	}
	if d < 0 {
		t.Fatalf("no summary line in the log:\n%s", log)
	}
	return d
}

func logLines(tb *testbed) []string {
	s := strings.TrimSpace(tb.logs.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestMetricsNamespaceConfig(t *testing.T) {
	for _, tc := range []struct {
		value, want string
		ok          bool
	}{
		{"", "sessionwatch", true},
		{"Data Platform/sessionwatch", "Data Platform/sessionwatch", true},
		{"team#1:glue.sessions_v2-x", "team#1:glue.sessions_v2-x", true},
		{strings.Repeat("n", 255), strings.Repeat("n", 255), true},
		{strings.Repeat("n", 256), "", false},
		{"AWS/Glue", "", false},
		{":sessionwatch", "", false},
		{"   ", "sessionwatch", true}, // blank is unset
		{"séance", "", false},
		{"tab\there", "", false},
		{"a,b", "", false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) {
				switch k {
				case "SNAPSHOT_TABLE":
					return "t", true
				case "METRICS_NAMESPACE":
					return tc.value, true
				}
				return "", false
			})
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "METRICS_NAMESPACE") {
				t.Errorf("error %q does not name METRICS_NAMESPACE", err)
			}
			if tc.ok && cfg.MetricsNamespace != tc.want {
				t.Errorf("namespace %q, want %q", cfg.MetricsNamespace, tc.want)
			}
		})
	}
}

// TestMetricsOnTheWire: the same document from a run against moto and the
// Glue emulator, through the real SDK clients, with the sessions
// discovery listed counted in the fleet.
func TestMetricsOnTheWire(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), env("DISCOVER", "true"), env("SESSION_IDS", "s-gone"))
	tb.emu.Put(emuSession("s-ready", "READY"))
	tb.emu.Put(emuBare("s-prov", "PROVISIONING"))
	tb.emu.Put(emuBare("s-failed", "FAILED"))

	res := tb.mustInvoke(t, scheduledEvent)
	docs := tb.metricsDocs(t)
	if len(docs) != 1 {
		t.Fatalf("%d EMF documents, want 1", len(docs))
	}
	wantMetricsOf(t, docs[0], res, "schedule", true)
	if res.Published == 0 || len(res.NotFound) != 1 {
		t.Errorf("response %+v: want the three sessions announced and s-gone not found", res)
	}
	for name, want := range map[string]float64{"SessionsReady": 1, "SessionsProvisioning": 1, "SessionsStopping": 0, "ReadyDpu": 5, "EstimatedUsdPerHour": 5 * 0.44} {
		if got := docs[0].Metrics[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
