package awstest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// AddTransformedRule is [Bus.AddRule] with an input transformer on the
// rule's target: the queue receives the transformer's output instead of the
// matched event.
//
// Moto 5.2.1 applies a transformer its own way, not quite as EventBridge
// documents it: it puts each string value into the template as is (so a
// string placeholder must be written in quotes, and a value holding a
// double quote yields invalid JSON, which fails PutEvents with HTTP 500),
// and it leaves the placeholder of a path the event lacks in the output
// unchanged ("<name>"). Its events' "time" is a number of epoch seconds,
// turned back into an ISO 8601 string on its way to SQS.
func (b *Bus) AddTransformedRule(tb testing.TB, name, pattern string, tr *ebtypes.InputTransformer) *Queue {
	tb.Helper()
	q := b.AddRule(tb, name, pattern)
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()
	// The same target id as addRule's: PutTargets replaces that target.
	out, err := b.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule:         aws.String(name),
		EventBusName: aws.String(b.Name),
		Targets:      []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(q.ARN), InputTransformer: tr}},
	})
	if err != nil {
		tb.Fatalf("awstest: AddTransformedRule: PutTargets %s on %s: %v", name, b.Name, err)
	}
	if out.FailedEntryCount != 0 {
		e := out.FailedEntries[0]
		tb.Fatalf("awstest: AddTransformedRule: PutTargets %s on %s: %s: %s", name, b.Name, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	return q
}
