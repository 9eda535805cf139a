package fakeaws

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The expression language, as much of it as the fake understands: paths
// are top-level attribute names, bare or #name; operands are paths and
// :values. What DynamoDB understands beyond that (nested paths, functions
// other than attribute_exists and attribute_not_exists, comparisons other
// than =, arithmetic in SET) is an error saying it is unsupported, and
// what DynamoDB rejects is a ValidationException.

//go:embed reserved_words.txt
var reservedWordsText string

// reservedWords are the words an expression may not use as a bare
// attribute name, upper-cased.
var reservedWords = func() map[string]bool {
	out := map[string]bool{}
	for line := range strings.Lines(reservedWordsText) {
		if w := strings.TrimSpace(line); w != "" && !strings.HasPrefix(w, "#") {
			out[strings.ToUpper(w)] = true
		}
	}
	return out
}()

type tokenKind int

const (
	tokEOF    tokenKind = iota
	tokWord             // a bare name, keyword or function name
	tokName             // #name
	tokValue            // :value
	tokNumber           // digits, as in a list index
	tokPunct            // = <> < <= > >= ( ) , . [ ] + -
)

type token struct {
	kind tokenKind
	text string
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// tokenize splits an expression; what names it in errors, as DynamoDB
// does ("UpdateExpression").
func tokenize(what, expr string) ([]token, error) {
	var out []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '#' || c == ':':
			j := i + 1
			for j < len(expr) && isWordByte(expr[j]) {
				j++
			}
			if j == i+1 {
				return nil, syntaxError(what, expr[i:i+1])
			}
			kind := tokName
			if c == ':' {
				kind = tokValue
			}
			out = append(out, token{kind, expr[i:j]})
			i = j
			continue
		case c >= '0' && c <= '9':
			j := i
			for j < len(expr) && expr[j] >= '0' && expr[j] <= '9' {
				j++
			}
			out = append(out, token{tokNumber, expr[i:j]})
			i = j
			continue
		case isWordByte(c):
			j := i
			for j < len(expr) && isWordByte(expr[j]) {
				j++
			}
			out = append(out, token{tokWord, expr[i:j]})
			i = j
			continue
		}
		for _, p := range []string{"<>", "<=", ">=", "=", "<", ">", "(", ")", ",", ".", "[", "]", "+", "-"} {
			if strings.HasPrefix(expr[i:], p) {
				out = append(out, token{tokPunct, p})
				i += len(p)
				goto next
			}
		}
		return nil, syntaxError(what, expr[i:i+1])
	next:
	}
	return out, nil
}

func syntaxError(what, near string) error {
	return validation(fmt.Sprintf("Invalid %s: Syntax error; token: %q", what, near))
}

// exprContext resolves the #names and :values of one request's
// expressions and remembers which were used, since DynamoDB rejects a
// request giving one that none of its expressions uses.
type exprContext struct {
	names      map[string]string
	values     map[string]types.AttributeValue
	usedNames  map[string]bool
	usedValues map[string]bool
}

func newExprContext(names map[string]string, values map[string]types.AttributeValue) *exprContext {
	return &exprContext{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
}

// checkUsed fails, as DynamoDB does, when a name or value given is not
// used by any expression, or when names or values are given with no
// expression at all (exprs counts the request's expressions).
func (c *exprContext) checkUsed(exprs int) error {
	if exprs == 0 && (len(c.names) > 0 || len(c.values) > 0) {
		return validation("ExpressionAttributeNames and ExpressionAttributeValues can only be specified when using expressions")
	}
	var unusedNames, unusedValues []string
	for n := range c.names {
		if !c.usedNames[n] {
			unusedNames = append(unusedNames, n)
		}
	}
	for v := range c.values {
		if !c.usedValues[v] {
			unusedValues = append(unusedValues, v)
		}
	}
	if len(unusedValues) > 0 {
		slices.Sort(unusedValues)
		return validation(fmt.Sprintf(errUnusedValues, strings.Join(unusedValues, ", ")))
	}
	if len(unusedNames) > 0 {
		slices.Sort(unusedNames)
		return validation(fmt.Sprintf(errUnusedNames, strings.Join(unusedNames, ", ")))
	}
	for v := range c.usedValues {
		if err := checkValue(c.values[v]); err != nil {
			return err
		}
	}
	return nil
}

// parser reads one expression.
type parser struct {
	what string // "ConditionExpression", ...
	op   string // the operation, for unsupported errors
	toks []token
	pos  int
	ctx  *exprContext
}

func newParser(op, what, expr string, ctx *exprContext) (*parser, error) {
	toks, err := tokenize(what, expr)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, validation(fmt.Sprintf("Invalid %s: The expression can not be empty;", what))
	}
	return &parser{what: what, op: op, toks: toks, ctx: ctx}, nil
}

