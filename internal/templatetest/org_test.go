package templatetest

// Tests of "Across an Organization" (README): the spoke's forwarding rule
// and role in template.yaml, the hub (deploy/hub.yaml, deploy/hub-account.yaml)
// and the transform-free spoke that make spoke writes for StackSets.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"
)

const (
	hubPath        = "../../deploy/hub.yaml"
	hubAccountPath = "../../deploy/hub-account.yaml"
	// A hub bus in another account and Region than the spoke's (AWS's
	// documented example accounts).
	testHubBusARN = "arn:aws:events:eu-west-1:111122223333:event-bus/sessionwatch-hub"
	testOrgID     = "o-a1b2c3d4e5"
)

// orgTemplate is a plain CloudFormation template resolved for one set of
// parameter values: Raw in long form, Resolved by the same resolver as
// template.yaml's (a Ref to a resource is "${Logical}", a GetAtt
// "${Logical.Attr}").
type orgTemplate struct {
	Raw      map[string]any
	Resolved map[string]map[string]any
	Params   map[string]any
}

// orgResolve reads and resolves the template at path with its parameter
// defaults, overridden by params (which must give every parameter without a
// Default).
func orgResolve(tb testing.TB, path string, params map[string]any) *orgTemplate {
	tb.Helper()
	raw := orgRaw(tb, path)
	r := &resolver{
		params:     map[string]any{},
		condExprs:  asMap(raw["Conditions"]),
		conds:      map[string]bool{},
		evaluating: map[string]bool{},
		resources:  map[string]map[string]any{},
	}
	for name, p := range asMap(raw["Parameters"]) {
		if def, ok := asMap(p)["Default"]; ok {
			r.params[name] = def
		}
	}
	for name, v := range params {
		if _, ok := asMap(raw["Parameters"])[name]; !ok {
			tb.Fatalf("%s: override of unknown parameter %s", path, name)
		}
		r.params[name] = v
	}
	for name := range asMap(raw["Parameters"]) {
		if _, ok := r.params[name]; !ok {
			tb.Fatalf("%s: parameter %s has no Default and no value", path, name)
		}
	}
	for id, res := range asMap(raw["Resources"]) {
		r.resources[id] = asMap(res)
	}
	resolved := map[string]map[string]any{}
	for id, res := range r.resources {
		if r.exists(id) {
			resolved[id] = asMap(r.resolve(res))
		}
	}
	if len(r.errs) > 0 {
		tb.Fatalf("resolve %s: %s", path, strings.Join(r.errs, "\n"))
	}
	return &orgTemplate{Raw: raw, Resolved: resolved, Params: r.params}
}

// orgRaw reads a template (YAML with short-form tags, or JSON) with its
// intrinsics in long form.
func orgRaw(tb testing.TB, path string) map[string]any {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return expandTemplate(tb, path, data)
}

// expandTemplate decodes a template, YAML with short-form tags (expanded
// by goformation, without resolving them) or JSON, into its long form.
func expandTemplate(tb testing.TB, path string, data []byte) map[string]any {
	tb.Helper()
	if !strings.HasSuffix(path, ".json") {
		var err error
		if data, err = intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true}); err != nil {
			tb.Fatalf("expand %s: %v", path, err)
		}
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return raw
}

