package bench

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Row is one line of the tables: sessionwatch and the naive poller on the
// same case.
type Row struct {
	SW, Naive *Result
}

// EstimateNaive returns the naive poller's figures for c computed rather
// than run: its calls (NaiveCalls) and, since it makes them one at a time,
// calls × latency as its wall time.
func EstimateNaive(c Case) *Result {
	c.Naive = true
	changed, events := newFleet(c).expect(c.Situation)
	calls := NaiveCalls(c, changed, events)
	return &Result{
		Case: c, Calls: calls, Bound: calls, Changed: changed, Events: events,
		Polled: c.N, Published: events,
		Wall: CriticalPath(c, calls), CriticalPath: CriticalPath(c, calls), Estimated: true,
	}
}

// WriteCalls prints the calls of every row by operation beside their lower
// bound: a count equal to its bound is printed alone, another one with its
// bound.
// A column IDLE_MINUTES says which rows ran with idle detection when any
// row's fleet is shaped for it (Case.ReadyEvery or Case.IdleMinutes).
func WriteCalls(w io.Writer, rows []Row) {
	idle := slices.ContainsFunc(rows, func(r Row) bool { return r.SW.Case.IdleMinutes > 0 || r.SW.Case.ReadyEvery > 1 })
	head := []string{"N", "situation", "mode"}
	if idle {
		head = append(head, "IDLE_MINUTES")
	}
	head = append(head, Ops...)
	head = append(head, "calls", "bound", "calls/bound", "polled", "published", "errors")
	var cells [][]string
	for _, r := range rows {
		s := r.SW
		line := []string{num(s.Case.N), string(s.Case.Situation), string(s.Case.Mode)}
		if idle {
			line = append(line, idleMinutes(s.Case))
		}
		for _, op := range Ops {
			cell := num(s.Calls[op])
			if s.Calls[op] != s.Bound[op] {
				cell += " (bound " + num(s.Bound[op]) + ")"
			}
			line = append(line, cell)
		}
		line = append(line, num(s.Calls.Total()), num(s.Bound.Total()), ratioByOp(s.Calls, s.Bound),
			num(s.Polled), num(s.Published), num(s.Errors))
		cells = append(cells, line)
	}
	table(w, head, cells)
}

// ratioByOp is "1.00" when every operation's calls equal its bound, else
// the largest calls/bound and its operation.
func ratioByOp(calls, bound Calls) string {
	worst, worstOp := 1.0, ""
	for _, op := range Ops {
		var r float64
		switch {
		case calls[op] == bound[op]:
			r = 1
		case bound[op] == 0:
			r = math.Inf(1)
		default:
			r = float64(calls[op]) / float64(bound[op])
		}
		if math.Abs(r-1) > math.Abs(worst-1) {
			worst, worstOp = r, op
		}
	}
	if worstOp == "" {
		return "1.00"
	}
	return fmt.Sprintf("%.2f (%s)", worst, worstOp)
}

// WriteTimes prints the wall time of every row beside its critical-path
// bound, its memory, and the naive poller's calls and time.
func WriteTimes(w io.Writer, rows []Row) {
	head := []string{"N", "situation", "mode", "wall", "critical path", "wall/cp",
		"heap peak MiB (at start)", "RSS peak MiB (at start)", "naive calls", "naive wall", "naive heap/RSS MiB", "naive/sessionwatch"}
	var cells [][]string
	for _, r := range rows {
		s := r.SW
		line := []string{num(s.Case.N), string(s.Case.Situation), string(s.Case.Mode),
			dur(s.Wall), dur(s.CriticalPath), fmt.Sprintf("%.2f", float64(s.Wall)/float64(s.CriticalPath)),
			mib(s.HeapPeak) + " (" + mib(s.HeapBase) + ")", mib(s.RSSPeak) + " (" + mib(s.RSSBase) + ")"}
		if n := r.Naive; n != nil {
			wall := dur(n.Wall)
			if n.Estimated {
				wall = "≈" + wall + " (estimated)"
			}
			memory := "–"
			if !n.Estimated {
				memory = mib(n.HeapPeak) + " / " + mib(n.RSSPeak)
			}
			line = append(line, num(n.Calls.Total()), wall, memory, fmt.Sprintf("%.0f×", float64(n.Wall)/float64(s.Wall)))
		} else {
			line = append(line, "", "", "", "")
		}
		cells = append(cells, line)
	}
	table(w, head, cells)
}

