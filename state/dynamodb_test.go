package state_test

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"sessionwatch/internal/awstest"
	"sessionwatch/state"
)

// TestDynamoDB pins down, at the API, the DynamoDB behaviour the store
// relies on, against the fake and moto alike.
func TestDynamoDB(t *testing.T) {
	runCases(t, dynamoDBCases)
}

func putItem(t *testing.T, b backend, in dynamodb.PutItemInput) error {
	t.Helper()
	if in.TableName == nil {
		in.TableName = &b.table
	}
	_, err := b.db.PutItem(t.Context(), &in)
	return err
}

func updateSet(t *testing.T, b backend, id, expr string, v types.AttributeValue) (*dynamodb.UpdateItemOutput, error) {
	t.Helper()
	return b.db.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
		TableName: &b.table, Key: awstest.SessionKey(id), UpdateExpression: &expr,
		ExpressionAttributeValues: map[string]types.AttributeValue{":ids": v},
		ReturnValues:              types.ReturnValueAllNew,
	})
}

func batchGet(t *testing.T, b backend, ids ...string) (*dynamodb.BatchGetItemOutput, error) {
	t.Helper()
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = awstest.SessionKey(id)
	}
	return b.db.BatchGetItem(t.Context(), &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
		b.table: {Keys: keys, ConsistentRead: aws.Bool(true)},
	}})
}

// set returns the sorted elements of an item's string set; nil when the
// attribute is absent.
func set(t *testing.T, item map[string]types.AttributeValue, name string) []string {
	t.Helper()
	v, ok := item[name]
	if !ok {
		return nil
	}
	sv, ok := v.(*types.AttributeValueMemberSS)
	if !ok {
		t.Fatalf("%s: got %#v, want a string set", name, v)
	}
	return slices.Sorted(slices.Values(sv.Value))
}

// sortSets returns item with the elements of its string sets sorted: a
// set has no order.
func sortSets(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	for name, v := range item {
		if sv, ok := v.(*types.AttributeValueMemberSS); ok {
			item[name] = ss(slices.Sorted(slices.Values(sv.Value))...)
		}
	}
	return item
}

func item(id string, attrs ...any) map[string]types.AttributeValue {
	out := awstest.SessionKey(id)
	for i := 0; i < len(attrs); i += 2 {
		out[attrs[i].(string)] = attrs[i+1].(types.AttributeValue)
	}
	return out
}

