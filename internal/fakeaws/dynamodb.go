package fakeaws

import (
	"context"
	"fmt"
	"maps"
	"slices"
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
const DefaultHashKey = state.KeyAttribute

// MaxBatchGetKeys is the most keys one BatchGetItem call may request.
const MaxBatchGetKeys = 100

// MaxItemSize is DynamoDB's documented limit on the size of one item
// (400 KB). The fake rejects items a little smaller: see [DynamoDB.PutItem].
const MaxItemSize = 400 * 1024

// MaxPageSize is the most data one Query or Scan page returns, in bytes as
// DynamoDB counts an item's size (1 MB); moto 5.2.1 draws the line at
// 1,000,000 bytes as it counts them.
const MaxPageSize = 1 << 20

// itemSizeLimit is the largest item, in bytes as itemSize counts them, that
// the fake stores: moto's limit, under DynamoDB's, so that an item the fake
// and moto accept also fits in DynamoDB.
const itemSizeLimit = 405_000

// DynamoDB's limits on the size of a partition key's value and of a sort
// key's, in a table or an index.
const (
	maxHashKeySize  = 2048
	maxRangeKeySize = 1024
)

// DynamoDB is an in-memory stand-in for the DynamoDB operations that
// state.Store uses: BatchGetItem, GetItem, PutItem, UpdateItem,
// DeleteItem, Query and Scan. A table has a partition key of type string
// and no sort key, and may have global secondary indexes, which are
// sparse (an item is in an index when it has the index's key attributes)
// and, unlike DynamoDB's, never behind the table. Items are deep-copied on
// the way in and out, so neither side can change the other's copy.
//
// The store's tests run every case against this fake and against moto, so
// the two answer alike. Where moto 5.2.1 accepts what DynamoDB rejects (a
// set holding an element twice, an unused expression attribute value, a
// key of the wrong type in a read, an UpdateItem growing an item past the
// size limit, an index key of the wrong type in a PutItem), the fake
// rejects it as DynamoDB does. Two answers follow DynamoDB where moto's
// differ: a Query on an unknown index is a ValidationException (moto
// answers ResourceNotFoundException, which means the table is missing),
// and a page that stops at its Limit carries a LastEvaluatedKey even when
// no item is left (moto leaves it out).
//
// Expressions are understood as far as sessionwatch needs them: see
// [DynamoDB.UpdateItem] and [DynamoDB.Query]. Requests beyond that fail
// with an error saying they are unsupported, rather than being answered
// wrongly.
//
// Operation names, as [DynamoDB.Calls] counts them and [DynamoDB.Fail]
// receives them, are the API's: "BatchGetItem", "GetItem", "PutItem",
// "UpdateItem", "DeleteItem", "Query" and "Scan".
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
	// broken is why [NewDynamoDB] could not create a table; every call
	// then fails with it.
	broken error
}

// table is one table: its schema and its items by partition key.
type table struct {
	hashKey string
	// attrTypes are the types of the key attributes of the table and its
	// indexes, from the AttributeDefinitions.
	attrTypes map[string]types.ScalarAttributeType
	indexes   map[string]*index
	items     map[string]map[string]types.AttributeValue
	// writes counts the changes to items; sorted caches each view's
	// entries at the count they were sorted at (a Query of many pages
	// would otherwise sort the whole index for every page).
	writes int
	sorted map[string]sortedView
}

type sortedView struct {
	writes  int
	entries []entry
}

// index is a global secondary index.
type index struct {
	name              string
	hashKey, rangeKey string // rangeKey is "" when the index has none
	projection        types.ProjectionType
	include           []string // the NonKeyAttributes of an INCLUDE projection
}

// NewDynamoDB returns a fake holding the named tables, empty, each shaped
// as sessionwatch's table (state.Schema): partition key [DefaultHashKey]
// and the index state.IndexName.
func NewDynamoDB(tables ...string) *DynamoDB {
	d := &DynamoDB{tables: map[string]*table{}, calls: map[string]int{}}
	for _, name := range tables {
		if err := d.CreateTable(state.Schema(name)); err != nil {
			d.broken = fmt.Errorf("fakeaws: create table %s: %w", name, err)
		}
	}
	return d
}

