package state_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"sessionwatch/internal/awstest"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/state"
)

// This file is how every test of this package meets DynamoDB: each case is
// a func(t, backend) and runs twice, as fake/<case> against the in-memory
// fakeaws.DynamoDB and as moto/<case> against moto through the real SDK
// client, so the fake that the handler tests, the demo and the benchmark
// rely on cannot drift from the emulator it stands in for.

// backend is one DynamoDB a case runs against, with a fresh, empty table
// made from state.Schema: sessionwatch's table, its index included.
type backend struct {
	name  string         // "fake" or "moto"
	db    state.DynamoDB // the client under test; its calls are counted
	table string
	// item reads the item whose key is id straight from the table, without
	// a counted call; nil when there is none.
	item func(t *testing.T, id string) map[string]types.AttributeValue
	// items reads the whole table, by key, without a counted call.
	items func(t *testing.T) map[string]map[string]types.AttributeValue
	// seed stores item as it is, without a counted call: a malformed item
	// included.
	seed func(t *testing.T, item map[string]types.AttributeValue)
	// calls returns the calls made through db by operation ("PutItem"),
	// failed ones included (on moto, each attempt the SDK makes).
	calls func() map[string]int
}

// store returns a store on the backend's table that retries unprocessed
// keys without a noticeable wait.
func (b backend) store() *state.Store {
	st := state.NewStore(b.db, b.table)
	st.Backoff = time.Millisecond
	return st
}

// with returns a copy of b whose client is db, such as a wrapper of b.db
// that injects faults; raw access and call counts are b's.
func (b backend) with(db state.DynamoDB) backend {
	b.db = db
	return b
}

// backendKind names a backend and opens one for a case.
type backendKind struct {
	name string
	open func(t *testing.T) backend
}

// backends are the DynamoDBs every case runs against. moto is found by
// awstest.Endpoint when the first moto case opens its backend: without
// moto_server the moto cases skip, or fail when CI is set.
func backends() []backendKind {
	return []backendKind{
		{"fake", openFake},
		{"moto", openMoto},
	}
}

func openFake(t *testing.T) backend {
	const table = "sessionwatch-test"
	db := fakeaws.NewDynamoDB(table)
	return backend{
		name: "fake", db: db, table: table,
		item: func(t *testing.T, id string) map[string]types.AttributeValue {
			return db.Items(table)[id]
		},
		items: func(t *testing.T) map[string]map[string]types.AttributeValue {
			return db.Items(table)
		},
		seed: func(t *testing.T, item map[string]types.AttributeValue) {
			t.Helper()
			if err := db.SetItem(table, item); err != nil {
				t.Fatalf("seed: %v", err)
			}
		},
		calls: db.Calls,
	}
}

func openMoto(t *testing.T) backend {
	rawCfg := awstest.Config(t, awstest.Endpoint(t))
	table := awstest.NewTable(t, rawCfg)
	raw := dynamodb.NewFromConfig(rawCfg)
	cfg := rawCfg
	counter := awstest.CountCalls(&cfg)
	return backend{
		name: "moto", db: dynamodb.NewFromConfig(cfg), table: table,
		item: func(t *testing.T, id string) map[string]types.AttributeValue {
			t.Helper()
			out, err := raw.GetItem(context.Background(), &dynamodb.GetItemInput{
				TableName: &table, Key: awstest.SessionKey(id), ConsistentRead: aws.Bool(true),
			})
			if err != nil {
				t.Fatalf("read item %q: %v", id, err)
			}
			return out.Item
		},
		items: func(t *testing.T) map[string]map[string]types.AttributeValue {
			t.Helper()
			out := map[string]map[string]types.AttributeValue{}
			p := dynamodb.NewScanPaginator(raw, &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
			for p.HasMorePages() {
				page, err := p.NextPage(context.Background())
				if err != nil {
					t.Fatalf("scan %s: %v", table, err)
				}
				for _, it := range page.Items {
					out[it["SessionId"].(*types.AttributeValueMemberS).Value] = it
				}
			}
			return out
		},
		seed: func(t *testing.T, item map[string]types.AttributeValue) {
			t.Helper()
			if _, err := raw.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
				t.Fatalf("seed: %v", err)
			}
		},
		calls: func() map[string]int {
			out := map[string]int{}
			for op, n := range counter.Counts() {
				if op, ok := strings.CutPrefix(op, "DynamoDB."); ok {
					out[op] = n
				}
			}
			return out
		},
	}
}

