package awstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
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

// Bus is a custom EventBridge event bus made by [NewBus] or [CreateBus], with
// rules that each deliver the events they match to their own SQS queue.
type Bus struct {
	// Name is the bus name, to pass as EventBusName in PutEvents entries.
	Name string
	// ARN is the bus ARN.
	ARN string
	// Queue receives the events matched by the rule that NewBus or
	// CreateBus created (named DefaultRule).
	Queue *Queue

	eb     *eventbridge.Client
	sqs    *sqs.Client
	prefix string // of queue names, for rules made by CreateRule

	mu       sync.Mutex
	rules    map[string]bool
	cleanups []func() error // run last first by Delete
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
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()
	b, deleteBus, err := createBus(ctx, cfg, tb.Name())
	if err != nil {
		tb.Fatalf("awstest.NewBus: %v", err)
	}
	tb.Cleanup(func() {
		if err := deleteBus(); err != nil {
			tb.Errorf("awstest: cleanup: %v", err)
		}
	})
	b.Queue = b.AddRule(tb, DefaultRule, pattern)
	return b
}

// CreateBus is [NewBus] for callers without a testing.TB: it creates the same
// bus, named after prefix (reduced to the characters a bus name allows) and a
// random suffix, with its DefaultRule and queue. [Bus.Delete] deletes the
// bus, and the rules and queues made by CreateBus and [Bus.CreateRule]. If
// CreateBus fails after creating something, it deletes it before returning
// the error. Each AWS call is bounded by ctx and by 30 s.
func CreateBus(ctx context.Context, cfg aws.Config, prefix, pattern string) (*Bus, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	b, deleteBus, err := createBus(ctx, cfg, prefix)
	if err != nil {
		return nil, err
	}
	b.cleanups = append(b.cleanups, deleteBus)
	if b.Queue, err = b.CreateRule(ctx, DefaultRule, pattern); err != nil {
		return nil, errors.Join(err, b.Delete())
	}
	return b, nil
}

// createBus creates the bus and returns it with the function that deletes it.
func createBus(ctx context.Context, cfg aws.Config, prefix string) (*Bus, func() error, error) {
	b := &Bus{
		Name:   uniqueName(prefix, 40),
		eb:     eventbridge.NewFromConfig(cfg),
		sqs:    sqs.NewFromConfig(cfg),
		prefix: prefix,
		rules:  map[string]bool{},
	}
	out, err := b.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(b.Name)})
	if err != nil {
		return nil, nil, fmt.Errorf("CreateEventBus %s: %w", b.Name, err)
	}
	b.ARN = aws.ToString(out.EventBusArn)
	return b, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, err := b.eb.DeleteEventBus(ctx, &eventbridge.DeleteEventBusInput{Name: aws.String(b.Name)})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("DeleteEventBus %s: %w", b.Name, err)
		}
		return nil
	}, nil
}

// AddRule adds to the bus a rule with the given name and event pattern
// (MatchAll if empty) whose only target is a new SQS queue, and returns that
// queue. Rule names must be unique within the bus and match
// [.\-_A-Za-z0-9]{1,64}. The rule and queue are deleted in tb.Cleanup.
func (b *Bus) AddRule(tb testing.TB, name, pattern string) *Queue {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()
	q, undo, err := b.addRule(ctx, sanitize(tb.Name(), 24), name, pattern)
	for _, f := range undo {
		tb.Cleanup(func() {
			if err := f(); err != nil {
				tb.Errorf("awstest: cleanup: %v", err)
			}
		})
	}
	if err != nil {
		tb.Fatalf("awstest: AddRule: %v", err)
	}
	return q
}

// CreateRule is [Bus.AddRule] for callers without a testing.TB: the rule and
// its queue are deleted by [Bus.Delete], or before CreateRule returns an
// error. Each AWS call is bounded by ctx and by 30 s.
func (b *Bus) CreateRule(ctx context.Context, name, pattern string) (*Queue, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	q, undo, err := b.addRule(ctx, sanitize(b.prefix, 24), name, pattern)
	if err != nil {
		errs := []error{err}
		for _, f := range slices.Backward(undo) {
			errs = append(errs, f())
		}
		return nil, errors.Join(errs...)
	}
	b.mu.Lock()
	b.cleanups = append(b.cleanups, undo...)
	b.mu.Unlock()
	return q, nil
}

