// Package schematest validates events against the published schemas
// (package schema, one JSON Schema per detail type) with a real JSON
// Schema validator, and records which detail fields, of which JSON types,
// the validated events had: so a test can fail on a field the code emits
// and the schema lacks (the schemas close every object of the detail with
// additionalProperties false) and on a schema field no test ever saw the
// code emit (Unseen).
package schematest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"sessionwatch/schema"
)

// Stand-ins for the envelope fields EventBridge adds to a PutEvents entry
// when the entry does not tell them (no resources): AWS's documented
// example account and a Region.
const (
	exampleAccount = "123456789012"
	exampleRegion  = "us-east-1"
	exampleID      = "6a7e8feb-b491-4cf7-a9f1-bf3703467718"
)

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema // by detail type
	compileErr  error

	mu   sync.Mutex
	seen = map[string]map[string]map[string]bool{} // detail type -> path -> JSON types
)

func compile() (map[string]*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		compiled = map[string]*jsonschema.Schema{}
		for _, f := range schema.Files {
			doc, err := document(f.DetailType)
			if err != nil {
				compileErr = err
				return
			}
			url := "https://sessionwatch.invalid/schema/" + f.Name
			if err := c.AddResource(url, doc); err != nil {
				compileErr = fmt.Errorf("schema/%s: %w", f.Name, err)
				return
			}
			if compiled[f.DetailType], err = c.Compile(url); err != nil {
				compileErr = fmt.Errorf("schema/%s: %w", f.Name, err)
				return
			}
		}
	})
	return compiled, compileErr
}

func document(detailType string) (any, error) {
	raw, err := schema.Content(detailType)
	if err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema of %s: %w", detailType, err)
	}
	return doc, nil
}

// Event validates raw, one event as EventBridge delivers it to a rule's
// target (envelope and detail), against the schema of its detail-type,
// and records the fields of its detail. The error names the event and
// every failing field, as JSON pointers ("/detail/session/role").
func Event(raw []byte) error {
	schemas, err := compile()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("event is not JSON: %w: %.200s", err, raw)
	}
	obj, _ := inst.(map[string]any)
	name := describe(obj)
	detailType, _ := obj["detail-type"].(string)
	sch, ok := schemas[detailType]
	if !ok {
		return fmt.Errorf("event %s: detail-type %q has no published schema (schema/ has %s)", name, detailType, strings.Join(detailTypes(), ", "))
	}
	record(detailType, obj["detail"])
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("event %s does not follow schema/%s:\n%s", name, fileOf(detailType), strings.Join(leaves(ve), "\n"))
		}
		return fmt.Errorf("event %s: %w", name, err)
	}
	return nil
}

// Delivered is Event for an event as moto 5.2.1 delivers it to an SQS
// target, which lacks the envelope's "account" (see awstest.Queue.Receive;
// EventBridge always sends it): the account of the event's resource, or
// AWS's example account, stands in for it.
func Delivered(raw []byte) error {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("delivered event is not a JSON object: %w: %.200s", err, raw)
	}
	if _, ok := env["account"]; !ok {
		var resources []string
		_ = json.Unmarshal(env["resources"], &resources)
		account, _ := accountRegion(resources)
		env["account"], _ = json.Marshal(account)
		raw, _ = json.Marshal(env)
	}
	return Event(raw)
}

// Entry validates a PutEvents entry as the event EventBridge would deliver
// for it: its Source, DetailType, Resources, Time and Detail, with the
// envelope's version, id, account and region as EventBridge adds them
// (the account and Region of the entry's resource, or AWS's example ones
// when it has none).
func Entry(e ebtypes.PutEventsRequestEntry) error {
	detail := json.RawMessage(aws.ToString(e.Detail))
	if !json.Valid(detail) {
		return fmt.Errorf("event %s: detail is not JSON: %.200s", aws.ToString(e.DetailType), detail)
	}
	resources := e.Resources
	if resources == nil {
		resources = []string{} // EventBridge delivers "resources": []
	}
	at := time.Now()
	if e.Time != nil {
		at = *e.Time
	}
	account, region := accountRegion(resources)
	raw, err := json.Marshal(map[string]any{
		"version": "0", "id": exampleID, "detail-type": aws.ToString(e.DetailType), "source": aws.ToString(e.Source),
		"account": account, "time": at.UTC().Format(time.RFC3339), "region": region, "resources": resources, "detail": detail,
	})
	if err != nil {
		return err
	}
	return Event(raw)
}

