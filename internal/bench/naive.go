package bench

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/state"
)

// Naive is the poller a user would write without sessionwatch, the
// benchmark's baseline. It handles one session at a time: GetSession,
// GetItem of its last state, compare, PutItem when it changed, then one
// PutEvents per event. Discovering, it lists the sessions first (every
// page) and uses what ListSessions returns instead of calling GetSession,
// which is the stronger baseline.
type Naive struct {
	Glue        handler.Glue
	DB          state.DynamoDB
	EventBridge handler.EventBridge
	Table       string
	// IDs are the sessions watched; Discover adds those ListSessions
	// returns.
	IDs      []string
	Discover bool
}

// Run polls every session and returns how many it polled and how many
// events it published. It stops at the first error.
func (n *Naive) Run(ctx context.Context) (polled, published int, err error) {
	var sessions []*gluetypes.Session
	if n.Discover {
		p := glue.NewListSessionsPaginator(n.Glue, &glue.ListSessionsInput{MaxResults: aws.Int32(handler.ListPageSize)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return polled, published, fmt.Errorf("list sessions: %w", err)
			}
			for i := range page.Sessions {
				sessions = append(sessions, &page.Sessions[i])
			}
		}
	}
	for _, id := range n.IDs {
		out, err := n.Glue.GetSession(ctx, &glue.GetSessionInput{Id: aws.String(id)})
		if err != nil {
			return polled, published, fmt.Errorf("get session %s: %w", id, err)
		}
		if err := n.poll(ctx, out.Session, &published); err != nil {
			return polled, published, err
		}
		polled++
	}
	for _, s := range sessions {
		if err := n.poll(ctx, s, &published); err != nil {
			return polled, published, err
		}
		polled++
	}
	return polled, published, nil
}

// naiveItem is what the naive poller keeps per session.
type naiveItem struct {
	Status, ErrorMessage string
}

func (n *Naive) poll(ctx context.Context, s *gluetypes.Session, published *int) error {
	id := aws.ToString(s.Id)
	key := map[string]dbtypes.AttributeValue{"SessionId": &dbtypes.AttributeValueMemberS{Value: id}}
	got, err := n.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: &n.Table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("get item %s: %w", id, err)
	}
	var prev *naiveItem
	if got.Item != nil {
		prev = &naiveItem{Status: str(got.Item["Status"]), ErrorMessage: str(got.Item["ErrorMessage"])}
	}
	cur := naiveItem{Status: string(s.Status), ErrorMessage: aws.ToString(s.ErrorMessage)}
	if prev != nil && *prev == cur {
		return nil
	}
	type event struct {
		detailType string
		detail     map[string]any
	}
	var events []event
	if prev == nil || prev.Status != cur.Status {
		d := map[string]any{"sessionId": id, "status": cur.Status, "previousStatus": nil}
		if prev != nil {
			d["previousStatus"] = prev.Status
		}
		events = append(events, event{"Glue Session State Change", d})
	}
	if cur.ErrorMessage != "" && (prev == nil || prev.ErrorMessage != cur.ErrorMessage) {
		events = append(events, event{"Glue Session Error", map[string]any{"sessionId": id, "status": cur.Status, "errorMessage": cur.ErrorMessage}})
	}
	item := map[string]dbtypes.AttributeValue{
		"SessionId": key["SessionId"],
		"Status":    &dbtypes.AttributeValueMemberS{Value: cur.Status},
	}
	if cur.ErrorMessage != "" {
		item["ErrorMessage"] = &dbtypes.AttributeValueMemberS{Value: cur.ErrorMessage}
	}
	if _, err := n.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: &n.Table, Item: item}); err != nil {
		return fmt.Errorf("put item %s: %w", id, err)
	}
	for _, ev := range events {
		detail, err := json.Marshal(ev.detail)
		if err != nil {
			return err
		}
		out, err := n.EventBridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String("naive"), DetailType: aws.String(ev.detailType), Detail: aws.String(string(detail)),
		}}})
		if err != nil {
			return fmt.Errorf("put events %s: %w", id, err)
		}
		if out.FailedEntryCount > 0 {
			return fmt.Errorf("put events %s: %s", id, aws.ToString(out.Entries[0].ErrorCode))
		}
		*published++
	}
	return nil
}

func str(v dbtypes.AttributeValue) string {
	if s, ok := v.(*dbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
