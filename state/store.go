package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// RegistryKey is the partition key of the item that lists the tracked
// session ids. It starts with a control character, which no session id
// may hold, so it never collides with a snapshot.
const RegistryKey = "\x1fsessionwatch/registry"

// BatchSize is the most keys BatchGetItem takes in one call.
const BatchSize = 100

// MaxLoadAttempts bounds the BatchGetItem calls for one chunk of keys that
// DynamoDB keeps leaving unprocessed (the SDK has already retried each
// throttled call); past it the run fails with a clear error instead of
// spinning until the Lambda deadline.
const MaxLoadAttempts = 8

// ErrConflict is returned by Save when another run committed the session
// first: the snapshot read is out of date.
var ErrConflict = errors.New("snapshot changed since it was read")

// Store keeps snapshots and the registry in one DynamoDB table.
type Store struct {
	db    DynamoDB
	table string
	// Parallel is how many BatchGetItem calls Load keeps in flight.
	Parallel int
	// Backoff is how long to wait before retrying UnprocessedKeys, doubled
	// each time; the SDK already retries throttled calls.
	Backoff time.Duration
}

// NewStore returns a store on the named table.
func NewStore(db DynamoDB, table string) *Store {
	return &Store{db: db, table: table, Parallel: 16, Backoff: 50 * time.Millisecond}
}

// Load reads the snapshots of ids, BatchSize keys a call with up to
// Parallel calls in flight, retrying unprocessed keys. Ids without a
// snapshot are absent from the map.
func (s *Store) Load(ctx context.Context, ids []string) (map[string]*Snapshot, error) {
	out := make(map[string]*Snapshot, len(ids))
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.Parallel, 1))
	for chunk := range slices.Chunk(ids, BatchSize) {
		g.Go(func() error {
			snaps, err := s.loadChunk(ctx, chunk)
			mu.Lock()
			defer mu.Unlock()
			for _, snap := range snaps {
				out[snap.SessionID] = snap
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) loadChunk(ctx context.Context, ids []string) ([]*Snapshot, error) {
	keys := make([]map[string]dbtypes.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	var out []*Snapshot
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
		for _, item := range res.Responses[s.table] {
			var snap Snapshot
			if err := attributevalue.UnmarshalMap(item, &snap); err != nil {
				return nil, fmt.Errorf("load snapshots: malformed item: %w", err)
			}
			out = append(out, &snap)
		}
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
		return fmt.Errorf("save snapshot %s: %w", next.SessionID, err)
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	if read == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(SessionId)")
	} else {
		in.ConditionExpression = aws.String("Version = :v")
		in.ExpressionAttributeValues = map[string]dbtypes.AttributeValue{
			":v": &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(read, 10)},
		}
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

// Registry is the item that lists the tracked session ids, and the ids a
// run had to skip because its deadline came, which the next run polls
// first.
type Registry struct {
	Tracked []string `dynamodbav:"Ids,stringset,omitempty"`
	Skipped []string `dynamodbav:"Skipped,stringset,omitempty"`
}

// Registry reads the registry item; its lists are sorted.
func (s *Store) Registry(ctx context.Context) (Registry, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(RegistryKey), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Registry{}, fmt.Errorf("read registry from %s: %w", s.table, err)
	}
	var reg Registry
	if err := attributevalue.UnmarshalMap(res.Item, &reg); err != nil {
		return Registry{}, fmt.Errorf("read registry: malformed item: %w", err)
	}
	slices.Sort(reg.Tracked)
	slices.Sort(reg.Skipped)
	return reg, nil
}

// Tracked returns the tracked ids, sorted.
func (s *Store) Tracked(ctx context.Context) ([]string, error) {
	reg, err := s.Registry(ctx)
	return reg.Tracked, err
}

// Track adds ids to the registry and Untrack removes them. Each is one
// atomic update (DynamoDB takes no ADD and DELETE of one attribute at once).
func (s *Store) Track(ctx context.Context, ids []string) error {
	return s.updateRegistry(ctx, "ADD", "Ids", ids)
}

// Untrack removes ids from the registry.
func (s *Store) Untrack(ctx context.Context, ids []string) error {
	return s.updateRegistry(ctx, "DELETE", "Ids", ids)
}

// MarkSkipped replaces the skipped ids a run found (done) with the ones it
// skipped itself: at most two updates, and none when both are empty.
func (s *Store) MarkSkipped(ctx context.Context, done, skipped []string) error {
	if err := s.updateRegistry(ctx, "DELETE", "Skipped", done); err != nil {
		return err
	}
	return s.updateRegistry(ctx, "ADD", "Skipped", skipped)
}

func (s *Store) updateRegistry(ctx context.Context, action, attr string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(RegistryKey),
		UpdateExpression:          aws.String(action + " " + attr + " :ids"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":ids": &dbtypes.AttributeValueMemberSS{Value: ids}},
	})
	if err != nil {
		return fmt.Errorf("update registry in %s (%s %d %s): %w", s.table, strings.ToLower(action), len(ids), strings.ToLower(attr), err)
	}
	return nil
}

func key(id string) map[string]dbtypes.AttributeValue {
	return map[string]dbtypes.AttributeValue{"SessionId": &dbtypes.AttributeValueMemberS{Value: id}}
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
