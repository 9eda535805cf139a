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
		want := &state.Snapshot{
			SessionID: "s-1", Status: "FAILED", ErrorMessage: "boom", ErrorDigest: "d1", ObservedAt: at,
			Deleted: true, Sequence: 3, ExpiresAt: 1800000000,
			Pending: []state.Event{
				{DetailType: "Glue Session Error", Detail: `{"a":"é"}`, EventID: "abc", Time: at},
				{DetailType: "Glue Session State Change", Detail: `{}`, EventID: "def", Time: at.Add(time.Second)},
			},
		}
		if err := st.Save(t.Context(), want, 0); err != nil {
			t.Fatal(err)
		}
		if want.Version != 1 {
			t.Errorf("Version after the first save: got %d, want 1", want.Version)
		}
		got, err := st.Load(t.Context(), []string{"s-1"})
		if err != nil {
			t.Fatal(err)
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
		got, err := b.store().Load(t.Context(), nil)
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
			got, err := st.Load(t.Context(), ids[:tc.ids])
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
		got, err := b.with(db).store().Load(t.Context(), ids)
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
		_, err := st.Load(t.Context(), sessionIDs(3))
		if err == nil || !strings.Contains(err.Error(), "unprocessed") || !strings.Contains(err.Error(), b.table) {
			t.Fatalf("got %v, want an error naming the table and the unprocessed keys", err)
		}

		st.Backoff = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := st.Load(ctx, sessionIDs(3)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the context's deadline", err)
		}
	}},

	{"load of a malformed item", func(t *testing.T, b backend) {
		b.seed(t, map[string]types.AttributeValue{"SessionId": s("s-1"), "Sequence": s("three")})
		if _, err := b.store().Load(t.Context(), []string{"s-1"}); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Fatalf("got %v, want a malformed item error", err)
		}
	}},

	{"load from a missing table names it", func(t *testing.T, b backend) {
		_, err := state.NewStore(b.db, missingTable).Load(t.Context(), sessionIDs(150))
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
			got, err := st.Load(t.Context(), []string{"s-1"})
			if err != nil {
				t.Fatal(err)
			}
			if got["s-1"] == nil || got["s-1"].Version != read+1 {
				t.Fatalf("read after save %d: got %+v, want version %d", read+1, got["s-1"], read+1)
			}
		}
		if err := st.Track(t.Context(), []string{"s-1"}); err != nil {
			t.Fatal(err)
		}
		if ids, err := st.Tracked(t.Context()); err != nil || len(ids) != 1 {
			t.Fatalf("tracked after Track: got %q, %v", ids, err)
		}
		for _, in := range rec.reads {
			switch in := in.(type) {
			case *dynamodb.GetItemInput:
				if !aws.ToBool(in.ConsistentRead) {
					t.Errorf("GetItem without ConsistentRead")
				}
			case *dynamodb.BatchGetItemInput:
				for name, ka := range in.RequestItems {
					if !aws.ToBool(ka.ConsistentRead) {
						t.Errorf("BatchGetItem on %s without ConsistentRead", name)
					}
				}
			}
		}
	}},

	{"registry starts empty and no ids make no update", func(t *testing.T, b backend) {
		st := b.store()
		reg, err := st.Registry(t.Context())
		if err != nil || len(reg.Tracked) != 0 || len(reg.Skipped) != 0 {
			t.Fatalf("empty table: got %+v, %v, want an empty registry", reg, err)
		}
		if err := st.Track(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		if err := st.Untrack(t.Context(), []string{}); err != nil {
			t.Fatal(err)
		}
		if err := st.MarkSkipped(t.Context(), nil, nil); err != nil {
			t.Fatal(err)
		}
		if got := b.calls(); got["UpdateItem"] != 0 || got["GetItem"] != 1 {
			t.Errorf("calls: got %v, want one GetItem and no UpdateItem", got)
		}
		if item := b.item(t, state.RegistryKey); item != nil {
			t.Errorf("registry item: got %v, want none", item)
		}
	}},

	{"track and untrack", func(t *testing.T, b backend) {
		st := b.store()
		for i, step := range []struct {
			track, untrack, want []string
		}{
			{track: []string{"s-2", "s-1"}, want: []string{"s-1", "s-2"}},
			{track: []string{"s-3", "s-1"}, want: []string{"s-1", "s-2", "s-3"}},
			{untrack: []string{"s-2", "s-9"}, want: []string{"s-1", "s-3"}},
			{untrack: []string{"s-1", "s-3"}, want: nil},
			{untrack: []string{"s-1"}, want: nil},
			{track: []string{"s-4"}, want: []string{"s-4"}},
		} {
			before := b.calls()["UpdateItem"]
			if err := st.Track(t.Context(), step.track); err != nil {
				t.Fatal(err)
			}
			if err := st.Untrack(t.Context(), step.untrack); err != nil {
				t.Fatal(err)
			}
			if got := b.calls()["UpdateItem"] - before; got != 1 {
				t.Errorf("step %d: got %d UpdateItem calls, want 1", i, got)
			}
			got, err := st.Tracked(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, step.want) {
				t.Errorf("step %d: got %q, want %q", i, got, step.want)
			}
			if len(step.want) == 0 {
				// Deleting the last id removes the attribute; the item stays.
				item := b.item(t, state.RegistryKey)
				if item == nil || item["Ids"] != nil {
					t.Errorf("step %d: registry item: got %v, want the key alone", i, item)
				}
			}
		}
		if _, ok := b.item(t, state.RegistryKey)["Ids"].(*types.AttributeValueMemberSS); !ok {
			t.Errorf("registry item %q: got %v, want Ids as a string set", state.RegistryKey, b.item(t, state.RegistryKey))
		}
		snaps, err := st.Load(t.Context(), []string{"s-4"})
		if err != nil || len(snaps) != 0 {
			t.Errorf("Load of a tracked id: got %v, %v, want no snapshot (the registry is not one)", snaps, err)
		}
	}},

	{"mark skipped", func(t *testing.T, b backend) {
		st := b.store()
		if err := st.Track(t.Context(), []string{"a", "b", "c"}); err != nil {
			t.Fatal(err)
		}
		for i, step := range []struct {
			done, skipped, want []string
			updates             int
		}{
			{skipped: []string{"b", "a"}, want: []string{"a", "b"}, updates: 1},
			{done: []string{"a"}, skipped: []string{"c"}, want: []string{"b", "c"}, updates: 2},
			{done: []string{"b", "c"}, want: nil, updates: 1},
		} {
			before := b.calls()["UpdateItem"]
			if err := st.MarkSkipped(t.Context(), step.done, step.skipped); err != nil {
				t.Fatal(err)
			}
			if got := b.calls()["UpdateItem"] - before; got != step.updates {
				t.Errorf("step %d: got %d UpdateItem calls, want %d", i, got, step.updates)
			}
			reg, err := st.Registry(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(reg.Skipped, step.want) || !reflect.DeepEqual(reg.Tracked, []string{"a", "b", "c"}) {
				t.Errorf("step %d: got %+v, want skipped %q and tracked a, b, c", i, reg, step.want)
			}
		}
	}},

	{"registry of another type is an error", func(t *testing.T, b backend) {
		b.seed(t, map[string]types.AttributeValue{"SessionId": s(state.RegistryKey), "Ids": s("s-1")})
		st := b.store()
		if _, err := st.Tracked(t.Context()); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("Tracked: got %v, want a malformed item error", err)
		}
		err := st.Track(t.Context(), []string{"s-2"})
		if err == nil || !strings.Contains(err.Error(), b.table) {
			t.Fatalf("Track: got %v, want an error naming the table", err)
		}
		wantCode(t, err, "ValidationException")
	}},

	{"registry in a missing table", func(t *testing.T, b backend) {
		st := state.NewStore(b.db, missingTable)
		_, err := st.Tracked(t.Context())
		if err == nil || !strings.Contains(err.Error(), missingTable) {
			t.Fatalf("Tracked: got %v, want an error naming the table", err)
		}
		wantNotFound(t, err)
		err = st.Track(t.Context(), []string{"s-1"})
		if err == nil || !strings.Contains(err.Error(), missingTable) {
			t.Fatalf("Track: got %v, want an error naming the table", err)
		}
		wantNotFound(t, err)
	}},
}
