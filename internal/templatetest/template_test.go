package templatetest

import (
	"encoding/json"
	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/awslabs/goformation/v7/cloudformation/policies"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"

	"sessionwatch/handler"
	"sessionwatch/state"
)

// grants is every IAM action the code calls, and what it calls it on.
// Two are granted only when their feature is on: glue:ListSessions when
// Discover is true (IAM has no resource type for it, so it is granted on
// "*"), glue:ListStatements when IdleMinutes is not 0.
var grants = map[string]string{
	"glue:GetSession":       "arn:aws:glue:us-east-1:123456789012:session/*",
	"glue:ListSessions":     "*",
	"glue:ListStatements":   "arn:aws:glue:us-east-1:123456789012:session/*",
	"dynamodb:BatchGetItem": "${SnapshotTable.Arn}",
	"dynamodb:GetItem":      "${SnapshotTable.Arn}",
	"dynamodb:PutItem":      "${SnapshotTable.Arn}",
	"dynamodb:UpdateItem":   "${SnapshotTable.Arn}",
	"dynamodb:DeleteItem":   "${SnapshotTable.Arn}",
	"dynamodb:Scan":         "${SnapshotTable.Arn}",
	"dynamodb:Query":        "${SnapshotTable.Arn}/index/" + state.IndexName,
	"events:PutEvents":      "", // the bus: depends on CreateEventBus, see TestEventBus
}

func function(tb testing.TB, s *stack) *serverless.Function {
	tb.Helper()
	fn, err := s.GetServerlessFunctionWithName(functionID)
	if err != nil {
		tb.Fatal(err)
	}
	return fn
}

func TestFunctionBuild(t *testing.T) {
	s := deploy(t, nil)
	fn := function(t, s)

	checks := []struct {
		name      string
		got, want any
	}{
		{"Runtime", aws.ToString(fn.Runtime), "provided.al2023"},
		{"Architectures", fmt.Sprint(fn.Architectures), "[arm64]"},
		{"Handler", aws.ToString(fn.Handler), "bootstrap"},
		{"CodeUri", fn.CodeUri != nil && aws.ToString(fn.CodeUri.String) == ".", true},
		{"Metadata.BuildMethod", fn.AWSCloudFormationMetadata["BuildMethod"], "makefile"},
		{"MemorySize", aws.ToInt(fn.MemorySize), 128},
		{"ReservedConcurrentExecutions", aws.ToInt(fn.ReservedConcurrentExecutions), 1},
		{"LoggingConfig.LogFormat", s.LoggingConfig["LogFormat"], "JSON"},
		{"LoggingConfig.LogGroup", s.LoggingConfig["LogGroup"], "${FunctionLogGroup}"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}

	t.Run("Timeout", func(t *testing.T) {
		if fn.Timeout == nil {
			t.Fatal("no Timeout: Lambda's default of 3 s leaves no time after the handler's deadline reserve")
		}
		timeout := time.Duration(*fn.Timeout) * time.Second
		reserve := handler.New(handler.Config{}, nil, nil, nil, nil).DeadlineReserve
		if timeout < 10*reserve {
			t.Errorf("Timeout %v leaves too little time to poll before the handler's %v deadline reserve", timeout, reserve)
		}
		period := ratePeriod(t, scheduleEvent(t, s).Schedule)
		if timeout >= period {
			t.Errorf("Timeout %v is not shorter than the default schedule's period %v: runs would queue up behind ReservedConcurrentExecutions 1", timeout, period)
		}
	})

	t.Run("LogGroup", func(t *testing.T) {
		lg, err := s.GetLogsLogGroupWithName("FunctionLogGroup")
		if err != nil {
			t.Fatal(err)
		}
		raw := asMap(asMap(asMap(asMap(s.Raw["Resources"])["FunctionLogGroup"])["Properties"])["RetentionInDays"])
		if got, want := raw["Ref"], "LogRetentionDays"; got != want {
			t.Errorf("RetentionInDays refers to %v, want %v", got, want)
		}
		if lg.RetentionInDays == nil || *lg.RetentionInDays != 30 {
			t.Errorf("RetentionInDays = %v, want the LogRetentionDays default 30", lg.RetentionInDays)
		}
	})
}

// ratePeriod reads a rate(N unit) schedule expression.
func ratePeriod(tb testing.TB, expr string) time.Duration {
	tb.Helper()
	m := regexp.MustCompile(`^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$`).FindStringSubmatch(expr)
	if m == nil {
		tb.Fatalf("default schedule %q is not a rate expression", expr)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[strings.TrimSuffix(m[2], "s")]
	return time.Duration(n) * unit
}

// checkRulesOnlyPublish checks that the topic policy policyID lets
// EventBridge publish on topic, only from the given rules, and nothing else.
func checkRulesOnlyPublish(t *testing.T, s *stack, policyID, topic string, rules []string) {
	t.Helper()
	p, err := s.GetSNSTopicPolicyWithName(policyID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Topics, []string{"${" + topic + "}"}) {
		t.Errorf("%s: Topics = %v", policyID, p.Topics)
	}
	sts := asSlice(asMap(p.PolicyDocument)["Statement"])
	if len(sts) != 1 {
		t.Fatalf("%s: %d statements, want 1", policyID, len(sts))
	}
	st := asMap(sts[0])
	if got := asMap(st["Principal"])["Service"]; got != "events.amazonaws.com" {
		t.Errorf("%s: Principal service %v, want events.amazonaws.com", policyID, got)
	}
	if got := strs(st["Action"]); !slices.Equal(got, []string{"sns:Publish"}) {
		t.Errorf("%s: Action %v, want sns:Publish", policyID, got)
	}
	var want []string
	for _, r := range rules {
		want = append(want, "${"+r+".Arn}")
	}
	if arns := strs(asMap(asMap(st["Condition"])["ArnEquals"])["aws:SourceArn"]); !slices.Equal(arns, want) {
		t.Errorf("%s: aws:SourceArn %v, want %v", policyID, arns, want)
	}
}

// makeRecipe is the recipe of the Makefile's target, a command a line.
func makeRecipe(t *testing.T, target string) []string {
	t.Helper()
	data, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var recipe []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, strings.TrimSpace(line))
		case in:
			in = false
		}
	}
	return recipe
}

