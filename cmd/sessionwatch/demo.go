package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/internal/glueemu"
	"sessionwatch/state"
)

// demoARN is the function ARN the demo pretends to run as (AWS's
// documented example account).
const demoARN = "arn:aws:lambda:us-east-1:123456789012:function:sessionwatch"

// demoEnv is the demo's configuration, read as the function reads its
// environment: what it does not set takes its default (STUCK_MINUTES 15,
// RUNNING_HOURS 8,24, DPU_HOUR_USD 0.44). IDLE_MINUTES and COST_USD are
// off by default; the demo turns them on, with thresholds that its
// 20-minute timeline crosses.
var demoEnv = map[string]string{
	"SNAPSHOT_TABLE": "sessionwatch-demo",
	"IDLE_MINUTES":   "10",
	"COST_USD":       "10",
}

// demoStep is one session at one run: what Glue answers (nil: the session
// was deleted by then) and the statements ListStatements lists for it.
type demoStep struct {
	session    *glueemu.Session
	statements []glueemu.Statement
}

// demoSessions are the scripted lifecycles, one step per run, in the order
// the demo tracks them.
func demoSessions() (ids []string, steps map[string][]demoStep) {
	at := func(hour, minute int) time.Time { return time.Date(2026, 11, 24, hour, minute, 0, 0, time.UTC) }
	base := func(id, status string) *glueemu.Session {
		created := at(8, 58)
		return &glueemu.Session{
			ID: id, Status: status, CreatedOn: &created,
			Role:        "arn:aws:iam::123456789012:role/GlueNotebookRole",
			Command:     &glueemu.Command{Name: "glueetl", PythonVersion: "3"},
			GlueVersion: "4.0", WorkerType: "G.1X", NumberOfWorkers: aws.Int32(5), IdleTimeout: aws.Int32(60),
			// Never published: DefaultArguments can hold secrets.
			DefaultArguments: map[string]string{"--db-password": "not-a-real-secret"},
		}
	}
	with := func(s *glueemu.Session, f func(*glueemu.Session)) *glueemu.Session {
		c := *s
		f(&c)
		return &c
	}
	// Statement times are epoch milliseconds, as Glue's statements (Apache
	// Livy's) give them. Their code is never read into an event, a log line
	// or the table.
	ran := func(id int32, code string, started, completed time.Time) glueemu.Statement {
		return glueemu.Statement{ID: id, Code: code, State: "AVAILABLE", Progress: 1,
			StartedOn: started.UnixMilli(), CompletedOn: completed.UnixMilli()}
	}
	running := func(id int32, code string, started time.Time) glueemu.Statement {
		return glueemu.Statement{ID: id, Code: code, State: "RUNNING", Progress: 0.5, StartedOn: started.UnixMilli()}
	}
	step := func(s *glueemu.Session, statements ...glueemu.Statement) demoStep { return demoStep{s, statements} }
	ready := func(id string) demoStep { return step(base(id, "READY")) }

	oom := "An error occurred while calling o102.collect: java.lang.OutOfMemoryError: Java heap space"
	failed := step(with(base("oom-notebook", "FAILED"), func(s *glueemu.Session) { s.ErrorMessage = oom }))
	load := `orders = spark.read.jdbc(url, "orders", properties={"password": "not-a-real-secret"})`
	// big-notebook: 20 G.2X workers (40 DPU) since 08:42, crunching all
	// along: busy, never idle, and past $10 by 09:20 ($17.60 an hour).
	big := func(s *glueemu.Session) {
		created := at(8, 42)
		s.CreatedOn, s.WorkerType, s.NumberOfWorkers = &created, "G.2X", aws.Int32(20)
	}
	loaded := ran(1, load, at(8, 58).Add(30*time.Second), at(8, 59))
	crunch := running(1, "orders.join(lineitems, 'order_id').groupBy('day').agg(...).write.parquet(out)", at(8, 44))
	return []string{"etl-notebook", "oom-notebook", "scratch", "idle-notebook", "stuck-notebook", "big-notebook"},
		map[string][]demoStep{
			"etl-notebook": {step(base("etl-notebook", "PROVISIONING")),
				step(base("etl-notebook", "READY"), running(1, load, at(9, 4))),
				step(base("etl-notebook", "READY"), ran(1, load, at(9, 4), at(9, 8))),
				step(base("etl-notebook", "STOPPING")), step(base("etl-notebook", "STOPPED"))},
			"oom-notebook": {step(base("oom-notebook", "PROVISIONING")),
				step(base("oom-notebook", "READY"), running(1, "rows = orders.collect()", at(9, 3))),
				failed, failed, failed},
			"scratch": {ready("scratch"), ready("scratch"), {}, {}, {}},
			// idle-notebook ran one statement, done at 08:59, then sat idle
			// until Glue timed it out.
			"idle-notebook": append(slices.Repeat([]demoStep{step(base("idle-notebook", "READY"), loaded)}, 3),
				step(base("idle-notebook", "TIMEOUT")), step(base("idle-notebook", "TIMEOUT"))),
			// stuck-notebook never gets past PROVISIONING.
			"stuck-notebook": slices.Repeat([]demoStep{step(base("stuck-notebook", "PROVISIONING"))}, 5),
			"big-notebook":   slices.Repeat([]demoStep{step(with(base("big-notebook", "READY"), big), crunch)}, 5),
		}
}

