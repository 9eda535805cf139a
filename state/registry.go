package state

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Shelf is what the table's index lists: the ids of the watched sessions
// (the registry), sorted, and the outbox, the events EventBridge has not
// accepted yet, in the order they were observed.
type Shelf struct {
	Watched []string
	Outbox  []Event
}

// ReadShelf reads the whole index, every page. The index is eventually
// consistent: an item written or deleted a moment ago may be missed or
// still listed (an outbox event then goes out twice, with one eventId).
func (s *Store) ReadShelf(ctx context.Context) (Shelf, error) {
	return s.readIndex(ctx, "", "read the registry and outbox")
}

// ReadOutbox reads the outbox only, every page: the part of the index
// before every session id, so that a run that polls one session does not
// read the whole registry.
func (s *Store) ReadOutbox(ctx context.Context) ([]Event, error) {
	shelf, err := s.readIndex(ctx, OutboxPrefix, "read the outbox")
	return shelf.Outbox, err
}

// readIndex reads the items of the index whose key starts with prefix
// (every item for "").
func (s *Store) readIndex(ctx context.Context, prefix, what string) (Shelf, error) {
	projection := append([]string{KeyAttribute}, outboxAttributes...)
	names := map[string]string{"#shelf": ShelfAttribute}
	for i, a := range projection {
		projection[i] = fmt.Sprintf("#a%d", i)
		names[projection[i]] = a
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexName),
		KeyConditionExpression:    aws.String("#shelf = :on"),
		ProjectionExpression:      aws.String(strings.Join(projection, ", ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":on": &dbtypes.AttributeValueMemberS{Value: OnShelf}},
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("#shelf = :on AND begins_with(#a0, :prefix)")
		in.ExpressionAttributeValues[":prefix"] = &dbtypes.AttributeValueMemberS{Value: prefix}
	}
	var shelf Shelf
	p := dynamodb.NewQueryPaginator(s.db, in)
	for page := 1; p.HasMorePages(); page++ {
		res, err := p.NextPage(ctx)
		if err != nil {
			return Shelf{}, fmt.Errorf("%s from %s (page %d): %w", what, s.table, page, err)
		}
		for _, item := range res.Items {
			id := keyOf(item)
			if !strings.HasPrefix(id, OutboxPrefix) {
				shelf.Watched = append(shelf.Watched, id)
				continue
			}
			ev, ok := outboxEvent(item)
			if !ok {
				// Not ours to send: it stays until someone looks at it.
				continue
			}
			shelf.Outbox = append(shelf.Outbox, *ev)
		}
	}
	sortEvents(shelf.Outbox)
	return shelf, nil
}

// outboxEvent reads an outbox item; false when it is not one this code
// wrote (hand-edited, or another version's).
func outboxEvent(item map[string]dbtypes.AttributeValue) (*Event, bool) {
	var ev Event
	if err := attributevalue.UnmarshalMap(item, &ev); err != nil || ev.EventID == "" {
		return nil, false
	}
	return &ev, true
}

// Track puts ids in the registry: each is watched from the next run on,
// even if it has no snapshot yet or its snapshot is finished (it is then
// polled once more). One update per id, Parallel at once.
func (s *Store) Track(ctx context.Context, ids []string) error {
	return each(ctx, s.Parallel, ids, func(ctx context.Context, id string) error {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.table,
			Key:                       key(id),
			UpdateExpression:          aws.String("SET #shelf = :on REMOVE #untracked, #ttl ADD #version :one"),
			ExpressionAttributeNames:  map[string]string{"#shelf": ShelfAttribute, "#untracked": "Untracked", "#ttl": TTLAttribute, "#version": "Version"},
			ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":on": &dbtypes.AttributeValueMemberS{Value: OnShelf}, ":one": number(1)},
		})
		if err != nil {
			return fmt.Errorf("track %s in %s: %w", id, s.table, err)
		}
		return nil
	})
}

// Untrack takes ids out of the registry at once; their snapshots expire
// at expiresAt. An id without a snapshot is left alone.
func (s *Store) Untrack(ctx context.Context, ids []string, expiresAt int64) error {
	return each(ctx, s.Parallel, ids, func(ctx context.Context, id string) error {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &s.table,
			Key:                       key(id),
			UpdateExpression:          aws.String("SET #untracked = :true, #ttl = :ttl REMOVE #shelf ADD #version :one"),
			ConditionExpression:       aws.String("attribute_exists(#key)"),
			ExpressionAttributeNames:  map[string]string{"#shelf": ShelfAttribute, "#untracked": "Untracked", "#ttl": TTLAttribute, "#version": "Version", "#key": KeyAttribute},
			ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":true": &dbtypes.AttributeValueMemberBOOL{Value: true}, ":ttl": number(expiresAt), ":one": number(1)},
		})
		if isConditionFailed(err) {
			return nil // never seen, never tracked: nothing to stop
		}
		if err != nil {
			return fmt.Errorf("untrack %s in %s: %w", id, s.table, err)
		}
		return nil
	})
}
