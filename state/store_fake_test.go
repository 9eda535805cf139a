package state_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"sessionwatch/internal/fakeaws"
	"sessionwatch/state"
)

const fakeTable = "snapshots"

func newFakeStore(t *testing.T) (*state.Store, *fakeaws.DynamoDB) {
	t.Helper()
	db := fakeaws.NewDynamoDB(fakeTable)
	st := state.NewStore(db, fakeTable)
	st.Backoff = time.Millisecond
	return st, db
}

func sessionIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s-%03d", i)
	}
	return out
}

func TestSnapshotRoundTrip(t *testing.T) {
	ctx := context.Background()
	st, _ := newFakeStore(t)
	at := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)
	want := &state.Snapshot{
		SessionID: "s-1", Status: "FAILED", ErrorMessage: "boom", ObservedAt: at, Sequence: 3, ExpiresAt: 1800000000,
		Pending: []state.Event{{DetailType: "Glue Session Error", Detail: `{"a":"é"}`, EventID: "abc", Time: at}},
	}
	if err := st.Save(ctx, want, 0); err != nil {
		t.Fatal(err)
	}
	if want.Version != 1 {
		t.Errorf("Version after the first save: got %d, want 1", want.Version)
	}
	got, err := st.Load(ctx, []string{"s-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got["s-1"], want) {
		t.Errorf("loaded:\n got %+v\nwant %+v", got["s-1"], want)
	}
}

