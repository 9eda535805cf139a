package templatetest

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"sessionwatch/schema"
)

// normalJSON is raw decoded and encoded again (keys sorted, no spaces, one
// spelling per string and number): equal for two equal JSON documents.
func normalJSON(tb testing.TB, what string, raw []byte) string {
	tb.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatalf("%s is not JSON: %v", what, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

// TestEventSchemas proves that the template registers the published
// contract: by default (RegisterSchemas true) a registry named after the
// stack and one JSONSchemaDraft4 schema per file of schema/, named after
// its title, whose Content is that file; with RegisterSchemas false,
// nothing.
func TestEventSchemas(t *testing.T) {
	s := deploy(t, nil)
	registries := s.GetAllEventSchemasRegistryResources()
	reg, ok := registries["EventSchemaRegistry"]
	if len(registries) != 1 || !ok {
		t.Fatalf("registries %v, want EventSchemaRegistry alone", slices.Sorted(maps.Keys(registries)))
	}
	if got, want := aws.ToString(reg.RegistryName), testStack+"-events"; got != want {
		t.Errorf("RegistryName %q, want %q (derived from the stack name)", got, want)
	}
	if out, ok := s.Outputs["SchemaRegistryName"]; !ok || out.Value != aws.ToString(reg.RegistryName) {
		t.Errorf("SchemaRegistryName output %v, want the registry's name %q", out.Value, aws.ToString(reg.RegistryName))
	}

	schemas := s.GetAllEventSchemasSchemaResources()
	var want []string
	for _, f := range schema.Files {
		id := f.Title + "Schema"
		want = append(want, id)
		t.Run(f.Name, func(t *testing.T) {
			res, ok := schemas[id]
			if !ok {
				t.Fatalf("template.yaml has no %s for schema/%s: run make schemas", id, f.Name)
			}
			if res.Type != "JSONSchemaDraft4" || aws.ToString(res.SchemaName) != f.Title || res.RegistryName != "${EventSchemaRegistry.RegistryName}" {
				t.Errorf("Type %q, SchemaName %q, RegistryName %q; want JSONSchemaDraft4, %s, the registry's", res.Type, aws.ToString(res.SchemaName), res.RegistryName, f.Title)
			}
			if n := len(aws.ToString(res.Description)); n > 256 {
				t.Errorf("Description of %d characters, over CreateSchema's 256", n)
			}
			file, err := schema.Content(f.DetailType)
			if err != nil {
				t.Fatal(err)
			}
			if normalJSON(t, id+".Content", []byte(res.Content)) != normalJSON(t, "schema/"+f.Name, file) {
				t.Errorf("the Content of %s in template.yaml differs from schema/%s: run make schemas", id, f.Name)
			}
		})
	}
	if got := slices.Sorted(maps.Keys(schemas)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("schemas %v, want %v (one per file of schema/): run make schemas", got, want)
	}

	off := deploy(t, map[string]any{"RegisterSchemas": "false"})
	_, output := off.Outputs["SchemaRegistryName"]
	if n, m := len(off.GetAllEventSchemasRegistryResources()), len(off.GetAllEventSchemasSchemaResources()); n != 0 || m != 0 || output {
		t.Errorf("RegisterSchemas=false: %d registries, %d schemas, output %v; want none", n, m, output)
	}
}