// Delete deletes what [CreateBus] and [Bus.CreateRule] made, last made
// first: rules (after removing their targets), queues, then the bus, going
// on after a failure and returning every error. Resources already gone are
// no error; rules added with [Bus.AddRule] are left to their tb.Cleanup.
// Delete does nothing more when called again.
func (b *Bus) Delete() error {
	b.mu.Lock()
	cleanups := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	var errs []error
	for _, f := range slices.Backward(cleanups) {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}

// addRule creates the rule and its queue. It returns, even on error, the
// functions that delete what it created, in the order created: run them
// last first.
func (b *Bus) addRule(ctx context.Context, queuePrefix, name, pattern string) (*Queue, []func() error, error) {
	if !ruleName.MatchString(name) {
		return nil, nil, fmt.Errorf("invalid rule name %q", name)
	}
	b.mu.Lock()
	dup := b.rules[name]
	b.rules[name] = true
	b.mu.Unlock()
	if dup {
		return nil, nil, fmt.Errorf("bus %s already has a rule %q", b.Name, name)
	}
	if pattern == "" {
		pattern = MatchAll
	}
	q := &Queue{Rule: name, Pattern: pattern, sqs: b.sqs}
	var undo []func() error

	// Queue names: at most 80 characters of [A-Za-z0-9_-].
	queueName := uniqueName(queuePrefix+"-"+sanitize(name, 24), 51)
	qout, err := b.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(queueName)})
	if err != nil {
		return nil, undo, fmt.Errorf("CreateQueue %s: %w", queueName, err)
	}
	q.URL = aws.ToString(qout.QueueUrl)
	undo = append(undo, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, err := b.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q.URL)})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("DeleteQueue %s: %w", q.URL, err)
		}
		return nil
	})
	attrs, err := b.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.URL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return nil, undo, fmt.Errorf("GetQueueAttributes %s: %w", q.URL, err)
	}
	q.ARN = attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]

	if _, err := b.eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name:         aws.String(name),
		EventBusName: aws.String(b.Name),
		EventPattern: aws.String(pattern),
		State:        ebtypes.RuleStateEnabled,
	}); err != nil {
		return nil, undo, fmt.Errorf("PutRule %s on %s with pattern %s: %w", name, b.Name, pattern, err)
	}
	const targetID = "queue"
	undo = append(undo, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		// EventBridge refuses to delete a rule that still has targets.
		_, err := b.eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{
			Rule: aws.String(name), EventBusName: aws.String(b.Name), Ids: []string{targetID},
		})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("RemoveTargets %s on %s: %w", name, b.Name, err)
		}
		_, err = b.eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(name), EventBusName: aws.String(b.Name)})
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("DeleteRule %s on %s: %w", name, b.Name, err)
		}
		return nil
	})
	tout, err := b.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule:         aws.String(name),
		EventBusName: aws.String(b.Name),
		Targets:      []ebtypes.Target{{Id: aws.String(targetID), Arn: aws.String(q.ARN)}},
	})
	if err != nil {
		return nil, undo, fmt.Errorf("PutTargets %s on %s: %w", name, b.Name, err)
	}
	if tout.FailedEntryCount != 0 {
		e := tout.FailedEntries[0]
		return nil, undo, fmt.Errorf("PutTargets %s on %s: %s: %s", name, b.Name, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	return q, undo, nil
}

// Receive drains the queue of the rule that [NewBus] created; see
// [Queue.Receive].
func (b *Bus) Receive(tb testing.TB) []json.RawMessage {
	tb.Helper()
	return b.Queue.Receive(tb)
}

// Drain is [Bus.Receive] for callers without a testing.TB; see
// [Queue.Drain].
func (b *Bus) Drain(ctx context.Context) ([]json.RawMessage, error) {
	return b.Queue.Drain(ctx)
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
	bodies, err := q.Drain(tb.Context())
	if err != nil {
		tb.Fatalf("awstest: %v", err)
	}
	return bodies
}

// Drain is [Queue.Receive] for callers without a testing.TB: it returns the
// bodies read so far and an error if a call fails, a body is not JSON, or
// the queue is not empty after 1000 batches. The calls are bounded by ctx
// and by 30 s.
func (q *Queue) Drain(ctx context.Context) ([]json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var bodies []json.RawMessage
	for range 1000 {
		out, err := q.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(q.URL),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     0,
		})
		if err != nil {
			return bodies, fmt.Errorf("Receive from %s: %w", q.URL, err)
		}
		if len(out.Messages) == 0 {
			return bodies, nil
		}
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, 0, len(out.Messages))
		for i, m := range out.Messages {
			body := aws.ToString(m.Body)
			if !json.Valid([]byte(body)) {
				return bodies, fmt.Errorf("Receive from %s: message body is not JSON: %q", q.URL, body)
			}
			bodies = append(bodies, json.RawMessage(body))
			entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{
				Id:            aws.String(strconv.Itoa(i)),
				ReceiptHandle: m.ReceiptHandle,
			})
		}
		del, err := q.sqs.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.URL), Entries: entries})
		if err != nil {
			return bodies, fmt.Errorf("Receive from %s: DeleteMessageBatch: %w", q.URL, err)
		}
		if len(del.Failed) != 0 {
			f := del.Failed[0]
			return bodies, fmt.Errorf("Receive from %s: DeleteMessageBatch: %s: %s", q.URL, aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return bodies, fmt.Errorf("Receive from %s: queue not empty after 1000 batches", q.URL)
}

// isNotFound reports whether err says the resource is already gone.
func isNotFound(err error) bool {
	var ebNotFound *ebtypes.ResourceNotFoundException
	var sqsNotFound *sqstypes.QueueDoesNotExist
	return errors.As(err, &ebNotFound) || errors.As(err, &sqsNotFound)
}
