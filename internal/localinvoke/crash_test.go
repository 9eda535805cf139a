package localinvoke_test

// Real crashes: the bootstrap is SIGKILLed under the Runtime Interface
// Emulator at each point between fetching, publishing and saving. A proxy
// in front of moto sees every DynamoDB and EventBridge call the function
// makes and pulls the trigger at the chosen one. The next run must deliver
// every change, with the same eventIds.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sessionwatch/internal/glueemu"
	"sessionwatch/internal/localinvoke"
	"sessionwatch/internal/schematest"
)

// killer forwards to moto; when armed, it SIGKILLs the function's
// bootstrap at the first request whose X-Amz-Target is target (and whose
// body contains with, when set), before forwarding it or (after) once moto
// has answered it. While eventBridgeDown is set it answers every PutEvents
// with a 500, as an EventBridge outage would.
type killer struct {
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	f     *localinvoke.Function
	// target, with and after say where to kill; fired is set once it has.
	target          string
	with            string
	after           bool
	fired           bool
	eventBridgeDown bool
}

// The keys of the table's own items start with \x1f, which JSON writes as
// \u001f: a snapshot write is a PutItem without it, an outbox write one
// with the outbox's key.
const (
	outboxKey   = `sessionwatch/outbox/`
	ownItemKey  = `\u001f`
	putEvents   = "AWSEvents.PutEvents"
	putItem     = "DynamoDB_20120810.PutItem"
	deleteItem  = "DynamoDB_20120810.DeleteItem"
	query       = "DynamoDB_20120810.Query"
	batchGet    = "DynamoDB_20120810.BatchGetItem"
	notOwnItems = "!" + ownItemKey
)

