package awstest

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// queueTargetID is the Id of the one target (its queue) of every rule a
// [Bus] makes.
const queueTargetID = "queue"

// AddTransformedRule is [Bus.AddRule] with an input transformer on the
// rule's target: the queue receives what the transformer renders from each
// matched event instead of the event.
//
// Moto 5.2.1 renders differently from EventBridge: it substitutes values
// as they are (no JSON escaping), leaves "<name>" in place when a path is
// missing or its value is null or "", and parses the result as JSON, so a
// rendering that is not one JSON value (a multi-line text template, a
// value whose quotes break the JSON) makes the whole PutEvents call fail
// with HTTP 500. A text rendering that contains "time" also fails it (moto
// then looks the event's "time" up in a string).
func (b *Bus) AddTransformedRule(tb testing.TB, name, pattern string, paths map[string]string, template string) *Queue {
	tb.Helper()
	q := b.AddRule(tb, name, pattern)
	ctx, cancel := context.WithTimeout(tb.Context(), callTimeout)
	defer cancel()
	// PutTargets with an existing target's Id replaces that target.
	out, err := b.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule:         aws.String(name),
		EventBusName: aws.String(b.Name),
		Targets: []ebtypes.Target{{
			Id:  aws.String(queueTargetID),
			Arn: aws.String(q.ARN),
			InputTransformer: &ebtypes.InputTransformer{
				InputPathsMap: paths,
				InputTemplate: aws.String(template),
			},
		}},
	})
	if err == nil && out.FailedEntryCount != 0 {
		e := out.FailedEntries[0]
		err = fmt.Errorf("%s: %s", aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	if err != nil {
		tb.Fatalf("awstest: AddTransformedRule %s on %s: PutTargets: %v", name, b.Name, err)
	}
	return q
}
