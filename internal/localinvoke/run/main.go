// Command run invokes the sessionwatch Lambda function locally with one
// sample event, the way `sam local invoke -e <event>` does but without
// Docker: the real bootstrap, built as the template builds it, under the
// Lambda Runtime Interface Emulator, against moto (DynamoDB, EventBridge,
// SQS) and the in-process Glue sessions emulator.
//
//	make local-invoke EVENT=events/poll-ids.json
//	go run ./internal/localinvoke/run -event events/poll-ids.json [-env DISCOVER=true] [-v]
//
// It prints the function's response, then every event it published (as a
// rule's target receives it), each as indented JSON on stdout; progress and
// timings go to stderr. It exits 1 when the response is a function error
// (errorType), 2 on any other failure.
//
// moto: $MOTO_ENDPOINT if set, else it starts moto_server itself. The
// function's configuration is that of events/env.json (as with `sam local
// invoke --env-vars events/env.json`), less SNAPSHOT_TABLE and EVENT_BUS_NAME
// (a fresh table and bus are made on moto), with -env on top. The Glue
// emulator is seeded with sessions for every sample event, for SESSION_IDS
// and for DISCOVER_TAGS (see localinvoke.Sessions).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"sessionwatch/handler"
	"sessionwatch/internal/awstest"
	"sessionwatch/internal/localinvoke"
)

type envFlag map[string]string

func (e envFlag) String() string { return fmt.Sprint(map[string]string(e)) }

func (e envFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	e[k] = v
	return nil
}

func main() {
	os.Exit(run())
}

func run() int {
	env := envFlag{}
	event := flag.String("event", "", "`file` holding the invocation payload (- for stdin); required")
	flag.Var(env, "env", "`KEY=VALUE` function environment variable, over those of events/env.json (repeatable; KEY= sets it empty)")
	verbose := flag.Bool("v", false, "stream the emulator's and the function's output to stderr")
	timeout := flag.Duration("timeout", localinvoke.TemplateTimeout, "function timeout")
	flag.Parse()
	if *event == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: run -event FILE [-env KEY=VALUE]... [-v] [-timeout D]")
		flag.PrintDefaults()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var payload []byte
	var err error
	if *event == "-" {
		payload, err = io.ReadAll(os.Stdin)
	} else {
		payload, err = os.ReadFile(*event)
	}
	if err != nil {
		return fail(err)
	}

	moto := os.Getenv(awstest.EnvEndpoint)
	if moto == "" {
		var stopMoto func()
		moto, stopMoto, err = awstest.StartMoto()
		if errors.Is(err, awstest.ErrMotoMissing) {
			return fail(fmt.Errorf("%v: %s", err, awstest.MotoMissingHint))
		}
		if err != nil {
			return fail(err)
		}
		defer stopMoto()
		progress("started moto_server at %s", moto)
	}

	fnEnv, err := localinvoke.SampleEnv("")
	if err != nil {
		return fail(err)
	}
	maps.Copy(fnEnv, env)

	// Seed Glue with what every sample asks for, not only this one, so that
	// the sessions do not depend on which sample is run, and with what the
	// configuration watches.
	payloads := [][]byte{payload}
	samples, err := localinvoke.SampleEvents("")
	if err != nil {
		return fail(err)
	}
	for _, s := range samples {
		payloads = append(payloads, s.Payload)
	}
	var ids []string
	for _, id := range strings.Split(fnEnv["SESSION_IDS"], ",") {
		ids = append(ids, strings.TrimSpace(id))
	}
	configured := map[string]any{"sessionIds": ids}
	if tags, err := handler.ParseTags(fnEnv["DISCOVER_TAGS"]); err == nil && tags != nil {
		configured["tags"] = tags
	}
	b, _ := json.Marshal(configured)
	payloads = append(payloads, b)

	opts := localinvoke.Options{
		MotoEndpoint: moto,
		Sessions:     localinvoke.Sessions(payloads...),
		Env:          fnEnv,
		Timeout:      *timeout,
	}
	if *verbose {
		opts.Output = os.Stderr
	}
	progress("building the bootstrap and starting aws-lambda-rie")
	f, err := localinvoke.Start(ctx, opts)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := f.Close(); err != nil {
			progress("close: %v", err)
		}
	}()
	progress("emulator ready in %v (table %s, bus %s, Glue %s)", f.Ready.Sub(f.Started).Round(time.Millisecond), f.Table, f.Bus.Name, f.GlueURL)

	began := time.Now()
	resp, err := f.Invoke(ctx, payload)
	took := time.Since(began)
	var fe *localinvoke.FunctionError
	if err != nil && !errors.As(err, &fe) {
		return fail(err) // with the end of the output
	}
	progress("response after %v (cold start: the emulator starts the bootstrap at the first invoke):", took.Round(time.Millisecond))
	printJSON(resp)

	events, perr := f.Published(ctx)
	progress("%d published event(s):", len(events))
	for _, e := range events {
		printJSON(e)
	}
	if perr != nil {
		return fail(perr)
	}
	if fe != nil {
		if !*verbose {
			fmt.Fprintf(os.Stderr, "function output:\n%s\n", f.Output())
		}
		fmt.Fprintf(os.Stderr, "run: %v\n", fe)
		return 1
	}
	return 0
}

func printJSON(b []byte) {
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		out.Reset()
		out.Write(b)
	}
	out.WriteByte('\n')
	os.Stdout.Write(out.Bytes())
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "== "+format+"\n", args...)
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "run: %v\n", err)
	return 2
}
