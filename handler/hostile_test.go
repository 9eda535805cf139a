package handler_test

// Hostile input and hostile data: payloads that must be rejected with a
// clear error and nothing done, payloads that look odd but are valid, Glue
// answers no sane service would give, and a scan of everything runs
// produced for secrets.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/internal/glueemu"
	"sessionwatch/state"
)

// maxErrorMessage bounds the message of a rejected invocation: it is the
// Lambda error's errorMessage and goes into a log line, so it must name the
// problem, not echo megabytes of payload.
const maxErrorMessage = 1024

// deep returns n nested JSON lists around "x".
func deep(n int) string {
	return strings.Repeat("[", n) + `"x"` + strings.Repeat("]", n)
}

// TestHostileInputRejected: every rejection README.md, Input, lists, and hostile
// payloads (megabytes, deep nesting, invalid UTF-8, 100,000 ids), go
// through Invoke as Lambda calls it: each is an *InputError whose message
// names the problem in a few lines, logged once, and nothing is read,
// written, fetched or published.
func TestHostileInputRejected(t *testing.T) {
	big := strings.Repeat("x", 5<<20)
	for _, tc := range []struct {
		name, payload string
		want          string // in the message
	}{
		// README.md's list.
		{"invalid JSON", `{"sessionIds": ["s-1"`, "not valid JSON"},
		{"not an object", `["s-1"]`, "must be a JSON object"},
		{"unknown field", `{"sessionID": ["s-1"]}`, `unknown field "sessionID"`},
		{"wrong type", `{"dryRun": "yes"}`, `"dryRun"`},
		{"empty id", `{"sessionIds": [""]}`, "empty"},
		{"id over 255 characters", `{"sessionIds": ["` + strings.Repeat("é", 256) + `"]}`, "255"},
		{"id with a control character", `{"track": ["s\u001b[31m"]}`, "control"},
		{"the registry's own key", `{"untrack": ["\u001fsessionwatch/registry"]}`, "control"},
		{"id in track and untrack", `{"track": ["s-1"], "untrack": ["s-1"]}`, "both"},
		// Hostile.
		{"5 MB unknown field name", `{"` + big + `": 1}`, "unknown field"},
		{"5 MB unknown field in an EventBridge event", `{"source": "aws.events", "detail-type": "Scheduled Event", "` + big + `": 1}`, "unknown field"},
		{"5 MB id", `{"sessionIds": ["` + big + `"]}`, "255"},
		{"5 MB of garbage", big, "not valid JSON"},
		{"5 MB string", `"` + big + `"`, "a string"},
		{"100,000 ids", `{"sessionIds": ` + idsJSON(manyIDs(100_000, "s-")...) + `}`, "at most 10000"},
		{"deeply nested value", `{"tags": ` + deep(100_000) + `}`, "not valid JSON"},
		{"nested field of the wrong type", `{"sessionIds": ` + deep(5000) + `}`, `"sessionIds"`},
		{"deeply nested unknown field", `{"x": ` + deep(5000) + `}`, "unknown field"},
		{"invalid UTF-8 in an id", "{\"sessionIds\": [\"s-\xc3\x28\"]}", "UTF-8"},
		{"invalid UTF-8 in a tag", "{\"tags\": {\"team\": \"\xff\xfe\"}}", "UTF-8"},
		{"invalid UTF-8 in a field name", "{\"\xed\xa0\x80\": 1}", "UTF-8"},
		{"NUL outside a string", "{\"dryRun\": true}\x00", "not valid JSON"},
		{"two objects", `{} {}`, "not valid JSON"},
		{"duplicate field of the wrong type", `{"dryRun": true, "dryRun": "no"}`, `"dryRun"`},
		{"dry run then a real run", `{"dryRun": true, "dryRun": false}`, `field "dryRun" given twice`},
		{"duplicate deep in an EventBridge detail", `{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {"a": ` + deep(5000) + `, "k": 1, "k": 2}}`, "given twice"},
		{"null tag value", `{"discover": true, "tags": {"team": null}}`, `"team"`},
		{"unpaired surrogate escape", `{"sessionIds": ["s-\ud800"]}`, "surrogate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTestbed(t, env("SESSION_IDS", "s-1"))
			tb.glue.put(bare("s-1", "READY"), nil)
			out, err := tb.h.Invoke(lambdaCtx(), []byte(tc.payload))
			var inputErr *handler.InputError
			if !errors.As(err, &inputErr) {
				t.Fatalf("got %s, %v; want an *InputError", out, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("message %.200q, want it to contain %q", msg, tc.want)
			}
			if len(msg) > maxErrorMessage || !utf8.ValidString(msg) {
				t.Errorf("message: %d bytes (valid UTF-8: %v), want a valid message of at most %d bytes: %.120q…",
					len(msg), utf8.ValidString(msg), maxErrorMessage, msg)
			}
			if out != nil {
				t.Errorf("output %s, want none", out)
			}
			if len(tb.dbCalls()) != 0 || tb.ebCalls() != 0 || tb.glue.totalGets() != 0 || len(tb.glue.lists) != 0 {
				t.Errorf("calls: DynamoDB %v, %d PutEvents, %d GetSession, %d ListSessions; want none",
					tb.dbCalls(), tb.ebCalls(), tb.glue.totalGets(), len(tb.glue.lists))
			}
			// Lambda logs the returned error (its message bounded above);
			// the handler writes nothing of its own.
			if lines := strings.Count(tb.logs.String(), "\n"); lines != 0 {
				t.Errorf("log: %d lines, want none (Lambda logs the error)", lines)
			}
		})
	}
}

