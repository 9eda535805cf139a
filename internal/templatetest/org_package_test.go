package templatetest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// spokeTemplate runs deploy/spoke.py (what make spoke runs after building
// the bootstrap) on template.yaml with a stand-in bootstrap, and returns the
// output directory and the bootstrap's bytes. The translator is
// aws-sam-translator 1.110.0 of the machine's pyenv Python 3.11.
func spokeTemplate(t *testing.T) (dir string, bootstrap []byte) {
	t.Helper()
	python := samPython(t)
	tmp := t.TempDir()
	// Not a Go binary: this test checks the packaging; the recipe that
	// builds the real arm64 bootstrap is checked in TestSpokeMakeTarget.
	bootstrap = []byte("#!/bin/sh\necho stand-in\n")
	if err := os.WriteFile(filepath.Join(tmp, "bootstrap"), bootstrap, 0o755); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(tmp, "out")
	cmd := exec.Command(python, "../../deploy/spoke.py", "--template", templatePath,
		"--bootstrap", filepath.Join(tmp, "bootstrap"), "--out", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("deploy/spoke.py: %v\n%s", err, out)
	}
	return dir, bootstrap
}

// samPython returns a python3 that imports samtranslator: the one on PATH,
// else the pyenv shims' (a system Python on PATH may lack it).
func samPython(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, p := range []string{"python3", pyenvShim("python3")} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, "-c", "import samtranslator").CombinedOutput()
		if err == nil {
			return path
		}
		tried = append(tried, fmt.Sprintf("%s: %v: %s", path, err, strings.TrimSpace(string(out))))
	}
	orgMissing(t, fmt.Sprintf("no python3 that imports samtranslator (aws-sam-translator 1.110.0 ships with this machine's pyenv Python 3.11; no registry reached here serves it); tried: %s", strings.Join(tried, "; ")))
	return ""
}

func TestSpokeMakeTarget(t *testing.T) {
	cmd := strings.Join(makeRecipe(t, "spoke"), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "-tags lambda.norpc", "./cmd/bootstrap",
		"deploy/spoke.py --template template.yaml --bootstrap $(SPOKE_DIR)/bootstrap --out $(SPOKE_DIR)"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("the spoke target's recipe lacks %q:\n%s", want, cmd)
		}
	}
}

func TestSpokePackage(t *testing.T) {
	dir, bootstrap := spokeTemplate(t)
	processedPath := filepath.Join(dir, "template.json")
	processed := orgRaw(t, processedPath)
	sam := deploy(t, nil).Raw

	t.Run("no Transform", func(t *testing.T) {
		if v, ok := processed["Transform"]; ok {
			t.Errorf("Transform %v: service-managed StackSets refuse it", v)
		}
		for id, res := range asMap(processed["Resources"]) {
			if typ := fmt.Sprint(asMap(res)["Type"]); strings.HasPrefix(typ, "AWS::Serverless::") {
				t.Errorf("%s is still %s", id, typ)
			}
		}
	})
	t.Run("cfn-lint", func(t *testing.T) { cfnLint(t, processedPath) })

	t.Run("code artifact", func(t *testing.T) {
		key := fmt.Sprint(asMap(asMap(processed["Parameters"])["CodeKey"])["Default"])
		data, err := os.ReadFile(filepath.Join(dir, filepath.Base(key)))
		if err != nil {
			t.Fatalf("CodeKey's default %q: %v", key, err)
		}
		sum := sha256.Sum256(data)
		if want := "sessionwatch/bootstrap-" + hex.EncodeToString(sum[:])[:16] + ".zip"; key != want {
			t.Errorf("CodeKey %q, want %q: the key names the content, so that a new build updates the function", key, want)
		}
		z, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if len(z.File) != 1 || z.File[0].Name != "bootstrap" {
			t.Fatalf("zip holds %v, want bootstrap alone (the template's Handler)", z.File)
		}
		f := z.File[0]
		if f.Mode().Perm() != 0o755 {
			t.Errorf("bootstrap mode %v, want 0755: Lambda runs it", f.Mode())
		}
		if !f.Modified.Equal(time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)) && f.Modified.Year() != 1980 {
			t.Errorf("entry time %v: not fixed, so the same binary would not give the same zip", f.Modified)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var got bytes.Buffer
		if _, err := got.ReadFrom(rc); err != nil || !bytes.Equal(got.Bytes(), bootstrap) {
			t.Errorf("zipped bootstrap differs from the one given (%v)", err)
		}
		fn := asMap(asMap(asMap(processed["Resources"])[functionID])["Properties"])
		want := map[string]any{"S3Bucket": map[string]any{"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"}, "S3Key": map[string]any{"Ref": "CodeKey"}}
		if !jsonEqual(fn["Code"], want) {
			t.Errorf("Code %v, want %v", fn["Code"], want)
		}
	})

	t.Run("same resources as the SAM template", func(t *testing.T) {
		compareProcessed(t.Errorf, sam, processed)
	})

	// The comparison is not blind: each change below, made to a copy of the
	// processed template, is reported.
	for _, c := range []struct {
		name   string
		change func(resources map[string]any)
	}{
		{"function setting", func(r map[string]any) { asMap(asMap(r[functionID])["Properties"])["Timeout"] = 900 }},
		{"table setting", func(r map[string]any) { asMap(asMap(r["SnapshotTable"])["Properties"])["BillingMode"] = "PROVISIONED" }},
		{"alarm removed", func(r map[string]any) { delete(r, "ErrorsAlarm") }},
		{"permission widened", func(r map[string]any) {
			role := asMap(asMap(r[functionID+"Role"])["Properties"])
			role["Policies"] = append(asSlice(role["Policies"]), map[string]any{"PolicyName": "extra",
				"PolicyDocument": map[string]any{"Statement": []any{map[string]any{"Effect": "Allow", "Action": "glue:*", "Resource": "*"}}}})
		}},
		{"schedule changed", func(r map[string]any) {
			asMap(asMap(r[functionID+"Poll"])["Properties"])["ScheduleExpression"] = "rate(1 minute)"
		}},
	} {
		t.Run("sees "+c.name, func(t *testing.T) {
			changed := normalize(processed).(map[string]any)
			c.change(asMap(changed["Resources"]))
			var found []string
			compareProcessed(func(f string, a ...any) { found = append(found, fmt.Sprintf(f, a...)) }, sam, changed)
			if len(found) == 0 {
				t.Error("the comparison reports nothing")
			}
		})
	}
}

