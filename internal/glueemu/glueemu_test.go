package glueemu_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"

	"sessionwatch/internal/glueemu"
)

// setup starts emu behind an httptest server and returns a real Glue
// client for it whose retries (3 attempts) do not back off.
func setup(t *testing.T) (*glueemu.Emulator, *glue.Client, string) {
	t.Helper()
	emu := glueemu.New()
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	client := glue.NewFromConfig(cfg, func(o *glue.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	return emu, client, srv.URL
}

// post sends a raw AWS JSON 1.1 request and returns status and body.
func post(t *testing.T, url, target, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/x-amz-json-1.1"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	return resp.StatusCode, string(b)
}

func getSession(client *glue.Client, id string) (*types.Session, error) {
	out, err := client.GetSession(context.Background(), &glue.GetSessionInput{Id: aws.String(id), RequestOrigin: aws.String("test")})
	if err != nil {
		return nil, err
	}
	return out.Session, nil
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestGetSession(t *testing.T) {
	t.Run("all fields", func(t *testing.T) {
		emu, client, _ := setup(t)
		created := time.Unix(1700000000, 0).UTC()
		completed := time.Unix(1700003600, 500_000_000).UTC()
		emu.Put(glueemu.Session{
			ID: "s1", CreatedOn: &created, Status: "STOPPED", ErrorMessage: "boom",
			Description: "desc", Role: "arn:aws:iam::123456789012:role/glue",
			Command:               &glueemu.Command{Name: "glueetl", PythonVersion: "3"},
			DefaultArguments:      map[string]string{"--enable-glue-datacatalog": "true"},
			Connections:           []string{"conn-a", "conn-b"},
			Progress:              new(100.0),
			MaxCapacity:           new(5.0),
			SecurityConfiguration: "sec", GlueVersion: "4.0",
			NumberOfWorkers: new(int32(5)), WorkerType: "G.1X",
			CompletedOn: &completed, ExecutionTime: new(3600.5), DPUSeconds: new(18002.5),
			IdleTimeout: new(int32(30)), ProfileName: "profile", SessionType: "LIVY",
			Tags: map[string]string{"team": "a"},
		})
		got, err := getSession(client, "s1")
		if err != nil {
			t.Fatal(err)
		}
		want := &types.Session{
			Id: aws.String("s1"), CreatedOn: &created, Status: types.SessionStatusStopped,
			ErrorMessage: aws.String("boom"), Description: aws.String("desc"),
			Role:                  aws.String("arn:aws:iam::123456789012:role/glue"),
			Command:               &types.SessionCommand{Name: aws.String("glueetl"), PythonVersion: aws.String("3")},
			DefaultArguments:      map[string]string{"--enable-glue-datacatalog": "true"},
			Connections:           &types.ConnectionsList{Connections: []string{"conn-a", "conn-b"}},
			Progress:              100,
			MaxCapacity:           new(5.0),
			SecurityConfiguration: aws.String("sec"), GlueVersion: aws.String("4.0"),
			NumberOfWorkers: new(int32(5)), WorkerType: types.WorkerTypeG1x,
			CompletedOn: &completed, ExecutionTime: new(3600.5), DPUSeconds: new(18002.5),
			IdleTimeout: new(int32(30)), ProfileName: aws.String("profile"), SessionType: types.SessionTypeLivy,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %s\nwant %s", dump(got), dump(want))
		}
	})

	t.Run("no optional fields", func(t *testing.T) {
		emu, client, url := setup(t)
		emu.Put(glueemu.Session{ID: "bare"})
		got, err := getSession(client, "bare")
		if err != nil {
			t.Fatal(err)
		}
		if want := (&types.Session{Id: aws.String("bare")}); !reflect.DeepEqual(got, want) {
			t.Errorf("got %s, want %s", dump(got), dump(want))
		}
		status, body := post(t, url, "AWSGlue.GetSession", `{"Id":"bare"}`)
		if got, want := status, 200; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
		if got, want := body, `{"Session":{"Id":"bare"}}`; got != want {
			t.Errorf("body: got %s, want %s", got, want)
		}
	})

	t.Run("fractional timestamp", func(t *testing.T) {
		emu, client, url := setup(t)
		created := time.Unix(1700000000, 123_000_000).UTC()
		emu.Put(glueemu.Session{ID: "s", CreatedOn: &created, Status: "any string"})
		_, body := post(t, url, "AWSGlue.GetSession", `{"Id":"s"}`)
		if got, want := body, `{"Session":{"Id":"s","CreatedOn":1700000000.123,"Status":"any string"}}`; got != want {
			t.Errorf("body: got %s, want %s", got, want)
		}
		got, err := getSession(client, "s")
		if err != nil {
			t.Fatal(err)
		}
		if !got.CreatedOn.Equal(created) {
			t.Errorf("CreatedOn: got %v, want %v", got.CreatedOn, created)
		}
		if got, want := got.Status, types.SessionStatus("any string"); got != want {
			t.Errorf("Status: got %q, want %q", got, want)
		}
	})

	t.Run("not found", func(t *testing.T) {
		_, client, _ := setup(t)
		_, err := getSession(client, "nope")
		var nf *types.EntityNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("got %T %v, want *types.EntityNotFoundException", err, err)
		}
		if got, want := nf.ErrorMessage(), "Session nope not found"; got != want {
			t.Errorf("message: got %q, want %q", got, want)
		}
	})

	t.Run("internal service error is retried and typed", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.Inject(glueemu.Fault{Operation: "GetSession", Code: "InternalServiceException", Message: "oops"})
		_, err := getSession(client, "s")
		var ise *types.InternalServiceException
		if !errors.As(err, &ise) {
			t.Fatalf("got %T %v, want *types.InternalServiceException", err, err)
		}
		if got, want := ise.ErrorMessage(), "oops"; got != want {
			t.Errorf("message: got %q, want %q", got, want)
		}
		if got, want := emu.Calls()["GetSession"], 3; got != want {
			t.Errorf("calls: got %d, want %d (500 is retried)", got, want)
		}
	})

	t.Run("typed errors", func(t *testing.T) {
		for _, tc := range []struct {
			code   string
			target any
		}{
			{"InvalidInputException", new(*types.InvalidInputException)},
			{"AccessDeniedException", new(*types.AccessDeniedException)},
			{"OperationTimeoutException", new(*types.OperationTimeoutException)},
		} {
			t.Run(tc.code, func(t *testing.T) {
				emu, client, _ := setup(t)
				emu.Inject(glueemu.Fault{SessionID: "s", Code: tc.code})
				_, err := getSession(client, "s")
				if !errors.As(err, tc.target) {
					t.Fatalf("got %T %v, want %T", err, err, tc.target)
				}
				if got, want := emu.Calls()["GetSession"], 1; got != want {
					t.Errorf("calls: got %d, want %d", got, want)
				}
			})
		}
	})

	t.Run("throttling retried then succeeds", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s", Status: "READY"})
		emu.Inject(glueemu.Fault{Code: "ThrottlingException", Times: 2})
		got, err := getSession(client, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := got.Status, types.SessionStatusReady; got != want {
			t.Errorf("status: got %q, want %q", got, want)
		}
		if got, want := emu.Calls()["GetSession"], 3; got != want {
			t.Errorf("calls: got %d, want %d", got, want)
		}
	})

	t.Run("malformed body", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.Inject(glueemu.Fault{Raw: `{"Session": {"Id": "s", "CreatedOn": 17`})
		_, err := getSession(client, "s")
		var de *smithy.DeserializationError
		if !errors.As(err, &de) {
			t.Fatalf("got %T %v, want *smithy.DeserializationError", err, err)
		}
	})

	t.Run("empty answer is no error", func(t *testing.T) {
		// The SDK accepts {} as a successful answer without a Session.
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.Inject(glueemu.Fault{Raw: `{}`})
		got, err := getSession(client, "s")
		if err != nil || got != nil {
			t.Errorf("got %v, %v, want nil Session and no error", got, err)
		}
	})
}

