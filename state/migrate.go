package state

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// legacySnapshot is what the first version kept in a snapshot item beyond
// today's fields: the events it could not publish.
type legacySnapshot struct {
	Snapshot
	Pending []struct {
		DetailType string    `dynamodbav:"DetailType"`
		Detail     string    `dynamodbav:"Detail"`
		EventID    string    `dynamodbav:"EventId"`
		Time       time.Time `dynamodbav:"Time"`
	} `dynamodbav:"Pending"`
}

// legacyRegistry is the first version's registry item.
type legacyRegistry struct {
	Ids     []string `dynamodbav:"Ids,stringset,omitempty"`
	Skipped []string `dynamodbav:"Skipped,stringset,omitempty"`
}

// Migrate brings a table written by the first version (run.Layout < 2) to
// Layout, losing nothing and announcing nothing: the registry item's ids
// are tracked and the item deleted (the ids it had to skip are polled
// first), events kept pending inside snapshots move to the outbox, and
// unfinished snapshots join the registry (a session seen unfinished stays
// watched until seen finished). It reads the whole table once. A
// migration cut short is done again by the next run: every step can be
// repeated. It returns the run item, at Layout.
func (s *Store) Migrate(ctx context.Context, run Run) (Run, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key(LegacyRegistryKey), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return run, fmt.Errorf("migrate %s: read the registry item: %w", s.table, err)
	}
	var legacy legacyRegistry
	if err := attributevalue.UnmarshalMap(res.Item, &legacy); err != nil {
		return run, fmt.Errorf("migrate %s: malformed registry item: %w", s.table, err)
	}
	if err := s.Track(ctx, legacy.Ids); err != nil {
		return run, fmt.Errorf("migrate: %w", err)
	}
	if len(legacy.Skipped) > 0 {
		// Kept before the registry item goes, so a migration cut short
		// still polls them first once it is done.
		run.Behind = union(run.Behind, legacy.Skipped)
		if err := s.WriteRun(ctx, run); err != nil {
			return run, fmt.Errorf("migrate: %w", err)
		}
	}
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{TableName: &s.table, ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return run, fmt.Errorf("migrate %s: scan: %w", s.table, err)
		}
		var items []map[string]dbtypes.AttributeValue
		for _, item := range page.Items {
			if !strings.HasPrefix(keyOf(item), "\x1f") {
				items = append(items, item)
			}
		}
		if err := each(ctx, s.Parallel, items, s.migrateSnapshot); err != nil {
			return run, fmt.Errorf("migrate: %w", err)
		}
	}
	if res.Item != nil {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(LegacyRegistryKey)}); err != nil {
			return run, fmt.Errorf("migrate %s: delete the registry item: %w", s.table, err)
		}
	}
	run.Layout = Layout
	if err := s.WriteRun(ctx, run); err != nil {
		return run, fmt.Errorf("migrate: %w", err)
	}
	return run, nil
}

// migrateSnapshot moves a first-version snapshot's pending events to the
// outbox and puts an unfinished session in the registry.
func (s *Store) migrateSnapshot(ctx context.Context, item map[string]dbtypes.AttributeValue) error {
	var snap legacySnapshot
	if err := attributevalue.UnmarshalMap(item, &snap); err != nil {
		return nil // unreadable: the run that polls it reports it
	}
	watch := !snap.Done() && !snap.Watched() && !snap.Untracked
	if len(snap.Pending) == 0 && !watch {
		return nil
	}
	events := make([]Event, len(snap.Pending))
	for i, p := range snap.Pending {
		var d struct {
			Sequence int64 `json:"sequence"`
		}
		_ = json.Unmarshal([]byte(p.Detail), &d)
		events[i] = Event{DetailType: p.DetailType, Detail: withCreator(p.Detail), EventID: p.EventID, SessionID: snap.SessionID, Sequence: d.Sequence, Time: p.Time}
	}
	if err := s.Keep(ctx, events); err != nil {
		return err
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(snap.SessionID),
		UpdateExpression:          aws.String("REMOVE #pending ADD #version :one"),
		ConditionExpression:       aws.String("#version = :v"),
		ExpressionAttributeNames:  map[string]string{"#pending": "Pending", "#version": "Version"},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":one": number(1), ":v": number(snap.Version)},
	}
	if watch {
		in.UpdateExpression = aws.String("SET #shelf = :on " + *in.UpdateExpression)
		in.ExpressionAttributeNames["#shelf"] = ShelfAttribute
		in.ExpressionAttributeValues[":on"] = &dbtypes.AttributeValueMemberS{Value: OnShelf}
	}
	_, err := s.db.UpdateItem(ctx, in)
	if isConditionFailed(err) {
		return nil // written meanwhile by a run of this version, which owns it now
	}
	if err != nil {
		return fmt.Errorf("migrate snapshot %s: %w", snap.SessionID, err)
	}
	return nil
}

// withCreator adds `"createdBy": null` to a first-version event's
// detail, which predates the field: every event has it, null when the
// session's creator is unknown (the first version never knew one). The
// rest of the detail stays byte for byte; a detail that is not a JSON
// object, or has the field, is left as it is.
func withCreator(detail string) string {
	var fields map[string]json.RawMessage
	if json.Unmarshal([]byte(detail), &fields) != nil || fields == nil {
		return detail
	}
	if _, ok := fields["createdBy"]; ok {
		return detail
	}
	body := strings.TrimRight(detail, " \t\r\n")
	body = strings.TrimSuffix(body, "}")
	if len(fields) > 0 {
		body += ","
	}
	return body + `"createdBy":null}`
}

// union returns a with the elements of b it lacks.
func union(a, b []string) []string {
	for _, x := range b {
		if !slices.Contains(a, x) {
			a = append(a, x)
		}
	}
	return a
}