// CreateTable adds an empty table as in describes it, replacing any table
// of that name. The table's key schema must be one partition key of type
// S; its global secondary indexes may have any key types. Local secondary
// indexes, streams and the like are unsupported. A schema DynamoDB rejects
// (an index key without an attribute definition, a definition no key uses)
// is a ValidationException.
func (d *DynamoDB) CreateTable(in *dynamodb.CreateTableInput) error {
	t, name, err := newTable(in)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tables == nil {
		d.tables, d.calls = map[string]*table{}, map[string]int{}
	}
	d.tables[name] = t
	return nil
}

func newTable(in *dynamodb.CreateTableInput) (*table, string, error) {
	if in == nil || aws.ToString(in.TableName) == "" {
		return nil, "", validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	name := aws.ToString(in.TableName)
	if len(in.LocalSecondaryIndexes) > 0 || in.StreamSpecification != nil {
		return nil, "", unsupported("CreateTable", "local secondary indexes and streams")
	}
	t := &table{attrTypes: map[string]types.ScalarAttributeType{}, indexes: map[string]*index{}, items: map[string]map[string]types.AttributeValue{}}
	for _, def := range in.AttributeDefinitions {
		t.attrTypes[aws.ToString(def.AttributeName)] = def.AttributeType
	}
	used := map[string]bool{}
	keys := func(schema []types.KeySchemaElement, of string) (hash, rng string, err error) {
		for _, k := range schema {
			a := aws.ToString(k.AttributeName)
			if _, ok := t.attrTypes[a]; !ok {
				return "", "", validation(fmt.Sprintf("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: %v", a, slices.Sorted(maps.Keys(t.attrTypes))))
			}
			used[a] = true
			switch {
			case k.KeyType == types.KeyTypeHash && hash == "":
				hash = a
			case k.KeyType == types.KeyTypeRange && rng == "":
				rng = a
			default:
				return "", "", validation("Invalid KeySchema of " + of + ": one HASH key and at most one RANGE key")
			}
		}
		if hash == "" {
			return "", "", validation("Invalid KeySchema of " + of + ": no HASH key")
		}
		return hash, rng, nil
	}
	hash, rng, err := keys(in.KeySchema, "the table")
	if err != nil {
		return nil, "", err
	}
	if rng != "" || t.attrTypes[hash] != types.ScalarAttributeTypeS {
		return nil, "", unsupported("CreateTable", "a table key other than one partition key of type S")
	}
	t.hashKey = hash
	for _, gsi := range in.GlobalSecondaryIndexes {
		ix := &index{name: aws.ToString(gsi.IndexName), projection: types.ProjectionTypeAll}
		if ix.name == "" || t.indexes[ix.name] != nil {
			return nil, "", validation(fmt.Sprintf("One or more parameter values were invalid: index name %q is empty or used twice", ix.name))
		}
		if ix.hashKey, ix.rangeKey, err = keys(gsi.KeySchema, "index "+ix.name); err != nil {
			return nil, "", err
		}
		if p := gsi.Projection; p != nil && p.ProjectionType != "" {
			ix.projection, ix.include = p.ProjectionType, slices.Clone(p.NonKeyAttributes)
		}
		switch {
		case ix.projection == types.ProjectionTypeInclude && len(ix.include) == 0,
			ix.projection != types.ProjectionTypeInclude && len(ix.include) > 0:
			return nil, "", validation("One or more parameter values were invalid: NonKeyAttributes must be given with ProjectionType INCLUDE, and only then")
		case !slices.Contains(types.ProjectionTypeAll.Values(), ix.projection):
			return nil, "", validation(fmt.Sprintf("Unknown ProjectionType %s", ix.projection))
		}
		t.indexes[ix.name] = ix
	}
	if len(used) != len(t.attrTypes) {
		return nil, "", validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	return t, name, nil
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
	t.writes++
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
	t.writes++
	return found
}

// begin counts the call, waits the latency and calls the fault hook.
func (d *DynamoDB) begin(ctx context.Context, op string, in any) error {
	d.mu.Lock()
	if d.calls == nil {
		d.calls = map[string]int{}
	}
	d.calls[op]++
	broken := d.broken
	d.mu.Unlock()
	if broken != nil {
		return broken
	}
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
	keyToRead  keyUse = iota // a key alone, of a read or a DeleteItem
	keyToWrite               // a key alone, of an UpdateItem
	keyOfItem                // the key of a whole item to store
)

// keyOf returns the partition key's value of an item or key, checked as
// moto and DynamoDB check it: present, a string, not empty, and in a key,
// alone. checkKeySizes checks its size in a write.
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
	}
	return sv.Value, nil
}

