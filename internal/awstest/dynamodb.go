package awstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the tables that [NewTable] creates.
const (
	TableKey = "SessionId" // partition key, type S
	TableTTL = "ExpiresAt" // TTL attribute, epoch seconds (N)
)

// callTimeout bounds each helper's AWS calls.
const callTimeout = 30 * time.Second

// NewTable creates a DynamoDB table with a unique name (a fragment of
// tb.Name() and a random suffix), partition key "SessionId" of type S and
// billing mode PAY_PER_REQUEST, waits until it is ACTIVE, enables TTL on
// "ExpiresAt" and returns its name. The table is deleted in tb.Cleanup.
func NewTable(tb testing.TB, cfg aws.Config) string {
	tb.Helper()
	client := dynamodb.NewFromConfig(cfg)
	name := uniqueName(tb.Name(), 40)
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()

	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(TableKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(TableKey), KeyType: types.KeyTypeHash},
		},
	})
	if err != nil {
		tb.Fatalf("awstest.NewTable: CreateTable %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &notFound) {
			tb.Errorf("awstest: cleanup: DeleteTable %s: %v", name, err)
		}
	})

	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, callTimeout); err != nil {
		tb.Fatalf("awstest.NewTable: waiting for %s to be ACTIVE: %v", name, err)
	}

	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(TableTTL),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		tb.Fatalf("awstest.NewTable: UpdateTimeToLive %s: %v", name, err)
	}
	return name
}
