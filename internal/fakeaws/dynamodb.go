package fakeaws

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"sessionwatch/state"
)

var _ state.DynamoDB = (*DynamoDB)(nil)

// DefaultHashKey is the partition key of the tables [NewDynamoDB] creates:
// sessionwatch's table is keyed on it.
const DefaultHashKey = "SessionId"

// MaxBatchGetKeys is the most keys one BatchGetItem call may request.
const MaxBatchGetKeys = 100

// MaxItemSize is DynamoDB's documented limit on the size of one item
// (400 KB). The fake rejects items a little smaller: see [DynamoDB.PutItem].
const MaxItemSize = 400 * 1024

// itemSizeLimit is the largest item, in bytes as itemSize counts them, that
// the fake stores: moto's limit, under DynamoDB's, so that an item the fake
// and moto accept also fits in DynamoDB.
const itemSizeLimit = 405_000

// maxKeySize is DynamoDB's limit on the size of a partition key value.
const maxKeySize = 2048

// DynamoDB is an in-memory stand-in for the DynamoDB operations that
// state.Store uses: BatchGetItem, GetItem, PutItem and UpdateItem. Tables
// have a partition key of type string and no sort key; items are
// deep-copied on the way in and out, so neither side can change the
// other's copy.
//
// The store's tests run every case against this fake and against moto, so
// the two answer alike. Where moto 5.2.1 accepts what DynamoDB rejects (a
// set holding an element twice, an unused expression attribute value, a
// key of the wrong type in a read, an UpdateItem growing an item past the
// size limit), the fake rejects it as DynamoDB does.
//
// Operation names, as [DynamoDB.Calls] counts them and [DynamoDB.Fail]
// receives them, are the API's: "BatchGetItem", "GetItem", "PutItem" and
// "UpdateItem".
type DynamoDB struct {
	// Latency is waited before every call is answered; a context ending
	// first ends the call with the context's error.
	Latency time.Duration
	// Fail, when set, is called before every operation with its name and
	// input; a non-nil error is returned as the call's error and the
	// operation does nothing.
	Fail func(op string, in any) error
	// Unprocessed, when set, is called by every BatchGetItem with the
	// number of keys requested and returns how many of them (the last
	// ones) to leave in UnprocessedKeys, as DynamoDB does when throttled.
	// It is called with the fake locked: calls are serialised, and it
	// must not call the fake.
	Unprocessed func(n int) int

	mu     sync.Mutex
	tables map[string]*table
	calls  map[string]int
}

type table struct {
	hashKey string
	items   map[string]map[string]types.AttributeValue
}

// NewDynamoDB returns a fake holding the named tables, empty, each with
// the partition key [DefaultHashKey].
func NewDynamoDB(tables ...string) *DynamoDB {
	d := &DynamoDB{tables: map[string]*table{}, calls: map[string]int{}}
	for _, name := range tables {
		d.CreateTable(name, DefaultHashKey)
	}
	return d
}

// CreateTable adds an empty table whose partition key is the string
// attribute hashKey, replacing any table of that name.
func (d *DynamoDB) CreateTable(name, hashKey string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tables == nil {
		d.tables, d.calls = map[string]*table{}, map[string]int{}
	}
	d.tables[name] = &table{hashKey: hashKey, items: map[string]map[string]types.AttributeValue{}}
}

// Calls returns how many calls of each operation were made since the fake
// was built or [DynamoDB.Reset], failed ones included.
func (d *DynamoDB) Calls() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.calls)
}

// Reset sets the call counts to zero. The tables keep their items.
func (d *DynamoDB) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = map[string]int{}
}

// Items returns a copy of every item of the table by its partition key's
// value. It returns nil for an unknown table.
func (d *DynamoDB) Items(tableName string) map[string]map[string]types.AttributeValue {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tables[tableName]
	if !ok {
		return nil
	}
	out := make(map[string]map[string]types.AttributeValue, len(t.items))
	for k, item := range t.items {
		out[k] = copyItem(item)
	}
	return out
}

// SetItem stores a copy of item in the table as it is, without a call
// being counted or a hook being called, replacing any item with its key: a
// test uses it to seed state, a malformed item included.
func (d *DynamoDB) SetItem(tableName string, item map[string]types.AttributeValue) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.table(tableName)
	if err != nil {
		return err
	}
	k, err := t.keyOf(item, keyOfItem)
	if err != nil {
		return err
	}
	t.items[k] = copyItem(item)
	return nil
}

