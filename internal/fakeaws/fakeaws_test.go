package fakeaws_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"sessionwatch/internal/fakeaws"
	"sessionwatch/state"
)

const table = "snapshots"

func s(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberS{Value: v} }
func n(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberN{Value: v} }

func keyOf(id string) map[string]dbtypes.AttributeValue {
	return map[string]dbtypes.AttributeValue{"SessionId": s(id)}
}

func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) {
		t.Fatalf("got error %v, want an API error %s", err, code)
	}
	if got := api.ErrorCode(); got != code {
		t.Fatalf("got error code %s (%v), want %s", got, err, code)
	}
}

func TestDynamoDBWithStore(t *testing.T) {
	ctx := context.Background()
	db := fakeaws.NewDynamoDB(table)
	st := state.NewStore(db, table)

	snap := &state.Snapshot{SessionID: "s-1", Status: "READY", ObservedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Sequence: 1}
	if err := st.Save(ctx, snap, 0); err != nil {
		t.Fatalf("first save: %v", err)
	}
	if err := st.Save(ctx, &state.Snapshot{SessionID: "s-1"}, 0); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("second insert: got %v, want ErrConflict", err)
	}
	if err := st.Save(ctx, &state.Snapshot{SessionID: "s-1", Status: "STOPPED"}, 7); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("save at a stale version: got %v, want ErrConflict", err)
	}
	snap.Status = "STOPPING"
	if err := st.Save(ctx, snap, 1); err != nil {
		t.Fatalf("save at version 1: %v", err)
	}
	got, err := st.Load(ctx, []string{"s-1", "s-2"})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if len(got) != 1 || got["s-1"] == nil || got["s-1"].Status != "STOPPING" || got["s-1"].Version != 2 || !got["s-1"].ObservedAt.Equal(snap.ObservedAt) {
		t.Fatalf("load: got %+v, want s-1 STOPPING at version 2", got["s-1"])
	}

	if err := st.Track(ctx, []string{"b", "a"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Track(ctx, []string{"c", "a"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Untrack(ctx, []string{"b", "zz"}); err != nil {
		t.Fatal(err)
	}
	ids, err := st.Tracked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ids, ","), "a,c"; got != want {
		t.Fatalf("tracked: got %s, want %s", got, want)
	}
	if err := st.Untrack(ctx, []string{"a", "c"}); err != nil {
		t.Fatal(err)
	}
	reg := db.Items(table)[state.RegistryKey]
	if _, ok := reg["Ids"]; ok || reg == nil {
		t.Fatalf("registry after untracking all: got %v, want the key alone", reg)
	}
	if ids, err := st.Tracked(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("tracked after untracking all: got %v, %v, want none", ids, err)
	}

	calls := db.Calls()
	if calls["PutItem"] != 4 || calls["BatchGetItem"] != 1 || calls["UpdateItem"] != 4 || calls["GetItem"] != 2 {
		t.Fatalf("calls: got %v", calls)
	}
	db.Reset()
	if got := db.Calls(); len(got) != 0 {
		t.Fatalf("calls after Reset: got %v, want none", got)
	}
}

func TestDynamoDBBatchGetItem(t *testing.T) {
	ctx := context.Background()
	db := fakeaws.NewDynamoDB(table)
	for i := range 150 {
		if err := db.SetItem(table, map[string]dbtypes.AttributeValue{"SessionId": s(fmt.Sprint("s-", i)), "Version": n("1")}); err != nil {
			t.Fatal(err)
		}
	}
	keys := func(n int) []map[string]dbtypes.AttributeValue {
		var out []map[string]dbtypes.AttributeValue
		for i := range n {
			out = append(out, keyOf(fmt.Sprint("s-", i)))
		}
		return out
	}
	get := func(ka dbtypes.KeysAndAttributes) (*dynamodb.BatchGetItemOutput, error) {
		return db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]dbtypes.KeysAndAttributes{table: ka}})
	}

	t.Run("100 keys", func(t *testing.T) {
		out, err := get(dbtypes.KeysAndAttributes{Keys: keys(100), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(out.Responses[table]), 100; got != want {
			t.Fatalf("got %d items, want %d", got, want)
		}
	})
	t.Run("101 keys", func(t *testing.T) {
		_, err := get(dbtypes.KeysAndAttributes{Keys: keys(101)})
		wantAPIError(t, err, "ValidationException")
	})
	t.Run("duplicate keys", func(t *testing.T) {
		_, err := get(dbtypes.KeysAndAttributes{Keys: append(keys(2), keyOf("s-1"))})
		wantAPIError(t, err, "ValidationException")
	})
	t.Run("unknown table", func(t *testing.T) {
		_, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]dbtypes.KeysAndAttributes{"nope": {Keys: keys(1)}}})
		var rnf *dbtypes.ResourceNotFoundException
		if !errors.As(err, &rnf) {
			t.Fatalf("got %v, want ResourceNotFoundException", err)
		}
	})
	t.Run("unprocessed", func(t *testing.T) {
		db.Unprocessed = func(n int) int { return 3 }
		defer func() { db.Unprocessed = nil }()
		out, err := get(dbtypes.KeysAndAttributes{Keys: keys(10)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(out.Responses[table]), 7; got != want {
			t.Fatalf("got %d items, want %d", got, want)
		}
		if got, want := len(out.UnprocessedKeys[table].Keys), 3; got != want {
			t.Fatalf("got %d unprocessed, want %d", got, want)
		}
	})
	t.Run("store retries unprocessed keys", func(t *testing.T) {
		left := 60
		db.Unprocessed = func(n int) int { left /= 2; return min(left, n) }
		defer func() { db.Unprocessed = nil }()
		db.Reset()
		st := state.NewStore(db, table)
		st.Backoff = time.Millisecond
		ids := make([]string, 150)
		for i := range ids {
			ids[i] = fmt.Sprint("s-", i)
		}
		got, err := st.Load(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 150 {
			t.Fatalf("got %d snapshots, want 150", len(got))
		}
		if calls := db.Calls()["BatchGetItem"]; calls < 3 {
			t.Fatalf("got %d BatchGetItem calls, want retries", calls)
		}
	})
}

func TestDynamoDBPutItem(t *testing.T) {
	ctx := context.Background()
	item := map[string]dbtypes.AttributeValue{"SessionId": s("s-1"), "Version": n("1")}
	for _, tc := range []struct {
		name   string
		seeded bool
		in     dynamodb.PutItemInput
		code   string // "" success, "CCF", an API error code, or "unsupported"
	}{
		{name: "unconditional", in: dynamodb.PutItemInput{}},
		{name: "not exists, absent", in: dynamodb.PutItemInput{ConditionExpression: aws.String("attribute_not_exists(SessionId)")}},
		{name: "not exists, present", seeded: true, in: dynamodb.PutItemInput{ConditionExpression: aws.String("attribute_not_exists(SessionId)")}, code: "CCF"},
		{name: "version equal", seeded: true, in: dynamodb.PutItemInput{ConditionExpression: aws.String("Version = :v"), ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":v": n("1")}}},
		{name: "version differs", seeded: true, in: dynamodb.PutItemInput{ConditionExpression: aws.String("Version = :v"), ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":v": n("2")}}, code: "CCF"},
		{name: "version on missing item", in: dynamodb.PutItemInput{ConditionExpression: aws.String("Version = :v"), ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":v": n("1")}}, code: "CCF"},
		{name: "name placeholder", seeded: true, in: dynamodb.PutItemInput{ConditionExpression: aws.String("#v = :v"), ExpressionAttributeNames: map[string]string{"#v": "Version"}, ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":v": n("1")}}},
		{name: "undefined value", in: dynamodb.PutItemInput{ConditionExpression: aws.String("Version = :v")}, code: "ValidationException"},
		{name: "unused value", in: dynamodb.PutItemInput{ConditionExpression: aws.String("attribute_not_exists(SessionId)"), ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":v": n("1")}}, code: "ValidationException"},
		{name: "other expression", in: dynamodb.PutItemInput{ConditionExpression: aws.String("Version < :v"), ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":v": n("1")}}, code: "unsupported"},
		{name: "unknown table", in: dynamodb.PutItemInput{TableName: aws.String("nope")}, code: "ResourceNotFoundException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fakeaws.NewDynamoDB(table)
			if tc.seeded {
				if err := db.SetItem(table, item); err != nil {
					t.Fatal(err)
				}
			}
			in := tc.in
			if in.TableName == nil {
				in.TableName = aws.String(table)
			}
			in.Item = map[string]dbtypes.AttributeValue{"SessionId": s("s-1"), "Version": n("9")}
			_, err := db.PutItem(ctx, &in)
			var ccf *dbtypes.ConditionalCheckFailedException
			var rnf *dbtypes.ResourceNotFoundException
			switch tc.code {
			case "":
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				if got := db.Items(table)["s-1"]["Version"].(*dbtypes.AttributeValueMemberN).Value; got != "9" {
					t.Fatalf("stored Version: got %s, want 9", got)
				}
			case "CCF":
				if !errors.As(err, &ccf) {
					t.Fatalf("got %v, want ConditionalCheckFailedException", err)
				}
			case "unsupported":
				if err == nil || !strings.Contains(err.Error(), "unsupported") {
					t.Fatalf("got %v, want an unsupported error", err)
				}
			case "ResourceNotFoundException":
				if !errors.As(err, &rnf) {
					t.Fatalf("got %v, want ResourceNotFoundException", err)
				}
			default:
				wantAPIError(t, err, tc.code)
			}
		})
	}

	t.Run("item too large", func(t *testing.T) {
		db := fakeaws.NewDynamoDB(table)
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]dbtypes.AttributeValue{
			"SessionId": s("s-1"), "Big": s(strings.Repeat("x", fakeaws.MaxItemSize)),
		}})
		wantAPIError(t, err, "ValidationException")
	})
	t.Run("deep copies", func(t *testing.T) {
		db := fakeaws.NewDynamoDB(table)
		in := map[string]dbtypes.AttributeValue{"SessionId": s("s-1"), "L": &dbtypes.AttributeValueMemberL{Value: []dbtypes.AttributeValue{s("a")}}}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: in}); err != nil {
			t.Fatal(err)
		}
		in["L"].(*dbtypes.AttributeValueMemberL).Value[0] = s("changed")
		out := db.Items(table)["s-1"]
		out["L"].(*dbtypes.AttributeValueMemberL).Value[0] = s("changed too")
		got := db.Items(table)["s-1"]["L"].(*dbtypes.AttributeValueMemberL).Value[0].(*dbtypes.AttributeValueMemberS).Value
		if got != "a" {
			t.Fatalf("stored list element: got %q, want %q", got, "a")
		}
	})
}

