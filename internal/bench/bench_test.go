package bench_test

import (
	"bufio"
	"context"
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
func TestCallsEqualBound(t *testing.T) {
	type row struct {
		n, page int
		modes   []bench.Mode
	}
	rows := []row{
		{n: 250, modes: bench.Modes},
		{n: 250, page: 100, modes: []bench.Mode{bench.Discover}},  // ⌈250/100⌉ = 3 pages
		{n: 1000, modes: bench.Modes},                             // exactly one full page
		{n: 1000, page: 300, modes: []bench.Mode{bench.Discover}}, // ⌈1000/300⌉ = 4 pages
	}
	for _, r := range rows {
		for _, mode := range r.modes {
			for _, sit := range bench.Situations {
				c := bench.Case{N: r.n, Situation: sit, Mode: mode, PageSize: r.page}
				name := fmt.Sprintf("N=%d/page=%d/%s/%s", r.n, r.page, mode, sit)
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
	} {
		t.Run(fmt.Sprintf("%s/%s", c.Mode, c.Situation), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stdinR, stdinW := io.Pipe()
			defer stdinW.Close()
			urlR, urlW := io.Pipe()
			go func() {
				_ = bench.ServeAWS(ctx, fmt.Sprintf(`{"N": %d, "PageSize": %d}`, c.N, c.PageSize), stdinR, urlW)
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
		})
	}
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