// TestMakefileTarget proves that the target `sam build` runs for
// BuildMethod makefile exists and builds what the template declares.
func TestMakefileTarget(t *testing.T) {
	recipe := makeRecipe(t, "build-"+functionID)
	if len(recipe) == 0 {
		t.Fatalf("Makefile has no build-%s target with a recipe", functionID)
	}
	cmd := strings.Join(recipe, " ")
	for _, want := range []string{
		"CGO_ENABLED=0",
		"GOOS=linux",
		"GOARCH=arm64", // the template's Architectures
		"lambda.norpc",
		"-o $(ARTIFACTS_DIR)/bootstrap", // the template's Handler
	} {
		t.Run(want, func(t *testing.T) {
			if !strings.Contains(cmd, want) {
				t.Errorf("build-%s recipe %q lacks %q", functionID, cmd, want)
			}
		})
	}
	t.Run("-tags lambda.norpc", func(t *testing.T) {
		if !regexp.MustCompile(`-tags[ =]"?[^ ]*\blambda\.norpc\b`).MatchString(cmd) {
			t.Errorf("lambda.norpc is not passed as a build tag in %q", cmd)
		}
	})
}

func TestEnvironment(t *testing.T) {
	s := deploy(t, nil)
	fn := function(t, s)
	if fn.Environment == nil {
		t.Fatal("function has no Environment")
	}
	vars := fn.Environment.Variables

	t.Run("names equal handler.Env", func(t *testing.T) {
		got := slices.Sorted(maps.Keys(vars))
		want := slices.Sorted(slices.Values(handler.Env))
		if !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})

	t.Run("values come from parameters and resources", func(t *testing.T) {
		raw := asMap(asMap(asMap(asMap(asMap(asMap(s.Raw["Resources"])[functionID])["Properties"])["Environment"])["Variables"]))
		params := asMap(s.Raw["Parameters"])
		for name, v := range raw {
			switch name {
			case "SNAPSHOT_TABLE":
				if got, want := vars[name], "${SnapshotTable}"; got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			case "EVENT_BUS_NAME":
				// Checked in TestEventBus for both CreateEventBus values.
			default:
				ref, ok := asMap(v)["Ref"].(string)
				if _, isParam := params[ref]; !ok || !isParam {
					t.Errorf("%s = %v, want a Ref to a parameter", name, v)
				}
			}
		}
	})

	t.Run("defaults are a valid configuration", func(t *testing.T) {
		cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
		if err != nil {
			t.Fatalf("the template's defaults do not configure the function: %v", err)
		}
		if cfg.Source != "sessionwatch" || cfg.EventBus != "default" || cfg.Discover ||
			cfg.MaxConcurrency != 8 || cfg.RetentionDays != 30 || len(cfg.SessionIDs) != 0 {
			t.Errorf("defaults differ from README.md's (Configuration): %+v", cfg)
		}
		// The alerts' defaults are the code's own (the variables unset):
		// the template changes none of them.
		unset, err := handler.ConfigFromEnv(func(k string) (string, bool) {
			if k == "SNAPSHOT_TABLE" {
				return "t", true
			}
			return "", false
		})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.StuckMinutes != unset.StuckMinutes || !slices.Equal(cfg.RunningHours, unset.RunningHours) ||
			cfg.IdleMinutes != unset.IdleMinutes || !slices.Equal(cfg.CostUSD, unset.CostUSD) || cfg.DPUHourUSD != unset.DPUHourUSD {
			t.Errorf("alert defaults: template %d %v %d %v %g, code %d %v %d %v %g (STUCK_MINUTES, RUNNING_HOURS, IDLE_MINUTES, COST_USD, DPU_HOUR_USD)",
				cfg.StuckMinutes, cfg.RunningHours, cfg.IdleMinutes, cfg.CostUSD, cfg.DPUHourUSD,
				unset.StuckMinutes, unset.RunningHours, unset.IdleMinutes, unset.CostUSD, unset.DPUHourUSD)
		}
		if cfg.StuckMinutes != 15 || !slices.Equal(cfg.RunningHours, []float64{8, 24}) || cfg.IdleMinutes != 0 ||
			cfg.CostUSD != nil || cfg.DPUHourUSD != 0.44 {
			t.Errorf("alert defaults differ from README.md's (Configuration): %+v", cfg)
		}
	})
}

