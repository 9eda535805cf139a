package templatetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

const (
	templatePath = "../../template.yaml"
	functionID   = "SessionWatchFunction"

	// The pseudo parameters a resolved template sees: AWS's documented
	// example account, and the stack name samconfig.toml deploys.
	testPartition = "aws"
	testRegion    = "us-east-1"
	testAccount   = "123456789012"
	testStack     = "sessionwatch"
)

// stack is template.yaml as CloudFormation would deploy it with one set of
// parameter values.
//
// goformation parses the SAM template (short-form tags included) into its
// typed model, but its own intrinsic processing is not enough here: it
// resolves a Ref or GetAtt to a resource as null, does not know
// AWS::Partition (so !Sub ARNs lose it), and with EvaluateConditions it
// replaces every resource that has a Condition by the condition's value.
// So the template is expanded with goformation (intrinsics.ProcessYAML with
// NoProcess), its intrinsics are resolved by resolver below (a Ref to a
// resource becomes "${Logical}", a GetAtt "${Logical.Attr}", resources and
// outputs whose Condition is false are dropped), and the result is parsed
// by goformation into its typed model.
type stack struct {
	// Template is goformation's typed model of the resolved template.
	*cloudformation.Template
	// Raw is the template with intrinsics in long form, unresolved.
	Raw map[string]any
	// Resolved holds the resolved resources, by logical id.
	Resolved map[string]map[string]any
	// LoggingConfig is the function's LoggingConfig, resolved. goformation
	// v7.14.9's serverless.Function has no LoggingConfig field and decodes
	// with DisallowUnknownFields, so it is taken out before parsing.
	LoggingConfig map[string]any
	// Params are the parameter values used.
	Params map[string]any
}

// deploy resolves template.yaml with its parameter defaults, overridden by
// params.
func deploy(tb testing.TB, params map[string]any) *stack {
	tb.Helper()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		tb.Fatal(err)
	}
	expanded, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		tb.Fatalf("expand %s: %v", templatePath, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(expanded, &raw); err != nil {
		tb.Fatal(err)
	}

	r := &resolver{
		params:     map[string]any{},
		mappings:   asMap(raw["Mappings"]),
		condExprs:  asMap(raw["Conditions"]),
		conds:      map[string]bool{},
		evaluating: map[string]bool{},
		resources:  map[string]map[string]any{},
	}
	for name, p := range asMap(raw["Parameters"]) {
		def, ok := asMap(p)["Default"]
		if !ok {
			tb.Fatalf("parameter %s has no Default: a test deploy cannot resolve it", name)
		}
		r.params[name] = def
	}
	for name, v := range params {
		p, ok := asMap(raw["Parameters"])[name]
		if !ok {
			tb.Fatalf("override of unknown parameter %s", name)
		}
		if allowed, ok := asMap(p)["AllowedValues"].([]any); ok && !slices.Contains(allowed, v) {
			tb.Fatalf("override %s=%v is not one of its AllowedValues %v", name, v, allowed)
		}
		r.params[name] = v
	}
	for id, res := range asMap(raw["Resources"]) {
		r.resources[id] = asMap(res)
	}

	resolved := map[string]map[string]any{}
	for id, res := range r.resources {
		if !r.exists(id) {
			continue
		}
		out := asMap(r.resolve(res))
		for _, dep := range dependsOn(out["DependsOn"]) {
			if !r.exists(dep) {
				r.fail("%s depends on %s, which this configuration does not create", id, dep)
			}
		}
		resolved[id] = out
	}
	outputs := map[string]any{}
	for name, o := range asMap(raw["Outputs"]) {
		if c, ok := asMap(o)["Condition"].(string); ok && !r.cond(c) {
			continue
		}
		outputs[name] = r.resolve(o)
	}
	if len(r.errs) > 0 {
		tb.Fatalf("resolve %s with %v:\n%s", templatePath, params, strings.Join(r.errs, "\n"))
	}

	s := &stack{Raw: raw, Resolved: resolved, Params: r.params}
	doc := maps.Clone(raw)
	doc["Resources"] = cloneResources(resolved)
	doc["Outputs"] = outputs
	fn := asMap(asMap(doc["Resources"])[functionID])
	props := asMap(fn["Properties"])
	s.LoggingConfig = asMap(props["LoggingConfig"])
	delete(props, "LoggingConfig")

	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	s.Template, err = goformation.ParseJSONWithOptions(b, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		tb.Fatalf("goformation cannot parse the resolved template: %v", err)
	}
	return s
}

// cloneResources copies the resolved resources deeply enough that taking
// LoggingConfig out does not change Resolved.
func cloneResources(in map[string]map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for id, res := range in {
		c := maps.Clone(res)
		if p, ok := c["Properties"].(map[string]any); ok {
			c["Properties"] = maps.Clone(p)
		}
		out[id] = c
	}
	return out
}

// noValue stands for AWS::NoValue while resolving: the property holding it
// is removed.
var noValue = &struct{ noValue bool }{}

var pseudoParams = map[string]any{
	"AWS::Partition": testPartition,
	"AWS::Region":    testRegion,
	"AWS::AccountId": testAccount,
	"AWS::StackName": testStack,
	"AWS::URLSuffix": "amazonaws.com",
}

// resolver resolves the intrinsic functions template.yaml uses, the way
// CloudFormation does for one set of parameter values, and reports any it
// cannot: an unknown Ref, a reference to a resource this configuration does
// not create, an unsupported function.
type resolver struct {
	params     map[string]any
	mappings   map[string]any
	condExprs  map[string]any
	conds      map[string]bool
	evaluating map[string]bool
	resources  map[string]map[string]any
	errs       []string
}