// Expire removes the item with the given key from the table, as a TTL
// expiry would, without a call being counted; it tells whether there was
// one.
func (d *DynamoDB) Expire(tableName, key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tables[tableName]
	if !ok {
		return false
	}
	_, found := t.items[key]
	delete(t.items, key)
	return found
}

// begin counts the call, waits the latency and calls the fault hook.
func (d *DynamoDB) begin(ctx context.Context, op string, in any) error {
	d.mu.Lock()
	if d.calls == nil {
		d.calls = map[string]int{}
	}
	d.calls[op]++
	d.mu.Unlock()
	if err := wait(ctx, d.Latency); err != nil {
		return fmt.Errorf("operation error DynamoDB: %s: %w", op, err)
	}
	if d.Fail != nil {
		if err := d.Fail(op, in); err != nil {
			return err
		}
	}
	return nil
}

// BatchGetItem returns the requested items. More than [MaxBatchGetKeys]
// keys, none, or a key requested twice is a ValidationException, as in
// DynamoDB. ConsistentRead is ignored (every read is consistent); a
// projection is not supported.
func (d *DynamoDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if err := d.begin(ctx, "BatchGetItem", in); err != nil {
		return nil, err
	}
	if in == nil || len(in.RequestItems) == 0 {
		return nil, validation("1 validation error detected: Value null at 'requestItems' failed to satisfy constraint: Member must not be null")
	}
	n := 0
	for name, ka := range in.RequestItems {
		if ka.ProjectionExpression != nil || len(ka.AttributesToGet) > 0 || len(ka.ExpressionAttributeNames) > 0 {
			return nil, unsupported("BatchGetItem", "a projection on table %s", name)
		}
		if len(ka.Keys) == 0 {
			return nil, validation("1 validation error detected: Value at 'requestItems." + name + ".member.keys' failed to satisfy constraint: Member must have length greater than or equal to 1")
		}
		n += len(ka.Keys)
	}
	if n > MaxBatchGetKeys {
		return nil, validation(fmt.Sprintf("Too many items requested for the BatchGetItem call (%d keys; at most %d)", n, MaxBatchGetKeys))
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	type req struct {
		table string
		key   map[string]types.AttributeValue
		k     string
	}
	var reqs []req
	names := slices.Sorted(maps.Keys(in.RequestItems))
	for _, name := range names {
		t, err := d.table(name)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, key := range in.RequestItems[name].Keys {
			k, err := t.keyOf(key, keyToRead)
			if err != nil {
				return nil, err
			}
			if seen[k] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[k] = true
			reqs = append(reqs, req{name, key, k})
		}
	}
	left := 0
	if d.Unprocessed != nil {
		left = min(max(d.Unprocessed(n), 0), n)
	}
	out := &dynamodb.BatchGetItemOutput{
		Responses:       map[string][]map[string]types.AttributeValue{},
		UnprocessedKeys: map[string]types.KeysAndAttributes{},
	}
	for _, name := range names {
		out.Responses[name] = []map[string]types.AttributeValue{}
	}
	for i, r := range reqs {
		if i >= n-left {
			ka := out.UnprocessedKeys[r.table]
			ka.ConsistentRead = in.RequestItems[r.table].ConsistentRead
			ka.Keys = append(ka.Keys, copyItem(r.key))
			out.UnprocessedKeys[r.table] = ka
			continue
		}
		if item, ok := d.tables[r.table].items[r.k]; ok {
			out.Responses[r.table] = append(out.Responses[r.table], copyItem(item))
		}
	}
	return out, nil
}

// GetItem returns the item with the given key, or no item. ConsistentRead
// is ignored; a projection is not supported.
func (d *DynamoDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := d.begin(ctx, "GetItem", in); err != nil {
		return nil, err
	}
	if in.ProjectionExpression != nil || len(in.AttributesToGet) > 0 || len(in.ExpressionAttributeNames) > 0 {
		return nil, unsupported("GetItem", "a projection")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.table(aws.ToString(in.TableName))
	if err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key, keyToRead)
	if err != nil {
		return nil, err
	}
	out := &dynamodb.GetItemOutput{}
	if item, ok := t.items[k]; ok {
		out.Item = copyItem(item)
	}
	return out, nil
}

// PutItem stores the item, replacing any item with its key, if its
// ConditionExpression holds; a false condition is a
// *types.ConditionalCheckFailedException. The conditions understood are
// none, attribute_not_exists(A), attribute_exists(A) and A = :v (A may be
// a #name); any other is an error saying it is unsupported. ReturnValues
// NONE and ALL_OLD are honoured, and ReturnValuesOnConditionCheckFailure
// ALL_OLD. An item over 405,000 bytes (moto's limit, as moto counts them;
// DynamoDB's is 400 KB) is a ValidationException.
func (d *DynamoDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := d.begin(ctx, "PutItem", in); err != nil {
		return nil, err
	}
	if in.Expected != nil || in.ConditionalOperator != "" {
		return nil, unsupported("PutItem", "legacy Expected conditions")
	}
	switch in.ReturnValues {
	case "", types.ReturnValueNone, types.ReturnValueAllOld:
	default:
		return nil, validation(fmt.Sprintf("ReturnValues can only be ALL_OLD or NONE for PutItem, not %s", in.ReturnValues))
	}
	if err := checkItem(in.Item); err != nil {
		return nil, err
	}
	var cond condition
	if in.ConditionExpression != nil {
		var err error
		if cond, err = parseCondition("PutItem", *in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues); err != nil {
			return nil, err
		}
	} else if len(in.ExpressionAttributeValues) > 0 || len(in.ExpressionAttributeNames) > 0 {
		return nil, validation("ExpressionAttributeNames and ExpressionAttributeValues can only be specified when using expressions")
	}
	if size := itemSize(in.Item); size > itemSizeLimit {
		return nil, validation(fmt.Sprintf("Item size has exceeded the maximum allowed size (%d bytes; at most %d)", size, itemSizeLimit))
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.table(aws.ToString(in.TableName))
	if err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Item, keyOfItem)
	if err != nil {
		return nil, err
	}
	old, exists := t.items[k]
	if cond != nil && !cond(old) {
		ccf := &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
		if exists && in.ReturnValuesOnConditionCheckFailure == types.ReturnValuesOnConditionCheckFailureAllOld {
			ccf.Item = copyItem(old)
		}
		return nil, ccf
	}
	t.items[k] = copyItem(in.Item)
	out := &dynamodb.PutItemOutput{}
	if exists && in.ReturnValues == types.ReturnValueAllOld {
		out.Attributes = copyItem(old)
	}
	return out, nil
}

var (
	updateRe         = regexp.MustCompile(`^(ADD|DELETE)\s+(#?[A-Za-z0-9_]+)\s+(:[A-Za-z0-9_]+)$`)
	notExistsRe      = regexp.MustCompile(`^attribute_not_exists\s*\(\s*(#?[A-Za-z0-9_]+)\s*\)$`)
	existsRe         = regexp.MustCompile(`^attribute_exists\s*\(\s*(#?[A-Za-z0-9_]+)\s*\)$`)
	equalsRe         = regexp.MustCompile(`^(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)$`)
	errNoSuchValue   = "An expression attribute value used in expression is not defined; attribute value: %s"
	errUnusedValues  = "Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}"
	errUnusedNames   = "Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}"
	errNoSuchName    = "An expression attribute name used in the document path is not defined; attribute name: %s"
	errWrongDataType = "An operand in the update expression has an incorrect data type"
)

// UpdateItem applies an UpdateExpression of the one form state.Store
// uses, `ADD A :v` or `DELETE A :v` with :v a string set, to the item with
// the given key, creating it if missing (as DynamoDB does); a set emptied
// by DELETE is removed. ReturnValues NONE, ALL_NEW, ALL_OLD, UPDATED_NEW
// and UPDATED_OLD are honoured. Other expressions and conditions are an
// error saying they are unsupported.
func (d *DynamoDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := d.begin(ctx, "UpdateItem", in); err != nil {
		return nil, err
	}
	if in.ConditionExpression != nil || in.Expected != nil || in.AttributeUpdates != nil {
		return nil, unsupported("UpdateItem", "conditions and AttributeUpdates")
	}
	expr := strings.Join(strings.Fields(aws.ToString(in.UpdateExpression)), " ")
	m := updateRe.FindStringSubmatch(expr)
	if m == nil {
		return nil, unsupported("UpdateItem", "the update expression %q (only `ADD A :v` and `DELETE A :v` are)", expr)
	}
	action := m[1]
	names := usage{}
	attr, err := names.name(m[2], in.ExpressionAttributeNames)
	if err != nil {
		return nil, err
	}
	operand, ok := in.ExpressionAttributeValues[m[3]]
	if !ok {
		return nil, validation(fmt.Sprintf(errNoSuchValue, m[3]))
	}
	if err := names.allUsed(in.ExpressionAttributeNames, in.ExpressionAttributeValues, m[3]); err != nil {
		return nil, err
	}
	set, ok := operand.(*types.AttributeValueMemberSS)
	if !ok {
		return nil, unsupported("UpdateItem", "%s with a %T operand (only string sets are)", action, operand)
	}
	if err := checkValue(set); err != nil {
		return nil, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.table(aws.ToString(in.TableName))
	if err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key, keyToWrite)
	if err != nil {
		return nil, err
	}
	if attr == t.hashKey {
		return nil, validation("Cannot update attribute " + attr + ". This attribute is part of the key")
	}
	old, exists := t.items[k]
	next := copyItem(old)
	if !exists {
		next = copyItem(in.Key)
	}
	var have []string
	if cur, ok := next[attr]; ok {
		ss, ok := cur.(*types.AttributeValueMemberSS)
		if !ok {
			return nil, validation(errWrongDataType)
		}
		have = ss.Value
	}
	switch action {
	case "ADD":
		for _, v := range set.Value {
			if !slices.Contains(have, v) {
				have = append(have, v)
			}
		}
	case "DELETE":
		have = slices.DeleteFunc(slices.Clone(have), func(v string) bool { return slices.Contains(set.Value, v) })
	}
	if len(have) == 0 {
		delete(next, attr)
	} else {
		next[attr] = &types.AttributeValueMemberSS{Value: have}
	}
	if size := itemSize(next); size > itemSizeLimit {
		return nil, validation(fmt.Sprintf("Item size to update has exceeded the maximum allowed size (%d bytes; at most %d)", size, itemSizeLimit))
	}
	t.items[k] = next

	out := &dynamodb.UpdateItemOutput{}
	switch in.ReturnValues {
	case "", types.ReturnValueNone:
	case types.ReturnValueAllNew:
		out.Attributes = copyItem(next)
	case types.ReturnValueAllOld:
		if exists {
			out.Attributes = copyItem(old)
		}
	case types.ReturnValueUpdatedNew:
		if v, ok := next[attr]; ok {
			out.Attributes = map[string]types.AttributeValue{attr: copyValue(v)}
		}
	case types.ReturnValueUpdatedOld:
		if v, ok := old[attr]; ok {
			out.Attributes = map[string]types.AttributeValue{attr: copyValue(v)}
		}
	default:
		return nil, validation(fmt.Sprintf("unknown ReturnValues %s", in.ReturnValues))
	}
	return out, nil
}

// table returns the named table; d.mu is held.
func (d *DynamoDB) table(name string) (*table, error) {
	t, ok := d.tables[name]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Requested resource not found: Table: " + name + " not found")}
	}
	return t, nil
}