// TestParameterConstraints proves that the alert parameters' constraints
// agree with the function's validation at their edges: what CloudFormation
// lets through configures the function, so that a stack does not deploy a
// function that stops at start-up, and the values the function accepts,
// written as the README writes them, pass CloudFormation. (One gap is
// CloudFormation's: a Number parameter takes a decimal such as 15.5, which
// the function refuses, as it does for MaxConcurrency and RetentionDays.)
func TestParameterConstraints(t *testing.T) {
	params := asMap(deploy(t, nil).Raw["Parameters"])
	cases := []struct {
		param, env string
		ok, bad    []string // both accept; both refuse
		refused    []string // CloudFormation refuses, the function would take: spellings, not values
	}{
		{"StuckMinutes", "STUCK_MINUTES", []string{"0", "1", "15", "525600"}, []string{"-1", "525601"}, nil},
		{"IdleMinutes", "IDLE_MINUTES", []string{"0", "1", "30", "525600"}, []string{"-1", "525601"}, nil},
		{"RunningHours", "RUNNING_HOURS",
			[]string{"", "off", "OFF", "8,24", "24,8", "8, 24", "0.5", "0.05", "1", "9999.99", "10000", "79999.9", "80000", "86999", "87000", "87599.99", "87600", "87600.0"},
			[]string{"0", "0.0", "-1", "8,0", "87600.01", "87601", "99999", "100000", "8,,24", "8,", ",8", "eight", "on"},
			[]string{" 8", "8 ", "1e3", "08"}},
		{"CostUsd", "COST_USD",
			[]string{"", "off", "Off", "10,50", "10, 50", "0.01", "1", "999999999.99", "1000000000", "1000000000.00"},
			[]string{"0", "0.00", "-10", "10,0", "1000000000.01", "1000000001", "10000000000", "10;50", "$10"},
			[]string{" 10", "1e2", "010"}},
		{"DpuHourUsd", "DPU_HOUR_USD",
			[]string{"0.44", "0.29", "1", "999.99", "1000", "1000.0"},
			[]string{"0", "0.0", "-0.44", "1000.01", "1001", "0,44", "$0.44", "free"},
			[]string{" 0.44", "4.4e-1", "00.44"}},
	}
	for _, c := range cases {
		t.Run(c.param, func(t *testing.T) {
			p := asMap(params[c.param])
			if p == nil {
				t.Fatalf("no parameter %s", c.param)
			}
			cfnAccepts := cfnConstraint(t, p)
			codeAccepts := func(v string) error {
				_, err := handler.ConfigFromEnv(func(k string) (string, bool) {
					switch k {
					case "SNAPSHOT_TABLE":
						return "t", true
					case c.env:
						return v, true
					}
					return "", false
				})
				return err
			}
			for _, v := range c.ok {
				if !cfnAccepts(v) {
					t.Errorf("%s=%q: CloudFormation refuses it, the function takes it", c.param, v)
				}
				if err := codeAccepts(v); err != nil {
					t.Errorf("%s=%q: %v", c.env, v, err)
				}
			}
			for _, v := range c.bad {
				if cfnAccepts(v) {
					t.Errorf("%s=%q: CloudFormation lets it through", c.param, v)
				}
				if codeAccepts(v) == nil {
					t.Errorf("%s=%q: the function takes it", c.env, v)
				}
			}
			for _, v := range c.refused {
				if cfnAccepts(v) {
					t.Errorf("%s=%q: CloudFormation lets it through", c.param, v)
				}
				if err := codeAccepts(v); err != nil {
					t.Errorf("%s=%q: %v (not merely another spelling)", c.env, v, err)
				}
			}
			if def := fmt.Sprint(p["Default"]); !cfnAccepts(def) {
				t.Errorf("the default %q breaks the parameter's own constraint", def)
			}
		})
	}
}

