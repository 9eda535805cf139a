package fakeaws

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

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

// Query returns, a page at a time, the items of the table or of one of its
// global secondary indexes (IndexName) whose partition key equals a value:
// the KeyConditionExpression is `a = :v`, or that AND a condition on the
// sort key (=, <, <=, >, >=, BETWEEN, begins_with). An index lists only
// the items that have its key attributes, sorted by its sort key (then by
// the table's key), each as the index projects it; ScanIndexForward false
// reverses the order. A ProjectionExpression keeps only the attributes it
// names (on an index, they must be projected into it). A page stops after
// Limit items or before [MaxPageSize] bytes; LastEvaluatedKey then holds
// the key of its last item (the table's key and the index's), which
// ExclusiveStartKey takes to read on. ConsistentRead on an index is a
// ValidationException, as in DynamoDB; an index is never behind the
// table. FilterExpression, Select and the legacy parameters are
// unsupported.
func (d *DynamoDB) Query(ctx context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if err := d.begin(ctx, "Query", in); err != nil {
		return nil, err
	}
	if in.KeyConditions != nil || in.QueryFilter != nil || in.AttributesToGet != nil || in.ConditionalOperator != "" {
		return nil, unsupported("Query", "legacy KeyConditions, QueryFilter and AttributesToGet")
	}
	if in.FilterExpression != nil || in.Select != "" {
		return nil, unsupported("Query", "FilterExpression and Select")
	}
	if in.KeyConditionExpression == nil {
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	if err := checkLimit(in.Limit); err != nil {
		return nil, err
	}
	ectx := newExprContext(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	conds, err := parseKeyCondition("Query", *in.KeyConditionExpression, ectx)
	if err != nil {
		return nil, err
	}
	proj, err := parseRequestProjection("Query", in.ProjectionExpression, ectx)
	if err != nil {
		return nil, err
	}
	if err := ectx.checkUsed(1 + count(proj != nil)); err != nil {
		return nil, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.table(aws.ToString(in.TableName))
	if err != nil {
		return nil, err
	}
	v, err := t.view(in.IndexName, in.ConsistentRead)
	if err != nil {
		return nil, err
	}
	match, err := v.keyMatch(conds)
	if err != nil {
		return nil, err
	}
	entries := slices.DeleteFunc(slices.Clone(v.entries()), func(e entry) bool { return !match(e.item) })
	forward := aws.ToBool(in.ScanIndexForward) || in.ScanIndexForward == nil
	if !forward {
		slices.Reverse(entries)
	}
	items, last, err := v.page(entries, forward, in.ExclusiveStartKey, in.Limit, proj)
	if err != nil {
		return nil, err
	}
	return &dynamodb.QueryOutput{Items: items, Count: int32(len(items)), ScannedCount: int32(len(items)), LastEvaluatedKey: last}, nil
}

// Scan returns, a page at a time, every item of the table, or of one of
// its global secondary indexes (IndexName), in key order. Pages,
// ProjectionExpression and ConsistentRead are as in [DynamoDB.Query];
// every read of the table is consistent. FilterExpression, Select,
// parallel scans (Segment) and the legacy parameters are unsupported.
func (d *DynamoDB) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if err := d.begin(ctx, "Scan", in); err != nil {
		return nil, err
	}
	if in.ScanFilter != nil || in.AttributesToGet != nil || in.ConditionalOperator != "" {
		return nil, unsupported("Scan", "legacy ScanFilter and AttributesToGet")
	}
	if in.FilterExpression != nil || in.Select != "" || in.Segment != nil || in.TotalSegments != nil {
		return nil, unsupported("Scan", "FilterExpression, Select and parallel scans")
	}
	if err := checkLimit(in.Limit); err != nil {
		return nil, err
	}
	ectx := newExprContext(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	proj, err := parseRequestProjection("Scan", in.ProjectionExpression, ectx)
	if err != nil {
		return nil, err
	}
	if err := ectx.checkUsed(count(proj != nil)); err != nil {
		return nil, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	t, err := d.table(aws.ToString(in.TableName))
	if err != nil {
		return nil, err
	}
	v, err := t.view(in.IndexName, in.ConsistentRead)
	if err != nil {
		return nil, err
	}
	items, last, err := v.page(v.entries(), true, in.ExclusiveStartKey, in.Limit, proj)
	if err != nil {
		return nil, err
	}
	return &dynamodb.ScanOutput{Items: items, Count: int32(len(items)), ScannedCount: int32(len(items)), LastEvaluatedKey: last}, nil
}

func checkLimit(limit *int32) error {
	if limit != nil && *limit < 1 {
		return validation(fmt.Sprintf("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *limit))
	}
	return nil
}

func parseRequestProjection(op string, expr *string, ctx *exprContext) ([]string, error) {
	if expr == nil {
		return nil, nil
	}
	return parseProjection(op, *expr, ctx)
}

// view is what a Query or Scan reads: a table, or one of its indexes.
type view struct {
	t  *table
	ix *index // nil: the table itself
}

// view returns the table's view for a request's IndexName, checked as
// DynamoDB checks it.
func (t *table) view(indexName *string, consistent *bool) (view, error) {
	if indexName == nil {
		return view{t: t}, nil
	}
	ix, ok := t.indexes[*indexName]
	if !ok {
		return view{}, validation("The table does not have the specified index: " + *indexName)
	}
	if aws.ToBool(consistent) {
		return view{}, validation("Consistent reads are not supported on global secondary indexes")
	}
	return view{t: t, ix: ix}, nil
}

// keys are the view's key attributes: partition key first, then the sort
// key if any, then the table's key if it is not one of them.
func (v view) keys() []string {
	if v.ix == nil {
		return []string{v.t.hashKey}
	}
	out := []string{v.ix.hashKey}
	if v.ix.rangeKey != "" {
		out = append(out, v.ix.rangeKey)
	}
	if !slices.Contains(out, v.t.hashKey) {
		out = append(out, v.t.hashKey)
	}
	return out
}

// entry is one item as a view lists it.
type entry struct {
	item      map[string]types.AttributeValue // the whole item
	projected map[string]types.AttributeValue // as the view holds it
}

// entries lists the view's items in its order: an index only the items
// that have its key attributes, of its types.
func (v view) entries() []entry {
	name := ""
	if v.ix != nil {
		name = v.ix.name
	}
	if c, ok := v.t.sorted[name]; ok && c.writes == v.t.writes {
		return c.entries
	}
	keys := v.keys()
	type keyed struct {
		entry
		key []types.AttributeValue
	}
	var all []keyed
	for _, item := range v.t.items {
		if v.holds(item) {
			k := make([]types.AttributeValue, len(keys))
			for i, a := range keys {
				k[i] = item[a]
			}
			all = append(all, keyed{entry{item: item, projected: v.project(item)}, k})
		}
	}
	// The keys are looked up once, not at every comparison: a view of
	// 100,000 items is sorted for every page a Query reads.
	slices.SortFunc(all, func(a, b keyed) int {
		for i := range a.key {
			if c := compareKeys(a.key[i], b.key[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	out := make([]entry, len(all))
	for i, k := range all {
		out[i] = k.entry
	}
	if v.t.sorted == nil {
		v.t.sorted = map[string]sortedView{}
	}
	v.t.sorted[name] = sortedView{writes: v.t.writes, entries: out}
	return out
}

// holds tells whether the view lists an item (or key): whether it has the
// view's key attributes, of their types.
func (v view) holds(item map[string]types.AttributeValue) bool {
	for _, a := range v.keys() {
		if val, ok := item[a]; !ok || typeName(val) != string(v.t.attrTypes[a]) {
			return false
		}
	}
	return true
}

// compare orders two items (or keys) by the view's key attributes.
func (v view) compare(a, b map[string]types.AttributeValue) int {
	for _, k := range v.keys() {
		if c := compareKeys(a[k], b[k]); c != 0 {
			return c
		}
	}
	return 0
}

// project returns the attributes of item that the view holds.
func (v view) project(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	if v.ix == nil || v.ix.projection == types.ProjectionTypeAll {
		return item
	}
	out := map[string]types.AttributeValue{}
	for _, a := range append(v.keys(), v.ix.include...) {
		if val, ok := item[a]; ok {
			out[a] = val
		}
	}
	return out
}

// keyMatch checks a Query's key conditions against the view's key schema,
// as DynamoDB does, and returns the test of an item.
func (v view) keyMatch(conds []keyCondition) (func(map[string]types.AttributeValue) bool, error) {
	hashKey, rangeKey := v.t.hashKey, ""
	if v.ix != nil {
		hashKey, rangeKey = v.ix.hashKey, v.ix.rangeKey
	}
	onHash := slices.ContainsFunc(conds, func(c keyCondition) bool { return c.attr == hashKey && c.op == "=" })
	if !onHash {
		return nil, validation("Query condition missed key schema element: " + hashKey)
	}
	if len(conds) == 2 && (conds[0].attr == conds[1].attr || rangeKey == "" ||
		!slices.ContainsFunc(conds, func(c keyCondition) bool { return c.attr == rangeKey })) {
		return nil, validation("Query key condition not supported")
	}
	for _, c := range conds {
		for _, val := range c.values {
			if typeName(val) != string(v.t.attrTypes[c.attr]) || (c.op == "begins_with" && typeName(val) == "N") {
				return nil, validation("One or more parameter values were invalid: Condition parameter type does not match schema type")
			}
		}
	}
	return func(item map[string]types.AttributeValue) bool {
		for _, c := range conds {
			if val, ok := item[c.attr]; !ok || !c.holds(val) {
				return false
			}
		}
		return true
	}, nil
}

// page returns the entries that follow start (nil: from the first) in
// their order (forward: the view's), at most limit (nil: no limit) and
// [MaxPageSize] bytes of them, each cut to the projection (nil: whole),
// and the key to read on from, if the page stopped before the end or at
// its limit.
func (v view) page(entries []entry, forward bool, start map[string]types.AttributeValue, limit *int32, proj []string) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error) {
	if v.ix != nil && v.ix.projection != types.ProjectionTypeAll {
		held := append(v.keys(), v.ix.include...)
		for _, a := range proj {
			if !slices.Contains(held, a) {
				return nil, nil, unsupported("", "a projection of %s, which index %s does not project", a, v.ix.name)
			}
		}
	}
	if start != nil {
		if len(start) != len(v.keys()) || !v.holds(start) {
			return nil, nil, validation("The provided starting key is invalid: The provided key element does not match the schema")
		}
		i := slices.IndexFunc(entries, func(e entry) bool {
			c := v.compare(e.item, start)
			return forward && c > 0 || !forward && c < 0
		})
		if i < 0 {
			i = len(entries)
		}
		entries = entries[i:]
	}
	var items []map[string]types.AttributeValue
	var last map[string]types.AttributeValue
	size := 0
	for i, e := range entries {
		s := readSize(e.projected)
		if limit != nil && len(items) == int(*limit) || len(items) > 0 && size+s > MaxPageSize {
			last = v.keyOf(entries[i-1].item)
			break
		}
		items = append(items, copyItem(selectAttrs(e.projected, proj)))
		size += s
	}
	if limit != nil && len(items) == int(*limit) && last == nil {
		// DynamoDB stops at the limit without looking further.
		last = v.keyOf(entries[len(items)-1].item)
	}
	if items == nil {
		items = []map[string]types.AttributeValue{}
	}
	return items, last, nil
}

// keyOf returns the key attributes of an item in the view.
func (v view) keyOf(item map[string]types.AttributeValue) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for _, a := range v.keys() {
		out[a] = copyValue(item[a])
	}
	return out
}

// selectAttrs returns the attributes of item that attrs names (nil: all).
func selectAttrs(item map[string]types.AttributeValue, attrs []string) map[string]types.AttributeValue {
	if attrs == nil {
		return item
	}
	out := map[string]types.AttributeValue{}
	for _, a := range attrs {
		if v, ok := item[a]; ok {
			out[a] = v
		}
	}
	return out
}
