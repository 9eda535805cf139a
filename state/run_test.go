package state_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"sessionwatch/state"
)

// TestRun runs the cases of the run item against the fake and moto.
func TestRun(t *testing.T) {
	runCases(t, runItemCases)
}

func readRun(t *testing.T, st *state.Store) state.Run {
	t.Helper()
	run, err := st.ReadRun(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(run.Behind) // a string set has no order
	return run
}

var runItemCases = []dbCase{
	{"a table without a run item is at layout 0", func(t *testing.T, b backend) {
		if got := readRun(t, b.store()); !reflect.DeepEqual(got, state.Run{}) {
			t.Errorf("got %+v, want the zero Run", got)
		}
	}},

	{"write and read the run item", func(t *testing.T, b backend) {
		st := b.store()
		for _, want := range []state.Run{
			{Layout: state.Layout, Cursor: "s-5", Behind: []string{"s-1", "s-2"}},
			{Layout: state.Layout, Cursor: "s-7"},
			{Layout: state.Layout},
		} {
			if err := st.WriteRun(t.Context(), want); err != nil {
				t.Fatal(err)
			}
			if got := readRun(t, st); !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v (the whole item replaced)", got, want)
			}
		}
		stored := b.item(t, state.RunKey)
		if want := item(state.RunKey, "Layout", n("2")); !reflect.DeepEqual(stored, want) {
			t.Errorf("stored: got %v, want %v", stored, want)
		}
		if err := st.WriteRun(t.Context(), state.Run{Behind: []string{"s-2", "s-1"}}); err != nil {
			t.Fatal(err)
		}
		if _, ok := b.item(t, state.RunKey)["Behind"].(*types.AttributeValueMemberSS); !ok {
			t.Errorf("Behind: got %v, want a string set", b.item(t, state.RunKey))
		}
		// The run item is not a session's: the shelf does not list it.
		if shelf := readShelf(t, st); len(shelf.Watched)+len(shelf.Outbox) != 0 {
			t.Errorf("shelf: got %+v, want nothing", shelf)
		}
	}},

	{"a malformed run item is an error", func(t *testing.T, b backend) {
		b.seed(t, item(state.RunKey, "Layout", s("two")))
		_, err := b.store().ReadRun(t.Context())
		if err == nil || !strings.Contains(err.Error(), "malformed") || !strings.Contains(err.Error(), b.table) {
			t.Fatalf("got %v, want a malformed item error naming the table", err)
		}
	}},
}
