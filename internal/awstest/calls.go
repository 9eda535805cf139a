package awstest

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// CallCounter counts the API call attempts made by the clients built from an
// aws.Config after [CountCalls] was applied to it. It is safe for concurrent
// use.
type CallCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

var counterSeq atomic.Int64

// CountCalls adds to cfg.APIOptions a middleware that counts, by
// "Service.Operation" (such as "DynamoDB.PutItem", "EventBridge.PutEvents",
// "SQS.ReceiveMessage": the SDK's service ID and operation name), every
// attempt of every call made by clients built from cfg afterwards with
// NewFromConfig; clients built before are not counted.
//
// The middleware sits at the end of the Finalize step, after the SDK's retry
// middleware, so it counts attempts: a call retried twice counts 3, and every
// call of a waiter (such as DescribeTable polled by NewTable) counts too.
//
// cfg.APIOptions is copied, not appended to in place, so copies of cfg made
// before are not affected.
func CountCalls(cfg *aws.Config) *CallCounter {
	c := &CallCounter{counts: map[string]int{}}
	mw := middleware.FinalizeMiddlewareFunc(
		fmt.Sprintf("awstest.CallCounter.%d", counterSeq.Add(1)),
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.add(awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx))
			return next.HandleFinalize(ctx, in)
		})
	opts := make([]func(*middleware.Stack) error, 0, len(cfg.APIOptions)+1)
	opts = append(opts, cfg.APIOptions...)
	cfg.APIOptions = append(opts, func(s *middleware.Stack) error {
		return s.Finalize.Add(mw, middleware.After)
	})
	return c
}

func (c *CallCounter) add(op string) {
	c.mu.Lock()
	c.counts[op]++
	c.mu.Unlock()
}

// Counts returns a copy of the counts by "Service.Operation"; operations
// never attempted are absent.
func (c *CallCounter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Count returns the number of attempts of op, such as "EventBridge.PutEvents".
func (c *CallCounter) Count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[op]
}

// Reset sets every count to zero.
func (c *CallCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.counts)
}
