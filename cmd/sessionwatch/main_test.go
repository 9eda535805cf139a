package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http/httptest"
	"strings"
	"testing"

	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		errOut.WriteString(err.Error())
	}
	if err != nil {
		code = exitCode(err)
	}
	return out.String(), errOut.String(), code
}

func TestDemo(t *testing.T) {
	out, errOut, code := runCLI(t, nil, "demo")
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, errOut)
	}
	for _, want := range []string{
		"run 1 at 09:00: 4 polled, 4 changed, 4 published",
		"ERROR  Glue Session State Change   Session oom-notebook changed from READY to FAILED",
		"ERROR  Glue Session Error          Session oom-notebook reported an error in status FAILED",
		"WARN   Glue Session Deleted        Session scratch was deleted (last seen READY)",
		"WARN   Glue Session State Change   Session idle-notebook changed from READY to TIMEOUT",
		"INFO   Glue Session State Change   Session etl-notebook changed from STOPPING to STOPPED",
		`"resources": [`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out, "not-a-real-secret") || strings.Contains(out, "db-password") {
		t.Error("demo output shows DefaultArguments")
	}

	jsonOut, _, code := runCLI(t, nil, "demo", "--json")
	lines := strings.Split(strings.TrimSpace(jsonOut), "\n")
	if code != 0 || len(lines) != 12 {
		t.Fatalf("demo --json: exit %d, %d lines; want 0 and 12 events", code, len(lines))
	}
	for _, line := range lines {
		var d map[string]any
		if err := json.Unmarshal([]byte(line), &d); err != nil || d["eventId"] == nil {
			t.Errorf("demo --json line is not an event detail: %s", line)
		}
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
	for _, cmd := range []string{"poll", "track", "untrack", "list", "demo"} {
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
