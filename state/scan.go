package state

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"
)

// Scanned is one item of the table as Scan reads it: a session's snapshot,
// an outbox event, or an item the code cannot read (Err set, with its Key).
type Scanned struct {
	Key      string
	Snapshot *Snapshot
	Event    *Event
	Err      error
}

// DefaultSegments is how many segments Scan reads at once when asked for
// none: enough to read a table of 100,000 sessions (some 30 MB, 1 MB a
// page) in a few pages each.
const DefaultSegments = 8

// Scan reads the whole table with a parallel scan of segments segments
// (DefaultSegments when segments < 1) and calls visit for every snapshot,
// outbox event and unreadable item, one call at a time, in no particular
// order. The run item and the first version's registry item are left out.
// It reads only, consistently (an id tracked a moment ago is there): for
// a person's view of the fleet, not for a run's decisions. It stops at the
// first failed page, or when visit returns an error.
func (s *Store) Scan(ctx context.Context, segments int, visit func(Scanned) error) error {
	if segments < 1 {
		segments = DefaultSegments
	}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	for seg := range segments {
		g.Go(func() error {
			in := &dynamodb.ScanInput{TableName: &s.table, ConsistentRead: aws.Bool(true)}
			if segments > 1 {
				in.Segment, in.TotalSegments = aws.Int32(int32(seg)), aws.Int32(int32(segments))
			}
			p := dynamodb.NewScanPaginator(s.db, in)
			for page := 1; p.HasMorePages(); page++ {
				res, err := p.NextPage(ctx)
				if err != nil {
					return fmt.Errorf("scan %s (segment %d of %d, page %d): %w", s.table, seg+1, segments, page, err)
				}
				mu.Lock()
				for _, item := range res.Items {
					id := keyOf(item)
					var it Scanned
					switch {
					case id == RunKey || id == LegacyRegistryKey:
						continue
					case strings.HasPrefix(id, OutboxPrefix):
						if ev, ok := outboxEvent(item); ok {
							it = Scanned{Key: id, Event: ev}
						} else {
							it = Scanned{Key: id, Err: fmt.Errorf("outbox item %q cannot be read (written by hand or by another version?)", id)}
						}
					default:
						var snap Snapshot
						if err := attributevalue.UnmarshalMap(item, &snap); err != nil {
							it = Scanned{Key: id, Err: fmt.Errorf("snapshot item of %q cannot be read (written by hand or by another version?): %w", id, err)}
						} else {
							it = Scanned{Key: id, Snapshot: &snap}
						}
					}
					if err := visit(it); err != nil {
						mu.Unlock()
						return err
					}
				}
				mu.Unlock()
			}
			return nil
		})
	}
	return g.Wait()
}
