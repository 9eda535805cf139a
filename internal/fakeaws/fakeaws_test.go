package fakeaws_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"sessionwatch/internal/awstest"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/state"
)

const table = "snapshots"

func s(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberS{Value: v} }
func n(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberN{Value: v} }

// The DynamoDB fake's answers are checked against moto by the cases of
// state's tests, which run on both. What is left here is what moto cannot
// check: the fake's own hooks, deep copies, its schemas, and the requests
// moto answers with an HTTP 500 or the fake refuses as unsupported.

func TestDynamoDBCallsAndReset(t *testing.T) {
	db := fakeaws.NewDynamoDB(table)
	st := state.NewStore(db, table)
	ctx := context.Background()
	if err := st.Save(ctx, &state.Snapshot{SessionID: "s-1"}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Load(ctx, []string{"s-1", "s-2"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Load(ctx, []string{"s-3"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Track(ctx, []string{"s-1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Discard(ctx, []string{"e-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadShelf(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx, state.Run{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"PutItem": 2, "BatchGetItem": 2, "UpdateItem": 1, "DeleteItem": 1, "Query": 1, "GetItem": 1, "Scan": 1}
	if got := db.Calls(); !maps.Equal(got, want) {
		t.Fatalf("calls: got %v, want %v", got, want)
	}
	db.Reset()
	if got := db.Calls(); len(got) != 0 {
		t.Fatalf("calls after Reset: got %v, want none", got)
	}
	if len(db.Items(table)) != 2 {
		t.Fatalf("Reset dropped items: %v", db.Items(table))
	}
}

func TestDynamoDBUnprocessed(t *testing.T) {
	db := fakeaws.NewDynamoDB(table)
	var keys []map[string]dbtypes.AttributeValue
	for i := range 10 {
		if err := db.SetItem(table, map[string]dbtypes.AttributeValue{"SessionId": s(fmt.Sprint("s-", i)), "Version": n("1")}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, awstest.SessionKey(fmt.Sprint("s-", i)))
	}
	db.Unprocessed = func(n int) int { return 3 }
	out, err := db.BatchGetItem(context.Background(), &dynamodb.BatchGetItemInput{RequestItems: map[string]dbtypes.KeysAndAttributes{
		table: {Keys: keys, ConsistentRead: aws.Bool(true)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(out.Responses[table]), 7; got != want {
		t.Fatalf("got %d items, want %d", got, want)
	}
	left := out.UnprocessedKeys[table]
	if got, want := len(left.Keys), 3; got != want {
		t.Fatalf("got %d unprocessed, want %d", got, want)
	}
	if !aws.ToBool(left.ConsistentRead) {
		t.Errorf("unprocessed keys lost ConsistentRead")
	}
}

func TestDynamoDBRefusals(t *testing.T) {
	ctx := context.Background()
	db := fakeaws.NewDynamoDB(table)
	if err := db.SetItem(table, map[string]dbtypes.AttributeValue{"SessionId": s("s-0"), "Shelf": s("1")}); err != nil {
		t.Fatal(err)
	}
	v := map[string]dbtypes.AttributeValue{":v": n("1")}
	update := func(expr string, values map[string]dbtypes.AttributeValue) func() error {
		return func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(table), Key: awstest.SessionKey("s-1"), UpdateExpression: &expr, ExpressionAttributeValues: values})
			return err
		}
	}
	query := func(in dynamodb.QueryInput) func() error {
		return func() error {
			in.TableName = aws.String(table)
			in.IndexName = aws.String(state.IndexName)
			if in.KeyConditionExpression == nil {
				in.KeyConditionExpression = aws.String("Shelf = :on")
			}
			in.ExpressionAttributeValues = map[string]dbtypes.AttributeValue{":on": s("1")}
			_, err := db.Query(ctx, &in)
			return err
		}
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string // an API error code, or "unsupported"
	}{
		// moto answers these with HTTP 500.
		{"undefined value", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: awstest.SessionKey("s-1"), ConditionExpression: aws.String("Version = :v")})
			return err
		}, "ValidationException"},
		{"undefined name", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: awstest.SessionKey("s-1"), ConditionExpression: aws.String("#v = :v"), ExpressionAttributeValues: v})
			return err
		}, "ValidationException"},
		{"undefined value in an update", update("SET Version = :w", v), "ValidationException"},
		{"a Limit of 0", query(dynamodb.QueryInput{Limit: aws.Int32(0)}), "ValidationException"},
		{"a start key of another schema", query(dynamodb.QueryInput{ExclusiveStartKey: awstest.SessionKey("s-0")}), "ValidationException"},
		{"a query on the wrong key", query(dynamodb.QueryInput{KeyConditionExpression: aws.String("SessionId = :on")}), "ValidationException"},

		// What the fake does not implement.
		{"other condition", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: awstest.SessionKey("s-1"), ConditionExpression: aws.String("Version < :v"), ExpressionAttributeValues: v})
			return err
		}, "unsupported"},
		{"a function in a condition", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: awstest.SessionKey("s-1"), ConditionExpression: aws.String("size(Version) = :v"), ExpressionAttributeValues: v})
			return err
		}, "unsupported"},
		{"projection", func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: awstest.SessionKey("s-1"), ProjectionExpression: aws.String("Version")})
			return err
		}, "unsupported"},
		{"SET arithmetic", update("SET Version = Version + :v", v), "unsupported"},
		{"SET if_not_exists", update("SET Version = if_not_exists(Version, :v)", v), "unsupported"},
		{"a nested path", update("SET Doc.Version = :v", v), "unsupported"},
		{"a filter", query(dynamodb.QueryInput{FilterExpression: aws.String("attribute_exists(Detail)")}), "unsupported"},
		{"an attribute the index does not project", query(dynamodb.QueryInput{ProjectionExpression: aws.String("Version")}), "unsupported"},
		{"a parallel scan", func() error {
			_, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table), Segment: aws.Int32(0), TotalSegments: aws.Int32(2)})
			return err
		}, "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.code == "unsupported" {
				if err == nil || !strings.Contains(err.Error(), "unsupported") {
					t.Fatalf("got %v, want an unsupported error", err)
				}
				return
			}
			awstest.WantAPIError(t, err, tc.code)
		})
	}
	if len(db.Items(table)) != 1 {
		t.Fatalf("refused calls stored %v", db.Items(table))
	}
}

