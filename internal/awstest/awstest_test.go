package awstest_test

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"sessionwatch/internal/awstest"
	"sessionwatch/state"
)

func motoConfig(t testing.TB) aws.Config {
	t.Helper()
	return awstest.Config(t, awstest.Endpoint(t))
}

func TestEndpointFromEnv(t *testing.T) {
	t.Setenv(awstest.EnvEndpoint, "http://127.0.0.1:1/")
	if got := awstest.Endpoint(t); got != "http://127.0.0.1:1" {
		t.Errorf("Endpoint = %q, want MOTO_ENDPOINT without its trailing slash", got)
	}
}

func TestConfig(t *testing.T) {
	cfg := awstest.Config(t, "http://127.0.0.1:1")
	if cfg.Region != "us-east-1" || aws.ToString(cfg.BaseEndpoint) != "http://127.0.0.1:1" || cfg.Retryer != nil {
		t.Errorf("Config = region %q, endpoint %q, retryer set %v", cfg.Region, aws.ToString(cfg.BaseEndpoint), cfg.Retryer != nil)
	}
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || creds.AccessKeyID != "test" || creds.SecretAccessKey != "test" {
		t.Errorf("credentials = %+v, %v; want test/test", creds, err)
	}
}

func TestTable(t *testing.T) {
	t.Parallel()
	cfg := motoConfig(t)
	calls := awstest.CountCalls(&cfg)
	name := awstest.NewTable(t, cfg)
	if !strings.HasPrefix(name, "TestTable-") {
		t.Errorf("table name %q does not start with the test name", name)
	}
	db := dynamodb.NewFromConfig(cfg)
	ctx := t.Context()

	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		t.Fatal(err)
	}
	tbl := desc.Table
	if tbl.TableStatus != ddbtypes.TableStatusActive ||
		tbl.BillingModeSummary == nil || tbl.BillingModeSummary.BillingMode != ddbtypes.BillingModePayPerRequest ||
		len(tbl.KeySchema) != 1 || aws.ToString(tbl.KeySchema[0].AttributeName) != "SessionId" || tbl.KeySchema[0].KeyType != ddbtypes.KeyTypeHash {
		t.Errorf("table: status %s, billing %+v, key schema %+v", tbl.TableStatus, tbl.BillingModeSummary, tbl.KeySchema)
	}
	// The table is sessionwatch's own: its index included.
	want := state.Schema(name).GlobalSecondaryIndexes
	if len(tbl.GlobalSecondaryIndexes) != len(want) {
		t.Fatalf("indexes: got %d, want %d", len(tbl.GlobalSecondaryIndexes), len(want))
	}
	for i, gsi := range tbl.GlobalSecondaryIndexes {
		w := want[i]
		if aws.ToString(gsi.IndexName) != aws.ToString(w.IndexName) || gsi.IndexStatus != ddbtypes.IndexStatusActive ||
			!reflect.DeepEqual(keyNames(gsi.KeySchema), keyNames(w.KeySchema)) ||
			gsi.Projection.ProjectionType != w.Projection.ProjectionType ||
			!reflect.DeepEqual(gsi.Projection.NonKeyAttributes, w.Projection.NonKeyAttributes) {
			t.Errorf("index %d: got %s (%s) keys %q projection %+v, want %s keys %q projection %+v", i,
				aws.ToString(gsi.IndexName), gsi.IndexStatus, keyNames(gsi.KeySchema), *gsi.Projection,
				aws.ToString(w.IndexName), keyNames(w.KeySchema), *w.Projection)
		}
	}

	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != "ExpiresAt" {
		t.Errorf("TTL = %s on %q, want ENABLED on ExpiresAt", d.TimeToLiveStatus, aws.ToString(d.AttributeName))
	}

	expires := time.Now().Add(time.Hour).Unix()
	item := map[string]ddbtypes.AttributeValue{
		"SessionId": &ddbtypes.AttributeValueMemberS{Value: "s-1"},
		"ExpiresAt": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)},
		"State":     &ddbtypes.AttributeValueMemberS{Value: "READY"},
	}
	calls.Reset()
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &name, Item: item}); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &name,
		Key:            map[string]ddbtypes.AttributeValue{"SessionId": item["SessionId"]},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range item {
		if v := got.Item[k]; !attrEqual(v, want) {
			t.Errorf("GetItem %s = %#v, want %#v", k, v, want)
		}
	}
	if want := map[string]int{"DynamoDB.PutItem": 1, "DynamoDB.GetItem": 1}; !maps.Equal(calls.Counts(), want) {
		t.Errorf("calls = %v, want %v", calls.Counts(), want)
	}
}

