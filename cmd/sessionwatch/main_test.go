package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
	"sessionwatch/internal/schematest"
	"sessionwatch/state"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, &out, &errOut)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		errOut.WriteString(err.Error())
	}
	if err != nil {
		code = exitCode(err)
	}
	return out.String(), errOut.String(), code
}

// TestDemo: what a user of `make demo` sees: the story of each session,
// the alerts (one each, continued on a line of their own with the cost so
// far), each run's estimated spend, and no secret; --json prints one event
// detail a line.
func TestDemo(t *testing.T) {
	out, errOut, code := runCLI(t, nil, "demo")
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Alerts: STUCK_MINUTES=15 and RUNNING_HOURS=8,24 (the defaults), IDLE_MINUTES=10\nand COST_USD=10 (set for the demo)",
		"run 1 at 09:00: 6 polled, 6 changed, 6 published",
		"ERROR  Glue Session State Change   Session oom-notebook changed from READY to FAILED",
		"ERROR  Glue Session Error          Session oom-notebook reported an error in status FAILED",
		"WARN   Glue Session Deleted        Session scratch was deleted (last seen READY)",
		"WARN   Glue Session State Change   Session idle-notebook changed from READY to TIMEOUT",
		"INFO   Glue Session State Change   Session etl-notebook changed from STOPPING to STOPPED",
		// The alerts, in the run that crosses each threshold.
		"run 3 at 09:10: 6 polled, 3 changed, 4 published\n" +
			"  WARN   Glue Session Alert          Session idle-notebook has been idle for 11 minutes (threshold 10);\n" +
			"                                       estimated cost so far $0.44\n",
		"  WARN   Glue Session Alert          Session stuck-notebook has been PROVISIONING for 17 minutes (threshold 15);\n" +
			"                                       estimated cost so far $0.62\n" +
			"  estimated spend: $17.60 an hour (1 READY session, 40 DPU × $0.44 a DPU-hour)\n\nrun 5",
		"run 5 at 09:20: 3 polled, 2 changed, 2 published\n" +
			"  WARN   Glue Session Alert          Session big-notebook has cost an estimated $11.15 so far (threshold $10)\n",
		// Each run's spend: the READY sessions' DPU at DPU_HOUR_USD.
		"run 2 at 09:05: 6 polled, 2 changed, 2 published\n" +
			"  INFO   Glue Session State Change   Session etl-notebook changed from PROVISIONING to READY\n" +
			"  INFO   Glue Session State Change   Session oom-notebook changed from PROVISIONING to READY\n" +
			"  estimated spend: $26.40 an hour (5 READY sessions, 60 DPU × $0.44 a DPU-hour)\n",
		"25 GetSession calls in all, not 30",
		"sessions only (13 calls)",
		`"alert": "STUCK"`,
		`"estimatedUsd": 11.15`,
		`"resources": [`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// Each alert fires once: stuck-notebook, still PROVISIONING at 09:20,
	// and big-notebook, still over $10, raise no second one.
	for _, alert := range []string{"Session idle-notebook has been idle", "Session stuck-notebook has been PROVISIONING", "Session big-notebook has cost"} {
		if n := strings.Count(out, "Glue Session Alert          "+alert); n != 1 {
			t.Errorf("%q: %d alert lines, want 1", alert, n)
		}
	}
	if n := strings.Count(out, "estimated spend: $"); n != 5 {
		t.Errorf("%d spend lines, want one a run", n)
	}
	// DefaultArguments and statement code never leave Glue.
	for _, secret := range []string{"not-a-real-secret", "db-password", "spark.read", "collect()"} {
		if strings.Contains(out, secret) {
			t.Errorf("demo output shows %q", secret)
		}
	}

	// Every published event the demo prints follows the published schema
	// of its detail type (schema/).
	_, stream, _ := strings.Cut(out, "The published events, as EventBridge rules see them:\n")
	dec := json.NewDecoder(strings.NewReader(stream))
	printed := 0
	for dec.More() {
		var e struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Time       time.Time       `json:"time"`
			Resources  []string        `json:"resources"`
			Detail     json.RawMessage `json:"detail"`
		}
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("demo's published event %d: %v", printed+1, err)
		}
		printed++
		entry := ebtypes.PutEventsRequestEntry{Source: aws.String(e.Source), DetailType: aws.String(e.DetailType),
			Time: aws.Time(e.Time), Resources: e.Resources, Detail: aws.String(string(e.Detail))}
		if err := schematest.Entry(entry); err != nil {
			t.Error(err)
		}
	}
	if printed != 17 {
		t.Errorf("demo printed %d published events, want 17", printed)
	}

	jsonOut, _, code := runCLI(t, nil, "demo", "--json")
	lines := strings.Split(strings.TrimSpace(jsonOut), "\n")
	if code != 0 || len(lines) != 17 {
		t.Fatalf("demo --json: exit %d, %d lines; want 0 and 17 events", code, len(lines))
	}
	alerts := map[string]int{}
	for _, line := range lines {
		var d struct {
			EventID string `json:"eventId"`
			Alert   string `json:"alert"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil || d.EventID == "" {
			t.Errorf("demo --json line is not an event detail: %s", line)
		}
		if d.Alert != "" {
			alerts[d.Alert]++
		}
	}
	if want := map[string]int{"STUCK": 1, "IDLE": 1, "COST": 1}; !maps.Equal(alerts, want) {
		t.Errorf("demo --json alerts %v, want %v", alerts, want)
	}
}

func TestCLIErrors(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no command", nil, nil, 2, "no command given"},
		{"unknown command", nil, []string{"pol"}, 2, `unknown command "pol"`},
		{"bad flag", nil, []string{"poll", "--dryrun"}, 2, "flag provided but not defined: -dryrun"},
		{"missing table", nil, []string{"poll"}, 1, "SNAPSHOT_TABLE: required"},
		{"bad env", map[string]string{"SNAPSHOT_TABLE": "t", "MAX_CONCURRENCY": "-1"}, []string{"poll"}, 1, "MAX_CONCURRENCY"},
		{"track needs ids", nil, []string{"track"}, 2, "needs at least 1 session id"},
		{"track bad id", nil, []string{"track", "bad\tid"}, 2, "control character"},
		{"bad discover", nil, []string{"poll", "--discover", "maybe"}, 2, "--discover takes true or false"},
		{"bad tags", nil, []string{"poll", "--tags", "team"}, 2, "is not key=value"},
		{"tags without discovery", nil, []string{"poll", "--discover", "false", "--tags", "team=data"}, 2, `"discover" is false`},
		{"stray argument", nil, []string{"list", "x"}, 2, "takes no arguments"},
		{"no segments", nil, []string{"list", "--segments", "0"}, 2, "--segments takes 1 to 1000000"},
		{"negative schedule", nil, []string{"status", "--schedule-minutes", "-5"}, 2, "--schedule-minutes takes a positive number"},
		{"status without table", nil, []string{"status"}, 1, "(or give --stack)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, tt.env, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("got exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, cmd := range []string{"poll", "track", "untrack", "list", "status", "demo"} {
		t.Run(cmd, func(t *testing.T) {
			_, errOut, code := runCLI(t, nil, cmd, "--help")
			if code != 0 || !strings.Contains(errOut, "Usage: sessionwatch "+cmd) {
				t.Errorf("%s --help: exit %d, %q", cmd, code, errOut)
			}
		})
	}
	out, _, code := runCLI(t, nil, "--help")
	if code != 0 || !strings.Contains(out, "Commands:") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}

func TestCLIAgainstMoto(t *testing.T) {
	endpoint := awstest.Endpoint(t)
	cfg := awstest.Config(t, endpoint)
	table := awstest.NewTable(t, cfg)
	bus := awstest.NewBus(t, cfg, "")
	emu := glueemu.New()
	emu.Put(glueemu.Session{ID: "s-1", Status: "READY"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_GLUE": srv.URL, "AWS_REGION": awstest.Region,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
	env := map[string]string{"SNAPSHOT_TABLE": table, "EVENT_BUS_NAME": bus.Name}

	if out, errOut, code := runCLI(t, env, "track", "s-1", "s-2"); code != 0 || !strings.Contains(out, "tracked 2 session(s)") {
		t.Fatalf("track: exit %d, %q %q", code, out, errOut)
	}
	runCLI(t, env, "untrack", "s-2")
	out, errOut, code := runCLI(t, env, "poll", "--dry-run")
	if code != 0 || !strings.Contains(out, `"dryRun": true`) || !strings.Contains(out, `"sessionId": "s-1"`) {
		t.Fatalf("poll --dry-run: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, env, "poll")
	var res struct{ Published int }
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Published != 1 {
		t.Fatalf("poll: exit %d, %q %q", code, out, errOut)
	}
	if got := len(bus.Receive(t)); got != 1 {
		t.Errorf("events on the bus: got %d, want 1", got)
	}
	out, _, code = runCLI(t, env, "list")
	if code != 0 || !strings.Contains(out, "s-1") || !strings.Contains(out, "READY") || strings.Contains(out, "s-2") {
		t.Errorf("list: exit %d, %q", code, out)
	}
}

// TestCLITrackFromFile: more ids than a command line holds (1,200 here;
// 100,000 of 255 characters would be 25 MB) are read from a file or
// standard input, written in batches of 1,000 with the progress on stderr,
// and polled by the next run.
func TestCLITrackFromFile(t *testing.T) {
	endpoint := awstest.Endpoint(t)
	cfg := awstest.Config(t, endpoint)
	table := awstest.NewTable(t, cfg)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": awstest.Region,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
	env := map[string]string{"SNAPSHOT_TABLE": table}
	var ids []string
	var text strings.Builder
	for i := range 1200 {
		id := fmt.Sprintf("nb-%04d", i)
		ids = append(ids, id)
		sep := "\n"
		if i%3 == 0 {
			sep = ", " // several a line too
		}
		text.WriteString(" " + id + sep)
	}
	file := filepath.Join(t.TempDir(), "ids.txt")
	if err := os.WriteFile(file, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, env, "track", "--from", file, "extra-1")
	if code != 0 || !strings.Contains(out, "tracked 1201 session(s)") {
		t.Fatalf("track --from: exit %d, %q %q; want 1,201 tracked", code, out, errOut)
	}
	if want := "tracked 1000 of 1201\ntracked 1201 of 1201\n"; errOut != want {
		t.Errorf("progress %q, want %q", errOut, want)
	}
	store := state.NewStore(dynamodb.NewFromConfig(cfg), table)
	shelf, err := store.ReadShelf(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := slices.Sorted(slices.Values(append(slices.Clone(ids), "extra-1"))); !slices.Equal(shelf.Watched, want) {
		t.Errorf("registry holds %d ids, want the %d given", len(shelf.Watched), len(want))
	}

	stdin = strings.NewReader(strings.Join(ids[:600], "\n"))
	defer func() { stdin = os.Stdin }()
	if out, errOut, code := runCLI(t, env, "untrack", "--from", "-"); code != 0 || !strings.Contains(out, "untracked 600 session(s)") {
		t.Fatalf("untrack --from -: exit %d, %q %q", code, out, errOut)
	}
	if shelf, err = store.ReadShelf(t.Context()); err != nil || len(shelf.Watched) != 601 {
		t.Errorf("registry holds %d ids (%v), want 601 after untracking 600", len(shelf.Watched), err)
	}
	if _, errOut, code := runCLI(t, env, "track", "--from", filepath.Join(t.TempDir(), "missing")); code != 1 || !strings.Contains(errOut, "read ids") {
		t.Errorf("track --from a missing file: exit %d, %q; want 1 and the file named", code, errOut)
	}
	if _, errOut, code := runCLI(t, env, "track"); code != 2 || !strings.Contains(errOut, "at least 1 session id") {
		t.Errorf("track without ids: exit %d, %q; want a usage error", code, errOut)
	}
}

// TestCLIIDLists: the CLI reads id lists as SESSION_IDS is read: items
// trimmed, empty ones dropped, repeats dropped in order, each checked;
// positional ids of track and untrack and --session-ids alike.
func TestCLIIDLists(t *testing.T) {
	endpoint := awstest.Endpoint(t)
	cfg := awstest.Config(t, endpoint)
	table := awstest.NewTable(t, cfg)
	bus := awstest.NewBus(t, cfg, "")
	emu := glueemu.New()
	for _, id := range []string{"s-1", "s-2", "s-3"} {
		emu.Put(glueemu.Session{ID: id, Status: "READY"})
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL_GLUE": srv.URL, "AWS_REGION": awstest.Region,
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/dev/null",
	} {
		t.Setenv(k, v)
	}
	writes := recordIDWrites(t, endpoint)
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", writes.URL)
	env := map[string]string{"SNAPSHOT_TABLE": table, "EVENT_BUS_NAME": bus.Name}

	if out, errOut, code := runCLI(t, env, "track", "s-1", "s-1", " s-2 ", "s-2,s-1,"); code != 0 || !strings.Contains(out, "tracked 2 session(s)") {
		t.Fatalf("track with repeated and spaced ids: exit %d, %q %q; want 2 tracked", code, out, errOut)
	}
	if got := writes.take(); !slices.Equal(got, []string{"s-1", "s-2"}) {
		t.Errorf("track wrote the ids %q; want s-1 and s-2 once each, no space", got)
	}
	if out, errOut, code := runCLI(t, env, "list"); code != 0 || strings.Count(out, "s-1") != 1 || strings.Count(out, "s-2") != 1 || strings.Contains(out, " s-2") {
		t.Errorf("list: exit %d, %q %q; want s-1 and s-2 once each, no space", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, env, "untrack", "s-2", "s-2 "); code != 0 || !strings.Contains(out, "untracked 1 session(s)") {
		t.Errorf("untrack with a repeated id: exit %d, %q %q; want 1 untracked", code, out, errOut)
	}
	if got := writes.take(); !slices.Equal(got, []string{"s-2"}) {
		t.Errorf("untrack wrote the ids %q; want s-2 once, no space", got)
	}
	out, errOut, code := runCLI(t, env, "poll", "--dry-run", "--session-ids", "s-3, s-4 ,, s-3")
	var res struct {
		NotFound []string
		Events   []struct{ Detail struct{ SessionID string } }
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("poll --session-ids: exit %d, %q %q", code, out, errOut)
	}
	var polled []string
	for _, e := range res.Events {
		polled = append(polled, e.Detail.SessionID)
	}
	slices.Sort(polled)
	if !slices.Equal(res.NotFound, []string{"s-4"}) || !slices.Equal(polled, []string{"s-1", "s-3"}) {
		t.Errorf("poll --session-ids \"s-3, s-4 ,, s-3\": notFound %q, events of %q; want [s-4] and [s-1 s-3]", res.NotFound, polled)
	}
	for _, bad := range [][]string{{"track", "s-1", "bad\tid"}, {"poll", "--session-ids", "s-1,bad\tid"}} {
		if _, errOut, code := runCLI(t, env, bad...); code != 2 || !strings.Contains(errOut, "control character") {
			t.Errorf("%q: exit %d, %q; want a usage error naming the control character", bad, code, errOut)
		}
	}
}

// idWrites is a proxy to moto that records the session id each
// UpdateItem names: Track and Untrack write one UpdateItem per id, so a
// repeated id would be written twice and a spaced one with its space.
type idWrites struct {
	URL string

	mu  sync.Mutex
	ids []string
}

// recordIDWrites starts an idWrites in front of the moto at endpoint.
func recordIDWrites(t *testing.T, endpoint string) *idWrites {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	w := &idWrites{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".UpdateItem") {
			var in struct {
				Key map[string]struct{ S *string }
			}
			id := "<unreadable UpdateItem>"
			if json.Unmarshal(body, &in) == nil && in.Key[state.KeyAttribute].S != nil {
				id = *in.Key[state.KeyAttribute].S
			}
			w.mu.Lock()
			w.ids = append(w.ids, id)
			w.mu.Unlock()
		}
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// take returns the ids written since the last take, sorted, and forgets
// them.
func (w *idWrites) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := w.ids
	w.ids = nil
	slices.Sort(ids)
	return ids
}
