// Command bootstrap is the sessionwatch Lambda function: it reads the
// configuration and builds the AWS clients once at cold start, then serves
// invocations.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"sessionwatch/internal/wiring"
)

func main() {
	wiring.LimitMemory(os.Getenv)
	logger := lambdacontext.NewLogger()
	app, err := wiring.FromEnv(context.Background(), os.LookupEnv, logger)
	if err != nil {
		logger.Error("sessionwatch cannot start", "error", err)
		fmt.Fprintln(os.Stderr, "sessionwatch:", err)
		os.Exit(1)
	}
	// Each run's metrics go to stdout beside the logger's lines: Lambda
	// sends both to the function's log group, where CloudWatch extracts the
	// embedded metric format documents.
	app.Handler.Metrics = os.Stdout
	lambda.Start(app.Handler)
}