var dynamoDBCases = []dbCase{
	{"put if absent", func(t *testing.T, b backend) {
		cond := dynamodb.PutItemInput{ConditionExpression: aws.String("attribute_not_exists(SessionId)")}
		in := cond
		in.Item = item("s-1", "Version", n("1"))
		if err := putItem(t, b, in); err != nil {
			t.Fatalf("insert: %v", err)
		}
		in.Item = item("s-1", "Version", n("2"))
		wantConditionFailed(t, putItem(t, b, in))
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		ccf := wantConditionFailed(t, putItem(t, b, in))
		if got, want := ccf.Item, item("s-1", "Version", n("1")); !reflect.DeepEqual(got, want) {
			t.Errorf("item returned on failure: got %v, want %v", got, want)
		}
		if got := attr(b.item(t, "s-1"), "Version"); got != "1" {
			t.Errorf("stored Version: got %s, want 1 (unchanged)", got)
		}
	}},

	{"put if present", func(t *testing.T, b backend) {
		in := dynamodb.PutItemInput{Item: item("s-1", "Version", n("1")), ConditionExpression: aws.String("attribute_exists(SessionId)")}
		wantConditionFailed(t, putItem(t, b, in))
		if got := b.item(t, "s-1"); got != nil {
			t.Fatalf("item written despite its condition: %v", got)
		}
		b.seed(t, item("s-1"))
		if err := putItem(t, b, in); err != nil {
			t.Fatal(err)
		}
	}},

	{"return values", func(t *testing.T, b backend) {
		ctx := t.Context()
		put, err := b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &b.table, Item: item("s-1", "Version", n("1")), ReturnValues: types.ReturnValueAllOld})
		if err != nil || len(put.Attributes) != 0 {
			t.Fatalf("PutItem ALL_OLD of a new item: got %v, %v, want no attributes", put, err)
		}
		put, err = b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &b.table, Item: item("s-1", "Version", n("2")), ReturnValues: types.ReturnValueAllOld})
		if err != nil || !reflect.DeepEqual(put.Attributes, item("s-1", "Version", n("1"))) {
			t.Fatalf("PutItem ALL_OLD: got %v, %v, want version 1", put.Attributes, err)
		}
		for _, tc := range []struct {
			rv   types.ReturnValue
			add  string
			want map[string]types.AttributeValue
		}{
			{types.ReturnValueNone, "a", nil},
			{types.ReturnValueUpdatedNew, "b", map[string]types.AttributeValue{"Ids": ss("a", "b")}},
			{types.ReturnValueUpdatedOld, "c", map[string]types.AttributeValue{"Ids": ss("a", "b")}},
			{types.ReturnValueAllOld, "d", item("s-1", "Version", n("2"), "Ids", ss("a", "b", "c"))},
			{types.ReturnValueAllNew, "e", item("s-1", "Version", n("2"), "Ids", ss("a", "b", "c", "d", "e"))},
		} {
			out, err := b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &b.table, Key: awstest.SessionKey("s-1"), UpdateExpression: aws.String("ADD Ids :ids"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":ids": ss(tc.add)}, ReturnValues: tc.rv,
			})
			if err != nil {
				t.Fatalf("%s: %v", tc.rv, err)
			}
			if got := sortSets(out.Attributes); !reflect.DeepEqual(got, tc.want) && len(got)+len(tc.want) > 0 {
				t.Errorf("%s: got %v, want %v", tc.rv, got, tc.want)
			}
		}
	}},

	{"put at a version", func(t *testing.T, b backend) {
		b.seed(t, item("s-1", "Version", n("1")))
		at := func(cond string, v types.AttributeValue, names map[string]string) dynamodb.PutItemInput {
			return dynamodb.PutItemInput{
				Item:                      item("s-1", "Version", n("2")),
				ConditionExpression:       &cond,
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": v},
				ExpressionAttributeNames:  names,
			}
		}
		wantConditionFailed(t, putItem(t, b, at("Version = :v", n("2"), nil)))
		wantConditionFailed(t, putItem(t, b, at("Version = :v", s("1"), nil)))
		if got := attr(b.item(t, "s-1"), "Version"); got != "1" {
			t.Fatalf("stored Version after failed conditions: got %s, want 1", got)
		}
		if err := putItem(t, b, at("Version = :v", n("1"), nil)); err != nil {
			t.Fatalf("at the stored version: %v", err)
		}
		if err := putItem(t, b, at("#v = :v", n("2"), map[string]string{"#v": "Version"})); err != nil {
			t.Fatalf("at the stored version, through #v: %v", err)
		}
		if err := putItem(t, b, at("Version = :v", n("2.0"), nil)); err != nil {
			t.Fatalf("numbers compare by value: %v", err)
		}
		missing := at("Version = :v", n("1"), nil)
		missing.Item = item("s-2", "Version", n("2"))
		wantConditionFailed(t, putItem(t, b, missing))
		if got := b.item(t, "s-2"); got != nil {
			t.Errorf("item written despite its condition: %v", got)
		}
	}},

	// moto answers HTTP 500 to an undefined :value or #name, which
	// fakeaws' own tests cover.
	{"expression names and values are used", func(t *testing.T, b backend) {
		err := putItem(t, b, dynamodb.PutItemInput{
			Item:                     item("s-1"),
			ConditionExpression:      aws.String("attribute_not_exists(SessionId)"),
			ExpressionAttributeNames: map[string]string{"#v": "Version"},
		})
		awstest.WantAPIError(t, err, "ValidationException")
		if got := b.item(t, "s-1"); got != nil {
			t.Errorf("item written by a rejected call: %v", got)
		}
		err = putItem(t, b, dynamodb.PutItemInput{
			Item:                      item("s-2"),
			ConditionExpression:       aws.String("attribute_not_exists(SessionId)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":v": n("1")},
		})
		wantRejectedButByMoto(t, b, err)
	}},

	{"ADD to a string set", func(t *testing.T, b backend) {
		for i, step := range []struct {
			add, want []string
		}{
			{[]string{"b", "a"}, []string{"a", "b"}}, // creates the item
			{[]string{"c", "a"}, []string{"a", "b", "c"}},
			{[]string{"a"}, []string{"a", "b", "c"}},
		} {
			out, err := updateSet(t, b, "reg", "ADD Ids :ids", ss(step.add...))
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if got := set(t, out.Attributes, "Ids"); !reflect.DeepEqual(got, step.want) {
				t.Errorf("step %d: ALL_NEW: got %q, want %q", i, got, step.want)
			}
			if got := set(t, b.item(t, "reg"), "Ids"); !reflect.DeepEqual(got, step.want) {
				t.Errorf("step %d: stored: got %q, want %q", i, got, step.want)
			}
		}
	}},

	{"DELETE from a string set", func(t *testing.T, b backend) {
		b.seed(t, item("reg", "Ids", ss("a", "b", "c"), "Other", s("x")))
		for i, step := range []struct {
			del, want []string
		}{
			{[]string{"b", "z"}, []string{"a", "c"}},
			{[]string{"z"}, []string{"a", "c"}},
			{[]string{"c", "a"}, nil}, // the last element goes, and the attribute with it
			{[]string{"a"}, nil},
		} {
			if _, err := updateSet(t, b, "reg", "DELETE Ids :ids", ss(step.del...)); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			stored := b.item(t, "reg")
			if got := set(t, stored, "Ids"); !reflect.DeepEqual(got, step.want) {
				t.Errorf("step %d: got %q, want %q", i, got, step.want)
			}
			if len(step.want) == 0 {
				if _, ok := stored["Ids"]; ok {
					t.Errorf("step %d: an empty Ids is stored: %v", i, stored)
				}
				if attr(stored, "Other") != "x" {
					t.Errorf("step %d: the item lost its other attributes: %v", i, stored)
				}
			}
		}
	}},

	{"DELETE on a missing item", func(t *testing.T, b backend) {
		out, err := updateSet(t, b, "reg", "DELETE Ids :ids", ss("a"))
		if err != nil {
			t.Fatal(err)
		}
		if want := awstest.SessionKey("reg"); !reflect.DeepEqual(out.Attributes, want) {
			t.Errorf("ALL_NEW: got %v, want %v", out.Attributes, want)
		}
		if got, want := b.item(t, "reg"), awstest.SessionKey("reg"); !reflect.DeepEqual(got, want) {
			t.Errorf("stored: got %v, want %v", got, want)
		}
	}},

	{"set updates that are rejected", func(t *testing.T, b backend) {
		b.seed(t, item("reg", "Ids", ss("a"), "Name", s("x")))
		for _, tc := range []struct {
			name, expr string
			v          types.AttributeValue
		}{
			{"an empty set", "ADD Ids :ids", ss()},
			{"ADD to a string", "ADD Name :ids", ss("y")},
			{"DELETE from a string", "DELETE Name :ids", ss("x")},
			{"ADD to the key", "ADD SessionId :ids", ss("y")},
		} {
			_, err := updateSet(t, b, "reg", tc.expr, tc.v)
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
				continue
			}
			awstest.WantAPIError(t, err, "ValidationException")
		}
		if got, want := b.item(t, "reg"), item("reg", "Ids", ss("a"), "Name", s("x")); !reflect.DeepEqual(got, want) {
			t.Errorf("stored: got %v, want %v (unchanged)", got, want)
		}
	}},

	{"a set holding an element twice is rejected", func(t *testing.T, b backend) {
		wantRejectedButByMoto(t, b, putItem(t, b, dynamodb.PutItemInput{Item: item("s-1", "Ids", ss("x", "x"))}))
		b.seed(t, item("reg", "Ids", ss("a")))
		for _, expr := range []string{"ADD Ids :ids", "DELETE Ids :ids"} {
			_, err := updateSet(t, b, "reg", expr, ss("x", "x"))
			wantRejectedButByMoto(t, b, err)
		}
		if got := set(t, b.item(t, "reg"), "Ids"); b.name != "moto" && !reflect.DeepEqual(got, []string{"a"}) {
			t.Errorf("stored: got %q, want [a] (unchanged)", got)
		}
	}},

	{"batch get of 100 keys", func(t *testing.T, b backend) {
		ids := sessionIDs(100)
		for _, id := range []string{ids[0], ids[42], ids[99]} {
			b.seed(t, item(id, "Version", n("1")))
		}
		out, err := batchGet(t, b, ids...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range out.Responses[b.table] {
			got = append(got, attr(it, "SessionId"))
		}
		slices.Sort(got)
		if want := []string{ids[0], ids[42], ids[99]}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
		if len(out.UnprocessedKeys) != 0 {
			t.Errorf("unprocessed keys: %v", out.UnprocessedKeys)
		}
		if got := b.calls()["BatchGetItem"]; got != 1 {
			t.Errorf("BatchGetItem calls: got %d, want 1", got)
		}
	}},

	{"batch get of 101 keys is rejected", func(t *testing.T, b backend) {
		_, err := batchGet(t, b, sessionIDs(101)...)
		awstest.WantAPIError(t, err, "ValidationException")
	}},

	{"batch get of a key twice is rejected", func(t *testing.T, b backend) {
		_, err := batchGet(t, b, "s-1", "s-2", "s-1")
		awstest.WantAPIError(t, err, "ValidationException")
	}},

	{"an item over 400 KB is rejected", func(t *testing.T, b backend) {
		// An item's size is its names and values; moto counts numbers by
		// their digits, containers by their elements, and draws the line
		// at 405,000 bytes, under DynamoDB's 400 KB.
		small := item("s-1", // 9+3
			"n", n("12345"), // 1+5
			"l", &types.AttributeValueMemberL{Value: []types.AttributeValue{s("ab"), n("1")}}, // 1+3
			"m", &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"k": s("v")}}, // 1+2
			"s", ss("a", "bc"), // 1+3
			"b", &types.AttributeValueMemberB{Value: []byte("xyz")}, // 1+3
			"t", &types.AttributeValueMemberBOOL{Value: true}, // 1+1
			"z", &types.AttributeValueMemberNULL{Value: true}, // 1+1
		)
		const smallSize = 12 + 6 + 4 + 3 + 4 + 4 + 2 + 2
		sized := func(size int) map[string]types.AttributeValue {
			it := maps.Clone(small)
			it["p"] = s(strings.Repeat("x", size-smallSize-len("p")))
			return it
		}
		for _, size := range []int{405_001, 400*1024 + 1, 500 * 1024} {
			err := putItem(t, b, dynamodb.PutItemInput{Item: sized(size)})
			if err == nil {
				t.Errorf("%d bytes: accepted", size)
				continue
			}
			awstest.WantAPIError(t, err, "ValidationException")
		}
		if got := b.item(t, "s-1"); got != nil {
			t.Fatalf("a rejected item was stored")
		}
		if err := putItem(t, b, dynamodb.PutItemInput{Item: sized(405_000)}); err != nil {
			t.Fatalf("405,000 bytes: %v", err)
		}
	}},

	{"an update past 400 KB is rejected", func(t *testing.T, b backend) {
		b.seed(t, item("reg", "Big", s(strings.Repeat("x", 300_000))))
		_, err := updateSet(t, b, "reg", "ADD Ids :ids", ss(strings.Repeat("y", 150_000)))
		wantRejectedButByMoto(t, b, err)
		if got := b.item(t, "reg")["Ids"]; got != nil && b.name != "moto" {
			t.Errorf("a rejected update was stored")
		}
	}},

	{"consistent reads see the last write", func(t *testing.T, b backend) {
		for v := range 3 {
			version := fmt.Sprint(v + 1)
			if err := putItem(t, b, dynamodb.PutItemInput{Item: item("s-1", "Version", n(version))}); err != nil {
				t.Fatal(err)
			}
			got, err := b.db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: &b.table, Key: awstest.SessionKey("s-1"), ConsistentRead: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			if attr(got.Item, "Version") != version {
				t.Errorf("GetItem: got %v, want version %s", got.Item, version)
			}
			out, err := batchGet(t, b, "s-1")
			if err != nil {
				t.Fatal(err)
			}
			if items := out.Responses[b.table]; len(items) != 1 || attr(items[0], "Version") != version {
				t.Errorf("BatchGetItem: got %v, want version %s", items, version)
			}
		}
	}},

	{"an unknown table is not found", func(t *testing.T, b backend) {
		ctx, table := t.Context(), aws.String(missingTable)
		_, err := b.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: awstest.SessionKey("s-1")})
		wantNotFound(t, err)
		_, err = b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: awstest.SessionKey("s-1")})
		wantNotFound(t, err)
		_, err = b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: table, Key: awstest.SessionKey("s-1"), UpdateExpression: aws.String("ADD Ids :ids"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":ids": ss("a")},
		})
		wantNotFound(t, err)
		_, err = b.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			missingTable: {Keys: []map[string]types.AttributeValue{awstest.SessionKey("s-1")}},
		}})
		wantNotFound(t, err)
		_, err = b.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: awstest.SessionKey("s-1")})
		wantNotFound(t, err)
		q := shelfQuery(b)
		q.TableName = table
		_, err = b.db.Query(ctx, &q)
		wantNotFound(t, err)
		_, err = b.db.Scan(ctx, &dynamodb.ScanInput{TableName: table})
		wantNotFound(t, err)
	}},

	{"keys match the schema", func(t *testing.T, b backend) {
		ctx := t.Context()
		_, err := b.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &b.table, Key: map[string]types.AttributeValue{"SessionId": n("1")}})
		wantRejectedButByMoto(t, b, err)
		for name, key := range map[string]map[string]types.AttributeValue{
			"an empty string":  {"SessionId": s("")},
			"another name":     {"Id": s("s-1")},
			"an extra element": item("s-1", "Version", n("1")),
		} {
			_, err := b.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &b.table, Key: key})
			if err == nil {
				t.Errorf("GetItem with %s: accepted", name)
				continue
			}
			awstest.WantAPIError(t, err, "ValidationException")
		}
		for name, it := range map[string]map[string]types.AttributeValue{
			"no key":                 {"Version": n("1")},
			"an empty string":        {"SessionId": s("")},
			"a number":               {"SessionId": n("1")},
			"a key over 2,048 bytes": awstest.SessionKey(strings.Repeat("k", 2049)),
			// SessionId is also the sort key of the index, whose limit is
			// 1,024 bytes; moto applies it whether or not the item is in
			// the index.
			"a key over 1,024 bytes":        awstest.SessionKey(strings.Repeat("k", 1025)),
			"an index key over 2,048 bytes": item("s-1", "Shelf", s(strings.Repeat("k", 2049))),
		} {
			err := putItem(t, b, dynamodb.PutItemInput{Item: it})
			if err == nil {
				t.Errorf("PutItem with %s: accepted", name)
				continue
			}
			awstest.WantAPIError(t, err, "ValidationException")
		}
		for name, key := range map[string]map[string]types.AttributeValue{
			"a number":               {"SessionId": n("1")},
			"a key over 2,048 bytes": awstest.SessionKey(strings.Repeat("k", 2049)),
			"a key over 1,024 bytes": awstest.SessionKey(strings.Repeat("k", 1025)),
		} {
			_, err := b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &b.table, Key: key, UpdateExpression: aws.String("ADD Ids :ids"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":ids": ss("a")},
			})
			if err == nil {
				t.Errorf("UpdateItem with %s: accepted", name)
				continue
			}
			awstest.WantAPIError(t, err, "ValidationException")
		}
		if err := putItem(t, b, dynamodb.PutItemInput{Item: item(strings.Repeat("k", 1024), "Shelf", s(strings.Repeat("k", 2048)))}); err != nil {
			t.Errorf("PutItem with a key of 1,024 bytes and an index key of 2,048: %v", err)
		}
	}},
}

