package state_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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
		TableName: &b.table, Key: keyOf(id), UpdateExpression: &expr,
		ExpressionAttributeValues: map[string]types.AttributeValue{":ids": v},
		ReturnValues:              types.ReturnValueAllNew,
	})
}

func batchGet(t *testing.T, b backend, ids ...string) (*dynamodb.BatchGetItemOutput, error) {
	t.Helper()
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = keyOf(id)
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
	out := keyOf(id)
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
				TableName: &b.table, Key: keyOf("s-1"), UpdateExpression: aws.String("ADD Ids :ids"),
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
		wantCode(t, err, "ValidationException")
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
		if want := keyOf("reg"); !reflect.DeepEqual(out.Attributes, want) {
			t.Errorf("ALL_NEW: got %v, want %v", out.Attributes, want)
		}
		if got, want := b.item(t, "reg"), keyOf("reg"); !reflect.DeepEqual(got, want) {
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
			wantCode(t, err, "ValidationException")
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
		wantCode(t, err, "ValidationException")
	}},

	{"batch get of a key twice is rejected", func(t *testing.T, b backend) {
		_, err := batchGet(t, b, "s-1", "s-2", "s-1")
		wantCode(t, err, "ValidationException")
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
			wantCode(t, err, "ValidationException")
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
			got, err := b.db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: &b.table, Key: keyOf("s-1"), ConsistentRead: aws.Bool(true)})
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
		_, err := b.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: keyOf("s-1")})
		wantNotFound(t, err)
		_, err = b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: keyOf("s-1")})
		wantNotFound(t, err)
		_, err = b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: table, Key: keyOf("s-1"), UpdateExpression: aws.String("ADD Ids :ids"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":ids": ss("a")},
		})
		wantNotFound(t, err)
		_, err = b.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			missingTable: {Keys: []map[string]types.AttributeValue{keyOf("s-1")}},
		}})
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
			wantCode(t, err, "ValidationException")
		}
		for name, it := range map[string]map[string]types.AttributeValue{
			"no key":                 {"Version": n("1")},
			"an empty string":        {"SessionId": s("")},
			"a number":               {"SessionId": n("1")},
			"a key over 2,048 bytes": keyOf(strings.Repeat("k", 2049)),
		} {
			err := putItem(t, b, dynamodb.PutItemInput{Item: it})
			if err == nil {
				t.Errorf("PutItem with %s: accepted", name)
				continue
			}
			wantCode(t, err, "ValidationException")
		}
		for name, key := range map[string]map[string]types.AttributeValue{
			"a number":               {"SessionId": n("1")},
			"a key over 2,048 bytes": keyOf(strings.Repeat("k", 2049)),
		} {
			_, err := b.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &b.table, Key: key, UpdateExpression: aws.String("ADD Ids :ids"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":ids": ss("a")},
			})
			if err == nil {
				t.Errorf("UpdateItem with %s: accepted", name)
				continue
			}
			wantCode(t, err, "ValidationException")
		}
		if err := putItem(t, b, dynamodb.PutItemInput{Item: keyOf(strings.Repeat("k", 2048))}); err != nil {
			t.Errorf("PutItem with a key of 2,048 bytes: %v", err)
		}
	}},
}
