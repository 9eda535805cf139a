package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// outboxItem is an event as the outbox keeps it: an item of its own, on
// the shelf, with no TTL, whatever happens to its session.
type outboxItem struct {
	Key   string `dynamodbav:"SessionId"`
	Shelf string `dynamodbav:"Shelf"`
	Event
}

// Keep puts events in the outbox, one item each (Parallel at once): a
// later run sends them, whether or not their sessions are still watched.
// Keeping an event twice keeps it once.
func (s *Store) Keep(ctx context.Context, events []Event) error {
	return each(ctx, s.Parallel, events, func(ctx context.Context, ev Event) error {
		if ev.EventID == "" || ev.SessionID == "" {
			return fmt.Errorf("keep an event in the outbox of %s: it has no eventId or no session", s.table)
		}
		item, err := attributevalue.MarshalMap(outboxItem{Key: OutboxPrefix + ev.EventID, Shelf: OnShelf, Event: ev})
		if err == nil {
			_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
		}
		if err != nil {
			return fmt.Errorf("keep event %s of %s in the outbox of %s: %w", ev.EventID, ev.SessionID, s.table, err)
		}
		return nil
	})
}

// Discard takes events EventBridge accepted out of the outbox.
func (s *Store) Discard(ctx context.Context, eventIDs []string) error {
	return each(ctx, s.Parallel, eventIDs, func(ctx context.Context, id string) error {
		_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(OutboxPrefix + id)})
		if err != nil {
			return fmt.Errorf("discard published event %s from %s: %w", id, s.table, err)
		}
		return nil
	})
}

// sortEvents puts events in the order they were observed, and a session's
// in sequence order.
func sortEvents(events []Event) {
	slices.SortStableFunc(events, func(a, b Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.SessionID, b.SessionID); c != 0 {
			return c
		}
		return cmp.Compare(a.Sequence, b.Sequence)
	})
}

func isConditionFailed(err error) bool {
	var ccf *dbtypes.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
