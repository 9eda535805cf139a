package emftest_test

import (
	"strings"
	"testing"

	"sessionwatch/internal/emftest"
)

// The specification's own example is valid; documents breaking the schema
// or the rules beside it are not.
func TestValidate(t *testing.T) {
	valid := `{"_aws": {"Timestamp": 1574109732004, "CloudWatchMetrics": [{"Namespace": "lambda-function-metrics",
		"Dimensions": [["functionVersion"]], "Metrics": [{"Name": "time", "Unit": "Milliseconds"}]}]},
		"functionVersion": "$LATEST", "time": 100, "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"}`
	d, err := emftest.Validate([]byte(valid))
	if err != nil {
		t.Fatalf("the specification's example: %v", err)
	}
	if d.Metrics["time"] != 100 || d.Units["time"] != "Milliseconds" || d.Namespace != "lambda-function-metrics" {
		t.Errorf("read %+v", d)
	}
	for name, doc := range map[string]string{
		"no _aws":            `{"time": 1}`,
		"no Timestamp":       strings.Replace(valid, `"Timestamp": 1574109732004, `, "", 1),
		"Timestamp a string": strings.Replace(valid, `1574109732004`, `"1574109732004"`, 1),
		"unknown unit":       strings.Replace(valid, `"Milliseconds"`, `"Millis"`, 1),
		"empty namespace":    strings.Replace(valid, `"lambda-function-metrics"`, `""`, 1),
		"no dimension sets":  strings.Replace(valid, `[["functionVersion"]]`, `[]`, 1),
		"metric missing":     strings.Replace(valid, `"time": 100, `, "", 1),
		"metric a string":    strings.Replace(valid, `"time": 100`, `"time": "100"`, 1),
		"dimension missing":  strings.Replace(valid, `"functionVersion": "$LATEST", `, "", 1),
		"dimension a number": strings.Replace(valid, `"functionVersion": "$LATEST"`, `"functionVersion": 1`, 1),
		"not JSON":           valid[:40],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := emftest.Validate([]byte(doc)); err == nil {
				t.Errorf("accepted %s", doc)
			}
		})
	}
}
