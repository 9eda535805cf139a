package state_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"sessionwatch/state"
)

// TestMigrate runs the migration from the first version's table against
// the fake and moto.
func TestMigrate(t *testing.T) {
	runCases(t, migrateCases)
}

// seedLegacy writes a snapshot as the first version did: the snapshot's
// fields and, inside, the events it could not publish yet, in the first
// version's Event layout.
func seedLegacy(t *testing.T, b backend, snap state.Snapshot, pending ...state.Event) {
	t.Helper()
	it, err := attributevalue.MarshalMap(snap)
	if err != nil {
		t.Fatal(err)
	}
	list := []types.AttributeValue{}
	for _, ev := range pending {
		m, err := attributevalue.MarshalMap(struct {
			DetailType string
			Detail     string
			EventID    string `dynamodbav:"EventId"`
			Time       time.Time
		}{ev.DetailType, ev.Detail, ev.EventID, ev.Time})
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, &types.AttributeValueMemberM{Value: m})
	}
	if len(list) > 0 { // omitempty
		it["Pending"] = &types.AttributeValueMemberL{Value: list}
	}
	b.seed(t, it)
}

// seedFirstVersion writes a table as the first version left it:
//   - a registry of a (unfinished, two events pending), b (no snapshot
//     yet) and d (finished), which had to skip b;
//   - f, finished and untracked, with one event pending;
//   - u, unfinished and untracked, with none.
func seedFirstVersion(t *testing.T, b backend) (pending []state.Event) {
	t.Helper()
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	b.seed(t, item(state.LegacyRegistryKey, "Ids", ss("a", "b", "d"), "Skipped", ss("b")))
	a2, a3, f7 := event("ev-a2", "a", 2, 1), event("ev-a3", "a", 3, 2), event("ev-f7", "f", 7, 3)
	seedLegacy(t, b, state.Snapshot{SessionID: "a", Status: "READY", ObservedAt: at, Sequence: 3, Version: 2}, a3, a2)
	seedLegacy(t, b, state.Snapshot{SessionID: "d", Status: "STOPPED", ObservedAt: at, Sequence: 5, Version: 4, ExpiresAt: 1800000000})
	seedLegacy(t, b, state.Snapshot{SessionID: "f", Status: "FAILED", ObservedAt: at, Sequence: 7, Version: 1, ExpiresAt: 1800000000}, f7)
	seedLegacy(t, b, state.Snapshot{SessionID: "u", Status: "READY", ObservedAt: at, Sequence: 1, Version: 1})
	return []state.Event{a2, a3, f7}
}

// wantMigrated checks a table seedFirstVersion wrote, once migrated.
func wantMigrated(t *testing.T, b backend, st *state.Store, pending []state.Event) {
	t.Helper()
	shelf := readShelf(t, st)
	if want := []string{"a", "b", "d", "u"}; !reflect.DeepEqual(shelf.Watched, want) {
		t.Errorf("watched: got %q, want %q (the registry's ids and the unfinished)", shelf.Watched, want)
	}
	// The first version's details predate createdBy: they get it, null
	// (its creator was never known), and are otherwise kept as they were.
	want := slices.Clone(pending)
	for i := range want {
		want[i].Detail = strings.TrimSuffix(want[i].Detail, "}") + `,"createdBy":null}`
	}
	if !reflect.DeepEqual(shelf.Outbox, want) {
		t.Errorf("outbox:\n got %+v\nwant %+v", shelf.Outbox, want)
	}
	if got := b.item(t, state.LegacyRegistryKey); got != nil {
		t.Errorf("the registry item is still there: %v", got)
	}
	if got, want := readRun(t, st), (state.Run{Layout: state.Layout, Behind: []string{"b"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("run: got %+v, want %+v", got, want)
	}
	items := b.items(t)
	for id, it := range items {
		if _, ok := it["Pending"]; ok {
			t.Errorf("%q still holds Pending", id)
		}
	}
	if f := items["f"]; f == nil || f["Shelf"] != nil || attr(f, "ExpiresAt") != "1800000000" || attr(f, "Status") != "FAILED" {
		t.Errorf("f: got %v, want the finished snapshot off the shelf, its TTL kept", f)
	}
	if a := items["a"]; attr(a, "Status") != "READY" || attr(a, "Sequence") != "3" {
		t.Errorf("a: got %v, want its snapshot kept", a)
	}
}

// failing is a client that fails the calls fail chooses, before they
// reach the backend.
type failing struct {
	state.DynamoDB
	mu   sync.Mutex
	fail func(op string, in any) bool
}

var errInjected = errors.New("injected failure")

func (f *failing) check(op string, in any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail(op, in) {
		return errInjected
	}
	return nil
}

func (f *failing) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := f.check("PutItem", in); err != nil {
		return nil, err
	}
	return f.DynamoDB.PutItem(ctx, in, opts...)
}

func (f *failing) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := f.check("UpdateItem", in); err != nil {
		return nil, err
	}
	return f.DynamoDB.UpdateItem(ctx, in, opts...)
}

func (f *failing) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := f.check("DeleteItem", in); err != nil {
		return nil, err
	}
	return f.DynamoDB.DeleteItem(ctx, in, opts...)
}

