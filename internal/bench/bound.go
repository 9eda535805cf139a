package bench

import (
	"time"

	"sessionwatch/handler"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/internal/glueemu"
	"sessionwatch/state"
)

// Operation names, as the emulator and the stand-ins count them.
const (
	OpListSessions = "ListSessions"
	OpGetSession   = "GetSession"
	// OpListStatements is called only with idle detection on
	// (Case.IdleMinutes), for READY sessions.
	OpListStatements = "ListStatements"
	OpQuery          = "Query"
	OpGetItem        = "GetItem"
	OpBatchGetItem   = "BatchGetItem"
	OpScan           = "Scan"
	OpPutItem        = "PutItem"
	OpUpdateItem     = "UpdateItem"
	OpDeleteItem     = "DeleteItem"
	OpPutEvents      = "PutEvents"
)

// Ops lists every operation a run may call, in the order the tables print
// them.
var Ops = []string{OpListSessions, OpGetSession, OpListStatements, OpQuery, OpGetItem, OpBatchGetItem, OpScan, OpPutItem, OpUpdateItem, OpDeleteItem, OpPutEvents}

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
func (c Calls) Writes() int { return c[OpPutItem] + c[OpUpdateItem] + c[OpDeleteItem] }

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

// StatementsPageSize is the ListStatements page a run gets: ListStatements
// takes no MaxResults (the handler asks for none), so the emulator's page
// size.
func (c Case) StatementsPageSize() int {
	if c.StatementsPage > 0 {
		return c.StatementsPage
	}
	return glueemu.DefaultStatementsPageSize
}

// StatementPages returns the ListStatements calls of the case's measured
// run: with idle detection on, one per page of statements of each session
// READY in it (one for a session with fewer statements than a page, none
// ran included), and the most of any one session, whose pages follow one
// another (each needs the previous NextToken); none with it off.
func (c Case) StatementPages() (total, most int) {
	if c.IdleMinutes <= 0 {
		return 0, 0
	}
	return newFleet(c).statementPages(c.Situation, c.StatementsPageSize())
}

// Bound is the lower bound of the calls of one sessionwatch run, by
// operation: the formula plus what the storage must read. Watched
// by ids (SESSION_IDS, or the registry): N GetSession, ⌈N/100⌉
// BatchGetItem, one PutItem per changed session, ⌈events/10⌉ PutEvents;
// discovering: ⌈N/page⌉ ListSessions and no GetSession instead. With idle
// detection on, one ListStatements per page of statements per READY
// session (at least one each; see StatementPages), by ids and discovering
// alike; none with it off. Every run also reads the table's index, the
// registry and the outbox (IndexPages Query calls: ⌈index size / 1 MB⌉),
// and the run item (1 GetItem). The first run over a fresh table migrates
// it once: one more GetItem (the first version's registry item), a Scan
// of the table (ScanPages), a PutItem (the run item) and a second read of
// the index.
func Bound(c Case, changed, events int) Calls {
	b := Calls{
		OpQuery:        c.IndexPages(), // the registry and the outbox
		OpGetItem:      1,              // the run item: where the last run stopped
		OpBatchGetItem: ceilDiv(c.N, state.BatchSize),
		OpPutItem:      changed,
		OpPutEvents:    ceilDiv(events, handler.MaxBatch),
	}
	if c.Mode == Discover {
		b[OpListSessions] = c.Pages()
	} else {
		b[OpGetSession] = c.N
	}
	b[OpListStatements], _ = c.StatementPages()
	if c.Situation == First {
		b[OpGetItem]++
		b[OpScan] += c.ScanPages()
		b[OpPutItem]++
		b[OpQuery] += c.IndexPages()
	}
	return b.complete()
}

// IndexPages is the Query calls of one read of the table's index in the
// case's measured run: ⌈index size / 1 MB page⌉, at least 1. The index
// lists every session watched: after a first run, the whole fleet (each
// session is seen unfinished); before it, the ids tracked (Registry), or
// nothing. Its items hold the key and the index's (SessionId and Shelf):
// 15 bytes + the id's, as DynamoDB counts an item's size, so 1 page up to
// some 35,000 ids of 15 characters, and 26 for 100,000 of 255.
func (c Case) IndexPages() int {
	n := c.N
	if c.Situation == First && c.Mode != Registry {
		n = 0
	}
	size := len(state.KeyAttribute) + newFleet(c).idSize() + len(state.ShelfAttribute) + len(state.OnShelf)
	return pages(n, size)
}