// TestHostileInputAccepted: payloads that look odd but are valid are taken
// as they are: megabytes of whitespace, an EventBridge event with a huge
// and deep detail, duplicate ids (polled once), 10,000 ids of 255
// characters (2.5 MB).
func TestHostileInputAccepted(t *testing.T) {
	t.Run("megabytes of whitespace", func(t *testing.T) {
		tb := newTestbed(t)
		if _, err := tb.h.Invoke(lambdaCtx(), []byte(strings.Repeat(" \n\t", 2<<20)+"{}"+strings.Repeat("\r\n", 1<<20))); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("EventBridge event with a big deep detail", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "s-1"))
		tb.glue.put(bare("s-1", "READY"), nil)
		payload := `{"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {"a": ` + deep(5000) + `, "b": "` + strings.Repeat("y", 3<<20) + `"}}`
		out, err := tb.h.Invoke(lambdaCtx(), []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte(`"published":1`)) {
			t.Errorf("got %s, want the configured session polled", out)
		}
	})
	t.Run("duplicate ids", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", "a"))
		tb.glue.put(bare("a", "READY"), nil)
		tb.glue.put(bare("b", "READY"), nil)
		out, err := tb.h.Invoke(lambdaCtx(), []byte(`{"sessionIds": ["a", "b", "a", "b", "a"], "track": ["a", "a", "b"]}`))
		if err != nil {
			t.Fatal(err)
		}
		var res handler.Result
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		if res.Watched != 2 || res.Polled != 2 || tb.glue.getCalls("a") != 1 || tb.glue.getCalls("b") != 1 {
			t.Errorf("got %s with %v GetSession calls, want a and b each polled once", out, tb.glue.gets)
		}
		wantEvents(t, tb.events(t), "a#1 Glue Session State Change null->READY", "b#1 Glue Session State Change null->READY")
		if tracked := tb.registry(t); !slices.Equal(tracked, []string{"a", "b"}) {
			t.Errorf("registry: %q; want [a b]", tracked)
		}
	})
	t.Run("10,000 ids of 255 characters", func(t *testing.T) {
		ids := make([]string, handler.MaxRequestIDs)
		for i := range ids {
			ids[i] = fmt.Sprintf("%05d-%s", i, strings.Repeat("ü", 249))
		}
		payload := `{"dryRun": true, "sessionIds": ` + idsJSON(ids...) + `}`
		if len(payload) < 2<<20 {
			t.Fatalf("payload: %d bytes, want megabytes", len(payload))
		}
		tb := newTestbed(t)
		tb.glue.put(bare(ids[1234], "READY"), nil)
		res := tb.poll(t, context.Background(), mustParse(t, payload))
		if res.Polled != len(ids) || len(res.NotFound) != len(ids)-1 || res.Events == nil || len(*res.Events) != 1 {
			t.Errorf("got %d polled, %d not found, events %v; want all polled, one found", res.Polled, len(res.NotFound), res.Events)
		}
	})
}

func mustParse(t *testing.T, payload string) handler.Request {
	t.Helper()
	req, err := handler.ParseRequest([]byte(payload))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return req
}

