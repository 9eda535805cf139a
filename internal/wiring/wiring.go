// Package wiring builds a handler from the environment: the configuration
// and the AWS SDK clients, once, for the Lambda bootstrap and the CLI alike.
package wiring

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"sessionwatch/handler"
	"sessionwatch/state"
)

// GlueOptions is how sessionwatch configures its Glue client: the SDK's
// adaptive retry mode, which slows the client down when Glue throttles
// (client-side rate limiting) instead of failing sessions, with 8 attempts
// and no retry quota, so a long throttled run keeps retrying rather than
// giving up on the sessions left. (Setting Options.RetryMode here would be
// too late: the client has already built its retryer.)
func GlueOptions(o *glue.Options) {
	o.Retryer = retry.NewAdaptiveMode(func(a *retry.AdaptiveModeOptions) {
		a.StandardOptions = append(a.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = 8
			so.RateLimiter = ratelimit.None
		})
	})
}

// App is everything a run needs, built once.
type App struct {
	Config  handler.Config
	Handler *handler.Handler
	Store   *state.Store
}

// FromEnv reads the configuration through lookup and builds the handler
// with SDK clients from the standard chain (region, credentials and
// endpoints such as AWS_ENDPOINT_URL_GLUE). Glue calls use the SDK's
// adaptive retry, so a throttled run slows down instead of failing.
func FromEnv(ctx context.Context, lookup handler.Lookup, logger *slog.Logger) (*App, error) {
	cfg, err := handler.ConfigFromEnv(lookup)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	g := glue.NewFromConfig(awsCfg, GlueOptions)
	store := state.NewStore(dynamodb.NewFromConfig(awsCfg), cfg.Table)
	eb := eventbridge.NewFromConfig(awsCfg)
	return &App{Config: cfg, Handler: handler.New(cfg, g, store, eb, logger), Store: store}, nil
}

// LimitMemory sets a soft memory limit at half the function's memory
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB) unless GOMEMLIMIT is set, so the
// garbage collector works harder before a large first run nears the
// function's limit. Outside Lambda it does nothing.
func LimitMemory(getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	mb, err := strconv.Atoi(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	if err != nil || mb <= 0 {
		return
	}
	debug.SetMemoryLimit(int64(mb) << 20 / 2)
}