// ofType returns the logical ids of the resources of one type, sorted.
func ofType(resources map[string]map[string]any, typ string) []string {
	var ids []string
	for id, res := range resources {
		if res["Type"] == typ {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// rawResource returns a resource of t as written, intrinsics unresolved.
func rawResource(t map[string]any, id string) map[string]any {
	return asMap(asMap(t["Resources"])[id])
}

// orgTool finds a command of the machine's pyenv Python 3.11 (cfn-lint,
// python3 with aws-sam-translator): on PATH, else behind the pyenv shims.
// Without it the test fails when CI is set, with a message naming what is
// missing, and is skipped otherwise.
func orgTool(tb testing.TB, name, hint string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := pyenvShim(name); p != "" {
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p
		}
	}
	orgMissing(tb, fmt.Sprintf("%s not found on PATH nor in the pyenv shims: %s", name, hint))
	return ""
}

// pyenvShim is the path of a command's pyenv shim ($PYENV_ROOT, else
// ~/.pyenv), or "" when there is no home to look in.
func pyenvShim(name string) string {
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		root = filepath.Join(home, ".pyenv")
	}
	return filepath.Join(root, "shims", name)
}

func orgMissing(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// cfnLint runs cfn-lint on the templates and fails with its findings.
func cfnLint(tb testing.TB, paths ...string) {
	tb.Helper()
	lint := orgTool(tb, "cfn-lint", "cfn-lint 1.51.0 ships with this machine's pyenv Python 3.11")
	out, err := exec.Command(lint, paths...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 127:
		orgMissing(tb, fmt.Sprintf("%s: %s", lint, out))
	case err != nil:
		tb.Errorf("cfn-lint %s: %v\n%s", strings.Join(paths, " "), err, out)
	}
}

// jsonEqual compares two decoded JSON values.
func jsonEqual(a, b any) bool {
	return reflect.DeepEqual(normalize(a), normalize(b))
}

// normalize makes a decoded template value comparable: numbers as JSON
// decodes them, and Fn::GetAtt in its list form (goformation keeps the
// string form "Logical.Attr" that !GetAtt Logical.Attr is short for).
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return getAttLists(out)
}

func getAttLists(v any) any {
	switch v := v.(type) {
	case []any:
		for i, e := range v {
			v[i] = getAttLists(e)
		}
	case map[string]any:
		if s, ok := v["Fn::GetAtt"].(string); ok && len(v) == 1 {
			if id, attr, ok := strings.Cut(s, "."); ok {
				return map[string]any{"Fn::GetAtt": []any{id, attr}}
			}
		}
		for k, e := range v {
			v[k] = getAttLists(e)
		}
	}
	return v
}

func TestHubForwarding(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		s := deploy(t, nil)
		for _, id := range []string{"HubForwardingRule", "HubForwardingRole"} {
			if _, ok := s.Resolved[id]; ok {
				t.Errorf("%s is created without HubEventBusArn", id)
			}
		}
	})

	for _, createBus := range []string{"false", "true"} {
		t.Run("CreateEventBus="+createBus, func(t *testing.T) {
			params := map[string]any{"HubEventBusArn": testHubBusARN, "CreateEventBus": createBus}
			if createBus == "true" {
				params["EventBusName"] = "sessionwatch"
			}
			s := deploy(t, params)
			rule := asMap(s.Resolved["HubForwardingRule"]["Properties"])
			if rule == nil {
				t.Fatal("no HubForwardingRule with HubEventBusArn set")
			}
			// On the bus the function publishes to, matching every event
			// of the function's source.
			if got, want := rule["EventBusName"], function(t, s).Environment.Variables["EVENT_BUS_NAME"]; got != want {
				t.Errorf("the rule is on bus %v, the function publishes to %v", got, want)
			}
			if want := map[string]any{"source": []any{s.Params["EventSource"]}}; !jsonEqual(rule["EventPattern"], want) {
				t.Errorf("EventPattern %v, want every event of the source: %v", rule["EventPattern"], want)
			}
			if rule["State"] != "ENABLED" {
				t.Errorf("State %v", rule["State"])
			}
		})
	}

	s := deploy(t, map[string]any{"HubEventBusArn": testHubBusARN})
	raw := asMap(rawResource(s.Raw, "HubForwardingRule")["Properties"])
	t.Run("target is exactly HubEventBusArn", func(t *testing.T) {
		targets := asSlice(raw["Targets"])
		if len(targets) != 1 {
			t.Fatalf("targets %v, want one: the hub bus", targets)
		}
		target := asMap(targets[0])
		if want := map[string]any{"Ref": "HubEventBusArn"}; !jsonEqual(target["Arn"], want) {
			t.Errorf("target Arn %v, want %v", target["Arn"], want)
		}
		resolvedTarget := asMap(asSlice(asMap(s.Resolved["HubForwardingRule"]["Properties"])["Targets"])[0])
		if got, want := resolvedTarget["RoleArn"], "${HubForwardingRole.Arn}"; got != want {
			t.Errorf("target RoleArn %v, want %v (a bus admitting an Organization needs one)", got, want)
		}
		if got := resolvedTarget["Arn"]; got != testHubBusARN {
			t.Errorf("resolved target Arn %v, want %s", got, testHubBusARN)
		}
		// A bus-to-bus target forwards the event as it is: no input
		// transformer may drop the session ARN in "resources".
		for _, k := range []string{"Input", "InputPath", "InputTransformer"} {
			if _, ok := target[k]; ok {
				t.Errorf("target has %s: the hub must receive the event unchanged", k)
			}
		}
	})

	t.Run("role grants events:PutEvents on that ARN only", func(t *testing.T) {
		role := asMap(rawResource(s.Raw, "HubForwardingRole")["Properties"])
		trust := asSlice(asMap(role["AssumeRolePolicyDocument"])["Statement"])
		if len(trust) != 1 || !jsonEqual(asMap(trust[0])["Principal"], map[string]any{"Service": "events.amazonaws.com"}) ||
			asMap(trust[0])["Action"] != "sts:AssumeRole" || asMap(trust[0])["Effect"] != "Allow" {
			t.Errorf("trust policy %v, want EventBridge alone to assume the role", trust)
		}
		for _, k := range []string{"ManagedPolicyArns", "PermissionsBoundary"} {
			if _, ok := role[k]; ok {
				t.Errorf("the role has %s: it must grant nothing but its inline policy", k)
			}
		}
		policies := asSlice(role["Policies"])
		if len(policies) != 1 {
			t.Fatalf("policies %v, want one", policies)
		}
		sts := asSlice(asMap(asMap(policies[0])["PolicyDocument"])["Statement"])
		if len(sts) != 1 {
			t.Fatalf("statements %v, want one", sts)
		}
		st := asMap(sts[0])
		if st["Effect"] != "Allow" || !slices.Equal(strs(st["Action"]), []string{"events:PutEvents"}) ||
			!jsonEqual(st["Resource"], map[string]any{"Ref": "HubEventBusArn"}) || st["Condition"] != nil {
			t.Errorf("statement %v, want Allow events:PutEvents on {Ref: HubEventBusArn}", st)
		}
		// Resolved: the ARN given, nothing wider.
		got := asMap(asSlice(asMap(asMap(asSlice(asMap(s.Resolved["HubForwardingRole"]["Properties"])["Policies"])[0])["PolicyDocument"])["Statement"])[0])["Resource"]
		if got != testHubBusARN {
			t.Errorf("resolved Resource %v, want %s", got, testHubBusARN)
		}
	})

	t.Run("HubEventBusArn constraint", func(t *testing.T) {
		accepts := cfnConstraint(t, asMap(asMap(s.Raw["Parameters"])["HubEventBusArn"]))
		for _, v := range []string{"", testHubBusARN,
			"arn:aws:events:us-east-1:123456789012:event-bus/default",
			"arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/hub",
			"arn:aws-cn:events:cn-north-1:123456789012:event-bus/hub.v2_x-y"} {
			if !accepts(v) {
				t.Errorf("refuses %q", v)
			}
		}
		for _, v := range []string{"sessionwatch-hub", " " + testHubBusARN, testHubBusARN + " ",
			"arn:aws:events:eu-west-1:1111222233:event-bus/hub",
			"arn:aws:events:eu-west-1:111122223333:rule/hub/r",
			"arn:aws:sqs:eu-west-1:111122223333:event-bus/hub",
			"arn:aws:events:eu-west-1:111122223333:event-bus/",
			"arn:aws:events::111122223333:event-bus/hub"} {
			if accepts(v) {
				t.Errorf("accepts %q", v)
			}
		}
	})
}

