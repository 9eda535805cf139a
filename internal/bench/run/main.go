// Command run is the sessionwatch benchmark (`make bench`): it measures
// sessionwatch runs over fleets of sessions, each case in a child process
// of its own (this program again, with -child) against the Glue emulator
// and the DynamoDB and EventBridge stand-ins in another (-aws-server), and
// prints Markdown tables:
// calls by operation against their lower bound, wall time against its
// critical-path bound, peak memory, the naive poller's figures, runs under
// Glue throttling, idle detection off and on (ListStatements calls and
// the bytes of statements they read), the bootstrap's size, the cold
// start against a hello-world bootstrap, the monthly cost of a 5-minute
// schedule, and a quiet run over 100,000 tracked ids of 255 characters
// (the registry's read time, the run's peak heap and RSS).
//
//	go run ./internal/bench/run [-n 100,1000,10000] [-registry-n 10000] [-latency 20ms] [-naive-max 1000] [-idle-n 1000] [-big-n 100000] [-coldstart 7] [-heapprofile dir]
//
// Sessionwatch's cases run under the soft memory limit the bootstrap sets
// for a function of -memory MB (half of it).
//
// The 100,000-id case alone:
//
//	go run ./internal/bench/run -n '' -registry-n '' -idle-n 0 -throttle-n 0 -size=false -coldstart 0
//
// and in the 5%-changed situation too: -big-situations "quiet,5% changed".
//
// The idle-detection cases alone:
//
//	go run ./internal/bench/run -n '' -throttle-n 0 -size=false -coldstart 0 -idle-n 1000
//
// Progress goes to stderr, the report to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"sessionwatch/handler"
	"sessionwatch/internal/bench"
	"sessionwatch/internal/bench/coldstart"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	child := flag.String(bench.ChildFlag, "", "internal: run the `case` given as JSON and print its result as JSON")
	server := flag.String(bench.ServerFlag, "", "internal: serve the Glue emulator and the stand-ins of the `fleet` given as JSON until stdin ends")
	ns := flag.String("n", "100,1000,10000", "fleet sizes, comma-separated (empty: none)")
	registryNs := flag.String("registry-n", "10000", "fleet sizes also watched through the registry (ids tracked as `sessionwatch track` does), comma-separated (empty: none)")
	memoryMB := flag.Int("memory", 128, "the function's memory in MB: sessionwatch's cases run under the soft limit the bootstrap sets from it, half of it (0: none)")
	bigN := flag.Int("big-n", 100000, "tracked ids of the large registry case (0: skip it)")
	bigSituations := flag.String("big-situations", string(bench.Quiet), "situations of the large registry case, comma-separated: quiet, 5% changed (first: its set-up RSS is a first run's already)")
	bigIDLength := flag.Int("big-id-length", 255, "characters of each id of the large registry case")
	bigLatency := flag.Duration("big-latency", 0, "latency added to every AWS call in the large registry case's run (0: none; at 20ms its GetSession calls alone take longer than the function's timeout); its index is also read alone at -latency")
	latency := flag.Duration("latency", 20*time.Millisecond, "latency added to every AWS call")
	naiveMax := flag.Int("naive-max", 1000, "run the naive poller for fleets up to this size; estimate it above")
	throttleN := flag.Int("throttle-n", 1000, "fleet of the throttling case (0: skip it)")
	throttleRate := flag.Float64("throttle-rate", 100, "Glue requests a second above which the emulator throttles")
	throttleBurst := flag.Int("throttle-burst", 10, "the throttling emulator's burst")
	idleN := flag.Int("idle-n", 1000, "fleet of the idle-detection cases, run with it off and on (0: skip them)")
	idleMinutes := flag.Int("idle-minutes", 30, "IDLE_MINUTES of the idle-detection cases")
	readyEvery := flag.Int("ready-every", 20, "in the idle-detection cases, one session in this many is READY, the others PROVISIONING (20: 5%)")
	statements := flag.Int("statements", 20, "statements of each READY session in the idle-detection cases")
	longStatements := flag.Int("long-statements", 250, "statements of the first READY session instead (several ListStatements pages; 0: as the others)")
	statementBytes := flag.Int("statement-bytes", 4096, "bytes of code and output of each statement")
	coldReps := flag.Int("coldstart", 7, "cold-start repetitions of each bootstrap (0: skip)")
	size := flag.Bool("size", true, "build the arm64 bootstrap and print its size")
	profiles := flag.String("heapprofile", "", "write each sessionwatch case's heap profile, taken at its peak heap in use, into `dir` (for go tool pprof)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch {
	case *child != "":
		return bench.ServeChild(ctx, *child, os.Stdout)
	case *server != "":
		return bench.ServeAWS(ctx, *server, os.Stdin, os.Stdout)
	}
	sizes, err := fleetSizes("-n", *ns)
	if err != nil {
		return err
	}
	registrySizes, err := fleetSizes("-registry-n", *registryNs)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	began := time.Now()
	out := os.Stdout
	fmt.Fprintf(out, "# sessionwatch benchmark\n\n%s, %s\n\n", bench.Machine(), began.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "Latency %s per call on every service; MAX_CONCURRENCY %d (Glue), %d DynamoDB/EventBridge calls in flight. Each case runs in a child process of its own.\n\n",
		*latency, bench.DefaultMaxConcurrency, bench.AWSConcurrency)

	var rows []bench.Row
	for _, n := range slices.Sorted(slices.Values(slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(sizes), registrySizes...)))))) {
		modes := []bench.Mode{}
		if slices.Contains(sizes, n) {
			modes = append(modes, bench.Modes...)
		}
		if slices.Contains(registrySizes, n) {
			modes = append(modes, bench.Registry)
		}
		for _, sit := range bench.Situations {
			for _, mode := range modes {
				c := bench.Case{N: n, Situation: sit, Mode: mode, Latency: *latency}
				sw := c
				sw.MemoryMB = *memoryMB
				if *profiles != "" {
					sw.HeapProfile = filepath.Join(*profiles, fmt.Sprintf("heap-%d-%s-%s.pprof", n, strings.ReplaceAll(string(sit), "% ", "pct-"), mode))
				}
				r, err := measure(ctx, exe, sw)
				if err != nil {
					return err
				}
				row := bench.Row{SW: r}
				naive := c
				naive.Naive = true
				if mode == bench.Registry {
					// The naive poller has no registry: its figures are the
					// ids rows'.
					rows = append(rows, row)
					continue
				}
				if n <= *naiveMax {
					if row.Naive, err = measure(ctx, exe, naive); err != nil {
						return err
					}
				} else {
					row.Naive = bench.EstimateNaive(naive)
				}
				rows = append(rows, row)
			}
		}
	}

	if len(rows) > 0 { // -n '' leaves the fleets out
		fmt.Fprintf(out, "## Calls by operation\n\nA count equal to its lower bound is printed alone. The bound is the issue's formula + the table's index read whole, the registry and the outbox (⌈index size / 1 MB⌉ Query pages) + 1 GetItem (the run item); a first run over a fresh table also migrates it (1 GetItem, the Scan's pages, 1 PutItem, and the index read again). Mode registry: the ids tracked in the registry (as `sessionwatch track` does, %s at a time) before the first run, neither SESSION_IDS nor DISCOVER.\n\n", fmtInt(int64(handler.MaxRequestIDs)))
		bench.WriteCalls(out, rows)
		fmt.Fprintf(out, "\n## Wall time and memory\n\nNaive poller: run for real up to N = %s, above that estimated as its calls × latency; it has no registry (its figures are the ids rows'). Memory is the child process's, which holds the handler, the real Glue client and, in place of the DynamoDB and EventBridge clients, stubs sending the calls (gob over HTTP) to the stand-ins; the Glue emulator and the stand-ins run in another process. %s Heap in use sampled every %s; RSS is the child's maximum since the measured run began (in brackets: both at its start).\n\n",
			fmtInt(int64(*naiveMax)), softLimit(*memoryMB), bench.SampleEvery)
		bench.WriteTimes(out, rows)
	}
	if len(rows) > 0 || *idleN > 0 {
		fmt.Fprintf(out, "\n```\n%s\n```\n", bench.Formula)
	}

	if *idleN > 0 {
		shape := bench.Case{N: *idleN, Latency: *latency, ReadyEvery: *readyEvery,
			Statements: *statements, LongStatements: *longStatements, StatementBytes: *statementBytes}
		if err := idle(ctx, exe, out, shape, *idleMinutes); err != nil {
			return err
		}
	}
	if *bigN > 0 {
		var cases []bench.Case
		for f := range strings.SplitSeq(*bigSituations, ",") {
			sit := bench.Situation(strings.TrimSpace(f))
			if !slices.Contains(bench.Situations, sit) {
				return fmt.Errorf("-big-situations: %q is not a situation", f)
			}
			c := bench.Case{N: *bigN, Situation: sit, Mode: bench.Registry, Latency: *bigLatency, IDLength: *bigIDLength, MemoryMB: *memoryMB, IndexLatency: *latency}
			if *profiles != "" {
				c.HeapProfile = filepath.Join(*profiles, fmt.Sprintf("heap-%d-%s-registry-%dchars.pprof", c.N, strings.ReplaceAll(string(sit), "% ", "pct-"), c.IDLength))
			}
			cases = append(cases, c)
		}
		if err := big(ctx, exe, out, cases); err != nil {
			return err
		}
	}
	if *throttleN > 0 {
		if err := throttle(ctx, exe, out, *throttleN, *latency, *throttleRate, *throttleBurst); err != nil {
			return err
		}
	}
	if *size {
		dir, err := os.MkdirTemp("", "sessionwatch-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		root, err := bench.ModuleRoot()
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "building the arm64 bootstrap")
		_, bytes, cmd, err := bench.BuildBootstrap(ctx, root, "arm64", dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n## Bootstrap size\n\n`%s`: %s bytes (%.2f MiB, %.2f MB); target under 15 MB.\n", cmd, fmtInt(bytes), float64(bytes)/(1<<20), float64(bytes)/1e6)
	}
	if *coldReps > 0 {
		fmt.Fprintln(os.Stderr, "cold start")
		r, err := coldstart.Measure(ctx, *coldReps, os.Stderr)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			fmt.Fprintf(out, "\n## Cold start\n\nNot measured: %v\n", err)
		} else {
			fmt.Fprintf(out, "\n## Cold start\n\nFrom starting aws-lambda-rie to the first response; sessionwatch's is a quiet run polling %s (2 GetSession on the Glue emulator; on moto 1 Query of the index and 1 GetItem of the run item, then 1 BatchGetItem). Both built as `%s` (sessionwatch %s bytes, hello world %s bytes); %d alternating repetitions each.\n\n",
				strings.Join(r.Watched, ", "), buildCommand(r.Build), fmtInt(r.BootstrapSize), fmtInt(r.HelloSize), *coldReps)
			fmt.Fprintf(out, "| bootstrap | median | runs |\n|---|---|---|\n| sessionwatch | %s | %s |\n| hello world | %s | %s |\n\nRatio of the medians: %.2f (target ≤ 1.5).\n",
				ms(coldstart.Median(r.Bootstrap)), msList(r.Bootstrap), ms(coldstart.Median(r.Hello)), msList(r.Hello), r.Ratio())
		}
	}

	var cost []bench.Row
	for _, r := range rows {
		if (r.SW.Case.N == 100 || r.SW.Case.N == 1000) && r.SW.Case.Situation != bench.First {
			cost = append(cost, r)
		}
	}
	if len(cost) > 0 {
		fmt.Fprintf(out, "\n## Monthly cost of a 5-minute schedule\n\nEvery run the same as the measured one (run time at %s a call); us-east-1 list prices, no free tier: Lambda arm64 %d MB at $0.0000133334/GB-s + $0.20/million requests, DynamoDB on-demand $0.125/million RRU (one per strongly consistent read ≤ 4 KB: every BatchGetItem key and the run item; the index's Query pages, eventually consistent, half a unit per 4 KB of index, are left out: under 1%% of the reads at these sizes) and $0.625/million WRU (one per snapshot write ≤ 1 KB), EventBridge $1.00/million custom events; %s runs a month (730 h); Glue API calls are free.\n\n",
			*latency, bench.USEast1.MemoryMB, fmtInt(int64(bench.USEast1.RunsPerMonth)))
		bench.WriteCost(out, cost, bench.USEast1)
	}
	fmt.Fprintf(os.Stderr, "benchmark done in %s\n", time.Since(began).Round(time.Second))
	return nil
}