func (k *killer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	k.mu.Lock()
	hit := k.f != nil && !k.fired && r.Header.Get("X-Amz-Target") == k.target && contains(body, k.with)
	if hit {
		k.fired = true
	}
	down := k.eventBridgeDown && r.Header.Get("X-Amz-Target") == putEvents
	k.mu.Unlock()
	if down && !hit {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"__type":"InternalException","message":"EventBridge is down"}`))
		return
	}
	if hit && !k.after {
		k.kill()
		http.Error(w, "killed", http.StatusBadGateway)
		return
	}
	if !hit {
		k.proxy.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	k.proxy.ServeHTTP(rec, r)
	k.kill() // moto has done the work; the function never hears of it
	http.Error(w, "killed", http.StatusBadGateway)
}

// contains tells whether body holds with ("!x": does not hold x; "": any
// body).
func contains(body []byte, with string) bool {
	if not, ok := strings.CutPrefix(with, "!"); ok {
		return !bytes.Contains(body, []byte(not))
	}
	return bytes.Contains(body, []byte(with))
}

func (k *killer) setEventBridgeDown(down bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.eventBridgeDown = down
}

// hasFired reports whether the trigger was pulled. The function's calls
// reach ServeHTTP from another process, so the race detector sees no order
// between its write and the test's read unless both hold mu.
func (k *killer) hasFired() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fired
}

func (k *killer) kill() {
	for _, pid := range k.f.RuntimePIDs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// crashEvent is the part of a delivered event the crash tests compare.
type crashEvent struct {
	Detail struct {
		EventID   string  `json:"eventId"`
		SessionID string  `json:"sessionId"`
		Sequence  int     `json:"sequence"`
		Status    *string `json:"status"`
	} `json:"detail"`
	DetailType string `json:"detail-type"`
}

func (p crashEvent) change() string {
	status := "null"
	if p.Detail.Status != nil {
		status = *p.Detail.Status
	}
	return fmt.Sprintf("%s#%d %s %s", p.Detail.SessionID, p.Detail.Sequence, p.DetailType, status)
}

// wantDelivered checks that the bus received exactly the changes want
// (each at least once), each under one eventId.
func wantDelivered(t *testing.T, f *localinvoke.Function, want ...string) {
	t.Helper()
	raws, err := f.Published(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]map[string]bool{}
	for _, raw := range raws {
		if err := schematest.Delivered(raw); err != nil {
			t.Error(err)
		}
		var e crashEvent
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		if ids[e.change()] == nil {
			ids[e.change()] = map[string]bool{}
		}
		ids[e.change()][e.Detail.EventID] = true
	}
	var got []string
	for change, set := range ids {
		got = append(got, change)
		if len(set) != 1 {
			t.Errorf("%s delivered with %d eventIds, want 1", change, len(set))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("changes delivered:\n got %q\nwant %q", got, want)
	}
	t.Logf("%d deliveries of %d changes", len(raws), len(got))
}

func TestCrashAtEachPoint(t *testing.T) {
	points := []struct {
		name, target, with string
		after              bool
	}{
		{"while reading the registry and the outbox", query, "", false},
		{"while loading snapshots", batchGet, "", false},
		{"before publishing", putEvents, "", false},
		{"after publishing, before the answer", putEvents, "", true},
		{"after publishing, before saving", putItem, notOwnItems, false},
		{"after the first save", putItem, notOwnItems, true},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			opts := setup(t)
			target, err := url.Parse(opts.MotoEndpoint)
			if err != nil {
				t.Fatal(err)
			}
			rp := httputil.NewSingleHostReverseProxy(target)
			rp.ErrorLog = log.New(io.Discard, "", 0) // the killed function hangs up mid-call
			k := &killer{proxy: rp, target: p.target, with: p.with, after: p.after}
			proxy := httptest.NewServer(k)
			defer proxy.Close()
			opts.MotoEndpoint = proxy.URL
			opts.Sessions = []glueemu.Session{
				{ID: "c-1", Status: "READY"},
				{ID: "c-2", Status: "READY"},
				{ID: "c-3", Status: "READY", ErrorMessage: "executor lost"},
			}
			opts.Env = map[string]string{"SESSION_IDS": "c-1,c-2,c-3", "MAX_CONCURRENCY": "1"}
			f, err := localinvoke.Start(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx := t.Context()

			// Run 1 sees every session for the first time (4 events); it
			// is killed at the chosen point.
			k.mu.Lock()
			k.f = f
			k.mu.Unlock()
			body, err := f.Invoke(ctx, nil)
			if !k.hasFired() {
				t.Fatalf("the kill point was never reached: %s %v", body, err)
			}
			if err == nil {
				t.Fatalf("killed run answered %s, want a Runtime.ExitError", body)
			}
			// Run 2, after a restart, must deliver everything.
			if _, err = f.Invoke(ctx, nil); err != nil {
				t.Fatalf("run after the crash: %v", err)
			}
			// Run 3 must find nothing left to do.
			body, err = f.Invoke(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var res struct{ Published, Changed int }
			if err := json.Unmarshal(body, &res); err != nil || res.Published != 0 || res.Changed != 0 {
				t.Errorf("third run: %s, want nothing to do", body)
			}

			wantDelivered(t, f,
				"c-1#1 Glue Session State Change READY",
				"c-2#1 Glue Session State Change READY",
				"c-3#1 Glue Session State Change READY",
				"c-3#2 Glue Session Error READY")
		})
	}
}

// TestDeadlineUnderRIE gives the function too little time
// (AWS_LAMBDA_FUNCTION_TIMEOUT 4 s, slow Glue answers, one call at a time):
// the run stops starting Glue calls before the deadline, saves what it
// finished and answers with the rest in skipped; the next runs poll the
// skipped sessions first, until every session is covered.
func TestDeadlineUnderRIE(t *testing.T) {
	opts := setup(t)
	ids := []string{"d-1", "d-2", "d-3", "d-4", "d-5", "d-6"}
	for _, id := range ids {
		opts.Sessions = append(opts.Sessions, glueemu.Session{ID: id, Status: "READY"})
	}
	opts.Env = map[string]string{"SESSION_IDS": strings.Join(ids, ","), "MAX_CONCURRENCY": "1"}
	// Room enough on a loaded machine: 3 s before the reserve for the
	// loads and some GetSession calls of 800 ms, one at a time, never all
	// six.
	opts.Timeout = 6 * time.Second
	f, err := localinvoke.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Glue.SetLatency(800 * time.Millisecond)

	var skipped []string // by the run before
	for run := 1; run <= 2; run++ {
		start := time.Now()
		body, err := f.Invoke(t.Context(), nil)
		if err != nil {
			t.Fatalf("run %d: %v (the deadline must not be hit)", run, err)
		}
		var res struct {
			Polled  int
			Skipped []string
		}
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d in %v: %s", run, time.Since(start).Round(time.Millisecond), body)
		if res.Polled == 0 || len(res.Skipped) == 0 || res.Polled+len(res.Skipped) != len(ids) {
			t.Errorf("run %d: %s, want some polled and the rest skipped", run, body)
		}
		if run == 2 {
			// The second run starts with what the first skipped: every
			// session it polled was one of those, as far as they go.
			fromSkipped := 0
			for _, id := range skipped {
				if !slices.Contains(res.Skipped, id) {
					fromSkipped++
				}
			}
			if want := min(res.Polled, len(skipped)); fromSkipped != want {
				t.Errorf("run 2 polled %d of the %d sessions run 1 skipped, want %d: %s", fromSkipped, len(skipped), want, body)
			}
		}
		skipped = res.Skipped
	}
	f.Glue.SetLatency(0)
	body, err := f.Invoke(t.Context(), nil)
	if err != nil || !strings.Contains(string(body), `"skipped":[]`) {
		t.Fatalf("run with fast answers: %s %v", body, err)
	}
	raws, err := f.Published(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(raws) != len(ids) {
		t.Errorf("published %d events over the runs, want one first sighting for each of %d sessions", len(raws), len(ids))
	}
}

// TestCrashWithOutbox: real crashes around the outbox. EventBridge is
// down for the first run, so its events go to the outbox; the bootstrap is
// SIGKILLed after an event is kept but before its session's snapshot is
// saved, or once the outbox's events are published but before they are
// taken out of it. Every change still reaches the bus, each with one
// eventId; the outbox ends empty and the last run is quiet.
func TestCrashWithOutbox(t *testing.T) {
	points := []struct {
		name, target, with string
		after              bool
		// killedRun is the run the kill is armed for: 1, during the
		// outage, or 2, the first one EventBridge answers.
		killedRun int
	}{
		{"after keeping an event, before saving its snapshot", putItem, outboxKey, true, 1},
		{"after publishing the outbox, before taking its events out", deleteItem, outboxKey, false, 2},
		{"after taking the first event out of the outbox", deleteItem, outboxKey, true, 2},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			opts := setup(t)
			target, err := url.Parse(opts.MotoEndpoint)
			if err != nil {
				t.Fatal(err)
			}
			rp := httputil.NewSingleHostReverseProxy(target)
			rp.ErrorLog = log.New(io.Discard, "", 0)
			k := &killer{proxy: rp, target: p.target, with: p.with, after: p.after}
			proxy := httptest.NewServer(k)
			defer proxy.Close()
			opts.MotoEndpoint = proxy.URL
			opts.Sessions = []glueemu.Session{
				{ID: "o-1", Status: "READY"},
				{ID: "o-2", Status: "READY", ErrorMessage: "executor lost"},
			}
			opts.Env = map[string]string{"SESSION_IDS": "o-1,o-2", "MAX_CONCURRENCY": "1"}
			f, err := localinvoke.Start(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx := t.Context()
			arm := func() {
				k.mu.Lock()
				k.f = f
				k.mu.Unlock()
			}

			k.setEventBridgeDown(true)
			if p.killedRun == 1 {
				arm()
			}
			if body, err := f.Invoke(ctx, nil); err == nil {
				t.Fatalf("run during the outage answered %s, want a failure", body)
			}
			k.setEventBridgeDown(false)
			if p.killedRun == 2 {
				arm()
				if body, err := f.Invoke(ctx, nil); err == nil {
					t.Fatalf("killed run answered %s, want a Runtime.ExitError", body)
				}
			}
			if !k.hasFired() {
				t.Fatal("the kill point was never reached")
			}
			if _, err := f.Invoke(ctx, nil); err != nil {
				t.Fatalf("run after the crash: %v", err)
			}
			body, err := f.Invoke(ctx, nil)
			var res struct{ Published, Pending, Changed int }
			if err != nil || json.Unmarshal(body, &res) != nil || res.Published != 0 || res.Pending != 0 || res.Changed != 0 {
				t.Errorf("last run: %s %v, want nothing left to do", body, err)
			}

			wantDelivered(t, f,
				"o-1#1 Glue Session State Change READY",
				"o-2#1 Glue Session State Change READY",
				"o-2#2 Glue Session Error READY")
		})
	}
}
