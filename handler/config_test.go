package handler_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"sessionwatch/handler"
)

func envOf(env map[string]string) handler.Lookup {
	return func(name string) (string, bool) { v, ok := env[name]; return v, ok }
}

func TestConfigFromEnvDefaults(t *testing.T) {
	got, err := handler.ConfigFromEnv(envOf(map[string]string{"SNAPSHOT_TABLE": "snapshots"}))
	if err != nil {
		t.Fatal(err)
	}
	want := handler.Config{Table: "snapshots", EventBus: "default", Source: "sessionwatch", MaxConcurrency: 8, RetentionDays: 30,
		StuckMinutes: 15, RunningHours: []float64{8, 24}, DPUHourUSD: 0.44, MetricsNamespace: "sessionwatch"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestConfigFromEnvParses(t *testing.T) {
	got, err := handler.ConfigFromEnv(envOf(map[string]string{
		"SNAPSHOT_TABLE":      " snapshots ",
		"EVENT_BUS_NAME":      "arn:aws:events:us-east-1:123456789012:event-bus/ops",
		"EVENT_SOURCE":        "com.example.sessionwatch",
		"SESSION_IDS":         " s-1, s-2 ,,s-1,",
		"DISCOVER":            "TRUE",
		"DISCOVER_TAGS":       "team=data, env = prod,empty=",
		"MAX_CONCURRENCY":     "16",
		"RETENTION_DAYS":      " 7 ",
		"GLUE_REQUEST_ORIGIN": "sessionwatch",
		"STUCK_MINUTES":       "0",
		"RUNNING_HOURS":       " 24, 4.5,8,24 ",
		"IDLE_MINUTES":        "30",
		"COST_USD":            "50,10",
		"DPU_HOUR_USD":        "0.52",
		"METRICS_NAMESPACE":   "Data Platform/sessionwatch",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := handler.Config{
		Table: "snapshots", EventBus: "arn:aws:events:us-east-1:123456789012:event-bus/ops",
		Source: "com.example.sessionwatch", SessionIDs: []string{"s-1", "s-2"}, Discover: true,
		DiscoverTags:   map[string]string{"team": "data", "env": "prod", "empty": ""},
		MaxConcurrency: 16, RetentionDays: 7, RequestOrigin: "sessionwatch",
		StuckMinutes: 0, RunningHours: []float64{4.5, 8, 24}, IdleMinutes: 30, CostUSD: []float64{10, 50}, DPUHourUSD: 0.52,
		MetricsNamespace: "Data Platform/sessionwatch",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	for _, tc := range []struct {
		value string
		want  bool
	}{{"true", true}, {"1", true}, {"yes", true}, {"On", true}, {"false", false}, {"0", false}, {"no", false}, {"off", false}, {"", false}} {
		t.Run("DISCOVER="+tc.value, func(t *testing.T) {
			got, err := handler.ConfigFromEnv(envOf(map[string]string{"SNAPSHOT_TABLE": "t", "DISCOVER": tc.value}))
			if err != nil {
				t.Fatal(err)
			}
			if got.Discover != tc.want {
				t.Fatalf("got %v, want %v", got.Discover, tc.want)
			}
		})
	}
}

func TestConfigFromEnvReadsOnlyEnv(t *testing.T) {
	var read []string
	_, _ = handler.ConfigFromEnv(func(name string) (string, bool) {
		read = append(read, name)
		return "", false
	})
	slices.Sort(read)
	want := slices.Sorted(slices.Values(handler.Env))
	if !slices.Equal(slices.Compact(read), want) {
		t.Fatalf("read %v, want exactly handler.Env %v", read, want)
	}
}

func TestConfigFromEnvRejects(t *testing.T) {
	for _, tc := range []struct {
		name, variable, value string
	}{
		{"missing table", "SNAPSHOT_TABLE", ""},
		{"blank table", "SNAPSHOT_TABLE", "  "},
		{"bad boolean", "DISCOVER", "maybe"},
		{"negative concurrency", "MAX_CONCURRENCY", "-1"},
		{"zero concurrency", "MAX_CONCURRENCY", "0"},
		{"non-numeric concurrency", "MAX_CONCURRENCY", "eight"},
		{"fractional concurrency", "MAX_CONCURRENCY", "1.5"},
		{"negative retention", "RETENTION_DAYS", "-30"},
		{"zero retention", "RETENTION_DAYS", "0"},
		{"non-numeric retention", "RETENTION_DAYS", "30d"},
		{"aws. source", "EVENT_SOURCE", "aws.glue"},
		{"source over 256 characters", "EVENT_SOURCE", strings.Repeat("s", 257)},
		{"source over 256 characters, multi-byte", "EVENT_SOURCE", "a" + strings.Repeat("é", 256)},
		{"source starting with a non-ASCII letter", "EVENT_SOURCE", "ésessionwatch"},
		{"source starting with a symbol", "EVENT_SOURCE", "!sessionwatch"},
		{"source with a line break", "EVENT_SOURCE", "session\nwatch"},
		{"bus name over 256 characters", "EVENT_BUS_NAME", strings.Repeat("b", 257)},
		{"bus name with a space", "EVENT_BUS_NAME", "my bus"},
		{"bus name with a slash", "EVENT_BUS_NAME", "aws.partner/acme/bus"},
		{"bus name with a colon", "EVENT_BUS_NAME", "ops:bus"},
		{"bus ARN of another service", "EVENT_BUS_NAME", "arn:aws:sqs:us-east-1:123456789012:event-bus/ops"},
		{"bus ARN with a short account", "EVENT_BUS_NAME", "arn:aws:events:us-east-1:12345:event-bus/ops"},
		{"bus ARN without a name", "EVENT_BUS_NAME", "arn:aws:events:us-east-1:123456789012:event-bus/"},
		{"bus ARN over 1600 characters", "EVENT_BUS_NAME", "arn:aws:events:us-east-1:123456789012:event-bus/" + strings.Repeat("b", 1600)},
		{"tag without =", "DISCOVER_TAGS", "team"},
		{"tag without key", "DISCOVER_TAGS", "=data"},
		{"tag given twice", "DISCOVER_TAGS", "team=a,team=b"},
		{"control character in a session id", "SESSION_IDS", "s-1,s\x002"},
		{"overlong session id", "SESSION_IDS", strings.Repeat("x", 256)},
		{"negative stuck minutes", "STUCK_MINUTES", "-5"},
		{"fractional idle minutes", "IDLE_MINUTES", "2.5"},
		{"running hours not numbers", "RUNNING_HOURS", "8h,24h"},
		{"running hours with a zero", "RUNNING_HOURS", "0,8"},
		{"running hours with an empty item", "RUNNING_HOURS", "8,,24"},
		{"negative cost", "COST_USD", "-10"},
		{"cost NaN", "COST_USD", "NaN"},
		{"price zero", "DPU_HOUR_USD", "0"},
		{"price not a number", "DPU_HOUR_USD", "$0.44"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SNAPSHOT_TABLE": "snapshots", tc.variable: tc.value}
			_, err := handler.ConfigFromEnv(envOf(env))
			if err == nil {
				t.Fatalf("%s=%q: got no error", tc.variable, tc.value)
			}
			if !strings.Contains(err.Error(), tc.variable) {
				t.Fatalf("got %q, want it to name %s", err, tc.variable)
			}
		})
	}

	t.Run("several bad values", func(t *testing.T) {
		_, err := handler.ConfigFromEnv(envOf(map[string]string{"SNAPSHOT_TABLE": "t", "EVENT_SOURCE": strings.Repeat("s", 300), "EVENT_BUS_NAME": "my bus"}))
		if err == nil || strings.Count(err.Error(), "EVENT_SOURCE") != 1 || strings.Count(err.Error(), "EVENT_BUS_NAME") != 1 {
			t.Errorf("got %v, want one error naming EVENT_SOURCE and one naming EVENT_BUS_NAME", err)
		}
	})
	t.Run("every bad variable named", func(t *testing.T) {
		_, err := handler.ConfigFromEnv(envOf(map[string]string{
			"EVENT_SOURCE": "aws.x", "DISCOVER": "perhaps", "DISCOVER_TAGS": "x",
			"MAX_CONCURRENCY": "0", "RETENTION_DAYS": "-1",
		}))
		if err == nil {
			t.Fatal("got no error")
		}
		for _, name := range []string{"SNAPSHOT_TABLE", "EVENT_SOURCE", "DISCOVER:", "DISCOVER_TAGS", "MAX_CONCURRENCY", "RETENTION_DAYS"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("got %q, want it to name %s", err, strings.TrimSuffix(name, ":"))
			}
		}
	})
}

// TestConfigFromEnvEventBridgeLimits: the values EventBridge accepts at
// its limits are accepted (the rejections are in TestConfigFromEnvRejects).
func TestConfigFromEnvEventBridgeLimits(t *testing.T) {
	for _, tc := range []struct{ name, variable, value string }{
		{"source of 256 characters", "EVENT_SOURCE", strings.Repeat("s", 256)},
		{"source of 256 multi-byte characters", "EVENT_SOURCE", "a" + strings.Repeat("é", 255)},
		{"reverse domain source", "EVENT_SOURCE", "com.example.sessionwatch"},
		{"source with a slash and spaces inside", "EVENT_SOURCE", "/team data/sessionwatch"},
		{"source starting with aws but not aws.", "EVENT_SOURCE", "awsome.watch"},
		{"bus name of 256 characters", "EVENT_BUS_NAME", strings.Repeat("b", 256)},
		{"bus name with dots, dashes and underscores", "EVENT_BUS_NAME", "ops.glue-alerts_v2"},
		{"bus ARN", "EVENT_BUS_NAME", "arn:aws:events:eu-west-1:123456789012:event-bus/ops"},
		{"bus ARN in another partition", "EVENT_BUS_NAME", "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/ops"},
		{"bus ARN of the default bus", "EVENT_BUS_NAME", "arn:aws:events:us-east-1:123456789012:event-bus/default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := handler.ConfigFromEnv(envOf(map[string]string{"SNAPSHOT_TABLE": "t", tc.variable: tc.value})); err != nil {
				t.Errorf("%s=%.80q: got %v, want it accepted", tc.variable, tc.value, err)
			}
		})
	}
}

// TestDetailTypesWithinEventBridgeLimit: every detail type the function
// emits is one EventBridge accepts (1 to 128 characters), and the check
// ConfigFromEnv runs on them at start-up refuses a longer one.
func TestDetailTypesWithinEventBridgeLimit(t *testing.T) {
	if len(handler.DetailTypes) == 0 {
		t.Fatal("no detail types listed")
	}
	for _, dt := range handler.DetailTypes {
		if err := handler.ValidateDetailType(dt); err != nil {
			t.Errorf("%q: %v", dt, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("d", 129), strings.Repeat("🙂", 65)} {
		if err := handler.ValidateDetailType(bad); err == nil {
			t.Errorf("%.40q (%d bytes): accepted, want it refused", bad, len(bad))
		}
	}
}

// TestParseSessionIDs: the one way id lists written as text are read
// (SESSION_IDS, the CLI's --session-ids and its positional ids).
func TestParseSessionIDs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lists []string
		want  []string
	}{
		{"nothing", nil, nil},
		{"empty", []string{""}, nil},
		{"only commas and blanks", []string{" , ,, "}, nil},
		{"trimmed", []string{" s-1 , s-2\t"}, []string{"s-1", "s-2"}},
		{"repeats dropped keeping the first", []string{"b,a,b", "a", " b "}, []string{"b", "a"}},
		{"several arguments", []string{"s-1", "s-2,s-3", "s-4,"}, []string{"s-1", "s-2", "s-3", "s-4"}},
		{"inner spaces kept", []string{"my session, été"}, []string{"my session", "été"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := handler.ParseSessionIDs(tc.lists...)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("ParseSessionIDs(%q) = %q, %v; want %q", tc.lists, got, err, tc.want)
			}
		})
	}
	for _, bad := range [][]string{{"s-1,bad\x00id"}, {"s-1", strings.Repeat("x", 256)}} {
		if got, err := handler.ParseSessionIDs(bad...); err == nil {
			t.Errorf("ParseSessionIDs(%.60q) = %q, want an error", bad, got)
		}
	}
}

// TestConfigThresholdsOff: an unset threshold list takes its default; set
// to the empty string or "off", the alert is off.
func TestConfigThresholdsOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []float64
	}{
		{"unset", map[string]string{}, []float64{8, 24}},
		{"empty", map[string]string{"RUNNING_HOURS": ""}, nil},
		{"off", map[string]string{"RUNNING_HOURS": " OFF "}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["SNAPSHOT_TABLE"] = "t"
			got, err := handler.ConfigFromEnv(envOf(tc.env))
			if err != nil || !slices.Equal(got.RunningHours, tc.want) {
				t.Errorf("RunningHours %v (%v), want %v", got.RunningHours, err, tc.want)
			}
		})
	}
}
