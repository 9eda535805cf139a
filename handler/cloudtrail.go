package handler

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The CloudTrail record of a Glue API call, as EventBridge delivers it
// (source, detail-type), and the calls sessionwatch acts on.
const (
	CloudTrailSource     = "aws.glue"
	CloudTrailDetailType = "AWS API Call via CloudTrail"
	glueEventSource      = "glue.amazonaws.com"

	CallCreateSession = "CreateSession"
	CallStopSession   = "StopSession"
	CallDeleteSession = "DeleteSession"
)

// MaxCreatorLength bounds the creator's ARN a record may carry: IAM's
// ARNs are at most 2048 characters.
const MaxCreatorLength = 2048

// CloudTrailCall is what sessionwatch reads of a CloudTrail record of a
// Glue session API call (README, Input).
type CloudTrailCall struct {
	// EventName is the call: CreateSession, StopSession or DeleteSession.
	EventName string
	// SessionID is the session the call named: for CreateSession
	// detail.responseElements.session.id, for the others
	// detail.requestParameters.id. Empty for a failed call.
	SessionID string
	// CreatedBy is the ARN of the principal that made a CreateSession call
	// (detail.userIdentity.arn); empty when the record gives none, and for
	// the other calls.
	CreatedBy string
	// Failed is set when the call failed (detail.errorCode is set): the
	// record then changes nothing. ErrorCode is that code.
	Failed    bool
	ErrorCode string
}

// isCloudTrailRecord tells whether an EventBridge event is a CloudTrail
// record of a Glue API call.
func isCloudTrailRecord(fields map[string]json.RawMessage) bool {
	var source, detailType string
	return json.Unmarshal(fields["source"], &source) == nil && source == CloudTrailSource &&
		json.Unmarshal(fields["detail-type"], &detailType) == nil && detailType == CloudTrailDetailType
}

// parseCloudTrail reads the detail of a CloudTrail record. It reads only
// the fields it needs and is strict about them; the record's many other
// fields are left alone (the full record and the template's reduced one
// are read alike). A missing path and JSON null are the same.
func parseCloudTrail(raw json.RawMessage) (*CloudTrailCall, error) {
	if jsonKind(raw) != "an object" {
		return nil, badInput("field \"detail\" of a CloudTrail record must be an object, got %s", jsonKind(raw))
	}
	var detail map[string]json.RawMessage
	if err := json.Unmarshal(raw, &detail); err != nil {
		return nil, badInput("field \"detail\" of a CloudTrail record: %v", err)
	}
	source, ok, err := recordString(detail, "eventSource")
	if err != nil {
		return nil, err
	}
	if ok && source != glueEventSource {
		return nil, badInput("CloudTrail record of %.64q, want %q", source, glueEventSource)
	}
	call := &CloudTrailCall{}
	if call.EventName, ok, err = recordString(detail, "eventName"); err != nil {
		return nil, err
	}
	if !ok {
		return nil, badInput("CloudTrail record has no detail.eventName")
	}
	var idPath []string
	switch call.EventName {
	case CallCreateSession:
		idPath = []string{"responseElements", "session", "id"}
	case CallStopSession, CallDeleteSession:
		idPath = []string{"requestParameters", "id"}
	default:
		return nil, badInput("CloudTrail record of %.64q: sessionwatch acts on CreateSession, StopSession and DeleteSession only (does the rule's pattern name detail.eventName?)", call.EventName)
	}
	// The record of a call that failed (CloudTrail sets errorCode, and a
	// failed CreateSession has no responseElements): nothing happened.
	if call.ErrorCode, ok, err = recordString(detail, "errorCode"); err != nil {
		return nil, err
	}
	if ok && call.ErrorCode != "" {
		call.Failed = true
		return call, nil
	}
	id, ok, err := recordString(detail, idPath...)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, badInput("CloudTrail record of %s has no detail.%s", call.EventName, strings.Join(idPath, "."))
	}
	if err := ValidateSessionID(id); err != nil {
		return nil, badInput("CloudTrail record of %s, detail.%s: %v", call.EventName, strings.Join(idPath, "."), err)
	}
	call.SessionID = id
	if call.EventName == CallCreateSession {
		creator, _, err := recordString(detail, "userIdentity", "arn")
		if err != nil {
			return nil, err
		}
		if err := validateCreator(creator); err != nil {
			return nil, err
		}
		call.CreatedBy = creator
	}
	return call, nil
}

// validateCreator rejects a creator's ARN no IAM principal has: longer
// than an ARN can be, or holding control characters. Empty is "unknown".
func validateCreator(arn string) error {
	switch {
	case utf8.RuneCountInString(arn) > MaxCreatorLength:
		return badInput("CloudTrail record: detail.userIdentity.arn is %d characters long; an ARN has at most %d", utf8.RuneCountInString(arn), MaxCreatorLength)
	case strings.IndexFunc(arn, unicode.IsControl) >= 0:
		return badInput("CloudTrail record: detail.userIdentity.arn %q holds a control character", arn)
	}
	return nil
}

// recordString reads the string at path in a record's detail. ok is false
// when the path ends early (a field missing or null); a value on the way
// that is not an object, or a value at the end that is not a string, is
// an *InputError naming the path.
func recordString(detail map[string]json.RawMessage, path ...string) (s string, ok bool, err error) {
	obj := detail
	for i, name := range path {
		raw, found := obj[name]
		if !found || string(bytes.TrimSpace(raw)) == "null" {
			return "", false, nil
		}
		at := "detail." + strings.Join(path[:i+1], ".")
		if i == len(path)-1 {
			if jsonKind(raw) != "a string" || json.Unmarshal(raw, &s) != nil {
				return "", false, badInput("CloudTrail record: %s must be a string, got %s", at, jsonKind(raw))
			}
			return s, true, nil
		}
		obj = nil
		if jsonKind(raw) != "an object" || json.Unmarshal(raw, &obj) != nil {
			return "", false, badInput("CloudTrail record: %s must be an object, got %s", at, jsonKind(raw))
		}
	}
	return "", false, nil
}