// measure runs c in a child process, reporting progress on stderr.
func measure(ctx context.Context, exe string, c bench.Case) (*bench.Result, error) {
	fmt.Fprintf(os.Stderr, "%v ... ", c)
	r, err := bench.RunChild(ctx, exe, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "failed")
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "%s, %d calls\n", r.Wall.Round(time.Millisecond), r.Calls.Total())
	return r, nil
}

// idle measures the fleet shaped by shape in every situation and mode,
// with idle detection off and with IDLE_MINUTES = minutes.
func idle(ctx context.Context, exe string, out *os.File, shape bench.Case, minutes int) error {
	var rows []bench.Row
	for _, sit := range bench.Situations {
		for _, mode := range bench.Modes {
			for _, m := range []int{0, minutes} {
				c := shape
				c.Situation, c.Mode, c.IdleMinutes = sit, mode, m
				r, err := measure(ctx, exe, c)
				if err != nil {
					return err
				}
				rows = append(rows, bench.Row{SW: r})
			}
		}
	}
	share := "every session"
	if shape.ReadyEvery > 1 {
		share = fmt.Sprintf("one session in %d (%.0f%%; the others PROVISIONING)", shape.ReadyEvery, 100/float64(shape.ReadyEvery))
	}
	long := ""
	if shape.LongStatements > 0 {
		long = fmt.Sprintf(", the first one %s", fmtInt(int64(shape.LongStatements)))
	}
	fmt.Fprintf(out, "\n## Idle detection\n\nN = %s, %s READY; each READY session has run %s statements%s, of %s bytes of code and output each; IDLE_MINUTES off, then %d. ListStatements: one call per page of %d statements per READY session (one for fewer), by ids and discovering alike. In the 5%%-changed situation the sessions that change are PROVISIONING ones.\n\n",
		fmtInt(int64(shape.N)), share, fmtInt(int64(shape.Statements)), long, fmtInt(int64(shape.StatementBytes)), minutes, shape.StatementsPageSize())
	bench.WriteCalls(out, rows)
	fmt.Fprintln(out)
	bench.WriteIdle(out, rows)
	return nil
}