// cfnConstraint returns what CloudFormation accepts for parameter p: for a
// Number, a number within MinValue and MaxValue; for a String, a whole
// match of AllowedPattern.
func cfnConstraint(tb testing.TB, p map[string]any) func(string) bool {
	tb.Helper()
	switch p["Type"] {
	case "Number":
		lo, okLo := p["MinValue"].(float64)
		hi, okHi := p["MaxValue"].(float64)
		if !okLo || !okHi {
			tb.Fatalf("Number parameter without MinValue and MaxValue: %v", p)
		}
		return func(v string) bool {
			n, err := strconv.ParseFloat(v, 64)
			return err == nil && n >= lo && n <= hi
		}
	case "String":
		pattern, ok := p["AllowedPattern"].(string)
		if !ok {
			tb.Fatalf("String parameter without AllowedPattern: %v", p)
		}
		// CloudFormation matches the whole value (Java's String.matches).
		re, err := regexp.Compile(`^(?:` + pattern + `)$`)
		if err != nil {
			tb.Fatalf("AllowedPattern %q: %v", pattern, err)
		}
		return re.MatchString
	}
	tb.Fatalf("parameter of type %v", p["Type"])
	return nil
}

// statements returns the function's policy statements. Every entry of
// Policies must be an inline policy document: no managed policy names and
// no SAM policy templates, so that this test sees every grant.
func statements(tb testing.TB, s *stack, fn *serverless.Function) []map[string]any {
	tb.Helper()
	raw := asSlice(asMap(asMap(asMap(s.Raw["Resources"])[functionID])["Properties"])["Policies"])
	for i, p := range raw {
		if _, ok := asMap(p)["Statement"]; !ok {
			tb.Fatalf("Policies[%d] is %v, not a policy document with explicit statements", i, p)
		}
	}
	if fn.Policies == nil || fn.Policies.IAMPolicyDocumentArray == nil || len(*fn.Policies.IAMPolicyDocumentArray) != len(raw) {
		tb.Fatal("goformation did not read Policies as a list of policy documents")
	}
	var out []map[string]any
	for _, doc := range *fn.Policies.IAMPolicyDocumentArray {
		for _, st := range doc.Statement {
			out = append(out, asMap(st))
		}
	}
	return out
}

func TestPolicies(t *testing.T) {
	for _, tc := range []struct{ createBus, discover, idle string }{
		{"false", "false", "0"}, {"true", "false", "0"}, {"false", "true", "0"}, {"false", "false", "30"}, {"true", "true", "1"},
	} {
		createBus := tc.createBus
		t.Run("CreateEventBus="+createBus+",Discover="+tc.discover+",IdleMinutes="+tc.idle, func(t *testing.T) {
			params := map[string]any{"CreateEventBus": createBus, "Discover": tc.discover, "IdleMinutes": tc.idle}
			if createBus == "true" {
				params["EventBusName"] = "sessionwatch"
			}
			s := deploy(t, params)
			busArn := map[string]string{
				"false": "arn:aws:events:us-east-1:123456789012:event-bus/default",
				"true":  "${EventBus.Arn}",
			}[createBus]

			granted := map[string][]string{}
			for i, st := range statements(t, s, function(t, s)) {
				for _, key := range []string{"NotAction", "NotResource", "NotPrincipal"} {
					if _, ok := st[key]; ok {
						t.Errorf("statement %d uses %s", i, key)
					}
				}
				if st["Effect"] != "Allow" {
					t.Errorf("statement %d: Effect %v, want Allow", i, st["Effect"])
				}
				resources := strs(st["Resource"])
				if len(resources) == 0 {
					t.Errorf("statement %d has no Resource", i)
				}
				for _, r := range resources {
					listOnly := slices.Equal(strs(st["Action"]), []string{"glue:ListSessions"})
					if (r == "*" && !listOnly) || strings.HasSuffix(r, ":*") && strings.Count(r, ":") < 5 {
						t.Errorf("statement %d grants %v on %q", i, st["Action"], r)
					}
				}
				for _, a := range strs(st["Action"]) {
					want, ok := grants[a]
					if !ok {
						t.Errorf("statement %d grants %s, which the code never calls", i, a)
						continue
					}
					if a == "events:PutEvents" {
						want = busArn
					}
					if !slices.Equal(resources, []string{want}) {
						t.Errorf("%s granted on %v, want only %s", a, resources, want)
					}
					granted[a] = append(granted[a], resources...)
				}
			}
			for a := range grants {
				_, ok := granted[a]
				switch a {
				case "glue:ListSessions":
					if ok != (tc.discover == "true") {
						t.Errorf("glue:ListSessions granted: %v, want only when Discover is true", ok)
					}
				case "glue:ListStatements":
					if ok != (tc.idle != "0") {
						t.Errorf("glue:ListStatements granted: %v, want only when IdleMinutes is not 0", ok)
					}
				default:
					if !ok {
						t.Errorf("%s is not granted: the code calls it", a)
					}
				}
			}
		})
	}
}

