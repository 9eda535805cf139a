package bench_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sessionwatch/internal/bench"
)

// TestCallsEqualBound runs the real handler against the emulator and the
// stand-ins, without latency, and asserts that every run makes exactly the
// lower bound of calls, operation by operation.
//
// The idle rows: N = 1,000 with 5% READY (issue 11's figure), idle
// detection off and on; 20 statements per READY session (one
// ListStatements page) but 250 for the first (3 pages of 100); and a
// fleet all READY that has run no statement (one empty page each, and an
// IDLE alert each on the first run). Under -race a run by ids over 1,000
// sessions takes seconds: by ids, N = 1,000 runs quiet only, the other
// situations at N = 250 (12 READY sessions, the first still of 3 pages);
// `make bench` measures them all at N = 1,000.
func TestCallsEqualBound(t *testing.T) {
	type row struct {
		n, page int
		modes   []bench.Mode
		sits    []bench.Situation // nil: every situation
		idle    bench.Case        // its IdleMinutes and fleet shape
	}
	fivePercent := bench.Case{ReadyEvery: 20, Statements: 20, LongStatements: 250, StatementBytes: 256}
	idleOn := fivePercent
	idleOn.IdleMinutes = 30
	ids, discover := []bench.Mode{bench.ByIDs}, []bench.Mode{bench.Discover}
	quiet, others := []bench.Situation{bench.Quiet}, []bench.Situation{bench.Changed, bench.First}
	rows := []row{
		{n: 250, modes: bench.Modes},
		// Tracked through the registry (issue 10): no SESSION_IDS; the
		// first run migrates a table that holds the tracked ids.
		{n: 250, modes: []bench.Mode{bench.Registry}},
		// Ids of 255 characters: the index of 4,000 takes 2 Query pages
		// (3,883 a page); discovering, so that it is cheap under -race.
		{n: 4000, modes: discover, sits: quiet, idle: bench.Case{IDLength: 255}},
		{n: 250, page: 100, modes: discover},  // ⌈250/100⌉ = 3 pages
		{n: 1000, modes: bench.Modes},         // exactly one full page
		{n: 1000, page: 300, modes: discover}, // ⌈1000/300⌉ = 4 pages
		// Idle off: no ListStatements. Idle on: 49 + 3 at N = 1,000
		// (first run: 50 + 3 since none has changed), 11 + 3 at N = 250.
		{n: 1000, modes: discover, idle: fivePercent},
		{n: 1000, modes: discover, idle: idleOn},
		{n: 1000, modes: ids, sits: quiet, idle: fivePercent},
		{n: 1000, modes: ids, sits: quiet, idle: idleOn},
		{n: 250, modes: ids, sits: others, idle: fivePercent},
		{n: 250, modes: ids, sits: others, idle: idleOn},
		// All READY, no statement: first run with IDLE alerts; 5% changed,
		// the 13 changed no longer READY and not asked.
		{n: 250, modes: ids, sits: others, idle: bench.Case{IdleMinutes: 30}},
	}
	for _, r := range rows {
		if r.sits == nil {
			r.sits = bench.Situations
		}
		for _, mode := range r.modes {
			for _, sit := range r.sits {
				c := r.idle
				c.N, c.Situation, c.Mode, c.PageSize = r.n, sit, mode, r.page
				name := fmt.Sprintf("N=%d/page=%d/%s/%s", r.n, r.page, mode, sit)
				if c.ReadyEvery > 0 || c.IdleMinutes > 0 {
					name += fmt.Sprintf("/ready=1in%d/idle=%d/statements=%d", c.ReadyEvery, c.IdleMinutes, c.Statements)
				}
				if c.IDLength > 0 {
					name += fmt.Sprintf("/ids=%dchars", c.IDLength)
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					res, err := bench.Run(context.Background(), c)
					if err != nil {
						t.Fatal(err)
					}
					assertAtBound(t, c, res)
					if want := map[bool]int{true: 2, false: 1}[sit == bench.First]; res.Calls[bench.OpGetItem] != want {
						t.Errorf("GetItem calls = %d, want %d (the run item, and the first version's registry on a fresh table)", res.Calls[bench.OpGetItem], want)
					}
					if res.GlueMaxInFlight > c.Concurrency() {
						t.Errorf("%d Glue calls in flight at once, more than MAX_CONCURRENCY %d", res.GlueMaxInFlight, c.Concurrency())
					}
					if got := res.Calls[bench.OpUpdateItem]; got != 0 {
						t.Errorf("UpdateItem calls = %d, want 0", got)
					}
					if sit == bench.Quiet && (res.Calls.Writes() != 0 || res.Calls[bench.OpPutEvents] != 0) {
						t.Errorf("quiet run made %d writes and %d PutEvents, want none", res.Calls.Writes(), res.Calls[bench.OpPutEvents])
					}
					// Every statement is read, as at least its bytes of
					// code and output; nothing with idle detection off.
					total, _ := c.StatementPages()
					switch least := int64(statementsRead(c)) * int64(c.StatementBytes); {
					case c.IdleMinutes == 0 && (total != 0 || res.StatementBytes != 0):
						t.Errorf("idle detection off: bound %d ListStatements, %d bytes read; want none", total, res.StatementBytes)
					case c.IdleMinutes > 0 && (res.StatementBytes <= 0 || res.StatementBytes < least):
						t.Errorf("ListStatements bytes read = %d, want at least %d", res.StatementBytes, least)
					}
				})
			}
		}
	}
}

