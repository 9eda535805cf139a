package templatetest

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/schematest"
	"sessionwatch/state"
)

// TestInvocationPayloads proves that every sample payload for
// `sam local invoke -e` is accepted, and means what its name says.
func TestInvocationPayloads(t *testing.T) {
	paths, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]func(*testing.T, handler.Request){
		"schedule-rule.json":          pollDefaults,
		"schedule-scheduler.json":     pollDefaults,
		"schedule-sam-generated.json": pollDefaults,
		"poll-ids.json": func(t *testing.T, r handler.Request) {
			if len(r.SessionIDs) == 0 {
				t.Error("no sessionIds")
			}
		},
		"track.json": func(t *testing.T, r handler.Request) {
			if len(r.Track) == 0 {
				t.Error("no track")
			}
		},
		"untrack.json": func(t *testing.T, r handler.Request) {
			if len(r.Untrack) == 0 {
				t.Error("no untrack")
			}
		},
		"discover-tags.json": func(t *testing.T, r handler.Request) {
			if r.Discover == nil || !*r.Discover || r.Tags["team"] != "data" {
				t.Errorf("got %+v, want discover with tags team=data", r)
			}
		},
		"dry-run.json": func(t *testing.T, r handler.Request) {
			if !r.DryRun {
				t.Error("not a dry run")
			}
		},
		"cloudtrail-create-session.json": cloudTrailCall(handler.CloudTrailCall{
			EventName: handler.CallCreateSession, SessionID: "data-eng-notebook-7",
			CreatedBy: "arn:aws:sts::123456789012:assumed-role/DataEngineer/alice",
		}),
		"cloudtrail-stop-session.json": cloudTrailCall(handler.CloudTrailCall{
			EventName: handler.CallStopSession, SessionID: "data-eng-notebook-7",
		}),
		"cloudtrail-delete-session.json": cloudTrailCall(handler.CloudTrailCall{
			EventName: handler.CallDeleteSession, SessionID: "data-eng-notebook-7",
		}),
		"cloudtrail-create-session-failed.json": cloudTrailCall(handler.CloudTrailCall{
			EventName: handler.CallCreateSession, Failed: true, ErrorCode: "AccessDeniedException",
		}),
	}
	seen := map[string]bool{}
	for _, path := range paths {
		name := filepath.Base(path)
		if name == "env.json" {
			continue // not a payload: see TestEnvVarsFile
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			req, err := handler.ParseRequest(data)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			check, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s: add one to this test", name)
			}
			check(t, req)
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("events/%s is missing", name)
		}
	}

	// The three ways a schedule delivers its event differ exactly where
	// README.md, Input, says they do.
	shapes := []struct {
		file       string
		source     string
		version    bool
		detailKind string
	}{
		{"schedule-rule.json", "aws.events", true, "object"},
		{"schedule-scheduler.json", "aws.scheduler", true, "string"},
		{"schedule-sam-generated.json", "aws.events", false, "object"},
	}
	for _, sh := range shapes {
		t.Run(sh.file+" shape", func(t *testing.T) {
			ev := readJSON(t, "../../events/"+sh.file)
			if ev["source"] != sh.source || ev["detail-type"] != "Scheduled Event" {
				t.Errorf("source %v, detail-type %v", ev["source"], ev["detail-type"])
			}
			if _, ok := ev["version"]; ok != sh.version {
				t.Errorf("has version: %v, want %v", ok, sh.version)
			}
			switch d := ev["detail"].(type) {
			case map[string]any:
				if sh.detailKind != "object" || len(d) != 0 {
					t.Errorf("detail %v, want %s", d, sh.detailKind)
				}
			case string:
				if sh.detailKind != "string" || d != "{}" {
					t.Errorf("detail %q, want %s", d, sh.detailKind)
				}
			default:
				t.Errorf("detail %v", d)
			}
		})
	}
}

// cloudTrailCall expects a CloudTrail record of the call want, and
// nothing of a poll request.
func cloudTrailCall(want handler.CloudTrailCall) func(*testing.T, handler.Request) {
	return func(t *testing.T, r handler.Request) {
		t.Helper()
		if r.CloudTrail == nil || *r.CloudTrail != want {
			t.Errorf("got call %+v, want %+v", r.CloudTrail, want)
		}
		if r.Trigger() != handler.TriggerCloudTrail {
			t.Errorf("trigger %q, want %q", r.Trigger(), handler.TriggerCloudTrail)
		}
		r.CloudTrail = nil
		if !reflect.DeepEqual(r, handler.Request{}) {
			t.Errorf("got %+v beside the call, want nothing", r)
		}
	}
}

