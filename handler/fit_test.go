package handler_test

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"sessionwatch/handler"
)

// TestFitSharesRoomFairly: a detail too big for its limit, with an error
// message, a previous error message and a description of random sizes and
// characters (multi-byte, and characters JSON escapes), is cut by
// water-filling: every cut string is a head of the original and "…", the
// cut strings end at one common length (up to one rune), every string left
// whole is no longer than that length (up to one rune), the detail fits,
// says "truncated", and wastes no more room than one more rune per cut
// string would need.
func TestFitSharesRoomFairly(t *testing.T) {
	units := []string{"a", "é", "日", "🙂", `"`, "\n", "\x01", "\u2028", " ", "z"}
	rng := rand.New(rand.NewPCG(9, 9))
	text := func(n int) *string {
		if n < 0 {
			return nil
		}
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(units[rng.IntN(len(units))])
		}
		s := b.String()
		return &s
	}
	size := func() int {
		switch rng.IntN(5) {
		case 0:
			return -1 // absent
		case 1:
			return rng.IntN(200)
		}
		return rng.IntN(400_000)
	}
	for i := range 100 {
		d := handler.Detail{
			Version: "1", EventID: strings.Repeat("0", 32), SessionID: "s-1", Sequence: 1,
			Status: aws.String("FAILED"), Severity: "ERROR", Message: "Session s-1 changed from READY to FAILED",
			ErrorMessage: text(size()), PreviousErrorMessage: text(size()),
			Session: &handler.SessionDetail{Description: text(size()), Role: aws.String("arn:aws:iam::123456789012:role/R")},
		}
		limit := 2048 + rng.IntN(handler.MaxEntrySize-2048)
		orig := map[string]*string{"errorMessage": d.ErrorMessage, "previousErrorMessage": d.PreviousErrorMessage, "description": d.Session.Description}
		out, err := handler.Fit(d, limit)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		var got handler.Detail
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		whole, _ := json.Marshal(d)
		if len(whole) <= limit {
			if out != strings.TrimSuffix(string(mustMarshalNoHTML(t, d)), "\n") || got.Truncated {
				t.Errorf("case %d: fits whole (%d ≤ %d) but was changed", i, len(whole), limit)
			}
			continue
		}
		if len(out) > limit || !got.Truncated || !utf8.ValidString(out) {
			t.Errorf("case %d: %d bytes for a limit of %d, truncated %v, valid UTF-8 %v", i, len(out), limit, got.Truncated, utf8.ValidString(out))
		}
		after := map[string]*string{"errorMessage": got.ErrorMessage, "previousErrorMessage": got.PreviousErrorMessage, "description": got.Session.Description}
		cutMin, cutMax, wholeMax, cuts := -1, -1, -1, 0
		for name, o := range orig {
			g := after[name]
			switch {
			case o == nil || g == nil:
				if o != g {
					t.Errorf("case %d: %s: %v became %v", i, name, o, g)
				}
			case *g == *o:
				wholeMax = max(wholeMax, len(*o))
			default:
				head, ok := strings.CutSuffix(*g, "…")
				if !ok || !strings.HasPrefix(*o, head) {
					t.Errorf("case %d: %s: %d bytes, not a head of the %d-byte original and …", i, name, len(*g), len(*o))
					continue
				}
				cuts++
				if cutMin < 0 || len(head) < cutMin {
					cutMin = len(head)
				}
				cutMax = max(cutMax, len(head))
			}
		}
		if cuts == 0 {
			t.Errorf("case %d: over the limit, yet nothing cut", i)
			continue
		}
		if cutMax-cutMin > utf8.UTFMax-1 {
			t.Errorf("case %d: cut strings keep %d to %d bytes, want one length up to one rune", i, cutMin, cutMax)
		}
		if wholeMax > cutMin+utf8.UTFMax-1 {
			t.Errorf("case %d: a %d-byte string kept whole while another was cut to %d", i, wholeMax, cutMin)
		}
		if slack := limit - len(out); slack > 6*cuts {
			t.Errorf("case %d: %d bytes of the limit left unused with %d strings cut", i, slack, cuts)
		}
	}
}

func mustMarshalNoHTML(t *testing.T, d handler.Detail) []byte {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}
