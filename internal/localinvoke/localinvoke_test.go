package localinvoke_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sessionwatch/handler"
	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
	"sessionwatch/internal/localinvoke"
	"sessionwatch/internal/schematest"
)

// binaries holds the bootstrap and aws-lambda-rie shared by the tests of
// this binary: built and found once.
var binaries struct {
	once      sync.Once
	dir       string
	bootstrap string
	rie       string
	build     string // how go build was run
	err       error
	rieErr    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.dir != "" {
		os.RemoveAll(binaries.dir)
	}
	os.Exit(code)
}

// setup returns the moto endpoint and Options with the shared binaries. It
// skips the test when moto or aws-lambda-rie is missing, or fails when the
// environment variable CI is non-empty.
func setup(t testing.TB) localinvoke.Options {
	t.Helper()
	if !localSupported() {
		t.Skip("local invoke needs Linux")
	}
	moto := awstest.Endpoint(t) // skips or fails by itself
	binaries.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		binaries.rie, binaries.rieErr = localinvoke.InstallRIE(ctx)
		if binaries.dir, binaries.err = os.MkdirTemp("", "localinvoke-test-"); binaries.err != nil {
			return
		}
		binaries.bootstrap = filepath.Join(binaries.dir, "bootstrap")
		binaries.build, binaries.err = localinvoke.Build(ctx, "", binaries.bootstrap)
	})
	if binaries.rieErr != nil {
		msg := fmt.Sprintf("%v\n(set %s to an aws-lambda-rie binary to use it instead)", binaries.rieErr, localinvoke.EnvRIE)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if binaries.err != nil {
		t.Fatalf("building the bootstrap: %v", binaries.err)
	}
	return localinvoke.Options{MotoEndpoint: moto, Bootstrap: binaries.bootstrap, RIE: binaries.rie}
}

func localSupported() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

func start(t testing.TB, opts localinvoke.Options) *localinvoke.Function {
	t.Helper()
	f, err := localinvoke.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", f.Output())
		}
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// response is what a run's response must hold (README.md, The response).
type response struct {
	Polled    *int                    `json:"polled"`
	Published *int                    `json:"published"`
	NotFound  *[]string               `json:"notFound"`
	Errors    *[]handler.SessionError `json:"errors"`
}

// checkResponse fails unless body is a run's response: a JSON object with
// the numbers polled and published and the lists notFound and errors.
func checkResponse(t *testing.T, body []byte) response {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, body)
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("response fields have the wrong types: %v: %s", err, body)
	}
	if r.Polled == nil || r.Published == nil || r.NotFound == nil || r.Errors == nil {
		t.Fatalf("response lacks polled, published, notFound or errors (or one is null): %s", body)
	}
	return r
}

// event is a published event as the bus's rule target receives it.
type event struct {
	DetailType string         `json:"detail-type"`
	Source     string         `json:"source"`
	Resources  []string       `json:"resources"`
	Detail     handler.Detail `json:"detail"`
}

func published(t *testing.T, f *localinvoke.Function) []event {
	t.Helper()
	raws, err := f.Published(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]event, len(raws))
	for i, raw := range raws {
		if strings.Contains(string(raw), "do-not-leak") {
			t.Errorf("a published event holds the session's DefaultArguments: %s", raw)
		}
		if err := schematest.Delivered(raw); err != nil {
			t.Error(err)
		}
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatalf("event %s: %v", raw, err)
		}
	}
	return out
}

// summary renders events as sorted "id#seq detail-type status" lines.
func summary(events []event) []string {
	var out []string
	for _, e := range events {
		status := "null"
		if e.Detail.Status != nil {
			status = *e.Detail.Status
		}
		out = append(out, fmt.Sprintf("%s#%d %s %s", e.Detail.SessionID, e.Detail.Sequence, e.DetailType, status))
	}
	slices.Sort(out)
	return out
}