func pollDefaults(t *testing.T, r handler.Request) {
	t.Helper()
	if r.SessionIDs != nil || r.Track != nil || r.Untrack != nil || r.Discover != nil || r.Tags != nil || r.DryRun {
		t.Errorf("got %+v, want a poll with the configured defaults", r)
	}
	if r.Trigger() != handler.TriggerSchedule {
		t.Errorf("trigger %q, want %q", r.Trigger(), handler.TriggerSchedule)
	}
}

// TestEnvVarsFile proves that events/env.json (`sam local invoke
// --env-vars`, named in samconfig.toml) sets every variable the function
// reads, for the template's function, with values that configure it.
func TestEnvVarsFile(t *testing.T) {
	var file map[string]map[string]string
	data, err := os.ReadFile("../../events/env.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("env.json: %v", err)
	}
	vars, ok := file[functionID]
	if !ok || len(file) != 1 {
		t.Fatalf("env.json names %v, want only %s", slices.Sorted(maps.Keys(file)), functionID)
	}
	if got, want := slices.Sorted(maps.Keys(vars)), slices.Sorted(slices.Values(handler.Env)); !slices.Equal(got, want) {
		t.Errorf("variables %v, want handler.Env %v", got, want)
	}
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatalf("env.json does not configure the function: %v", err)
	}
	if cfg.Table != "sessionwatch-local" {
		t.Errorf("SNAPSHOT_TABLE = %q, want sessionwatch-local", cfg.Table)
	}

	toml, err := os.ReadFile("../../samconfig.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^env_vars\s*=\s*"events/env\.json"`).Match(toml) {
		t.Error(`samconfig.toml does not set env_vars = "events/env.json" for local invokes`)
	}
	if regexp.MustCompile(`\b\d{12}\b|(?m)^\s*(region|s3_bucket)\s*=`).Match(toml) {
		t.Error("samconfig.toml hard-codes an account id, a region or a bucket")
	}
}

// publishedEvents reads events/published: examples of what EventBridge
// delivers to a target, keyed by file name.
func publishedEvents(tb testing.TB) map[string]map[string]any {
	tb.Helper()
	paths, err := filepath.Glob("../../events/published/*.json")
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, p := range paths {
		out[filepath.Base(p)] = readJSON(tb, p)
	}
	return out
}

// TestPublishedExamples proves that each example is an event the code
// could have published: it follows its detail type's published schema
// (schema/), its detail decodes strictly into handler.Detail,
// it is exactly the detail handler.Transition emits for the change it
// describes (eventId included), and its envelope agrees with its detail
// the way README.md, Events, says.
func TestPublishedExamples(t *testing.T) {
	wantTypes := map[string]string{
		"state-change.json": handler.DetailTypeStateChange,
		"error.json":        handler.DetailTypeError,
		"deleted.json":      handler.DetailTypeDeleted,
		"alert.json":        handler.DetailTypeAlert,
	}
	envelope := []string{"account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"}
	published := publishedEvents(t)
	for name, detailType := range wantTypes {
		t.Run(name, func(t *testing.T) {
			ev, ok := published[name]
			if !ok {
				t.Fatalf("events/published/%s is missing", name)
			}
			if got := slices.Sorted(maps.Keys(ev)); !slices.Equal(got, envelope) {
				t.Errorf("envelope fields %v, want %v", got, envelope)
			}
			whole, _ := json.Marshal(ev)
			if err := schematest.Event(whole); err != nil {
				t.Error(err)
			}
			if ev["version"] != "0" || ev["account"] != testAccount || ev["detail-type"] != detailType {
				t.Errorf("version %v, account %v, detail-type %v", ev["version"], ev["account"], ev["detail-type"])
			}
			if src, _ := ev["source"].(string); src == "" || strings.HasPrefix(src, "aws.") {
				t.Errorf("source %q", src)
			}

			raw, _ := json.Marshal(ev["detail"])
			var d handler.Detail
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("detail does not decode into handler.Detail: %v", err)
			}
			if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(d.EventID) {
				t.Errorf("eventId %q is not 32 hex characters", d.EventID)
			}
			if got, want := reproduce(t, detailType, d), canonical(t, raw); got != want {
				t.Errorf("the code emits a different detail for this change:\n got %s\nwant %s", got, want)
			}
			if d.Version != "1" || d.Sequence < 1 {
				t.Errorf("version %q, sequence %d", d.Version, d.Sequence)
			}
			if got, want := ev["time"], d.ObservedAt.UTC().Format("2006-01-02T15:04:05Z"); got != want {
				t.Errorf("time %v, want detail.observedAt %v", got, want)
			}
			wantRes := "arn:aws:glue:" + ev["region"].(string) + ":" + testAccount + ":session/" + d.SessionID
			if got := strs(ev["resources"]); !slices.Equal(got, []string{wantRes}) {
				t.Errorf("resources %v, want [%s]", got, wantRes)
			}
			wantSeverity := map[string]string{handler.DetailTypeError: "ERROR", handler.DetailTypeDeleted: "WARN", handler.DetailTypeAlert: "WARN"}[detailType]
			if detailType == handler.DetailTypeStateChange {
				wantSeverity = map[string]string{"FAILED": "ERROR", "TIMEOUT": "WARN"}[aws.ToString(d.Status)]
				if wantSeverity == "" {
					wantSeverity = "INFO"
				}
			}
			if d.Severity != wantSeverity {
				t.Errorf("severity %s, want %s", d.Severity, wantSeverity)
			}
			if detailType == handler.DetailTypeDeleted && (d.Status != nil || d.Session != nil) {
				t.Error("a deletion carries a status or a session")
			}
			if detailType != handler.DetailTypeDeleted && (d.Status == nil || d.Session == nil) {
				t.Error("no status or session")
			}
			if (detailType == handler.DetailTypeAlert) != (d.Alert != "" && d.Threshold != nil) {
				t.Errorf("detail-type %s with alert %q and threshold %v", detailType, d.Alert, d.Threshold)
			}
			if strings.Contains(string(raw), "efaultArguments") {
				t.Error("detail carries DefaultArguments")
			}
		})
	}
	for name := range published {
		if _, ok := wantTypes[name]; !ok {
			t.Errorf("unexpected events/published/%s: add it to this test", name)
		}
	}
}

