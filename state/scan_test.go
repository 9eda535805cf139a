package state_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"sessionwatch/state"
)

// TestScan: Scan reads every snapshot (watched or not, with the cost it
// keeps), every outbox event and every unreadable item, once each, and
// leaves out the run item; in one segment, and in parallel segments where
// the backend has them (the in-memory fake does not).
func TestScan(t *testing.T) {
	runCases(t, []dbCase{{"reads the whole table", func(t *testing.T, b backend) {
		st := b.store()
		ctx := t.Context()
		at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		dpu, hours := 5.0, 1.25
		snaps := []*state.Snapshot{
			{SessionID: "live", Status: "READY", ObservedAt: at, Shelf: state.OnShelf, Sequence: 1, DPU: &dpu, DPUHours: &hours},
			{SessionID: "done", Status: "STOPPED", ObservedAt: at, Sequence: 2, ExpiresAt: at.Add(48 * time.Hour).Unix()},
		}
		for _, s := range snaps {
			if err := st.Save(ctx, s, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Keep(ctx, []state.Event{event("e-1", "done", 2, 0)}); err != nil {
			t.Fatal(err)
		}
		if err := st.WriteRun(ctx, state.Run{Layout: state.Layout, Cursor: "live"}); err != nil {
			t.Fatal(err)
		}
		b.seed(t, map[string]types.AttributeValue{
			state.KeyAttribute: &types.AttributeValueMemberS{Value: "hand-edited"},
			"ObservedAt":       &types.AttributeValueMemberS{Value: "yesterday"},
		})

		segments := []int{1}
		if b.name == "moto" {
			segments = append(segments, 3)
		}
		for _, n := range segments {
			var keys, events, unreadable []string
			got := map[string]*state.Snapshot{}
			err := st.Scan(ctx, n, func(it state.Scanned) error {
				switch {
				case it.Err != nil:
					unreadable = append(unreadable, it.Key)
				case it.Event != nil:
					events = append(events, it.Event.EventID+"/"+it.Event.SessionID)
				default:
					keys = append(keys, it.Snapshot.SessionID)
					got[it.Snapshot.SessionID] = it.Snapshot
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%d segments: %v", n, err)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"done", "live"}) || !slices.Equal(events, []string{"e-1/done"}) || !slices.Equal(unreadable, []string{"hand-edited"}) {
				t.Errorf("%d segments: snapshots %q, events %q, unreadable %q; want [done live], [e-1/done], [hand-edited]", n, keys, events, unreadable)
			}
			if l := got["live"]; l == nil || l.DPU == nil || *l.DPU != 5 || l.DPUHours == nil || *l.DPUHours != 1.25 || !l.Watched() {
				t.Errorf("%d segments: live read as %+v; want watched, 5 DPU, 1.25 DPU-hours", n, l)
			}
		}
	}}})
}