var english = message.NewPrinter(language.English)

var sessionARN = regexp.MustCompile(`^arn:[^:]+:glue:([^:]+):([0-9]{12}):session/`)

func accountRegion(resources []string) (account, region string) {
	for _, r := range resources {
		if m := sessionARN.FindStringSubmatch(r); m != nil {
			return m[2], m[1]
		}
	}
	return exampleAccount, exampleRegion
}

// describe names an event for an error message: its detail type, session
// and sequence ("Glue Session Error s-1#2").
func describe(obj map[string]any) string {
	detail, _ := obj["detail"].(map[string]any)
	return fmt.Sprintf("%q %v#%v", obj["detail-type"], detail["sessionId"], detail["sequence"])
}

// leaves renders the innermost causes of a validation error, one line
// each: where in the event, and what is wrong there.
func leaves(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		return []string{fmt.Sprintf("  at %q: %s", "/"+strings.Join(ve.InstanceLocation, "/"), ve.ErrorKind.LocalizedString(english))}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

func fileOf(detailType string) string {
	for _, f := range schema.Files {
		if f.DetailType == detailType {
			return f.Name
		}
	}
	return "?"
}

func detailTypes() []string {
	var out []string
	for _, f := range schema.Files {
		out = append(out, fmt.Sprintf("%q", f.DetailType))
	}
	return out
}

// record notes the JSON type of every field of detail, by path.
func record(detailType string, detail any) {
	mu.Lock()
	defer mu.Unlock()
	if seen[detailType] == nil {
		seen[detailType] = map[string]map[string]bool{}
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if seen[detailType][path] == nil {
			seen[detailType][path] = map[string]bool{}
		}
		seen[detailType][path][jsonType(v)] = true
		if obj, ok := v.(map[string]any); ok {
			for k, sub := range obj {
				walk(path+"/"+k, sub)
			}
		}
	}
	walk("/detail", detail)
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(v.String(), ".eE") {
			return "number"
		}
		return "integer"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// Unseen returns, by detail type, what the schemas allow in a detail and
// no event validated so far had: a field never present ("/detail/backfill"),
// or a type a field never had ("/detail/status null"). Empty when the
// events covered every field and type.
func Unseen() (map[string][]string, error) {
	out := map[string][]string{}
	mu.Lock()
	defer mu.Unlock()
	for _, f := range schema.Files {
		doc, err := document(f.DetailType)
		if err != nil {
			return nil, err
		}
		root, _ := doc.(map[string]any)
		props, _ := root["properties"].(map[string]any)
		fields := map[string][]string{}
		if err := walkSchema(root, props["detail"], "/detail", fields); err != nil {
			return nil, fmt.Errorf("schema/%s: %w", f.Name, err)
		}
		got := seen[f.DetailType]
		for _, path := range slices.Sorted(maps.Keys(fields)) {
			types, ok := got[path]
			if !ok {
				out[f.DetailType] = append(out[f.DetailType], path)
				continue
			}
			for _, t := range fields[path] {
				if !types[t] && !(t == "number" && types["integer"]) {
					out[f.DetailType] = append(out[f.DetailType], path+" "+t)
				}
			}
		}
	}
	return out, nil
}

// walkSchema lists, by path, the JSON types the schema node allows, and
// those of its properties, following $ref within root.
func walkSchema(root map[string]any, node any, path string, into map[string][]string) error {
	n, _ := node.(map[string]any)
	if ref, ok := n["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/definitions/")
		defs, _ := root["definitions"].(map[string]any)
		if !ok || defs[name] == nil {
			return fmt.Errorf("%s: unresolved $ref %q", path, ref)
		}
		return walkSchema(root, defs[name], path, into)
	}
	switch t := n["type"].(type) {
	case string:
		into[path] = []string{t}
	case []any:
		for _, v := range t {
			s, _ := v.(string)
			into[path] = append(into[path], s)
		}
	default:
		return fmt.Errorf("%s: no type", path)
	}
	props, _ := n["properties"].(map[string]any)
	for name, sub := range props {
		if err := walkSchema(root, sub, path+"/"+name, into); err != nil {
			return err
		}
	}
	return nil
}