func TestSaveVersions(t *testing.T) {
	ctx := context.Background()
	st, db := newFakeStore(t)
	for _, tc := range []struct {
		name     string
		read     int64
		conflict bool
	}{
		{"insert", 0, false},
		{"insert again", 0, true},
		{"update at the stored version", 1, false},
		{"update at an old version", 1, true},
		{"update at a future version", 5, true},
		{"update at the new version", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := &state.Snapshot{SessionID: "s-1", Status: tc.name}
			err := st.Save(ctx, snap, tc.read)
			switch {
			case tc.conflict && !errors.Is(err, state.ErrConflict):
				t.Fatalf("got %v, want ErrConflict", err)
			case tc.conflict && snap.Version != tc.read:
				t.Fatalf("Version after a conflict: got %d, want %d (unchanged)", snap.Version, tc.read)
			case !tc.conflict && err != nil:
				t.Fatalf("got %v, want success", err)
			case !tc.conflict && snap.Version != tc.read+1:
				t.Fatalf("Version: got %d, want %d", snap.Version, tc.read+1)
			}
		})
	}
	if got := db.Items(fakeTable)["s-1"]["Status"].(*dbtypes.AttributeValueMemberS).Value; got != "update at the new version" {
		t.Errorf("stored: got %q", got)
	}

	t.Run("other errors are not conflicts", func(t *testing.T) {
		db.Fail = func(string, any) error { return errors.New("throttled") }
		defer func() { db.Fail = nil }()
		err := st.Save(ctx, &state.Snapshot{SessionID: "s-2"}, 0)
		if err == nil || errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "s-2") {
			t.Fatalf("got %v, want a non-conflict error naming s-2", err)
		}
	})
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		ids, stored int
		unprocessed func(n int) int
		wantCalls   int // at least
	}{
		{"none", 0, 0, nil, 0},
		{"one chunk", 100, 50, nil, 1},
		{"chunks of 100", 250, 250, nil, 3},
		{"unprocessed keys retried", 150, 150, func(n int) int { return n / 2 }, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, db := newFakeStore(t)
			ids := sessionIDs(tc.ids)
			for _, id := range ids[:tc.stored] {
				if err := st.Save(ctx, &state.Snapshot{SessionID: id, Status: "READY"}, 0); err != nil {
					t.Fatal(err)
				}
			}
			db.Reset()
			if tc.unprocessed != nil {
				// Halve what is processed for the first calls, then serve all.
				left := 8
				db.Unprocessed = func(n int) int {
					if left == 0 {
						return 0
					}
					left--
					return tc.unprocessed(n)
				}
			}
			got, err := st.Load(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.stored {
				t.Fatalf("got %d snapshots, want %d", len(got), tc.stored)
			}
			for _, id := range ids[:tc.stored] {
				if got[id] == nil || got[id].SessionID != id || got[id].Version != 1 {
					t.Fatalf("%s: got %+v", id, got[id])
				}
			}
			if calls := db.Calls()["BatchGetItem"]; calls < tc.wantCalls || (tc.unprocessed == nil && calls != tc.wantCalls) {
				t.Errorf("BatchGetItem calls: got %d, want %d", calls, tc.wantCalls)
			}
		})
	}

	t.Run("never-ending unprocessed keys end with the context", func(t *testing.T) {
		st, db := newFakeStore(t)
		db.Unprocessed = func(n int) int { return n }
		ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if _, err := st.Load(ctx, sessionIDs(3)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the context's deadline", err)
		}
	})
	t.Run("malformed item", func(t *testing.T) {
		st, db := newFakeStore(t)
		err := db.SetItem(fakeTable, map[string]dbtypes.AttributeValue{
			"SessionId": &dbtypes.AttributeValueMemberS{Value: "s-1"},
			"Sequence":  &dbtypes.AttributeValueMemberS{Value: "three"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Load(ctx, []string{"s-1"}); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("got %v, want a malformed item error", err)
		}
	})
	t.Run("table failure", func(t *testing.T) {
		st, db := newFakeStore(t)
		db.Fail = func(string, any) error { return errors.New("no such table") }
		if _, err := st.Load(ctx, sessionIDs(250)); err == nil || !strings.Contains(err.Error(), fakeTable) {
			t.Fatalf("got %v, want an error naming the table", err)
		}
	})
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	st, db := newFakeStore(t)
	ids, err := st.Tracked(ctx)
	if err != nil || len(ids) != 0 {
		t.Fatalf("empty table: got %q, %v, want no ids", ids, err)
	}
	if err := st.Track(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Untrack(ctx, []string{}); err != nil {
		t.Fatal(err)
	}
	if got := db.Calls()["UpdateItem"]; got != 0 {
		t.Errorf("UpdateItem for no ids: got %d calls, want none", got)
	}
	steps := []struct {
		track, untrack, want []string
	}{
		{track: []string{"s-2", "s-1"}, want: []string{"s-1", "s-2"}},
		{track: []string{"s-3", "s-1"}, want: []string{"s-1", "s-2", "s-3"}},
		{untrack: []string{"s-2", "s-9"}, want: []string{"s-1", "s-3"}},
		{untrack: []string{"s-1", "s-3"}, want: nil},
		{track: []string{"s-4"}, want: []string{"s-4"}},
	}
	for i, step := range steps {
		if err := st.Track(ctx, step.track); err != nil {
			t.Fatal(err)
		}
		if err := st.Untrack(ctx, step.untrack); err != nil {
			t.Fatal(err)
		}
		got, err := st.Tracked(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, step.want) && !(len(got) == 0 && len(step.want) == 0) {
			t.Errorf("step %d: got %q, want %q", i, got, step.want)
		}
	}
	if _, ok := db.Items(fakeTable)[state.RegistryKey]; !ok {
		t.Errorf("registry item %q not stored", state.RegistryKey)
	}
	snaps, err := st.Load(ctx, []string{"s-4"})
	if err != nil || len(snaps) != 0 {
		t.Errorf("Load of a tracked id: got %v, %v, want no snapshot (the registry is not one)", snaps, err)
	}

	t.Run("update failure names the table", func(t *testing.T) {
		db.Fail = func(op string, _ any) error {
			if op == "UpdateItem" {
				return errors.New("throttled")
			}
			return nil
		}
		defer func() { db.Fail = nil }()
		if err := st.Track(ctx, []string{"s-5"}); err == nil || !strings.Contains(err.Error(), fakeTable) {
			t.Fatalf("got %v, want an error naming the table", err)
		}
	})
	t.Run("the update is one ADD or DELETE of a string set", func(t *testing.T) {
		var seen []string
		db.Fail = func(op string, in any) error {
			if u, ok := in.(*dynamodb.UpdateItemInput); ok {
				seen = append(seen, *u.UpdateExpression)
			}
			return nil
		}
		defer func() { db.Fail = nil }()
		if err := st.Track(ctx, []string{"a", "b"}); err != nil {
			t.Fatal(err)
		}
		if err := st.Untrack(ctx, []string{"a"}); err != nil {
			t.Fatal(err)
		}
		if want := []string{"ADD Ids :ids", "DELETE Ids :ids"}; !reflect.DeepEqual(seen, want) {
			t.Fatalf("got %q, want %q", seen, want)
		}
	})
}

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