// TestDynamoDBIndex pins down the index, Query, Scan, DeleteItem and the
// UpdateItem expressions the v2 store relies on, against the fake and moto
// alike.
func TestDynamoDBIndex(t *testing.T) {
	runCases(t, indexCases)
}

// shelfQuery is a Query of everything on the shelf, as ReadShelf asks.
func shelfQuery(b backend) dynamodb.QueryInput {
	return dynamodb.QueryInput{
		TableName:                 &b.table,
		IndexName:                 aws.String(state.IndexName),
		KeyConditionExpression:    aws.String("#shelf = :on"),
		ExpressionAttributeNames:  map[string]string{"#shelf": state.ShelfAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":on": s(state.OnShelf)},
	}
}

// ids returns the SessionId of each item, in order.
func ids(items []map[string]types.AttributeValue) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, attr(it, "SessionId"))
	}
	return out
}

// queryAll reads every page of a Query and returns the items and the
// number of calls.
func queryAll(t *testing.T, b backend, in dynamodb.QueryInput) ([]map[string]types.AttributeValue, int) {
	t.Helper()
	var items []map[string]types.AttributeValue
	calls := 0
	for p := dynamodb.NewQueryPaginator(b.db, &in); p.HasMorePages(); calls++ {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("query page %d: %v", calls+1, err)
		}
		items = append(items, page.Items...)
	}
	return items, calls
}