// matchPattern is EventBridge's matching for the subset the sample rules
// use: every pattern field must be present in the event, a list matches
// when the event's value (or one of its values) equals one of its items,
// an object matches the event's object field by field.
func matchPattern(pattern map[string]any, event map[string]any) bool {
	for k, p := range pattern {
		v, ok := event[k]
		if !ok {
			return false
		}
		switch p := p.(type) {
		case map[string]any:
			m, ok := v.(map[string]any)
			if !ok || !matchPattern(p, m) {
				return false
			}
		case []any:
			if !slices.ContainsFunc(asSlice(v), func(x any) bool { return slices.Contains(p, x) }) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func readJSON(tb testing.TB, path string) map[string]any {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return v
}

// reproduce runs handler.Transition over the snapshot and the Glue answer
// that the example detail d describes, under the rules of a deployment
// with the template's defaults (exampleRules), and returns the detail of
// type detailType it emits (of d's alert, for an alert), as canonical
// JSON.
func reproduce(t *testing.T, detailType string, d handler.Detail) string {
	t.Helper()
	// The snapshot keeps the creator, from the session's CreateSession
	// record an earlier run saw.
	prev := &state.Snapshot{SessionID: d.SessionID, Status: aws.ToString(d.PreviousStatus), Sequence: max(d.Sequence-1, 1), CreatedBy: aws.ToString(d.CreatedBy)}
	prev.SetError(aws.ToString(d.PreviousErrorMessage))
	if d.PreviousObservedAt != nil {
		prev.ObservedAt = *d.PreviousObservedAt
	}
	obs := handler.Observation{SessionID: d.SessionID, At: d.ObservedAt}
	if d.Session != nil {
		obs.Session = glueAnswer(d)
		prev.CreatedOn = d.Session.CreatedOn // the same session, seen before
	}
	if d.Alert == handler.AlertIdle {
		// ListStatements found no statement: the session has been idle
		// since it was created. (An event does not tell when a session's
		// last statement ended, so an IDLE example is of a session that
		// ran none.)
		obs.Activity = &handler.Activity{}
	}
	rules := exampleRules(t, d)
	// The example's sequence fixes the snapshot's: find the event once,
	// then number the snapshot so that it gets the example's.
	for range 2 {
		_, events := handler.Transition(prev, obs, rules)
		i := slices.IndexFunc(events, func(e handler.Event) bool { return e.DetailType == detailType && e.Detail.Alert == d.Alert })
		if i < 0 {
			t.Fatalf("the transition emits no %s %s for this change", detailType, d.Alert)
		}
		if got := events[i].Detail; got.Sequence != d.Sequence {
			prev.Sequence += d.Sequence - got.Sequence
			continue
		}
		raw, err := json.Marshal(events[i].Detail)
		if err != nil {
			t.Fatal(err)
		}
		return canonical(t, raw)
	}
	t.Fatalf("no snapshot gives sequence %d", d.Sequence)
	return ""
}

// exampleRules are the rules of a deployment with the template's defaults
// (so DPU_HOUR_USD prices every example's cost block), with the alert an
// example shows turned on at the example's threshold.
func exampleRules(t *testing.T, d handler.Detail) handler.Rules {
	t.Helper()
	vars := function(t, deploy(t, nil)).Environment.Variables
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatalf("the template's defaults: %v", err)
	}
	rules := handler.Rules{
		RetentionDays: cfg.RetentionDays,
		StuckMinutes:  cfg.StuckMinutes, RunningHours: cfg.RunningHours, IdleMinutes: cfg.IdleMinutes,
		CostUSD: cfg.CostUSD, DPUHourUSD: cfg.DPUHourUSD,
	}
	th := d.Threshold
	if d.Alert != "" && th == nil {
		t.Fatalf("alert %s without a threshold", d.Alert)
	}
	switch {
	case d.Alert == "":
	case d.Alert == handler.AlertStuck && th.Minutes != nil:
		rules.StuckMinutes = *th.Minutes
	case d.Alert == handler.AlertRunningLong && th.Hours != nil:
		rules.RunningHours = []float64{*th.Hours}
	case d.Alert == handler.AlertIdle && th.Minutes != nil:
		rules.IdleMinutes = *th.Minutes
	case d.Alert == handler.AlertCost && th.USD != nil:
		rules.CostUSD = []float64{*th.USD}
	default:
		t.Fatalf("alert %q with threshold %+v", d.Alert, *th)
	}
	return rules
}

// glueAnswer is the Glue answer that an event's session block describes.
func glueAnswer(d handler.Detail) *gluetypes.Session {
	s := d.Session
	out := &gluetypes.Session{
		Id: aws.String(d.SessionID), Status: gluetypes.SessionStatus(aws.ToString(d.Status)), ErrorMessage: d.ErrorMessage,
		CreatedOn: s.CreatedOn, CompletedOn: s.CompletedOn, Description: s.Description, Role: s.Role,
		GlueVersion: s.GlueVersion, WorkerType: gluetypes.WorkerType(aws.ToString(s.WorkerType)),
		NumberOfWorkers: s.NumberOfWorkers, MaxCapacity: s.MaxCapacity, IdleTimeout: s.IdleTimeout,
		ExecutionTime: s.ExecutionTime, DPUSeconds: s.DPUSeconds, SecurityConfiguration: s.SecurityConfiguration,
		ProfileName: s.ProfileName, SessionType: gluetypes.SessionType(aws.ToString(s.SessionType)),
	}
	if s.Progress != nil {
		out.Progress = *s.Progress
	}
	if s.Command != nil {
		out.Command = &gluetypes.SessionCommand{Name: s.Command.Name, PythonVersion: s.Command.PythonVersion}
	}
	if s.Connections != nil {
		out.Connections = &gluetypes.ConnectionsList{Connections: s.Connections}
	}
	return out
}

// canonical re-encodes a JSON document with sorted keys.
func canonical(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestReadmeExamples holds the README's example events to what the code
// emits, as TestPublishedExamples does for events/published.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(readme, -1)
	n := 0
	for _, b := range blocks {
		var ev struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Detail     json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(b[1], &ev) != nil || ev.DetailType == "" || ev.Detail == nil {
			continue // not a whole event
		}
		if strings.HasPrefix(ev.Source, "aws.") {
			continue // an AWS service's event, which the function receives (TestReadmeCloudTrailExample)
		}
		n++
		t.Run(ev.DetailType, func(t *testing.T) {
			entry := ebtypes.PutEventsRequestEntry{Source: aws.String("sessionwatch"), DetailType: aws.String(ev.DetailType), Detail: aws.String(string(ev.Detail))}
			if err := schematest.Entry(entry); err != nil {
				t.Error(err)
			}
			var d handler.Detail
			dec := json.NewDecoder(bytes.NewReader(ev.Detail))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				t.Fatalf("detail does not decode into handler.Detail: %v", err)
			}
			if got, want := reproduce(t, ev.DetailType, d), canonical(t, ev.Detail); got != want {
				t.Errorf("the code emits a different detail for this change:\n got %s\nwant %s", got, want)
			}
		})
	}
	if n == 0 {
		t.Fatal("no example event found in README.md")
	}
}
