// Package schema holds sessionwatch's published event contract: one JSON
// Schema (draft 4, the EventBridge Schema Registry's JSONSchemaDraft4) per
// detail type, each describing the whole event as EventBridge delivers it
// to a rule's target (envelope and detail). The files are the contract;
// this package embeds them for the tests and for `make schemas`, which
// copies them into template.yaml.
package schema

import (
	"embed"
	"fmt"
)

//go:embed *.json
var files embed.FS

// File is one published schema.
type File struct {
	// DetailType is the detail type the schema describes.
	DetailType string
	// Name is the file's name in this folder, and Title its title: the
	// schema's name in the registry.
	Name, Title string
}

// Files lists the schemas, one per detail type, in the order the README
// presents the detail types.
var Files = []File{
	{"Glue Session State Change", "glue-session-state-change.json", "GlueSessionStateChange"},
	{"Glue Session Error", "glue-session-error.json", "GlueSessionError"},
	{"Glue Session Deleted", "glue-session-deleted.json", "GlueSessionDeleted"},
	{"Glue Session Alert", "glue-session-alert.json", "GlueSessionAlert"},
}

// Content returns the bytes of the schema of detailType.
func Content(detailType string) ([]byte, error) {
	for _, f := range Files {
		if f.DetailType == detailType {
			return files.ReadFile(f.Name)
		}
	}
	return nil, fmt.Errorf("no schema for detail type %q", detailType)
}