// checkKeySizes rejects an item to store whose key attributes, of the
// table or of an index, are over DynamoDB's limits, as moto does: whether
// or not the item has the index's other key attribute. sessionwatch's
// table keys its index on SessionId too, so a session id is limited to
// maxRangeKeySize bytes.
func (t *table) checkKeySizes(item map[string]types.AttributeValue) error {
	hashes, ranges := []string{t.hashKey}, []string{}
	for _, ix := range t.indexes {
		hashes = append(hashes, ix.hashKey)
		if ix.rangeKey != "" {
			ranges = append(ranges, ix.rangeKey)
		}
	}
	for _, a := range hashes {
		if v, ok := item[a]; ok && valueSize(v) > maxHashKeySize {
			return validation(fmt.Sprintf("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of%d bytes", maxHashKeySize))
		}
	}
	for _, a := range ranges {
		if v, ok := item[a]; ok && valueSize(v) > maxRangeKeySize {
			return validation(fmt.Sprintf("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of %d bytes", maxRangeKeySize))
		}
	}
	return nil
}

// checkIndexKeys rejects, as DynamoDB does, an item to store whose
// attribute that keys an index is of another type than the index's, or an
// empty string or binary. byUpdate words the error as for an UpdateItem.
func (t *table) checkIndexKeys(item map[string]types.AttributeValue, byUpdate bool) error {
	for _, name := range slices.Sorted(maps.Keys(t.indexes)) {
		ix := t.indexes[name]
		for _, a := range []string{ix.hashKey, ix.rangeKey} {
			v, ok := item[a]
			if a == "" || a == t.hashKey || !ok {
				continue
			}
			if got, want := typeName(v), string(t.attrTypes[a]); got != want {
				return validation(fmt.Sprintf("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", a, want, got, ix.name))
			}
			if valueSize(v) == 0 {
				if byUpdate {
					return validation("One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty string value.")
				}
				return validation(fmt.Sprintf("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: %s, IndexKey: %s", ix.name, a))
			}
		}
	}
	return nil
}

// Messages of DynamoDB's errors.
const (
	errNoSuchValue   = "An expression attribute value used in expression is not defined; attribute value: %s"
	errUnusedValues  = "Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}"
	errUnusedNames   = "Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}"
	errNoSuchName    = "An expression attribute name used in the document path is not defined; attribute name: %s"
	errWrongDataType = "An operand in the update expression has an incorrect data type"
)

// validation is DynamoDB's ValidationException.
func validation(msg string) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: msg, Fault: smithy.FaultClient}
}

// conditionFailed is DynamoDB's ConditionalCheckFailedException, with the
// item (nil: none) when the request asked for it.
func conditionFailed(old map[string]types.AttributeValue, rv types.ReturnValuesOnConditionCheckFailure) error {
	ccf := &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	if old != nil && rv == types.ReturnValuesOnConditionCheckFailureAllOld {
		ccf.Item = copyItem(old)
	}
	return ccf
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