// TestHostileSessionIDs: ids with spaces, leading and trailing blanks,
// accents (composed and decomposed: two different ids), CJK, emoji and
// symbols go through the real Glue client, moto's table and moto's
// EventBridge to a rule's target exactly as given.
func TestHostileSessionIDs(t *testing.T) {
	ids := []string{"my session", " lead", "trail ", "séance", "se\u0301ance", "日本語-ノート", "🙂 emoji", `q"uo\te/<&>`}
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute))
	for _, id := range ids {
		tb.emu.Put(emuSession(id, "READY"))
	}
	res := tb.mustInvoke(t, `{"track": `+idsJSON(ids...)+`}`)
	if res.Polled != len(ids) || res.Published != len(ids) || len(res.Errors) != 0 {
		t.Fatalf("got %+v, want %d polled and published", res, len(ids))
	}
	got := map[string]bool{}
	for _, e := range tb.received(t) {
		got[e.detail.SessionID] = true
		if want := "arn:aws:glue:us-east-1:123456789012:session/" + e.detail.SessionID; !slices.Equal(e.entry.Resources, []string{want}) {
			t.Errorf("resources: got %q, want %q", e.entry.Resources, want)
		}
	}
	snaps := tb.snapshots(t)
	for _, id := range ids {
		if !got[id] {
			t.Errorf("%q: no event delivered", id)
		}
		if s := snaps[id]; s == nil || s.Status != "READY" {
			t.Errorf("%q: snapshot %+v", id, s)
		}
	}
	if len(snaps) != len(ids) {
		t.Errorf("table: %d snapshots, want %d", len(snaps), len(ids))
	}
	if res := tb.mustInvoke(t, ""); res.Watched != len(ids) || res.Published != 0 {
		t.Errorf("quiet run over the registry: %+v", res)
	}
}

// secretArguments returns n DefaultArguments whose keys and values each
// hold a unique token (found by the scan even if the rest were escaped),
// with characters that JSON escapes, multi-byte characters and the shapes
// of real secrets around it.
func secretArguments(n int) (map[string]string, []string) {
	args := map[string]string{}
	var tokens []string
	shapes := []string{
		"AKIA%sEXAMPLE", "postgres://admin:%s@db.internal:5432/prod", `{"password": "%s"}`,
		"Bearer eyJ%s.payload.sig", "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----",
		"pässwört-日本-%s-🙂", "<script>%s</script>&amp;", "%s\u2028\t\\",
	}
	for i := range n {
		value := fmt.Sprintf("SWSECRETVALUE%03d", i)
		key := fmt.Sprintf("SWSECRETKEY%03d", i)
		args["--"+key] = fmt.Sprintf(shapes[i%len(shapes)], value)
		tokens = append(tokens, value, key)
	}
	return args, tokens
}