func TestHubTemplate(t *testing.T) {
	t.Run("cfn-lint", func(t *testing.T) { cfnLint(t, hubPath, hubAccountPath) })

	hub := orgResolve(t, hubPath, map[string]any{"OrganizationId": testOrgID})
	busARN := "${HubEventBus.Arn}"

	t.Run("bus policy admits the Organization only", func(t *testing.T) {
		for _, id := range ofType(hub.Resolved, "AWS::Events::EventBus") {
			if _, ok := asMap(hub.Resolved[id]["Properties"])["Policy"]; ok {
				t.Errorf("%s has an inline Policy beside HubEventBusPolicy", id)
			}
		}
		policies := ofType(hub.Resolved, "AWS::Events::EventBusPolicy")
		if !slices.Equal(policies, []string{"HubEventBusPolicy"}) {
			t.Fatalf("bus policies %v, want HubEventBusPolicy alone", policies)
		}
		p := asMap(hub.Resolved["HubEventBusPolicy"]["Properties"])
		if p["EventBusName"] != "${HubEventBus}" {
			t.Errorf("EventBusName %v", p["EventBusName"])
		}
		st := asMap(p["Statement"])
		want := map[string]any{
			"Effect":    "Allow",
			"Principal": "*",
			"Action":    "events:PutEvents",
			"Resource":  busARN,
			"Condition": map[string]any{"StringEquals": map[string]any{"aws:PrincipalOrgID": testOrgID}},
		}
		if !jsonEqual(st, want) {
			t.Errorf("statement %v\nwant %v", st, want)
		}
		rawCond := asMap(asMap(asMap(asMap(rawResource(hub.Raw, "HubEventBusPolicy")["Properties"])["Statement"])["Condition"])["StringEquals"])
		if !jsonEqual(rawCond["aws:PrincipalOrgID"], map[string]any{"Ref": "OrganizationId"}) {
			t.Errorf("aws:PrincipalOrgID is %v, want the OrganizationId parameter", rawCond["aws:PrincipalOrgID"])
		}
		accepts := cfnConstraint(t, asMap(asMap(hub.Raw["Parameters"])["OrganizationId"]))
		if !accepts(testOrgID) || accepts("") || accepts("123456789012") || accepts("o-") {
			t.Error("OrganizationId's AllowedPattern does not take exactly organization ids")
		}
	})

	t.Run("archive of every event", func(t *testing.T) {
		archives := ofType(hub.Resolved, "AWS::Events::Archive")
		if len(archives) != 1 {
			t.Fatalf("archives %v, want one", archives)
		}
		a := asMap(hub.Resolved[archives[0]]["Properties"])
		if a["SourceArn"] != busARN {
			t.Errorf("SourceArn %v, want the hub bus", a["SourceArn"])
		}
		if !jsonEqual(a["EventPattern"], map[string]any{"source": []any{hub.Params["EventSource"]}}) {
			t.Errorf("EventPattern %v, want every sessionwatch event", a["EventPattern"])
		}
		rawDays := asMap(rawResource(hub.Raw, archives[0])["Properties"])["RetentionDays"]
		if !jsonEqual(rawDays, map[string]any{"Ref": "ArchiveRetentionDays"}) {
			t.Errorf("RetentionDays %v, want the ArchiveRetentionDays parameter", rawDays)
		}
	})

	t.Run("central copies of the sample rules", func(t *testing.T) {
		spoke := deploy(t, map[string]any{"EnableSampleRules": "true"})
		for _, id := range []string{"FailedSessionsRule", "SessionErrorsRule", "SessionAlertsRule"} {
			got := asMap(rawResource(hub.Raw, id)["Properties"])
			want := asMap(rawResource(spoke.Raw, id)["Properties"])
			if got == nil {
				t.Errorf("hub has no %s", id)
				continue
			}
			if !jsonEqual(got["EventPattern"], want["EventPattern"]) {
				t.Errorf("%s pattern %v, the spoke's is %v", id, got["EventPattern"], want["EventPattern"])
			}
			targets := asSlice(got["Targets"])
			if len(targets) != 1 || !jsonEqual(asMap(targets[0])["Arn"], map[string]any{"Ref": "PlatformTopic"}) {
				t.Errorf("%s targets %v, want the platform topic", id, targets)
			}
		}
		for _, id := range ofType(hub.Resolved, "AWS::Events::Rule") {
			if bus := asMap(hub.Resolved[id]["Properties"])["EventBusName"]; bus != "${HubEventBus}" {
				t.Errorf("%s is on bus %v, not the hub bus", id, bus)
			}
		}
	})

	t.Run("dashboard shows every rule", func(t *testing.T) {
		dashboards := ofType(hub.Resolved, "AWS::CloudWatch::Dashboard")
		if len(dashboards) != 1 {
			t.Fatalf("dashboards %v, want one", dashboards)
		}
		body := fmt.Sprint(asMap(hub.Resolved[dashboards[0]]["Properties"])["DashboardBody"])
		var d struct {
			Widgets []struct {
				Properties struct {
					Metrics [][]any `json:"metrics"`
				} `json:"properties"`
			} `json:"widgets"`
		}
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("DashboardBody is not JSON: %v\n%s", err, body)
		}
		shown := map[string]bool{}
		var searches []string
		for _, w := range d.Widgets {
			for _, m := range w.Properties.Metrics {
				if len(m) == 1 {
					searches = append(searches, fmt.Sprint(asMap(m[0])["expression"]))
					continue
				}
				if len(m) < 7 || m[0] != "AWS/Events" || m[2] != "EventBusName" || m[3] != "${HubEventBus}" || m[4] != "RuleName" {
					t.Errorf("metric %v is not an AWS/Events metric of a hub rule", m)
					continue
				}
				if !slices.Contains([]any{"MatchedEvents", "Invocations", "FailedInvocations"}, m[1]) {
					t.Errorf("metric %v: unexpected metric name", m)
				}
				shown[fmt.Sprint(m[5])] = true
			}
		}
		names := map[string]bool{}
		for _, id := range ofType(hub.Resolved, "AWS::Events::Rule") {
			name := fmt.Sprint(asMap(hub.Resolved[id]["Properties"])["Name"])
			names[name] = true
			if !shown[name] {
				t.Errorf("rule %s (%s) is on no graph", id, name)
			}
			if slices.Contains(nameTokens(name), "account") {
				t.Errorf("rule %s's name %q holds the token account, which the by-account graph reserves", id, name)
			}
		}
		for name := range shown {
			if !names[name] {
				t.Errorf("the dashboard graphs rule %s, which the hub does not create", name)
			}
		}
		// The by-account graph finds deploy/hub-account.yaml's rules.
		acct := orgResolve(t, hubAccountPath, map[string]any{"AccountId": testAccount})
		rule := asMap(acct.Resolved["AccountRule"]["Properties"])
		if len(searches) != 1 || !strings.Contains(searches[0], `EventBusName="${HubEventBus}"`) || !strings.Contains(searches[0], ` account'`) {
			t.Errorf("by-account SEARCH %q does not look for the token account on the hub bus", searches)
		}
		if !slices.Contains(nameTokens(fmt.Sprint(rule["Name"])), "account") || rule["EventBusName"] != hub.Params["EventBusName"] {
			t.Errorf("hub-account.yaml's rule %v on %v: not found by the by-account graph", rule["Name"], rule["EventBusName"])
		}
		if want := map[string]any{"source": []any{"sessionwatch"}, "account": []any{testAccount}}; !jsonEqual(rule["EventPattern"], want) {
			t.Errorf("hub-account.yaml's pattern %v, want %v", rule["EventPattern"], want)
		}
	})
}

// nameTokens splits a name as CloudWatch's SEARCH does: on every character
// that is not a letter or a digit.
func nameTokens(name string) []string {
	return regexp.MustCompile(`[^A-Za-z0-9]+`).Split(name, -1)
}
