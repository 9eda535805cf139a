package handler_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/state"
)

// glueStatuses are the six glueStatuses Glue documents for a session.
var glueStatuses = []string{"PROVISIONING", "READY", "FAILED", "TIMEOUT", "STOPPING", "STOPPED"}

// change is a handler.Change with its pointers rendered ("<nil>" for nil),
// so that changes compare with == and print readably.
type diffChange struct {
	DetailType, Status, PreviousStatus, ErrorMessage, PreviousErrorMessage string
}

func diffStr(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *p)
}

func quoted(s string) string { return fmt.Sprintf("%q", s) }

func renderChanges(cs []handler.Change) []diffChange {
	out := make([]diffChange, len(cs))
	for i, c := range cs {
		out[i] = diffChange{c.DetailType, diffStr(c.Status), diffStr(c.PreviousStatus), diffStr(c.ErrorMessage), diffStr(c.PreviousErrorMessage)}
	}
	return out
}

func diffSnap(status, errMsg string) *state.Snapshot {
	return &state.Snapshot{SessionID: "s-1", Status: status, ErrorMessage: errMsg, Sequence: 4, Version: 2}
}

func glueSession(status, errMsg string) *gluetypes.Session {
	s := &gluetypes.Session{Id: aws.String("s-1"), Status: gluetypes.SessionStatus(status)}
	if errMsg != "" {
		s.ErrorMessage = aws.String(errMsg)
	}
	return s
}

func checkChanges(t *testing.T, got []handler.Change, want []diffChange) {
	t.Helper()
	r := renderChanges(got)
	if len(r) != len(want) {
		t.Fatalf("got %d changes %+v, want %d %+v", len(r), r, len(want), want)
	}
	for i := range want {
		if r[i] != want[i] {
			t.Errorf("change %d: got %+v, want %+v", i, r[i], want[i])
		}
	}
}

func TestDiffStatusPairs(t *testing.T) {
	for _, from := range glueStatuses {
		for _, to := range glueStatuses {
			t.Run(from+"→"+to, func(t *testing.T) {
				got := handler.Diff(diffSnap(from, ""), glueSession(to, ""))
				if from == to {
					checkChanges(t, got, nil)
					return
				}
				checkChanges(t, got, []diffChange{{handler.StateChange, quoted(to), quoted(from), "<nil>", "<nil>"}})
			})
		}
	}
}

func TestDiff(t *testing.T) {
	const nilS = "<nil>"
	deleted := diffSnap("READY", "")
	deleted.Deleted = true
	for _, tc := range []struct {
		name string
		prev *state.Snapshot
		cur  *gluetypes.Session
		want []diffChange
	}{
		{"unknown status passed through", diffSnap("READY", ""), glueSession("RESIZING", ""),
			[]diffChange{{handler.StateChange, quoted("RESIZING"), quoted("READY"), nilS, nilS}}},
		{"unknown status unchanged", diffSnap("RESIZING", ""), glueSession("RESIZING", ""), nil},
		{"missing status", diffSnap("READY", ""), glueSession("", ""),
			[]diffChange{{handler.StateChange, nilS, quoted("READY"), nilS, nilS}}},
		{"missing status, first sighting", nil, glueSession("", ""),
			[]diffChange{{handler.StateChange, nilS, nilS, nilS, nilS}}},
		{"first sighting", nil, glueSession("PROVISIONING", ""),
			[]diffChange{{handler.StateChange, quoted("PROVISIONING"), nilS, nilS, nilS}}},
		{"first sighting with an error", nil, glueSession("FAILED", "boom"), []diffChange{
			{handler.StateChange, quoted("FAILED"), nilS, quoted("boom"), nilS},
			{handler.ErrorChange, quoted("FAILED"), nilS, quoted("boom"), nilS},
		}},
		{"error appears", diffSnap("READY", ""), glueSession("READY", "boom"),
			[]diffChange{{handler.ErrorChange, quoted("READY"), quoted("READY"), quoted("boom"), nilS}}},
		{"error changes", diffSnap("READY", "boom"), glueSession("READY", "bang"),
			[]diffChange{{handler.ErrorChange, quoted("READY"), quoted("READY"), quoted("bang"), quoted("boom")}}},
		{"error unchanged", diffSnap("READY", "boom"), glueSession("READY", "boom"), nil},
		{"error clears", diffSnap("READY", "boom"), glueSession("READY", ""), nil},
		{"status and error change together", diffSnap("READY", ""), glueSession("FAILED", "boom"), []diffChange{
			{handler.StateChange, quoted("FAILED"), quoted("READY"), quoted("boom"), nilS},
			{handler.ErrorChange, quoted("FAILED"), quoted("READY"), quoted("boom"), nilS},
		}},
		{"status changes, error stays", diffSnap("READY", "boom"), glueSession("FAILED", "boom"),
			[]diffChange{{handler.StateChange, quoted("FAILED"), quoted("READY"), quoted("boom"), quoted("boom")}}},
		{"status changes, error clears", diffSnap("FAILED", "boom"), glueSession("READY", ""),
			[]diffChange{{handler.StateChange, quoted("READY"), quoted("FAILED"), nilS, quoted("boom")}}},
		{"deleted", diffSnap("READY", ""), nil,
			[]diffChange{{handler.Deleted, nilS, quoted("READY"), nilS, nilS}}},
		{"deleted with an error", diffSnap("FAILED", "boom"), nil,
			[]diffChange{{handler.Deleted, nilS, quoted("FAILED"), nilS, quoted("boom")}}},
		{"not found without a snapshot", nil, nil, nil},
		{"deleted snapshot not reported twice", deleted, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkChanges(t, handler.Diff(tc.prev, tc.cur), tc.want)
		})
	}
}
