package awstest

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// MatchAll is the event pattern that [NewBus] and [Bus.AddRule] use when given
// an empty one: it matches every event (every event has a string source), in
// moto as in EventBridge.
const MatchAll = `{"source":[{"prefix":""}]}`

// DefaultRule is the name of the rule that [NewBus] creates.
const DefaultRule = "all"

// ruleName is EventBridge's constraint on rule names.
var ruleName = regexp.MustCompile(`^[.\-_A-Za-z0-9]{1,64}$`)

// Bus is a custom EventBridge event bus made by [NewBus], with rules that
// each deliver the events they match to their own SQS queue.
type Bus struct {
	// Name is the bus name, to pass as EventBusName in PutEvents entries.
	Name string
	// ARN is the bus ARN.
	ARN string
	// Queue receives the events matched by the rule that NewBus created
	// (named DefaultRule).
	Queue *Queue

	eb  *eventbridge.Client
	sqs *sqs.Client

	mu    sync.Mutex
	rules map[string]bool
}

// Queue is the SQS queue that is the only target of one rule of a [Bus].
type Queue struct {
	// Rule is the name of the rule on the bus.
	Rule string
	// Pattern is the rule's event pattern.
	Pattern string
	// URL and ARN identify the SQS queue.
	URL, ARN string

	sqs *sqs.Client
}

// NewBus creates a custom event bus with a unique name, and on it a rule
// named DefaultRule with the given event pattern (MatchAll if pattern is
// empty) whose target is a new SQS queue, available as the Queue field. The
// bus, its rules and their queues are deleted in tb.Cleanup.
//
// Moto delivers matched events to SQS synchronously, during PutEvents, and
// needs no queue policy allowing events.amazonaws.com to send (none is set:
// this setup would not deliver on AWS itself).
//
// Delivery is slow in moto 5.2.1: about 90 ms for each event delivered to
// each matching rule's queue (it compiles the JSONPath expressions of its
// default input template for every delivery), against about 2 ms for a
// PutEvents call that no rule matches. Keep events × matching rules small.
func NewBus(tb testing.TB, cfg aws.Config, pattern string) *Bus {
	tb.Helper()
	b := &Bus{
		Name:  uniqueName(tb.Name(), 40),
		eb:    eventbridge.NewFromConfig(cfg),
		sqs:   sqs.NewFromConfig(cfg),
		rules: map[string]bool{},
	}
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()
	out, err := b.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(b.Name)})
	if err != nil {
		tb.Fatalf("awstest.NewBus: CreateEventBus %s: %v", b.Name, err)
	}
	b.ARN = aws.ToString(out.EventBusArn)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, err := b.eb.DeleteEventBus(ctx, &eventbridge.DeleteEventBusInput{Name: aws.String(b.Name)})
		if err != nil && !isNotFound(err) {
			tb.Errorf("awstest: cleanup: DeleteEventBus %s: %v", b.Name, err)
		}
	})
	b.Queue = b.AddRule(tb, DefaultRule, pattern)
	return b
}

