package main

import (
	"cmp"
	"context"
	"flag"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"sessionwatch/handler"
	"sessionwatch/internal/awstest"
	"sessionwatch/state"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with what the commands print")

// fixedNow is the clock of the golden files.
var fixedNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// atTime sets the CLI's clock for the test.
func atTime(t testing.TB, now time.Time) {
	t.Helper()
	old := clock
	clock = func() time.Time { return now }
	t.Cleanup(func() { clock = old })
}

// motoCLI points the CLI's AWS clients at moto, as a user points them at
// AWS: through the standard variables.
func motoCLI(t testing.TB) aws.Config {
	t.Helper()
	endpoint := awstest.Endpoint(t)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": awstest.Region,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
	cfg := awstest.Config(t, endpoint)
	cloudWatchOptions = []func(*cloudwatch.Options){motoCloudWatch}
	t.Cleanup(func() { cloudWatchOptions = nil })
	return cfg
}

// motoCloudWatch makes a CloudWatch client speak awsQuery, the protocol
// moto 5.2.1 understands (it answers the SDK's default, Smithy RPC v2
// CBOR, with 404).
func motoCloudWatch(o *cloudwatch.Options) {
	o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
}

// noGlue points the CLI's Glue client at a server that fails the test on
// any request: list and status never call Glue.
func noGlue(t *testing.T) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("Glue was called: %s %s", r.Header.Get("X-Amz-Target"), r.URL)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ENDPOINT_URL_GLUE", srv.URL)
}

// golden compares got with testdata/name.golden, or rewrites the file
// with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -run '%s' -update rewrites it)\n--- got\n%s\n--- want\n%s", name, path, t.Name(), got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// at is fixedNow minus ago.
func at(ago time.Duration) time.Time { return fixedNow.Add(-ago) }

