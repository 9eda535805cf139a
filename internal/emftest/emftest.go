// Package emftest validates CloudWatch embedded metric format (EMF)
// documents, for tests: against the JSON Schema AWS publishes with the
// specification (emf.schema.json; README.md names its source), and against
// the specification's rules the schema cannot express.
package emftest

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed emf.schema.json
var schemaJSON []byte

var compiled struct {
	once   sync.Once
	schema *jsonschema.Schema
	err    error
}

func schema() (*jsonschema.Schema, error) {
	compiled.once.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
		if err != nil {
			compiled.err = err
			return
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("emf.schema.json", doc); err != nil {
			compiled.err = err
			return
		}
		compiled.schema, compiled.err = c.Compile("emf.schema.json")
	})
	return compiled.schema, compiled.err
}

// Document is one EMF document: its members, and its metrics by name.
type Document struct {
	Raw     string
	Members map[string]any
	// Namespace and Dimensions are the first directive's.
	Namespace  string
	Dimensions [][]string
	// Metrics maps each metric the document defines to its value, and
	// Units to its unit.
	Metrics map[string]float64
	Units   map[string]string
}

// Validate checks one document against the schema and the rules beside
// it, and returns it read.
func Validate(doc []byte) (*Document, error) {
	sch, err := schema()
	if err != nil {
		return nil, fmt.Errorf("compile the EMF schema: %w", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if err := sch.Validate(inst); err != nil {
		return nil, fmt.Errorf("against the EMF schema: %w", err)
	}
	var d struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	out := &Document{Raw: string(doc), Metrics: map[string]float64{}, Units: map[string]string{}}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&out.Members); err != nil {
		return nil, err
	}
	if len(d.AWS.CloudWatchMetrics) == 0 {
		return nil, fmt.Errorf("no metric directive")
	}
	for i, dir := range d.AWS.CloudWatchMetrics {
		if i == 0 {
			out.Namespace, out.Dimensions = dir.Namespace, dir.Dimensions
		}
		if len(dir.Metrics) > 100 {
			return nil, fmt.Errorf("directive %d defines %d metrics; at most 100", i, len(dir.Metrics))
		}
		for _, set := range dir.Dimensions {
			if len(set) > 9 {
				return nil, fmt.Errorf("dimension set %v has more than 9 keys", set)
			}
			for _, key := range set {
				v, ok := out.Members[key].(string)
				if !ok || v == "" {
					return nil, fmt.Errorf("dimension %q: the root member is %v, want a non-empty string", key, out.Members[key])
				}
			}
		}
		for _, m := range dir.Metrics {
			v, ok := out.Members[m.Name].(json.Number)
			if !ok {
				return nil, fmt.Errorf("metric %q: the root member is %v, want a number", m.Name, out.Members[m.Name])
			}
			f, err := v.Float64()
			if err != nil {
				return nil, fmt.Errorf("metric %q: %w", m.Name, err)
			}
			if _, dup := out.Metrics[m.Name]; dup {
				return nil, fmt.Errorf("metric %q defined twice", m.Name)
			}
			out.Metrics[m.Name], out.Units[m.Name] = f, m.Unit
		}
	}
	return out, nil
}

// Documents returns every EMF document in a log (the lines that are JSON
// objects with an "_aws" member), each validated; the test fails on one
// that is not valid.
func Documents(tb testing.TB, log string) []*Document {
	tb.Helper()
	var out []*Document
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if line := sc.Text(); IsEMF(line) {
			d, err := Validate([]byte(line))
			if err != nil {
				tb.Errorf("invalid EMF document: %v\n%s", err, line)
				continue
			}
			out = append(out, d)
		}
	}
	return out
}

// IsEMF tells whether a log line is an EMF document: a JSON object with an
// "_aws" member.
func IsEMF(line string) bool {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "{") {
		return false
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal([]byte(line), &probe) != nil {
		return false
	}
	_, ok := probe["_aws"]
	return ok
}