// throttle measures a 5%-changed run by ids without Glue throttling, and
// with Glue throttling at rate and at half of it.
func throttle(ctx context.Context, exe string, out *os.File, n int, latency time.Duration, rate float64, burst int) error {
	base := bench.Case{N: n, Situation: bench.Changed, Mode: bench.ByIDs, Latency: latency}
	limited := base
	limited.ThrottleRate, limited.ThrottleBurst = rate, burst
	harder := limited
	harder.ThrottleRate = rate / 2
	var rows []bench.ThrottleRow
	for _, t := range []struct {
		label string
		c     bench.Case
	}{
		{"unthrottled", base},
		{"throttled", limited},
		{"throttled harder", harder},
	} {
		r, err := measure(ctx, exe, t.c)
		if err != nil {
			return err
		}
		rows = append(rows, bench.ThrottleRow{Label: t.label, R: r})
	}
	fmt.Fprintf(out, "\n## Glue throttling\n\nN = %s, watched by ids, 5%% changed, %s a call, the Glue client as production builds it (wiring.GlueOptions); the emulator answers ThrottlingException above the limit. At %g/s, %s GetSession calls take at least %.1f s; at %g/s, %.1f s. Retries = Glue calls − the bound.\n\n",
		fmtInt(int64(n)), latency, rate, fmtInt(int64(n)), float64(n)/rate, rate/2, float64(n)/(rate/2))
	bench.WriteThrottle(out, rows)
	if slices.ContainsFunc(rows, func(t bench.ThrottleRow) bool { return t.R.Errors > 0 }) {
		fmt.Fprintln(out, "\nSome sessions failed under throttling.")
	}
	return nil
}

