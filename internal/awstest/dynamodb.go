package awstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"sessionwatch/state"
)

// Attribute names of the tables that [NewTable] creates.
const (
	TableKey = state.KeyAttribute // partition key, type S
	TableTTL = state.TTLAttribute // TTL attribute, epoch seconds (N)
)

// callTimeout bounds each helper's AWS calls.
const callTimeout = 30 * time.Second

// NewTable creates sessionwatch's table, as state.Schema defines it
// (partition key "SessionId" of type S, on-demand, the index state.IndexName),
// with a unique name (a fragment of tb.Name() and a random suffix), waits
// until it is ACTIVE, enables TTL on "ExpiresAt" as the template does and
// returns its name. The table is deleted in tb.Cleanup.
func NewTable(tb testing.TB, cfg aws.Config) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()
	name, drop, err := CreateTable(ctx, cfg, tb.Name())
	if err != nil {
		tb.Fatalf("awstest.NewTable: %v", err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("awstest: cleanup: %v", err)
		}
	})
	return name
}

// CreateTable is [NewTable] for callers without a testing.TB: it creates the
// same table, named after prefix (reduced to the characters a table name
// allows) and a random suffix, and returns its name and a function that
// deletes it (a table already gone is no error). Each AWS call is bounded by
// ctx and by 30 s. If CreateTable fails after the table was created, it
// deletes the table before returning the error.
func CreateTable(ctx context.Context, cfg aws.Config, prefix string) (name string, drop func() error, err error) {
	client := dynamodb.NewFromConfig(cfg)
	name = uniqueName(prefix, 40)
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()

	_, err = client.CreateTable(ctx, state.Schema(name))
	if err != nil {
		return "", nil, fmt.Errorf("CreateTable %s: %w", name, err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("DeleteTable %s: %w", name, err)
		}
		return nil
	}
	fail := func(err error) (string, func() error, error) {
		return "", nil, errors.Join(err, drop())
	}

	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, callTimeout); err != nil {
		return fail(fmt.Errorf("waiting for %s to be ACTIVE: %w", name, err))
	}

	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(TableTTL),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return fail(fmt.Errorf("UpdateTimeToLive %s: %w", name, err))
	}
	return name, drop, nil
}

// SessionKey is the key of a session's item in the snapshot table.
func SessionKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{TableKey: &types.AttributeValueMemberS{Value: id}}
}

// WantAPIError fails the test unless err is an AWS API error with the
// given code, as DynamoDB (or moto, or the fake) answered it.
func WantAPIError(tb testing.TB, err error, code string) {
	tb.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		tb.Fatalf("got error %v, want an API error %s", err, code)
	}
	if got := api.ErrorCode(); got != code {
		tb.Fatalf("got error code %s (%v), want %s", got, err, code)
	}
}
