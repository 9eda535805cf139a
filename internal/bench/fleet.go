package bench

import (
	"fmt"
	"strings"
	"time"

	"sessionwatch/internal/glueemu"
)

// ChangeEvery is how the Changed situation picks its sessions: every
// ChangeEvery-th one (5%).
const ChangeEvery = 20

// FailedMessage is the error message of the sessions that fail in the
// Changed situation.
const FailedMessage = "SparkContext was shut down: executor lost (benchmark)"

// ProvisioningAge is how long before the fleet is built the sessions that
// are not READY were created: under STUCK_MINUTES' default 15, so that no
// STUCK alert fires while a case runs.
const ProvisioningAge = 2 * time.Minute

// fleet is N live Glue sessions with the fields a real session has (so
// that answers and events have realistic sizes): all READY, or, with
// readyEvery above 1, one in readyEvery READY and the others PROVISIONING.
// The READY ones have run statements, which ListStatements returns when
// idle detection is on.
type fleet struct {
	n       int
	created time.Time // the READY sessions' CreatedOn, an hour before the fleet was built
	// readyEvery, statements, longStatements and statementBytes are the
	// case's ReadyEvery, Statements, LongStatements and StatementBytes;
	// idleMinutes its IdleMinutes.
	readyEvery, statements, longStatements, statementBytes int
	idleMinutes                                            int
	// idLength is the case's IDLength: the ids' length in characters.
	idLength int
}

func newFleet(c Case) fleet {
	return fleet{
		n: c.N, created: time.Now().UTC().Add(-time.Hour).Truncate(time.Second),
		readyEvery: c.ReadyEvery, statements: c.Statements, longStatements: c.LongStatements, statementBytes: c.StatementBytes,
		idleMinutes: c.IdleMinutes, idLength: c.IDLength,
	}
}

// SessionID is the id of the fleet's i-th session (of a case without
// IDLength).
func SessionID(i int) string { return fmt.Sprintf("sw-bench-%06d", i) }

// id is the id of the fleet's i-th session: SessionID(i), padded to
// idLength characters when that is longer (Glue allows 255), so that the
// ids sort as SessionID's do.
func (f fleet) id(i int) string {
	id := SessionID(i)
	if pad := f.idLength - len(id); pad > 0 {
		id += "-" + filler("padded-to-glue-maximum-", pad-1)
	}
	return id
}

// idSize is the length of the fleet's ids in bytes (they are ASCII).
func (f fleet) idSize() int { return max(len(SessionID(0)), f.idLength) }

func (f fleet) ids() []string { return f.idRange(0, f.n) }

// idRange returns the ids of the sessions from to to (excluded).
func (f fleet) idRange(from, to int) []string {
	ids := make([]string, 0, max(0, to-from))
	for i := from; i < to; i++ {
		ids = append(ids, f.id(i))
	}
	return ids
}

// ready tells whether the i-th session is READY when the fleet is built.
// With readyEvery above 1 these are the sessions half way between two the
// Changed situation changes (i ≡ readyEvery/2 mod readyEvery; with
// readyEvery = ChangeEvery none of them changes), so that READY sessions
// are idle-checked in every situation.
func (f fleet) ready(i int) bool {
	return f.readyEvery <= 1 || i%f.readyEvery == f.readyEvery/2
}

// changes tells whether the Changed situation changes the i-th session.
func changes(i int) bool { return i%ChangeEvery == 0 }

// readyAt tells whether the i-th session is READY in the measured run of
// situation s.
func (f fleet) readyAt(i int, s Situation) bool {
	return f.ready(i) && !(s == Changed && changes(i))
}

// statementCount is how many statements the i-th session has run: none
// unless READY; longStatements for the first READY one when set.
func (f fleet) statementCount(i int) int {
	switch {
	case !f.ready(i):
		return 0
	case f.longStatements > 0 && i == f.firstReady():
		return f.longStatements
	}
	return f.statements
}

func (f fleet) firstReady() int {
	if f.readyEvery <= 1 {
		return 0
	}
	return f.readyEvery / 2
}