// update calls UpdateItem on id with the given expressions, names and
// values (name, value, name, value...: a "#" name maps to an attribute, a
// ":" name to a value).
func update(t *testing.T, b backend, id, expr, cond string, rv types.ReturnValue, pairs ...any) (*dynamodb.UpdateItemOutput, error) {
	t.Helper()
	in := &dynamodb.UpdateItemInput{TableName: &b.table, Key: awstest.SessionKey(id), ReturnValues: rv}
	if expr != "" {
		in.UpdateExpression = &expr
	}
	if cond != "" {
		in.ConditionExpression = &cond
	}
	for i := 0; i < len(pairs); i += 2 {
		switch k := pairs[i].(string); {
		case strings.HasPrefix(k, "#"):
			if in.ExpressionAttributeNames == nil {
				in.ExpressionAttributeNames = map[string]string{}
			}
			in.ExpressionAttributeNames[k] = pairs[i+1].(string)
		default:
			if in.ExpressionAttributeValues == nil {
				in.ExpressionAttributeValues = map[string]types.AttributeValue{}
			}
			in.ExpressionAttributeValues[k] = pairs[i+1].(types.AttributeValue)
		}
	}
	return b.db.UpdateItem(t.Context(), in)
}

func boolean(v bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: v} }

// bigDetail is an item's worth of detail: four of them pass 1 MB.
var bigDetail = strings.Repeat("x", 300_000)

