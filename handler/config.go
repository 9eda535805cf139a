package handler

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Env is the name of every environment variable the function reads. The
// template declares exactly these (a test keeps the two in step).
var Env = []string{
	"SNAPSHOT_TABLE", "EVENT_BUS_NAME", "EVENT_SOURCE", "SESSION_IDS",
	"DISCOVER", "DISCOVER_TAGS", "MAX_CONCURRENCY", "RETENTION_DAYS",
	"GLUE_REQUEST_ORIGIN", "STUCK_MINUTES", "RUNNING_HOURS", "IDLE_MINUTES",
	"COST_USD", "DPU_HOUR_USD", "METRICS_NAMESPACE",
}

// Lookup reads one environment variable: its value, and whether it is set
// at all (os.LookupEnv in production). An unset variable takes its
// default; a threshold list set to the empty string is off.
type Lookup func(name string) (value string, set bool)

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
	// StuckMinutes: alert when a session stays PROVISIONING or STOPPING
	// longer (0: off).
	StuckMinutes int
	// RunningHours: alert when a READY session's age passes each (empty:
	// off); ascending.
	RunningHours []float64
	// IdleMinutes: alert when a READY session ran no statement for this
	// long (0: off).
	IdleMinutes int
	// CostUSD: alert when a session's estimated cost passes each (empty:
	// off); ascending.
	CostUSD []float64
	// DPUHourUSD is the price of one DPU-hour of every estimate.
	DPUHourUSD float64
	// MetricsNamespace is the CloudWatch namespace of the run's metrics
	// (metrics.go).
	MetricsNamespace string
}

// ConfigFromEnv reads and validates the configuration through lookup
// (os.LookupEnv in production). Every problem is reported, each naming its
// variable.
func ConfigFromEnv(lookup Lookup) (Config, error) {
	getenv := func(name string) string { v, _ := lookup(name); return v }
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
	if err := validateSource(c.Source); err != nil {
		bad("EVENT_SOURCE", "%v", err)
	}
	if err := validateBus(c.EventBus); err != nil {
		bad("EVENT_BUS_NAME", "%v", err)
	}
	for _, dt := range DetailTypes {
		if err := ValidateDetailType(dt); err != nil {
			errs = append(errs, err) // a bug of this code, not of the configuration
		}
	}
	var err error
	if c.SessionIDs, err = ParseSessionIDs(getenv("SESSION_IDS")); err != nil {
		bad("SESSION_IDS", "%v", err)
	}
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
	if c.StuckMinutes, err = parseInt(getenv("STUCK_MINUTES"), 15, 0, 525600); err != nil {
		bad("STUCK_MINUTES", "%v (0 turns the alert off)", err)
	}
	if c.IdleMinutes, err = parseInt(getenv("IDLE_MINUTES"), 0, 0, 525600); err != nil {
		bad("IDLE_MINUTES", "%v (0 turns the alert off)", err)
	}
	if c.RunningHours, err = parseThresholds(lookup, "RUNNING_HOURS", "8,24", 87600); err != nil {
		bad("RUNNING_HOURS", "%v", err)
	}
	if c.CostUSD, err = parseThresholds(lookup, "COST_USD", "", 1e9); err != nil {
		bad("COST_USD", "%v", err)
	}
	c.DPUHourUSD = 0.44
	if s := strings.TrimSpace(getenv("DPU_HOUR_USD")); s != "" {
		price, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(price) || price <= 0 || price > 1000 {
			bad("DPU_HOUR_USD", "%q is not a price in dollars above 0 and at most 1000", s)
		} else {
			c.DPUHourUSD = price
		}
	}
	c.MetricsNamespace = DefaultMetricsNamespace
	if s := getenv("METRICS_NAMESPACE"); strings.TrimSpace(s) != "" {
		if err := validateNamespace(s); err != nil {
			bad("METRICS_NAMESPACE", "%v", err)
		} else {
			c.MetricsNamespace = s
		}
	}
	return c, errors.Join(errs...)
}

// parseThresholds reads a comma-separated list of positive numbers, such
// as RUNNING_HOURS "8,24": sorted, repeats dropped. Unset is def; "" or
// "off" is off (nil).
func parseThresholds(lookup Lookup, name, def string, hi float64) ([]float64, error) {
	s, set := lookup(name)
	if !set {
		s = def
	}
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "off") {
		return nil, nil
	}
	var out []float64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		v, err := strconv.ParseFloat(part, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > hi {
			return nil, fmt.Errorf("%q is not a list of numbers above 0 and at most %g, like 8,24 (empty or off: no alert)", s, hi)
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ParseSessionIDs reads session ids written as text, the one way they are
// read from SESSION_IDS and from the CLI (--session-ids, and the ids of
// track and untrack): each argument is a comma-separated list; every item
// is trimmed of blanks, empty items are dropped, repeats are dropped
// keeping the first, and each id must pass ValidateSessionID. It returns
// nil for no ids. (Ids in a JSON request are taken exactly as given.)
func ParseSessionIDs(lists ...string) ([]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, list := range lists {
		for _, id := range splitList(list) {
			if err := ValidateSessionID(id); err != nil {
				return nil, err
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, nil
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