func (f fleet) session(i int) glueemu.Session {
	workers, idle, capacity := int32(5), int32(60), 5.0
	s := glueemu.Session{
		ID: f.id(i), Status: "READY", CreatedOn: &f.created,
		Description: "interactive session of the sessionwatch benchmark",
		Role:        "arn:aws:iam::123456789012:role/GlueInteractiveSessionRole",
		Command:     &glueemu.Command{Name: "glueetl", PythonVersion: "3"},
		GlueVersion: "4.0", WorkerType: "G.1X", NumberOfWorkers: &workers,
		MaxCapacity: &capacity, IdleTimeout: &idle,
		DefaultArguments: map[string]string{"--enable-glue-datacatalog": "true", "--job-language": "python"},
		Tags:             map[string]string{"team": "data"},
	}
	if !f.ready(i) {
		created := f.created.Add(time.Hour - ProvisioningAge)
		s.Status, s.CreatedOn = "PROVISIONING", &created
	}
	return s
}

// statementsOf returns the statements of the i-th session: statementCount
// of them, AVAILABLE, each statementBytes of code and output together
// (a quarter code, the rest output), spread over the hour since the
// session was created, the last one ending when the fleet was built, so
// that none is idle longer than any IDLE_MINUTES while a case runs. Times
// in epoch milliseconds, as Glue's (Livy's) statements give them.
func (f fleet) statementsOf(i int) []glueemu.Statement {
	n := f.statementCount(i)
	if n == 0 {
		return nil
	}
	code := filler("df = spark.sql('SELECT team, count(*) FROM sessions GROUP BY team'); df.show()\n", f.statementBytes/4)
	text := filler("| data | 42 |\n", f.statementBytes-f.statementBytes/4)
	sts := make([]glueemu.Statement, n)
	for k := range sts {
		done := f.created.Add(time.Duration(k+1) * time.Hour / time.Duration(n))
		sts[k] = glueemu.Statement{
			ID: int32(k), Code: code, State: "AVAILABLE", Progress: 1,
			StartedOn: done.Add(-time.Second).UnixMilli(), CompletedOn: done.UnixMilli(),
			Output: &glueemu.StatementOutput{Data: &glueemu.StatementData{TextPlain: text}, ExecutionCount: int32(k + 1), Status: "ok"},
		}
	}
	return sts
}

// filler is pattern repeated to n bytes.
func filler(pattern string, n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat(pattern, n/len(pattern)+1)[:n]
}

// put seeds the emulator with the fleet and the READY sessions'
// statements.
func (f fleet) put(emu *glueemu.Emulator) {
	for i := range f.n {
		emu.Put(f.session(i))
		if sts := f.statementsOf(i); len(sts) > 0 {
			emu.SetStatements(f.id(i), sts...)
		}
	}
}

// change makes 5% of the sessions change: every ChangeEvery-th one, of
// which one in two goes to STOPPING (one event) and the other to FAILED
// with an error message (two events: state change and error).
func (f fleet) change(emu *glueemu.Emulator) {
	for i := 0; i < f.n; i += ChangeEvery {
		emu.Update(f.id(i), func(s *glueemu.Session) {
			if (i/ChangeEvery)%2 == 0 {
				s.Status = "STOPPING"
				return
			}
			completed := f.created.Add(50 * time.Minute)
			if s.CreatedOn.After(completed) { // a PROVISIONING one, created minutes ago
				completed = s.CreatedOn.Add(time.Minute)
			}
			s.Status, s.ErrorMessage, s.CompletedOn = "FAILED", FailedMessage, &completed
		})
	}
}

// expect returns how many sessions changed since the previous run and how
// many events that calls for.
func (f fleet) expect(s Situation) (changed, events int) {
	switch s {
	case First:
		// One "Glue Session State Change" each; no errors. A READY
		// session that has run no statement has been idle since its
		// creation, an hour ago: an IDLE alert when that is over
		// IDLE_MINUTES (in a seeded situation the seed run raised it).
		return f.n, f.n + f.idleAlerts()
	case Changed:
		changed = (f.n + ChangeEvery - 1) / ChangeEvery
		return changed, changed + changed/2
	}
	return 0, 0
}

// idleAlerts is the number of IDLE alerts the first run raises.
func (f fleet) idleAlerts() int {
	if f.idleMinutes <= 0 || time.Duration(f.idleMinutes)*time.Minute >= time.Hour {
		return 0
	}
	n := 0
	for i := range f.n {
		if f.ready(i) && f.statementCount(i) == 0 {
			n++
		}
	}
	return n
}

// statementPages returns, for the measured run of situation s, the
// ListStatements calls of every READY session together (one per page of
// page statements, one for a session with fewer than a page, or none) and
// the most of any one session.
func (f fleet) statementPages(s Situation, page int) (total, most int) {
	for i := range f.n {
		if !f.readyAt(i, s) {
			continue
		}
		p := max(1, ceilDiv(f.statementCount(i), page))
		total += p
		most = max(most, p)
	}
	return total, most
}