// The widest timestamps the SDK decodes faithfully (it holds them as int64
// nanoseconds since 1970).
var (
	farPast   = time.Date(1678, 6, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(2261, 6, 1, 0, 0, 0, 0, time.UTC)
)

// TestHostileGlueData: Glue answers no sane service would give, through
// the real Glue client: a 2,048-character error message of multi-byte
// characters, control characters and invalid UTF-8 in the description, an
// unknown status, no status, timestamps far in the past and the future, 75
// DefaultArguments full of secrets. No run panics or fails; every session
// gets its event, a valid, complete UTF-8 JSON detail within EventBridge's
// limit; what Glue sent is passed through (or left out, never invented);
// a quiet run stays quiet; no secret reaches an event, a log line or the
// table.
func TestHostileGlueData(t *testing.T) {
	var long strings.Builder
	for i := 0; utf8.RuneCountInString(long.String()) < 2048; i++ {
		long.WriteString([]string{"é", "日", "🙂", "ß", "\u2028", "€", "\"", "\\"}[i%8])
	}
	longErr := long.String()
	args, tokens := secretArguments(75)
	created := time.Date(2026, 11, 24, 11, 0, 0, 0, time.UTC)
	sessions := map[string]glueemu.Session{
		"s-long-error": {Status: "READY", ErrorMessage: longErr, CreatedOn: &created},
		"s-unknown":    {Status: "RESIZING"},
		"s-no-status":  {Description: "Glue said nothing of its status"},
		"s-secrets":    {Status: "READY", DefaultArguments: args, Role: "arn:aws:iam::123456789012:role/Glue"},
		"s-epoch":      {Status: "READY", CreatedOn: aws.Time(time.Unix(0, 0))},
		"s-far-past":   {Status: "READY", CreatedOn: aws.Time(farPast)},
		"s-far-future": {Status: "STOPPED", CreatedOn: &created, CompletedOn: aws.Time(farFuture)},
		"s-beyond-sdk": {Status: "READY", CreatedOn: aws.Time(time.Date(-50, 1, 1, 0, 0, 0, 0, time.UTC)), CompletedOn: aws.Time(time.Date(12026, 1, 1, 0, 0, 0, 0, time.UTC))},
	}
	ids := []string{"s-control"}
	for id := range sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	tb := newTestbed(t, glueEmulator(), env("SESSION_IDS", strings.Join(ids, ",")))
	for id, s := range sessions {
		s.ID = id
		tb.emu.Put(s)
	}
	// Invalid UTF-8 on the wire can only be sent raw.
	tb.emu.Put(glueemu.Session{ID: "s-control"})
	tb.emu.Inject(glueemu.Fault{SessionID: "s-control", Raw: `{"Session": {"Id": "s-control", "Status": "READY", "Description": "bell\u0007 nul\u0000 esc\u001b[31m del` +
		"\x7f sep\u2028\u2029 bad\xff\xfe bytes \xc3\x28 end" + `", "ErrorMessage": "err ` + "\xff" + ` end"}}`})

	res := pollNoPanic(t, tb, lambdaCtx())
	if res == nil {
		return
	}
	if len(res.Errors) != 0 || res.Polled != len(ids) {
		t.Errorf("result: %+v, want every session polled, no error", res)
	}
	byID := map[string][]event{}
	for _, e := range tb.events(t) {
		checkEntry(t, e.entry, tokens)
		byID[e.detail.SessionID] = append(byID[e.detail.SessionID], e)
	}
	for _, id := range ids {
		if len(byID[id]) == 0 {
			t.Errorf("%s: no event", id)
		}
	}

	t.Run("long multi-byte error message", func(t *testing.T) {
		evs := byID["s-long-error"]
		if len(evs) != 2 || aws.ToString(evs[1].detail.ErrorMessage) != longErr || evs[1].detail.Truncated {
			t.Fatalf("events %v, want the state change and the error with its whole message", evs)
		}
		s := tb.snapshot(t, "s-long-error")
		if len(s.ErrorMessage) > state.MaxStoredError+len("…") || !utf8.ValidString(s.ErrorMessage) || s.ErrorDigest == "" {
			t.Errorf("stored error: %d bytes, valid UTF-8 %v, digest %q; want it cut on a rune with the digest of the whole",
				len(s.ErrorMessage), utf8.ValidString(s.ErrorMessage), s.ErrorDigest)
		}
	})
	t.Run("control characters and invalid UTF-8", func(t *testing.T) {
		evs := byID["s-control"]
		if len(evs) != 2 {
			t.Fatalf("events %v, want a state change and an error", evs)
		}
		desc := aws.ToString(evs[0].detail.Session.Description)
		for _, want := range []string{"bell\a", "nul\x00", "esc\x1b[31m", "del\x7f", "sep\u2028\u2029", "bad\ufffd\ufffd", "bytes \ufffd( end"} {
			if !strings.Contains(desc, want) {
				t.Errorf("description %q, want it to hold %q", desc, want)
			}
		}
		if got := aws.ToString(evs[1].detail.ErrorMessage); got != "err \ufffd end" {
			t.Errorf("errorMessage %q, want the invalid byte replaced", got)
		}
	})
	t.Run("unknown status", func(t *testing.T) {
		evs := byID["s-unknown"]
		if len(evs) != 1 || orNull(evs[0].detail.Status) != "RESIZING" || evs[0].detail.Severity != "INFO" {
			t.Errorf("events %v, want RESIZING passed through, INFO", evs)
		}
	})
	t.Run("no status", func(t *testing.T) {
		evs := byID["s-no-status"]
		if len(evs) != 1 {
			t.Fatalf("events %v, want one", evs)
		}
		if v, ok := evs[0].fields["status"]; !ok || v != nil {
			t.Errorf("status: %#v (present %v), want null, never \"\"", v, ok)
		}
		if s := tb.snapshot(t, "s-no-status"); s == nil || s.Status != "" {
			t.Errorf("snapshot %+v, want one with no status", s)
		}
	})
	t.Run("timestamps far in the past and the future", func(t *testing.T) {
		for _, tc := range []struct {
			id, field string
			want      time.Time
		}{
			{"s-epoch", "createdOn", time.Unix(0, 0)},
			{"s-far-past", "createdOn", farPast},
			{"s-far-future", "completedOn", farFuture},
		} {
			evs := byID[tc.id]
			if len(evs) != 1 {
				t.Errorf("%s: events %v, want one", tc.id, evs)
				continue
			}
			sess, _ := evs[0].fields["session"].(map[string]any)
			v, ok := sess[tc.field]
			if !ok {
				continue // left out: RFC 3339 has no such year
			}
			s, _ := v.(string)
			if got, err := time.Parse(time.RFC3339Nano, s); err != nil || !got.Equal(tc.want) {
				t.Errorf("%s: %s %v, want %v or nothing", tc.id, tc.field, v, tc.want)
			}
		}
		if s := tb.snapshot(t, "s-far-future"); s == nil || s.ExpiresAt != farFuture.Add(30*24*time.Hour).Unix() {
			t.Errorf("s-far-future: snapshot %+v, want it to expire RETENTION_DAYS after CompletedOn", s)
		}
		// Beyond 1677-2262 the SDK itself wraps the epoch seconds Glue sent
		// (int64 nanoseconds): sessionwatch never sees the real value. The
		// run must still publish the session.
		if evs := byID["s-beyond-sdk"]; len(evs) == 1 {
			t.Logf("s-beyond-sdk: Glue sent years -50 and 12026, the SDK gave %v", evs[0].fields["session"])
		}
	})

	// A second run, with Glue answering the same: nothing changed.
	tb.reset()
	tb.advance(time.Minute)
	tb.emu.Inject(glueemu.Fault{SessionID: "s-control", Raw: `{"Session": {"Id": "s-control", "Status": "READY", "ErrorMessage": "err ` + "\xff" + ` end"}}`})
	if res := pollNoPanic(t, tb, lambdaCtx()); res != nil && (res.Published != 0 || tb.writes() != 0) {
		t.Errorf("quiet run: %+v, %d writes; want nothing (the long error and the replaced bytes compare equal)", res, tb.writes())
	}

	for id, item := range tb.items(t) {
		var v any
		if err := attributevalue.UnmarshalMap(item, &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		scanSecrets(t, "table item "+id, string(b), tokens)
	}
	scanSecrets(t, "the log", tb.logs.String(), tokens)
}

// pollNoPanic runs one poll and turns a panic into a test failure, so that
// one hostile answer cannot take the whole test binary down.
func pollNoPanic(t *testing.T, tb *testbed, ctx context.Context) (res *handler.Result) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("the run panicked: %v", p)
			res = nil
		}
	}()
	res, err := tb.h.Poll(ctx, handler.Request{})
	if err != nil {
		t.Errorf("poll: %v", err)
	}
	return res
}