// AddRule adds to the bus a rule with the given name and event pattern
// (MatchAll if empty) whose only target is a new SQS queue, and returns that
// queue. Rule names must be unique within the bus and match
// [.\-_A-Za-z0-9]{1,64}. The rule and queue are deleted in tb.Cleanup.
func (b *Bus) AddRule(tb testing.TB, name, pattern string) *Queue {
	tb.Helper()
	if !ruleName.MatchString(name) {
		tb.Fatalf("awstest: AddRule: invalid rule name %q", name)
	}
	b.mu.Lock()
	dup := b.rules[name]
	b.rules[name] = true
	b.mu.Unlock()
	if dup {
		tb.Fatalf("awstest: AddRule: bus %s already has a rule %q", b.Name, name)
	}
	if pattern == "" {
		pattern = MatchAll
	}
	q := &Queue{Rule: name, Pattern: pattern, sqs: b.sqs}
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()

	// Queue names: at most 80 characters of [A-Za-z0-9_-].
	queueName := uniqueName(sanitize(tb.Name(), 24)+"-"+sanitize(name, 24), 51)
	qout, err := b.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queueName)})
	if err != nil {
		tb.Fatalf("awstest: AddRule: CreateQueue %s: %v", queueName, err)
	}
	q.URL = aws.ToString(qout.QueueUrl)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, err := b.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q.URL)})
		if err != nil && !isNotFound(err) {
			tb.Errorf("awstest: cleanup: DeleteQueue %s: %v", q.URL, err)
		}
	})
	attrs, err := b.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.URL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		tb.Fatalf("awstest: AddRule: GetQueueAttributes %s: %v", q.URL, err)
	}
	q.ARN = attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]

	if _, err := b.eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name:         aws.String(name),
		EventBusName: aws.String(b.Name),
		EventPattern: aws.String(pattern),
		State:        ebtypes.RuleStateEnabled,
	}); err != nil {
		tb.Fatalf("awstest: AddRule: PutRule %s on %s with pattern %s: %v", name, b.Name, pattern, err)
	}
	const targetID = "queue"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		// EventBridge refuses to delete a rule that still has targets.
		_, err := b.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{
			Rule: aws.String(name), EventBusName: aws.String(b.Name), Ids: []string{targetID},
		})
		if err != nil && !isNotFound(err) {
			tb.Errorf("awstest: cleanup: RemoveTargets %s on %s: %v", name, b.Name, err)
		}
		_, err = b.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(name), EventBusName: aws.String(b.Name)})
		if err != nil && !isNotFound(err) {
			tb.Errorf("awstest: cleanup: DeleteRule %s on %s: %v", name, b.Name, err)
		}
	})
	tout, err := b.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule:         aws.String(name),
		EventBusName: aws.String(b.Name),
		Targets:      []ebtypes.Target{{Id: aws.String(targetID), Arn: aws.String(q.ARN)}},
	})
	if err != nil {
		tb.Fatalf("awstest: AddRule: PutTargets %s on %s: %v", name, b.Name, err)
	}
	if tout.FailedEntryCount != 0 {
		e := tout.FailedEntries[0]
		tb.Fatalf("awstest: AddRule: PutTargets %s on %s: %s: %s", name, b.Name, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	return q
}

// Receive drains the queue of the rule that [NewBus] created; see
// [Queue.Receive].
func (b *Bus) Receive(tb testing.TB) []json.RawMessage {
	tb.Helper()
	return b.Queue.Receive(tb)
}

// Receive reads and deletes every message currently in the queue
// (ReceiveMessage with MaxNumberOfMessages 10 and WaitTimeSeconds 0 until an
// answer is empty) and returns their bodies, in the order received (not
// necessarily the order of PutEvents). It does not wait for more: moto has
// delivered every matched event by the time PutEvents returns.
//
// Each body is an EventBridge event as JSON. With moto 5.2.1 it is exactly
//
//	{"id": "<uuid>", "time": "2026-11-24T22:57:04Z", "version": "0",
//	 "detail-type": "...", "source": "...", "region": "us-east-1",
//	 "resources": [...], "detail": {...}}
//
// in that key order: "detail" is the PutEvents Detail as a JSON object (not a
// string), "resources" is [] when none were given, "time" is whole seconds in
// UTC, and, unlike what EventBridge delivers, there is no "account" field
// (moto's default input template leaves it out, although rules can match on
// "account": "123456789012").
func (q *Queue) Receive(tb testing.TB) []json.RawMessage {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()
	var bodies []json.RawMessage
	for range 1000 {
		out, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(q.URL),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     0,
		})
		if err != nil {
			tb.Fatalf("awstest: Receive from %s: %v", q.URL, err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, 0, len(out.Messages))
		for i, m := range out.Messages {
			body := aws.ToString(m.Body)
			if !json.Valid([]byte(body)) {
				tb.Fatalf("awstest: Receive from %s: message body is not JSON: %q", q.URL, body)
			}
			bodies = append(bodies, json.RawMessage(body))
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{
				Id:            aws.String(strconv.Itoa(i)),
				ReceiptHandle: m.ReceiptHandle,
			})
		}
		del, err := q.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil {
			tb.Fatalf("awstest: Receive from %s: DeleteMessageBatch: %v", q.URL, err)
		}
		if len(del.Failed) != 0 {
			f := del.Failed[0]
			tb.Fatalf("awstest: Receive from %s: DeleteMessageBatch: %s: %s", q.URL, aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	tb.Fatalf("awstest: Receive from %s: queue not empty after 1000 batches", q.URL)
	return nil
}

// isNotFound reports whether err says the resource is already gone.
func isNotFound(err error) bool {
	var ebNotFound *ebtypes.ResourceNotFoundException
	var sqsNotFound *sqstypes.QueueDoesNotExist
	return errors.As(err, &ebNotFound) || errors.As(err, &sqsNotFound)
}
