package state_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"sessionwatch/state"
)

// TestStore runs the store's cases against the fake and moto.
func TestStore(t *testing.T) {
	runCases(t, storeCases)
}

// missingTable names a table that no backend has.
const missingTable = "sessionwatch-no-such-table"

func sessionIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s-%03d", i)
	}
	return out
}

// saveAll saves a fresh snapshot of each id.
func saveAll(t *testing.T, st *state.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := st.Save(t.Context(), &state.Snapshot{SessionID: id, Status: "READY"}, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// attr returns the string form of an item's scalar attribute, "" when absent.
func attr(item map[string]types.AttributeValue, name string) string {
	switch v := item[name].(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case nil:
		return ""
	default:
		return fmt.Sprintf("%T", v)
	}
}

var storeCases = []dbCase{
	{"round trip", func(t *testing.T, b backend) {
		st := b.store()
		at := time.Date(2026, 11, 24, 12, 0, 0, 123456789, time.UTC)
		created := at.Add(-time.Hour)
		want := &state.Snapshot{
			SessionID: "s-1", CreatedOn: &created, Status: "FAILED", ErrorMessage: "boom é", ErrorDigest: "d1", ObservedAt: at,
			Deleted: true, Sequence: 3, ExpiresAt: 1800000000, Shelf: state.OnShelf, Untracked: true,
		}
		if err := st.Save(t.Context(), want, 0); err != nil {
			t.Fatal(err)
		}
		if want.Version != 1 {
			t.Errorf("Version after the first save: got %d, want 1", want.Version)
		}
		got, unreadable, err := st.Load(t.Context(), []string{"s-1"})
		if err != nil || len(unreadable) != 0 {
			t.Fatal(err, unreadable)
		}
		if !reflect.DeepEqual(got["s-1"], want) {
			t.Errorf("loaded:\n got %+v\nwant %+v", got["s-1"], want)
		}
		// The TTL attribute is honoured only as a number of epoch seconds,
		// and the save condition compares Version as a number.
		item := b.item(t, "s-1")
		if _, ok := item["ExpiresAt"].(*types.AttributeValueMemberN); !ok || attr(item, "ExpiresAt") != "1800000000" {
			t.Errorf("stored ExpiresAt: got %#v, want the number 1800000000", item["ExpiresAt"])
		}
		if _, ok := item["Version"].(*types.AttributeValueMemberN); !ok || attr(item, "Version") != "1" {
			t.Errorf("stored Version: got %#v, want the number 1", item["Version"])
		}
	}},

	{"a save is conditional on the version read", func(t *testing.T, b backend) {
		st := b.store()
		stored := ""
		for _, step := range []struct {
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
			snap := &state.Snapshot{SessionID: "s-1", Status: step.name}
			err := st.Save(t.Context(), snap, step.read)
			switch {
			case step.conflict && !errors.Is(err, state.ErrConflict):
				t.Fatalf("%s: got %v, want ErrConflict", step.name, err)
			case step.conflict && snap.Version != step.read:
				t.Fatalf("%s: Version after a conflict: got %d, want %d (unchanged)", step.name, snap.Version, step.read)
			case !step.conflict && err != nil:
				t.Fatalf("%s: got %v, want success", step.name, err)
			case !step.conflict && snap.Version != step.read+1:
				t.Fatalf("%s: Version: got %d, want %d", step.name, snap.Version, step.read+1)
			}
			if !step.conflict {
				stored = step.name
			}
			if got := attr(b.item(t, "s-1"), "Status"); got != stored {
				t.Fatalf("%s: stored Status: got %q, want %q", step.name, got, stored)
			}
		}
		if got := attr(b.item(t, "s-1"), "Version"); got != "3" {
			t.Errorf("stored Version: got %s, want 3", got)
		}
	}},

	{"concurrent saves: one wins", func(t *testing.T, b backend) {
		st := b.store()
		race := func(read int64) int {
			var wg sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for i := range 8 {
				if b.name == "moto" {
					// moto (5.2.1) evaluates a condition and writes the item
					// without a lock, so two concurrent requests can both
					// pass the same condition: a race DynamoDB does not
					// have. On moto the eight writes go one after another,
					// which still proves the condition; the fake, which
					// stands in for DynamoDB, takes them at once.
					wg.Wait()
				}
				wg.Go(func() {
					err := st.Save(t.Context(), &state.Snapshot{SessionID: "s-1", Status: fmt.Sprint(i)}, read)
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						won++
					} else if !errors.Is(err, state.ErrConflict) {
						t.Errorf("got %v, want success or ErrConflict", err)
					}
				})
			}
			wg.Wait()
			return won
		}
		if won := race(0); won != 1 {
			t.Errorf("inserts: got %d winning, want 1", won)
		}
		if won := race(1); won != 1 {
			t.Errorf("updates at version 1: got %d winning, want 1", won)
		}
	}},

	{"a failed save is not a conflict", func(t *testing.T, b backend) {
		st := state.NewStore(b.db, missingTable)
		snap := &state.Snapshot{SessionID: "s-2"}
		err := st.Save(t.Context(), snap, 0)
		if errors.Is(err, state.ErrConflict) || err == nil || !strings.Contains(err.Error(), "s-2") {
			t.Fatalf("got %v, want a non-conflict error naming s-2", err)
		}
		wantNotFound(t, err)
		if snap.Version != 0 {
			t.Errorf("Version after a failed save: got %d, want 0", snap.Version)
		}
	}},

	{"load of no ids makes no call", func(t *testing.T, b backend) {
		got, _, err := b.store().Load(t.Context(), nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("got %v, %v, want nothing", got, err)
		}
		if calls := b.calls(); len(calls) != 0 {
			t.Errorf("calls: got %v, want none", calls)
		}
	}},

	{"load asks for 100 keys a call", func(t *testing.T, b backend) {
		st := b.store()
		ids := sessionIDs(250)
		stored := []string{ids[0], ids[50], ids[99], ids[150], ids[249]}
		saveAll(t, st, stored...)
		for _, tc := range []struct {
			ids, found, wantCalls int
		}{
			{100, 3, 1},
			{250, 5, 3},
		} {
			before := b.calls()["BatchGetItem"]
			got, _, err := st.Load(t.Context(), ids[:tc.ids])
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.found {
				t.Errorf("%d ids: got %d snapshots, want %d", tc.ids, len(got), tc.found)
			}
			for _, id := range stored[:tc.found] {
				if got[id] == nil || got[id].SessionID != id || got[id].Version != 1 {
					t.Errorf("%d ids: %s: got %+v", tc.ids, id, got[id])
				}
			}
			if calls := b.calls()["BatchGetItem"] - before; calls != tc.wantCalls {
				t.Errorf("%d ids: BatchGetItem calls: got %d, want %d", tc.ids, calls, tc.wantCalls)
			}
		}
	}},

	{"load retries unprocessed keys", func(t *testing.T, b backend) {
		ids := sessionIDs(150)
		stored := []string{ids[0], ids[70], ids[120], ids[149]}
		saveAll(t, b.store(), stored...)
		// Half the keys stay unprocessed for the first calls, then all are
		// served.
		left := 6
		db := &throttled{DynamoDB: b.db, unprocessed: func(n int) int {
			if left == 0 {
				return 0
			}
			left--
			return n / 2
		}}
		got, _, err := b.with(db).store().Load(t.Context(), ids)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(stored) {
			t.Fatalf("got %d snapshots, want %d", len(got), len(stored))
		}
		for _, id := range stored {
			if got[id] == nil {
				t.Errorf("%s not loaded", id)
			}
		}
		if calls := b.calls()["BatchGetItem"]; calls < 4 {
			t.Errorf("BatchGetItem calls: got %d, want retries", calls)
		}
	}},

	{"load gives up on keys that stay unprocessed", func(t *testing.T, b backend) {
		db := &throttled{DynamoDB: b.db, unprocessed: func(n int) int { return n }}
		st := b.with(db).store()
		st.Backoff = time.Microsecond
		_, _, err := st.Load(t.Context(), sessionIDs(3))
		if err == nil || !strings.Contains(err.Error(), "unprocessed") || !strings.Contains(err.Error(), b.table) {
			t.Fatalf("got %v, want an error naming the table and the unprocessed keys", err)
		}

		st.Backoff = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, _, err := st.Load(ctx, sessionIDs(3)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the context's deadline", err)
		}
	}},

	{"an unreadable item fails only its id", func(t *testing.T, b backend) {
		b.seed(t, map[string]types.AttributeValue{"SessionId": s("s-1"), "Sequence": s("three")})
		saveAll(t, b.store(), "s-2")
		snaps, unreadable, err := b.store().Load(t.Context(), []string{"s-1", "s-2", "s-3"})
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) != 1 || snaps["s-2"] == nil || snaps["s-2"].Version != 1 {
			t.Errorf("snapshots: got %v, want s-2 alone", snaps)
		}
		if len(unreadable) != 1 || unreadable["s-1"] == nil || !strings.Contains(unreadable["s-1"].Error(), "s-1") {
			t.Errorf("unreadable: got %v, want an error naming s-1 alone", unreadable)
		}
	}},

	{"load from a missing table names it", func(t *testing.T, b backend) {
		_, _, err := state.NewStore(b.db, missingTable).Load(t.Context(), sessionIDs(150))
		if err == nil || !strings.Contains(err.Error(), missingTable) {
			t.Fatalf("got %v, want an error naming the table", err)
		}
		wantNotFound(t, err)
	}},

	{"reads are consistent", func(t *testing.T, b backend) {
		rec := &recorder{DynamoDB: b.db}
		st := b.with(rec).store()
		snap := &state.Snapshot{SessionID: "s-1", Status: "READY"}
		for read := range int64(3) {
			if err := st.Save(t.Context(), snap, read); err != nil {
				t.Fatal(err)
			}
			got, _, err := st.Load(t.Context(), []string{"s-1"})
			if err != nil {
				t.Fatal(err)
			}
			if got["s-1"] == nil || got["s-1"].Version != read+1 {
				t.Fatalf("read after save %d: got %+v, want version %d", read+1, got["s-1"], read+1)
			}
		}
		if err := st.WriteRun(t.Context(), state.Run{Cursor: "s-1"}); err != nil {
			t.Fatal(err)
		}
		if run, err := st.ReadRun(t.Context()); err != nil || run.Cursor != "s-1" {
			t.Fatalf("run after WriteRun: got %+v, %v", run, err)
		}
		if _, err := st.Migrate(t.Context(), state.Run{}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ReadShelf(t.Context()); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, in := range rec.reads {
			switch in := in.(type) {
			case *dynamodb.GetItemInput:
				seen["GetItem"] = true
				if !aws.ToBool(in.ConsistentRead) {
					t.Errorf("GetItem without ConsistentRead")
				}
			case *dynamodb.BatchGetItemInput:
				seen["BatchGetItem"] = true
				for name, ka := range in.RequestItems {
					if !aws.ToBool(ka.ConsistentRead) {
						t.Errorf("BatchGetItem on %s without ConsistentRead", name)
					}
				}
			case *dynamodb.ScanInput:
				seen["Scan"] = true
				if !aws.ToBool(in.ConsistentRead) {
					t.Errorf("Scan without ConsistentRead")
				}
			case *dynamodb.QueryInput:
				// The index's reads cannot be consistent: ReadShelf must
				// not ask.
				seen["Query"] = true
				if aws.ToBool(in.ConsistentRead) {
					t.Errorf("Query of index %s with ConsistentRead", aws.ToString(in.IndexName))
				}
			}
		}
		if len(seen) != 4 {
			t.Errorf("reads seen: %v, want all four kinds", seen)
		}
	}},

	{"every operation on a missing table names it", func(t *testing.T, b backend) {
		st := state.NewStore(b.db, missingTable)
		ctx := t.Context()
		for name, call := range map[string]func() error{
			"ReadShelf": func() error { _, err := st.ReadShelf(ctx); return err },
			"Track":     func() error { return st.Track(ctx, []string{"s-1"}) },
			"Untrack":   func() error { return st.Untrack(ctx, []string{"s-1"}, 1800000000) },
			"Keep":      func() error { return st.Keep(ctx, []state.Event{{EventID: "e-1", SessionID: "s-1"}}) },
			"Discard":   func() error { return st.Discard(ctx, []string{"e-1"}) },
			"ReadRun":   func() error { _, err := st.ReadRun(ctx); return err },
			"WriteRun":  func() error { return st.WriteRun(ctx, state.Run{Layout: state.Layout}) },
			"Migrate":   func() error { _, err := st.Migrate(ctx, state.Run{}); return err },
		} {
			err := call()
			if err == nil || !strings.Contains(err.Error(), missingTable) {
				t.Errorf("%s: got %v, want an error naming the table", name, err)
				continue
			}
			var rnf *types.ResourceNotFoundException
			if !errors.As(err, &rnf) {
				t.Errorf("%s: got %v, want a *types.ResourceNotFoundException", name, err)
			}
		}
	}},
}
