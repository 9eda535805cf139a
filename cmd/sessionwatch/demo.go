package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"

	"sessionwatch/handler"
	"sessionwatch/internal/fakeaws"
	"sessionwatch/internal/glueemu"
	"sessionwatch/state"
)

// demoARN is the function ARN the demo pretends to run as (AWS's
// documented example account).
const demoARN = "arn:aws:lambda:us-east-1:123456789012:function:sessionwatch"

// demoSessions are the scripted lifecycles, one step per run; a nil step
// means the session was deleted by then.
func demoSessions() map[string][]*glueemu.Session {
	created := time.Date(2026, 11, 24, 8, 58, 0, 0, time.UTC)
	base := func(id, status string) *glueemu.Session {
		return &glueemu.Session{
			ID: id, Status: status, CreatedOn: &created,
			Role:        "arn:aws:iam::123456789012:role/GlueNotebookRole",
			Command:     &glueemu.Command{Name: "glueetl", PythonVersion: "3"},
			GlueVersion: "4.0", WorkerType: "G.1X", NumberOfWorkers: aws.Int32(5), IdleTimeout: aws.Int32(60),
			// Never published: DefaultArguments can hold secrets.
			DefaultArguments: map[string]string{"--db-password": "not-a-real-secret"},
		}
	}
	with := func(s *glueemu.Session, f func(*glueemu.Session)) *glueemu.Session {
		c := *s
		f(&c)
		return &c
	}
	oom := "An error occurred while calling o102.collect: java.lang.OutOfMemoryError: Java heap space"
	return map[string][]*glueemu.Session{
		"etl-notebook": {base("etl-notebook", "PROVISIONING"), base("etl-notebook", "READY"), base("etl-notebook", "READY"),
			base("etl-notebook", "STOPPING"), base("etl-notebook", "STOPPED")},
		"oom-notebook": {base("oom-notebook", "PROVISIONING"), base("oom-notebook", "READY"),
			with(base("oom-notebook", "FAILED"), func(s *glueemu.Session) { s.ErrorMessage = oom }),
			with(base("oom-notebook", "FAILED"), func(s *glueemu.Session) { s.ErrorMessage = oom }),
			with(base("oom-notebook", "FAILED"), func(s *glueemu.Session) { s.ErrorMessage = oom })},
		"scratch": {base("scratch", "READY"), base("scratch", "READY"), nil, nil, nil},
		"idle-notebook": {base("idle-notebook", "READY"), base("idle-notebook", "READY"), base("idle-notebook", "READY"),
			base("idle-notebook", "TIMEOUT"), base("idle-notebook", "TIMEOUT")},
	}
}

// demo runs the real handler five times, five minutes apart, against the
// Glue emulator and in-memory DynamoDB and EventBridge, printing a
// timeline and then every published event.
func demo(ctx context.Context, w io.Writer, jsonOnly bool) error {
	emu := glueemu.New()
	srv := httptest.NewServer(emu) // loopback only, inside this process
	defer srv.Close()
	g := glue.New(glue.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("demo", "demo", ""),
	})
	db := fakeaws.NewDynamoDB("sessionwatch-demo")
	eb := fakeaws.NewEventBridge()
	cfg := handler.Config{
		Table: "sessionwatch-demo", EventBus: "default", Source: "sessionwatch",
		SessionIDs:     []string{"etl-notebook", "oom-notebook", "scratch", "idle-notebook"},
		MaxConcurrency: 8, RetentionDays: 30,
	}
	h := handler.New(cfg, g, state.NewStore(db, cfg.Table), eb, nil)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	h.Now = func() time.Time { return now }
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{InvokedFunctionArn: demoARN})

	scripts := demoSessions()
	if !jsonOnly {
		fmt.Fprintf(w, "sessionwatch demo: the real handler against an in-process Glue emulator,\n")
		fmt.Fprintf(w, "DynamoDB and EventBridge. Watching %d sessions, one run every 5 minutes.\n", len(cfg.SessionIDs))
	}
	seen := 0
	for run := range 5 {
		for _, id := range cfg.SessionIDs {
			if step := scripts[id][run]; step != nil {
				emu.Put(*step)
			} else {
				emu.Delete(id)
			}
		}
		res, err := h.Poll(ctx, handler.Request{})
		if err != nil {
			return fmt.Errorf("demo run %d: %w", run+1, err)
		}
		entries := eb.Entries()[seen:]
		seen += len(entries)
		if jsonOnly {
			for _, e := range entries {
				fmt.Fprintln(w, aws.ToString(e.Detail))
			}
		} else {
			fmt.Fprintf(w, "\nrun %d at %s: %d polled, %d changed, %d published\n",
				run+1, now.Format("15:04"), res.Polled, res.Changed, res.Published)
			if len(entries) == 0 {
				fmt.Fprintln(w, "  (nothing changed: no DynamoDB write, no PutEvents call)")
			}
			for _, e := range entries {
				var d handler.Detail
				if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
					return fmt.Errorf("demo: published detail is not JSON: %w", err)
				}
				fmt.Fprintf(w, "  %-5s  %-26s  %s\n", d.Severity, aws.ToString(e.DetailType), d.Message)
			}
		}
		now = now.Add(5 * time.Minute)
	}
	if jsonOnly {
		return nil
	}
	fmt.Fprintf(w, "\nEvery run after a session finished or was deleted skips it: %d GetSession calls in all.\n", emu.Calls()["GetSession"])
	fmt.Fprintf(w, "\nThe published events, as EventBridge rules see them:\n")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	for _, e := range eb.Entries() {
		event := struct {
			Source     string          `json:"source"`
			DetailType string          `json:"detail-type"`
			Time       string          `json:"time"`
			Resources  []string        `json:"resources"`
			Detail     json.RawMessage `json:"detail"`
		}{aws.ToString(e.Source), aws.ToString(e.DetailType), aws.ToTime(e.Time).UTC().Format(time.RFC3339),
			e.Resources, json.RawMessage(aws.ToString(e.Detail))}
		if err := enc.Encode(event); err != nil {
			return err
		}
	}
	return nil
}