// checkEntry checks what every entry must be: a JSON object detail, valid
// UTF-8, within EventBridge's size limit, with a 32-hex-digit eventId and
// no secret.
func checkEntry(t *testing.T, en ebtypes.PutEventsRequestEntry, secrets []string) {
	t.Helper()
	detail := aws.ToString(en.Detail)
	var d map[string]any
	if err := json.Unmarshal([]byte(detail), &d); err != nil {
		t.Errorf("detail is not a JSON object: %v", err)
	}
	if !utf8.ValidString(detail) {
		t.Errorf("detail is not valid UTF-8")
	}
	if size := fakeaws.EntrySize(en); size > fakeaws.MaxRequestSize {
		t.Errorf("entry: %d bytes, over %d", size, fakeaws.MaxRequestSize)
	}
	if id, _ := d["eventId"].(string); !eventIDRe.MatchString(id) {
		t.Errorf("eventId %q, want 32 hex digits", id)
	}
	b, _ := json.Marshal(en)
	scanSecrets(t, "entry", string(b), secrets)
}

// scanSecrets fails for every secret found in text, and for any mention of
// DefaultArguments.
func scanSecrets(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	lower := strings.ToLower(text)
	for _, s := range append(slices.Clone(secrets), "defaultarguments", "default_arguments") {
		if strings.Contains(lower, strings.ToLower(s)) {
			t.Errorf("%s holds the secret %q", what, s)
		}
	}
}