// samOnly are the properties of AWS::Serverless::Function that the
// transform turns into other resources or into Code and Role: everything
// else must reach the AWS::Lambda::Function unchanged.
var samOnly = []string{
	"AssumeRolePolicyDocument", "AutoPublishAlias", "AutoPublishAliasAllProperties", "AutoPublishCodeSha256",
	"CodeUri", "DeadLetterQueue", "DeploymentPreference", "EventInvokeConfig", "Events", "FunctionUrlConfig",
	"InlineCode", "PermissionsBoundary", "Policies", "PropagateTags", "ProvisionedConcurrencyConfig", "Role",
	"RolePath", "Tags", "Tracing", "VersionDescription",
}

// compareProcessed proves that the processed template declares what the SAM
// template does, generically, by logical id and type, so that resources
// added to template.yaml later are compared without changing this test:
// every resource that is not a SAM one is copied unchanged; every
// AWS::Serverless::Function is an AWS::Lambda::Function with the same
// properties, a role granting its policy documents, its schedule and rule
// events, and its asynchronous invocation settings; every other SAM
// resource is the CloudFormation resource of the same logical id; and the
// parameters, conditions and outputs are all there.
func compareProcessed(errorf func(string, ...any), sam, processed map[string]any) {
	got := asMap(processed["Resources"])
	for _, id := range slices.Sorted(maps.Keys(asMap(sam["Resources"]))) {
		res := asMap(asMap(sam["Resources"])[id])
		typ := fmt.Sprint(res["Type"])
		out := asMap(got[id])
		if out == nil {
			errorf("%s (%s) is missing", id, typ)
			continue
		}
		if !jsonEqual(out["Condition"], res["Condition"]) {
			errorf("%s: Condition %v, SAM's %v", id, out["Condition"], res["Condition"])
		}
		switch {
		case typ == "AWS::Serverless::Function":
			compareFunction(errorf, id, res, processed)
		case strings.HasPrefix(typ, "AWS::Serverless::"):
			if strings.HasPrefix(fmt.Sprint(out["Type"]), "AWS::Serverless::") {
				errorf("%s is still %s", id, out["Type"])
			}
		default:
			if !jsonEqual(out, res) {
				errorf("%s (%s) changed:\nprocessed %v\nSAM       %v", id, typ, normalize(out), normalize(res))
			}
		}
	}
	for _, section := range []string{"Parameters", "Conditions", "Outputs", "Rules"} {
		for name, v := range asMap(sam[section]) {
			if w, ok := asMap(processed[section])[name]; !ok {
				errorf("%s %s is missing", section, name)
			} else if section != "Outputs" && !jsonEqual(v, w) {
				errorf("%s %s changed: %v, SAM's %v", section, name, w, v)
			}
		}
	}
}

