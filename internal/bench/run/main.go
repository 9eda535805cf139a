// Command run is the sessionwatch benchmark (`make bench`): it measures
// sessionwatch runs over fleets of sessions, each case in a child process
// of its own (this program again, with -child) against the Glue emulator
// and the DynamoDB and EventBridge stand-ins in another (-aws-server), and
// prints Markdown tables:
// calls by operation against their lower bound, wall time against its
// critical-path bound, peak memory, the naive poller's figures, runs under
// Glue throttling, idle detection off and on (ListStatements calls and
// the bytes of statements they read), the bootstrap's size, the cold
// start against a hello-world bootstrap, and the monthly cost of a
// 5-minute schedule.
//
//	go run ./internal/bench/run [-n 100,1000,10000] [-latency 20ms] [-naive-max 1000] [-idle-n 1000] [-coldstart 7] [-heapprofile dir]
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
	var sizes []int
	for f := range strings.SplitSeq(*ns, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return fmt.Errorf("-n: %q is not a fleet size", f)
		}
		sizes = append(sizes, n)
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
	for _, n := range sizes {
		for _, sit := range bench.Situations {
			for _, mode := range bench.Modes {
				c := bench.Case{N: n, Situation: sit, Mode: mode, Latency: *latency}
				sw := c
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
		fmt.Fprintf(out, "## Calls by operation\n\nA count equal to its lower bound is printed alone; the bound is the issue's formula + 1 GetItem (the registry).\n\n")
		bench.WriteCalls(out, rows)
		fmt.Fprintf(out, "\n## Wall time and memory\n\nNaive poller: run for real up to N = %s, above that estimated as its calls × latency. Memory is the child process's, which holds the handler, the real Glue client and, in place of the DynamoDB and EventBridge clients, stubs sending the calls (gob over HTTP) to the stand-ins; the Glue emulator and the stand-ins run in another process. Heap in use sampled every %s; RSS is the child's maximum since the measured run began (in brackets: both at its start).\n\n",
			fmtInt(int64(*naiveMax)), bench.SampleEvery)
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
			fmt.Fprintf(out, "\n## Cold start\n\nFrom starting aws-lambda-rie to the first response; sessionwatch's is a quiet run polling %s (2 GetSession on the Glue emulator, 1 GetItem and 1 BatchGetItem on moto). Both built as `%s` (sessionwatch %s bytes, hello world %s bytes); %d alternating repetitions each.\n\n",
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
		fmt.Fprintf(out, "\n## Monthly cost of a 5-minute schedule\n\nEvery run the same as the measured one (run time at %s a call); us-east-1 list prices, no free tier: Lambda arm64 %d MB at $0.0000133334/GB-s + $0.20/million requests, DynamoDB on-demand $0.125/million RRU (one per strongly consistent read ≤ 4 KB: every BatchGetItem key and the registry) and $0.625/million WRU (one per snapshot write ≤ 1 KB), EventBridge $1.00/million custom events; %s runs a month (730 h); Glue API calls are free.\n\n",
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
