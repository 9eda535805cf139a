package localinvoke

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"sessionwatch/internal/glueemu"
)

// Sample is one sample invocation payload of the events directory.
type Sample struct {
	Name    string // file name, such as "poll-ids.json"
	Path    string
	Payload []byte
}

// SampleEvents returns the payloads of dir/*.json (dir is the module's
// events directory if empty), sorted by name. Subdirectories (such as
// events/published, which holds events the function emits, not payloads)
// and env.json (`sam local invoke --env-vars`) are not payloads.
func SampleEvents(dir string) ([]Sample, error) {
	if dir == "" {
		root, err := ModuleRoot()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, "events")
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []Sample
	for _, p := range paths {
		name := filepath.Base(p)
		if name == "env.json" {
			continue
		}
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, Sample{Name: name, Path: p, Payload: b})
	}
	return out, nil
}

// The sessions that [Sessions] always seeds.
const (
	ReadySession        = "sw-ready"        // READY
	ProvisioningSession = "sw-provisioning" // PROVISIONING
	FailedSession       = "sw-failed"       // FAILED, with an error message
)

// FailedMessage is the error message of the failed sessions that
// [Sessions] seeds.
const FailedMessage = "SparkContext was shut down: executor lost (sample failure seeded by localinvoke)"

// SampleEnv returns the function variables of dir/env.json (dir is the
// module's events directory if empty), the file given to `sam local invoke
// --env-vars`: the object under "SessionWatchFunction" (the function's
// logical id), over the one under "Parameters" (which SAM applies to every
// function). SNAPSHOT_TABLE and EVENT_BUS_NAME are left out: they name the
// table and bus that [Start] creates. Without env.json it returns an empty
// map: the function's own defaults, which are the template's.
func SampleEnv(dir string) (map[string]string, error) {
	if dir == "" {
		root, err := ModuleRoot()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(root, "events")
	}
	env := map[string]string{}
	b, err := os.ReadFile(filepath.Join(dir, "env.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return env, nil
	}
	if err != nil {
		return nil, err
	}
	var file map[string]map[string]any
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "env.json"), err)
	}
	for _, section := range []string{"Parameters", FunctionLogicalID} {
		for k, v := range file[section] {
			switch v := v.(type) {
			case string:
				env[k] = v
			case nil:
				env[k] = ""
			default: // SAM accepts numbers and booleans too
				b, _ := json.Marshal(v)
				env[k] = string(b)
			}
		}
	}
	delete(env, "SNAPSHOT_TABLE")
	delete(env, "EVENT_BUS_NAME")
	return env, nil
}

// FunctionLogicalID is the function's logical id in template.yaml.
const FunctionLogicalID = "SessionWatchFunction"

// Sessions returns the Glue sessions a local invoke seeds the emulator with,
// for the given payloads (typically every sample event, so that they find
// what they ask for):
//
//   - ReadySession, ProvisioningSession and FailedSession, untagged;
//   - every id a payload names in sessionIds, track or untrack, sorted,
//     alternately READY and PROVISIONING, except the last one, which is
//     FAILED with an error message when there are at least two;
//   - for every distinct "tags" filter a payload gives, two sessions
//     carrying those tags, one READY and one PROVISIONING, named
//     "sw-tagged-<n>-ready" and "sw-tagged-<n>-provisioning", so that
//     discovery with that filter finds them (and not the untagged ones).
//
// Payloads that are not JSON objects are ignored; so are ids a Glue session
// could not have (the function rejects them itself).
func Sessions(payloads ...[]byte) []glueemu.Session {
	var ids []string
	var tagSets []map[string]string
	for _, p := range payloads {
		var req struct {
			SessionIDs []string `json:"sessionIds"`
			Track      []string `json:"track"`
			Untrack    []string `json:"untrack"`
		}
		var tags struct {
			Tags map[string]string `json:"tags"`
		}
		if json.Unmarshal(p, &req) == nil {
			ids = append(ids, req.SessionIDs...)
			ids = append(ids, req.Track...)
			ids = append(ids, req.Untrack...)
		}
		if json.Unmarshal(p, &tags) == nil && len(tags.Tags) > 0 &&
			!slices.ContainsFunc(tagSets, func(t map[string]string) bool { return maps.Equal(t, tags.Tags) }) {
			tagSets = append(tagSets, tags.Tags)
		}
	}
	ids = slices.DeleteFunc(ids, func(id string) bool {
		return id == "" || len(id) > 255 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f })
	})
	slices.Sort(ids)
	ids = slices.Compact(ids)

	out := []glueemu.Session{
		session(ReadySession, "READY", nil),
		session(ProvisioningSession, "PROVISIONING", nil),
		failed(session(FailedSession, "FAILED", nil)),
	}
	for i, id := range ids {
		if slices.ContainsFunc(out, func(s glueemu.Session) bool { return s.ID == id }) {
			continue
		}
		s := session(id, "READY", nil)
		switch {
		case i == len(ids)-1 && len(ids) >= 2:
			s = failed(session(id, "FAILED", nil))
		case i%2 == 1:
			s.Status = "PROVISIONING"
		}
		out = append(out, s)
	}
	for n, tags := range tagSets {
		out = append(out,
			session(fmt.Sprintf("sw-tagged-%d-ready", n+1), "READY", tags),
			session(fmt.Sprintf("sw-tagged-%d-provisioning", n+1), "PROVISIONING", tags))
	}
	return out
}

func session(id, status string, tags map[string]string) glueemu.Session {
	created := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	workers, idle := int32(5), int32(60)
	return glueemu.Session{
		ID: id, Status: status, CreatedOn: &created,
		Description: "seeded by sessionwatch localinvoke",
		Role:        "arn:aws:iam::123456789012:role/GlueInteractiveSession",
		Command:     &glueemu.Command{Name: "glueetl", PythonVersion: "3"},
		GlueVersion: "4.0", WorkerType: "G.1X", NumberOfWorkers: &workers, IdleTimeout: &idle,
		// Never to appear in an event or a log line (README.md, Events).
		DefaultArguments: map[string]string{"--secret-token": "localinvoke-do-not-leak"},
		Tags:             maps.Clone(tags),
	}
}

func failed(s glueemu.Session) glueemu.Session {
	completed := s.CreatedOn.Add(20 * time.Minute)
	s.ErrorMessage, s.CompletedOn = FailedMessage, &completed
	return s
}