func compareFunction(errorf func(string, ...any), id string, res, processed map[string]any) {
	resources := asMap(processed["Resources"])
	fn := asMap(resources[id])
	if fn["Type"] != "AWS::Lambda::Function" {
		errorf("%s is %v, want AWS::Lambda::Function", id, fn["Type"])
		return
	}
	props, fnProps := asMap(res["Properties"]), asMap(fn["Properties"])
	for k, v := range props {
		if slices.Contains(samOnly, k) {
			continue
		}
		if !jsonEqual(fnProps[k], v) {
			errorf("%s.%s: %v, SAM's %v", id, k, fnProps[k], v)
		}
	}

	// Permissions: each policy document of Policies, unchanged, in the
	// function's role; nothing granted beyond them but what SAM documents
	// (AWSLambdaBasicExecutionRole, and sqs:SendMessage on the OnFailure
	// destination).
	role := asMap(resources[id+"Role"])
	if role["Type"] != "AWS::IAM::Role" || !jsonEqual(fnProps["Role"], map[string]any{"Fn::GetAtt": []any{id + "Role", "Arn"}}) {
		errorf("%s's role: %v, Role %v", id, role["Type"], fnProps["Role"])
	}
	var docs []any
	for _, p := range asSlice(asMap(role["Properties"])["Policies"]) {
		docs = append(docs, asMap(p)["PolicyDocument"])
	}
	for i, doc := range asSlice(props["Policies"]) {
		if !slices.ContainsFunc(docs, func(d any) bool { return jsonEqual(d, doc) }) {
			errorf("%s: Policies[%d] is in no policy of %sRole", id, i, id)
		}
	}
	onFailure := asMap(asMap(asMap(props["EventInvokeConfig"])["DestinationConfig"])["OnFailure"])["Destination"]
	for _, d := range docs {
		if slices.ContainsFunc(asSlice(props["Policies"]), func(p any) bool { return jsonEqual(p, d) }) {
			continue
		}
		sts := asSlice(asMap(d)["Statement"])
		if len(sts) != 1 || asMap(sts[0])["Action"] != "sqs:SendMessage" || !jsonEqual(asMap(sts[0])["Resource"], onFailure) {
			errorf("%sRole grants %v, which the SAM template does not", id, d)
		}
	}
	managed := asSlice(asMap(role["Properties"])["ManagedPolicyArns"])
	basic := map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
	if len(managed) != 1 || !jsonEqual(managed[0], basic) {
		errorf("%sRole's managed policies %v, want %v alone", id, managed, basic)
	}

	if cfg := asMap(props["EventInvokeConfig"]); cfg != nil {
		out := asMap(asMap(resources[id+"EventInvokeConfig"])["Properties"])
		if !jsonEqual(out["MaximumRetryAttempts"], cfg["MaximumRetryAttempts"]) ||
			!jsonEqual(asMap(asMap(out["DestinationConfig"])["OnFailure"])["Destination"], onFailure) {
			errorf("%sEventInvokeConfig %v, SAM's %v", id, out, cfg)
		}
	}

	for name, ev := range asMap(props["Events"]) {
		ev := asMap(ev)
		evProps := asMap(ev["Properties"])
		rule := asMap(resources[id+name])
		switch ev["Type"] {
		case "Schedule", "EventBridgeRule", "CloudWatchEvent":
			rp := asMap(rule["Properties"])
			if rule["Type"] != "AWS::Events::Rule" {
				errorf("event %s: %s%s is %v, want an AWS::Events::Rule", name, id, name, rule["Type"])
				continue
			}
			if ev["Type"] == "Schedule" && !jsonEqual(rp["ScheduleExpression"], evProps["Schedule"]) {
				errorf("event %s: schedule %v, SAM's %v", name, rp["ScheduleExpression"], evProps["Schedule"])
			}
			if ev["Type"] != "Schedule" && !jsonEqual(rp["EventPattern"], evProps["Pattern"]) {
				errorf("event %s: pattern %v, SAM's %v", name, rp["EventPattern"], evProps["Pattern"])
			}
			targets := asSlice(rp["Targets"])
			if len(targets) != 1 || !jsonEqual(asMap(targets[0])["Arn"], map[string]any{"Fn::GetAtt": []any{id, "Arn"}}) {
				errorf("event %s: targets %v, want the function", name, targets)
				continue
			}
			for _, k := range []string{"Input", "InputPath", "InputTransformer"} {
				if !jsonEqual(asMap(targets[0])[k], evProps[k]) {
					errorf("event %s: target %s %v, SAM's %v", name, k, asMap(targets[0])[k], evProps[k])
				}
			}
			if perm := asMap(resources[id+name+"Permission"]); perm["Type"] != "AWS::Lambda::Permission" {
				errorf("event %s: no AWS::Lambda::Permission letting the rule invoke %s", name, id)
			}
		default:
			found := false
			for rid := range resources {
				found = found || strings.HasPrefix(rid, id+name)
			}
			if !found {
				errorf("event %s (%v): no resource %s%s...", name, ev["Type"], id, name)
			}
		}
	}
}