// WriteIdle prints what idle detection costs a run: its ListStatements
// calls beside their bound, the bytes of statements they read, its wall
// time beside its critical path and its peak heap, with idle detection
// off and on.
func WriteIdle(w io.Writer, rows []Row) {
	head := []string{"N", "situation", "mode", "IDLE_MINUTES", "READY", "ListStatements", "Glue calls", "all calls", "ListStatements bytes read", "wall", "critical path", "wall/cp", "heap peak MiB", "Glue in flight (max)", "errors"}
	var cells [][]string
	for _, r := range rows {
		s := r.SW
		ready := 0
		fl := newFleet(s.Case)
		for i := range s.Case.N {
			if fl.readyAt(i, s.Case.Situation) {
				ready++
			}
		}
		glue := s.Calls[OpListSessions] + s.Calls[OpGetSession] + s.Calls[OpListStatements]
		glueBound := s.Bound[OpListSessions] + s.Bound[OpGetSession] + s.Bound[OpListStatements]
		cells = append(cells, []string{num(s.Case.N), string(s.Case.Situation), string(s.Case.Mode), idleMinutes(s.Case), num(ready),
			withBound(s.Calls[OpListStatements], s.Bound[OpListStatements]), withBound(glue, glueBound), withBound(s.Calls.Total(), s.Bound.Total()),
			bytesCell(s.StatementBytes), dur(s.Wall), dur(s.CriticalPath), fmt.Sprintf("%.2f", float64(s.Wall)/float64(s.CriticalPath)),
			mib(s.HeapPeak), num(s.GlueMaxInFlight), num(s.Errors)})
	}
	table(w, head, cells)
}

// WriteBig prints large registry runs: the index's Query pages and the
// time to read them, the run's calls against their bound, its wall time
// and its memory.
func WriteBig(w io.Writer, rows []*Result) {
	head := []string{"N", "id length", "situation", "mode", "latency", "Query pages", "index read", "index read alone", "calls", "bound", "calls/bound", "wall",
		"heap peak MiB (at start)", "RSS peak MiB (at start)", "set-up RSS peak MiB", "polled", "published", "errors"}
	var cells [][]string
	for _, s := range rows {
		alone := "–"
		if s.IndexReadAlone > 0 {
			alone = dur(s.IndexReadAlone) + " at " + s.Case.IndexLatency.String()
		}
		cells = append(cells, []string{num(s.Case.N), num(newFleet(s.Case).idSize()), string(s.Case.Situation), string(s.Case.Mode), s.Case.Latency.String(),
			withBound(s.Calls[OpQuery], s.Bound[OpQuery]), dur(s.IndexRead), alone,
			num(s.Calls.Total()), num(s.Bound.Total()), ratioByOp(s.Calls, s.Bound), dur(s.Wall),
			mib(s.HeapPeak) + " (" + mib(s.HeapBase) + ")", mib(s.RSSPeak) + " (" + mib(s.RSSBase) + ")", mib(s.SetUpRSSPeak),
			num(s.Polled), num(s.Published), num(s.Errors)})
	}
	table(w, head, cells)
}

// withBound is n, and its bound in brackets when they differ.
func withBound(n, bound int) string {
	if n == bound {
		return num(n)
	}
	return num(n) + " (bound " + num(bound) + ")"
}

func idleMinutes(c Case) string {
	if c.IdleMinutes <= 0 {
		return "off"
	}
	return num(c.IdleMinutes)
}

// bytesCell is a byte count, with MiB beside it from 1 MiB on.
func bytesCell(n int64) string {
	if n < 1<<20 {
		return num(int(n))
	}
	return fmt.Sprintf("%s (%.2f MiB)", num(int(n)), float64(n)/(1<<20))
}

// ThrottleRow is a run under Glue throttling, or its unthrottled
// reference.
type ThrottleRow struct {
	Label string
	R     *Result
}