func attrEqual(a, b ddbtypes.AttributeValue) bool {
	switch a := a.(type) {
	case *ddbtypes.AttributeValueMemberS:
		b, ok := b.(*ddbtypes.AttributeValueMemberS)
		return ok && a.Value == b.Value
	case *ddbtypes.AttributeValueMemberN:
		b, ok := b.(*ddbtypes.AttributeValueMemberN)
		return ok && a.Value == b.Value
	}
	return false
}

// event is an EventBridge event as moto delivers it to SQS.
type event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    *string         `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

type detail struct {
	SessionID string `json:"sessionId"`
	Attempt   *int   `json:"attempt,omitempty"`
}

// putEvents sends entries to bus and fails the test unless all are accepted.
func putEvents(t testing.TB, eb *eventbridge.Client, entries ...ebtypes.PutEventsRequestEntry) {
	t.Helper()
	out, err := eb.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %d failed: %s", out.FailedEntryCount, aws.ToString(out.Entries[0].ErrorMessage))
	}
}

func entry(bus, detailType, detail string) ebtypes.PutEventsRequestEntry {
	return ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(bus),
		Source:       aws.String("sessionwatch.test"),
		DetailType:   aws.String(detailType),
		Detail:       aws.String(detail),
		Resources:    []string{"arn:aws:glue:us-east-1:123456789012:session/s-1"},
	}
}

func decode(t testing.TB, bodies []json.RawMessage) map[string]event {
	t.Helper()
	events := map[string]event{}
	for _, body := range bodies {
		var e event
		var d detail
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatalf("detail %s: %v", e.Detail, err)
		}
		events[d.SessionID] = e
	}
	return events
}

func TestBus(t *testing.T) {
	t.Parallel()
	cfg := motoConfig(t)
	calls := awstest.CountCalls(&cfg)
	bus := awstest.NewBus(t, cfg, "")
	errorsOnly := bus.AddRule(t, "errors", `{"detail-type":["Glue Session Error"]}`)
	eb := eventbridge.NewFromConfig(cfg)

	calls.Reset()
	start := time.Now().Truncate(time.Second)
	putEvents(t, eb,
		entry(bus.Name, "Glue Session Error", `{"sessionId":"s-1","attempt":3}`),
		entry(bus.Name, "Glue Session Ready", `{"sessionId":"s-2"}`),
	)
	if want := map[string]int{"EventBridge.PutEvents": 1}; !maps.Equal(calls.Counts(), want) {
		t.Errorf("calls = %v, want %v", calls.Counts(), want)
	}
	if n := calls.Count("EventBridge.PutEvents"); n != 1 {
		t.Errorf(`Count("EventBridge.PutEvents") = %d, want 1`, n)
	}

	bodies := bus.Receive(t)
	if n := calls.Count("SQS.ReceiveMessage"); n != 2 {
		t.Errorf("Receive made %d ReceiveMessage calls, want 2 (one with the events, one empty)", n)
	}
	if len(bodies) != 2 {
		t.Fatalf("bus received %d events, want 2: %s", len(bodies), bodies)
	}
	// The exact shape moto 5.2.1 delivers, documented on Queue.Receive.
	for _, body := range bodies {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatal(err)
		}
		want := []string{"detail", "detail-type", "id", "region", "resources", "source", "time", "version"}
		if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, want) {
			t.Errorf("event fields = %v, want %v (moto's SQS body changed: update Queue.Receive's doc)", got, want)
		}
	}
	events := decode(t, bodies)
	e1 := events["s-1"]
	if e1.DetailType != "Glue Session Error" || e1.Source != "sessionwatch.test" || e1.Version != "0" ||
		e1.Region != "us-east-1" || e1.ID == "" || e1.Time.Before(start) || time.Since(e1.Time) > time.Minute ||
		len(e1.Resources) != 1 || e1.Account != nil {
		t.Errorf("event s-1 = %+v", e1)
	}
	var d detail
	if err := json.Unmarshal(e1.Detail, &d); err != nil || d.Attempt == nil || *d.Attempt != 3 {
		t.Errorf("event s-1 detail = %s (%v), want the detail object sent", e1.Detail, err)
	}
	if e2, ok := events["s-2"]; !ok || e2.DetailType != "Glue Session Ready" {
		t.Errorf("event s-2 = %+v, present %v", e2, ok)
	}

	narrow := decode(t, errorsOnly.Receive(t))
	if len(narrow) != 1 || narrow["s-1"].DetailType != "Glue Session Error" {
		t.Errorf("rule %s received %v, want only s-1", errorsOnly.Rule, narrow)
	}
	if again := bus.Receive(t); len(again) != 0 {
		t.Errorf("second Receive = %s, want nothing (Receive deletes what it reads)", again)
	}
}

// TestMotoPatterns records which event pattern features moto 5.2.1 honours
// when it routes events to rule targets.
func TestMotoPatterns(t *testing.T) {
	t.Parallel()
	cfg := motoConfig(t)
	bus := awstest.NewBus(t, cfg, "")
	cases := []struct {
		rule, pattern string
		want          []string // session IDs delivered
	}{
		{"exact", `{"detail-type":["Glue Session Error"]}`, []string{"s-1"}},
		{"prefix", `{"source":[{"prefix":"sessionwatch."}]}`, []string{"s-1", "s-2"}},
		{"prefix-miss", `{"source":[{"prefix":"aws."}]}`, nil},
		{"suffix", `{"detail-type":[{"suffix":"Error"}]}`, []string{"s-1"}},
		{"ignore-case", `{"detail-type":[{"equals-ignore-case":"glue session error"}]}`, []string{"s-1"}},
		{"wildcard", `{"detail-type":[{"wildcard":"Glue*Error"}]}`, []string{"s-1"}},
		{"anything-but", `{"detail-type":[{"anything-but":"Glue Session Error"}]}`, []string{"s-2"}},
		{"anything-but-list", `{"detail-type":[{"anything-but":["Glue Session Error","Glue Session Ready"]}]}`, nil},
		{"anything-but-prefix", `{"source":[{"anything-but":{"prefix":"aws."}}]}`, []string{"s-1", "s-2"}},
		{"numeric", `{"detail":{"attempt":[{"numeric":[">",3]}]}}`, []string{"s-1"}},
		{"numeric-miss", `{"detail":{"attempt":[{"numeric":[">",10]}]}}`, nil},
		{"numeric-range", `{"detail":{"attempt":[{"numeric":[">=",5,"<",6]}]}}`, []string{"s-1"}},
		{"number-is-not-string", `{"detail":{"attempt":["5"]}}`, nil},
		{"exists", `{"detail":{"attempt":[{"exists":true}]}}`, []string{"s-1"}},
		{"not-exists", `{"detail":{"attempt":[{"exists":false}]}}`, []string{"s-2"}},
		{"array-member", `{"detail":{"tags":["y"]}}`, []string{"s-1"}},
		{"nested", `{"detail":{"nested":{"k":["v"]}}}`, []string{"s-1"}},
		{"null", `{"detail":{"z":[null]}}`, []string{"s-2"}},
		{"or", `{"$or":[{"detail-type":["Glue Session Ready"]},{"detail":{"attempt":[5]}}]}`, []string{"s-1", "s-2"}},
		{"account", `{"account":["123456789012"]}`, []string{"s-1", "s-2"}},
		// Quirk: moto accepts an unknown operator and lets it match
		// everything; EventBridge rejects the pattern in PutRule.
		{"unknown-operator", `{"detail-type":[{"no-such-operator":"x"}]}`, []string{"s-1", "s-2"}},
	}
	queues := make([]*awstest.Queue, len(cases))
	for i, c := range cases {
		queues[i] = bus.AddRule(t, c.rule, c.pattern)
	}
	eb := eventbridge.NewFromConfig(cfg)
	putEvents(t, eb,
		entry(bus.Name, "Glue Session Error", `{"sessionId":"s-1","attempt":5,"tags":["x","y"],"nested":{"k":"v"}}`),
		entry(bus.Name, "Glue Session Ready", `{"sessionId":"s-2","z":null}`),
	)
	for i, c := range cases {
		got := slices.Sorted(maps.Keys(decode(t, queues[i].Receive(t))))
		if !slices.Equal(got, c.want) {
			t.Errorf("rule %s %s delivered %v, want %v", c.rule, c.pattern, got, c.want)
		}
	}
	if got := len(bus.Receive(t)); got != 2 {
		t.Errorf("MatchAll rule delivered %d events, want 2", got)
	}

	// Patterns that are not valid JSON, or whose leaves are not arrays, are
	// rejected as in EventBridge.
	for _, p := range []string{`not json`, `{"source":"sessionwatch.test"}`} {
		_, err := eb.PutRule(t.Context(), &eventbridge.PutRuleInput{
			Name: aws.String("invalid"), EventBusName: aws.String(bus.Name), EventPattern: aws.String(p),
		})
		var invalid *ebtypes.InvalidEventPatternException
		if !errors.As(err, &invalid) {
			t.Errorf("PutRule with pattern %s: err = %v, want InvalidEventPatternException", p, err)
		}
	}
}

func TestCallCounterCountsRetries(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"boom"}`))
	}))
	defer srv.Close()

	cfg := awstest.Config(t, srv.URL)
	before := cfg
	calls := awstest.CountCalls(&cfg)
	if len(before.APIOptions) != 0 {
		t.Errorf("CountCalls changed a copy of the config made before")
	}
	db := dynamodb.NewFromConfig(cfg)
	_, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String("t"),
		Key:       map[string]ddbtypes.AttributeValue{"SessionId": &ddbtypes.AttributeValueMemberS{Value: "s"}},
	})
	var ise *ddbtypes.InternalServerError
	if !errors.As(err, &ise) {
		t.Fatalf("GetItem err = %v, want InternalServerError", err)
	}
	if n := calls.Count("DynamoDB.GetItem"); n != int(hits.Load()) || n < 2 {
		t.Errorf(`Count("DynamoDB.GetItem") = %d, server saw %d requests; want equal and > 1`, n, hits.Load())
	}
	calls.Reset()
	if c := calls.Counts(); len(c) != 0 {
		t.Errorf("Counts after Reset = %v", c)
	}
}

