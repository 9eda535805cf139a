package handler

import (
	"bytes"
	"encoding/json"
	"fmt"
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

// fit renders d, truncating its long free-text strings (error messages,
// the description), longest first, until the detail fits in limit bytes;
// a truncated detail says "truncated": true.
func fit(d Detail, limit int) (string, error) {
	if d.Session != nil {
		s := *d.Session // the fields are cut in a copy, never in Glue's answer
		d.Session = &s
	}
	out, err := marshal(d)
	for over := len(out) - limit; err == nil && over > 0; over = len(out) - limit {
		field := d.longestText()
		if field == nil {
			break // nothing left to cut; PutEvents will refuse it
		}
		cut := truncate(**field, max(0, len(**field)-over-len("…")))
		*field = &cut
		d.Truncated = true
		out, err = marshal(d)
	}
	return out, err
}

// longestText returns the truncatable string field holding the most
// bytes, or nil when none has anything left to cut.
func (d *Detail) longestText() **string {
	fields := []**string{&d.ErrorMessage, &d.PreviousErrorMessage}
	if d.Session != nil {
		fields = append(fields, &d.Session.Description)
	}
	var best **string
	for _, f := range fields {
		if *f != nil && len(**f) > len("…") && (best == nil || len(**f) > len(**best)) {
			best = f
		}
	}
	return best
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