// WriteThrottle prints runs under Glue throttling: every session must
// still be polled (errors 0), the run only taking longer. Retries are the
// Glue calls beyond the bound.
func WriteThrottle(w io.Writer, rows []ThrottleRow) {
	head := []string{"run", "Glue limit", "wall", "critical path (unthrottled)", "GetSession calls", "retries", "polled", "published", "errors", "first error"}
	var cells [][]string
	for _, t := range rows {
		r := t.R
		limit := "none"
		if r.Case.ThrottleRate > 0 {
			limit = fmt.Sprintf("%g/s, burst %d", r.Case.ThrottleRate, r.Case.ThrottleBurst)
		}
		glue := r.Calls[OpGetSession] + r.Calls[OpListSessions]
		bound := r.Bound[OpGetSession] + r.Bound[OpListSessions]
		first := r.FirstError
		if len(first) > 80 {
			first = first[:80] + "…"
		}
		cells = append(cells, []string{t.Label, limit, dur(r.Wall), dur(r.CriticalPath),
			num(r.Calls[OpGetSession]), num(glue - bound), num(r.Polled), num(r.Published), num(r.Errors), first})
	}
	table(w, head, cells)
}

// Prices are the list prices the cost estimate assumes.
type Prices struct {
	LambdaGBSecond float64 // arm64
	LambdaRequest  float64
	ReadUnit       float64 // DynamoDB on-demand read request unit
	WriteUnit      float64 // DynamoDB on-demand write request unit
	Event          float64 // EventBridge custom event (64 KB chunk)
	MemoryMB       int     // the function's memory (template.yaml)
	RunsPerMonth   int
}

// USEast1 are us-east-1 list prices (no free tier): Lambda arm64
// $0.0000133334 per GB-second and $0.20 per million requests; DynamoDB
// on-demand $0.125 per million read and $0.625 per million write request
// units; EventBridge $1.00 per million custom events; a 128 MB function run
// every 5 minutes (8,760 runs in a 730-hour month).
var USEast1 = Prices{
	LambdaGBSecond: 0.0000133334, LambdaRequest: 0.20 / 1e6,
	ReadUnit: 0.125 / 1e6, WriteUnit: 0.625 / 1e6, Event: 1.00 / 1e6,
	MemoryMB: 128, RunsPerMonth: 730 * 12,
}

// WriteCost prints the monthly cost of running each row's case on every
// tick of the schedule. Read units: a strongly consistent read of an item
// up to 4 KB is one, for each key BatchGetItem reads and for the run item
// (the index's Query pages, half a unit per 4 KB, are left out);
// write units: a snapshot is under 1 KB, one each; Glue's API calls are
// free (interactive sessions are billed by DPU-hour).
func WriteCost(w io.Writer, rows []Row, p Prices) {
	head := []string{"N", "mode", "every run", "run time", "Lambda GB-s/mo", "Lambda $/mo", "DynamoDB RRU/mo", "WRU/mo", "DynamoDB $/mo", "events/mo", "EventBridge $/mo", "total $/mo"}
	var cells [][]string
	runs := float64(p.RunsPerMonth)
	for _, r := range rows {
		s := r.SW
		gbs := math.Ceil(float64(s.Wall)/float64(time.Millisecond)) / 1000 * float64(p.MemoryMB) / 1024 * runs
		lambda := gbs*p.LambdaGBSecond + runs*p.LambdaRequest
		rru := float64(s.Case.N+s.Calls[OpGetItem]) * runs
		wru := float64(s.Calls.Writes()) * runs
		db := rru*p.ReadUnit + wru*p.WriteUnit
		events := float64(s.Published) * runs
		eb := events * p.Event
		cells = append(cells, []string{num(s.Case.N), string(s.Case.Mode), string(s.Case.Situation), dur(s.Wall),
			num(int(math.Round(gbs))), usd(lambda), num(int(rru)), num(int(wru)), usd(db), num(int(events)), usd(eb), usd(lambda + db + eb)})
	}
	table(w, head, cells)
}

// Machine describes this machine for the report.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = " " + strings.TrimSpace(string(b))
	}
	var mem string
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s/%s%s, %d CPUs (%s)%s, %s", runtime.GOOS, runtime.GOARCH, kernel, runtime.NumCPU(), model, mem, runtime.Version())
}

// table prints a Markdown table with its columns padded.
func table(w io.Writer, head []string, rows [][]string) {
	widths := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b bytes.Buffer
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			fmt.Fprintf(&b, " %s%s |", c, strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
		}
		b.WriteString("\n")
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	_, _ = w.Write(b.Bytes())
}

func num(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + num(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func dur(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.3f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func mib(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

func usd(x float64) string {
	if x < 0.01 {
		return fmt.Sprintf("$%.4f", x)
	}
	return fmt.Sprintf("$%.2f", x)
}