func (r *resolver) fail(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// cond evaluates the named condition.
func (r *resolver) cond(name string) bool {
	if v, ok := r.conds[name]; ok {
		return v
	}
	expr, ok := r.condExprs[name]
	if !ok {
		r.fail("unknown condition %q", name)
		return false
	}
	if r.evaluating[name] {
		r.fail("condition %q refers to itself", name)
		return false
	}
	r.evaluating[name] = true
	v, ok := r.resolve(expr).(bool)
	if !ok {
		r.fail("condition %q is not a boolean", name)
	}
	r.conds[name] = v
	return v
}

// exists tells whether the resource is created with these parameters.
func (r *resolver) exists(id string) bool {
	res, ok := r.resources[id]
	if !ok {
		return false
	}
	c, _ := res["Condition"].(string)
	return c == "" || r.cond(c)
}

func (r *resolver) ref(name string) any {
	if v, ok := pseudoParams[name]; ok {
		return v
	}
	if name == "AWS::NoValue" {
		return noValue
	}
	if v, ok := r.params[name]; ok {
		return v
	}
	if _, ok := r.resources[name]; ok {
		if !r.exists(name) {
			r.fail("Ref to %s, which this configuration does not create", name)
		}
		return "${" + name + "}"
	}
	r.fail("Ref to unknown %q", name)
	return nil
}

func (r *resolver) getAtt(id, attr string) any {
	if _, ok := r.resources[id]; !ok {
		r.fail("GetAtt on unknown resource %q", id)
	} else if !r.exists(id) {
		r.fail("GetAtt on %s, which this configuration does not create", id)
	}
	return "${" + id + "." + attr + "}"
}

func (r *resolver) resolve(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if x := r.resolve(e); x != noValue {
				out = append(out, x)
			}
		}
		return out
	case map[string]any:
		if len(v) == 1 {
			for name, arg := range v {
				if x, ok := r.intrinsic(name, arg); ok {
					return x
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			if x := r.resolve(e); x != noValue {
				out[k] = x
			}
		}
		return out
	}
	return v
}

func (r *resolver) intrinsic(name string, arg any) (any, bool) {
	args, _ := arg.([]any)
	switch name {
	case "Ref":
		s, _ := arg.(string)
		return r.ref(s), true
	case "Condition":
		s, _ := arg.(string)
		return r.cond(s), true
	case "Fn::GetAtt":
		var parts []string
		switch a := arg.(type) {
		case string:
			parts = strings.SplitN(a, ".", 2)
		case []any:
			for _, p := range a {
				parts = append(parts, fmt.Sprint(r.resolve(p)))
			}
		}
		if len(parts) != 2 {
			r.fail("malformed Fn::GetAtt %v", arg)
			return nil, true
		}
		return r.getAtt(parts[0], parts[1]), true
	case "Fn::Sub":
		return r.sub(arg), true
	case "Fn::If":
		if len(args) != 3 {
			r.fail("malformed Fn::If %v", arg)
			return nil, true
		}
		c, _ := args[0].(string)
		if r.cond(c) {
			return r.resolve(args[1]), true
		}
		return r.resolve(args[2]), true
	case "Fn::Equals":
		if len(args) != 2 {
			r.fail("malformed Fn::Equals %v", arg)
			return false, true
		}
		// CloudFormation compares the values as strings.
		return fmt.Sprint(r.resolve(args[0])) == fmt.Sprint(r.resolve(args[1])), true
	case "Fn::Not", "Fn::And", "Fn::Or":
		var bs []bool
		for _, a := range args {
			b, ok := r.resolve(a).(bool)
			if !ok {
				r.fail("%s of a non-boolean %v", name, a)
			}
			bs = append(bs, b)
		}
		switch {
		case name == "Fn::Not" && len(bs) == 1:
			return !bs[0], true
		case name == "Fn::And":
			return !slices.Contains(bs, false), true
		case name == "Fn::Or":
			return slices.Contains(bs, true), true
		}
		r.fail("malformed %s %v", name, arg)
		return false, true
	case "Fn::FindInMap":
		if len(args) != 3 {
			r.fail("malformed Fn::FindInMap %v", arg)
			return nil, true
		}
		var keys [3]string
		for i, a := range args {
			keys[i] = fmt.Sprint(r.resolve(a))
		}
		v, ok := asMap(asMap(r.mappings[keys[0]])[keys[1]])[keys[2]]
		if !ok {
			r.fail("Fn::FindInMap %v: no such entry in Mappings", keys)
		}
		return v, true
	case "Fn::Join":
		if len(args) != 2 {
			r.fail("malformed Fn::Join %v", arg)
			return nil, true
		}
		var parts []string
		for _, p := range asSlice(r.resolve(args[1])) {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, fmt.Sprint(args[0])), true
	}
	if strings.HasPrefix(name, "Fn::") {
		r.fail("%s is not supported by this test's resolver", name)
		return nil, true
	}
	return nil, false
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r *resolver) sub(arg any) string {
	var text string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		text = a
	case []any:
		if len(a) == 2 {
			text, _ = a[0].(string)
			vars = asMap(r.resolve(a[1]))
		}
	}
	return subVariable.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		if literal, ok := strings.CutPrefix(name, "!"); ok {
			return "${" + literal + "}"
		}
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		if id, attr, ok := strings.Cut(name, "."); ok {
			return fmt.Sprint(r.getAtt(id, attr))
		}
		return fmt.Sprint(r.ref(name))
	})
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asSlice(v any) []any {
	switch v := v.(type) {
	case []any:
		return v
	case nil:
		return nil
	}
	return []any{v}
}

// strs reads a string or a list of strings (IAM's Action and Resource).
func strs(v any) []string {
	var out []string
	for _, e := range asSlice(v) {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

func dependsOn(v any) []string {
	return strs(v)
}
