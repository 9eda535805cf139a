package wiring_test

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"sessionwatch/internal/wiring"
)

// TestGlueOptionsAdaptive: the Glue client the bootstrap builds retries in
// the SDK's adaptive mode (client-side rate limiting when Glue throttles),
// with 8 attempts, as the README promises. Setting Options.RetryMode in a
// client option function is too late: the client has already resolved its
// Retryer from the config's mode (standard) when the functions run, so only
// RetryMaxAttempts takes effect.
func TestGlueOptionsAdaptive(t *testing.T) {
	c := glue.NewFromConfig(aws.Config{Region: "us-east-1"}, wiring.GlueOptions)
	r := c.Options().Retryer
	if got := r.MaxAttempts(); got != 8 {
		t.Errorf("MaxAttempts: got %d, want 8", got)
	}
	// The SDK wraps the retryer to apply RetryMaxAttempts; look inside.
	inner := any(r)
	for {
		v := reflect.ValueOf(inner)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			break
		}
		f := v.Elem().FieldByName("RetryerV2")
		if !f.IsValid() || !f.CanInterface() {
			break
		}
		inner = f.Interface()
	}
	if _, ok := inner.(*retry.AdaptiveMode); !ok {
		t.Errorf("Glue retryer: got %T, want *retry.AdaptiveMode", inner)
	}
}
