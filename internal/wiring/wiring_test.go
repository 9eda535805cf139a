package wiring_test

import (
	"math"
	"reflect"
	"runtime/debug"
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

func TestLimitMemory(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	tests := []struct {
		name string
		env  map[string]string
		want int64
	}{
		{"128 MB function", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}, 64 << 20},
		{"GOMEMLIMIT wins", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "GOMEMLIMIT": "100MiB"}, math.MaxInt64},
		{"outside Lambda", nil, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			wiring.LimitMemory(func(k string) string { return tt.env[k] })
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("memory limit: got %d, want %d", got, tt.want)
			}
		})
	}
}