// checkEvents checks what every published event must be: the function's
// source, one of the detail types it emits, the session's ARN in the
// account of the function's ARN.
func checkEvents(t *testing.T, events []event, source string) {
	t.Helper()
	for _, e := range events {
		want := fmt.Sprintf("arn:aws:glue:%s:%s:session/%s", localinvoke.Region, localinvoke.Account, e.Detail.SessionID)
		if e.Source != source ||
			!slices.Contains(handler.DetailTypes, e.DetailType) ||
			!slices.Equal(e.Resources, []string{want}) {
			t.Errorf("event %s#%d: source %q, detail-type %q, resources %q; want source %q, resources [%q]",
				e.Detail.SessionID, e.Detail.Sequence, e.Source, e.DetailType, e.Resources, source, want)
		}
	}
}

// TestSampleEvents runs every sample payload of events/ through the real
// bootstrap under the Runtime Interface Emulator, each in a deployment of
// its own (a fresh table and bus), as `sam local invoke -e` would.
func TestSampleEvents(t *testing.T) {
	base := setup(t)
	samples, err := localinvoke.SampleEvents("")
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) == 0 {
		msg := "events/ holds no sample payloads (*.json other than env.json)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	env, err := localinvoke.SampleEnv("")
	if err != nil {
		t.Fatal(err)
	}
	source := cmp.Or(env["EVENT_SOURCE"], "sessionwatch")
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) {
		if k == "SNAPSHOT_TABLE" {
			return "sessionwatch-local", true
		}
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("env.json: %v", err)
	}
	if len(cfg.CostUSD) > 0 {
		t.Fatalf("env.json sets COST_USD %v: this test does not predict COST alerts; teach it, or leave COST_USD off", cfg.CostUSD)
	}
	var payloads [][]byte
	for _, s := range samples {
		payloads = append(payloads, s.Payload)
	}
	sessions := localinvoke.Sessions(payloads...)
	for _, s := range samples {
		t.Run(strings.TrimSuffix(s.Name, ".json"), func(t *testing.T) {
			t.Parallel()
			opts := base
			opts.Sessions = sessions
			opts.Env = env
			f := start(t, opts)
			body, err := f.Invoke(t.Context(), s.Payload)
			if err != nil {
				t.Fatalf("%s: %v", s.Name, err)
			}
			res := checkResponse(t, body)
			events := published(t, f)
			checkEvents(t, events, source)
			// The configuration reached the function.
			for op, origin := range f.Glue.RequestOrigins() {
				if origin != env["GLUE_REQUEST_ORIGIN"] {
					t.Errorf("Glue %s RequestOrigin %q, want GLUE_REQUEST_ORIGIN %q of env.json", op, origin, env["GLUE_REQUEST_ORIGIN"])
				}
			}
			if len(events) != *res.Published {
				t.Errorf("response says %d published, the bus received %d: %q", *res.Published, len(events), summary(events))
			}
			if len(*res.Errors) != 0 {
				t.Errorf("errors in response: %+v", *res.Errors)
			}
			var dry struct {
				DryRun bool `json:"dryRun"`
			}
			_ = json.Unmarshal(s.Payload, &dry)
			runs := map[bool]int{false: 1, true: 0}[dry.DryRun]
			out := settledOutput(f, 1, runs)
			checkRunMetrics(t, out, res, s.Payload)
			checkRunLogs(t, out, runs, 1)
			// The alerts are those env.json's thresholds call for.
			if got, want := alerts(events), dueAlerts(events, sessions, cfg); !slices.Equal(got, want) {
				t.Errorf("alerts:\n got %q\nwant %q (under env.json's thresholds)", got, want)
			}
			// A poll of ids: each one seeded is reported by its own event.
			var req handler.Request
			if json.Unmarshal(s.Payload, &req) == nil && len(req.SessionIDs) > 0 && !req.DryRun {
				got := summary(events)
				for _, sess := range sessions {
					if !slices.Contains(req.SessionIDs, sess.ID) {
						continue
					}
					want := fmt.Sprintf("%s#1 %s %s", sess.ID, handler.DetailTypeStateChange, sess.Status)
					if !slices.Contains(got, want) {
						t.Errorf("no event %q among %q", want, got)
					}
					if sess.ErrorMessage != "" {
						want := fmt.Sprintf("%s#2 %s %s", sess.ID, handler.DetailTypeError, sess.Status)
						if !slices.Contains(got, want) {
							t.Errorf("no event %q among %q", want, got)
						}
					}
				}
			}
			t.Logf("%s: %s; %d event(s)", s.Name, body, len(events))
		})
	}
}

