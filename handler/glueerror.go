package handler

import (
	"errors"
	"fmt"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// glueError is what an error of the Glue operation op may say in a log
// line or the response. An answer the SDK could not read is reported by
// operation, HTTP status and request id only: the SDK's message quotes the
// bytes it choked on, and those can be a session's DefaultArguments (a
// DefaultArguments sent as a string puts `expected '{', got "--db-password=…"`
// in it). Any other error (Glue's own, throttling, a timeout) is returned
// as it is.
func glueError(op string, err error) error {
	var de *smithy.DeserializationError
	if !errors.As(err, &de) {
		return err
	}
	m := &malformedAnswer{op: op}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		m.requestID, m.status = re.ServiceRequestID(), re.HTTPStatusCode()
	}
	return m
}

// malformedAnswer is an answer of Glue the SDK could not read. It keeps
// nothing of the answer, and wraps nothing that could print it.
type malformedAnswer struct {
	op        string
	status    int
	requestID string
}

func (e *malformedAnswer) Error() string {
	id := e.requestID
	if id == "" {
		id = "unknown"
	}
	return fmt.Sprintf("Glue %s: malformed answer, HTTP %d, request id %s (not quoted: a session's arguments can hold secrets)", e.op, e.status, id)
}
