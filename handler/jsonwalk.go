package handler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// checkTokens walks payload, which must be valid JSON, token by token, and
// rejects what encoding/json accepts but reads as something other than the
// payload says:
//   - a name given twice in one object, at any depth (encoding/json keeps
//     the last: {"dryRun": true, "dryRun": false} would run for real);
//   - a \u escape that is not a Unicode character, an unpaired UTF-16
//     surrogate such as \ud800, in any string or name (encoding/json
//     turns it into U+FFFD, so an id would silently become another).
func checkTokens(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // numbers are skipped, never converted
	var stack []*jsonFrame
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF && len(stack) == 0 {
			return nil // the end of the payload: it was walked whole
		}
		if err != nil {
			return badInput("payload is not valid JSON: %v", err)
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		s, isString := tok.(string)
		if top != nil && top.object && top.wantName && isString {
			if esc, bad := badEscape(payload[start:dec.InputOffset()]); bad {
				return badInput("a field name in %s holds %s, an unpaired UTF-16 surrogate escape: not a Unicode character", jsonPath(stack[:len(stack)-1]), esc)
			}
			if top.names[s] {
				where := ""
				if len(stack) > 1 {
					where = " in " + jsonPath(stack[:len(stack)-1])
				}
				return badInput("field %.64q given twice%s (the second would silently replace the first)", s, where)
			}
			top.names[s] = true
			top.name, top.wantName = s, false
			continue
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 {
				stack[len(stack)-1].valueDone()
			}
			continue
		}
		// A value starts: a scalar, or a list or an object opening.
		if top != nil && !top.object {
			top.index++
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &jsonFrame{object: true, wantName: true, names: map[string]bool{}})
			continue
		case json.Delim('['):
			stack = append(stack, &jsonFrame{index: -1})
			continue
		}
		if isString {
			if esc, bad := badEscape(payload[start:dec.InputOffset()]); bad {
				return badInput("the string at %s holds %s, an unpaired UTF-16 surrogate escape: not a Unicode character", jsonPath(stack), esc)
			}
		}
		if top != nil {
			top.valueDone()
		}
	}
}

// jsonFrame is one open object or list of checkTokens's walk.
type jsonFrame struct {
	object   bool
	names    map[string]bool // an object's names so far
	name     string          // an object's current name
	wantName bool            // an object's next string is a name
	index    int             // a list's current index
}

// valueDone moves an object on to its next name once a value ended.
func (f *jsonFrame) valueDone() {
	if f.object {
		f.wantName = true
	}
}

// jsonPath renders where the walk is, as sessionIds[2] or
// detail.a."b c"[0], cut in the middle when long; "the payload" at the top.
func jsonPath(stack []*jsonFrame) string {
	var b strings.Builder
	for i, f := range stack {
		switch {
		case f.object && len(f.names) == 0:
			// an object before its first name: nothing to add
		case f.object:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(pathName(f.name))
		default:
			b.WriteString("[" + strconv.Itoa(max(f.index, 0)) + "]")
		}
	}
	p := b.String()
	if p == "" {
		return "the payload"
	}
	const keep = 100
	if len(p) > 2*keep {
		p = strings.ToValidUTF8(p[:keep]+"…"+p[len(p)-keep:], "")
	}
	return p
}

// pathName is a name as jsonPath writes it: bare when it is a plain word,
// quoted otherwise, cut to 64 characters.
func pathName(name string) string {
	if name != "" && len(name) <= 64 && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
		return name
	}
	return fmt.Sprintf("%.64q", name)
}

// badEscape returns, written as \uXXXX, the first \u escape of the JSON
// string in raw (which may start with the , or : before it) that is half
// of a surrogate pair without its other half.
func badEscape(raw []byte) (string, bool) {
	i := bytes.IndexByte(raw, '"')
	if i < 0 || bytes.IndexByte(raw[i:], '\\') < 0 {
		return "", false
	}
	lit := raw[i+1:] // valid JSON: every \u has four hex digits
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		i++
		if lit[i] != 'u' {
			continue // \" \\ \/ \b \f \n \r \t
		}
		r := hex4(lit[i+1 : i+5])
		i += 4
		if !utf16.IsSurrogate(r) {
			continue
		}
		if r < 0xdc00 && i+6 < len(lit) && lit[i+1] == '\\' && lit[i+2] == 'u' {
			if low := hex4(lit[i+3 : i+7]); low >= 0xdc00 && low <= 0xdfff {
				i += 6 // a high surrogate and its low one: one character
				continue
			}
		}
		return fmt.Sprintf(`\u%04x`, r), true
	}
	return "", false
}

func hex4(b []byte) rune {
	n, _ := strconv.ParseUint(string(b), 16, 32)
	return rune(n)
}
