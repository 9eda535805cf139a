package state_test

import (
	"fmt"
	"testing"

	"sessionwatch/state"
)

func TestDone(t *testing.T) {
	for _, tc := range []struct {
		status  string
		deleted bool
		want    bool
	}{
		{"PROVISIONING", false, false},
		{"READY", false, false},
		{"STOPPING", false, false},
		{"FAILED", false, true},
		{"TIMEOUT", false, true},
		{"STOPPED", false, true},
		{"RESIZING", false, false},
		{"", false, false},
		{"READY", true, true},
		{"", true, true},
	} {
		t.Run(fmt.Sprintf("%s deleted=%v", tc.status, tc.deleted), func(t *testing.T) {
			s := &state.Snapshot{Status: tc.status, Deleted: tc.deleted}
			if got := s.Done(); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if got, want := state.IsFinished(tc.status), tc.want && !tc.deleted; got != want {
				t.Errorf("IsFinished: got %v, want %v", got, want)
			}
		})
	}
}