// dbCase is one case of a table run against every backend.
type dbCase struct {
	name string
	run  func(t *testing.T, b backend)
}

// runCases runs every case against every backend, as the subtests
// <backend>/<case>, each case on a backend of its own. Cases run in
// parallel: moto answers a few hundred calls a second, and a case waits
// mostly on it.
func runCases(t *testing.T, cases []dbCase) {
	for _, kind := range backends() {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, kind.open(t))
				})
			}
		})
	}
}

// throttled is a client that leaves keys of a BatchGetItem unprocessed, as
// DynamoDB does when throttled, whatever the backend: it asks the backend
// for the first keys only and returns the others as UnprocessedKeys.
type throttled struct {
	state.DynamoDB
	mu sync.Mutex
	// unprocessed is called with the number of keys requested and returns
	// how many of them to leave unprocessed.
	unprocessed func(n int) int
}

func (c *throttled) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if len(in.RequestItems) != 1 {
		return nil, errors.New("throttled: one table a call only")
	}
	var name string
	var ka types.KeysAndAttributes
	for name, ka = range in.RequestItems {
		break
	}
	c.mu.Lock()
	left := min(max(c.unprocessed(len(ka.Keys)), 0), len(ka.Keys))
	c.mu.Unlock()
	sent, kept := ka.Keys[:len(ka.Keys)-left], ka.Keys[len(ka.Keys)-left:]
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	if len(sent) > 0 {
		part := ka
		part.Keys = sent
		var err error
		out, err = c.DynamoDB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{name: part}}, opts...)
		if err != nil {
			return nil, err
		}
	}
	if len(kept) > 0 {
		rest := ka
		rest.Keys = slices.Clone(kept)
		out.UnprocessedKeys = map[string]types.KeysAndAttributes{name: rest}
	}
	return out, nil
}

// recorder is a client that records the input of every read.
type recorder struct {
	state.DynamoDB
	mu    sync.Mutex
	reads []any
}

func (r *recorder) record(in any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads = append(r.reads, in)
}

func (r *recorder) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.record(in)
	return r.DynamoDB.GetItem(ctx, in, opts...)
}

func (r *recorder) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	r.record(in)
	return r.DynamoDB.Query(ctx, in, opts...)
}

func (r *recorder) Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	r.record(in)
	return r.DynamoDB.Scan(ctx, in, opts...)
}

func (r *recorder) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	r.record(in)
	return r.DynamoDB.BatchGetItem(ctx, in, opts...)
}

// Attribute values, keys and errors.

func s(v string) types.AttributeValue     { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue     { return &types.AttributeValueMemberN{Value: v} }
func ss(v ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: v} }

// wantRejectedButByMoto is for a request that DynamoDB rejects with a
// ValidationException and moto 5.2.1 accepts. The fake stands in for
// DynamoDB there and must reject it; on moto the request must still be
// accepted, so that a moto that learns the rule fails here and the case
// can drop this exception.
func wantRejectedButByMoto(t *testing.T, b backend, err error) {
	t.Helper()
	if b.name != "moto" {
		awstest.WantAPIError(t, err, "ValidationException")
	} else if err != nil {
		t.Fatalf("moto now rejects what it used to accept (%v): use wantCode", err)
	}
}

// wantCodeMotoOtherwise is for a request that DynamoDB rejects with the
// error code code and moto 5.2.1 with another, motoCode. The fake answers
// as DynamoDB does; on moto motoCode must still come back, so that a moto
// that learns DynamoDB's answer fails here and the case can use wantCode.
func wantCodeMotoOtherwise(t *testing.T, b backend, err error, code, motoCode string) {
	t.Helper()
	if b.name == "moto" {
		code = motoCode
	}
	awstest.WantAPIError(t, err, code)
}

// wantConditionFailed fails the test unless err is DynamoDB's typed
// ConditionalCheckFailedException, and returns it.
func wantConditionFailed(t *testing.T, err error) *types.ConditionalCheckFailedException {
	t.Helper()
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("got %v, want a *types.ConditionalCheckFailedException", err)
	}
	return ccf
}

// wantNotFound fails the test unless err is DynamoDB's typed
// ResourceNotFoundException.
func wantNotFound(t *testing.T, err error) {
	t.Helper()
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("got %v, want a *types.ResourceNotFoundException", err)
	}
}