// fleetSizes reads a comma-separated list of fleet sizes.
func fleetSizes(flagName, list string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(list, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: %q is not a fleet size", flagName, f)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// softLimit says under which soft memory limit sessionwatch's cases run.
func softLimit(memoryMB int) string {
	if memoryMB <= 0 {
		return "No soft memory limit (-memory 0)."
	}
	return fmt.Sprintf("Sessionwatch's cases run under the soft memory limit the bootstrap sets for a %d MB function (%d MiB, half of it; wiring.LimitMemory).", memoryMB, memoryMB/2)
}

// big measures the runs cases, a large fleet tracked through the
// registry, each with a read of its index alone at IndexLatency after it,
// and prints them with the verdict on the function's memory (each RSS
// peak against MemoryMB).
func big(ctx context.Context, exe string, out *os.File, cases []bench.Case) error {
	var rs []*bench.Result
	for _, c := range cases {
		r, err := measure(ctx, exe, c)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil
	}
	c := cases[0]
	fmt.Fprintf(out, "\n## %s tracked ids of %d characters\n\nTracked through the registry (state.Store.Track, %s ids at a time, as `sessionwatch track` and requests do), then a run over them all%s. Index read: the run's, from the start of its first Query page to the end of its last; then the index read alone (state.Store.ReadShelf) at %s a call. RSS: the child's maximum during the run (in brackets: at its start); set-up: its maximum before the run (tracking, and the seed run, a first run over the whole fleet, which publishes and saves every session). %s\n\n",
		fmtInt(int64(c.N)), c.IDLength, fmtInt(int64(handler.MaxRequestIDs)), latencyNote(c, c.IndexLatency), c.IndexLatency, softLimit(c.MemoryMB))
	bench.WriteBig(out, rs)
	if c.MemoryMB > 0 {
		fmt.Fprintln(out)
		for _, r := range rs {
			verdict := "within"
			if r.RSSPeak > uint64(c.MemoryMB)*1e6 {
				verdict = "OVER"
			}
			fmt.Fprintf(out, "Peak RSS of the %s run: %.1f MB, %s the function's %d MB.\n", r.Case.Situation, float64(r.RSSPeak)/1e6, verdict, c.MemoryMB)
		}
	}
	return nil
}

// latencyNote says at which latency c ran, and, without any, whether its
// GetSession calls alone would outlast the function's timeout at typical
// latency (then runs cut short by the deadline share the fleet).
func latencyNote(c bench.Case, typical time.Duration) string {
	if c.Latency > 0 {
		return fmt.Sprintf(", %s a call", c.Latency)
	}
	least := time.Duration((c.N+c.Concurrency()-1)/c.Concurrency()) * typical
	if least <= bench.LambdaTimeout {
		return ", without added latency"
	}
	return fmt.Sprintf(", without added latency (at %s a call its GetSession calls alone take %s, longer than the function's %s timeout: runs cut short by it share the fleet)",
		typical, least.Round(time.Second), bench.LambdaTimeout)
}

func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

func msList(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10))
	}
	return strings.Join(s, ", ")
}

// buildCommand is a go build command line without its -o argument.
func buildCommand(s string) string {
	f := strings.Fields(s)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "-o" {
			f = append(f[:i], f[i+2:]...)
			break
		}
	}
	return strings.Join(f, " ")
}
