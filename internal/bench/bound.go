package bench

import (
	"time"

	"sessionwatch/handler"
	"sessionwatch/internal/glueemu"
	"sessionwatch/state"
)

// Operation names, as the emulator and the stand-ins count them.
const (
	OpListSessions = "ListSessions"
	OpGetSession   = "GetSession"
	OpGetItem      = "GetItem"
	OpBatchGetItem = "BatchGetItem"
	OpPutItem      = "PutItem"
	OpUpdateItem   = "UpdateItem"
	OpPutEvents    = "PutEvents"
)

// Ops lists every operation a run may call, in the order the tables print
// them.
var Ops = []string{OpListSessions, OpGetSession, OpGetItem, OpBatchGetItem, OpPutItem, OpUpdateItem, OpPutEvents}

// Calls counts calls by operation.
type Calls map[string]int

// Total is the number of calls of every operation.
func (c Calls) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// Writes is the number of DynamoDB writes.
func (c Calls) Writes() int { return c[OpPutItem] + c[OpUpdateItem] }

// complete returns c with a zero for every operation of Ops it lacks.
func (c Calls) complete() Calls {
	for _, op := range Ops {
		c[op] += 0
	}
	return c
}

// AWSConcurrency is how many DynamoDB and EventBridge calls a run keeps in
// flight: handler.AWSConcurrency.
const AWSConcurrency = handler.AWSConcurrency

// ListPage is the ListSessions page a discovering run gets: the handler
// asks for handler.ListPageSize, and the emulator answers at most its page
// size.
func (c Case) ListPage() int {
	page := c.PageSize
	if page <= 0 {
		page = glueemu.DefaultPageSize
	}
	return min(page, handler.ListPageSize)
}

// Pages is the number of ListSessions calls that list the fleet.
func (c Case) Pages() int { return max(1, ceilDiv(c.N, c.ListPage())) }

// Bound is the lower bound of the calls of one sessionwatch run, by
// operation: the formula plus the one GetItem that reads the
// tracked-session registry. Watched by ids: N GetSession, ⌈N/100⌉
// BatchGetItem, one PutItem per changed session, ⌈events/10⌉ PutEvents;
// discovering: ⌈N/page⌉ ListSessions and no GetSession instead.
func Bound(c Case, changed, events int) Calls {
	b := Calls{
		OpGetItem:      1, // the registry: `track` may have changed it since the last run
		OpBatchGetItem: ceilDiv(c.N, state.BatchSize),
		OpPutItem:      changed,
		OpPutEvents:    ceilDiv(events, handler.MaxBatch),
	}
	if c.Mode == Discover {
		b[OpListSessions] = c.Pages()
	} else {
		b[OpGetSession] = c.N
	}
	return b.complete()
}

// NaiveCalls are the calls of the naive poller: per session GetSession (or,
// discovering, the ListSessions pages instead), GetItem, PutItem when
// changed and one PutEvents per event.
func NaiveCalls(c Case, changed, events int) Calls {
	b := Calls{OpGetItem: c.N, OpPutItem: changed, OpPutEvents: events}
	if c.Mode == Discover {
		b[OpListSessions] = c.Pages()
	} else {
		b[OpGetSession] = c.N
	}
	return b.complete()
}

// Formula is how CriticalPath is computed, for the README beside the table.
const Formula = `critical path = L × ( max(1, P) + ⌈B/16⌉ + ⌈G/C⌉ + ⌈E/16⌉ + ⌈W/16⌉ )
  L  latency of one call (every service)
  P  ListSessions pages (sequential: each needs the previous NextToken; 0 by ids),
     beside which the registry GetItem (1 call) runs
  B  BatchGetItem calls = ⌈N/100⌉, 16 in flight (handler.AWSConcurrency)
  G  GetSession calls (N by ids, 0 discovering), C = MAX_CONCURRENCY in flight (default 8)
  E  PutEvents calls = ⌈events/10⌉, 16 in flight
  W  PutItem calls = changed sessions, 16 in flight
  Each stage waits for the one before; a stage of n calls at c in flight
  takes ⌈n/c⌉ round trips (0 when n = 0), computed on the bound's counts.
  Naive poller: one call at a time, so its bound is (its calls) × L.`

// CriticalPath is the least wall time a run making the calls b can take
// at the case's latency and concurrency (see Formula).
func CriticalPath(c Case, b Calls) time.Duration {
	if c.Naive {
		return time.Duration(b.Total()) * c.Latency
	}
	trips := max(b[OpGetItem], b[OpListSessions]) +
		ceilDiv(b[OpBatchGetItem], AWSConcurrency) +
		ceilDiv(b[OpGetSession], c.Concurrency()) +
		ceilDiv(b[OpPutEvents], AWSConcurrency) +
		ceilDiv(b[OpPutItem], AWSConcurrency)
	return time.Duration(trips) * c.Latency
}

func ceilDiv(n, d int) int {
	if n <= 0 {
		return 0
	}
	return (n + d - 1) / d
}