// keyUse is what keyOf checks a key for.
type keyUse int

const (
	keyToRead  keyUse = iota // a key alone, of a read
	keyToWrite               // a key alone, of an UpdateItem
	keyOfItem                // the key of a whole item to store
)

// keyOf returns the partition key's value of an item or key, checked as
// moto and DynamoDB check it: present, a string, not empty, no longer than
// maxKeySize bytes in a write (moto checks the length of written keys
// only), and in a key, alone.
func (t *table) keyOf(item map[string]types.AttributeValue, use keyUse) (string, error) {
	v, ok := item[t.hashKey]
	if !ok || (use != keyOfItem && len(item) != 1) {
		return "", validation("The provided key element does not match the schema")
	}
	sv, ok := v.(*types.AttributeValueMemberS)
	switch {
	case !ok && use == keyToRead:
		return "", validation("The provided key element does not match the schema")
	case !ok:
		return "", validation(fmt.Sprintf("One or more parameter values were invalid: Type mismatch for key %s expected: S actual: %s", t.hashKey, typeName(v)))
	case sv.Value == "":
		return "", validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: " + t.hashKey)
	case use != keyToRead && len(sv.Value) > maxKeySize:
		return "", validation(fmt.Sprintf("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of%d bytes", maxKeySize))
	}
	return sv.Value, nil
}

