package state_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"sessionwatch/internal/awstest"
	"sessionwatch/state"
)

// TestShelf runs the cases of the registry and the outbox, the items the
// index lists, against the fake and moto.
func TestShelf(t *testing.T) {
	runCases(t, shelfCases)
}

// event returns an event of session id, observed at minute min.
func event(eventID, session string, seq int64, min int) state.Event {
	return state.Event{
		DetailType: "Glue Session State Change",
		Detail:     fmt.Sprintf(`{"sessionId":%q,"sequence":%d}`, session, seq),
		EventID:    eventID, SessionID: session, Sequence: seq,
		Time: time.Date(2026, 11, 24, 12, min, 0, 0, time.UTC),
	}
}

func readShelf(t *testing.T, st *state.Store) state.Shelf {
	t.Helper()
	shelf, err := st.ReadShelf(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return shelf
}

func eventIDs(events []state.Event) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev.EventID)
	}
	return out
}

var shelfCases = []dbCase{
	{"the shelf of an empty table", func(t *testing.T, b backend) {
		shelf := readShelf(t, b.store())
		if len(shelf.Watched) != 0 || len(shelf.Outbox) != 0 {
			t.Errorf("got %+v, want nothing", shelf)
		}
		if got := b.calls()["Query"]; got != 1 {
			t.Errorf("Query calls: got %d, want 1", got)
		}
	}},

	{"the shelf lists watched ids sorted and the outbox in observation order", func(t *testing.T, b backend) {
		st := b.store()
		if err := st.Track(t.Context(), []string{"s-3", "s-1"}); err != nil {
			t.Fatal(err)
		}
		// A snapshot seen unfinished is on the shelf; one not, is not.
		if err := st.Save(t.Context(), &state.Snapshot{SessionID: "s-2", Status: "READY", Sequence: 1, Shelf: state.OnShelf}, 0); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(t.Context(), &state.Snapshot{SessionID: "s-0", Status: "STOPPED", Sequence: 4, ExpiresAt: 1800000000}, 0); err != nil {
			t.Fatal(err)
		}
		if err := st.WriteRun(t.Context(), state.Run{Layout: state.Layout, Cursor: "s-2"}); err != nil {
			t.Fatal(err)
		}
		kept := []state.Event{
			event("e-late", "s-1", 1, 30),
			event("e-b2", "s-b", 2, 10),
			event("e-a", "s-a", 7, 10),
			event("e-b1", "s-b", 1, 10),
			event("e-early", "s-9", 3, 1),
		}
		if err := st.Keep(t.Context(), kept); err != nil {
			t.Fatal(err)
		}
		shelf := readShelf(t, st)
		if want := []string{"s-1", "s-2", "s-3"}; !reflect.DeepEqual(shelf.Watched, want) {
			t.Errorf("watched: got %q, want %q", shelf.Watched, want)
		}
		if got, want := eventIDs(shelf.Outbox), []string{"e-early", "e-a", "e-b1", "e-b2", "e-late"}; !reflect.DeepEqual(got, want) {
			t.Errorf("outbox: got %q, want %q (by time, then session, then sequence)", got, want)
		}
		for _, ev := range shelf.Outbox {
			for _, k := range kept {
				if k.EventID == ev.EventID && !reflect.DeepEqual(ev, k) {
					t.Errorf("outbox event %s: got %+v, want %+v", ev.EventID, ev, k)
				}
			}
		}
	}},

	{"the outbox is read alone, without the registry", func(t *testing.T, b backend) {
		st := b.store()
		if err := st.Track(t.Context(), []string{"s-1", "\u007fs", "zz"}); err != nil {
			t.Fatal(err)
		}
		kept := []state.Event{event("e-2", "s-1", 2, 5), event("e-1", "s-1", 1, 1)}
		if err := st.Keep(t.Context(), kept); err != nil {
			t.Fatal(err)
		}
		before := b.calls()["Query"]
		outbox, err := st.ReadOutbox(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := eventIDs(outbox), []string{"e-1", "e-2"}; !reflect.DeepEqual(got, want) {
			t.Errorf("outbox: got %q, want %q", got, want)
		}
		if got := b.calls()["Query"] - before; got != 1 {
			t.Errorf("Query calls: got %d, want 1", got)
		}
		if shelf := readShelf(t, st); len(shelf.Watched) != 3 || len(shelf.Outbox) != 2 {
			t.Errorf("shelf %+v, want the 3 tracked ids and the 2 events", shelf)
		}
	}},

	{"the shelf is read a page at a time", func(t *testing.T, b backend) {
		// Four items of 300 KB: more than a page of 1 MB.
		st := b.store()
		var kept []state.Event
		for i := range 4 {
			ev := event(fmt.Sprintf("e-%d", i), "s-1", int64(i+1), i)
			ev.Detail = fmt.Sprintf(`{"sequence":%d,"pad":%q}`, i+1, bigDetail)
			kept = append(kept, ev)
		}
		if err := st.Keep(t.Context(), kept); err != nil {
			t.Fatal(err)
		}
		if err := st.Track(t.Context(), []string{"s-2", "s-1"}); err != nil {
			t.Fatal(err)
		}
		before := b.calls()["Query"]
		shelf := readShelf(t, st)
		if got := b.calls()["Query"] - before; got != 2 {
			t.Errorf("Query calls: got %d, want 2 (one page is 1 MB at most)", got)
		}
		if want := []string{"s-1", "s-2"}; !reflect.DeepEqual(shelf.Watched, want) {
			t.Errorf("watched: got %q, want %q", shelf.Watched, want)
		}
		if !reflect.DeepEqual(shelf.Outbox, kept) {
			t.Errorf("outbox: got %d events %q, want %q in order, whole", len(shelf.Outbox), eventIDs(shelf.Outbox), eventIDs(kept))
		}
	}},

	{"track creates a stub", func(t *testing.T, b backend) {
		st := b.store()
		if err := st.Track(t.Context(), []string{"s-1"}); err != nil {
			t.Fatal(err)
		}
		if got, want := b.item(t, "s-1"), item("s-1", "Shelf", s(state.OnShelf), "Version", n("1")); !reflect.DeepEqual(got, want) {
			t.Errorf("stored: got %v, want %v", got, want)
		}
		// The stub reads as a snapshot never seen, at version 1.
		snaps, _, err := st.Load(t.Context(), []string{"s-1"})
		if err != nil {
			t.Fatal(err)
		}
		if got := snaps["s-1"]; got == nil || got.Seen() || !got.Watched() || got.Version != 1 {
			t.Errorf("loaded: got %+v, want a watched stub at version 1", got)
		}
		// Tracking again is harmless: it only bumps the version.
		if err := st.Track(t.Context(), []string{"s-1"}); err != nil {
			t.Fatal(err)
		}
		if got := attr(b.item(t, "s-1"), "Version"); got != "2" {
			t.Errorf("Version after a second Track: got %s, want 2", got)
		}
	}},

	{"track a snapshot put aside", func(t *testing.T, b backend) {
		st := b.store()
		at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
		old := &state.Snapshot{SessionID: "s-1", Status: "STOPPED", ObservedAt: at, Sequence: 4, ExpiresAt: 1800000000, Untracked: true}
		for read := range int64(3) {
			if err := st.Save(t.Context(), old, read); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Track(t.Context(), []string{"s-1"}); err != nil {
			t.Fatal(err)
		}
		snaps, _, err := st.Load(t.Context(), []string{"s-1"})
		if err != nil {
			t.Fatal(err)
		}
		want := &state.Snapshot{SessionID: "s-1", Status: "STOPPED", ObservedAt: at, Sequence: 4, Version: 4, Shelf: state.OnShelf}
		if got := snaps["s-1"]; !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v (on the shelf, no TTL, not untracked, next version)", got, want)
		}
		item := b.item(t, "s-1")
		for _, a := range []string{"ExpiresAt", "Untracked"} {
			if _, ok := item[a]; ok {
				t.Errorf("%s still stored: %v", a, item)
			}
		}
	}},

	{"untrack", func(t *testing.T, b backend) {
		st := b.store()
		if err := st.Track(t.Context(), []string{"s-1", "s-2"}); err != nil {
			t.Fatal(err)
		}
		if err := st.Save(t.Context(), &state.Snapshot{SessionID: "s-3", Status: "READY", Sequence: 2, Shelf: state.OnShelf}, 0); err != nil {
			t.Fatal(err)
		}
		if err := st.Untrack(t.Context(), []string{"s-1", "s-3"}, 1800000000); err != nil {
			t.Fatal(err)
		}
		if got := readShelf(t, st).Watched; !reflect.DeepEqual(got, []string{"s-2"}) {
			t.Errorf("watched: got %q, want [s-2]", got)
		}
		want := item("s-1", "Untracked", boolean(true), "ExpiresAt", n("1800000000"), "Version", n("2"))
		if got := b.item(t, "s-1"); !reflect.DeepEqual(got, want) {
			t.Errorf("s-1: got %v, want %v", got, want)
		}
		snaps, _, err := st.Load(t.Context(), []string{"s-3"})
		if err != nil {
			t.Fatal(err)
		}
		if got := snaps["s-3"]; got == nil || got.Watched() || !got.Untracked || got.ExpiresAt != 1800000000 || got.Version != 2 || got.Status != "READY" {
			t.Errorf("s-3: got %+v, want untracked, off the shelf, expiring, at version 2", got)
		}
		// Untracking again changes nothing but the version.
		if err := st.Untrack(t.Context(), []string{"s-1"}, 1800000000); err != nil {
			t.Fatal(err)
		}
		if got := attr(b.item(t, "s-1"), "Version"); got != "3" {
			t.Errorf("Version after a second Untrack: got %s, want 3", got)
		}
	}},

	{"untrack an unknown id creates nothing", func(t *testing.T, b backend) {
		st := b.store()
		if err := st.Untrack(t.Context(), []string{"s-9"}, 1800000000); err != nil {
			t.Fatal(err)
		}
		if got := b.item(t, "s-9"); got != nil {
			t.Errorf("stored: %v", got)
		}
		if got := b.calls()["UpdateItem"]; got != 1 {
			t.Errorf("UpdateItem calls: got %d, want 1", got)
		}
	}},

	{"no ids make no call", func(t *testing.T, b backend) {
		st := b.store()
		for name, err := range map[string]error{
			"Track":   st.Track(t.Context(), nil),
			"Untrack": st.Untrack(t.Context(), []string{}, 1800000000),
			"Keep":    st.Keep(t.Context(), nil),
			"Discard": st.Discard(t.Context(), nil),
		} {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if calls := b.calls(); len(calls) != 0 {
			t.Errorf("calls: got %v, want none", calls)
		}
	}},

	{"keep and discard", func(t *testing.T, b backend) {
		st := b.store()
		a, c := event("e-a", "s-1", 1, 0), event("e-c", "s-2", 5, 2)
		for range 2 {
			if err := st.Keep(t.Context(), []state.Event{a, c}); err != nil {
				t.Fatal(err)
			}
		}
		if got := eventIDs(readShelf(t, st).Outbox); !reflect.DeepEqual(got, []string{"e-a", "e-c"}) {
			t.Errorf("kept twice: got %q, want each once", got)
		}
		items := b.items(t)
		if len(items) != 2 {
			t.Errorf("items: got %d, want 2", len(items))
		}
		want := item(state.OutboxPrefix+"e-a",
			"Shelf", s(state.OnShelf), "DetailType", s(a.DetailType), "Detail", s(a.Detail), "EventId", s("e-a"),
			"Owner", s("s-1"), "Seq", n("1"), "EventTime", s("2026-11-24T12:00:00Z"))
		if got := items[state.OutboxPrefix+"e-a"]; !reflect.DeepEqual(got, want) {
			t.Errorf("outbox item: got %v, want %v (and no ExpiresAt)", got, want)
		}
		for range 2 {
			if err := st.Discard(t.Context(), []string{"e-a", "e-absent"}); err != nil {
				t.Fatal(err)
			}
		}
		if got := eventIDs(readShelf(t, st).Outbox); !reflect.DeepEqual(got, []string{"e-c"}) {
			t.Errorf("after Discard: got %q, want [e-c]", got)
		}
		if got := b.calls()["DeleteItem"]; got != 4 {
			t.Errorf("DeleteItem calls: got %d, want 4 (one an event)", got)
		}
	}},

	{"an outbox item that is not ours stays and is not sent", func(t *testing.T, b backend) {
		b.seed(t, item(state.OutboxPrefix+"e-x", "Shelf", s(state.OnShelf), "Detail", s("{}")))
		b.seed(t, item(state.OutboxPrefix+"e-y", "Shelf", s(state.OnShelf), "EventId", s("e-y"), "Seq", s("one")))
		st := b.store()
		if err := st.Keep(t.Context(), []state.Event{event("e-a", "s-1", 1, 0)}); err != nil {
			t.Fatal(err)
		}
		shelf := readShelf(t, st)
		if got := eventIDs(shelf.Outbox); !reflect.DeepEqual(got, []string{"e-a"}) || len(shelf.Watched) != 0 {
			t.Errorf("got outbox %q and watched %q, want [e-a] and none", got, shelf.Watched)
		}
		if b.item(t, state.OutboxPrefix+"e-x") == nil || b.item(t, state.OutboxPrefix+"e-y") == nil {
			t.Errorf("a foreign outbox item was removed")
		}
	}},

	{"an event too big for an item fails only its keep", func(t *testing.T, b backend) {
		st := b.store()
		big := event("e-big", "s-1", 2, 1)
		big.Detail = strings.Repeat("x", 410_000)
		err := st.Keep(t.Context(), []state.Event{event("e-a", "s-1", 1, 0), big})
		if err == nil || !strings.Contains(err.Error(), "e-big") {
			t.Fatalf("got %v, want an error naming e-big", err)
		}
		awstest.WantAPIError(t, err, "ValidationException")
		if got := eventIDs(readShelf(t, st).Outbox); !reflect.DeepEqual(got, []string{"e-a"}) {
			t.Errorf("outbox: got %q, want [e-a]", got)
		}
	}},
}