// TestNaiveCalls checks the baseline makes the calls the tables say it
// makes (they are estimated from NaiveCalls where it is not run).
func TestNaiveCalls(t *testing.T) {
	for _, mode := range bench.Modes {
		for _, sit := range bench.Situations {
			c := bench.Case{N: 100, Situation: sit, Mode: mode, Naive: true}
			t.Run(fmt.Sprintf("%s/%s", mode, sit), func(t *testing.T) {
				t.Parallel()
				res, err := bench.Run(context.Background(), c)
				if err != nil {
					t.Fatal(err)
				}
				if res.Polled != c.N || res.Published != res.Events {
					t.Fatalf("polled %d, published %d; want %d, %d", res.Polled, res.Published, c.N, res.Events)
				}
				for _, op := range bench.Ops {
					if got, want := res.Calls[op], res.Bound[op]; got != want {
						t.Errorf("%s calls = %d, want %d", op, got, want)
					}
				}
			})
		}
	}
}

// statementsRead is the number of statements the measured run of c reads:
// those of the sessions READY in it (the first READY one, i = ReadyEvery/2,
// has LongStatements when set; the Changed situation changes every 20th).
func statementsRead(c bench.Case) int {
	n := 0
	for i := range c.N {
		ready := c.ReadyEvery <= 1 || i%c.ReadyEvery == c.ReadyEvery/2
		if !ready || (c.Situation == bench.Changed && i%bench.ChangeEvery == 0) {
			continue
		}
		if first := c.ReadyEvery / 2; c.LongStatements > 0 && i == first {
			n += c.LongStatements
		} else {
			n += c.Statements
		}
	}
	return n
}