// typeName is the name DynamoDB gives the type of an attribute value.
func typeName(v types.AttributeValue) string {
	switch v.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberB:
		return "B"
	case *types.AttributeValueMemberBOOL:
		return "BOOL"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		return "SS"
	case *types.AttributeValueMemberNS:
		return "NS"
	case *types.AttributeValueMemberBS:
		return "BS"
	case *types.AttributeValueMemberL:
		return "L"
	case *types.AttributeValueMemberM:
		return "M"
	}
	return fmt.Sprintf("%T", v)
}

// condition tells whether an item (nil: none) satisfies a condition.
type condition func(item map[string]types.AttributeValue) bool

func parseCondition(op, expr string, names map[string]string, values map[string]types.AttributeValue) (condition, error) {
	expr = strings.Join(strings.Fields(expr), " ")
	used := usage{}
	var cond condition
	switch {
	case notExistsRe.MatchString(expr) || existsRe.MatchString(expr):
		want := existsRe.MatchString(expr)
		raw := notExistsRe.FindStringSubmatch(expr)
		if want {
			raw = existsRe.FindStringSubmatch(expr)
		}
		attr, err := used.name(raw[1], names)
		if err != nil {
			return nil, err
		}
		if err := used.allUsed(names, values); err != nil {
			return nil, err
		}
		cond = func(item map[string]types.AttributeValue) bool {
			_, ok := item[attr]
			return ok == want
		}
	case equalsRe.MatchString(expr):
		m := equalsRe.FindStringSubmatch(expr)
		attr, err := used.name(m[1], names)
		if err != nil {
			return nil, err
		}
		want, ok := values[m[2]]
		if !ok {
			return nil, validation(fmt.Sprintf(errNoSuchValue, m[2]))
		}
		if err := used.allUsed(names, values, m[2]); err != nil {
			return nil, err
		}
		cond = func(item map[string]types.AttributeValue) bool {
			have, ok := item[attr]
			return ok && equal(have, want)
		}
	default:
		return nil, unsupported(op, "the condition expression %q (only attribute_not_exists(A), attribute_exists(A) and A = :v are)", expr)
	}
	return cond, nil
}

