package localinvoke_test

// CloudTrail records through the real bootstrap under the Runtime Interface
// Emulator. A record takes the path it takes in AWS: the template's rule
// (its pattern and its input transformer, on a bus in moto) reduces it, and
// the function is invoked with what the rule's target received. The
// function is also invoked with the full record, which it accepts alike.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/awslabs/goformation/v7/intrinsics"

	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
	"sessionwatch/internal/localinvoke"
)

// The principals of the records: alice's is the sample records' own.
const (
	alice = "arn:aws:sts::123456789012:assumed-role/DataEngineer/alice"
	bob   = "arn:aws:sts::123456789012:assumed-role/DataEngineer/bob"
)

// cloudTrailRules holds the template's TrackFromCloudTrail rules installed
// on a bus in moto, each delivering to its own SQS queue.
type cloudTrailRules struct {
	eb     *eventbridge.Client
	bus    *awstest.Bus
	queues map[string]*awstest.Queue
}

// newCloudTrailRules reads the CloudTrail rules' patterns and input
// transformers from template.yaml and installs them on a new bus of moto.
func newCloudTrailRules(tb testing.TB, moto string) *cloudTrailRules {
	tb.Helper()
	root, err := localinvoke.ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	expanded, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		tb.Fatal(err)
	}
	var tpl struct {
		Resources map[string]struct {
			Properties struct {
				EventPattern json.RawMessage
				Targets      []struct {
					InputTransformer *struct {
						InputPathsMap map[string]string
						InputTemplate string
					}
				}
			}
		}
	}
	if err := json.Unmarshal(expanded, &tpl); err != nil {
		tb.Fatal(err)
	}
	cfg := awstest.Config(tb, moto)
	c := &cloudTrailRules{eb: eventbridge.NewFromConfig(cfg), bus: awstest.NewBus(tb, cfg, `{"source":["none"]}`), queues: map[string]*awstest.Queue{}}
	for _, id := range []string{"CloudTrailCreateRule", "CloudTrailStopDeleteRule"} {
		p := tpl.Resources[id].Properties
		if len(p.Targets) != 1 || p.Targets[0].InputTransformer == nil {
			tb.Fatalf("template.yaml: %s has no single target with an input transformer", id)
		}
		tr := p.Targets[0].InputTransformer
		c.queues[id] = c.bus.AddTransformedRule(tb, id, string(p.EventPattern), &ebtypes.InputTransformer{
			InputPathsMap: tr.InputPathsMap, InputTemplate: aws.String(tr.InputTemplate),
		})
	}
	return c
}