func TestBound(t *testing.T) {
	tests := []struct {
		name           string
		c              bench.Case
		changed, event int
		want           bench.Calls
	}{
		{"ids", bench.Case{N: 1000, Mode: bench.ByIDs}, 50, 75, bench.Calls{
			bench.OpGetSession: 1000, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 10, bench.OpPutItem: 50, bench.OpPutEvents: 8,
		}},
		{"discover 10,000", bench.Case{N: 10000, Mode: bench.Discover}, 0, 0, bench.Calls{
			bench.OpListSessions: 10, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 100,
		}},
		{"discover small page", bench.Case{N: 250, Mode: bench.Discover, PageSize: 100}, 250, 250, bench.Calls{
			bench.OpListSessions: 3, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 3, bench.OpPutItem: 250, bench.OpPutEvents: 25,
		}},
		{"empty fleet discovering", bench.Case{N: 0, Mode: bench.Discover}, 0, 0, bench.Calls{
			bench.OpListSessions: 1, bench.OpQuery: 1, bench.OpGetItem: 1,
		}},
		// The index read whole: an item is SessionId (9 + the id), Shelf
		// (5 + 1); 1 MB (2^20) holds ⌊1,048,576 / 270⌋ = 3,883 of them
		// with ids of 255 characters, 100,000 take 26 pages; at 15
		// characters ⌊1,048,576 / 30⌋ = 34,952 a page.
		{"registry 100,000 ids of 255", bench.Case{N: 100000, Mode: bench.Registry, IDLength: 255}, 0, 0, bench.Calls{
			bench.OpGetSession: 100000, bench.OpQuery: 26, bench.OpGetItem: 1, bench.OpBatchGetItem: 1000,
		}},
		{"ids 100,000 ids of 255", bench.Case{N: 100000, Mode: bench.ByIDs, IDLength: 255}, 0, 0, bench.Calls{
			bench.OpGetSession: 100000, bench.OpQuery: 26, bench.OpGetItem: 1, bench.OpBatchGetItem: 1000,
		}},
		{"discover 34,952 ids: one page", bench.Case{N: 34952, Mode: bench.Discover}, 0, 0, bench.Calls{
			bench.OpListSessions: 35, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 350,
		}},
		{"discover 34,953 ids: two", bench.Case{N: 34953, Mode: bench.Discover}, 0, 0, bench.Calls{
			bench.OpListSessions: 35, bench.OpQuery: 2, bench.OpGetItem: 1, bench.OpBatchGetItem: 350,
		}},
		// A first run by ids reads an empty index twice (before and after
		// the migration) and scans an empty table; through the registry,
		// both reads list every tracked id, and the Scan reads their items
		// (+ Version, 7 + 2 bytes: ⌊1,048,576 / 279⌋ = 3,758 a page, 27).
		{"ids, first run", bench.Case{N: 100000, Mode: bench.ByIDs, Situation: bench.First, IDLength: 255}, 100000, 100000, bench.Calls{
			bench.OpGetSession: 100000, bench.OpQuery: 2, bench.OpGetItem: 2, bench.OpScan: 1, bench.OpBatchGetItem: 1000, bench.OpPutItem: 100001, bench.OpPutEvents: 10000,
		}},
		{"registry, first run", bench.Case{N: 100000, Mode: bench.Registry, Situation: bench.First, IDLength: 255}, 100000, 100000, bench.Calls{
			bench.OpGetSession: 100000, bench.OpQuery: 52, bench.OpGetItem: 2, bench.OpScan: 27, bench.OpBatchGetItem: 1000, bench.OpPutItem: 100001, bench.OpPutEvents: 10000,
		}},
		// Idle detection (issue 11): one ListStatements per page of 100
		// statements per READY session, one for fewer (none included);
		// nothing when it is off.
		{"5% READY, idle off", bench.Case{N: 1000, Mode: bench.ByIDs, ReadyEvery: 20, Statements: 20, LongStatements: 250}, 50, 75, bench.Calls{
			bench.OpGetSession: 1000, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 10, bench.OpPutItem: 50, bench.OpPutEvents: 8,
		}},
		{"5% READY, idle on, one multi-page session", bench.Case{N: 1000, Mode: bench.ByIDs, IdleMinutes: 30, ReadyEvery: 20, Statements: 20, LongStatements: 250}, 50, 75, bench.Calls{
			bench.OpGetSession: 1000, bench.OpListStatements: 49 + 3, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 10, bench.OpPutItem: 50, bench.OpPutEvents: 8,
		}},
		{"5% READY, idle on, discovering", bench.Case{N: 1000, Mode: bench.Discover, IdleMinutes: 30, ReadyEvery: 20, Statements: 20, LongStatements: 250}, 0, 0, bench.Calls{
			bench.OpListSessions: 1, bench.OpListStatements: 49 + 3, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 10,
		}},
		{"5% READY, idle on, no statements: one page each", bench.Case{N: 1000, Mode: bench.ByIDs, IdleMinutes: 30, ReadyEvery: 20}, 0, 0, bench.Calls{
			bench.OpGetSession: 1000, bench.OpListStatements: 50, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 10,
		}},
		{"idle on, exactly a page", bench.Case{N: 100, Mode: bench.ByIDs, IdleMinutes: 30, ReadyEvery: 20, Statements: 100}, 0, 0, bench.Calls{
			bench.OpGetSession: 100, bench.OpListStatements: 5, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 1,
		}},
		{"idle on, a page and one", bench.Case{N: 100, Mode: bench.ByIDs, IdleMinutes: 30, ReadyEvery: 20, Statements: 101}, 0, 0, bench.Calls{
			bench.OpGetSession: 100, bench.OpListStatements: 10, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 1,
		}},
		{"idle on, small statements page", bench.Case{N: 100, Mode: bench.ByIDs, IdleMinutes: 30, ReadyEvery: 20, Statements: 5, StatementsPage: 2}, 0, 0, bench.Calls{
			bench.OpGetSession: 100, bench.OpListStatements: 15, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 1,
		}},
		// 5% changed: the changed sessions are PROVISIONING ones, every
		// READY one is still READY; in a fleet all READY, the 50 changed
		// are no longer READY and are not asked.
		{"5% READY, idle on, 5% changed", bench.Case{N: 1000, Mode: bench.ByIDs, Situation: bench.Changed, IdleMinutes: 30, ReadyEvery: 20, Statements: 20}, 50, 75, bench.Calls{
			bench.OpGetSession: 1000, bench.OpListStatements: 50, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 10, bench.OpPutItem: 50, bench.OpPutEvents: 8,
		}},
		{"all READY, idle on, 5% changed", bench.Case{N: 1000, Mode: bench.ByIDs, Situation: bench.Changed, IdleMinutes: 30, Statements: 20}, 50, 75, bench.Calls{
			bench.OpGetSession: 1000, bench.OpListStatements: 950, bench.OpQuery: 1, bench.OpGetItem: 1, bench.OpBatchGetItem: 10, bench.OpPutItem: 50, bench.OpPutEvents: 8,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bench.Bound(tt.c, tt.changed, tt.event)
			for _, op := range bench.Ops {
				if got[op] != tt.want[op] {
					t.Errorf("%s = %d, want %d", op, got[op], tt.want[op])
				}
			}
		})
	}
}