// usage tracks the #names an expression used.
type usage map[string]bool

func (u usage) name(ref string, names map[string]string) (string, error) {
	if !strings.HasPrefix(ref, "#") {
		return ref, nil
	}
	n, ok := names[ref]
	if !ok {
		return "", validation(fmt.Sprintf(errNoSuchName, ref))
	}
	u[ref] = true
	return n, nil
}

// allUsed fails, as DynamoDB does, when a name or value given is not used.
func (u usage) allUsed(names map[string]string, values map[string]types.AttributeValue, usedValues ...string) error {
	var unusedNames, unusedValues []string
	for n := range names {
		if !u[n] {
			unusedNames = append(unusedNames, n)
		}
	}
	for v := range values {
		if !slices.Contains(usedValues, v) {
			unusedValues = append(unusedValues, v)
		}
	}
	if len(unusedValues) > 0 {
		sort.Strings(unusedValues)
		return validation(fmt.Sprintf(errUnusedValues, strings.Join(unusedValues, ", ")))
	}
	if len(unusedNames) > 0 {
		sort.Strings(unusedNames)
		return validation(fmt.Sprintf(errUnusedNames, strings.Join(unusedNames, ", ")))
	}
	return nil
}

// equal compares two attribute values as a condition's = does: same type
// and value, numbers by value.
func equal(a, b types.AttributeValue) bool {
	switch a := a.(type) {
	case *types.AttributeValueMemberN:
		b, ok := b.(*types.AttributeValueMemberN)
		if !ok {
			return false
		}
		x, okx := new(big.Float).SetString(a.Value)
		y, oky := new(big.Float).SetString(b.Value)
		return okx && oky && x.Cmp(y) == 0
	case *types.AttributeValueMemberS:
		b, ok := b.(*types.AttributeValueMemberS)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberB:
		b, ok := b.(*types.AttributeValueMemberB)
		return ok && bytes.Equal(a.Value, b.Value)
	case *types.AttributeValueMemberBOOL:
		b, ok := b.(*types.AttributeValueMemberBOOL)
		return ok && a.Value == b.Value
	}
	return false
}