func TestListSessions(t *testing.T) {
	seed := func(emu *glueemu.Emulator) {
		for _, id := range []string{"a1", "b1", "a2", "a3", "b2", "a4", "a5"} {
			tags := map[string]string{"team": id[:1]}
			if id == "a3" {
				tags["extra"] = "x"
			}
			emu.Put(glueemu.Session{ID: id, Status: "READY", Tags: tags})
		}
	}
	list := func(client *glue.Client, in *glue.ListSessionsInput) (ids []string, pages int, err error) {
		p := glue.NewListSessionsPaginator(client, in)
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				return ids, pages, err
			}
			pages++
			if got, want := len(out.Sessions), len(out.Ids); got != want {
				return ids, pages, errors.New("Sessions and Ids differ in length")
			}
			for i, s := range out.Sessions {
				if *s.Id != out.Ids[i] {
					return ids, pages, errors.New("Sessions and Ids differ")
				}
			}
			ids = append(ids, out.Ids...)
		}
		return ids, pages, nil
	}

	t.Run("pages with tag filter", func(t *testing.T) {
		emu, client, _ := setup(t)
		seed(emu)
		emu.SetPageSize(2)
		ids, pages, err := list(client, &glue.ListSessionsInput{Tags: map[string]string{"team": "a"}, RequestOrigin: aws.String("lister")})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids, []string{"a1", "a2", "a3", "a4", "a5"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ids: got %v, want %v", got, want)
		}
		if got, want := pages, 3; got != want {
			t.Errorf("pages: got %d, want %d", got, want)
		}
		if got, want := emu.RequestOrigins()["ListSessions"], "lister"; got != want {
			t.Errorf("origin: got %q, want %q", got, want)
		}
	})

	t.Run("MaxResults and all tags", func(t *testing.T) {
		emu, client, _ := setup(t)
		seed(emu)
		ids, pages, err := list(client, &glue.ListSessionsInput{MaxResults: aws.Int32(3)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(ids), 7; got != want {
			t.Errorf("ids: got %d, want %d", got, want)
		}
		if got, want := pages, 3; got != want {
			t.Errorf("pages: got %d, want %d", got, want)
		}
		ids, _, err = list(client, &glue.ListSessionsInput{Tags: map[string]string{"team": "a", "extra": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids, []string{"a3"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ids: got %v, want %v", got, want)
		}
	})

	t.Run("default page size and empty result", func(t *testing.T) {
		emu, client, url := setup(t)
		for i := range 1001 {
			emu.Put(glueemu.Session{ID: fmt.Sprintf("s%04d", i)})
		}
		_, pages, err := list(client, &glue.ListSessionsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := pages, 2; got != want {
			t.Errorf("pages: got %d, want %d", got, want)
		}
		_, body := post(t, url, "AWSGlue.ListSessions", `{"Tags":{"none":"x"}}`)
		if got, want := body, `{"Ids":[],"Sessions":[]}`; got != want {
			t.Errorf("body: got %s, want %s", got, want)
		}
	})

	t.Run("fault on page 3", func(t *testing.T) {
		emu, client, _ := setup(t)
		seed(emu)
		emu.SetPageSize(2)
		emu.Inject(glueemu.Fault{Operation: "ListSessions", Page: 3, Code: "AccessDeniedException"})
		ids, pages, err := list(client, &glue.ListSessionsInput{})
		var ade *types.AccessDeniedException
		if !errors.As(err, &ade) {
			t.Fatalf("got %T %v, want *types.AccessDeniedException", err, err)
		}
		if got, want := pages, 2; got != want {
			t.Errorf("pages before fault: got %d, want %d", got, want)
		}
		if got, want := ids, []string{"a1", "b1", "a2", "a3"}; !reflect.DeepEqual(got, want) {
			t.Errorf("ids: got %v, want %v", got, want)
		}
	})

	t.Run("bad NextToken", func(t *testing.T) {
		_, client, _ := setup(t)
		_, err := client.ListSessions(context.Background(), &glue.ListSessionsInput{NextToken: aws.String("garbage")})
		var iie *types.InvalidInputException
		if !errors.As(err, &iie) {
			t.Fatalf("got %T %v, want *types.InvalidInputException", err, err)
		}
	})
}

func TestCallsAndOrigins(t *testing.T) {
	emu, client, url := setup(t)
	emu.Put(glueemu.Session{ID: "s"})
	for range 2 {
		if _, err := getSession(client, "s"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.ListSessions(context.Background(), &glue.ListSessionsInput{}); err != nil {
		t.Fatal(err)
	}
	if got, want := emu.Calls(), map[string]int{"GetSession": 2, "ListSessions": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls: got %v, want %v", got, want)
	}
	if got, want := emu.RequestOrigins(), map[string]string{"GetSession": "test", "ListSessions": ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("origins: got %v, want %v", got, want)
	}
	emu.ResetCalls()
	if got := emu.Calls(); len(got) != 0 {
		t.Errorf("calls after reset: got %v, want none", got)
	}

	t.Run("unknown operation", func(t *testing.T) {
		status, body := post(t, url, "AWSGlue.StartJobRun", `{}`)
		if got, want := status, 400; got != want {
			t.Errorf("status: got %d, want %d", got, want)
		}
		if !strings.Contains(body, `"__type":"UnknownOperationException"`) {
			t.Errorf("body: got %s, want UnknownOperationException", body)
		}
	})
}

func TestRateLimit(t *testing.T) {
	emu, client, _ := setup(t)
	emu.Put(glueemu.Session{ID: "s"})
	emu.RateLimit(0.001, 2)
	noRetry := func(o *glue.Options) { o.RetryMaxAttempts = 1 }
	var errs []error
	for range 3 {
		_, err := client.GetSession(context.Background(), &glue.GetSessionInput{Id: aws.String("s")}, noRetry)
		errs = append(errs, err)
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("burst: got %v, want no errors", errs[:2])
	}
	var ae smithy.APIError
	if !errors.As(errs[2], &ae) || ae.ErrorCode() != "ThrottlingException" {
		t.Fatalf("got %v, want ThrottlingException", errs[2])
	}
	emu.RateLimit(0, 0)
	if _, err := getSession(client, "s"); err != nil {
		t.Errorf("after removing limit: got %v, want no error", err)
	}
}

func TestLatency(t *testing.T) {
	t.Run("honours cancellation", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.SetLatency(10 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := client.GetSession(ctx, &glue.GetSessionInput{Id: aws.String("s")})
		if err == nil {
			t.Fatal("got no error, want context deadline")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v, want about 50ms", d)
		}
	})

	t.Run("max in flight", func(t *testing.T) {
		emu, client, _ := setup(t)
		emu.Put(glueemu.Session{ID: "s"})
		emu.SetLatency(100 * time.Millisecond)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				if _, err := getSession(client, "s"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := emu.MaxInFlight(); got < 2 || got > 4 {
			t.Errorf("MaxInFlight: got %d, want 2..4", got)
		}
	})
}

func TestStore(t *testing.T) {
	emu := glueemu.New()
	args := map[string]string{"k": "v"}
	emu.Put(glueemu.Session{ID: "s", Status: "READY", DefaultArguments: args})
	args["k"] = "changed"
	if !emu.Update("s", func(s *glueemu.Session) { s.Status = "STOPPING"; s.ID = "other" }) {
		t.Fatal("Update: got false, want true")
	}
	if emu.Update("missing", func(*glueemu.Session) { t.Error("f called for missing session") }) {
		t.Error("Update missing: got true, want false")
	}
	got, ok := emu.Get("s")
	if !ok {
		t.Fatal("Get: not found")
	}
	if got.Status != "STOPPING" || got.DefaultArguments["k"] != "v" {
		t.Errorf("got %+v, want Status STOPPING and k=v", got)
	}
	emu.Delete("s")
	if _, ok := emu.Get("s"); ok {
		t.Error("Get after Delete: found")
	}
}

func TestScript(t *testing.T) {
	emu, client, _ := setup(t)
	emu.Script("s",
		glueemu.Session{Status: "PROVISIONING"},
		glueemu.Session{Status: "READY", Progress: new(50.0)},
		glueemu.Session{Status: "STOPPED", Progress: new(100.0)},
	)
	var got []types.SessionStatus
	for {
		s, err := getSession(client, "s")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Status)
		if !emu.Advance() {
			break
		}
	}
	if want := []types.SessionStatus{"PROVISIONING", "READY", "STOPPED"}; !reflect.DeepEqual(got, want) {
		t.Errorf("timeline: got %v, want %v", got, want)
	}
}
