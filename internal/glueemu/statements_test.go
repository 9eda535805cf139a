package glueemu_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"

	"sessionwatch/internal/glueemu"
)

// listStatements pages through ListStatements of session id by NextToken,
// as the caller does (the SDK has no paginator for it).
func listStatements(client *glue.Client, id string, optFns ...func(*glue.Options)) (sts []types.Statement, pages int, err error) {
	in := &glue.ListStatementsInput{SessionId: aws.String(id), RequestOrigin: aws.String("idle")}
	for {
		out, err := client.ListStatements(context.Background(), in, optFns...)
		if err != nil {
			return sts, pages, err
		}
		pages++
		sts = append(sts, out.Statements...)
		if out.NextToken == nil {
			return sts, pages, nil
		}
		in.NextToken = out.NextToken
	}
}

func numbered(n int) []glueemu.Statement {
	sts := make([]glueemu.Statement, n)
	for i := range sts {
		sts[i] = glueemu.Statement{ID: int32(i), Code: fmt.Sprintf("print(%d)", i), State: "AVAILABLE"}
	}
	return sts
}

func ids(sts []types.Statement) []int32 {
	var out []int32
	for _, st := range sts {
		out = append(out, st.Id)
	}
	return out
}

func TestListStatements(t *testing.T) {
	t.Run("pages by NextToken", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s", Status: "READY"})
		emu.SetStatements("s", numbered(7)...)
		emu.SetStatementsPageSize(3)
		emu.SetPageSize(1) // ListSessions' page size is not the statements'
		sts, pages, err := listStatements(client, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(sts), []int32{0, 1, 2, 3, 4, 5, 6}; !reflect.DeepEqual(got, want) {
			t.Errorf("ids: got %v, want %v", got, want)
		}
		if got, want := pages, 3; got != want {
			t.Errorf("pages: got %d, want %d", got, want)
		}
		if got, want := emu.Calls()["ListStatements"], 3; got != want {
			t.Errorf("calls: got %d, want %d", got, want)
		}
		if got, want := emu.RequestOrigins()["ListStatements"], "idle"; got != want {
			t.Errorf("origin: got %q, want %q", got, want)
		}
	})

	t.Run("default page size", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.SetStatements("s", numbered(glueemu.DefaultStatementsPageSize+1)...)
		sts, pages, err := listStatements(client, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(sts), glueemu.DefaultStatementsPageSize+1; got != want {
			t.Errorf("statements: got %d, want %d", got, want)
		}
		if got, want := pages, 2; got != want {
			t.Errorf("pages: got %d, want %d", got, want)
		}
	})

	t.Run("all fields, times as written", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.SetStatements("s",
			glueemu.Statement{ID: 0, Code: "df.count()", State: "AVAILABLE", Progress: 1,
				StartedOn: 1700000000123, CompletedOn: 1700000004567, // milliseconds, as Livy
				Output: &glueemu.StatementOutput{Data: &glueemu.StatementData{TextPlain: "42"}, ExecutionCount: 1, Status: "ok"}},
			glueemu.Statement{ID: 1, Code: "1/0", State: "ERROR", Progress: 1,
				StartedOn: 1700000010, CompletedOn: 1700000011, // seconds
				Output: &glueemu.StatementOutput{ExecutionCount: 2, Status: "error", ErrorName: "ZeroDivisionError",
					ErrorValue: "division by zero", Traceback: []string{"line 1", "ZeroDivisionError"}}},
			glueemu.Statement{ID: 2, Code: "spark.range(10**9).count()", State: "RUNNING", Progress: 0.5, StartedOn: 1700000020000},
			glueemu.Statement{ID: 3, State: "WAITING"},
		)
		got, _, err := listStatements(client, "s")
		if err != nil {
			t.Fatal(err)
		}
		want := []types.Statement{
			{Id: 0, Code: aws.String("df.count()"), State: types.StatementStateAvailable, Progress: 1,
				StartedOn: 1700000000123, CompletedOn: 1700000004567,
				Output: &types.StatementOutput{Data: &types.StatementOutputData{TextPlain: aws.String("42")}, ExecutionCount: 1, Status: "ok"}},
			{Id: 1, Code: aws.String("1/0"), State: types.StatementStateError, Progress: 1,
				StartedOn: 1700000010, CompletedOn: 1700000011,
				Output: &types.StatementOutput{ExecutionCount: 2, Status: "error", ErrorName: aws.String("ZeroDivisionError"),
					ErrorValue: aws.String("division by zero"), Traceback: []string{"line 1", "ZeroDivisionError"}}},
			{Id: 2, Code: aws.String("spark.range(10**9).count()"), State: types.StatementStateRunning, Progress: 0.5, StartedOn: 1700000020000},
			{Id: 3, State: types.StatementStateWaiting},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %s\nwant %s", dump(got), dump(want))
		}
	})

	t.Run("wire body", func(t *testing.T) {
		emu, _, url := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.SetStatements("s",
			glueemu.Statement{ID: 0, Code: "if a < b && c > d: pass", State: "AVAILABLE",
				Output: &glueemu.StatementOutput{Data: &glueemu.StatementData{}}},
			glueemu.Statement{ID: 1},
		)
		status, body := post(t, url, "AWSGlue.ListStatements", `{"SessionId":"s"}`)
		if got, want := status, 200; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
		want := `{"Statements":[` +
			`{"Id":0,"Code":"if a < b && c > d: pass","State":"AVAILABLE","Output":{"Data":{"TextPlain":""},"ExecutionCount":0},"Progress":0,"StartedOn":0,"CompletedOn":0},` +
			`{"Id":1,"Progress":0,"StartedOn":0,"CompletedOn":0}]}`
		if got := body; got != want {
			t.Errorf("body:\ngot  %s\nwant %s", got, want)
		}
	})

	t.Run("no statements", func(t *testing.T) {
		emu, client, url := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		_, body := post(t, url, "AWSGlue.ListStatements", `{"SessionId":"s"}`)
		if got, want := body, `{"Statements":[]}`; got != want {
			t.Errorf("body: got %s, want %s", got, want)
		}
		sts, pages, err := listStatements(client, "s")
		if err != nil || len(sts) != 0 || pages != 1 {
			t.Errorf("got %d statements, %d pages, %v; want none, 1 page, no error", len(sts), pages, err)
		}
	})

	t.Run("unknown session", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.SetStatements("gone", numbered(1)...) // statements alone do not make a session
		_, _, err := listStatements(client, "gone")
		var nf *types.EntityNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("got %T %v, want *types.EntityNotFoundException", err, err)
		}
		if got, want := nf.ErrorMessage(), "Session gone not found"; got != want {
			t.Errorf("message: got %q, want %q", got, want)
		}
	})

	t.Run("Delete removes statements", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.SetStatements("s", numbered(2)...)
		emu.Delete("s")
		emu.Put(glueemu.Session{ID: "s"}) // re-created under the same id
		sts, _, err := listStatements(client, "s")
		if err != nil || len(sts) != 0 {
			t.Errorf("got %v, %v; want no statements", ids(sts), err)
		}
	})

	t.Run("stored as copies", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		st := glueemu.Statement{ID: 1, Output: &glueemu.StatementOutput{Data: &glueemu.StatementData{TextPlain: "a"}, Traceback: []string{"t"}}}
		emu.SetStatements("s", st)
		st.Output.Data.TextPlain, st.Output.Traceback[0] = "changed", "changed"
		sts, _, err := listStatements(client, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got := sts[0].Output; *got.Data.TextPlain != "a" || got.Traceback[0] != "t" {
			t.Errorf("got %s, want the statement as set", dump(got))
		}
		emu.SetStatements("s")
		if sts, _, _ := listStatements(client, "s"); len(sts) != 0 {
			t.Errorf("after SetStatements with none: got %v, want none", ids(sts))
		}
	})

	t.Run("bad NextToken", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		_, err := client.ListStatements(context.Background(), &glue.ListStatementsInput{SessionId: aws.String("s"), NextToken: aws.String("garbage")})
		var iie *types.InvalidInputException
		if !errors.As(err, &iie) {
			t.Fatalf("got %T %v, want *types.InvalidInputException", err, err)
		}
	})

	t.Run("no SessionId", func(t *testing.T) {
		_, _, url := setup(t)
		status, body := post(t, url, "AWSGlue.ListStatements", `{}`)
		if status != 400 || !strings.Contains(body, `"__type":"InvalidInputException"`) {
			t.Errorf("got %d %s, want 400 InvalidInputException", status, body)
		}
	})
}

func TestListStatementsFaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    glueemu.Fault
		target   any    // what errors.As must find; nil for success
		contains string // in the error's text
		calls    int
		read     int // statements read: all of them, or those before the error
	}{
		{name: "throttling retried then succeeds", fault: glueemu.Fault{Operation: "ListStatements", Code: "ThrottlingException", Times: 2},
			calls: 5, read: 5},
		{name: "5xx retried until attempts run out", fault: glueemu.Fault{Operation: "ListStatements", Code: "InternalServiceException"},
			target: new(*types.InternalServiceException), calls: 3},
		{name: "502 with an HTML body", fault: glueemu.Fault{Operation: "ListStatements", Status: 502, Raw: `<html>502 Bad Gateway</html>`},
			target:   new(*smithy.DeserializationError),
			contains: "502", calls: 3},
		{name: "access denied per session", fault: glueemu.Fault{Operation: "ListStatements", SessionID: "s", Code: "AccessDeniedException",
			Message: "User is not authorized to perform: glue:ListStatements on resource: session/s because no identity-based policy allows it"},
			target: new(*types.AccessDeniedException), contains: "glue:ListStatements", calls: 1},
		{name: "access denied on another session", fault: glueemu.Fault{SessionID: "other", Code: "AccessDeniedException"},
			calls: 3, read: 5},
		{name: "illegal session state", fault: glueemu.Fault{SessionID: "s", Code: "IllegalSessionStateException"},
			target: new(*types.IllegalSessionStateException), calls: 1},
		{name: "fault on page 2", fault: glueemu.Fault{Operation: "ListStatements", Page: 2, Code: "OperationTimeoutException"},
			target: new(*types.OperationTimeoutException), calls: 2, read: 2},
		{name: "truncated body", fault: glueemu.Fault{Operation: "ListStatements", Raw: `{"Statements": [{"Id": 0, "Code": "pri`},
			target: new(*smithy.DeserializationError), calls: 1},
		{name: "Code not a string", fault: glueemu.Fault{Operation: "ListStatements", Raw: `{"Statements": [{"Id": 0, "Code": 12345}]}`},
			target: new(*smithy.DeserializationError), contains: "12345", calls: 1},
		{name: "fractional StartedOn", fault: glueemu.Fault{Operation: "ListStatements", Raw: `{"Statements": [{"Id": 0, "StartedOn": 1700000000.5}]}`},
			target: new(*smithy.DeserializationError), contains: "1700000000.5", calls: 1},
		{name: "a ListSessions fault does not apply", fault: glueemu.Fault{Operation: "ListSessions", Code: "InternalServiceException"},
			calls: 3, read: 5},
		{name: "a GetSession fault does not apply", fault: glueemu.Fault{Operation: "GetSession", SessionID: "s", Code: "InternalServiceException"},
			calls: 3, read: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			emu, client, _ := setup(t)
			emu.Put(glueemu.Session{ID: "s", Status: "READY"})
			emu.SetStatements("s", numbered(5)...)
			emu.SetStatementsPageSize(2)
			emu.Inject(tc.fault)
			sts, _, err := listStatements(client, "s")
			switch {
			case tc.target == nil && err != nil:
				t.Fatalf("got %v, want no error", err)
			case tc.target != nil && !errors.As(err, tc.target):
				t.Fatalf("got %T %v, want %T", err, err, tc.target)
			case tc.contains != "" && (err == nil || !strings.Contains(err.Error(), tc.contains)):
				t.Errorf("error %v does not contain %q", err, tc.contains)
			}
			if got, want := len(sts), tc.read; got != want {
				t.Errorf("statements read: got %d, want %d", got, want)
			}
			if got, want := emu.Calls()["ListStatements"], tc.calls; got != want {
				t.Errorf("calls: got %d, want %d", got, want)
			}
		})
	}

	t.Run("a session fault without operation matches GetSession and ListStatements, not ListSessions", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.Inject(glueemu.Fault{SessionID: "s", Code: "AccessDeniedException"})
		var ade *types.AccessDeniedException
		if _, err := getSession(client, "s"); !errors.As(err, &ade) {
			t.Errorf("GetSession: got %v, want AccessDeniedException", err)
		}
		if _, _, err := listStatements(client, "s"); !errors.As(err, &ade) {
			t.Errorf("ListStatements: got %v, want AccessDeniedException", err)
		}
		if _, err := client.ListSessions(context.Background(), &glue.ListSessionsInput{}); err != nil {
			t.Errorf("ListSessions: got %v, want no error", err)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.RateLimit(0.001, 1)
		if _, err := getSession(client, "s"); err != nil {
			t.Fatal(err)
		}
		_, _, err := listStatements(client, "s", func(o *glue.Options) { o.RetryMaxAttempts = 1 })
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" {
			t.Fatalf("got %v, want ThrottlingException (one bucket for all operations)", err)
		}
	})

	t.Run("latency", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.SetLatency(10 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := client.ListStatements(ctx, &glue.ListStatementsInput{SessionId: aws.String("s")}); err == nil {
			t.Fatal("got no error, want context deadline")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v, want about 50ms", d)
		}
	})
}

func TestBytesServed(t *testing.T) {
	emu, _, url := setup(t)
	emu.Put(glueemu.Session{ID: "s"})
	emu.SetStatements("s", numbered(3)...)
	emu.SetStatementsPageSize(2)
	var want int64
	for _, body := range []string{`{"SessionId":"s"}`, `{"SessionId":"s","NextToken":"p2:o2"}`, `{"SessionId":"nope"}`} {
		_, got := post(t, url, "AWSGlue.ListStatements", body)
		want += int64(len(got))
	}
	if got := emu.BytesServed("ListStatements"); got != want {
		t.Errorf("ListStatements: got %d, want %d (both pages and the error)", got, want)
	}
	_, body := post(t, url, "AWSGlue.GetSession", `{"Id":"s"}`)
	if got, want := emu.BytesServed("GetSession"), int64(len(body)); got != want {
		t.Errorf("GetSession: got %d, want %d", got, want)
	}
	emu.ResetCalls()
	if got := emu.BytesServed("ListStatements"); got != 0 {
		t.Errorf("after ResetCalls: got %d, want 0", got)
	}
}