func BenchmarkMotoPutItem(b *testing.B) {
	cfg := motoConfig(b)
	name := awstest.NewTable(b, cfg)
	db := dynamodb.NewFromConfig(cfg)
	for i := 0; b.Loop(); i++ {
		_, err := db.PutItem(b.Context(), &dynamodb.PutItemInput{TableName: &name, Item: map[string]ddbtypes.AttributeValue{
			"SessionId": &ddbtypes.AttributeValueMemberS{Value: strconv.Itoa(i)},
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMotoGetItem(b *testing.B) {
	cfg := motoConfig(b)
	name := awstest.NewTable(b, cfg)
	db := dynamodb.NewFromConfig(cfg)
	key := map[string]ddbtypes.AttributeValue{"SessionId": &ddbtypes.AttributeValueMemberS{Value: "s-1"}}
	if _, err := db.PutItem(b.Context(), &dynamodb.PutItemInput{TableName: &name, Item: key}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := db.GetItem(b.Context(), &dynamodb.GetItemInput{TableName: &name, Key: key}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMotoPutEvents sends one event to a bus with one rule whose SQS
// queue receives it.
func BenchmarkMotoPutEvents(b *testing.B) {
	cfg := motoConfig(b)
	bus := awstest.NewBus(b, cfg, "")
	eb := eventbridge.NewFromConfig(cfg)
	for b.Loop() {
		putEvents(b, eb, entry(bus.Name, "Glue Session Error", `{"sessionId":"s-1"}`))
	}
}

// BenchmarkMotoPutEventsUnmatched sends one event to a bus whose only rule
// does not match it: compared with BenchmarkMotoPutEvents, the cost of
// delivering an event to a target in moto.
func BenchmarkMotoPutEventsUnmatched(b *testing.B) {
	cfg := motoConfig(b)
	bus := awstest.NewBus(b, cfg, `{"source":["no.such.source"]}`)
	eb := eventbridge.NewFromConfig(cfg)
	for b.Loop() {
		putEvents(b, eb, entry(bus.Name, "Glue Session Error", `{"sessionId":"s-1"}`))
	}
}

// TestCreateWithoutTB covers the error-returning cores that NewTable and
// NewBus wrap, for callers without a testing.TB.
func TestCreateWithoutTB(t *testing.T) {
	t.Parallel()
	cfg := motoConfig(t)
	ctx := t.Context()

	name, drop, err := awstest.CreateTable(ctx, cfg, "local invoke/x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "local-invoke-x-") {
		t.Errorf("table name %q does not start with the sanitized prefix", name)
	}
	db := dynamodb.NewFromConfig(cfg)
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &name})
	if err != nil || ttl.TimeToLiveDescription.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled {
		t.Errorf("TTL of %s: %+v, %v", name, ttl, err)
	}
	if err := drop(); err != nil {
		t.Fatal(err)
	}
	var notFound *ddbtypes.ResourceNotFoundException
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name}); !errors.As(err, &notFound) {
		t.Errorf("DescribeTable after drop: %v, want ResourceNotFoundException", err)
	}
	if err := drop(); err != nil {
		t.Errorf("second drop: %v, want nil (already gone)", err)
	}

	bus, err := awstest.CreateBus(ctx, cfg, "local invoke", "")
	if err != nil {
		t.Fatal(err)
	}
	errorsOnly, err := bus.CreateRule(ctx, "errors", `{"detail-type":["Glue Session Error"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.CreateRule(ctx, "errors", ""); err == nil {
		t.Errorf("CreateRule accepted a duplicate rule name")
	}
	eb := eventbridge.NewFromConfig(cfg)
	putEvents(t, eb,
		entry(bus.Name, "Glue Session Error", `{"sessionId":"s-1"}`),
		entry(bus.Name, "Glue Session Ready", `{"sessionId":"s-2"}`),
	)
	all, err := bus.Drain(ctx)
	if err != nil || len(all) != 2 {
		t.Errorf("Drain = %d events, %v; want 2", len(all), err)
	}
	narrow, err := errorsOnly.Drain(ctx)
	if err != nil || len(narrow) != 1 {
		t.Errorf("errors rule Drain = %d events, %v; want 1", len(narrow), err)
	}
	if err := bus.Delete(); err != nil {
		t.Fatal(err)
	}
	var ebNotFound *ebtypes.ResourceNotFoundException
	if _, err := eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: &bus.Name}); !errors.As(err, &ebNotFound) {
		t.Errorf("DescribeEventBus after Delete: %v, want ResourceNotFoundException", err)
	}
	if _, err := bus.Drain(ctx); err == nil {
		t.Errorf("Drain of a deleted queue succeeded")
	}
	if err := bus.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestStartMoto(t *testing.T) {
	t.Parallel()
	url, stop, err := awstest.StartMoto()
	if errors.Is(err, awstest.ErrMotoMissing) {
		if os.Getenv(awstest.EnvEndpoint) != "" {
			t.Skipf("%v; the tests use %s", err, awstest.EnvEndpoint)
		}
		awstest.Endpoint(t) // skips, or fails in CI, with the hint
		t.Fatalf("StartMoto: %v, yet Endpoint found moto", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if shared := os.Getenv(awstest.EnvEndpoint); url == shared {
		t.Errorf("StartMoto returned the shared server %s", url)
	}
	resp, err := http.Get(url + "/moto-api/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stop()
	stop() // idempotent
	if resp, err := http.Get(url + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Errorf("moto at %s still answers after stop", url)
	}
}

// keyNames returns a key schema as "name:TYPE" strings.
func keyNames(schema []ddbtypes.KeySchemaElement) []string {
	out := make([]string, len(schema))
	for i, k := range schema {
		out[i] = aws.ToString(k.AttributeName) + ":" + string(k.KeyType)
	}
	return out
}