func (p *parser) peek() token {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return token{kind: tokEOF}
}

func (p *parser) peekAt(i int) token {
	if p.pos+i < len(p.toks) {
		return p.toks[p.pos+i]
	}
	return token{kind: tokEOF}
}

func (p *parser) next() token {
	t := p.peek()
	if p.pos < len(p.toks) {
		p.pos++
	}
	return t
}

// keyword consumes the next token if it is the keyword kw (any case).
func (p *parser) keyword(kw string) bool {
	if t := p.peek(); t.kind == tokWord && strings.EqualFold(t.text, kw) {
		p.pos++
		return true
	}
	return false
}

// punct consumes the next token if it is s.
func (p *parser) punct(s string) bool {
	if t := p.peek(); t.kind == tokPunct && t.text == s {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.punct(s) {
		return p.syntaxError()
	}
	return nil
}

func (p *parser) syntaxError() error {
	t := p.peek()
	if t.kind == tokEOF {
		return syntaxError(p.what, "<EOF>")
	}
	return syntaxError(p.what, t.text)
}

func (p *parser) unsupported(format string, args ...any) error {
	return unsupported(p.op, "%s: %s", p.what, fmt.Sprintf(format, args...))
}

func (p *parser) end() error {
	if p.peek().kind != tokEOF {
		return p.syntaxError()
	}
	return nil
}

// path reads an attribute name, bare or #name, and returns the name.
func (p *parser) path() (string, error) {
	t := p.next()
	var name string
	switch t.kind {
	case tokName:
		n, ok := p.ctx.names[t.text]
		if !ok {
			return "", validation(fmt.Sprintf(errNoSuchName, t.text))
		}
		p.ctx.usedNames[t.text] = true
		name = n
	case tokWord:
		if reservedWords[strings.ToUpper(t.text)] {
			return "", validation(fmt.Sprintf("Invalid %s: Attribute name is a reserved keyword; reserved keyword: %s", p.what, t.text))
		}
		name = t.text
	default:
		p.pos--
		return "", p.syntaxError()
	}
	if n := p.peek(); n.kind == tokPunct && (n.text == "." || n.text == "[") {
		return "", p.unsupported("nested attribute paths (%s%s...)", t.text, n.text)
	}
	return name, nil
}

// value reads a :value and returns it.
func (p *parser) value() (string, types.AttributeValue, error) {
	t := p.next()
	if t.kind != tokValue {
		p.pos--
		return "", nil, p.syntaxError()
	}
	v, ok := p.ctx.values[t.text]
	if !ok {
		return "", nil, validation(fmt.Sprintf(errNoSuchValue, t.text))
	}
	p.ctx.usedValues[t.text] = true
	return t.text, v, nil
}

// operand is a path or a value in a condition.
type operand struct {
	path  string
	value types.AttributeValue // set for a :value
}

func (o operand) eval(item map[string]types.AttributeValue) (types.AttributeValue, bool) {
	if o.value != nil {
		return o.value, true
	}
	v, ok := item[o.path]
	return v, ok
}

func (p *parser) operand() (operand, error) {
	if p.peek().kind == tokValue {
		_, v, err := p.value()
		return operand{value: v}, err
	}
	if t := p.peek(); t.kind == tokWord && p.peekAt(1).text == "(" {
		return operand{}, p.unsupported("the function %s as an operand", t.text)
	}
	path, err := p.path()
	return operand{path: path}, err
}

// condition tells whether an item (nil: none) satisfies a condition.
type condition func(item map[string]types.AttributeValue) bool

// parseCondition reads a ConditionExpression: comparisons with =,
// attribute_exists(a) and attribute_not_exists(a), combined with AND, OR,
// NOT and parentheses.
func parseCondition(op, expr string, ctx *exprContext) (condition, error) {
	p, err := newParser(op, "ConditionExpression", expr, ctx)
	if err != nil {
		return nil, err
	}
	cond, err := p.or()
	if err != nil {
		return nil, err
	}
	return cond, p.end()
}

func (p *parser) or() (condition, error) {
	left, err := p.and()
	for err == nil && p.keyword("OR") {
		var right condition
		if right, err = p.and(); err == nil {
			l := left
			left = func(item map[string]types.AttributeValue) bool { return l(item) || right(item) }
		}
	}
	return left, err
}

func (p *parser) and() (condition, error) {
	left, err := p.not()
	for err == nil && p.keyword("AND") {
		var right condition
		if right, err = p.not(); err == nil {
			l := left
			left = func(item map[string]types.AttributeValue) bool { return l(item) && right(item) }
		}
	}
	return left, err
}

func (p *parser) not() (condition, error) {
	if p.keyword("NOT") {
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return func(item map[string]types.AttributeValue) bool { return !c(item) }, nil
	}
	return p.primary()
}

func (p *parser) primary() (condition, error) {
	if p.punct("(") {
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		return c, p.expect(")")
	}
	if t := p.peek(); t.kind == tokWord && p.peekAt(1).text == "(" {
		p.pos += 2
		switch t.text {
		case "attribute_exists", "attribute_not_exists":
			attr, err := p.path()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			want := t.text == "attribute_exists"
			return func(item map[string]types.AttributeValue) bool {
				_, ok := item[attr]
				return ok == want
			}, nil
		case "attribute_type", "begins_with", "contains", "size":
			return nil, p.unsupported("the function %s", t.text)
		default:
			return nil, validation(fmt.Sprintf("Invalid %s: Invalid function name; function: %s", p.what, t.text))
		}
	}
	left, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch t := p.next(); {
	case t.kind == tokPunct && t.text == "=":
	case t.kind == tokPunct && slices.Contains([]string{"<>", "<", "<=", ">", ">="}, t.text),
		t.kind == tokWord && (strings.EqualFold(t.text, "BETWEEN") || strings.EqualFold(t.text, "IN")):
		return nil, p.unsupported("the comparator %s (only = is)", t.text)
	default:
		p.pos--
		return nil, p.syntaxError()
	}
	right, err := p.operand()
	if err != nil {
		return nil, err
	}
	return func(item map[string]types.AttributeValue) bool {
		a, okA := left.eval(item)
		b, okB := right.eval(item)
		return okA && okB && equal(a, b)
	}, nil
}

// updateAction is one action of an UpdateExpression.
type updateAction struct {
	clause string // SET, REMOVE, ADD or DELETE
	attr   string
	value  types.AttributeValue // nil for REMOVE
}

// parseUpdate reads an UpdateExpression: SET a = :v, REMOVE a, ADD a :v
// and DELETE a :v clauses, each at most once, each with one or more
// comma-separated actions, no attribute named by two actions.
func parseUpdate(op, expr string, ctx *exprContext) ([]updateAction, error) {
	const what = "UpdateExpression"
	p, err := newParser(op, what, expr, ctx)
	if err != nil {
		return nil, err
	}
	var actions []updateAction
	seen := map[string]bool{}
	for p.peek().kind != tokEOF {
		t := p.next()
		clause := strings.ToUpper(t.text)
		if t.kind != tokWord || !slices.Contains([]string{"SET", "REMOVE", "ADD", "DELETE"}, clause) {
			p.pos--
			return nil, p.syntaxError()
		}
		if seen[clause] {
			return nil, validation(fmt.Sprintf("Invalid %s: The \"%s\" section can only be used once in an update expression;", what, clause))
		}
		seen[clause] = true
		for {
			a := updateAction{clause: clause}
			if a.attr, err = p.path(); err != nil {
				return nil, err
			}
			switch clause {
			case "SET":
				if err := p.expect("="); err != nil {
					return nil, err
				}
				if p.peek().kind != tokValue || p.peekAt(1).text == "+" || p.peekAt(1).text == "-" || p.peekAt(1).text == "(" {
					return nil, p.unsupported("SET %s to anything but a :value", a.attr)
				}
				_, a.value, err = p.value()
			case "ADD", "DELETE":
				_, a.value, err = p.value()
			}
			if err != nil {
				return nil, err
			}
			for _, b := range actions {
				if b.attr == a.attr {
					return nil, validation(fmt.Sprintf("Invalid %s: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", what, b.attr, a.attr))
				}
			}
			actions = append(actions, a)
			if !p.punct(",") {
				break
			}
		}
	}
	return actions, nil
}

// parseProjection reads a ProjectionExpression, a comma-separated list of
// attribute names.
func parseProjection(op, expr string, ctx *exprContext) ([]string, error) {
	p, err := newParser(op, "ProjectionExpression", expr, ctx)
	if err != nil {
		return nil, err
	}
	var attrs []string
	for {
		a, err := p.path()
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
		if !p.punct(",") {
			break
		}
	}
	return attrs, p.end()
}

// keyCondition is one part of a KeyConditionExpression: attr compared
// with one value, two for BETWEEN.
type keyCondition struct {
	attr   string
	op     string // = < <= > >= BETWEEN begins_with
	values []types.AttributeValue
}

func (c keyCondition) holds(v types.AttributeValue) bool {
	switch c.op {
	case "=":
		return compareKeys(v, c.values[0]) == 0
	case "<":
		return compareKeys(v, c.values[0]) < 0
	case "<=":
		return compareKeys(v, c.values[0]) <= 0
	case ">":
		return compareKeys(v, c.values[0]) > 0
	case ">=":
		return compareKeys(v, c.values[0]) >= 0
	case "BETWEEN":
		return compareKeys(v, c.values[0]) >= 0 && compareKeys(v, c.values[1]) <= 0
	case "begins_with":
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			p, ok := c.values[0].(*types.AttributeValueMemberS)
			return ok && strings.HasPrefix(v.Value, p.Value)
		case *types.AttributeValueMemberB:
			p, ok := c.values[0].(*types.AttributeValueMemberB)
			return ok && strings.HasPrefix(string(v.Value), string(p.Value))
		}
	}
	return false
}

