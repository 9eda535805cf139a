package fakeaws

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// parseRequestCondition reads a write's ConditionExpression, if any, with
// the request's names and values; nil means no condition.
func parseRequestCondition(op string, expr *string, ctx *exprContext) (condition, error) {
	if expr == nil {
		return nil, nil
	}
	return parseCondition(op, *expr, ctx)
}

// count is 1 if b holds, else 0: how many expressions a request gives.
func count(b bool) int {
	if b {
		return 1
	}
	return 0
}

// PutItem stores the item, replacing any item with its key, if its
// ConditionExpression holds; a false condition is a
// *types.ConditionalCheckFailedException. Conditions are described at
// [DynamoDB.UpdateItem]. ReturnValues NONE and ALL_OLD are honoured, and
// ReturnValuesOnConditionCheckFailure ALL_OLD. An item over 405,000 bytes
// (moto's limit, as moto counts them; DynamoDB's is 400 KB), or whose
// attribute keying an index is of the wrong type or empty, is a
// ValidationException.
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
	ectx := newExprContext(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	cond, err := parseRequestCondition("PutItem", in.ConditionExpression, ectx)
	if err != nil {
		return nil, err
	}
	if err := ectx.checkUsed(count(cond != nil)); err != nil {
		return nil, err
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
	if err := t.checkIndexKeys(in.Item, false); err != nil {
		return nil, err
	}
	if err := t.checkKeySizes(in.Item); err != nil {
		return nil, err
	}
	old, exists := t.items[k]
	if cond != nil && !cond(old) {
		return nil, conditionFailed(old, in.ReturnValuesOnConditionCheckFailure)
	}
	t.items[k] = copyItem(in.Item)
	t.writes++
	out := &dynamodb.PutItemOutput{}
	if exists && in.ReturnValues == types.ReturnValueAllOld {
		out.Attributes = copyItem(old)
	}
	return out, nil
}

// DeleteItem removes the item with the given key, if any, when its
// ConditionExpression holds (a false one is a
// *types.ConditionalCheckFailedException); deleting no item is no error.
// ReturnValues NONE and ALL_OLD are honoured, and
// ReturnValuesOnConditionCheckFailure ALL_OLD.
func (d *DynamoDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := d.begin(ctx, "DeleteItem", in); err != nil {
		return nil, err
	}
	if in.Expected != nil || in.ConditionalOperator != "" {
		return nil, unsupported("DeleteItem", "legacy Expected conditions")
	}
	switch in.ReturnValues {
	case "", types.ReturnValueNone, types.ReturnValueAllOld:
	default:
		return nil, validation(fmt.Sprintf("ReturnValues can only be ALL_OLD or NONE for DeleteItem, not %s", in.ReturnValues))
	}
	ectx := newExprContext(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	cond, err := parseRequestCondition("DeleteItem", in.ConditionExpression, ectx)
	if err != nil {
		return nil, err
	}
	if err := ectx.checkUsed(count(cond != nil)); err != nil {
		return nil, err
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
	old, exists := t.items[k]
	if cond != nil && !cond(old) {
		return nil, conditionFailed(old, in.ReturnValuesOnConditionCheckFailure)
	}
	delete(t.items, k)
	t.writes++
	out := &dynamodb.DeleteItemOutput{}
	if exists && in.ReturnValues == types.ReturnValueAllOld {
		out.Attributes = copyItem(old)
	}
	return out, nil
}

// UpdateItem applies an UpdateExpression to the item with the given key,
// creating the item if missing (as DynamoDB does), when its
// ConditionExpression holds against the item as it was (a false one is a
// *types.ConditionalCheckFailedException, with the item when
// ReturnValuesOnConditionCheckFailure is ALL_OLD).
//
// The UpdateExpression may hold each of these clauses once, in any order,
// each with comma-separated actions on top-level attributes (a or #name),
// no attribute named twice:
//   - SET a = :v
//   - REMOVE a (an absent attribute is no error)
//   - ADD a :v, with :v a number (added to a number, or stored if a is
//     absent) or a set (joined to a set of its type)
//   - DELETE a :v, with :v a set (taken from a set of its type; a set
//     left empty is removed)
//
// A condition compares two operands (a, #name or :v) with =, or is
// attribute_exists(a) or attribute_not_exists(a), or combines conditions
// with AND, OR, NOT and parentheses. Rejected with a ValidationException,
// as by DynamoDB: an undefined or unused #name or :value, a bare reserved
// word, an update of the key, an operand of the wrong type, an index key
// set to the wrong type or to "", an item grown past the size limit.
// ReturnValues NONE, ALL_NEW, ALL_OLD, UPDATED_NEW and UPDATED_OLD are
// honoured; the updated attributes are those the expression names.
func (d *DynamoDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := d.begin(ctx, "UpdateItem", in); err != nil {
		return nil, err
	}
	if in.Expected != nil || in.ConditionalOperator != "" || in.AttributeUpdates != nil {
		return nil, unsupported("UpdateItem", "legacy Expected conditions and AttributeUpdates")
	}
	if !slices.Contains(append(types.ReturnValueNone.Values(), ""), in.ReturnValues) {
		return nil, validation(fmt.Sprintf("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", in.ReturnValues))
	}
	ectx := newExprContext(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	var actions []updateAction
	exprs := 0
	if in.UpdateExpression != nil {
		var err error
		if actions, err = parseUpdate("UpdateItem", *in.UpdateExpression, ectx); err != nil {
			return nil, err
		}
		exprs++
	}
	cond, err := parseRequestCondition("UpdateItem", in.ConditionExpression, ectx)
	if err != nil {
		return nil, err
	}
	if cond != nil {
		exprs++
	}
	if err := ectx.checkUsed(exprs); err != nil {
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
	set := map[string]types.AttributeValue{}
	for _, a := range actions {
		if a.attr == t.hashKey {
			return nil, validation("One or more parameter values were invalid: Cannot update attribute " + a.attr + ". This attribute is part of the key")
		}
		if a.clause == "SET" {
			set[a.attr] = a.value
		}
	}
	if err := t.checkIndexKeys(set, true); err != nil {
		return nil, err
	}
	old, exists := t.items[k]
	if cond != nil && !cond(old) {
		return nil, conditionFailed(old, in.ReturnValuesOnConditionCheckFailure)
	}
	next := copyItem(old)
	if !exists {
		next = copyItem(in.Key)
	}
	for _, a := range actions {
		if err := apply(next, a); err != nil {
			return nil, err
		}
	}
	if size := itemSize(next); size > itemSizeLimit {
		return nil, validation(fmt.Sprintf("Item size to update has exceeded the maximum allowed size (%d bytes; at most %d)", size, itemSizeLimit))
	}
	if err := t.checkIndexKeys(next, true); err != nil {
		return nil, err
	}
	if err := t.checkKeySizes(next); err != nil {
		return nil, err
	}
	t.items[k] = next
	t.writes++

	out := &dynamodb.UpdateItemOutput{}
	updated := func(item map[string]types.AttributeValue) map[string]types.AttributeValue {
		var attrs map[string]types.AttributeValue
		for _, a := range actions {
			if v, ok := item[a.attr]; ok {
				if attrs == nil {
					attrs = map[string]types.AttributeValue{}
				}
				attrs[a.attr] = copyValue(v)
			}
		}
		return attrs
	}
	switch in.ReturnValues {
	case types.ReturnValueAllNew:
		out.Attributes = copyItem(next)
	case types.ReturnValueAllOld:
		if exists {
			out.Attributes = copyItem(old)
		}
	case types.ReturnValueUpdatedNew:
		out.Attributes = updated(next)
	case types.ReturnValueUpdatedOld:
		out.Attributes = updated(old)
	}
	return out, nil
}

// apply carries out one action of an UpdateExpression on item.
func apply(item map[string]types.AttributeValue, a updateAction) error {
	cur, exists := item[a.attr]
	switch a.clause {
	case "SET":
		item[a.attr] = copyValue(a.value)
	case "REMOVE":
		delete(item, a.attr)
	case "ADD":
		switch v := a.value.(type) {
		case *types.AttributeValueMemberN:
			if !exists {
				item[a.attr] = copyValue(v)
				return nil
			}
			n, ok := cur.(*types.AttributeValueMemberN)
			if !ok {
				return validation(errWrongDataType)
			}
			sum, err := addNumbers(n.Value, v.Value)
			if err != nil {
				return err
			}
			item[a.attr] = &types.AttributeValueMemberN{Value: sum}
		case *types.AttributeValueMemberSS, *types.AttributeValueMemberNS, *types.AttributeValueMemberBS:
			if !exists {
				item[a.attr] = copyValue(v)
				return nil
			}
			joined, ok := setOp(cur, v, true)
			if !ok {
				return validation(errWrongDataType)
			}
			item[a.attr] = copyValue(joined)
		default:
			return validation(fmt.Sprintf("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: %s", typeName(v)))
		}
	case "DELETE":
		switch v := a.value.(type) {
		case *types.AttributeValueMemberSS, *types.AttributeValueMemberNS, *types.AttributeValueMemberBS:
			if !exists {
				return nil
			}
			left, ok := setOp(cur, v, false)
			if !ok {
				return validation(errWrongDataType)
			}
			if left == nil {
				delete(item, a.attr)
			} else {
				item[a.attr] = copyValue(left)
			}
		default:
			return validation(fmt.Sprintf("Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: %s", typeName(v)))
		}
	}
	return nil
}

// setOp joins (add) or takes (!add) the elements of the set v to or from
// the set cur; ok is false when they are not sets of one type. An empty
// result is nil.
func setOp(cur, v types.AttributeValue, add bool) (out types.AttributeValue, ok bool) {
	switch cur := cur.(type) {
	case *types.AttributeValueMemberSS:
		v, ok := v.(*types.AttributeValueMemberSS)
		if !ok {
			return nil, false
		}
		if r := combine(cur.Value, v.Value, add, func(a, b string) bool { return a == b }); r != nil {
			return &types.AttributeValueMemberSS{Value: r}, true
		}
		return nil, true
	case *types.AttributeValueMemberNS:
		v, ok := v.(*types.AttributeValueMemberNS)
		if !ok {
			return nil, false
		}
		if r := combine(cur.Value, v.Value, add, func(a, b string) bool { return compareNumbers(a, b) == 0 }); r != nil {
			return &types.AttributeValueMemberNS{Value: r}, true
		}
		return nil, true
	case *types.AttributeValueMemberBS:
		v, ok := v.(*types.AttributeValueMemberBS)
		if !ok {
			return nil, false
		}
		if r := combine(cur.Value, v.Value, add, func(a, b []byte) bool { return string(a) == string(b) }); r != nil {
			return &types.AttributeValueMemberBS{Value: r}, true
		}
		return nil, true
	}
	return nil, false
}

func combine[T any](have, with []T, add bool, eq func(T, T) bool) []T {
	var out []T
	for _, h := range have {
		if add || !slices.ContainsFunc(with, func(w T) bool { return eq(h, w) }) {
			out = append(out, h)
		}
	}
	if add {
		for _, w := range with {
			if !slices.ContainsFunc(out, func(h T) bool { return eq(h, w) }) {
				out = append(out, w)
			}
		}
	}
	return out
}