func TestTable(t *testing.T) {
	s := deploy(t, nil)
	tbl, err := s.GetDynamoDBTableWithName("SnapshotTable")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"BillingMode", aws.ToString(tbl.BillingMode), "PAY_PER_REQUEST"},
		{"TTL", tbl.TimeToLiveSpecification != nil && tbl.TimeToLiveSpecification.Enabled &&
			aws.ToString(tbl.TimeToLiveSpecification.AttributeName) == "ExpiresAt", true},
		{"SSE", tbl.SSESpecification != nil && tbl.SSESpecification.SSEEnabled, true},
		{"PITR", tbl.PointInTimeRecoverySpecification != nil &&
			aws.ToBool(tbl.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled), true},
		{"DeletionPolicy", tbl.AWSCloudFormationDeletionPolicy, policies.DeletionPolicy("Retain")},
		{"UpdateReplacePolicy", tbl.AWSCloudFormationUpdateReplacePolicy, policies.UpdateReplacePolicy("Retain")},
		{"no local indexes", len(tbl.LocalSecondaryIndexes), 0},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v, want %v", c.got, c.want)
			}
		})
	}

	// The keys and the index are the code's (state.Schema): the key schema
	// is the first version's, so that an upgrade updates the table in
	// place instead of replacing it and losing its state.
	t.Run("keys and index are state.Schema's", func(t *testing.T) {
		want := state.Schema("t")
		type attr struct{ Name, Type string }
		var gotAttrs, wantAttrs []attr
		for _, a := range tbl.AttributeDefinitions {
			gotAttrs = append(gotAttrs, attr{a.AttributeName, a.AttributeType})
		}
		for _, a := range want.AttributeDefinitions {
			wantAttrs = append(wantAttrs, attr{*a.AttributeName, string(a.AttributeType)})
		}
		if !slices.Equal(gotAttrs, wantAttrs) {
			t.Errorf("AttributeDefinitions: got %v, want %v", gotAttrs, wantAttrs)
		}
		keys := func(ks []string) string { return strings.Join(ks, ",") }
		var gotKeys, wantKeys []string
		for _, k := range tbl.KeySchema {
			gotKeys = append(gotKeys, k.AttributeName+" "+k.KeyType)
		}
		for _, k := range want.KeySchema {
			wantKeys = append(wantKeys, *k.AttributeName+" "+string(k.KeyType))
		}
		if keys(gotKeys) != keys(wantKeys) || keys(gotKeys) != "SessionId HASH" {
			t.Errorf("KeySchema: got %v, want %v (the first version's)", gotKeys, wantKeys)
		}
		if len(tbl.GlobalSecondaryIndexes) != len(want.GlobalSecondaryIndexes) {
			t.Fatalf("indexes: got %d, want %d", len(tbl.GlobalSecondaryIndexes), len(want.GlobalSecondaryIndexes))
		}
		for i, w := range want.GlobalSecondaryIndexes {
			g := tbl.GlobalSecondaryIndexes[i]
			var gk, wk []string
			for _, k := range g.KeySchema {
				gk = append(gk, k.AttributeName+" "+k.KeyType)
			}
			for _, k := range w.KeySchema {
				wk = append(wk, *k.AttributeName+" "+string(k.KeyType))
			}
			if g.IndexName != *w.IndexName || keys(gk) != keys(wk) || aws.ToString(g.Projection.ProjectionType) != string(w.Projection.ProjectionType) ||
				!slices.Equal(g.Projection.NonKeyAttributes, w.Projection.NonKeyAttributes) {
				t.Errorf("index %d: got %s %v %s %v, want %s %v %s %v", i, g.IndexName, gk, aws.ToString(g.Projection.ProjectionType), g.Projection.NonKeyAttributes,
					*w.IndexName, wk, w.Projection.ProjectionType, w.Projection.NonKeyAttributes)
			}
		}
	})

	t.Run("DeletionProtectionEnabled follows its parameter", func(t *testing.T) {
		for param, want := range map[string]bool{"true": true, "false": false} {
			tbl, err := deploy(t, map[string]any{"TableDeletionProtection": param}).GetDynamoDBTableWithName("SnapshotTable")
			if err != nil {
				t.Fatal(err)
			}
			if got := tbl.DeletionProtectionEnabled; got == nil || *got != want {
				t.Errorf("TableDeletionProtection=%s: got %v, want %v", param, got, want)
			}
		}
	})

	// The key and the TTL attribute are the names the store writes.
	t.Run("store item names", func(t *testing.T) {
		item, err := attributevalue.MarshalMap(state.Snapshot{SessionID: "s-1", Status: "FAILED", ExpiresAt: 1790000000})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := item["SessionId"].(*dbtypes.AttributeValueMemberS); !ok {
			t.Errorf("a snapshot item has no string SessionId: %v", item)
		}
		if _, ok := item["ExpiresAt"].(*dbtypes.AttributeValueMemberN); !ok {
			t.Errorf("a snapshot item has no number ExpiresAt for the TTL: %v", item)
		}
	})
}