// checkItem rejects what DynamoDB rejects in an item: nil values, empty or
// duplicated sets.
func checkItem(item map[string]types.AttributeValue) error {
	if len(item) == 0 {
		return validation("1 validation error detected: Value null at 'item' failed to satisfy constraint: Member must not be null")
	}
	for name, v := range item {
		if name == "" {
			return validation("Empty attribute name")
		}
		if err := checkValue(v); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(v types.AttributeValue) error {
	switch v := v.(type) {
	case nil:
		return validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
	case *types.AttributeValueMemberSS:
		return checkSet("string", v.Value, func(s string) string { return s })
	case *types.AttributeValueMemberNS:
		return checkSet("number", v.Value, func(s string) string { return s })
	case *types.AttributeValueMemberBS:
		return checkSet("binary", v.Value, func(b []byte) string { return string(b) })
	case *types.AttributeValueMemberL:
		for _, e := range v.Value {
			if err := checkValue(e); err != nil {
				return err
			}
		}
	case *types.AttributeValueMemberM:
		for _, e := range v.Value {
			if err := checkValue(e); err != nil {
				return err
			}
		}
	case *types.AttributeValueMemberS, *types.AttributeValueMemberN, *types.AttributeValueMemberB,
		*types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
	default:
		return unsupported("", "attribute values of type %T", v)
	}
	return nil
}

func checkSet[T any](kind string, values []T, key func(T) string) error {
	if len(values) == 0 {
		return validation("One or more parameter values were invalid: An " + kind + " set  may not be empty")
	}
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		if seen[key(v)] {
			return validation("One or more parameter values were invalid: Input collection contains duplicates")
		}
		seen[key(v)] = true
	}
	return nil
}

// itemSize is an item's size as moto counts it: attribute names plus
// values, strings and binaries by their length in bytes, numbers by their
// digits as written, 1 byte for a boolean or a null, a set, list or map by
// its elements (and a map's names), with no overhead. DynamoDB adds a few
// bytes for each list and map and counts numbers in fewer bytes; under
// itemSizeLimit an item the fake accepts fits in DynamoDB's 400 KB unless
// it holds some thousand lists or maps.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	n := 0
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberSS:
		for _, s := range v.Value {
			n += len(s)
		}
	case *types.AttributeValueMemberNS:
		for _, s := range v.Value {
			n += len(s)
		}
	case *types.AttributeValueMemberBS:
		for _, b := range v.Value {
			n += len(b)
		}
	case *types.AttributeValueMemberL:
		for _, e := range v.Value {
			n += valueSize(e)
		}
	case *types.AttributeValueMemberM:
		for name, e := range v.Value {
			n += len(name) + valueSize(e)
		}
	default:
		return 1
	}
	return n
}

func copyItem(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	if item == nil {
		return nil
	}
	out := make(map[string]types.AttributeValue, len(item))
	for k, v := range item {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v types.AttributeValue) types.AttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return &types.AttributeValueMemberS{Value: v.Value}
	case *types.AttributeValueMemberN:
		return &types.AttributeValueMemberN{Value: v.Value}
	case *types.AttributeValueMemberB:
		return &types.AttributeValueMemberB{Value: bytes.Clone(v.Value)}
	case *types.AttributeValueMemberBOOL:
		return &types.AttributeValueMemberBOOL{Value: v.Value}
	case *types.AttributeValueMemberNULL:
		return &types.AttributeValueMemberNULL{Value: v.Value}
	case *types.AttributeValueMemberSS:
		return &types.AttributeValueMemberSS{Value: slices.Clone(v.Value)}
	case *types.AttributeValueMemberNS:
		return &types.AttributeValueMemberNS{Value: slices.Clone(v.Value)}
	case *types.AttributeValueMemberBS:
		out := make([][]byte, len(v.Value))
		for i, b := range v.Value {
			out[i] = bytes.Clone(b)
		}
		return &types.AttributeValueMemberBS{Value: out}
	case *types.AttributeValueMemberL:
		out := make([]types.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			out[i] = copyValue(e)
		}
		return &types.AttributeValueMemberL{Value: out}
	case *types.AttributeValueMemberM:
		return &types.AttributeValueMemberM{Value: copyItem(v.Value)}
	}
	return v
}

// validation is DynamoDB's ValidationException.
func validation(msg string) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: msg, Fault: smithy.FaultClient}
}

// unsupported is the error for a request this fake does not implement.
func unsupported(op, format string, args ...any) error {
	if op != "" {
		op += ": "
	}
	return fmt.Errorf("fakeaws: %sunsupported: %s", op, fmt.Sprintf(format, args...))
}

// wait sleeps d, or less if ctx ends first, and returns ctx's error if it
// has ended.
func wait(ctx context.Context, d time.Duration) error {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return ctx.Err()
}

// DeleteItem is not implemented yet.
func (d *DynamoDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, unsupported("DeleteItem", "anything")
}

// Query is not implemented yet.
func (d *DynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return nil, unsupported("Query", "anything")
}

// Scan is not implemented yet.
func (d *DynamoDB) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return nil, unsupported("Scan", "anything")
}