// reduce sends the record through the rules and returns what the one rule
// that matched it delivered: the input the function gets in AWS.
func (c *cloudTrailRules) reduce(tb testing.TB, rec []byte) []byte {
	tb.Helper()
	var m struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Time       time.Time       `json:"time"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(rec, &m); err != nil {
		tb.Fatal(err)
	}
	out, err := c.eb.PutEvents(tb.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(c.bus.Name), Source: aws.String(m.Source), DetailType: aws.String(m.DetailType),
		Detail: aws.String(string(m.Detail)), Time: aws.Time(m.Time), Resources: m.Resources,
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		tb.Fatalf("PutEvents: %v %+v", err, out)
	}
	var got [][]byte
	for _, id := range slices.Sorted(maps.Keys(c.queues)) {
		for _, body := range c.queues[id].Receive(tb) {
			got = append(got, body)
		}
	}
	if len(got) != 1 {
		tb.Fatalf("%d rules delivered the record, want 1", len(got))
	}
	return got[0]
}

// sampleRecord returns events/<name> with its session id, principal and
// time replaced by the given ones (kept when empty or zero).
func sampleRecord(tb testing.TB, name, id, principal string, at time.Time) []byte {
	tb.Helper()
	root, err := localinvoke.ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		tb.Fatal(err)
	}
	d := m["detail"].(map[string]any)
	if id != "" {
		d["requestParameters"].(map[string]any)["id"] = id
		if s, ok := d["responseElements"].(map[string]any)["session"].(map[string]any); ok {
			s["id"] = id
		} else {
			d["responseElements"].(map[string]any)["id"] = id
		}
	}
	if principal != "" {
		d["userIdentity"].(map[string]any)["arn"] = principal
	}
	if !at.IsZero() {
		m["time"] = at.UTC().Format(time.RFC3339)
		d["eventTime"] = m["time"]
	}
	out, _ := json.Marshal(m)
	return out
}

// ctEvent is a published event, with createdBy read apart.
type ctEvent struct {
	DetailType string `json:"detail-type"`
	Detail     struct {
		EventID        string  `json:"eventId"`
		SessionID      string  `json:"sessionId"`
		Sequence       int     `json:"sequence"`
		Status         *string `json:"status"`
		PreviousStatus *string `json:"previousStatus"`
		CreatedBy      *string `json:"createdBy"`
	} `json:"detail"`
}

func (e ctEvent) String() string {
	s := func(p *string) string {
		if p == nil {
			return "null"
		}
		return *p
	}
	return fmt.Sprintf("%s#%d %s %s<-%s by %s", e.Detail.SessionID, e.Detail.Sequence, e.DetailType, s(e.Detail.Status), s(e.Detail.PreviousStatus), s(e.Detail.CreatedBy))
}

func ctPublished(tb testing.TB, f *localinvoke.Function) []ctEvent {
	tb.Helper()
	raws, err := f.Published(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]ctEvent, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			tb.Fatalf("event %s: %v", raw, err)
		}
	}
	slices.SortFunc(out, func(a, b ctEvent) int {
		return strings.Compare(fmt.Sprintf("%s#%09d", a.Detail.SessionID, a.Detail.Sequence), fmt.Sprintf("%s#%09d", b.Detail.SessionID, b.Detail.Sequence))
	})
	return out
}

func ctSummary(events []ctEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.String()
	}
	return out
}

// invokeOK invokes the function and fails on a function error or a
// response that lists errors.
func invokeOK(tb testing.TB, f *localinvoke.Function, payload []byte) map[string]any {
	tb.Helper()
	body, err := f.Invoke(tb.Context(), payload)
	if err != nil {
		tb.Fatalf("invoke with %s: %v: %s", payload, err, body)
	}
	var res map[string]any
	if err := json.Unmarshal(body, &res); err != nil {
		tb.Fatalf("response %s: %v", body, err)
	}
	if errs, _ := res["errors"].([]any); len(errs) > 0 {
		tb.Fatalf("invoke with %s: errors in %s", payload, body)
	}
	return res
}

// TestCloudTrailUnderRIE follows sessions from their CreateSession record
// to their end: the invocation that received the record announces the
// session, scheduled runs follow it to STOPPED, a StopSession record polls
// it at once, and a CreateSession for a known id announces the new session
// after the old one's deletion. Every event carries the creator.
func TestCloudTrailUnderRIE(t *testing.T) {
	opts := setup(t)
	rules := newCloudTrailRules(t, opts.MotoEndpoint)
	f := start(t, opts)
	schedule := func() {
		t.Helper()
		root, _ := localinvoke.ModuleRoot()
		payload, err := os.ReadFile(filepath.Join(root, "events", "schedule-rule.json"))
		if err != nil {
			t.Fatal(err)
		}
		invokeOK(t, f, payload)
	}
	created := func() *time.Time { c := time.Now().Add(-time.Second).Truncate(time.Second); return &c }
	expect := func(t *testing.T, want ...string) {
		t.Helper()
		if got := ctSummary(ctPublished(t, f)); !slices.Equal(got, want) {
			t.Errorf("published:\n got %q\nwant %q", got, want)
		}
	}

	t.Run("reduced create, then scheduled runs to STOPPED", func(t *testing.T) {
		f.Glue.Put(glueemu.Session{ID: "ct-1", Status: "PROVISIONING", CreatedOn: created()})
		in := rules.reduce(t, sampleRecord(t, "cloudtrail-create-session.json", "ct-1", "", time.Now()))
		if bytes.Contains(in, []byte("defaultArguments")) {
			t.Fatalf("the rule handed on DefaultArguments: %s", in)
		}
		res := invokeOK(t, f, in)
		if res["polled"] != 1.0 {
			t.Errorf("the record's invocation polled %v sessions, want 1: %v", res["polled"], res)
		}
		expect(t, "ct-1#1 Glue Session State Change PROVISIONING<-null by "+alice)

		f.Glue.Update("ct-1", func(s *glueemu.Session) { s.Status = "READY" })
		schedule()
		expect(t, "ct-1#2 Glue Session State Change READY<-PROVISIONING by "+alice)
		f.Glue.Update("ct-1", func(s *glueemu.Session) { s.Status = "STOPPED"; now := time.Now(); s.CompletedOn = &now })
		schedule()
		expect(t, "ct-1#3 Glue Session State Change STOPPED<-READY by "+alice)
		schedule()
		expect(t)
	})

	t.Run("full create, then a reduced StopSession", func(t *testing.T) {
		f.Glue.Put(glueemu.Session{ID: "ct-2", Status: "READY", CreatedOn: created()})
		invokeOK(t, f, sampleRecord(t, "cloudtrail-create-session.json", "ct-2", bob, time.Now()))
		expect(t, "ct-2#1 Glue Session State Change READY<-null by "+bob)
		f.Glue.Update("ct-2", func(s *glueemu.Session) { s.Status = "STOPPING" })
		invokeOK(t, f, rules.reduce(t, sampleRecord(t, "cloudtrail-stop-session.json", "ct-2", alice, time.Now())))
		expect(t, "ct-2#2 Glue Session State Change STOPPING<-READY by "+bob)
	})

	t.Run("re-created id", func(t *testing.T) {
		f.Glue.Put(glueemu.Session{ID: "ct-3", Status: "READY", CreatedOn: created()})
		invokeOK(t, f, rules.reduce(t, sampleRecord(t, "cloudtrail-create-session.json", "ct-3", alice, time.Now())))
		first := ctPublished(t, f)
		if got, want := ctSummary(first), []string{"ct-3#1 Glue Session State Change READY<-null by " + alice}; !slices.Equal(got, want) {
			t.Fatalf("published:\n got %q\nwant %q", got, want)
		}
		// Deleted and created again under the same id, by bob, before any
		// scheduled run saw it go.
		time.Sleep(1100 * time.Millisecond) // a CreatedOn of its own (whole seconds)
		f.Glue.Delete("ct-3")
		f.Glue.Put(glueemu.Session{ID: "ct-3", Status: "PROVISIONING", CreatedOn: created()})
		invokeOK(t, f, rules.reduce(t, sampleRecord(t, "cloudtrail-create-session.json", "ct-3", bob, time.Now())))
		second := ctPublished(t, f)
		// The old session's deletion first (by alice, null status), then
		// the new session's first sighting (by bob).
		want := []string{
			"ct-3#2 Glue Session Deleted null<-READY by " + alice,
			"ct-3#3 Glue Session State Change PROVISIONING<-null by " + bob,
		}
		if got := ctSummary(second); !slices.Equal(got, want) {
			t.Errorf("published:\n got %q\nwant %q", got, want)
		}
		ids := map[string]bool{}
		for _, e := range slices.Concat(first, second) {
			if ids[e.Detail.EventID] {
				t.Errorf("eventId %s used twice", e.Detail.EventID)
			}
			ids[e.Detail.EventID] = true
		}
	})
}

// callCounter forwards to moto and counts the calls by X-Amz-Target, and
// the time moto took to answer them.
type callCounter struct {
	proxy  *httputil.ReverseProxy
	mu     sync.Mutex
	calls  map[string]int
	inMoto map[string]time.Duration
}

func newCallCounter(tb testing.TB, moto string) (*callCounter, string) {
	tb.Helper()
	target, err := url.Parse(moto)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	c := &callCounter{proxy: rp, calls: map[string]int{}, inMoto: map[string]time.Duration{}}
	srv := httptest.NewServer(c)
	tb.Cleanup(srv.Close)
	return c, srv.URL
}

func (c *callCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	began := time.Now()
	c.proxy.ServeHTTP(w, r)
	c.mu.Lock()
	c.calls[r.Header.Get("X-Amz-Target")]++
	c.inMoto[r.Header.Get("X-Amz-Target")] += time.Since(began)
	c.mu.Unlock()
}

// take returns the function's calls to DynamoDB and EventBridge counted
// since the last take, and the Glue emulator's, by service and operation,
// with the time moto spent answering them, and clears them.
func (c *callCounter) take(g *glueemu.Emulator) (map[string]int, map[string]time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	inMoto := map[string]time.Duration{}
	services := map[string]string{"DynamoDB_20120810": "DynamoDB", "AWSEvents": "EventBridge"}
	for k, n := range c.calls {
		if service, op, ok := strings.Cut(k, "."); ok && services[service] != "" {
			out[services[service]+"."+op] = n
			inMoto[services[service]+"."+op] = c.inMoto[k]
		}
	}
	for op, n := range g.Calls() {
		out["Glue."+op] = n
	}
	clear(c.calls)
	clear(c.inMoto)
	g.ResetCalls()
	return out, inMoto
}

// BenchmarkCloudTrail measures what the Runtime Interface Emulator can of
// a burst of CreateSession records (README, CloudTrail: bursts): the AWS
// calls and the time of one record's invocation, cold (the first of a new
// execution environment) and warm, and 100 records, each of a new session,
// handled one after another as reserved concurrency 1 makes Lambda do. The
// records are the rule's reduced ones (reduced once through moto, then
// given each its own id). Glue answers from the in-process emulator,
// DynamoDB and EventBridge from moto: AWS's latencies differ.
func BenchmarkCloudTrail(b *testing.B) {
	opts := setup(b)
	counter, proxied := newCallCounter(b, opts.MotoEndpoint)
	opts.MotoEndpoint = proxied
	rules := newCloudTrailRules(b, opts.MotoEndpoint)
	reduced := rules.reduce(b, sampleRecord(b, "cloudtrail-create-session.json", "bench-id", "", time.Now()))
	record := func(id string) []byte { return bytes.ReplaceAll(reduced, []byte(`"bench-id"`), []byte(`"`+id+`"`)) }
	report := func(b *testing.B, calls map[string]int, inMoto map[string]time.Duration, n int) {
		var moto time.Duration
		for _, d := range inMoto {
			moto += d
		}
		b.ReportMetric(float64(moto.Milliseconds())/float64(n), "ms-in-moto/record")
		total := 0
		for _, op := range slices.Sorted(maps.Keys(calls)) {
			total += calls[op]
		}
		b.ReportMetric(float64(total)/float64(n), "calls/record")
		var parts []string
		for _, op := range slices.Sorted(maps.Keys(calls)) {
			part := fmt.Sprintf("%s %.1f", op, float64(calls[op])/float64(n))
			if d, ok := inMoto[op]; ok {
				part += fmt.Sprintf(" (moto %.0f ms)", float64(d.Milliseconds())/float64(n))
			}
			parts = append(parts, part)
		}
		fmt.Printf("%s: calls per record: %s\n", b.Name(), strings.Join(parts, ", "))
	}

	// The deployment the warm runs use. Its first run also migrates the
	// new table once, which a cold start in AWS does not do again.
	f := start(b, opts)
	invokeOK(b, f, []byte(`{}`))
	ctPublished(b, f)

	b.Run("one record cold", func(b *testing.B) {
		calls := map[string]int{}
		var spent time.Duration
		inMoto := map[string]time.Duration{}
		n := 0
		for b.Loop() {
			b.StopTimer()
			// A new execution environment on the migrated table.
			o := opts
			o.Env = map[string]string{"SNAPSHOT_TABLE": f.Table}
			f := start(b, o)
			id := fmt.Sprintf("cold-%d", n)
			f.Glue.Put(glueemu.Session{ID: id, Status: "PROVISIONING", CreatedOn: aws.Time(time.Now())})
			counter.take(f.Glue)
			b.StartTimer()
			began := time.Now()
			invokeOK(b, f, record(id))
			spent += time.Since(began)
			b.StopTimer()
			got, moto := counter.take(f.Glue)
			for op, c := range got {
				calls[op] += c
				inMoto[op] += moto[op]
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			n++
			b.StartTimer()
		}
		b.ReportMetric(float64(spent.Milliseconds())/float64(n), "ms/record")
		report(b, calls, inMoto, n)
	})

	b.Run("one record warm", func(b *testing.B) {
		calls := map[string]int{}
		inMoto := map[string]time.Duration{}
		n := 0
		for b.Loop() {
			b.StopTimer()
			id := fmt.Sprintf("warm-%d-%d", b.N, n)
			f.Glue.Put(glueemu.Session{ID: id, Status: "PROVISIONING", CreatedOn: aws.Time(time.Now())})
			counter.take(f.Glue)
			b.StartTimer()
			invokeOK(b, f, record(id))
			b.StopTimer()
			got, moto := counter.take(f.Glue)
			for op, c := range got {
				calls[op] += c
				inMoto[op] += moto[op]
			}
			n++
			b.StartTimer()
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(n), "ms/record")
		report(b, calls, inMoto, n)
		ctPublished(b, f)
	})

	b.Run("100 records one after another", func(b *testing.B) {
		const burst = 100
		for round := 0; b.Loop(); round++ {
			b.StopTimer()
			ids := make([]string, burst)
			for i := range ids {
				ids[i] = fmt.Sprintf("burst-%d-%03d", round, i)
				f.Glue.Put(glueemu.Session{ID: ids[i], Status: "PROVISIONING", CreatedOn: aws.Time(time.Now())})
			}
			counter.take(f.Glue)
			b.StartTimer()
			began := time.Now()
			var last time.Duration
			for _, id := range ids {
				invokeOK(b, f, record(id))
			}
			last = time.Since(began)
			b.StopTimer()
			calls, inMoto := counter.take(f.Glue)
			// Every one tracked and its first state published, none lost.
			events := ctPublished(b, f)
			announced := map[string]bool{}
			for _, e := range events {
				if e.Detail.PreviousStatus == nil && e.Detail.CreatedBy != nil && *e.Detail.CreatedBy == alice {
					announced[e.Detail.SessionID] = true
				}
			}
			for _, id := range ids {
				if !announced[id] {
					b.Fatalf("%s was not announced with its creator: %q", id, ctSummary(events))
				}
			}
			b.ReportMetric(last.Seconds(), "s/100-records")
			b.ReportMetric(float64(last.Milliseconds())/burst, "ms/record")
			report(b, calls, inMoto, burst)
			b.StartTimer()
		}
	})
}