// TestHostileSecretScan: runs that go through every path (dry run, Glue
// failures, an EventBridge outage keeping events in the table, the
// recovery, a throttled write, track and untrack, a rejected payload) over
// the real wire, with 75 secret DefaultArguments per session and
// distinctive AWS credentials; then everything they produced is scanned:
// every entry sent to EventBridge, every log line (each valid JSON), every
// table item, every result and every error message.
func TestHostileSecretScan(t *testing.T) {
	args, tokens := secretArguments(75)
	tokens = append(tokens, wireSecret, wireKeyID)
	ids := []string{"s-1", "s-2", "s-3", "s-4"}
	tb := newTestbed(t, viaFaultProxy(), ruleMatching(noMatch), glueEmulator(), env("SESSION_IDS", strings.Join(ids, ",")))
	for i, id := range ids {
		s := emuSession(id, "READY")
		s.DefaultArguments = args
		if i == 1 {
			s.Status, s.ErrorMessage = "FAILED", "job failed: see the driver log"
		}
		tb.emu.Put(s)
	}
	var produced []string // results and error messages
	run := func(payload string) {
		out, err := tb.h.Invoke(lambdaCtx(), []byte(payload))
		tb.advance(time.Minute)
		produced = append(produced, string(out))
		if err != nil {
			produced = append(produced, err.Error())
		}
	}

	run(`{"dryRun": true}`)
	tb.emu.Inject(glueemu.Fault{SessionID: "s-3", Code: "AccessDeniedException", Message: "User is not authorized to perform: glue:GetSession"})
	tb.emu.Inject(glueemu.Fault{SessionID: "s-4", Raw: `{"Session": {"Id": "s-4", "DefaultArguments": {"--k": "SWSECRETVALUE000"}, "Status": `})
	tb.proxy.inject(wireFault{Op: "PutEvents", Status: http.StatusInternalServerError, Code: "InternalException", Message: "down"})
	run(`{}`) // everything kept in the table
	tb.proxy.clear()
	tb.emu.ClearFaults()
	tb.emu.Update("s-1", func(s *glueemu.Session) { s.Status = "STOPPING" })
	tb.proxy.inject(wireFault{Op: "PutItem", Status: http.StatusBadRequest, Code: "ProvisionedThroughputExceededException", Message: "slow down",
		Match: func(b []byte) bool { return bytes.Contains(b, []byte(`"s-1"`)) }})
	run(`{"track": ["s-5"]}`)
	tb.proxy.clear()
	run(`{"untrack": ["s-5"], "sessionIds": ["s-404"]}`)
	run(`{"sessionIds": ["bad\u0000id"]}`) // rejected
	run(``)

	sent := tb.attempts(t)
	if len(sent) < 8 {
		t.Fatalf("%d entries sent, want the runs to have published", len(sent))
	}
	for _, e := range sent {
		checkEntry(t, e.entry, tokens)
	}
	for _, item := range tb.items(t) {
		var v any
		if err := attributevalue.UnmarshalMap(item, &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		scanSecrets(t, "table item", string(b), tokens)
	}
	for i, p := range produced {
		scanSecrets(t, fmt.Sprintf("result or error %d", i), p, tokens)
	}
	logs := tb.logs.String()
	for i, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line %d is not JSON: %.200s", i, line)
		}
	}
	if !strings.Contains(logs, "s-3") || !strings.Contains(logs, "run complete") {
		t.Errorf("log: want the failures and the summaries, got %.500s", logs)
	}
	scanSecrets(t, "the log", logs, tokens)
}

// TestHostileMalformedArguments: Glue answers DefaultArguments as a
// string instead of an object, to GetSession and to ListSessions, with a
// secret in it. The SDK refuses the answer and quotes the value it choked
// on in its error; the run must report each failure by operation, HTTP
// status and request id, in the response's errors and in the log, and
// never by what the SDK quoted.
func TestHostileMalformedArguments(t *testing.T) {
	const planted = "SWPLANTEDSECRET-db-password-0451"
	tb := newTestbed(t, glueEmulator(), env("SESSION_IDS", "s-get"), env("DISCOVER", "true"))
	tb.emu.Put(emuBare("s-get", "READY"))
	tb.emu.Inject(glueemu.Fault{SessionID: "s-get", Raw: `{"Session": {"Id": "s-get", "Status": "READY", "DefaultArguments": "--db-password=` + planted + `"}}`})
	tb.emu.Inject(glueemu.Fault{Operation: "ListSessions", Page: 1, Raw: `{"Ids": ["d-1"], "Sessions": [{"Id": "d-1", "Status": "READY", "DefaultArguments": "--db-password=` + planted + `"}]}`})

	out, err := tb.h.Invoke(lambdaCtx(), []byte(`{}`))
	if err != nil {
		t.Fatalf("invoke: %v, want a run that reports the two failures", err)
	}
	var res handler.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, out)
	}
	got := map[string]string{}
	for _, e := range res.Errors {
		got[e.SessionID] = e.Error
	}
	for id, want := range map[string][]string{
		"s-get": {"GetSession", "malformed", "request id glueemu-"},
		"":      {"ListSessions", "malformed", "request id glueemu-", "page 1"},
	} {
		msg, ok := got[id]
		if !ok {
			t.Errorf("errors %+v: none for %q", res.Errors, id)
			continue
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("error of %q: %q, want it to name %q", id, msg, w)
			}
		}
	}
	for what, text := range map[string]string{"the response": string(out), "the log": tb.logs.String()} {
		for _, leak := range []string{planted, "--db-password", "expected '{'"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s holds %q: %.600s", what, leak, text)
			}
		}
	}
	if !strings.Contains(tb.logs.String(), `"sessionId":"s-get"`) {
		t.Errorf("log: no line for s-get: %.600s", tb.logs.String())
	}
}

