package fakeaws

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

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

// readSize is an item's size as DynamoDB documents it for what a read
// returns, which is what a Query or Scan page's 1 MB is made of: names
// and strings by their UTF-8 bytes, numbers about one byte per two
// significant digits plus one, 1 byte for a boolean or a null, sets by
// their elements, lists and maps 3 bytes plus 1 byte per element.
func readSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + readValueSize(v)
	}
	return n
}

func readValueSize(v types.AttributeValue) int {
	n := 0
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return numberSize(v.Value)
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberSS:
		for _, s := range v.Value {
			n += len(s)
		}
	case *types.AttributeValueMemberNS:
		for _, s := range v.Value {
			n += numberSize(s)
		}
	case *types.AttributeValueMemberBS:
		for _, b := range v.Value {
			n += len(b)
		}
	case *types.AttributeValueMemberL:
		n = 3
		for _, e := range v.Value {
			n += 1 + readValueSize(e)
		}
	case *types.AttributeValueMemberM:
		n = 3
		for name, e := range v.Value {
			n += len(name) + 1 + readValueSize(e)
		}
	default:
		return 1
	}
	return n
}

// numberSize is the size DynamoDB gives a number: (significant digits)/2,
// rounded up, plus 1, and 1 more when negative.
func numberSize(s string) int {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	digits := strings.Trim(strings.Replace(s, ".", "", 1), "0")
	n := (len(digits)+1)/2 + 1
	if neg {
		n++
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

// equal compares two attribute values as a condition's = does: same type
// and value, numbers by value, sets whatever their order, lists and maps
// element by element.
func equal(a, b types.AttributeValue) bool {
	switch a := a.(type) {
	case *types.AttributeValueMemberN:
		b, ok := b.(*types.AttributeValueMemberN)
		return ok && compareNumbers(a.Value, b.Value) == 0
	case *types.AttributeValueMemberS:
		b, ok := b.(*types.AttributeValueMemberS)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberB:
		b, ok := b.(*types.AttributeValueMemberB)
		return ok && bytes.Equal(a.Value, b.Value)
	case *types.AttributeValueMemberBOOL:
		b, ok := b.(*types.AttributeValueMemberBOOL)
		return ok && a.Value == b.Value
	case *types.AttributeValueMemberNULL:
		_, ok := b.(*types.AttributeValueMemberNULL)
		return ok
	case *types.AttributeValueMemberSS:
		b, ok := b.(*types.AttributeValueMemberSS)
		return ok && sameSet(a.Value, b.Value, func(x, y string) bool { return x == y })
	case *types.AttributeValueMemberNS:
		b, ok := b.(*types.AttributeValueMemberNS)
		return ok && sameSet(a.Value, b.Value, func(x, y string) bool { return compareNumbers(x, y) == 0 })
	case *types.AttributeValueMemberBS:
		b, ok := b.(*types.AttributeValueMemberBS)
		return ok && sameSet(a.Value, b.Value, bytes.Equal)
	case *types.AttributeValueMemberL:
		b, ok := b.(*types.AttributeValueMemberL)
		return ok && slices.EqualFunc(a.Value, b.Value, equal)
	case *types.AttributeValueMemberM:
		b, ok := b.(*types.AttributeValueMemberM)
		if !ok || len(a.Value) != len(b.Value) {
			return false
		}
		for k, v := range a.Value {
			if w, ok := b.Value[k]; !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func sameSet[T any](a, b []T, eq func(T, T) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y T) bool { return eq(x, y) }) {
			return false
		}
	}
	return true
}

// compareKeys orders two key values of one type as DynamoDB sorts them:
// strings and binaries by their bytes, numbers by value.
func compareKeys(a, b types.AttributeValue) int {
	switch a := a.(type) {
	case *types.AttributeValueMemberS:
		if b, ok := b.(*types.AttributeValueMemberS); ok {
			return strings.Compare(a.Value, b.Value)
		}
	case *types.AttributeValueMemberN:
		if b, ok := b.(*types.AttributeValueMemberN); ok {
			return compareNumbers(a.Value, b.Value)
		}
	case *types.AttributeValueMemberB:
		if b, ok := b.(*types.AttributeValueMemberB); ok {
			return bytes.Compare(a.Value, b.Value)
		}
	}
	return strings.Compare(typeName(a), typeName(b))
}

// parseNumber reads a DynamoDB number exactly.
func parseNumber(s string) (*big.Rat, bool) {
	if s == "" || strings.ContainsAny(s, "/ ") {
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

func compareNumbers(a, b string) int {
	x, okx := parseNumber(a)
	y, oky := parseNumber(b)
	if !okx || !oky {
		return strings.Compare(a, b)
	}
	return x.Cmp(y)
}

// addNumbers adds two DynamoDB numbers exactly and writes the sum as
// DynamoDB does: no exponent, no trailing zeros after the point.
func addNumbers(a, b string) (string, error) {
	x, okx := parseNumber(a)
	y, oky := parseNumber(b)
	if !okx || !oky {
		return "", validation(fmt.Sprintf("The parameter cannot be converted to a numeric value: %s", a+" + "+b))
	}
	sum := new(big.Rat).Add(x, y)
	if sum.IsInt() {
		return sum.Num().String(), nil
	}
	out := sum.FloatString(40)
	return strings.TrimRight(strings.TrimRight(out, "0"), "."), nil
}
