package handler

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"
)

// AWS's limits on what the configuration names, checked at start-up so
// that a value AWS would refuse stops the function there, naming its
// variable, instead of failing every call that carries it.

// namespacePattern is CloudWatch's rule for a namespace: "valid ASCII
// characters, and 255 or fewer characters. Possible characters are:
// alphanumeric characters (0-9A-Za-z), period (.), hyphen (-), underscore
// (_), forward slash (/), hash (#), colon (:), and the space character"
// (CloudWatch User Guide, CloudWatch concepts, Namespaces;
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Namespace).
var namespacePattern = regexp.MustCompile(`^[0-9A-Za-z._/#: -]{1,255}$`)

// validateNamespace rejects a namespace CloudWatch would not extract
// metrics into: besides namespacePattern, it must hold a character other
// than a space, must not start with a colon (the pattern [^:].* of
// PutMetricData's and PutMetricAlarm's Namespace), and must not start with
// "AWS/", which AWS reserves for its services (PutMetricData, Namespace).
func validateNamespace(ns string) error {
	switch {
	case !namespacePattern.MatchString(ns):
		return fmt.Errorf("%.60q is not a CloudWatch namespace: 1 to 255 letters, digits, spaces or the characters . - _ / # : only", ns)
	case strings.TrimSpace(ns) == "":
		return fmt.Errorf("%q holds only spaces; a CloudWatch namespace needs another character", ns)
	case strings.HasPrefix(ns, ":"):
		return fmt.Errorf("%q starts with a colon, which CloudWatch does not accept", ns)
	case strings.HasPrefix(ns, "AWS/"):
		return fmt.Errorf("%q starts with \"AWS/\", which CloudWatch reserves for AWS services", ns)
	}
	return nil
}

// EventBridge's limits on what a PutEvents entry names, checked at
// start-up so that a bad EVENT_SOURCE or EVENT_BUS_NAME stops the function
// there instead of failing every PutEvents call.
//
//   - Source: 1 to 256 characters, matching
//     (?=[/\.\-_A-Za-z0-9]+)((?!aws\.).*): the first character a letter,
//     a digit or one of / . - _, no "aws." prefix, no line break (EventBridge
//     Scheduler API Reference, EventBridgeParameters, "Source": the
//     PutEvents target; https://docs.aws.amazon.com/scheduler/latest/APIReference/API_EventBridgeParameters.html).
//     The EventBridge User Guide's event structure reference adds that a
//     customer's source may be anything "as long as it doesn't begin with
//     aws." (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html).
//   - DetailType: "Free-form string, with a maximum of 128 characters"
//     (EventBridge API Reference, PutEventsRequestEntry; the Scheduler
//     reference above gives "Minimum length of 1. Maximum length of 128").
//   - EventBusName: a name or an ARN, 1 to 1600 characters, matching
//     (arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[\.\-_A-Za-z0-9]+
//     (EventBridge API Reference, PutEventsRequestEntry, "EventBusName",
//     type NonPartnerEventBusNameOrArn;
//     https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html);
//     a bus's own name has at most 256 characters (CreateEventBus, "Name").
//
// Lengths are counted in UTF-16 code units, the larger of the two ways a
// length in characters is counted, so that nothing accepted here is
// refused by EventBridge.
const (
	maxSourceLen     = 256
	maxDetailTypeLen = 128
	maxBusNameLen    = 256
	maxBusARNLen     = 1600
)

// busPattern is EventBridge's pattern for PutEventsRequestEntry.EventBusName,
// anchored at both ends as EventBridge applies it.
var busPattern = regexp.MustCompile(`^(arn:aws[\w-]*:events:[a-z]+-[a-z]+-[\w-]+:[0-9]{12}:event-bus/)?([.\-_A-Za-z0-9]+)$`)

// DetailTypes are the detail types of the events the function emits.
var DetailTypes = []string{DetailTypeStateChange, DetailTypeError, DetailTypeDeleted, DetailTypeAlert}

// ValidateDetailType rejects a detail type PutEvents would refuse: empty,
// or longer than 128 characters.
func ValidateDetailType(dt string) error {
	if n := charCount(dt); n < 1 || n > maxDetailTypeLen {
		return fmt.Errorf("detail type %.40q is %d characters long; EventBridge accepts 1 to %d", dt, n, maxDetailTypeLen)
	}
	return nil
}

func validateSource(src string) error {
	n := charCount(src)
	switch {
	case n > maxSourceLen:
		return fmt.Errorf("%.40q… is %d characters long; EventBridge accepts at most %d", src, n, maxSourceLen)
	case strings.HasPrefix(src, "aws."):
		return fmt.Errorf("%q starts with \"aws.\", which EventBridge reserves for AWS services", src)
	case !strings.ContainsRune("/.-_", rune(src[0])) && !isASCIIAlnum(src[0]):
		return fmt.Errorf("%q must start with a letter, a digit or one of / . - _ (EventBridge's pattern for a source)", src)
	case strings.ContainsAny(src, "\n\r\u0085\u2028\u2029"):
		return fmt.Errorf("%q holds a line break, which EventBridge's pattern for a source does not match", src)
	}
	return nil
}

func validateBus(bus string) error {
	n := charCount(bus)
	if n > maxBusARNLen {
		return fmt.Errorf("%.60q… is %d characters long; EventBridge accepts a bus name or ARN of at most %d", bus, n, maxBusARNLen)
	}
	m := busPattern.FindStringSubmatch(bus)
	if m == nil {
		return fmt.Errorf("%.100q is neither a bus name (letters, digits, . - _) nor an event bus ARN (arn:<partition>:events:<region>:<account>:event-bus/<name>)", bus)
	}
	if n := charCount(m[2]); n > maxBusNameLen {
		return fmt.Errorf("bus name %.40q… is %d characters long; EventBridge accepts at most %d", m[2], n, maxBusNameLen)
	}
	return nil
}

// charCount is the length of s as AWS's length constraints count it, in
// UTF-16 code units (see above).
func charCount(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

func isASCIIAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