// demo runs the real handler five times, five minutes apart, against the
// Glue emulator and in-memory DynamoDB and EventBridge, printing a
// timeline (each run's events, alerts included, and the estimated spend of
// its READY sessions) and then every published event.
func demo(ctx context.Context, w io.Writer, jsonOnly bool) error {
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := demoEnv[k]; return v, ok })
	if err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	emu := glueemu.New()
	srv := httptest.NewServer(emu) // loopback only, inside this process
	defer srv.Close()
	g := glue.New(glue.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("demo", "demo", ""),
	})
	db := fakeaws.NewDynamoDB(cfg.Table)
	eb := fakeaws.NewEventBridge()
	h := handler.New(cfg, g, state.NewStore(db, cfg.Table), eb, nil)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	h.Now = func() time.Time { return now }
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{InvokedFunctionArn: demoARN})

	ids, scripts := demoSessions()
	if !jsonOnly {
		fmt.Fprintf(w, "sessionwatch demo: the real handler against an in-process Glue emulator,\n")
		fmt.Fprintf(w, "DynamoDB and EventBridge. Tracking %d sessions, one run every 5 minutes.\n", len(ids))
		fmt.Fprintf(w, "Alerts: STUCK_MINUTES=%d and RUNNING_HOURS=%s (the defaults), IDLE_MINUTES=%d\n",
			cfg.StuckMinutes, numbers(cfg.RunningHours), cfg.IdleMinutes)
		fmt.Fprintf(w, "and COST_USD=%s (set for the demo); costs estimated at DPU_HOUR_USD=%g.\n", numbers(cfg.CostUSD), cfg.DPUHourUSD)
	}
	seen := 0
	for run := range 5 {
		var readyDPU float64
		var ready int
		for _, id := range ids {
			step := scripts[id][run]
			if step.session == nil {
				emu.Delete(id)
				continue
			}
			emu.Put(*step.session)
			emu.SetStatements(id, step.statements...)
			if step.session.Status == "READY" {
				ready++
				readyDPU += dpu(step.session, now, cfg.DPUHourUSD)
			}
		}
		req := handler.Request{}
		if run == 0 {
			req.Track = ids // as `sessionwatch track` does
		}
		res, err := h.Poll(ctx, req)
		if err != nil {
			return fmt.Errorf("demo run %d: %w", run+1, err)
		}
		entries := eb.Entries()[seen:]
		seen += len(entries)
		if jsonOnly {
			for _, e := range entries {
				fmt.Fprintln(w, aws.ToString(e.Detail))
			}
			now = now.Add(5 * time.Minute)
			continue
		}
		fmt.Fprintf(w, "\nrun %d at %s: %d polled, %d changed, %d published\n",
			run+1, now.Format("15:04"), res.Polled, res.Changed, res.Published)
		if len(entries) == 0 {
			fmt.Fprintln(w, "  (nothing changed: no DynamoDB write, no PutEvents call)")
		}
		for _, e := range entries {
			var d handler.Detail
			if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
				return fmt.Errorf("demo: published detail is not JSON: %w", err)
			}
			// An alert's message ends with "; estimated cost so far $…":
			// that part goes on a line of its own, under the message.
			lines := strings.Split(d.Message, "; ")
			fmt.Fprintf(w, "  %-5s  %-26s  %s", d.Severity, aws.ToString(e.DetailType), lines[0])
			for _, more := range lines[1:] {
				fmt.Fprintf(w, ";\n  %-5s  %-26s    %s", "", "", more)
			}
			fmt.Fprintln(w)
		}
		sessions := "sessions"
		if ready == 1 {
			sessions = "session"
		}
		fmt.Fprintf(w, "  estimated spend: $%.2f an hour (%d READY %s, %g DPU × $%g a DPU-hour)\n",
			readyDPU*cfg.DPUHourUSD, ready, sessions, readyDPU, cfg.DPUHourUSD)
		now = now.Add(5 * time.Minute)
	}
	if jsonOnly {
		return nil
	}
	calls := emu.Calls()
	fmt.Fprintf(w, "\nA session seen finished or deleted leaves the registry and is not polled again:\n")
	fmt.Fprintf(w, "%d GetSession calls in all, not %d. Idle detection asked ListStatements of READY\n", calls["GetSession"], 5*len(ids))
	fmt.Fprintf(w, "sessions only (%d calls); statement code and output are never kept or published.\n", calls["ListStatements"])
	fmt.Fprintf(w, "\nThe published events, as EventBridge rules see them:\n")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	for _, e := range eb.Entries() {
		event := struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Time       string          `json:"time"`
			Resources  []string        `json:"resources"`
			Detail     json.RawMessage `json:"detail"`
		}{aws.ToString(e.Source), aws.ToString(e.DetailType), aws.ToTime(e.Time).UTC().Format(time.RFC3339),
			e.Resources, json.RawMessage(aws.ToString(e.Detail))}
		if err := enc.Encode(event); err != nil {
			return err
		}
	}
	return nil
}

// dpu is the capacity of a scripted session, by the rules of the events'
// cost block (0 when unknown).
func dpu(s *glueemu.Session, at time.Time, price float64) float64 {
	c := handler.CostOf(&gluetypes.Session{
		Status: gluetypes.SessionStatus(s.Status), CreatedOn: s.CreatedOn, MaxCapacity: s.MaxCapacity,
		WorkerType: gluetypes.WorkerType(s.WorkerType), NumberOfWorkers: s.NumberOfWorkers,
	}, at, price)
	if c == nil || c.DPU == nil {
		return 0
	}
	return *c.DPU
}

// numbers writes a threshold list as its variable is written ("8,24"),
// "off" when empty.
func numbers(list []float64) string {
	if len(list) == 0 {
		return "off"
	}
	parts := make([]string, len(list))
	for i, v := range list {
		parts[i] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}