func TestEventBus(t *testing.T) {
	cases := []struct {
		name    string
		params  map[string]any
		bus     string // EVENT_BUS_NAME and every rule's EventBusName
		created bool
	}{
		{"existing default bus", map[string]any{"EnableSampleRules": "true"}, "default", false},
		{"existing custom bus", map[string]any{"EnableSampleRules": "true", "EventBusName": "data-platform"}, "data-platform", false},
		{"created bus", map[string]any{"EnableSampleRules": "true", "CreateEventBus": "true", "EventBusName": "sessionwatch"}, "${EventBus}", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := deploy(t, c.params)
			if got := function(t, s).Environment.Variables["EVENT_BUS_NAME"]; got != c.bus {
				t.Errorf("EVENT_BUS_NAME = %q, want %q", got, c.bus)
			}
			bus, err := s.GetEventsEventBusWithName("EventBus")
			if c.created != (err == nil) {
				t.Errorf("EventBus created: %v, want %v", err == nil, c.created)
			}
			if c.created && bus != nil && bus.Name != c.params["EventBusName"] {
				t.Errorf("created bus is named %q, want %q", bus.Name, c.params["EventBusName"])
			}
			for _, id := range sampleRules {
				rule, err := s.GetEventsRuleWithName(id)
				if err != nil {
					t.Fatal(err)
				}
				if got := aws.ToString(rule.EventBusName); got != c.bus {
					t.Errorf("%s is on bus %q, want the bus sessionwatch publishes to, %q", id, got, c.bus)
				}
			}
		})
	}
}