func TestDynamoDBCreateTable(t *testing.T) {
	db := fakeaws.NewDynamoDB()
	schema := func(edit func(*dynamodb.CreateTableInput)) *dynamodb.CreateTableInput {
		in := state.Schema("t")
		edit(in)
		return in
	}
	for _, tc := range []struct {
		name string
		in   *dynamodb.CreateTableInput
		code string // an API error code, "unsupported", or "" for success
	}{
		{"sessionwatch's", state.Schema("t"), ""},
		{"no name", schema(func(in *dynamodb.CreateTableInput) { in.TableName = nil }), "ValidationException"},
		{"an index key without a definition", schema(func(in *dynamodb.CreateTableInput) { in.AttributeDefinitions = in.AttributeDefinitions[:1] }), "ValidationException"},
		{"a definition no key uses", schema(func(in *dynamodb.CreateTableInput) { in.GlobalSecondaryIndexes = nil }), "ValidationException"},
		{"INCLUDE without attributes", schema(func(in *dynamodb.CreateTableInput) { in.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes = nil }), "ValidationException"},
		{"a sort key", schema(func(in *dynamodb.CreateTableInput) {
			in.KeySchema = append(in.KeySchema, dbtypes.KeySchemaElement{AttributeName: aws.String("Shelf"), KeyType: dbtypes.KeyTypeRange})
		}), "unsupported"},
		{"a local index", schema(func(in *dynamodb.CreateTableInput) {
			in.LocalSecondaryIndexes = []dbtypes.LocalSecondaryIndex{{IndexName: aws.String("l")}}
		}), "unsupported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.CreateTable(tc.in)
			switch tc.code {
			case "":
				if err != nil {
					t.Fatal(err)
				}
			case "unsupported":
				if err == nil || !strings.Contains(err.Error(), "unsupported") {
					t.Fatalf("got %v, want an unsupported error", err)
				}
			default:
				awstest.WantAPIError(t, err, tc.code)
			}
		})
	}
}

func TestDynamoDBDeepCopies(t *testing.T) {
	db := fakeaws.NewDynamoDB(table)
	ctx := context.Background()
	in := map[string]dbtypes.AttributeValue{"SessionId": s("s-1"), "Shelf": s("1"), "L": &dbtypes.AttributeValueMemberL{Value: []dbtypes.AttributeValue{s("a")}}}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: in}); err != nil {
		t.Fatal(err)
	}
	in["L"].(*dbtypes.AttributeValueMemberL).Value[0] = s("changed")
	out := db.Items(table)["s-1"]
	out["L"].(*dbtypes.AttributeValueMemberL).Value[0] = s("changed too")
	scan, err := db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	scan.Items[0]["L"].(*dbtypes.AttributeValueMemberL).Value[0] = s("changed by a scan")
	query, err := db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(table), IndexName: aws.String(state.IndexName), KeyConditionExpression: aws.String("Shelf = :on"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":on": s("1")},
	})
	if err != nil || len(query.Items) != 1 {
		t.Fatalf("query: got %v, %v", query, err)
	}
	query.Items[0]["SessionId"].(*dbtypes.AttributeValueMemberS).Value = "changed by a query"
	got := db.Items(table)["s-1"]
	if l := got["L"].(*dbtypes.AttributeValueMemberL).Value[0].(*dbtypes.AttributeValueMemberS).Value; l != "a" {
		t.Fatalf("stored list element: got %q, want %q", l, "a")
	}
	if k := got["SessionId"].(*dbtypes.AttributeValueMemberS).Value; k != "s-1" {
		t.Fatalf("stored key: got %q, want s-1", k)
	}
}

func TestDynamoDBHooks(t *testing.T) {
	db := fakeaws.NewDynamoDB(table)
	boom := errors.New("boom")
	var ops []string
	db.Fail = func(op string, in any) error {
		ops = append(ops, op)
		if _, ok := in.(*dynamodb.QueryInput); ok {
			return boom
		}
		return nil
	}
	st := state.NewStore(db, table)
	if _, err := st.ReadShelf(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the injected error", err)
	}
	if _, _, err := st.Load(context.Background(), []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Discard(context.Background(), []string{"e"}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ops, ","), "Query,BatchGetItem,DeleteItem"; got != want {
		t.Fatalf("hook saw %s, want %s", got, want)
	}

	db.Fail = nil
	db.Latency = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := st.ReadRun(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the context's error", err)
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
		awstest.WantAPIError(t, err, "ValidationException")
	})
	t.Run("too big in total", func(t *testing.T) {
		eb := fakeaws.NewEventBridge()
		_, err := put(eb, sized(100_000), sized(100_000), sized(100_000))
		awstest.WantAPIError(t, err, "ValidationException")
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
		awstest.WantAPIError(t, err, "ValidationException")
		_, err = put(fakeaws.NewEventBridge())
		awstest.WantAPIError(t, err, "ValidationException")
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