// key returns the key an input of PutItem, UpdateItem or DeleteItem
// writes.
func key(in any) string {
	switch in := in.(type) {
	case *dynamodb.PutItemInput:
		return attr(in.Item, "SessionId")
	case *dynamodb.UpdateItemInput:
		return attr(in.Key, "SessionId")
	case *dynamodb.DeleteItemInput:
		return attr(in.Key, "SessionId")
	}
	return ""
}

var migrateCases = []dbCase{
	{"migrate a first-version table", func(t *testing.T, b backend) {
		pending := seedFirstVersion(t, b)
		st := b.store()
		run, err := st.Migrate(t.Context(), readRun(t, st))
		if err != nil {
			t.Fatal(err)
		}
		if want := (state.Run{Layout: state.Layout, Behind: []string{"b"}}); !reflect.DeepEqual(run, want) {
			t.Errorf("returned run: got %+v, want %+v", run, want)
		}
		wantMigrated(t, b, st, pending)
		// d was in the registry: tracked, so its TTL is gone.
		if d := b.item(t, "d"); d["ExpiresAt"] != nil || attr(d, "Shelf") != state.OnShelf {
			t.Errorf("d: got %v, want it tracked", d)
		}

		before := b.items(t)
		again, err := st.Migrate(t.Context(), run)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, run) {
			t.Errorf("second Migrate returned %+v, want %+v", again, run)
		}
		after := b.items(t)
		for _, it := range []map[string]map[string]types.AttributeValue{before, after} {
			sortSets(it[state.RunKey])
		}
		if !reflect.DeepEqual(after, before) {
			t.Errorf("a second Migrate changed the table:\n got %v\nwant %v", after, before)
		}
	}},

	{"migrate a table without a registry", func(t *testing.T, b backend) {
		b.seed(t, item("s-1", "Status", s("READY"), "Sequence", n("1"), "Version", n("1"), "ObservedAt", s("2026-11-24T12:00:00Z")))
		st := b.store()
		run, err := st.Migrate(t.Context(), state.Run{})
		if err != nil {
			t.Fatal(err)
		}
		if want := (state.Run{Layout: state.Layout}); !reflect.DeepEqual(run, want) {
			t.Errorf("run: got %+v, want %+v", run, want)
		}
		if got := readShelf(t, st).Watched; !reflect.DeepEqual(got, []string{"s-1"}) {
			t.Errorf("watched: got %q, want [s-1]", got)
		}
	}},

	{"an unreadable snapshot is left to the run that polls it", func(t *testing.T, b backend) {
		b.seed(t, item("s-1", "Sequence", s("three"), "Pending", s("?")))
		seedLegacy(t, b, state.Snapshot{SessionID: "s-2", Status: "READY", Sequence: 1, Version: 1})
		st := b.store()
		if _, err := st.Migrate(t.Context(), state.Run{}); err != nil {
			t.Fatal(err)
		}
		if got, want := b.item(t, "s-1"), item("s-1", "Sequence", s("three"), "Pending", s("?")); !reflect.DeepEqual(got, want) {
			t.Errorf("s-1: got %v, want it untouched", got)
		}
		if got := readShelf(t, st).Watched; !reflect.DeepEqual(got, []string{"s-2"}) {
			t.Errorf("watched: got %q, want [s-2]", got)
		}
	}},

	{"a migration cut short is done again", func(t *testing.T, b backend) {
		// Each attempt fails at a later write: the first once the events
		// of a are in the outbox, before a is updated; the second when it
		// deletes the registry. The third finishes.
		pending := seedFirstVersion(t, b)
		for i, failAt := range []func(op string, in any) bool{
			func(op string, in any) bool {
				u, ok := in.(*dynamodb.UpdateItemInput)
				return ok && key(in) == "a" && strings.Contains(*u.UpdateExpression, "REMOVE #pending")
			},
			func(op string, in any) bool { return op == "DeleteItem" && key(in) == state.LegacyRegistryKey },
		} {
			st := b.with(&failing{DynamoDB: b.db, fail: failAt}).store()
			if _, err := st.Migrate(t.Context(), readRun(t, st)); !errors.Is(err, errInjected) {
				t.Fatalf("attempt %d: got %v, want the injected failure", i+1, err)
			}
		}
		st := b.store()
		if _, err := st.Migrate(t.Context(), readRun(t, st)); err != nil {
			t.Fatal(err)
		}
		wantMigrated(t, b, st, pending)
	}},

	{"a migration cut short before the run item keeps the skipped ids", func(t *testing.T, b backend) {
		// The ids the first version had to skip are written to the run item
		// before the registry item goes: a migration cut short at the run
		// item's write still knows them the next time.
		pending := seedFirstVersion(t, b)
		st := b.with(&failing{DynamoDB: b.db, fail: func(op string, in any) bool {
			return op == "PutItem" && key(in) == state.RunKey
		}}).store()
		if _, err := st.Migrate(t.Context(), readRun(t, st)); !errors.Is(err, errInjected) {
			t.Fatalf("got %v, want the injected failure", err)
		}
		st = b.store()
		if _, err := st.Migrate(t.Context(), readRun(t, st)); err != nil {
			t.Fatal(err)
		}
		wantMigrated(t, b, st, pending)
	}},
}