// alerts renders the alert events as sorted "id#seq ALERT threshold"
// lines.
func alerts(events []event) []string {
	var out []string
	for _, e := range events {
		if e.DetailType != handler.DetailTypeAlert {
			continue
		}
		th, _ := json.Marshal(e.Detail.Threshold)
		out = append(out, fmt.Sprintf("%s#%d %s %s", e.Detail.SessionID, e.Detail.Sequence, e.Detail.Alert, th))
	}
	slices.Sort(out)
	return out
}

// dueAlerts are the alerts cfg calls for on the sessions that events
// announce for the first time, as alerts renders them. The seeded sessions
// were created an hour before the run and have run no statement
// (localinvoke.Sessions): one first seen PROVISIONING has been so since
// it was created (STUCK past STUCK_MINUTES); one READY has been READY, and
// idle, for its whole age (RUNNING_LONG past each RUNNING_HOURS, IDLE past
// IDLE_MINUTES). COST is not predicted (TestSampleEvents keeps COST_USD
// off); a session first seen finished has no alert.
func dueAlerts(events []event, sessions []glueemu.Session, cfg handler.Config) []string {
	var out []string
	for _, e := range events {
		i := slices.IndexFunc(sessions, func(s glueemu.Session) bool { return s.ID == e.Detail.SessionID })
		if e.DetailType != handler.DetailTypeStateChange || e.Detail.PreviousStatus != nil || i < 0 || sessions[i].CreatedOn == nil {
			continue
		}
		age := e.Detail.ObservedAt.Sub(*sessions[i].CreatedOn)
		seq := e.Detail.Sequence
		if e.Detail.ErrorMessage != nil {
			seq++ // the Glue Session Error comes first
		}
		due := func(alert, threshold string) {
			seq++
			out = append(out, fmt.Sprintf("%s#%d %s %s", e.Detail.SessionID, seq, alert, threshold))
		}
		switch sessions[i].Status {
		case "PROVISIONING", "STOPPING":
			if cfg.StuckMinutes > 0 && age > time.Duration(cfg.StuckMinutes)*time.Minute {
				due(handler.AlertStuck, fmt.Sprintf(`{"minutes":%d}`, cfg.StuckMinutes))
			}
		case "READY":
			for _, h := range cfg.RunningHours {
				if age > time.Duration(h*float64(time.Hour)) {
					due(handler.AlertRunningLong, fmt.Sprintf(`{"hours":%g}`, h))
				}
			}
			if cfg.IdleMinutes > 0 && age > time.Duration(cfg.IdleMinutes)*time.Minute {
				due(handler.AlertIdle, fmt.Sprintf(`{"minutes":%d}`, cfg.IdleMinutes))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestInvoke runs built-in payloads through one deployment, in order, and
// times the cold start.
func TestInvoke(t *testing.T) {
	opts := setup(t)
	opts.Sessions = localinvoke.Sessions()
	opts.Env = map[string]string{"EVENT_SOURCE": "sessionwatch.local"}
	f := start(t, opts)
	if pids := f.RuntimePIDs(); len(pids) != 0 {
		t.Errorf("bootstrap running before the first invoke: %v", pids)
	}
	ctx := t.Context()

	t.Run("poll-ids", func(t *testing.T) {
		began := time.Now()
		body, err := f.Invoke(ctx, []byte(`{"sessionIds": ["sw-ready", "sw-failed", "sw-unknown"]}`))
		cold := time.Since(began)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("emulator start to ready %v; first (cold) invoke %v; start to first response %v",
			f.Ready.Sub(f.Started), cold, time.Since(f.Started))
		res := checkResponse(t, body)
		if *res.Polled != 3 || *res.Published != 3 || !slices.Equal(*res.NotFound, []string{"sw-unknown"}) {
			t.Errorf("response %s: want 3 polled, 3 published, notFound [sw-unknown]", body)
		}
		events := published(t, f)
		checkEvents(t, events, "sessionwatch.local")
		want := []string{
			"sw-failed#1 Glue Session State Change FAILED",
			"sw-failed#2 Glue Session Error FAILED",
			"sw-ready#1 Glue Session State Change READY",
		}
		if got := summary(events); !slices.Equal(got, want) {
			t.Errorf("published:\n got %q\nwant %q", got, want)
		}
		for _, e := range events {
			if e.Detail.SessionID == "sw-failed" && (e.Detail.ErrorMessage == nil || *e.Detail.ErrorMessage != localinvoke.FailedMessage) {
				t.Errorf("event %s#%d: errorMessage %v, want %q", e.Detail.SessionID, e.Detail.Sequence, e.Detail.ErrorMessage, localinvoke.FailedMessage)
			}
		}

		began = time.Now()
		body, err = f.Invoke(ctx, []byte(`{"sessionIds": ["sw-ready", "sw-failed", "sw-unknown"]}`))
		t.Logf("second (warm) invoke %v", time.Since(began))
		if err != nil {
			t.Fatal(err)
		}
		if res := checkResponse(t, body); *res.Published != 0 {
			t.Errorf("nothing changed, yet the second run published: %s", body)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		body, err := f.Invoke(ctx, []byte(`{"sesionIds": ["x"]}`))
		var fe *localinvoke.FunctionError
		if !errors.As(err, &fe) {
			t.Fatalf("err = %v, body %s; want a function error", err, body)
		}
		if fe.Type != "InputError" || !strings.Contains(fe.Message, `"sesionIds"`) {
			t.Errorf("function error %s: %q; want InputError naming the field sesionIds", fe.Type, fe.Message)
		}
		if lf := localinvoke.ParseFunctionError(body); lf == nil || lf.Type != fe.Type || lf.Message != fe.Message || fe.Status != 200 {
			t.Errorf("ParseFunctionError(%s) = %v, want %v", body, lf, fe)
		}
		if events := published(t, f); len(events) != 0 {
			t.Errorf("a rejected invocation published %q", summary(events))
		}
	})

	for name, payload := range map[string]string{
		"empty":        "",
		"empty-object": "{}",
		"schedule":     `{"version":"0","id":"89d1a02d-5ec7-412e-82f5-13505f849b41","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-24T12:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/sessionwatch"],"detail":{}}`,
		"scheduler-v2": `{"version":"0","id":"89d1a02d-5ec7-412e-82f5-13505f849b41","detail-type":"Scheduled Event","source":"aws.scheduler","account":"123456789012","time":"2026-11-24T12:00:00Z","region":"us-east-1","resources":["arn:aws:scheduler:us-east-1:123456789012:schedule/default/sessionwatch"],"detail":"{}"}`,
	} {
		t.Run(name, func(t *testing.T) {
			body, err := f.Invoke(ctx, []byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			res := checkResponse(t, body)
			// SESSION_IDS is unset: only the registry is watched, and it
			// holds sw-ready alone: named once in a request and seen
			// unfinished, it stays watched until it is seen finished.
			if *res.Polled != 1 || *res.Published != 0 {
				t.Errorf("response %s: want sw-ready polled, nothing published", body)
			}
		})
	}

	t.Run("logs", func(t *testing.T) {
		out := f.Output()
		if strings.Contains(out, "do-not-leak") {
			t.Errorf("the function logged a session's DefaultArguments")
		}
		if !strings.Contains(out, "Init Duration") {
			t.Errorf("no REPORT line with an Init Duration in the output:\n%s", out)
		}
		// LogFormat JSON: the function logs JSON lines with the request id.
		found := false
		for line := range strings.Lines(out) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["requestId"] != nil && rec["level"] == "INFO" {
				found = true
			}
		}
		if !found {
			t.Errorf("no JSON log line with a requestId from the function:\n%s", out)
		}
		checkRunLogs(t, settledOutput(f, 7, 6), 6, 7)
	})
}

// TestStartupFailure: a bad configuration stops the bootstrap at start-up;
// the emulator then answers 502 (Lambda would answer Runtime.ExitError).
func TestStartupFailure(t *testing.T) {
	opts := setup(t)
	opts.Env = map[string]string{"DISCOVER": "maybe"}
	f := start(t, opts)
	body, err := f.Invoke(t.Context(), nil)
	if err == nil {
		t.Fatalf("invoke succeeded: %s", body)
	}
	if !strings.Contains(err.Error(), "502") {
		t.Errorf("err = %v; want the emulator's 502", err)
	}
	// The bootstrap's message comes through a pipe that another goroutine
	// copies: on a busy machine it can arrive after the emulator's answer.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(f.Output(), "DISCOVER") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(f.Output(), "DISCOVER") {
		t.Errorf("no output naming DISCOVER within 5 s of the 502:\n%s", f.Output())
	}
}

// TestCrashAndClose: a test can kill the bootstrap in the middle of an
// invoke; Close leaves no process behind.
func TestCrashAndClose(t *testing.T) {
	opts := setup(t)
	opts.Sessions = localinvoke.Sessions()
	opts.Env = map[string]string{"SESSION_IDS": localinvoke.ReadySession}
	f, err := localinvoke.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := t.Context()
	if _, err := f.Invoke(ctx, nil); err != nil {
		t.Fatal(err)
	}
	first := f.RuntimePIDs()
	if len(first) != 1 {
		t.Fatalf("RuntimePIDs = %v after an invoke, want one bootstrap", first)
	}

	// Crash the bootstrap while it waits for Glue.
	f.Glue.SetLatency(5 * time.Second)
	f.Glue.Update(localinvoke.ReadySession, func(s *glueemu.Session) { s.Status = "STOPPING" })
	done := make(chan error, 1)
	var body []byte
	go func() {
		var err error
		body, err = f.Invoke(ctx, nil)
		done <- err
	}()
	for f.Glue.Calls()["GetSession"] < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(first[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = <-done
	t.Logf("invoke whose bootstrap was killed: body %q, err %v", body, err)
	var fe *localinvoke.FunctionError
	if !errors.As(err, &fe) || fe.Type != "Runtime.ExitError" || fe.Status != 502 {
		t.Errorf("err = %v (%#v), want a function error Runtime.ExitError answered with 502", err, fe)
	}

	// The next invoke starts a new bootstrap, which publishes the change.
	f.Glue.SetLatency(0)
	body, err = f.Invoke(ctx, nil)
	if err != nil {
		t.Fatalf("invoke after the crash: %v", err)
	}
	if res := checkResponse(t, body); *res.Published != 1 {
		t.Errorf("invoke after the crash: %s, want the change to STOPPING published", body)
	}
	second := f.RuntimePIDs()
	if len(second) != 1 || second[0] == first[0] {
		t.Errorf("RuntimePIDs after the crash = %v, want one new bootstrap (was %v)", second, first)
	}

	rie := f.PID()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range append(second, rie) {
		if processAlive(pid) {
			t.Errorf("process %d is still alive after Close", pid)
		}
	}
	if _, err := f.Invoke(ctx, nil); err == nil {
		t.Errorf("invoke after Close succeeded")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// TestBuildMatchesMakefile keeps Build in step with the Makefile target that
// `sam build` runs: same flags, only GOARCH differs.
func TestBuildMatchesMakefile(t *testing.T) {
	root, err := localinvoke.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	mf, err := os.Open(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	var recipe string
	for sc, in := bufio.NewScanner(mf), false; sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "build-SessionWatchFunction:") {
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "\t") && strings.Contains(line, " build ") {
			recipe = strings.TrimSpace(line)
			break
		}
	}
	if recipe == "" {
		t.Fatal("no go build line under build-SessionWatchFunction in the Makefile")
	}
	want := []string{"CGO_ENABLED=0", "GOOS=linux", "-tags lambda.norpc", "-trimpath", "-ldflags='-s -w'", "./cmd/bootstrap"}
	for _, w := range want {
		if !strings.Contains(recipe, w) {
			t.Errorf("Makefile recipe %q lacks %q: update localinvoke.Build to build as the template does", recipe, w)
		}
	}
	flags := strings.Join(localinvoke.BuildFlags, " ")
	if flags != "-tags lambda.norpc -trimpath -ldflags=-s -w" {
		t.Errorf("BuildFlags = %q", flags)
	}
}

// TestTemplateSettings keeps the settings Start gives the function in step
// with template.yaml's SessionWatchFunction.
func TestTemplateSettings(t *testing.T) {
	root, err := localinvoke.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The function's lines: from its logical id to the next resource.
	var props []string
	in := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			in = strings.TrimSpace(line) == localinvoke.FunctionLogicalID+":"
			continue
		}
		if in {
			props = append(props, strings.TrimSpace(line))
		}
	}
	want := []string{
		"BuildMethod: makefile", // so that TestBuildMatchesMakefile checks the real build
		"Handler: bootstrap",
		fmt.Sprintf("Timeout: %d", int(localinvoke.TemplateTimeout/time.Second)),
		fmt.Sprintf("MemorySize: %d", localinvoke.TemplateMemorySize),
		"LogFormat: " + localinvoke.TemplateLogFormat,
	}
	for _, w := range want {
		if !slices.Contains(props, w) {
			t.Errorf("template.yaml's %s has no line %q: update localinvoke's Template* settings", localinvoke.FunctionLogicalID, w)
		}
	}
}

func TestSessions(t *testing.T) {
	got := localinvoke.Sessions(
		[]byte(`{"sessionIds": ["b", "a"], "track": ["c"]}`),
		[]byte(`{"discover": true, "tags": {"team": "data"}}`),
		[]byte(`{"tags": {"team": "data"}}`),
		[]byte(`not json`),
	)
	var lines []string
	for _, s := range got {
		lines = append(lines, fmt.Sprintf("%s %s %v err=%t", s.ID, s.Status, s.Tags, s.ErrorMessage != ""))
	}
	want := []string{
		"sw-ready READY map[] err=false",
		"sw-provisioning PROVISIONING map[] err=false",
		"sw-failed FAILED map[] err=true",
		"a READY map[] err=false",
		"b PROVISIONING map[] err=false",
		"c FAILED map[] err=true",
		"sw-tagged-1-ready READY map[team:data] err=false",
		"sw-tagged-1-provisioning PROVISIONING map[team:data] err=false",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("Sessions:\n got %q\nwant %q", lines, want)
	}
}

func TestSampleEventsSkipsEnvAndSubdirs(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"a.json": "{}", "env.json": `{"Parameters": {}}`, "published/x.json": "{}", "notes.txt": "x",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := localinvoke.SampleEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "a.json" || string(got[0].Payload) != "{}" {
		t.Errorf("SampleEvents = %+v, want only a.json", got)
	}
}
