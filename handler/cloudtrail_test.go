package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"

	"sessionwatch/handler"
	"sessionwatch/internal/glueemu"
	"sessionwatch/state"
)

// The session and the creator of the sample records in events/.
const (
	sampleID = "data-eng-notebook-7"
	alice    = "arn:aws:sts::123456789012:assumed-role/DataEngineer/alice"
	bob      = "arn:aws:iam::123456789012:user/bob"
)

// record is the sample CloudTrail record events/<name>.json as a payload,
// with change applied to its detail first (nil: as it is).
func record(t *testing.T, name string, change func(detail map[string]any)) string {
	t.Helper()
	raw, err := os.ReadFile("../events/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if change == nil {
		return string(raw)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	change(ev["detail"].(map[string]any))
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// reduced is a sample record as the template's input transformer hands it
// to the function: the envelope, and of the detail only the fields
// sessionwatch reads, a field the record lacks being null.
func reduced(t *testing.T, name string) string {
	t.Helper()
	return record(t, name, func(d map[string]any) {
		get := func(path ...string) any {
			var v any = d
			for _, p := range path {
				m, _ := v.(map[string]any)
				v = m[p]
			}
			return v
		}
		kept := map[string]any{
			"eventSource":       get("eventSource"),
			"eventName":         get("eventName"),
			"errorCode":         get("errorCode"),
			"userIdentity":      map[string]any{"arn": get("userIdentity", "arn")},
			"requestParameters": map[string]any{"id": get("requestParameters", "id")},
			"responseElements":  map[string]any{"session": map[string]any{"id": get("responseElements", "session", "id")}},
		}
		clear(d)
		for k, v := range kept {
			d[k] = v
		}
	})
}

// withCreator sets the caller of a record.
func withCreator(arn string) func(map[string]any) {
	return func(d map[string]any) { d["userIdentity"].(map[string]any)["arn"] = arn }
}

func TestParseCloudTrailRecord(t *testing.T) {
	create := handler.CloudTrailCall{EventName: handler.CallCreateSession, SessionID: sampleID, CreatedBy: alice}
	stop := handler.CloudTrailCall{EventName: handler.CallStopSession, SessionID: sampleID}
	del := handler.CloudTrailCall{EventName: handler.CallDeleteSession, SessionID: sampleID}
	failed := handler.CloudTrailCall{EventName: handler.CallCreateSession, Failed: true, ErrorCode: "AccessDeniedException"}
	for _, tc := range []struct {
		name    string
		payload string
		want    handler.CloudTrailCall
	}{
		{"CreateSession", record(t, "cloudtrail-create-session", nil), create},
		{"StopSession", record(t, "cloudtrail-stop-session", nil), stop},
		{"DeleteSession", record(t, "cloudtrail-delete-session", nil), del},
		{"failed CreateSession", record(t, "cloudtrail-create-session-failed", nil), failed},
		{"reduced CreateSession", reduced(t, "cloudtrail-create-session"), create},
		{"reduced StopSession", reduced(t, "cloudtrail-stop-session"), stop},
		{"reduced DeleteSession", reduced(t, "cloudtrail-delete-session"), del},
		{"reduced failed CreateSession", reduced(t, "cloudtrail-create-session-failed"), failed},
		{"reduced StopSession without responseElements", record(t, "cloudtrail-stop-session", func(d map[string]any) {
			for k := range d {
				if k != "eventName" && k != "requestParameters" {
					delete(d, k)
				}
			}
		}), stop},
		{"fields sessionwatch does not read, at every depth", record(t, "cloudtrail-create-session", func(d map[string]any) {
			d["additionalEventData"] = map[string]any{"x": []any{1, "y", nil}}
			d["eventVersion"] = "9.99"
			d["responseElements"].(map[string]any)["session"].(map[string]any)["newField"] = map[string]any{"a": true}
			d["userIdentity"].(map[string]any)["onBehalfOf"] = map[string]any{"userId": "u"}
			d["requestParameters"].(map[string]any)["id"] = 42 // not read for CreateSession
		}), create},
		{"a service principal: no ARN, no creator", record(t, "cloudtrail-create-session", func(d map[string]any) {
			d["userIdentity"] = map[string]any{"type": "AWSService", "invokedBy": "sagemaker.amazonaws.com"}
		}), handler.CloudTrailCall{EventName: handler.CallCreateSession, SessionID: sampleID}},
		{"userIdentity null", record(t, "cloudtrail-create-session", func(d map[string]any) { d["userIdentity"] = nil }),
			handler.CloudTrailCall{EventName: handler.CallCreateSession, SessionID: sampleID}},
		{"errorCode empty is no error", record(t, "cloudtrail-stop-session", func(d map[string]any) { d["errorCode"] = "" }), stop},
		{"a failed call's id is not read", record(t, "cloudtrail-stop-session", func(d map[string]any) {
			d["errorCode"], d["requestParameters"] = "EntityNotFoundException", map[string]any{"id": ""}
		}), handler.CloudTrailCall{EventName: handler.CallStopSession, Failed: true, ErrorCode: "EntityNotFoundException"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := handler.ParseRequest([]byte(tc.payload))
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if req.CloudTrail == nil || *req.CloudTrail != tc.want {
				t.Errorf("got %+v, want %+v", req.CloudTrail, tc.want)
			}
			if req.Trigger() != handler.TriggerCloudTrail || req.Scheduled {
				t.Errorf("trigger %q, scheduled %v: want a CloudTrail run", req.Trigger(), req.Scheduled)
			}
		})
	}
}

func TestParseCloudTrailRecordRejects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		want    string // in the message
	}{
		{"another Glue call", record(t, "cloudtrail-stop-session", func(d map[string]any) { d["eventName"] = "RunStatement" }), `"RunStatement"`},
		{"CreateSession without the session", record(t, "cloudtrail-create-session", func(d map[string]any) { d["responseElements"] = nil }),
			"CreateSession has no detail.responseElements.session.id"},
		{"reduced CreateSession, id null", record(t, "cloudtrail-create-session", func(d map[string]any) {
			d["responseElements"] = map[string]any{"session": map[string]any{"id": nil}}
		}), "detail.responseElements.session.id"},
		{"StopSession without requestParameters", record(t, "cloudtrail-stop-session", func(d map[string]any) { delete(d, "requestParameters") }),
			"StopSession has no detail.requestParameters.id"},
		{"DeleteSession, id a number", record(t, "cloudtrail-delete-session", func(d map[string]any) { d["requestParameters"] = map[string]any{"id": 7} }),
			"detail.requestParameters.id must be a string, got a number"},
		{"CreateSession, id a list", record(t, "cloudtrail-create-session", func(d map[string]any) {
			d["responseElements"].(map[string]any)["session"].(map[string]any)["id"] = []any{"a"}
		}), "detail.responseElements.session.id must be a string, got a list"},
		{"empty id", record(t, "cloudtrail-stop-session", func(d map[string]any) { d["requestParameters"] = map[string]any{"id": ""} }), "session id is empty"},
		{"id with a control character", record(t, "cloudtrail-stop-session", func(d map[string]any) { d["requestParameters"] = map[string]any{"id": "a\u0007"} }),
			"control character"},
		{"id over 255 characters", record(t, "cloudtrail-stop-session", func(d map[string]any) {
			d["requestParameters"] = map[string]any{"id": strings.Repeat("x", 256)}
		}), "at most 255"},
		{"session not an object", record(t, "cloudtrail-create-session", func(d map[string]any) {
			d["responseElements"].(map[string]any)["session"] = "data-eng-notebook-7"
		}), "detail.responseElements.session must be an object, got a string"},
		{"eventName not a string", record(t, "cloudtrail-stop-session", func(d map[string]any) { d["eventName"] = []any{"StopSession"} }),
			"detail.eventName must be a string, got a list"},
		{"no eventName", record(t, "cloudtrail-stop-session", func(d map[string]any) { delete(d, "eventName") }), "no detail.eventName"},
		{"another service", record(t, "cloudtrail-stop-session", func(d map[string]any) { d["eventSource"] = "s3.amazonaws.com" }), `"s3.amazonaws.com"`},
		{"errorCode not a string", record(t, "cloudtrail-stop-session", func(d map[string]any) { d["errorCode"] = 403 }),
			"detail.errorCode must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := handler.ParseRequest([]byte(tc.payload))
			var inputErr *handler.InputError
			if !errors.As(err, &inputErr) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an InputError naming %s", err, tc.want)
			}
		})
	}
	// Hand-written: shapes the sample's map cannot hold.
	envelope := `{"version": "0", "id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws.glue", "account": "123456789012",
	  "time": "2026-11-24T09:00:02Z", "region": "us-east-1", "resources": [], "detail": %s%s}`
	for _, tc := range []struct{ name, detail, extra, want string }{
		{"detail a string", `"{}"`, "", `"detail" of a CloudTrail record must be an object, got a string`},
		{"detail missing", `null`, "", `"detail" of a CloudTrail record must be an object, got null`},
		{"creator a number", `{"eventName": "CreateSession", "userIdentity": {"arn": 1}, "responseElements": {"session": {"id": "s"}}}`, "",
			"detail.userIdentity.arn must be a string, got a number"},
		{"creator over 2048 characters", `{"eventName": "CreateSession", "userIdentity": {"arn": "` + strings.Repeat("a", 2049) + `"}, "responseElements": {"session": {"id": "s"}}}`, "",
			"at most 2048"},
		{"id given twice", `{"eventName": "StopSession", "requestParameters": {"id": "a", "id": "b"}}`, "", "given twice"},
		{"eventName given twice", `{"eventName": "StopSession", "eventName": "RunStatement", "requestParameters": {"id": "a"}}`, "", "given twice"},
		{"an unknown field beside the envelope", `{"eventName": "StopSession", "requestParameters": {"id": "a"}}`, `, "track": ["x"]`, `unknown field "track"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := handler.ParseRequest(fmt.Appendf(nil, envelope, tc.detail, tc.extra))
			var inputErr *handler.InputError
			if !errors.As(err, &inputErr) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an InputError naming %s", err, tc.want)
			}
		})
	}
}

// createdBy returns the createdBy of each event, "null" for none.
func createdBy(evs []event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = orNull(e.detail.CreatedBy)
	}
	return out
}

func wantCreatedBy(t *testing.T, evs []event, want ...string) {
	t.Helper()
	if got := createdBy(evs); !slices.Equal(got, want) {
		t.Errorf("createdBy: got %q, want %q", got, want)
	}
}

// TestCloudTrailCreateSession: the record's invocation tracks the session
// and announces it at once, polling nothing else; scheduled runs then
// follow it to STOPPED, every event carrying its creator.
func TestCloudTrailCreateSession(t *testing.T) {
	tb := newTestbed(t)
	tb.glue.put(bare("other", "READY"), nil)
	tb.poll(t, lambdaCtx(), handler.Request{Track: []string{"other"}})
	tb.advance(time.Minute)
	tb.reset()
	runBefore := tb.run(t)

	s := fullSession(sampleID, "PROVISIONING")
	tb.glue.put(s, nil)
	res := tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
	evs := tb.events(t)
	wantEvents(t, evs, sampleID+"#1 Glue Session State Change null->PROVISIONING")
	wantCreatedBy(t, evs, alice)
	if res.Watched != 1 || res.Polled != 1 || res.Published != 1 || len(res.Errors) != 0 {
		t.Errorf("result %+v, want the one session watched, polled and announced", res)
	}
	if n := tb.glue.getCalls("other"); n != 0 {
		t.Errorf("GetSession of another tracked session: %d calls, want none (a record polls only its session)", n)
	}
	if got := tb.registry(t); !slices.Equal(got, []string{sampleID, "other"}) {
		t.Errorf("registry %q, want the created session tracked beside the other", got)
	}
	if snap := tb.snapshot(t, sampleID); snap == nil || snap.CreatedBy != alice {
		t.Errorf("snapshot %+v, want createdBy %s", snap, alice)
	}
	if got := tb.run(t); !equalRun(got, runBefore) {
		t.Errorf("run item %+v, want it as it was (%+v)", got, runBefore)
	}

	// Scheduled runs follow it to its end.
	for _, status := range []string{"READY", "STOPPED"} {
		tb.advance(5 * time.Minute)
		tb.reset()
		tb.glue.update(sampleID, func(s *gluetypes.Session) { s.Status = gluetypes.SessionStatus(status) })
		tb.poll(t, lambdaCtx(), handler.Request{Scheduled: true})
	}
	tb.reset()
	tb.advance(5 * time.Minute)
	tb.poll(t, lambdaCtx(), handler.Request{Scheduled: true})
	if got := tb.registry(t); !slices.Equal(got, []string{"other"}) {
		t.Errorf("registry %q, want the stopped session gone from it", got)
	}
	snap := tb.snapshot(t, sampleID)
	if snap.Status != "STOPPED" || snap.CreatedBy != alice || snap.Sequence != 3 {
		t.Errorf("snapshot %+v, want STOPPED at sequence 3, createdBy kept", snap)
	}
}

// TestCloudTrailCreatedByFollows: every event of the session after its
// record carries its creator, up to STOPPED; alerts and errors included.
func TestCloudTrailCreatedByFollows(t *testing.T) {
	tb := newTestbed(t)
	tb.glue.put(bare(sampleID, "PROVISIONING"), nil)
	tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
	tb.advance(time.Minute)
	tb.glue.update(sampleID, func(s *gluetypes.Session) { s.Status, s.ErrorMessage = "READY", aws.String("Py4JJavaError") })
	tb.poll(t, lambdaCtx(), handler.Request{Scheduled: true})
	tb.advance(time.Minute)
	tb.glue.update(sampleID, func(s *gluetypes.Session) { s.Status = "STOPPED" })
	tb.poll(t, lambdaCtx(), handler.Request{Scheduled: true})
	evs := tb.events(t)
	wantEvents(t, evs,
		sampleID+"#1 Glue Session State Change null->PROVISIONING",
		sampleID+"#2 Glue Session State Change PROVISIONING->READY",
		sampleID+"#3 Glue Session Error PROVISIONING->READY",
		sampleID+"#4 Glue Session State Change READY->STOPPED")
	wantCreatedBy(t, evs, alice, alice, alice, alice)
}

// TestCloudTrailCreateOfFinished: the record polls its session whatever
// its snapshot says: a session a scheduled run saw first, finished
// already, gains its creator (a write, no event) and leaves the registry
// again.
func TestCloudTrailCreateOfFinished(t *testing.T) {
	tb := newTestbed(t)
	s := fullSession(sampleID, "STOPPED")
	s.CompletedOn = aws.Time(s.CreatedOn.Add(time.Hour))
	tb.glue.put(s, nil)
	tb.poll(t, lambdaCtx(), handler.Request{SessionIDs: []string{sampleID}})
	wantCreatedBy(t, tb.events(t), "null")
	tb.advance(time.Minute)
	tb.reset()

	res := tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
	if res.Polled != 1 || tb.glue.getCalls(sampleID) != 1 {
		t.Errorf("result %+v, %d GetSession calls: want the finished session polled at once", res, tb.glue.getCalls(sampleID))
	}
	if n := tb.ebCalls(); n != 0 {
		t.Errorf("%d PutEvents calls, want none (nothing changed but the creator)", n)
	}
	snap := tb.snapshot(t, sampleID)
	if snap.CreatedBy != alice || snap.Watched() || snap.ExpiresAt == 0 {
		t.Errorf("snapshot %+v, want createdBy %s, off the registry, expiring", snap, alice)
	}
}

// TestCloudTrailCreatedByLater: a scheduled run announces the session
// first (createdBy null); its record, later, gives the snapshot its
// creator without an event, and the events after it carry it. Events kept
// in the outbox keep what they had.
func TestCloudTrailCreatedByLater(t *testing.T) {
	tb := newTestbed(t, env("DISCOVER", "true"))
	tb.glue.put(bare(sampleID, "PROVISIONING"), nil)
	tb.glue.update(sampleID, func(s *gluetypes.Session) { s.CreatedOn = aws.Time(testStart) })
	tb.bus.failWith(errors.New("EventBridge is down"))
	if _, err := tb.h.Poll(lambdaCtx(), handler.Request{Scheduled: true}); err == nil {
		t.Fatal("the run published although EventBridge is down")
	}
	tb.bus.failWith(nil)
	tb.advance(time.Minute)
	tb.reset()

	res := tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
	if res.Published != 1 || res.Pending != 0 {
		t.Errorf("result %+v, want the kept event published", res)
	}
	evs := tb.events(t)
	wantEvents(t, evs, sampleID+"#1 Glue Session State Change null->PROVISIONING")
	wantCreatedBy(t, evs, "null") // as it was observed
	if snap := tb.snapshot(t, sampleID); snap.CreatedBy != alice || snap.Sequence != 1 {
		t.Errorf("snapshot %+v, want the creator, no new event", snap)
	}

	tb.advance(time.Minute)
	tb.reset()
	tb.glue.update(sampleID, func(s *gluetypes.Session) { s.Status = "READY" })
	tb.poll(t, lambdaCtx(), handler.Request{Scheduled: true})
	evs = tb.events(t)
	wantEvents(t, evs, sampleID+"#2 Glue Session State Change PROVISIONING->READY")
	wantCreatedBy(t, evs, alice)
}

// TestCloudTrailCreatorNotLost: Glue throttles the CreateSession record's
// GetSession (a burst of notebooks at 9:00). The session is tracked, but
// only the record names its creator: the invocation fails, so that Lambda
// delivers the record again, and the next delivery records the creator
// and announces the session with it.
func TestCloudTrailCreatorNotLost(t *testing.T) {
	tb := newTestbed(t)
	tb.glue.put(bare(sampleID, "PROVISIONING"), nil)
	tb.glue.getErr = func(string) error {
		return &gluetypes.ThrottlingException{Message: aws.String("Rate exceeded")}
	}
	payload := record(t, "cloudtrail-create-session", nil)
	_, err := tb.invoke(t, payload)
	var runErr *handler.RunError
	if !errors.As(err, &runErr) || !strings.Contains(err.Error(), sampleID) {
		t.Fatalf("invoke with GetSession throttled: %v, want a RunError naming %s (so that Lambda retries the record)", err, sampleID)
	}
	if got := tb.registry(t); !slices.Equal(got, []string{sampleID}) {
		t.Errorf("registry %q, want the session tracked all the same", got)
	}

	tb.glue.getErr = nil
	tb.reset()
	tb.mustInvoke(t, payload) // Lambda's retry
	evs := tb.events(t)
	wantEvents(t, evs, sampleID+"#1 Glue Session State Change null->PROVISIONING")
	wantCreatedBy(t, evs, alice)
	if snap := tb.snapshot(t, sampleID); snap == nil || snap.CreatedBy != alice {
		t.Errorf("snapshot %+v, want createdBy %s", snap, alice)
	}

	// Stop and delete records name no creator: a failed read of their
	// session is an error of the run, reported, not a failed invocation.
	tb.glue.getErr = func(string) error {
		return &gluetypes.ThrottlingException{Message: aws.String("Rate exceeded")}
	}
	if res := tb.mustInvoke(t, record(t, "cloudtrail-stop-session", nil)); len(res.Errors) != 1 {
		t.Errorf("stop record's run: %+v, want its session's error reported", res)
	}
}

// TestCloudTrailRecreated: a CreateSession record for an id whose session
// sessionwatch knows, re-created: the old one's deletion keeps the old
// creator, the new one is a first sighting with the record's creator,
// numbering goes on, eventIds differ. Seen first by a scheduled run, the
// new session has no creator (never the old one's) until its record.
func TestCloudTrailRecreated(t *testing.T) {
	first := testStart.Add(-time.Hour)
	second := testStart.Add(-time.Minute)
	put := func(tb *testbed, created time.Time, status string) {
		tb.glue.put(bare(sampleID, status), nil)
		tb.glue.update(sampleID, func(s *gluetypes.Session) { s.CreatedOn = aws.Time(created) })
	}

	t.Run("record first", func(t *testing.T) {
		tb := newTestbed(t)
		put(tb, first, "READY")
		tb.mustInvoke(t, record(t, "cloudtrail-create-session", withCreator(bob)))
		old := tb.events(t)
		tb.advance(time.Minute)
		tb.reset()

		put(tb, second, "PROVISIONING")
		tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
		evs := tb.events(t)
		wantEvents(t, evs,
			sampleID+"#2 Glue Session Deleted READY->null",
			sampleID+"#3 Glue Session State Change null->PROVISIONING")
		wantCreatedBy(t, evs, bob, alice)
		ids := eventIDs(append(old, evs...))
		if distinct := slices.Compact(slices.Sorted(slices.Values(ids))); len(distinct) != 3 {
			t.Errorf("eventIds %q, want 3 distinct", ids)
		}
		if snap := tb.snapshot(t, sampleID); snap.CreatedBy != alice || !snap.CreatedOn.Equal(second) {
			t.Errorf("snapshot %+v, want the new session and its creator", snap)
		}
	})

	t.Run("scheduled run first", func(t *testing.T) {
		tb := newTestbed(t)
		put(tb, first, "READY")
		tb.mustInvoke(t, record(t, "cloudtrail-create-session", withCreator(bob)))
		tb.advance(time.Minute)
		tb.reset()

		put(tb, second, "PROVISIONING")
		tb.poll(t, lambdaCtx(), handler.Request{Scheduled: true})
		evs := tb.events(t)
		wantEvents(t, evs,
			sampleID+"#2 Glue Session Deleted READY->null",
			sampleID+"#3 Glue Session State Change null->PROVISIONING")
		wantCreatedBy(t, evs, bob, "null")

		tb.advance(time.Minute)
		tb.reset()
		tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
		if n := tb.ebCalls(); n != 0 {
			t.Errorf("%d PutEvents calls, want none", n)
		}
		if snap := tb.snapshot(t, sampleID); snap.CreatedBy != alice {
			t.Errorf("snapshot %+v, want the new session's creator", snap)
		}
	})
}

// TestCloudTrailStopDelete: StopSession and DeleteSession poll a session
// sessionwatch knows at once, and nothing else; of an id it does not
// know, they do nothing at all.
func TestCloudTrailStopDelete(t *testing.T) {
	for _, name := range []string{"cloudtrail-stop-session", "cloudtrail-delete-session"} {
		t.Run(name+" of an unknown id", func(t *testing.T) {
			tb := newTestbed(t)
			tb.glue.put(bare("other", "READY"), nil)
			tb.poll(t, lambdaCtx(), handler.Request{Track: []string{"other"}})
			tb.reset()
			tb.glue.put(bare(sampleID, "STOPPING"), nil) // Glue knows it; sessionwatch does not
			res := tb.mustInvoke(t, record(t, name, nil))
			if res.Watched != 0 || res.Polled != 0 || tb.glue.totalGets() != 0 {
				t.Errorf("result %+v, %d GetSession calls: want nothing watched or polled", res, tb.glue.totalGets())
			}
			if tb.writes() != 0 || tb.ebCalls() != 0 {
				t.Errorf("DynamoDB %v, %d PutEvents calls: want no write, nothing published", tb.dbCalls(), tb.ebCalls())
			}
			if snap := tb.snapshot(t, sampleID); snap != nil {
				t.Errorf("snapshot %+v, want none", snap)
			}
		})
	}

	t.Run("stop of a tracked session", func(t *testing.T) {
		tb := newTestbed(t)
		tb.glue.put(bare("other", "READY"), nil)
		tb.glue.put(bare(sampleID, "PROVISIONING"), nil)
		tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
		tb.poll(t, lambdaCtx(), handler.Request{Track: []string{"other"}})
		tb.advance(time.Minute)
		tb.reset()
		tb.glue.update(sampleID, func(s *gluetypes.Session) { s.Status = "STOPPING" })
		tb.glue.update("other", func(s *gluetypes.Session) { s.Status = "STOPPING" })
		res := tb.mustInvoke(t, record(t, "cloudtrail-stop-session", nil))
		evs := tb.events(t)
		wantEvents(t, evs, sampleID+"#2 Glue Session State Change PROVISIONING->STOPPING")
		wantCreatedBy(t, evs, alice)
		if res.Watched != 1 || res.Polled != 1 || tb.glue.getCalls("other") != 0 {
			t.Errorf("result %+v, %d calls for the other: want only the named session polled", res, tb.glue.getCalls("other"))
		}
		// Its snapshot, read to know the session, is not read again.
		if n := tb.dbCalls()["BatchGetItem"]; n != 1 {
			t.Errorf("BatchGetItem calls: %d, want 1 (the session's item read once)", n)
		}
	})

	t.Run("delete of a session with a snapshot", func(t *testing.T) {
		tb := newTestbed(t)
		tb.glue.put(bare(sampleID, "READY"), nil)
		tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
		tb.advance(time.Minute)
		tb.reset()
		tb.glue.remove(sampleID)
		res := tb.mustInvoke(t, record(t, "cloudtrail-delete-session", nil))
		evs := tb.events(t)
		wantEvents(t, evs, sampleID+"#2 Glue Session Deleted READY->null")
		wantCreatedBy(t, evs, alice)
		if res.Polled != 1 || len(res.NotFound) != 0 || len(tb.registry(t)) != 0 {
			t.Errorf("result %+v, registry %q: want the deletion observed, the session out of the registry", res, tb.registry(t))
		}
	})

	t.Run("delete of an untracked session with a snapshot", func(t *testing.T) {
		tb := newTestbed(t)
		tb.glue.put(bare(sampleID, "READY"), nil)
		tb.poll(t, lambdaCtx(), handler.Request{Track: []string{sampleID}})
		tb.poll(t, lambdaCtx(), handler.Request{Untrack: []string{sampleID}})
		tb.reset()
		tb.glue.remove(sampleID)
		tb.mustInvoke(t, record(t, "cloudtrail-delete-session", nil))
		wantEvents(t, tb.events(t), sampleID+"#2 Glue Session Deleted READY->null")
	})
}

// TestCloudTrailFailedCall: the record of a call that failed makes no
// AWS call at all and succeeds.
func TestCloudTrailFailedCall(t *testing.T) {
	for _, payload := range []string{
		record(t, "cloudtrail-create-session-failed", nil),
		reduced(t, "cloudtrail-create-session-failed"),
		record(t, "cloudtrail-stop-session", func(d map[string]any) { d["errorCode"] = "EntityNotFoundException" }),
	} {
		tb := newTestbed(t)
		tb.glue.put(bare("data-eng-notebook-8", "READY"), nil)
		res := tb.mustInvoke(t, payload)
		if res.Watched != 0 || res.Polled != 0 || res.Published != 0 || len(res.Errors) != 0 {
			t.Errorf("result %+v, want nothing done", res)
		}
		if n := tb.glue.totalGets(); n != 0 || len(tb.dbCalls()) != 0 || tb.ebCalls() != 0 {
			t.Errorf("GetSession %d, DynamoDB %v, PutEvents %d: want no AWS call", n, tb.dbCalls(), tb.ebCalls())
		}
	}
}

// TestCloudTrailOtherCall: a record of another Glue call is rejected as
// the input of a misconfigured rule, with nothing done.
func TestCloudTrailOtherCall(t *testing.T) {
	tb := newTestbed(t)
	_, err := tb.invoke(t, record(t, "cloudtrail-stop-session", func(d map[string]any) { d["eventName"] = "RunStatement" }))
	var inputErr *handler.InputError
	if !errors.As(err, &inputErr) || !strings.Contains(err.Error(), "RunStatement") {
		t.Errorf("got %v, want an InputError naming RunStatement", err)
	}
	if tb.glue.totalGets() != 0 || len(tb.dbCalls()) != 0 || tb.ebCalls() != 0 {
		t.Errorf("GetSession %d, DynamoDB %v, PutEvents %d: want no AWS call", tb.glue.totalGets(), tb.dbCalls(), tb.ebCalls())
	}
}

// TestCloudTrailPublishesOutbox: a record's run still sends what earlier
// runs could not, whatever sessions those were about.
func TestCloudTrailPublishesOutbox(t *testing.T) {
	tb := newTestbed(t)
	tb.glue.put(bare("other", "READY"), nil)
	tb.bus.failWith(errors.New("EventBridge is down"))
	if _, err := tb.h.Poll(lambdaCtx(), handler.Request{Track: []string{"other"}}); err == nil {
		t.Fatal("the run published although EventBridge is down")
	}
	tb.bus.failWith(nil)
	tb.advance(time.Minute)
	tb.reset()

	tb.glue.put(bare(sampleID, "PROVISIONING"), nil)
	res := tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
	wantEvents(t, tb.events(t), "data-eng-notebook-7#1 Glue Session State Change null->PROVISIONING", "other#1 Glue Session State Change null->READY")
	if res.Published != 2 || res.Pending != 0 || len(tb.outbox(t)) != 0 {
		t.Errorf("result %+v, outbox %v: want both published, the outbox empty", res, tb.outbox(t))
	}
	if n := tb.glue.getCalls("other"); n != 0 {
		t.Errorf("the other session polled %d times by the record's run, want none", n)
	}
}

// TestCloudTrailKeepsTheCursor: a record's run cut short by its deadline
// leaves where the full runs stand as it was: fairness counts full runs
// only.
func TestCloudTrailKeepsTheCursor(t *testing.T) {
	tb := newTestbed(t)
	before := state.Run{Layout: state.Layout, Cursor: "s-3", Behind: []string{"s-1"}}
	if err := tb.store.WriteRun(t.Context(), before); err != nil {
		t.Fatal(err)
	}
	tb.glue.put(bare(sampleID, "PROVISIONING"), nil)
	tb.reset()
	ctx, cancel := context.WithTimeout(lambdaCtx(), time.Second) // under the 3 s reserve
	defer cancel()
	// A record naming no creator: one naming a creator would also fail the
	// run, so that the record comes again (TestCloudTrailCreatorNotLost).
	res := tb.poll(t, ctx, handler.Request{CloudTrail: &handler.CloudTrailCall{EventName: handler.CallCreateSession, SessionID: sampleID}})
	if !slices.Equal(res.Skipped, []string{sampleID}) {
		t.Errorf("skipped %q, want the session", res.Skipped)
	}
	if got := tb.run(t); !equalRun(got, before) {
		t.Errorf("run item %+v, want %+v", got, before)
	}
	if got := tb.registry(t); !slices.Equal(got, []string{sampleID}) {
		t.Errorf("registry %q, want the session tracked: the next scheduled run polls it", got)
	}
}

// TestCloudTrailMigratesFirst: a record reaching a table the first
// version wrote migrates it before saving anything over its snapshots.
func TestCloudTrailMigratesFirst(t *testing.T) {
	tb := newTestbed(t, freshTable())
	tb.glue.put(bare(sampleID, "PROVISIONING"), nil)
	tb.mustInvoke(t, record(t, "cloudtrail-create-session", nil))
	if run := tb.run(t); run.Layout != state.Layout {
		t.Errorf("run item %+v, want layout %d", run, state.Layout)
	}
}

func equalRun(a, b state.Run) bool {
	return a.Layout == b.Layout && a.Cursor == b.Cursor && slices.Equal(a.Behind, b.Behind)
}

// TestCloudTrailOnTheWire: over moto and the Glue emulator, through
// Invoke as Lambda calls it: the reduced record (as the template's rule
// hands it over) announces the session at once, scheduled runs follow it
// to STOPPED, and every event a rule delivers carries its creator.
func TestCloudTrailOnTheWire(t *testing.T) {
	tb := newTestbed(t, onMoto(), glueEmulator(), clockStep(time.Minute))
	tb.emu.Put(emuSession(sampleID, "PROVISIONING"))
	res := tb.mustInvoke(t, reduced(t, "cloudtrail-create-session"))
	if res.Polled != 1 || res.Published != 1 {
		t.Errorf("result %+v, want the session polled and announced", res)
	}
	for _, status := range []string{"READY", "STOPPED"} {
		tb.emu.Update(sampleID, func(s *glueemu.Session) { s.Status = status })
		tb.mustInvoke(t, "")
	}
	evs := tb.received(t)
	wantEvents(t, evs,
		sampleID+"#1 Glue Session State Change null->PROVISIONING",
		sampleID+"#2 Glue Session State Change PROVISIONING->READY",
		sampleID+"#3 Glue Session State Change READY->STOPPED")
	wantCreatedBy(t, evs, alice, alice, alice)
	if got := tb.registry(t); len(got) != 0 {
		t.Errorf("registry %q, want it empty once the session stopped", got)
	}
}