// TestHostileMalformedArgumentsCloudTrail: the same malformed answer, a
// DefaultArguments string holding a secret, to the GetSession of a
// CreateSession record's run. That run fails (only the record names the
// creator, so Lambda must deliver it again), and its error is what Lambda
// reports and logs: it must name the operation and say the answer was
// malformed, and neither it, the response nor the log may hold what the
// SDK quoted.
func TestHostileMalformedArgumentsCloudTrail(t *testing.T) {
	const planted = "SWPLANTEDSECRET-db-password-0452"
	tb := newTestbed(t, glueEmulator())
	tb.emu.Put(emuBare(sampleID, "PROVISIONING"))
	tb.emu.Inject(glueemu.Fault{SessionID: sampleID, Raw: `{"Session": {"Id": "` + sampleID + `", "Status": "PROVISIONING", "DefaultArguments": "--db-password=` + planted + `"}}`})

	out, err := tb.h.Invoke(lambdaCtx(), []byte(record(t, "cloudtrail-create-session", nil)))
	if err == nil {
		t.Fatalf("invoke: %s, want the record's run to fail (its session could not be read)", out)
	}
	for _, w := range []string{sampleID, "GetSession", "malformed answer", "request id glueemu-"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("run error %q: want it to name %q", err, w)
		}
	}
	for what, text := range map[string]string{"the run's error": err.Error(), "the response": string(out), "the log": tb.logs.String()} {
		for _, leak := range []string{planted, "--db-password", "expected '{'"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s holds %q: %.600s", what, leak, text)
			}
		}
	}
	if logs := tb.logs.String(); !strings.Contains(logs, `"msg":"session failed"`) || !strings.Contains(logs, `"sessionId":"`+sampleID+`"`) {
		t.Errorf("log: want the session's failure: %.600s", logs)
	}
}

// maxLambdaResponse is Lambda's limit on a synchronous invocation's
// response, 6 MB (counted here as 6,000,000 bytes, the smaller reading).
const maxLambdaResponse = 6_000_000

// longIDs returns n distinct ids of 255 characters, in order.
func longIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%06d-", i) + strings.Repeat("x", 248)
	}
	return ids
}

