package handler

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// MaxEntrySize is EventBridge's limit on a PutEvents request, and so on
// one entry, as EventBridge computes sizes.
const MaxEntrySize = 256 * 1024

// marshal renders a detail compactly, without HTML escaping (EventBridge
// counts bytes, and `<` is not worth six).
func marshal(d Detail) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return "", fmt.Errorf("encode event detail of %s: %w", d.SessionID, err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// entrySize is the size of a PutEvents entry as EventBridge computes it:
// 14 bytes for Time, plus the UTF-8 lengths of Source, DetailType, Detail
// and each resource.
func entrySize(source, detailType, detail string, resources []string) int {
	n := 14 + len(source) + len(detailType) + len(detail)
	for _, r := range resources {
		n += len(r)
	}
	return n
}

// detailLimit is the most bytes a detail may have in an entry with this
// source, detail type and resources.
func detailLimit(source, detailType string, resources []string) int {
	return MaxEntrySize - entrySize(source, detailType, "", resources)
}

// fit renders d within limit bytes. When it does not fit whole, its long
// free-text strings (the error messages and the description) share the
// room by water-filling: every string longer than a common length c is cut
// to its head of at most c bytes and "…", the others stay whole, and c is
// the largest length with which the detail fits. So no string ends shorter
// than one that was shorter (up to one rune), and the error message is
// never cut to nothing to keep a description whole. A cut detail says
// "truncated": true.
func fit(d Detail, limit int) (string, error) {
	if d.Session != nil {
		s := *d.Session // the fields are cut in a copy, never in Glue's answer
		d.Session = &s
	}
	out, err := marshal(d)
	if err != nil || len(out) <= limit {
		return out, err
	}
	fields := d.texts()
	whole := make([]string, len(fields))
	longest := 0
	for i, f := range fields {
		whole[i] = **f
		longest = max(longest, len(whole[i]))
	}
	d.Truncated = true
	cutAt := func(c int) (string, error) {
		for i, f := range fields {
			s := whole[i]
			if len(s) > c {
				s = truncate(s, c)
			}
			*f = &s
		}
		return marshal(d)
	}
	// Bisection keeps fits(lo) and !fits(hi); it ends with a c that fits
	// while c+1 does not. (Fitting is not quite monotonic in c: a string
	// one byte longer than c, cut, grows by "…". Bisection needs no more.)
	best, err := cutAt(0)
	if err != nil || len(best) > limit {
		return best, err // nothing left to cut; PutEvents will refuse it
	}
	lo, hi := 0, longest // everything whole, at longest, did not fit
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		o, err := cutAt(mid)
		if err != nil {
			return "", err
		}
		if len(o) <= limit {
			lo, best = mid, o
		} else {
			hi = mid
		}
	}
	return best, nil
}

// texts returns the truncatable string fields that hold a value.
func (d *Detail) texts() []**string {
	fields := []**string{&d.ErrorMessage, &d.PreviousErrorMessage}
	if d.Session != nil {
		fields = append(fields, &d.Session.Description)
	}
	return slices.DeleteFunc(fields, func(f **string) bool { return *f == nil })
}

// truncate cuts s to at most n bytes on a rune boundary and appends "…".
func truncate(s string, n int) string {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// refit cuts a stored detail again to fit in limit bytes. Its eventId and
// every other field stay as they were.
func refit(detail string, limit int) string {
	var d Detail
	if err := json.Unmarshal([]byte(detail), &d); err != nil {
		return detail // not ours to cut; EventBridge will say what is wrong
	}
	out, err := fit(d, limit)
	if err != nil {
		return detail // it encoded once, so this cannot happen; keep it whole
	}
	return out
}