// seedFleet writes the fleet of the golden files: a session stuck
// PROVISIONING, a big READY one past RUNNING_HOURS and COST_USD, a small
// one, one whose snapshot predates the DPU, one STOPPING for 5 minutes, a
// tracked id never polled, and finished, deleted and untracked ones
// (shown by list --all only).
func seedFleet(t testing.TB, store *state.Store) {
	t.Helper()
	ctx := context.Background()
	snaps := []state.Snapshot{
		{SessionID: "etl-stuck", Status: "PROVISIONING", CreatedOn: ptr(at(40 * time.Minute)), StatusSince: ptr(at(40 * time.Minute)), ObservedAt: at(35 * time.Minute),
			DPU: ptr(10.0), DPUHours: ptr(0.83), Fired: []string{"STUCK:PROVISIONING"}, Sequence: 2},
		{SessionID: "big-notebook", Status: "READY", CreatedOn: ptr(at(9 * time.Hour)), StatusSince: ptr(at(8*time.Hour + 58*time.Minute)), ObservedAt: at(8*time.Hour + 58*time.Minute),
			DPU: ptr(40.0), DPUHours: ptr(1.3), Fired: []string{"COST:10", "COST:50", "RUNNING_LONG:8"}, Sequence: 5},
		{SessionID: "small-notebook", Status: "READY", CreatedOn: ptr(at(time.Hour)), StatusSince: ptr(at(58 * time.Minute)), ObservedAt: at(58 * time.Minute),
			DPU: ptr(2.0), DPUHours: ptr(0.07), Sequence: 2},
		{SessionID: "pre-dpu-notebook", Status: "READY", CreatedOn: ptr(at(2 * time.Hour)), ObservedAt: at(2 * time.Hour), Sequence: 2},
		{SessionID: "closing", Status: "STOPPING", CreatedOn: ptr(at(90 * time.Minute)), StatusSince: ptr(at(5 * time.Minute)), ObservedAt: at(5 * time.Minute),
			DPU: ptr(5.0), DPUHours: ptr(7.05), Sequence: 3},
		{SessionID: "new-id"}, // tracked, never polled
		{SessionID: "oom-notebook", Status: "FAILED", CreatedOn: ptr(at(3 * time.Hour)), StatusSince: ptr(at(2 * time.Minute)), ObservedAt: at(2 * time.Minute),
			DPU: ptr(5.0), DPUHours: ptr(14.5), ErrorMessage: "OutOfMemoryError", Sequence: 4, ExpiresAt: fixedNow.Add(30 * 24 * time.Hour).Unix()},
		{SessionID: "scratch", Status: "READY", Deleted: true, CreatedOn: ptr(at(5 * time.Hour)), ObservedAt: at(20 * time.Minute),
			DPU: ptr(1.0), DPUHours: ptr(4.67), Sequence: 3, ExpiresAt: fixedNow.Add(30 * 24 * time.Hour).Unix()},
		{SessionID: "done-notebook", Status: "STOPPED", CreatedOn: ptr(at(26 * time.Hour)), StatusSince: ptr(at(25 * time.Hour)), ObservedAt: at(25 * time.Hour),
			DPU: ptr(1.0), DPUHours: ptr(0.25), Sequence: 3, ExpiresAt: fixedNow.Add(29 * 24 * time.Hour).Unix()},
	}
	for i := range snaps {
		s := &snaps[i]
		if !s.Done() {
			s.Shelf = state.OnShelf
		}
		if err := store.Save(ctx, s, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// seedTrouble adds to the fleet what an unhealthy installation has: two
// events EventBridge has not accepted, and an item written by hand that
// the code cannot read.
func seedTrouble(t testing.TB, db *dynamodb.Client, store *state.Store) {
	t.Helper()
	ctx := context.Background()
	err := store.Keep(ctx, []state.Event{
		{DetailType: "Glue Session State Change", Detail: `{"sessionId":"oom-notebook","sequence":3}`, EventID: "e-3", SessionID: "oom-notebook", Sequence: 3, Time: at(2 * time.Minute)},
		{DetailType: "Glue Session Error", Detail: `{"sessionId":"oom-notebook","sequence":4}`, EventID: "e-4", SessionID: "oom-notebook", Sequence: 4, Time: at(2 * time.Minute)},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(store.Table()), Item: map[string]dbtypes.AttributeValue{
		state.KeyAttribute:   &dbtypes.AttributeValueMemberS{Value: "hand-edited"},
		"ObservedAt":         &dbtypes.AttributeValueMemberS{Value: "yesterday"},
		state.ShelfAttribute: &dbtypes.AttributeValueMemberS{Value: state.OnShelf},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// putRun writes the metrics of one run, as CloudWatch makes them of the
// run's EMF document (moto does not read EMF from logs: PutMetricData
// stands in).
func putRun(t testing.TB, cw *cloudwatch.Client, namespace, function, trigger string, when time.Time, values map[string]float64) {
	t.Helper()
	var data []cwtypes.MetricDatum
	for name, v := range values {
		data = append(data, cwtypes.MetricDatum{
			MetricName: aws.String(name), Value: aws.Float64(v), Timestamp: aws.Time(when),
			Dimensions: []cwtypes.Dimension{
				{Name: aws.String(dimFunction), Value: aws.String(function)},
				{Name: aws.String(dimTrigger), Value: aws.String(trigger)},
			},
		})
	}
	if _, err := cw.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{Namespace: aws.String(namespace), MetricData: data}); err != nil {
		t.Fatal(err)
	}
}

// quietRun is what a scheduled run over the golden fleet reports.
func quietRun() map[string]float64 {
	return map[string]float64{
		"Watched": 6, "Polled": 6, "Changed": 0, "Published": 0, "Pending": 0, "Conflicts": 0, "NotFound": 0, "Skipped": 0,
		"Errors": 0, "Alerts": 0, "IdleUnchecked": 0, "DurationMs": 412,
		"SessionsProvisioning": 1, "SessionsReady": 3, "SessionsStopping": 1, "ReadyDpu": 42, "EstimatedUsdPerHour": 18.48,
	}
}

// putHealthy writes the metrics of a healthy function: a scheduled run
// 5 minutes ago that went well (the one before had errors), and a later
// run started by a CloudTrail record, which is not the heartbeat.
func putHealthy(t testing.TB, cw *cloudwatch.Client, fn string) {
	t.Helper()
	putRun(t, cw, "sessionwatch", fn, triggerSchedule, at(10*time.Minute), map[string]float64{"DurationMs": 380, "Errors": 1, "Skipped": 2})
	putRun(t, cw, "sessionwatch", fn, triggerSchedule, at(5*time.Minute), quietRun())
	putRun(t, cw, "sessionwatch", fn, handler.TriggerCloudTrail, at(2*time.Minute), map[string]float64{"DurationMs": 35, "Errors": 1})
}

// normalize puts placeholders for the names moto generates, the longest
// first (a stack's table is named after the stack).
func normalize(s string, names map[string]string) string {
	keys := slices.SortedFunc(maps.Keys(names), func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, name := range keys {
		s = strings.ReplaceAll(s, name, names[name])
	}
	return s
}

// TestList: what list shows of the golden fleet, as a table (stuck first,
// then the costly), with --all, and as JSON.
func TestList(t *testing.T) {
	cfg := motoCLI(t)
	noGlue(t)
	atTime(t, fixedNow)
	db := dynamodb.NewFromConfig(cfg)
	table := awstest.NewTable(t, cfg)
	store := state.NewStore(db, table)
	seedFleet(t, store)
	seedTrouble(t, db, store)
	env := map[string]string{"SNAPSHOT_TABLE": table}
	names := map[string]string{table: "TABLE"}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"list", []string{"list"}},
		{"list-all", []string{"list", "--all"}},
		{"list-json", []string{"list", "--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, env, tc.args...)
			if code != 0 {
				t.Fatalf("%q: exit %d, %s", tc.args, code, errOut)
			}
			golden(t, tc.name, normalize(out, names))
			if !strings.Contains(errOut, `unreadable item: snapshot item of "hand-edited" cannot be read`) {
				t.Errorf("%q: stderr %q; want the unreadable item named", tc.args, errOut)
			}
		})
	}
}

// TestStatus: a healthy installation exits 0; an unhealthy one (events
// pending, an unreadable item, no scheduled run for 50 minutes, errors and
// skipped sessions in the last one) exits 1 naming each problem; one whose
// metrics cannot be found says "unknown" and exits 3.
func TestStatus(t *testing.T) {
	cfg := motoCLI(t)
	noGlue(t)
	atTime(t, fixedNow)
	db := dynamodb.NewFromConfig(cfg)
	cw := cloudwatch.NewFromConfig(cfg, motoCloudWatch)

	t.Run("healthy", func(t *testing.T) {
		table := awstest.NewTable(t, cfg)
		seedFleet(t, state.NewStore(db, table))
		fn := "sessionwatch-healthy"
		putHealthy(t, cw, fn)
		out, errOut, code := runCLI(t, map[string]string{"SNAPSHOT_TABLE": table}, "status", "--function", fn)
		if code != 0 {
			t.Errorf("exit %d, want 0; stderr %s", code, errOut)
		}
		golden(t, "status-healthy", normalize(out, map[string]string{table: "TABLE"}))
	})

	t.Run("unhealthy", func(t *testing.T) {
		table := awstest.NewTable(t, cfg)
		store := state.NewStore(db, table)
		seedFleet(t, store)
		seedTrouble(t, db, store)
		fn := "sessionwatch-unhealthy"
		run := quietRun()
		run["Errors"], run["Skipped"], run["Pending"], run["Published"], run["IdleUnchecked"] = 2, 3, 2, 0, 1
		putRun(t, cw, "sessionwatch", fn, triggerSchedule, at(50*time.Minute), run)
		putRun(t, cw, "sessionwatch", fn, handler.TriggerRequest, at(3*time.Minute), quietRun())
		out, errOut, code := runCLI(t, map[string]string{"SNAPSHOT_TABLE": table, "DPU_HOUR_USD": "0.5"}, "status", "--function", fn, "--schedule-minutes", "10")
		if code != exitAttention || !strings.Contains(errOut, "5 thing(s) need attention") {
			t.Errorf("exit %d, stderr %q; want %d and 5 things", code, errOut, exitAttention)
		}
		golden(t, "status-unhealthy", normalize(out, map[string]string{table: "TABLE"}))
	})

	t.Run("unknown", func(t *testing.T) {
		table := awstest.NewTable(t, cfg)
		seedFleet(t, state.NewStore(db, table))
		out, errOut, code := runCLI(t, map[string]string{"SNAPSHOT_TABLE": table}, "status")
		if code != exitUnknown || !strings.Contains(out, "? unknown: the last scheduled run: no function name (give --function or --stack)") || !strings.Contains(out, "status: unknown") {
			t.Errorf("without a function: exit %d, %q %q; want %d and the metrics unknown", code, out, errOut, exitUnknown)
		}
		// A table that cannot be read: unknown, not healthy.
		out, _, code = runCLI(t, map[string]string{"SNAPSHOT_TABLE": "no-such-table"}, "status", "--function", "sessionwatch-healthy")
		if code != exitUnknown || !strings.Contains(out, "sessions tracked   unknown") || !strings.Contains(out, "? unknown: the table: scan no-such-table") {
			t.Errorf("without a table: exit %d, %q; want %d and the table unknown", code, out, exitUnknown)
		}
	})

	t.Run("no scheduled run", func(t *testing.T) {
		table := awstest.NewTable(t, cfg)
		seedFleet(t, state.NewStore(db, table))
		putRun(t, cw, "sessionwatch", "sessionwatch-requests-only", handler.TriggerRequest, at(time.Minute), quietRun())
		out, _, code := runCLI(t, map[string]string{"SNAPSHOT_TABLE": table}, "status", "--function", "sessionwatch-requests-only")
		want := "! no scheduled run in the last 24 hours (metrics of sessionwatch-requests-only in namespace sessionwatch): is the schedule enabled, the function deployed?"
		if code != exitAttention || !strings.Contains(out, want) || !strings.Contains(out, "  completed          none in the last 24 hours\n") {
			t.Errorf("exit %d, %q; want %d and %q", code, out, exitAttention, want)
		}
	})

	t.Run("json", func(t *testing.T) {
		table := awstest.NewTable(t, cfg)
		seedFleet(t, state.NewStore(db, table))
		putHealthy(t, cw, "sessionwatch-healthy")
		out, _, code := runCLI(t, map[string]string{"SNAPSHOT_TABLE": table}, "status", "--json", "--function", "sessionwatch-healthy")
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
		golden(t, "status-json", normalize(out, map[string]string{table: "TABLE"}))
	})
}