func TestDynamoDBUpdateItem(t *testing.T) {
	ctx := context.Background()
	db := fakeaws.NewDynamoDB(table)
	update := func(expr string, v dbtypes.AttributeValue, rv dbtypes.ReturnValue) (*dynamodb.UpdateItemOutput, error) {
		return db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(table), Key: keyOf("reg"), UpdateExpression: aws.String(expr),
			ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":ids": v}, ReturnValues: rv,
		})
	}
	out, err := update("ADD Ids :ids", &dbtypes.AttributeValueMemberSS{Value: []string{"a", "b"}}, dbtypes.ReturnValueAllNew)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.Attributes["Ids"].(*dbtypes.AttributeValueMemberSS).Value; strings.Join(got, ",") != "a,b" {
		t.Fatalf("ALL_NEW Ids: got %v, want [a b]", got)
	}
	out, err = update("DELETE  Ids   :ids", &dbtypes.AttributeValueMemberSS{Value: []string{"a"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.Attributes != nil {
		t.Fatalf("no ReturnValues: got attributes %v, want none", out.Attributes)
	}
	for _, tc := range []struct {
		name, expr string
		v          dbtypes.AttributeValue
		code       string
	}{
		{"empty set", "ADD Ids :ids", &dbtypes.AttributeValueMemberSS{}, "ValidationException"},
		{"duplicates", "ADD Ids :ids", &dbtypes.AttributeValueMemberSS{Value: []string{"x", "x"}}, "ValidationException"},
		{"SET", "SET Ids = :ids", &dbtypes.AttributeValueMemberSS{Value: []string{"x"}}, "unsupported"},
		{"number", "ADD Ids :ids", n("1"), "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := update(tc.expr, tc.v, "")
			if tc.code == "unsupported" {
				if err == nil || !strings.Contains(err.Error(), "unsupported") {
					t.Fatalf("got %v, want an unsupported error", err)
				}
				return
			}
			wantAPIError(t, err, tc.code)
		})
	}
	if got := db.Items(table)["reg"]["Ids"].(*dbtypes.AttributeValueMemberSS).Value; strings.Join(got, ",") != "b" {
		t.Fatalf("Ids: got %v, want [b]", got)
	}
}

func TestDynamoDBHooks(t *testing.T) {
	db := fakeaws.NewDynamoDB(table)
	boom := errors.New("boom")
	var ops []string
	db.Fail = func(op string, in any) error {
		ops = append(ops, op)
		if _, ok := in.(*dynamodb.GetItemInput); ok {
			return boom
		}
		return nil
	}
	st := state.NewStore(db, table)
	if _, err := st.Tracked(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the injected error", err)
	}
	if _, err := st.Load(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ops, ","), "GetItem,BatchGetItem"; got != want {
		t.Fatalf("hook saw %s, want %s", got, want)
	}

	db.Fail = nil
	db.Latency = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := st.Tracked(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
	}
}

func TestDynamoDBConcurrentSaves(t *testing.T) {
	db := fakeaws.NewDynamoDB(table)
	st := state.NewStore(db, table)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 20 {
		wg.Go(func() {
			err := st.Save(context.Background(), &state.Snapshot{SessionID: "s-1"}, 0)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else if !errors.Is(err, state.ErrConflict) {
				t.Errorf("got %v, want success or ErrConflict", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("got %d inserts winning, want 1", won)
	}
}

func entry(detail string) ebtypes.PutEventsRequestEntry {
	return ebtypes.PutEventsRequestEntry{
		Source: aws.String("sessionwatch"), DetailType: aws.String("Glue Session State Change"),
		Detail: aws.String(detail), Time: aws.Time(time.Unix(0, 0)),
		Resources: []string{"arn:aws:glue:us-east-1:123456789012:session/s-1"},
	}
}

func TestEventBridge(t *testing.T) {
	ctx := context.Background()
	put := func(eb *fakeaws.EventBridge, entries ...ebtypes.PutEventsRequestEntry) (*eventbridge.PutEventsOutput, error) {
		return eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	}
	overhead := fakeaws.EntrySize(entry(""))
	if got, want := overhead, 14+len("sessionwatch")+len("Glue Session State Change")+len("arn:aws:glue:us-east-1:123456789012:session/s-1"); got != want {
		t.Fatalf("EntrySize: got %d, want %d", got, want)
	}
	sized := func(size int) ebtypes.PutEventsRequestEntry {
		return entry(`{"x":"` + strings.Repeat("é", (size-overhead-8)/2) + `"}`)
	}

	t.Run("accepts and records", func(t *testing.T) {
		eb := fakeaws.NewEventBridge()
		out, err := put(eb, entry(`{"a":1}`), entry(`{"b":2}`))
		if err != nil {
			t.Fatal(err)
		}
		if out.FailedEntryCount != 0 || len(out.Entries) != 2 || out.Entries[0].EventId == nil {
			t.Fatalf("got %+v, want two event ids", out)
		}
		if got := len(eb.Entries()); got != 2 || eb.Calls() != 1 {
			t.Fatalf("got %d entries in %d calls, want 2 in 1", got, eb.Calls())
		}
		eb.Reset()
		if len(eb.Entries()) != 0 || eb.Calls() != 0 {
			t.Fatalf("Reset kept %d entries and %d calls", len(eb.Entries()), eb.Calls())
		}
	})
	t.Run("exactly 256 KiB", func(t *testing.T) {
		e := sized(fakeaws.MaxRequestSize)
		for fakeaws.EntrySize(e) < fakeaws.MaxRequestSize {
			e.Detail = aws.String(strings.Replace(*e.Detail, `"}`, `x"}`, 1))
		}
		if _, err := put(fakeaws.NewEventBridge(), e); err != nil {
			t.Fatalf("an entry of %d bytes: %v", fakeaws.EntrySize(e), err)
		}
		e.Detail = aws.String(strings.Replace(*e.Detail, `"}`, `x"}`, 1))
		_, err := put(fakeaws.NewEventBridge(), e)
		wantAPIError(t, err, "ValidationException")
	})
	t.Run("too big in total", func(t *testing.T) {
		eb := fakeaws.NewEventBridge()
		_, err := put(eb, sized(100_000), sized(100_000), sized(100_000))
		wantAPIError(t, err, "ValidationException")
		if len(eb.Entries()) != 0 {
			t.Fatalf("recorded %d entries of a rejected request", len(eb.Entries()))
		}
	})
	t.Run("too many", func(t *testing.T) {
		var entries []ebtypes.PutEventsRequestEntry
		for range 11 {
			entries = append(entries, entry(`{}`))
		}
		_, err := put(fakeaws.NewEventBridge(), entries...)
		wantAPIError(t, err, "ValidationException")
		_, err = put(fakeaws.NewEventBridge())
		wantAPIError(t, err, "ValidationException")
	})
	t.Run("entry failures", func(t *testing.T) {
		eb := fakeaws.NewEventBridge()
		eb.EntryFail = func(i int, e ebtypes.PutEventsRequestEntry) (string, string) {
			if i == 1 {
				return "ThrottlingException", "slow down"
			}
			return "", ""
		}
		bad := entry(`[1]`)
		awsSource := entry(`{}`)
		awsSource.Source = aws.String("aws.glue")
		out, err := put(eb, entry(`{}`), entry(`{}`), bad, awsSource)
		if err != nil {
			t.Fatal(err)
		}
		codes := make([]string, len(out.Entries))
		for i, r := range out.Entries {
			codes[i] = aws.ToString(r.ErrorCode)
		}
		if got, want := strings.Join(codes, ","), ",ThrottlingException,MalformedDetail,NotAuthorizedForSourceException"; got != want {
			t.Fatalf("error codes: got %s, want %s", got, want)
		}
		if out.FailedEntryCount != 3 || len(eb.Entries()) != 1 {
			t.Fatalf("got %d failed and %d recorded, want 3 and 1", out.FailedEntryCount, len(eb.Entries()))
		}
	})
	t.Run("whole call failure and latency", func(t *testing.T) {
		eb := fakeaws.NewEventBridge()
		eb.Fail = func([]ebtypes.PutEventsRequestEntry) error { return errors.New("boom") }
		if _, err := put(eb, entry(`{}`)); err == nil || len(eb.Entries()) != 0 {
			t.Fatalf("got %v and %d entries, want the injected error and none", err, len(eb.Entries()))
		}
		eb.Fail = nil
		eb.Latency = time.Hour
		ctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		if _, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry(`{}`)}}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the context's error", err)
		}
		if eb.Calls() != 2 {
			t.Fatalf("got %d calls, want 2", eb.Calls())
		}
	})
}
