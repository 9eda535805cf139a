package bench

import (
	"fmt"
	"time"

	"sessionwatch/internal/glueemu"
)

// ChangeEvery is how the Changed situation picks its sessions: every
// ChangeEvery-th one (5%).
const ChangeEvery = 20

// FailedMessage is the error message of the sessions that fail in the
// Changed situation.
const FailedMessage = "SparkContext was shut down: executor lost (benchmark)"

// fleet is N live Glue sessions, all READY, with the fields a real session
// has (so that answers and events have realistic sizes).
type fleet struct {
	n       int
	created time.Time
}

func newFleet(n int) fleet {
	return fleet{n: n, created: time.Now().UTC().Add(-time.Hour).Truncate(time.Second)}
}

// SessionID is the id of the fleet's i-th session.
func SessionID(i int) string { return fmt.Sprintf("sw-bench-%06d", i) }

func (f fleet) ids() []string {
	ids := make([]string, f.n)
	for i := range ids {
		ids[i] = SessionID(i)
	}
	return ids
}

func (f fleet) session(i int) glueemu.Session {
	workers, idle, capacity := int32(5), int32(60), 5.0
	return glueemu.Session{
		ID: SessionID(i), Status: "READY", CreatedOn: &f.created,
		Description: "interactive session of the sessionwatch benchmark",
		Role:        "arn:aws:iam::123456789012:role/GlueInteractiveSessionRole",
		Command:     &glueemu.Command{Name: "glueetl", PythonVersion: "3"},
		GlueVersion: "4.0", WorkerType: "G.1X", NumberOfWorkers: &workers,
		MaxCapacity: &capacity, IdleTimeout: &idle,
		DefaultArguments: map[string]string{"--enable-glue-datacatalog": "true", "--job-language": "python"},
		Tags:             map[string]string{"team": "data"},
	}
}

// change makes 5% of the sessions change: every ChangeEvery-th one, of
// which one in two goes from READY to STOPPING (one event) and the other
// to FAILED with an error message (two events: state change and error).
func (f fleet) change(emu *glueemu.Emulator) {
	completed := f.created.Add(50 * time.Minute)
	for i := 0; i < f.n; i += ChangeEvery {
		emu.Update(SessionID(i), func(s *glueemu.Session) {
			if (i/ChangeEvery)%2 == 0 {
				s.Status = "STOPPING"
				return
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
		return f.n, f.n // one "Glue Session State Change" each; no errors
	case Changed:
		changed = (f.n + ChangeEvery - 1) / ChangeEvery
		return changed, changed + changed/2
	}
	return 0, 0
}