var indexCases = []dbCase{
	{"the index lists the items that have its key, in key order", func(t *testing.T, b backend) {
		b.seed(t, item("b", "Shelf", s("1"), "Detail", s("db"), "Version", n("1")))
		b.seed(t, item("a", "Shelf", s("1"), "Detail", s("da"), "Other", s("x")))
		b.seed(t, item("c", "Detail", s("dc")))
		b.seed(t, item("\x1fo/1", "Shelf", s("1"), "EventId", s("e")))
		b.seed(t, item("d", "Shelf", s("2")))
		in := shelfQuery(b)
		out, err := b.db.Query(t.Context(), &in)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(out.Items), []string{"\x1fo/1", "a", "b"}; !reflect.DeepEqual(got, want) || out.Count != 3 {
			t.Fatalf("got %q (count %d), want %q", got, out.Count, want)
		}
		// The index projects its keys and the outbox attributes only.
		if got, want := out.Items[1], item("a", "Shelf", s("1"), "Detail", s("da")); !reflect.DeepEqual(got, want) {
			t.Errorf("a: got %v, want %v", got, want)
		}
		if got, want := out.Items[2], item("b", "Shelf", s("1"), "Detail", s("db")); !reflect.DeepEqual(got, want) {
			t.Errorf("b: got %v, want %v", got, want)
		}
		if out.LastEvaluatedKey != nil {
			t.Errorf("LastEvaluatedKey of the only page: %v", out.LastEvaluatedKey)
		}

		in.ScanIndexForward = aws.Bool(false)
		out, err = b.db.Query(t.Context(), &in)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(out.Items), []string{"b", "a", "\x1fo/1"}; !reflect.DeepEqual(got, want) {
			t.Errorf("backwards: got %q, want %q", got, want)
		}
	}},

	{"a query projects what it names", func(t *testing.T, b backend) {
		b.seed(t, item("a", "Shelf", s("1"), "Detail", s("da"), "EventId", s("e")))
		b.seed(t, item("b", "Shelf", s("1")))
		in := shelfQuery(b)
		in.ProjectionExpression = aws.String("#a0, #a1")
		in.ExpressionAttributeNames["#a0"] = "SessionId"
		in.ExpressionAttributeNames["#a1"] = "Detail"
		out, err := b.db.Query(t.Context(), &in)
		if err != nil {
			t.Fatal(err)
		}
		want := []map[string]types.AttributeValue{item("a", "Detail", s("da")), awstest.SessionKey("b")}
		if !reflect.DeepEqual(out.Items, want) {
			t.Errorf("got %v, want %v", out.Items, want)
		}
	}},

	{"a query on the sort key", func(t *testing.T, b backend) {
		for _, id := range []string{"\x1fo/1", "a", "b", "c"} {
			b.seed(t, item(id, "Shelf", s("1")))
		}
		for _, tc := range []struct {
			cond string
			want []string
		}{
			{"#shelf = :on AND begins_with(#k, :p)", []string{"\x1fo/1"}},
			{"#shelf = :on AND #k > :a", []string{"b", "c"}},
			{"#k <= :a AND #shelf = :on", []string{"\x1fo/1", "a"}},
			{"#shelf = :on AND #k BETWEEN :a AND :b", []string{"a", "b"}},
		} {
			in := shelfQuery(b)
			in.KeyConditionExpression = &tc.cond
			in.ExpressionAttributeNames["#k"] = "SessionId"
			for v, val := range map[string]string{":p": "\x1fo/", ":a": "a", ":b": "b"} {
				if strings.Contains(tc.cond, v+" ") || strings.HasSuffix(tc.cond, v) || strings.Contains(tc.cond, v+")") {
					in.ExpressionAttributeValues[v] = s(val)
				}
			}
			out, err := b.db.Query(t.Context(), &in)
			if err != nil {
				t.Errorf("%s: %v", tc.cond, err)
				continue
			}
			if got := ids(out.Items); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: got %q, want %q", tc.cond, got, tc.want)
			}
		}
	}},

	{"a query pages by Limit", func(t *testing.T, b backend) {
		all := []string{"s-1", "s-2", "s-3", "s-4", "s-5"}
		for _, id := range all {
			b.seed(t, item(id, "Shelf", s("1")))
		}
		in := shelfQuery(b)
		in.Limit = aws.Int32(2)
		out, err := b.db.Query(t.Context(), &in)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := out.LastEvaluatedKey, item("s-2", "Shelf", s("1")); !reflect.DeepEqual(got, want) {
			t.Fatalf("LastEvaluatedKey: got %v, want %v (the table's key and the index's)", got, want)
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		if out, err = b.db.Query(t.Context(), &in); err != nil {
			t.Fatal(err)
		}
		if got, want := ids(out.Items), []string{"s-3", "s-4"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("second page: got %q, want %q", got, want)
		}
		in.ExclusiveStartKey = nil
		items, calls := queryAll(t, b, in)
		if got := ids(items); !reflect.DeepEqual(got, all) || calls != 3 {
			t.Errorf("all pages: got %q in %d calls, want %q in 3", got, calls, all)
		}
		// DynamoDB stops at the Limit without looking further, so a page
		// of exactly the items left still carries a LastEvaluatedKey, and
		// the next page is empty; moto 5.2.1 looks, and leaves it out.
		in.Limit = aws.Int32(5)
		items, calls = queryAll(t, b, in)
		wantCalls := 2
		if b.name == "moto" {
			wantCalls = 1
		}
		if got := ids(items); !reflect.DeepEqual(got, all) || calls != wantCalls {
			t.Errorf("a Limit of all the items: got %q in %d calls, want %q in %d", got, calls, all, wantCalls)
		}
	}},

	{"pages stop at 1 MB", func(t *testing.T, b backend) {
		for _, id := range []string{"s-1", "s-2", "s-3", "s-4"} {
			b.seed(t, item(id, "Shelf", s("1"), "Detail", s(bigDetail)))
		}
		in := shelfQuery(b)
		out, err := b.db.Query(t.Context(), &in)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(out.Items); len(got) != 3 || out.LastEvaluatedKey == nil {
			t.Errorf("Query: first page of %q, LastEvaluatedKey %v, want 3 items and a key", got, out.LastEvaluatedKey)
		}
		scan, err := b.db.Scan(t.Context(), &dynamodb.ScanInput{TableName: &b.table, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(scan.Items); len(got) != 3 || scan.LastEvaluatedKey == nil {
			t.Errorf("Scan: first page of %q, LastEvaluatedKey %v, want 3 items and a key", got, scan.LastEvaluatedKey)
		}
		if items, calls := queryAll(t, b, in); len(items) != 4 || calls != 2 || attr(items[3], "Detail") != bigDetail {
			t.Errorf("all pages: got %d items in %d calls, want 4 in 2", len(items), calls)
		}
	}},

	{"a query is eventual and on a known index", func(t *testing.T, b backend) {
		b.seed(t, item("a", "Shelf", s("1")))
		in := shelfQuery(b)
		in.ConsistentRead = aws.Bool(true)
		_, err := b.db.Query(t.Context(), &in)
		awstest.WantAPIError(t, err, "ValidationException")

		in = shelfQuery(b)
		in.IndexName = aws.String("NoSuchIndex")
		_, err = b.db.Query(t.Context(), &in)
		wantCodeMotoOtherwise(t, b, err, "ValidationException", "ResourceNotFoundException")

		_, err = b.db.Scan(t.Context(), &dynamodb.ScanInput{TableName: &b.table, IndexName: aws.String(state.IndexName), ConsistentRead: aws.Bool(true)})
		awstest.WantAPIError(t, err, "ValidationException")
	}},

	{"a query's key and values are checked", func(t *testing.T, b backend) {
		b.seed(t, item("a", "Shelf", s("1")))
		in := shelfQuery(b)
		in.ExpressionAttributeValues[":unused"] = s("x")
		_, err := b.db.Query(t.Context(), &in)
		wantRejectedButByMoto(t, b, err)

		in = shelfQuery(b)
		in.ExpressionAttributeNames["#unused"] = "x"
		_, err = b.db.Query(t.Context(), &in)
		awstest.WantAPIError(t, err, "ValidationException")

		in = shelfQuery(b)
		in.ExpressionAttributeValues[":on"] = n("1")
		out, err := b.db.Query(t.Context(), &in)
		wantRejectedButByMoto(t, b, err)
		if err == nil && len(out.Items) != 0 {
			t.Errorf("a number matched the string key: %v", out.Items)
		}
	}},

	{"a scan reads every item, a page at a time", func(t *testing.T, b backend) {
		all := []string{"\x1fo/1", "a", "b", "c", "d"}
		for i, id := range all {
			if i%2 == 0 {
				b.seed(t, item(id, "Shelf", s("1"), "Version", n("1")))
			} else {
				b.seed(t, item(id, "Version", n("1")))
			}
		}
		var got []string
		calls := 0
		p := dynamodb.NewScanPaginator(b.db, &dynamodb.ScanInput{TableName: &b.table, ConsistentRead: aws.Bool(true), Limit: aws.Int32(2)})
		for ; p.HasMorePages(); calls++ {
			page, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Items) > 2 {
				t.Errorf("page of %d items, over the Limit", len(page.Items))
			}
			for _, it := range page.Items {
				if attr(it, "Version") != "1" {
					t.Errorf("%s: got %v, want the whole item", attr(it, "SessionId"), it)
				}
			}
			got = append(got, ids(page.Items)...)
		}
		slices.Sort(got)
		if !reflect.DeepEqual(got, all) || calls < 3 {
			t.Errorf("got %q in %d calls, want %q in at least 3", got, calls, all)
		}

		out, err := b.db.Scan(t.Context(), &dynamodb.ScanInput{
			TableName: &b.table, ProjectionExpression: aws.String("#k"), ExpressionAttributeNames: map[string]string{"#k": "SessionId"},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			if len(it) != 1 {
				t.Errorf("projected scan: got %v, want the key alone", it)
			}
		}
	}},

	{"delete an item", func(t *testing.T, b backend) {
		b.seed(t, item("a", "Version", n("1")))
		out, err := b.db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: &b.table, Key: awstest.SessionKey("a"), ReturnValues: types.ReturnValueAllOld})
		if err != nil {
			t.Fatal(err)
		}
		if want := item("a", "Version", n("1")); !reflect.DeepEqual(out.Attributes, want) {
			t.Errorf("ALL_OLD: got %v, want %v", out.Attributes, want)
		}
		if got := b.item(t, "a"); got != nil {
			t.Errorf("still stored: %v", got)
		}
		out, err = b.db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: &b.table, Key: awstest.SessionKey("a"), ReturnValues: types.ReturnValueAllOld})
		if err != nil || len(out.Attributes) != 0 {
			t.Errorf("deleting a missing item: got %v, %v, want nothing and no error", out, err)
		}
		_, err = b.db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: &b.table, Key: awstest.SessionKey("a"), ReturnValues: types.ReturnValueAllNew})
		awstest.WantAPIError(t, err, "ValidationException")
	}},

	{"delete if a condition holds", func(t *testing.T, b backend) {
		b.seed(t, item("a", "Version", n("2")))
		del := func(id, cond string, v types.AttributeValue) (*dynamodb.DeleteItemInput, error) {
			in := &dynamodb.DeleteItemInput{
				TableName: &b.table, Key: awstest.SessionKey(id), ConditionExpression: &cond,
				ExpressionAttributeNames:            map[string]string{"#v": "Version"},
				ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
			}
			if v != nil {
				in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": v}
			}
			_, err := b.db.DeleteItem(t.Context(), in)
			return in, err
		}
		_, err := del("a", "#v = :v", n("1"))
		if ccf := wantConditionFailed(t, err); !reflect.DeepEqual(ccf.Item, item("a", "Version", n("2"))) {
			t.Errorf("item returned on failure: got %v", ccf.Item)
		}
		_, err = del("z", "attribute_exists(#v)", nil)
		if ccf := wantConditionFailed(t, err); ccf.Item != nil {
			t.Errorf("item returned for a missing one: %v", ccf.Item)
		}
		if b.item(t, "a") == nil {
			t.Fatal("deleted despite its condition")
		}
		if _, err := del("a", "#v = :v", n("2")); err != nil {
			t.Fatal(err)
		}
		if got := b.item(t, "a"); got != nil {
			t.Errorf("still stored: %v", got)
		}
		_, err = b.db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{
			TableName: &b.table, Key: awstest.SessionKey("a"), ConditionExpression: aws.String("attribute_not_exists(Version)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":unused": n("1")},
		})
		wantRejectedButByMoto(t, b, err)
	}},

	{"update with SET, REMOVE, ADD and DELETE", func(t *testing.T, b backend) {
		out, err := update(t, b, "a", "SET #shelf = :on, Label = :l ADD #version :one, Tags :t REMOVE Gone", "", types.ReturnValueAllNew,
			"#shelf", "Shelf", "#version", "Version", ":on", s("1"), ":l", s("l"), ":one", n("1"), ":t", ss("x", "y"))
		if err != nil {
			t.Fatal(err)
		}
		want := item("a", "Shelf", s("1"), "Label", s("l"), "Version", n("1"), "Tags", ss("x", "y"))
		if got := sortSets(out.Attributes); !reflect.DeepEqual(got, want) {
			t.Errorf("a new item: got %v, want %v", got, want)
		}
		out, err = update(t, b, "a", "REMOVE #shelf, Label ADD #version :d DELETE Tags :x SET Note = :n", "", types.ReturnValueAllNew,
			"#shelf", "Shelf", "#version", "Version", ":d", n("-3"), ":x", ss("x"), ":n", s("n"))
		if err != nil {
			t.Fatal(err)
		}
		want = item("a", "Version", n("-2"), "Tags", ss("y"), "Note", s("n"))
		if !reflect.DeepEqual(out.Attributes, want) {
			t.Errorf("an existing item: got %v, want %v", out.Attributes, want)
		}
		if got := b.item(t, "a"); !reflect.DeepEqual(got, want) {
			t.Errorf("stored: got %v, want %v", got, want)
		}
		// A REMOVE alone creates the item too, with its key only.
		if _, err := update(t, b, "b", "REMOVE Gone", "", ""); err != nil {
			t.Fatal(err)
		}
		if got := b.item(t, "b"); !reflect.DeepEqual(got, awstest.SessionKey("b")) {
			t.Errorf("REMOVE on a missing item: stored %v, want the key alone", got)
		}
	}},

	{"update return values", func(t *testing.T, b backend) {
		b.seed(t, item("a", "Shelf", s("1"), "Version", n("2"), "Keep", s("k")))
		// Untrack's and Track's updates.
		out, err := update(t, b, "a", "SET #untracked = :true REMOVE #shelf ADD #version :one", "attribute_exists(#key)", types.ReturnValueUpdatedOld,
			"#untracked", "Untracked", "#shelf", "Shelf", "#version", "Version", "#key", "SessionId", ":true", boolean(true), ":one", n("1"))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]types.AttributeValue{"Shelf": s("1"), "Version": n("2")}; !reflect.DeepEqual(out.Attributes, want) {
			t.Errorf("UPDATED_OLD: got %v, want %v", out.Attributes, want)
		}
		out, err = update(t, b, "a", "SET #shelf = :on REMOVE #untracked ADD #version :one", "", types.ReturnValueUpdatedNew,
			"#untracked", "Untracked", "#shelf", "Shelf", "#version", "Version", ":on", s("1"), ":one", n("1"))
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]types.AttributeValue{"Shelf": s("1"), "Version": n("4")}; !reflect.DeepEqual(out.Attributes, want) {
			t.Errorf("UPDATED_NEW: got %v, want %v", out.Attributes, want)
		}
		out, err = update(t, b, "a", "ADD #version :one", "", types.ReturnValueAllOld, "#version", "Version", ":one", n("1"))
		if err != nil {
			t.Fatal(err)
		}
		if want := item("a", "Shelf", s("1"), "Version", n("4"), "Keep", s("k")); !reflect.DeepEqual(out.Attributes, want) {
			t.Errorf("ALL_OLD: got %v, want %v", out.Attributes, want)
		}
	}},

	{"update conditions", func(t *testing.T, b backend) {
		b.seed(t, item("a", "Version", n("2")))
		bump := func(id, cond string, v types.AttributeValue) error {
			t.Helper()
			pairs := []any{"#version", "Version", ":one", n("1")}
			if strings.Contains(cond, "#key") {
				pairs = append(pairs, "#key", "SessionId")
			}
			if v != nil {
				pairs = append(pairs, ":v", v)
			}
			_, err := update(t, b, id, "ADD #version :one", cond, "", pairs...)
			return err
		}
		wantConditionFailed(t, bump("a", "#version = :v", n("1")))
		wantConditionFailed(t, bump("z", "attribute_exists(#key)", nil))
		if got := b.item(t, "z"); got != nil {
			t.Errorf("an update whose condition failed created %v", got)
		}
		wantConditionFailed(t, bump("a", "(#version = :v)", s("2")))
		for i, cond := range []string{
			"attribute_not_exists(#key) OR #version = :v",
			"NOT (#version = :v) AND attribute_exists(#version)",
		} {
			if err := bump("a", cond, n("2")); err != nil {
				t.Fatalf("%s: %v", cond, err)
			}
			if got, want := attr(b.item(t, "a"), "Version"), fmt.Sprint(3+i); got != want {
				t.Errorf("%s: Version %s, want %s", cond, got, want)
			}
		}
		_, err := update(t, b, "a", "ADD #version :one", "#version = :v", "", "#version", "Version", ":one", n("1"), ":v", n("1"))
		ccf := wantConditionFailed(t, err)
		if ccf.Item != nil {
			t.Errorf("item returned unasked: %v", ccf.Item)
		}
		in := &dynamodb.UpdateItemInput{
			TableName: &b.table, Key: awstest.SessionKey("a"), UpdateExpression: aws.String("ADD #version :one"), ConditionExpression: aws.String("#version = :v"),
			ExpressionAttributeNames:            map[string]string{"#version": "Version"},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":one": n("1"), ":v": n("1")},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}
		_, err = b.db.UpdateItem(t.Context(), in)
		if ccf := wantConditionFailed(t, err); !reflect.DeepEqual(ccf.Item, item("a", "Version", n("4"))) {
			t.Errorf("item returned on failure: got %v, want version 4", ccf.Item)
		}
	}},

	{"updates that are rejected", func(t *testing.T, b backend) {
		stored := item("a", "Label", s("x"), "Tags", ss("t"), "Version", n("1"))
		b.seed(t, stored)
		for _, tc := range []struct {
			name, expr string
			pairs      []any
		}{
			{"ADD a number to a string", "ADD Label :one", []any{":one", n("1")}},
			{"ADD a string", "ADD Version :s", []any{":s", s("y")}},
			{"DELETE a number from a set", "DELETE Tags :one", []any{":one", n("1")}},
			{"DELETE a number set from a string set", "DELETE Tags :ns", []any{":ns", &types.AttributeValueMemberNS{Value: []string{"1"}}}},
			{"SET the key", "SET SessionId = :s", []any{":s", s("b")}},
			{"SET the key through a name", "SET #k = :s", []any{"#k", "SessionId", ":s", s("b")}},
			{"one attribute twice", "SET Label = :s REMOVE Label", []any{":s", s("y")}},
			{"two SET clauses", "SET Label = :s SET Note = :s", []any{":s", s("y")}},
			{"a reserved word", "SET Status = :s", []any{":s", s("y")}},
			{"an unused value", "SET Label = :s", []any{":s", s("y"), ":unused", s("z")}},
			{"an unused name", "SET Label = :s", []any{":s", s("y"), "#unused", "Note"}},
			{"the index key as a number", "SET Shelf = :one", []any{":one", n("1")}},
			{"the index key empty", "SET Shelf = :e", []any{":e", s("")}},
			{"an empty expression", " ", nil},
			{"a syntax error", "SET Label = :s,", []any{":s", s("y")}},
		} {
			_, err := update(t, b, "a", tc.expr, "", "", tc.pairs...)
			if err == nil {
				t.Errorf("%s: accepted", tc.name)
				continue
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
				t.Errorf("%s: got %v, want a ValidationException", tc.name, err)
			}
		}
		if got := sortSets(b.item(t, "a")); !reflect.DeepEqual(got, stored) {
			t.Errorf("stored: got %v, want %v (unchanged)", got, stored)
		}
		// moto checks the index key's type and emptiness only when the
		// SET names it bare, not through a #name.
		for name, v := range map[string]types.AttributeValue{"a number": n("1"), "empty": s("")} {
			_, err := update(t, b, "m", "SET #shelf = :v", "", "", "#shelf", "Shelf", ":v", v)
			t.Logf("the index key %s through #shelf", name)
			wantRejectedButByMoto(t, b, err)
		}
	}},

	{"index keys of the wrong type are rejected", func(t *testing.T, b backend) {
		wantRejectedButByMoto(t, b, putItem(t, b, dynamodb.PutItemInput{Item: item("a", "Shelf", n("1"))}))
		for name, v := range map[string]types.AttributeValue{"empty": s(""), "null": &types.AttributeValueMemberNULL{Value: true}} {
			err := putItem(t, b, dynamodb.PutItemInput{Item: item("b", "Shelf", v)})
			if err == nil {
				t.Errorf("%s: accepted", name)
				continue
			}
			awstest.WantAPIError(t, err, "ValidationException")
		}
		if got := b.item(t, "b"); got != nil {
			t.Errorf("stored: %v", got)
		}
	}},
}