// parseKeyCondition reads a KeyConditionExpression: one or two key
// conditions joined by AND, each `a = :v`, `a < :v` (<=, >, >=),
// `a BETWEEN :v AND :w` or `begins_with(a, :v)`.
func parseKeyCondition(op, expr string, ctx *exprContext) ([]keyCondition, error) {
	p, err := newParser(op, "KeyConditionExpression", expr, ctx)
	if err != nil {
		return nil, err
	}
	var conds []keyCondition
	for {
		var c keyCondition
		if t := p.peek(); t.kind == tokWord && p.peekAt(1).text == "(" {
			p.pos += 2
			if t.text != "begins_with" {
				return nil, validation(fmt.Sprintf("Invalid KeyConditionExpression: Invalid function name; function: %s", t.text))
			}
			c.op = t.text
			if c.attr, err = p.path(); err != nil {
				return nil, err
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
			_, v, err := p.value()
			if err != nil {
				return nil, err
			}
			c.values = []types.AttributeValue{v}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
		} else {
			if c.attr, err = p.path(); err != nil {
				return nil, err
			}
			t := p.next()
			switch {
			case t.kind == tokPunct && slices.Contains([]string{"=", "<", "<=", ">", ">="}, t.text):
				c.op = t.text
			case t.kind == tokWord && strings.EqualFold(t.text, "BETWEEN"):
				c.op = "BETWEEN"
			default:
				p.pos--
				return nil, p.syntaxError()
			}
			_, v, err := p.value()
			if err != nil {
				return nil, err
			}
			c.values = []types.AttributeValue{v}
			if c.op == "BETWEEN" {
				if !p.keyword("AND") {
					return nil, p.syntaxError()
				}
				_, w, err := p.value()
				if err != nil {
					return nil, err
				}
				c.values = append(c.values, w)
			}
		}
		conds = append(conds, c)
		if !p.keyword("AND") {
			break
		}
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	if len(conds) > 2 {
		return nil, validation("Conditions can be of length 1 or 2 only")
	}
	return conds, nil
}
