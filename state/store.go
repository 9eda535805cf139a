package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"
)

// DynamoDB is the part of *dynamodb.Client the store uses.
type DynamoDB interface {
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// BatchSize is the most keys BatchGetItem takes in one call.
const BatchSize = 100

// MaxLoadAttempts bounds the BatchGetItem calls for one chunk of keys that
// DynamoDB keeps leaving unprocessed (the SDK has already retried each
// throttled call); past it the chunk fails with a clear error instead of
// spinning until the Lambda deadline.
const MaxLoadAttempts = 8

// ErrConflict is returned by Save when another run committed the session
// first: the snapshot read is out of date.
var ErrConflict = errors.New("snapshot changed since it was read")

// Store keeps snapshots, the registry, the outbox and the run's cursor in
// one DynamoDB table (Schema describes it).
type Store struct {
	db    DynamoDB
	table string
	// Parallel is how many DynamoDB calls one operation keeps in flight.
	Parallel int
	// Backoff is how long to wait before retrying UnprocessedKeys, doubled
	// each time; the SDK already retries throttled calls.
	Backoff time.Duration
}

// NewStore returns a store on the named table.
func NewStore(db DynamoDB, table string) *Store {
	return &Store{db: db, table: table, Parallel: 16, Backoff: 50 * time.Millisecond}
}

// Table is the name of the store's table.
func (s *Store) Table() string { return s.table }

// Load reads the snapshots of ids, BatchSize keys a call with up to
// Parallel calls in flight, retrying unprocessed keys. Ids without a
// snapshot are absent from snaps; an item the code cannot read fails only
// its own id, in unreadable. err is set when the table could not be read.
func (s *Store) Load(ctx context.Context, ids []string) (snaps map[string]*Snapshot, unreadable map[string]error, err error) {
	snaps, unreadable = make(map[string]*Snapshot, len(ids)), map[string]error{}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.Parallel, 1))
	for chunk := range slices.Chunk(ids, BatchSize) {
		g.Go(func() error {
			items, err := s.batchGet(ctx, chunk)
			mu.Lock()
			defer mu.Unlock()
			for _, item := range items {
				id := keyOf(item)
				var snap Snapshot
				if err := attributevalue.UnmarshalMap(item, &snap); err != nil {
					unreadable[id] = fmt.Errorf("snapshot item of %s cannot be read (written by hand or by another version?): %w", id, err)
					continue
				}
				snaps[id] = &snap
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return snaps, unreadable, nil
}

// batchGet reads the items of ids (at most BatchSize), consistently.
func (s *Store) batchGet(ctx context.Context, ids []string) ([]map[string]dbtypes.AttributeValue, error) {
	keys := make([]map[string]dbtypes.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	var out []map[string]dbtypes.AttributeValue
	req := map[string]dbtypes.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt == MaxLoadAttempts {
			return nil, fmt.Errorf("load snapshots from %s: %d keys still unprocessed after %d attempts", s.table, len(req[s.table].Keys), attempt)
		}
		if attempt > 0 {
			if err := sleep(ctx, s.Backoff<<min(attempt-1, 6)); err != nil {
				return nil, fmt.Errorf("load snapshots: %d keys still unprocessed: %w", len(req[s.table].Keys), err)
			}
		}
		res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, fmt.Errorf("load snapshots from %s: %w", s.table, err)
		}
		out = append(out, res.Responses[s.table]...)
		req = res.UnprocessedKeys
	}
	return out, nil
}

// Save writes next if the stored snapshot is still at version read (0: none
// was stored), bumping next.Version. It returns ErrConflict when another
// run saved first.
func (s *Store) Save(ctx context.Context, next *Snapshot, read int64) error {
	next.Version = read + 1
	item, err := attributevalue.MarshalMap(next)
	if err != nil {
		next.Version = read
		return fmt.Errorf("save snapshot %s: %w", next.SessionID, err)
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	if read == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(SessionId)")
	} else {
		in.ConditionExpression = aws.String("Version = :v")
		in.ExpressionAttributeValues = map[string]dbtypes.AttributeValue{":v": number(read)}
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		next.Version = read
		var ccf *dbtypes.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return fmt.Errorf("save snapshot %s: %w", next.SessionID, ErrConflict)
		}
		return fmt.Errorf("save snapshot %s: %w", next.SessionID, err)
	}
	return nil
}

// each calls f for every item, at most Parallel at once. It returns the
// first error, saying how many of the calls failed when more than one did
// (10,000 ids untracked during an outage make one short error, not 10,000).
func each[T any](ctx context.Context, parallel int, items []T, f func(context.Context, T) error) error {
	var mu sync.Mutex
	var first error
	failed := 0
	g := errgroup.Group{}
	g.SetLimit(max(parallel, 1))
	for _, it := range items {
		g.Go(func() error {
			if err := f(ctx, it); err != nil {
				mu.Lock()
				failed++
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	if failed > 1 {
		return fmt.Errorf("%d of %d failed, the first: %w", failed, len(items), first)
	}
	return first
}

func key(id string) map[string]dbtypes.AttributeValue {
	return map[string]dbtypes.AttributeValue{KeyAttribute: &dbtypes.AttributeValueMemberS{Value: id}}
}

// keyOf returns the partition key of an item, "" when it has none.
func keyOf(item map[string]dbtypes.AttributeValue) string {
	if v, ok := item[KeyAttribute].(*dbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func number(n int64) dbtypes.AttributeValue {
	return &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