// TestHostileResponseSize: runs whose lists would make the response
// bigger than Lambda's 6 MB (100,000 ids of 255 characters not found,
// skipped at the deadline, failing; 30,000 whose idle check is denied; a
// dry run over events of 200 KB): what
// Invoke returns is valid JSON under 6 MB, each cut list is the head of
// the full one, and its full length is beside it as <list>Total; a list
// that was not cut has no Total.
func TestHostileResponseSize(t *testing.T) {
	ids := longIDs(100_000)
	check := func(t *testing.T, out []byte, cut map[string]int) map[string]json.RawMessage {
		t.Helper()
		if len(out) >= maxLambdaResponse || !json.Valid(out) {
			t.Fatalf("response: %d bytes, valid JSON %v; want valid JSON under %d", len(out), json.Valid(out), maxLambdaResponse)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(out, &fields); err != nil {
			t.Fatal(err)
		}
		for _, list := range []string{"notFound", "skipped", "errors", "idleUnchecked", "events"} {
			total, wantCut := cut[list]
			var items []json.RawMessage
			_ = json.Unmarshal(fields[list], &items)
			gotTotal, hasTotal := fields[list+"Total"]
			switch {
			case wantCut && (!hasTotal || string(gotTotal) != fmt.Sprint(total) || len(items) == 0 || len(items) >= total):
				t.Errorf("%s: %d items, %sTotal %s; want a cut list of some items and %sTotal %d", list, len(items), list, gotTotal, list, total)
			case !wantCut && hasTotal:
				t.Errorf("%s: %d items and %sTotal %s; want no Total for a list that was not cut", list, len(items), list, gotTotal)
			}
		}
		return fields
	}
	heads := func(t *testing.T, raw json.RawMessage, want []string) {
		t.Helper()
		var got []string
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want[:len(got)]) {
			t.Errorf("cut list is not the head of the full one")
		}
	}

	t.Run("100,000 unknown ids", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids, ",")))
		out, err := tb.h.Invoke(lambdaCtx(), []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		fields := check(t, out, map[string]int{"notFound": len(ids)})
		heads(t, fields["notFound"], ids)
	})
	t.Run("100,000 ids skipped at the deadline", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids, ",")))
		ctx, cancel := context.WithTimeout(lambdaCtx(), time.Second) // inside the reserve: no Glue call starts
		defer cancel()
		out, err := tb.h.Invoke(ctx, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		check(t, out, map[string]int{"skipped": len(ids)})
	})
	t.Run("50,000 failing and 50,000 unknown", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids, ",")))
		tb.glue.getErr = func(id string) error {
			if id[5]%2 == 0 {
				return &gluetypes.AccessDeniedException{Message: aws.String("User is not authorized to perform glue:GetSession on " + id)}
			}
			return nil
		}
		out, err := tb.h.Invoke(lambdaCtx(), []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		fields := check(t, out, map[string]int{"notFound": len(ids) / 2, "errors": len(ids) / 2})
		if len(fields["notFound"]) < maxLambdaResponse/4 || len(fields["errors"]) < maxLambdaResponse/4 {
			t.Errorf("notFound %d bytes, errors %d bytes: want the room shared between them", len(fields["notFound"]), len(fields["errors"]))
		}
	})
	t.Run("30,000 READY sessions whose idle check is denied", func(t *testing.T) {
		// 30,000 ids of 255 characters are 7.7 MB in idleUnchecked alone:
		// over the limit unless that list is cut. A dry run, so that the
		// 30,000 first sightings are listed (and cut) rather than sent.
		many := ids[:30_000]
		tb := newTestbed(t, env("SESSION_IDS", strings.Join(many, ",")), env("IDLE_MINUTES", "30"))
		for _, id := range many {
			tb.glue.put(bare(id, "READY"), nil)
		}
		tb.glue.statementsErr = func(string, int) error {
			return &gluetypes.AccessDeniedException{Message: aws.String("not authorized by the project's tags")}
		}
		out, err := tb.h.Invoke(lambdaCtx(), []byte(`{"dryRun": true}`))
		if err != nil {
			t.Fatal(err)
		}
		fields := check(t, out, map[string]int{"idleUnchecked": len(many), "events": len(many)})
		var kept []string
		if err := json.Unmarshal(fields["idleUnchecked"], &kept); err != nil {
			t.Fatal(err)
		}
		if len(kept) < len(many)/10 || len(slices.Compact(slices.Sorted(slices.Values(kept)))) != len(kept) {
			t.Errorf("idleUnchecked keeps %d ids (distinct: %d); want a share of the room, each id once", len(kept), len(slices.Compact(slices.Sorted(slices.Values(kept)))))
		}
		for _, id := range kept {
			if _, found := slices.BinarySearch(many, id); !found {
				t.Fatalf("idleUnchecked holds %.20q…, not one of the sessions", id)
			}
		}
		if !bytes.Contains(out, []byte(`"errors":[]`)) {
			t.Errorf("errors not empty: a denied idle check is counted apart from errors")
		}
	})
	t.Run("dry run over 40 events of 200 KB", func(t *testing.T) {
		few := manyIDs(40, "s-")
		tb := newTestbed(t, env("SESSION_IDS", strings.Join(few, ",")))
		for _, id := range few {
			s := bare(id, "READY")
			s.Description = aws.String(strings.Repeat("d", 200_000))
			tb.glue.put(s, nil)
		}
		out, err := tb.h.Invoke(lambdaCtx(), []byte(`{"dryRun": true}`))
		if err != nil {
			t.Fatal(err)
		}
		check(t, out, map[string]int{"events": len(few)})
	})
	t.Run("a small response is whole", func(t *testing.T) {
		tb := newTestbed(t, env("SESSION_IDS", strings.Join(ids[:10], ",")))
		out, err := tb.h.Invoke(lambdaCtx(), []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		fields := check(t, out, nil)
		heads(t, fields["notFound"], ids[:10])
		if !bytes.Contains(out, []byte(ids[9])) {
			t.Errorf("response lacks the last id")
		}
	})
}
