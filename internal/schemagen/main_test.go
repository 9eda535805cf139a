package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCompact: the template's copy is the same JSON on one line, in ASCII.
func TestCompact(t *testing.T) {
	in := []byte("{\n  \"d\": \"cut … × 🙂 <id>\",\n  \"n\": [1, 2.5]\n}\n")
	got, err := compact(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"d":"cut \u2026 \u00d7 \ud83d\ude42 <id>","n":[1,2.5]}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var a, b any
	if json.Unmarshal(in, &a) != nil || json.Unmarshal([]byte(got), &b) != nil {
		t.Fatal("not JSON")
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("%s decodes to %s, want %s", got, jb, ja)
	}
}

// TestReplace: only the block between the markers changes, and a template
// without them is refused.
func TestReplace(t *testing.T) {
	tpl := "Resources:\n  A: 1\n" + begin + "  old\n" + end + "Outputs: {}\n"
	got, err := replace(tpl, "  new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Resources:\n  A: 1\n" + begin + "  new\n" + end + "Outputs: {}\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"Resources: {}\n", begin + begin + end, end + begin} {
		if _, err := replace(bad, "x"); err == nil || !strings.Contains(err.Error(), "BEGIN schemas") {
			t.Errorf("replace(%q): %v, want an error naming the markers", bad, err)
		}
	}
}
