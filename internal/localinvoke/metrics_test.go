package localinvoke_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"sessionwatch/internal/emftest"
	"sessionwatch/internal/localinvoke"
)

// settledOutput returns the output of the emulator and the function once
// it holds the lines of the given number of invocations (their END lines)
// and EMF documents, or after 10 s: the emulator relays what the function
// writes as it comes, and may answer an invoke before the function's last
// lines reach the output.
func settledOutput(f *localinvoke.Function, invocations, docs int) string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := f.Output()
		emf := 0
		for line := range strings.Lines(out) {
			if emftest.IsEMF(line) {
				emf++
			}
		}
		if (strings.Count(out, "END RequestId:") >= invocations && emf >= docs) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// invocationLogs splits the output of the emulator and the function into
// the function's lines of each invocation: the JSON objects written
// between the emulator's START and END lines of one request, and the line
// the Lambda runtime writes for an invocation that returned an error (a
// timestamp, then {"errorMessage": …, "errorType": …}).
func invocationLogs(out string) [][]string {
	var runs [][]string
	in := false
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.Contains(line, "START RequestId:"):
			runs, in = append(runs, nil), true
		case strings.Contains(line, "END RequestId:"):
			in = false
		case in && strings.HasPrefix(line, "{") && json.Valid([]byte(line)):
			runs[len(runs)-1] = append(runs[len(runs)-1], line)
		case in && strings.Contains(line, `{"errorMessage":`):
			runs[len(runs)-1] = append(runs[len(runs)-1], line)
		}
	}
	return runs
}

// checkRunLogs checks the function's log of a series of healthy runs
// (and rejected invocations): each run logs its summary line and its EMF
// document (none for a dry run), nothing else, and the document is valid;
// a rejected invocation logs one line, the runtime's report of the
// InputError it returned, and no document; the first run says
// ColdStart.
// runs is how many invocations ran a poll, invocations how many there
// were.
func checkRunLogs(t *testing.T, out string, runs, invocations int) {
	t.Helper()
	if got := len(invocationLogs(out)); got != invocations {
		t.Errorf("%d invocations in the output, want %d:\n%s", got, invocations, out)
	}
	docs := emftest.Documents(t, out)
	if len(docs) != runs {
		t.Errorf("%d EMF documents, want one for each of the %d runs", len(docs), runs)
	}
	for i, d := range docs {
		if cold := d.Members["ColdStart"] == true; cold != (i == 0) {
			t.Errorf("document %d: ColdStart %v, want it on the first run only", i, d.Members["ColdStart"])
		}
		if d.Members["FunctionName"] != "sessionwatch" {
			t.Errorf("document %d: FunctionName %v, want AWS_LAMBDA_FUNCTION_NAME", i, d.Members["FunctionName"])
		}
	}
	for i, lines := range invocationLogs(out) {
		var summary, emf, other int
		for _, line := range lines {
			switch {
			case emftest.IsEMF(line):
				emf++
			case strings.Contains(line, `"message":"run complete"`):
				summary++
			default:
				other++
			}
		}
		if len(lines) == 0 {
			t.Errorf("invocation %d logged nothing", i)
			continue
		}
		rejected := other == 1 && summary == 0 && emf == 0 && strings.Contains(lines[0], `"errorType":"InputError"`)
		dryRun := summary == 1 && strings.Contains(strings.Join(lines, "\n"), `"dryRun":true`)
		wantEMF := 1
		if dryRun {
			wantEMF = 0 // a dry run writes no document
		}
		if !rejected && (summary != 1 || emf != wantEMF || other != 0) {
			t.Errorf("invocation %d logged %d summary, %d EMF and %d other lines, want the summary and the document only:\n%s",
				i, summary, emf, other, strings.Join(lines, "\n"))
		}
	}
}

// checkRunMetrics checks the EMF document of one run under the emulator
// (none for a dry run) against the run's response.
func checkRunMetrics(t *testing.T, out string, res response, payload []byte) {
	t.Helper()
	var req struct {
		DryRun     bool   `json:"dryRun"`
		DetailType string `json:"detail-type"`
		Source     string `json:"source"`
	}
	_ = json.Unmarshal(payload, &req)
	docs := emftest.Documents(t, out)
	if req.DryRun {
		if len(docs) != 0 {
			t.Errorf("a dry run wrote %d EMF documents, want none", len(docs))
		}
		return
	}
	if len(docs) != 1 {
		t.Fatalf("%d EMF documents, want 1", len(docs))
	}
	d := docs[0]
	trigger := "request"
	switch {
	case req.Source == "aws.glue" && req.DetailType == "AWS API Call via CloudTrail":
		trigger = "cloudtrail"
	case req.DetailType != "":
		trigger = "schedule"
	}
	if d.Members["Trigger"] != trigger || d.Namespace != "sessionwatch" {
		t.Errorf("Trigger %v in namespace %q, want %s in sessionwatch", d.Members["Trigger"], d.Namespace, trigger)
	}
	for name, want := range map[string]int{
		"Polled": *res.Polled, "Published": *res.Published, "NotFound": len(*res.NotFound), "Errors": len(*res.Errors),
	} {
		if d.Metrics[name] != float64(want) {
			t.Errorf("%s = %v, want the response's %d", name, d.Metrics[name], want)
		}
	}
	// A CloudTrail record's run polls one session: the fleet gauges are
	// the full runs' alone.
	if _, ok := d.Metrics["SessionsReady"]; ok != (trigger != "cloudtrail") {
		t.Errorf("a %s run's document has fleet gauges %v, want %v: %s", trigger, ok, trigger != "cloudtrail", d.Raw)
	}
}
