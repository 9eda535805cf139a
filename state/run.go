package state

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Run is the table's one item about runs rather than sessions: the layout
// the table is in, and where the last run cut short by its deadline
// stopped, so that the next one goes on from there.
type Run struct {
	// Layout is the version of the table's layout (0: never migrated).
	Layout int `dynamodbav:"Layout,omitempty"`
	// Cursor is the last session id a run cut short reached, in id order:
	// the next run starts after it, and wraps around.
	Cursor string `dynamodbav:"Cursor,omitempty"`
	// Behind are ids that run reached but could not poll (their GetSession
	// was cut short): the next run polls them first. At most one per Glue
	// call in flight.
	Behind []string `dynamodbav:"Behind,stringset,omitempty"`
}

// ReadRun reads the run item; a table without one is at layout 0.
func (s *Store) ReadRun(ctx context.Context) (Run, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(RunKey), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return Run{}, fmt.Errorf("read the run item from %s: %w", s.table, err)
	}
	var run Run
	if err := attributevalue.UnmarshalMap(res.Item, &run); err != nil {
		return Run{}, fmt.Errorf("read the run item from %s: malformed item: %w", s.table, err)
	}
	return run, nil
}

// WriteRun replaces the run item.
func (s *Store) WriteRun(ctx context.Context, run Run) error {
	item, err := attributevalue.MarshalMap(run)
	if err == nil {
		item[KeyAttribute] = key(RunKey)[KeyAttribute]
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	}
	if err != nil {
		return fmt.Errorf("write the run item to %s: %w", s.table, err)
	}
	return nil
}