// ScanPages is the Scan calls of a first run's migration, which reads the
// whole table: ⌈table size / 1 MB page⌉, at least 1. Before the first
// run the table holds the tracked ids (Registry), each item its key, Shelf
// and Version (1: 2 bytes), or nothing.
func (c Case) ScanPages() int {
	if c.Mode != Registry {
		return 1
	}
	size := len(state.KeyAttribute) + newFleet(c).idSize() + len(state.ShelfAttribute) + len(state.OnShelf) + len("Version") + 2
	return pages(c.N, size)
}

// pages is the pages of a Query or Scan over n items of size bytes each:
// a page holds the items that fit whole in fakeaws.MaxPageSize (1 MB, as
// DynamoDB's), and an empty read is one page.
func pages(n, size int) int {
	return max(1, ceilDiv(n, fakeaws.MaxPageSize/size))
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
const Formula = `critical path = L × ( max(1, P, Q) + M + max(⌈B/16⌉, min(1, B) + max(⌈(G+S)/C⌉, K)) + ⌈E/16⌉ + ⌈W/16⌉ )
  L  latency of one call (every service)
  P  ListSessions pages (sequential: each needs the previous NextToken; 0 by ids),
     beside which the index's Query pages run, Q = ⌈index size / 1 MB page⌉
     (sequential: each needs the previous LastEvaluatedKey; the registry and the
     outbox), and the run item's GetItem
  M  the one-time migration of a fresh table (first run only): its GetItem, the
     Scan's pages (⌈table size / 1 MB⌉), the run item's PutItem and the index's
     Q pages again, one after the other (0 otherwise)
  B  BatchGetItem calls = ⌈N/100⌉, 16 in flight (handler.AWSConcurrency), loaded
     chunk by chunk ahead of the GetSession calls, which overlap them
  G  GetSession calls (N by ids, 0 discovering), C = MAX_CONCURRENCY in flight (default 8)
  S  ListStatements calls, idle detection on: Σ over READY sessions of max(1, ⌈statements/100⌉)
     (100: the page Glue's emulator answers; ListStatements takes no MaxResults); 0 off.
     They share the C workers with GetSession: a READY session's worker asks GetSession,
     then its pages one after the other (each needs the previous NextToken)
  K  the longest such chain of one session: its pages, + 1 (its GetSession) by ids; 0 off
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
	// The index is read once, or twice around a migration (its GetItem,
	// Scan pages, run item PutItem, second read), both reads of the same
	// pages in the bound.
	reads, migration := b[OpQuery], 0
	if b[OpScan] > 0 {
		reads = b[OpQuery] / 2
		migration = b[OpGetItem] - 1 + b[OpScan] + 1 + (b[OpQuery] - reads)
	}
	saves := b[OpPutItem] - min(b[OpScan], 1) // the migration's PutItem is counted above
	// The Glue workers: GetSession and ListStatements calls, C at a time,
	// and no shorter than one session's chain of them.
	chain := 0
	if _, most := c.StatementPages(); most > 0 && b[OpListStatements] > 0 {
		chain = most + min(1, b[OpGetSession])
	}
	glue := max(ceilDiv(b[OpGetSession]+b[OpListStatements], c.Concurrency()), chain)
	trips := max(1, b[OpListSessions], reads) + migration +
		max(ceilDiv(b[OpBatchGetItem], AWSConcurrency), min(1, b[OpBatchGetItem])+glue) +
		ceilDiv(b[OpPutEvents], AWSConcurrency) +
		ceilDiv(saves, AWSConcurrency)
	return time.Duration(trips) * c.Latency
}

func ceilDiv(n, d int) int {
	if n <= 0 {
		return 0
	}
	return (n + d - 1) / d
}
