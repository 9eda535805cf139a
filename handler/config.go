package handler

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Env is the name of every environment variable the function reads. The
// template declares exactly these (a test keeps the two in step).
var Env = []string{
	"SNAPSHOT_TABLE", "EVENT_BUS_NAME", "EVENT_SOURCE", "SESSION_IDS",
	"DISCOVER", "DISCOVER_TAGS", "MAX_CONCURRENCY", "RETENTION_DAYS",
	"GLUE_REQUEST_ORIGIN",
}

// Config is the function's configuration, read once at cold start.
type Config struct {
	Table          string
	EventBus       string
	Source         string
	SessionIDs     []string
	Discover       bool
	DiscoverTags   map[string]string
	MaxConcurrency int
	RetentionDays  int
	RequestOrigin  string
}

// ConfigFromEnv reads and validates the configuration through getenv
// (os.Getenv in production). Every problem is reported, each naming its
// variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Table:         strings.TrimSpace(getenv("SNAPSHOT_TABLE")),
		EventBus:      strings.TrimSpace(getenv("EVENT_BUS_NAME")),
		Source:        strings.TrimSpace(getenv("EVENT_SOURCE")),
		RequestOrigin: strings.TrimSpace(getenv("GLUE_REQUEST_ORIGIN")),
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if c.Table == "" {
		bad("SNAPSHOT_TABLE", "required, the DynamoDB table holding snapshots")
	}
	if c.EventBus == "" {
		c.EventBus = "default"
	}
	if c.Source == "" {
		c.Source = "sessionwatch"
	}
	if strings.HasPrefix(c.Source, "aws.") {
		bad("EVENT_SOURCE", "%q starts with \"aws.\", which EventBridge reserves for AWS services", c.Source)
	}
	for _, id := range splitList(getenv("SESSION_IDS")) {
		if err := ValidateSessionID(id); err != nil {
			bad("SESSION_IDS", "%v", err)
		} else if !slices.Contains(c.SessionIDs, id) {
			c.SessionIDs = append(c.SessionIDs, id)
		}
	}
	var err error
	if c.Discover, err = parseBool(getenv("DISCOVER")); err != nil {
		bad("DISCOVER", "%v", err)
	}
	if c.DiscoverTags, err = ParseTags(getenv("DISCOVER_TAGS")); err != nil {
		bad("DISCOVER_TAGS", "%v", err)
	}
	if c.MaxConcurrency, err = parseInt(getenv("MAX_CONCURRENCY"), 8, 1, 1000); err != nil {
		bad("MAX_CONCURRENCY", "%v", err)
	}
	if c.RetentionDays, err = parseInt(getenv("RETENTION_DAYS"), 30, 1, 36500); err != nil {
		bad("RETENTION_DAYS", "%v", err)
	}
	return c, errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0", "no", "off":
		return false, nil
	case "true", "1", "yes", "on":
		return true, nil
	}
	return false, fmt.Errorf("%q is not a boolean (use true or false)", s)
}

func parseInt(s string, def, lo, hi int) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a whole number from %d to %d", s, lo, hi)
	}
	return n, nil
}

// ParseTags reads a tag filter spelled "k=v,k2=v2" (DISCOVER_TAGS) into a
// map; an empty string is no filter.
func ParseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	for _, pair := range splitList(s) {
		k, v, ok := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value (want k=v,k2=v2)", pair)
		}
		if _, dup := tags[k]; dup {
			return nil, fmt.Errorf("tag key %q given twice", k)
		}
		tags[k] = v
	}
	if len(tags) == 0 {
		return nil, nil
	}
	return tags, nil
}
