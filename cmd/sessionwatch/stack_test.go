package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"sessionwatch/internal/awstest"
)

// translate turns template.yaml into plain CloudFormation with the
// machine's aws-sam-translator (testdata/sam_translate.py). Without it the
// test is skipped, and fails under CI=true.
func translate(t *testing.T) map[string]any {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") != "" {
		fail = t.Fatalf
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		fail("python3 with aws-sam-translator 1.110.0 is needed to turn template.yaml into CloudFormation for moto: %v", err)
	}
	cmd := exec.Command(python, "testdata/sam_translate.py", "../../template.yaml")
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION="+awstest.Region)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		fail("aws-sam-translator (python3 testdata/sam_translate.py): %v: %s", err, stderr.String())
	}
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatalf("translated template: %v", err)
	}
	return tpl
}

// TestStackFromTemplate: the outputs and parameters --stack reads are the
// ones template.yaml declares, and each function variable the CLI takes
// from a parameter is set from that parameter.
func TestStackFromTemplate(t *testing.T) {
	tpl := translate(t)
	outputs, _ := tpl["Outputs"].(map[string]any)
	for _, key := range []string{outputTable, outputBus, outputFunction, outputNamespace} {
		if _, ok := outputs[key]; !ok {
			t.Errorf("template.yaml has no output %s, which --stack reads", key)
		}
	}
	params, _ := tpl["Parameters"].(map[string]any)
	if _, ok := params["ScheduleMinutes"]; !ok {
		if _, ok := params["ScheduleExpression"]; !ok {
			t.Error("template.yaml has neither ScheduleMinutes nor ScheduleExpression: --stack cannot tell the schedule")
		}
	}
	vars := functionVariables(t, tpl)
	for v, p := range stackVariables {
		got, set := vars[v]
		if !set {
			continue // the function takes the default; so does the CLI
		}
		if want := map[string]any{"Ref": p}; !reflect.DeepEqual(got, want) {
			t.Errorf("the function's %s is %v; --stack reads it from parameter %s", v, got, p)
		}
	}
	// The namespace output is the function's METRICS_NAMESPACE.
	ns := outputs[outputNamespace].(map[string]any)["Value"]
	want, set := vars["METRICS_NAMESPACE"]
	if !set {
		want = defaultNamespace
	}
	if !reflect.DeepEqual(ns, want) {
		t.Errorf("output %s is %v, the function's METRICS_NAMESPACE %v", outputNamespace, ns, want)
	}
}

func functionVariables(t *testing.T, tpl map[string]any) map[string]any {
	t.Helper()
	for _, r := range tpl["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == "AWS::Lambda::Function" {
			env, _ := res["Properties"].(map[string]any)["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			return vars
		}
	}
	t.Fatal("no AWS::Lambda::Function in the translated template")
	return nil
}

// TestStack: --stack against the stack template.yaml makes, created in
// moto from the translated template: track, list and status find the
// table, the function and the schedule without a variable set.
func TestStack(t *testing.T) {
	tpl := translate(t)
	cfg := motoCLI(t)
	noGlue(t)
	atTime(t, fixedNow)
	body, _ := json.Marshal(tpl)
	cf := cloudformation.NewFromConfig(cfg)
	name := fmt.Sprintf("sw-cli-%d", time.Now().UnixNano())
	ctx := context.Background()
	_, err := cf.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String(name), TemplateBody: aws.String(string(body)),
		Capabilities: []cftypes.Capability{cftypes.CapabilityCapabilityIam, cftypes.CapabilityCapabilityAutoExpand},
	})
	if err != nil {
		t.Fatalf("moto cannot create the translated stack: %v", err)
	}
	t.Cleanup(func() {
		_, _ = cf.DeleteStack(context.Background(), &cloudformation.DeleteStackInput{StackName: aws.String(name)})
	})
	err = cloudformation.NewStackCreateCompleteWaiter(cf, func(o *cloudformation.StackCreateCompleteWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, time.Second
	}).Wait(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)}, time.Minute)
	if err != nil {
		t.Fatalf("stack %s: %v", name, err)
	}
	st, err := describeStack(ctx, cf, name)
	if err != nil {
		t.Fatal(err)
	}
	table, fn := st.outputs[outputTable], st.outputs[outputFunction]
	if table == "" || fn == "" || st.scheduleMinutes != 5 {
		t.Fatalf("stack %s: table %q, function %q, schedule %d minutes; want both named and 5 minutes (rate(5 minutes))", name, table, fn, st.scheduleMinutes)
	}
	putRun(t, cloudwatch.NewFromConfig(cfg, motoCloudWatch), defaultNamespace, fn, triggerSchedule, at(3*time.Minute), quietRun())

	env := map[string]string{"SNAPSHOT_TABLE": "not-this-one"} // --stack wins over the environment
	if out, errOut, code := runCLI(t, env, "track", "--stack", name, "s-1,s-2"); code != 0 || !strings.Contains(out, "tracked 2 session(s)") {
		t.Fatalf("track --stack: exit %d, %q %q", code, out, errOut)
	}
	names := map[string]string{table: "TABLE", fn: "FUNCTION", name: "STACK"}
	out, errOut, code := runCLI(t, env, "list", "--stack", name)
	if code != 0 {
		t.Fatalf("list --stack: exit %d, %s", code, errOut)
	}
	golden(t, "list-stack", normalize(out, names))
	out, errOut, code = runCLI(t, env, "status", "--stack", name)
	if code != 0 {
		t.Errorf("status --stack: exit %d, %s", code, errOut)
	}
	golden(t, "status-stack", normalize(out, names))

	if _, errOut, code := runCLI(t, nil, "status", "--stack", name+"-missing"); code != 1 || !strings.Contains(errOut, "describe stack "+name+"-missing") {
		t.Errorf("status --stack of a missing stack: exit %d, %q; want 1 naming the stack", code, errOut)
	}
}
