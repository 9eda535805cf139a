// Package awstest holds helpers for integration tests that talk to AWS
// services through the real aws-sdk-go-v2 clients and wire protocols, with
// moto (https://github.com/getmoto/moto) standing in for AWS.
//
// A test gets a moto endpoint with [Endpoint], an [aws.Config] pointing at it
// with [Config], and then creates what it needs with [NewTable] (a DynamoDB
// table shaped like sessionwatch's state table) and [NewBus] (a custom
// EventBridge bus whose rules deliver matched events to SQS queues that the
// test reads back, as they are or rendered by an input transformer with
// [Bus.AddTransformedRule]). [CountCalls] counts the API calls that clients
// built from a config make.
//
// Every resource gets a unique name and is deleted in tb.Cleanup, so tests
// may run in parallel against the one moto server of the test binary; none of
// these helpers resets moto's state.
package awstest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the AWS region that [Config] sets.
const Region = "us-east-1"

// Config returns an aws.Config for the moto server at endpoint (as returned by
// [Endpoint]): region us-east-1, static credentials test/test and BaseEndpoint
// set to endpoint, so that every service client built from it with
// NewFromConfig talks to moto. Nothing is read from the environment or from
// shared config files (AWS_ENDPOINT_URL, AWS_PROFILE, ... are ignored).
// Retryer, RetryMaxAttempts and RetryMode are left unset, so each client uses
// the SDK's default retry behaviour for its service.
func Config(tb testing.TB, endpoint string) aws.Config {
	tb.Helper()
	if endpoint == "" {
		tb.Fatalf("awstest.Config: empty endpoint")
	}
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
	}
}

// uniqueName returns "<fragment>-<12 random hex digits>", where fragment is
// name reduced to the characters [A-Za-z0-9_-] (others become '-') and cut to
// max characters. The result is a valid DynamoDB table, EventBridge bus or
// rule, and SQS queue name as long as max <= 51.
func uniqueName(name string, max int) string {
	return fmt.Sprintf("%s-%012x", sanitize(name, max), rand.Uint64()&(1<<48-1))
}

func sanitize(name string, max int) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= max {
			break
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		s = "awstest"
	}
	return s
}