// scheduleEvent returns the function's one Schedule event.
func scheduleEvent(tb testing.TB, s *stack) *serverless.Function_ScheduleEvent {
	tb.Helper()
	var found []*serverless.Function_ScheduleEvent
	for _, ev := range function(tb, s).Events {
		if ev.Type == "Schedule" && ev.Properties != nil && ev.Properties.ScheduleEvent != nil {
			found = append(found, ev.Properties.ScheduleEvent)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("function has %d Schedule events, want 1", len(found))
	}
	return found[0]
}

func TestSchedule(t *testing.T) {
	schedule := scheduleEvent

	t.Run("defaults", func(t *testing.T) {
		s := deploy(t, nil)
		ev := schedule(t, s)
		if got, want := ev.Schedule, "rate(5 minutes)"; got != want {
			t.Errorf("Schedule = %q, want %q", got, want)
		}
		if ev.Input != nil {
			t.Errorf("Input = %q, want none: an empty ScheduleInput sends the scheduled event", *ev.Input)
		}
	})

	t.Run("ScheduleInput default parses", func(t *testing.T) {
		def := fmt.Sprint(asMap(asMap(deploy(t, nil).Raw["Parameters"])["ScheduleInput"])["Default"])
		if _, err := handler.ParseRequest([]byte(def)); err != nil {
			t.Errorf("ScheduleInput default %q: %v", def, err)
		}
	})

	t.Run("ScheduleInput becomes the Input", func(t *testing.T) {
		input := `{"discover": true, "tags": {"team": "data"}}`
		ev := schedule(t, deploy(t, map[string]any{"ScheduleInput": input}))
		if ev.Input == nil || *ev.Input != input {
			t.Fatalf("Input = %v, want %q", ev.Input, input)
		}
		if _, err := handler.ParseRequest([]byte(*ev.Input)); err != nil {
			t.Errorf("the handler rejects the schedule's Input: %v", err)
		}
	})
}

func TestFailureHandling(t *testing.T) {
	s := deploy(t, map[string]any{"AlarmEmail": "ops@example.com"})
	fn := function(t, s)

	t.Run("EventInvokeConfig", func(t *testing.T) {
		c := fn.EventInvokeConfig
		if c == nil || c.DestinationConfig == nil || c.DestinationConfig.OnFailure == nil {
			t.Fatal("no EventInvokeConfig with an OnFailure destination")
		}
		if got := aws.ToInt(c.MaximumRetryAttempts); got != 1 {
			t.Errorf("MaximumRetryAttempts = %d, want 1", got)
		}
		if got := c.DestinationConfig.OnFailure; aws.ToString(got.Type) != "SQS" || got.Destination != "${DeadLetterQueue.Arn}" {
			t.Errorf("OnFailure = %s %s, want SQS ${DeadLetterQueue.Arn}", aws.ToString(got.Type), got.Destination)
		}
	})

	t.Run("dead-letter queue encrypted", func(t *testing.T) {
		q, err := s.GetSQSQueueWithName("DeadLetterQueue")
		if err != nil {
			t.Fatal(err)
		}
		if !aws.ToBool(q.SqsManagedSseEnabled) && q.KmsMasterKeyId == nil {
			t.Error("the dead-letter queue is not encrypted")
		}
	})

	alarms := []struct {
		id, namespace, metric, dimension, value string
	}{
		{"DeadLetterAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${DeadLetterQueue.QueueName}"},
		{"ErrorsAlarm", "AWS/Lambda", "Errors", "FunctionName", "${" + functionID + "}"},
	}
	for _, a := range alarms {
		t.Run(a.id, func(t *testing.T) {
			al, err := s.GetCloudWatchAlarmWithName(a.id)
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(al.Namespace) != a.namespace || aws.ToString(al.MetricName) != a.metric {
				t.Errorf("metric %s/%s, want %s/%s", aws.ToString(al.Namespace), aws.ToString(al.MetricName), a.namespace, a.metric)
			}
			if len(al.Dimensions) != 1 || al.Dimensions[0].Name != a.dimension || al.Dimensions[0].Value != a.value {
				t.Errorf("dimensions %v, want %s=%s", al.Dimensions, a.dimension, a.value)
			}
			if al.ComparisonOperator != "GreaterThanThreshold" || al.Threshold == nil || *al.Threshold != 0 {
				t.Errorf("alarms on %s %v, want > 0", al.ComparisonOperator, al.Threshold)
			}
			if !slices.Contains(al.AlarmActions, "${AlarmTopic}") {
				t.Errorf("AlarmActions %v do not notify AlarmTopic", al.AlarmActions)
			}
		})
	}

	t.Run("AlarmEmail subscribes", func(t *testing.T) {
		sub, err := s.GetSNSSubscriptionWithName("AlarmEmailSubscription")
		if err != nil {
			t.Fatal(err)
		}
		if sub.Protocol != "email" || aws.ToString(sub.Endpoint) != "ops@example.com" || sub.TopicArn != "${AlarmTopic}" {
			t.Errorf("subscription %s %s to %s", sub.Protocol, aws.ToString(sub.Endpoint), sub.TopicArn)
		}
		if _, err := deploy(t, nil).GetSNSSubscriptionWithName("AlarmEmailSubscription"); err == nil {
			t.Error("an empty AlarmEmail still subscribes")
		}
	})
}

func TestSampleRules(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		s := deploy(t, nil)
		for _, id := range slices.Concat(sampleRules, []string{"SessionAlertTopic", "SessionAlertTopicPolicy", "SessionEmailTopic", "SessionEmailTopicPolicy", "AuditLogGroup"}) {
			if _, ok := s.Resolved[id]; ok {
				t.Errorf("%s is created without EnableSampleRules", id)
			}
		}
	})

	s := deploy(t, map[string]any{"EnableSampleRules": "true"})
	source := fmt.Sprint(s.Params["EventSource"])
	published := publishedEvents(t)
	// The chat notification and the plain text (see notify_test.go).
	notifying := []string{"${SessionAlertTopic}", "${SessionEmailTopic}"}

	rules := []struct {
		id      string
		pattern string
		targets []string
		matches []string // the events/published examples it matches
	}{
		{"FailedSessionsRule", `{"source":["` + source + `"],"detail-type":["Glue Session State Change"],"detail":{"status":["FAILED","TIMEOUT"]}}`,
			notifying, []string{"state-change.json"}},
		{"SessionErrorsRule", `{"source":["` + source + `"],"detail-type":["Glue Session Error"]}`,
			notifying, []string{"error.json"}},
		{"SessionAlertsRule", `{"source":["` + source + `"],"detail-type":["Glue Session Alert"],"detail":{"alert":["STUCK","IDLE","COST"]}}`,
			notifying, []string{"alert.json"}},
		{"AuditTrailRule", `{"source":["` + source + `"]}`,
			[]string{"${AuditLogGroup.Arn}"}, []string{"alert.json", "deleted.json", "error.json", "state-change.json"}},
	}
	if got := len(rules); got != len(sampleRules) {
		t.Fatalf("%d rules checked here, %d sample rules", got, len(sampleRules))
	}
	for _, r := range rules {
		t.Run(r.id, func(t *testing.T) {
			rule, err := s.GetEventsRuleWithName(r.id)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(rule.EventPattern)
			var want any
			if err := json.Unmarshal([]byte(r.pattern), &want); err != nil {
				t.Fatal(err)
			}
			wantJSON, _ := json.Marshal(want)
			if string(got) != string(wantJSON) {
				t.Errorf("EventPattern = %s, want %s", got, wantJSON)
			}
			var arns []string
			for _, tg := range rule.Targets {
				arns = append(arns, tg.Arn)
			}
			if !slices.Equal(arns, r.targets) {
				t.Errorf("Targets %v, want %v", arns, r.targets)
			}
			var matched []string
			for _, name := range slices.Sorted(maps.Keys(published)) {
				if matchPattern(asMap(rule.EventPattern), published[name]) {
					matched = append(matched, name)
				}
			}
			if !slices.Equal(matched, r.matches) {
				t.Errorf("matches the published examples %v, want %v", matched, r.matches)
			}
		})
	}

	t.Run("SessionAlertTopicPolicy", func(t *testing.T) {
		checkRulesOnlyPublish(t, s, "SessionAlertTopicPolicy", "SessionAlertTopic", []string{"FailedSessionsRule", "SessionErrorsRule", "SessionAlertsRule"})
	})

	t.Run("audit log group", func(t *testing.T) {
		lg, err := s.GetLogsLogGroupWithName("AuditLogGroup")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := aws.ToString(lg.LogGroupName), "/aws/events/"+testStack+"-sessionwatch-audit"; got != want {
			t.Errorf("LogGroupName = %q, want %q", got, want)
		}
		rp, err := s.GetLogsResourcePolicyWithName("AuditLogResourcePolicy")
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(rp.PolicyDocument), &doc); err != nil {
			t.Fatalf("PolicyDocument is not JSON: %v\n%s", err, rp.PolicyDocument)
		}
		st := asMap(asSlice(doc["Statement"])[0])
		if !slices.Contains(strs(asMap(st["Principal"])["Service"]), "events.amazonaws.com") {
			t.Errorf("Principal %v does not let EventBridge write", st["Principal"])
		}
		if got := strs(st["Resource"]); !slices.Equal(got, []string{"${AuditLogGroup.Arn}"}) {
			t.Errorf("Resource %v, want the audit log group only", got)
		}
	})
}

// sampleRules are the sample rules' logical ids (EnableSampleRules).
var sampleRules = []string{"FailedSessionsRule", "SessionErrorsRule", "SessionAlertsRule", "AuditTrailRule"}

func TestParametersAndOutputs(t *testing.T) {
	s := deploy(t, map[string]any{"EnableSampleRules": "true"})
	for name, p := range s.Parameters {
		t.Run("parameter "+name, func(t *testing.T) {
			if p.Description == nil || *p.Description == "" {
				t.Error("no Description")
			}
			if def := fmt.Sprint(p.Default); (def == "true" || def == "false") && len(p.AllowedValues) == 0 {
				t.Error("a boolean parameter without AllowedValues")
			}
		})
	}
	for _, name := range []string{
		"FunctionName", "FunctionArn", "SnapshotTableName", "EventBusName", "EventBusArn",
		"AlarmTopicArn", "SessionAlertTopicArn", "AuditLogGroupName", "SessionEmailTopicArn",
	} {
		t.Run("output "+name, func(t *testing.T) {
			if _, ok := s.Outputs[name]; !ok {
				t.Error("missing")
			}
		})
	}
}