func TestCriticalPath(t *testing.T) {
	const l = 20 * time.Millisecond
	tests := []struct {
		name string
		c    bench.Case
		want time.Duration
	}{
		// max(1, Query 1) + max(⌈10/16⌉, 1 + ⌈1000/8⌉) + ⌈8/16⌉ + ⌈50/16⌉ = 1+126+1+4 = 132 trips.
		{"ids", bench.Case{N: 1000, Mode: bench.ByIDs, Latency: l}, 132 * l},
		// max(1, 1 page, Query 1) + max(⌈10/16⌉, 1 + 0) + 1 + 4 = 7 trips.
		{"discover", bench.Case{N: 1000, Mode: bench.Discover, Latency: l}, 7 * l},
		{"ids at MAX_CONCURRENCY 50", bench.Case{N: 1000, Mode: bench.ByIDs, Latency: l, MaxConcurrency: 50}, 27 * l},
		// The index's 26 pages one after the other, beside nothing by ids:
		// 26 + max(⌈1000/16⌉, 1 + ⌈100,000/8⌉) + 1 + 4.
		{"registry 100,000 ids of 255", bench.Case{N: 100000, Mode: bench.Registry, Latency: l, IDLength: 255}, (26 + 1 + 12500 + 1 + 4) * l},
		// First run: the index (26), the migration (GetItem, 27 Scan
		// pages, PutItem, the index again: 26), then as above.
		{"registry 100,000 ids of 255, first run", bench.Case{N: 100000, Mode: bench.Registry, Situation: bench.First, Latency: l, IDLength: 255}, (26 + 1 + 27 + 1 + 26 + 1 + 12500 + 1 + 4) * l},
		// Idle detection off: as above.
		{"ids, 5% READY, idle off", bench.Case{N: 1000, Mode: bench.ByIDs, Latency: l, ReadyEvery: 20, Statements: 20, LongStatements: 250}, 132 * l},
		// 1,000 GetSession and 49 + 3 ListStatements share the 8 workers:
		// 1 + max(1, 1 + ⌈1052/8⌉) + 1 + 4 = 139 trips.
		{"ids, 5% READY, idle on", bench.Case{N: 1000, Mode: bench.ByIDs, Latency: l, IdleMinutes: 30, ReadyEvery: 20, Statements: 20, LongStatements: 250}, 139 * l},
		// Discovering: 1 + max(1, 1 + ⌈52/8⌉) + 1 + 4 = 14 trips.
		{"discover, 5% READY, idle on", bench.Case{N: 1000, Mode: bench.Discover, Latency: l, IdleMinutes: 30, ReadyEvery: 20, Statements: 20, LongStatements: 250}, 14 * l},
		// One session of 20 pages is longer than the pool's share
		// (⌈(4 + 20)/8⌉ = 3): 1 + (1 + 20) + 1 + 4 = 27 trips; by ids its
		// GetSession comes first, 1 + (1 + max(⌈(100 + 24)/8⌉, 21)) + 1 + 4.
		{"discover, one long session", bench.Case{N: 100, Mode: bench.Discover, Latency: l, IdleMinutes: 30, ReadyEvery: 20, Statements: 1, LongStatements: 2000}, 27 * l},
		{"ids, one long session", bench.Case{N: 100, Mode: bench.ByIDs, Latency: l, IdleMinutes: 30, ReadyEvery: 20, Statements: 1, LongStatements: 2000}, 28 * l},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bench.CriticalPath(tt.c, bench.Bound(tt.c, 50, 75)); got != tt.want {
				t.Errorf("CriticalPath = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBuildFlagsMatchMakefile keeps BuildFlags, with which the benchmark
// measures the bootstrap's size, equal to what `sam build` runs.
func TestBuildFlagsMatchMakefile(t *testing.T) {
	root, err := bench.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	_, recipe, ok := strings.Cut(string(b), "\nbuild-SessionWatchFunction:\n")
	if !ok {
		t.Fatal("Makefile has no build-SessionWatchFunction target")
	}
	recipe, _, _ = strings.Cut(recipe, "\n")
	var flags []string
	for _, f := range bench.BuildFlags {
		if v, ok := strings.CutPrefix(f, "-ldflags="); ok {
			f = "-ldflags='" + v + "'"
		}
		flags = append(flags, f)
	}
	want := "CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build " + strings.Join(flags, " ") + " -o $(ARTIFACTS_DIR)/bootstrap ./cmd/bootstrap"
	if got := strings.TrimSpace(recipe); got != want {
		t.Errorf("build-SessionWatchFunction runs\n\t%s\nthe benchmark builds with\n\t%s", got, want)
	}
}

// TestServer runs cases against the stand-ins served by ServeAWS, as the
// benchmark's child processes do, and checks they count the same calls.
func TestServer(t *testing.T) {
	for _, c := range []bench.Case{
		{N: 250, Situation: bench.Changed, Mode: bench.ByIDs},
		{N: 250, Situation: bench.First, Mode: bench.Discover, PageSize: 100},
		// The fleet's shape and the bytes read cross the wire too.
		{N: 250, Situation: bench.Quiet, Mode: bench.ByIDs, IdleMinutes: 30, ReadyEvery: 20, Statements: 3, LongStatements: 5, StatementBytes: 100, StatementsPage: 2},
	} {
		t.Run(fmt.Sprintf("%s/%s", c.Mode, c.Situation), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdinR, stdinW := io.Pipe()
			defer stdinW.Close()
			urlR, urlW := io.Pipe()
			go func() {
				_ = bench.ServeAWS(ctx, string(must(json.Marshal(c))), stdinR, urlW)
			}()
			line, err := bufio.NewReader(urlR).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			go func() { _, _ = io.Copy(io.Discard, urlR) }()
			c.Server = strings.TrimSpace(line)
			res, err := bench.Run(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			assertAtBound(t, c, res)
			if total, _ := c.StatementPages(); c.IdleMinutes > 0 && (total != 11*2+3 || res.StatementBytes < int64(statementsRead(c)*c.StatementBytes)) {
				t.Errorf("bound %d ListStatements (want 11 × 2 + 3: 12 READY, 3 statements a session in pages of 2, the first 5), %d bytes read", total, res.StatementBytes)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// assertAtBound checks that a run polled every session, published every
// event, failed none, and made exactly its lower bound of calls.
func assertAtBound(t *testing.T, c bench.Case, res *bench.Result) {
	t.Helper()
	if res.Errors != 0 || res.Polled != c.N || res.Published != res.Events {
		t.Fatalf("polled %d, published %d, %d errors (%s); want %d, %d, 0", res.Polled, res.Published, res.Errors, res.FirstError, c.N, res.Events)
	}
	for _, op := range bench.Ops {
		if got, want := res.Calls[op], res.Bound[op]; got != want {
			t.Errorf("%s calls = %d, want the bound %d", op, got, want)
		}
	}
}
