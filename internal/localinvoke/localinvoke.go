// Package localinvoke runs the sessionwatch Lambda function locally the way
// `sam local invoke` does, without Docker: the real bootstrap, built as the
// template builds it, under AWS's Lambda Runtime Interface Emulator
// (aws-lambda-rie), against moto (DynamoDB, EventBridge, SQS) and the
// in-process Glue sessions emulator (package glueemu).
//
//	f, err := localinvoke.Start(ctx, localinvoke.Options{MotoEndpoint: url, Sessions: localinvoke.Sessions()})
//	defer f.Close()
//	resp, err := f.Invoke(ctx, []byte(`{"sessionIds": ["sw-ready"]}`))
//	events, err := f.Published(ctx)
//
// Each [Function] has its own emulator process, table, bus (with a rule
// delivering every event to an SQS queue) and, unless given an endpoint, its
// own Glue emulator, so several can run side by side.
package localinvoke

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"sessionwatch/internal/awstest"
	"sessionwatch/internal/glueemu"
)

// InvokePath is the emulator's invoke path, as in Lambda's Invoke API.
const InvokePath = "/2015-03-31/functions/function/invocations"

// Region and Account are those of the function under the emulator: its ARN
// is arn:aws:lambda:us-east-1:012345678912:function:<name>, whatever the
// environment says.
const (
	Region  = "us-east-1"
	Account = "012345678912"
)

// What template.yaml sets on the function that reaches it at run time (a
// test keeps these in step with the template). LoggingConfig.LogFormat JSON
// makes Lambda set AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL=INFO,
// which the function's logger (lambdacontext.NewLogger) reads.
const (
	TemplateTimeout    = 120 * time.Second
	TemplateMemorySize = 128
	TemplateLogFormat  = "JSON"
)

// Options configure [Start]. Only MotoEndpoint is required.
type Options struct {
	// MotoEndpoint is the URL of the moto server holding the table and bus
	// (awstest.Endpoint in a test, awstest.StartMoto elsewhere).
	MotoEndpoint string

	// GlueEndpoint is the URL of a Glue endpoint for the function. If
	// empty, Start serves a new glueemu.Emulator seeded with Sessions
	// (Function.Glue).
	GlueEndpoint string
	// Sessions seed the Glue emulator that Start serves (see [Sessions]).
	Sessions []glueemu.Session

	// Env sets function environment variables (the function's
	// configuration: SESSION_IDS, DISCOVER, DISCOVER_TAGS, EVENT_SOURCE,
	// ...; [SampleEnv] reads those of events/env.json) and can override any
	// variable Start sets, including SNAPSHOT_TABLE, EVENT_BUS_NAME and the
	// AWS_* ones. Variables it leaves unset take the function's defaults,
	// which are the template's.
	Env map[string]string

	// Name is the function name (AWS_LAMBDA_FUNCTION_NAME), also the prefix
	// of the table and bus names; "sessionwatch" if empty.
	Name string
	// Timeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT, whole
	// seconds, rounded up); the template's, [TemplateTimeout], if zero.
	Timeout time.Duration

	// Bootstrap is the path of a bootstrap built with [Build]; if empty,
	// Start builds one into its temporary directory.
	Bootstrap string
	// RIE is the path of aws-lambda-rie; if empty, [InstallRIE] finds or
	// installs it.
	RIE string

	// Output, if set, also receives everything the emulator and the
	// function write (stdout and stderr), as it is written.
	Output io.Writer
}

// Function is one local deployment of the function: a running emulator
// process (which starts the bootstrap at the first invoke, as Lambda's
// cold start does), its table and bus on moto, and its Glue endpoint.
type Function struct {
	// URL is the emulator's base URL, such as "http://127.0.0.1:40123";
	// invokes go to URL + InvokePath.
	URL string
	// RuntimeAPI is the address of the Lambda Runtime API the emulator
	// serves to the bootstrap (AWS_LAMBDA_RUNTIME_API).
	RuntimeAPI string
	// ARN is the function ARN the bootstrap is invoked with.
	ARN string
	// Table is the snapshot table, Bus the event bus (its Queue receives
	// every event published on it).
	Table string
	Bus   *awstest.Bus
	// GlueURL is the function's Glue endpoint, and Glue the emulator behind
	// it when Start serves one (nil with Options.GlueEndpoint).
	GlueURL string
	Glue    *glueemu.Emulator
	// Env is the environment of the emulator process, which it passes on to
	// the bootstrap, sorted.
	Env []string
	// Bootstrap and RIE are the binaries run.
	Bootstrap, RIE string
	// Started is when the emulator process was started, Ready when it began
	// to accept connections.
	Started, Ready time.Time

	cmd    *exec.Cmd
	exited <-chan error
	pid    atomic.Int64 // of the emulator; 0 when not running
	out    *logBuffer
	client *http.Client

	invokeMu  sync.Mutex // the emulator serves one invoke at a time
	closeOnce sync.Once
	closeErr  error
	cleanups  []func() error // run last first by Close
}

// FunctionError is a function error: the emulator answered
// {"errorMessage": ..., "errorType": ...}. Lambda answers those with HTTP
// 200 (and X-Amz-Function-Error); the emulator does too for an error the
// function returns, but answers 502 when the runtime died during the invoke
// (errorType Runtime.ExitError).
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
	// Status is the HTTP status the emulator answered with (0 from
	// ParseFunctionError).
	Status int `json:"-"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// ParseFunctionError returns the function error that body holds, or nil if
// it is not one (not a JSON object with a non-empty errorType).
func ParseFunctionError(body []byte) *FunctionError {
	var fe FunctionError
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) && json.Unmarshal(body, &fe) == nil && fe.Type != "" {
		return &fe
	}
	return nil
}

// Start starts a local deployment of the function; see [Options]. It
// returns once the emulator accepts connections; the bootstrap starts (and
// reads its configuration) at the first invoke. Call Close when done, also
// after an error of Invoke.
func Start(ctx context.Context, opts Options) (_ *Function, err error) {
	if !supported {
		return nil, errUnsupported
	}
	if opts.MotoEndpoint == "" {
		return nil, errors.New("localinvoke: Options.MotoEndpoint is required")
	}
	name := cmp.Or(opts.Name, "sessionwatch")
	timeout := cmp.Or(opts.Timeout, TemplateTimeout)
	f := &Function{
		ARN:       fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", Region, Account, name),
		Bootstrap: opts.Bootstrap,
		RIE:       opts.RIE,
		out:       &logBuffer{max: 4 << 20, tee: opts.Output},
		client:    &http.Client{},
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("localinvoke: %w", err), f.Close())
		}
	}()

	dir, err := os.MkdirTemp("", "sessionwatch-localinvoke-")
	if err != nil {
		return nil, err
	}
	f.cleanups = append(f.cleanups, func() error { return os.RemoveAll(dir) })
	if f.Bootstrap == "" {
		f.Bootstrap = filepath.Join(dir, "bootstrap")
		if _, err := Build(ctx, "", f.Bootstrap); err != nil {
			return nil, err
		}
	}
	if f.RIE == "" {
		if f.RIE, err = InstallRIE(ctx); err != nil {
			return nil, err
		}
	}

	f.GlueURL = opts.GlueEndpoint
	if f.GlueURL == "" {
		f.Glue = glueemu.New()
		for _, s := range opts.Sessions {
			f.Glue.Put(s)
		}
		srv := httptest.NewServer(f.Glue)
		f.cleanups = append(f.cleanups, func() error { srv.Close(); return nil })
		f.GlueURL = srv.URL
	}

	awsCfg := aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(opts.MotoEndpoint),
	}
	table, drop, err := awstest.CreateTable(ctx, awsCfg, name)
	if err != nil {
		return nil, err
	}
	f.Table = table
	f.cleanups = append(f.cleanups, drop)
	if f.Bus, err = awstest.CreateBus(ctx, awsCfg, name, ""); err != nil {
		return nil, err
	}
	f.cleanups = append(f.cleanups, f.Bus.Delete)

	// The shared config files of the caller (~/.aws) must not reach the
	// function: empty ones stand in for them, as in Lambda, which has none.
	emptyConfig := filepath.Join(dir, "aws-config")
	if err := os.WriteFile(emptyConfig, nil, 0o644); err != nil {
		return nil, err
	}
	env := map[string]string{
		// What Lambda sets (the emulator adds AWS_LAMBDA_RUNTIME_API,
		// AWS_LAMBDA_LOG_* and the like itself).
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
		"LAMBDA_TASK_ROOT":                dir,
		"AWS_REGION":                      Region,
		"AWS_DEFAULT_REGION":              Region,
		"AWS_LAMBDA_FUNCTION_NAME":        name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     strconv.Itoa(int((timeout + time.Second - 1) / time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(TemplateMemorySize),
		"AWS_LAMBDA_LOG_FORMAT":           TemplateLogFormat,
		"AWS_LAMBDA_LOG_LEVEL":            "INFO",
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
		"AWS_CONFIG_FILE":                 emptyConfig,
		"AWS_SHARED_CREDENTIALS_FILE":     emptyConfig,
		// Where the services are.
		"AWS_ENDPOINT_URL_GLUE":        f.GlueURL,
		"AWS_ENDPOINT_URL_DYNAMODB":    opts.MotoEndpoint,
		"AWS_ENDPOINT_URL_EVENTBRIDGE": opts.MotoEndpoint,
		// The function's configuration.
		"SNAPSHOT_TABLE": f.Table,
		"EVENT_BUS_NAME": f.Bus.Name,
	}
	maps.Copy(env, opts.Env)
	for k, v := range env {
		f.Env = append(f.Env, k+"="+v)
	}
	slices.Sort(f.Env)

	for attempt := 1; ; attempt++ {
		err = f.startRIE(ctx, dir)
		if err == nil || attempt == 3 || !errors.Is(err, errExitedEarly) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

var errUnsupported = errors.New("local invoke needs Linux (the bootstrap and aws-lambda-rie are linux programs)")

var errExitedEarly = errors.New("aws-lambda-rie exited before accepting connections")

// startRIE starts the emulator on free ports and waits until it accepts
// connections.
func (f *Function) startRIE(ctx context.Context, dir string) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	f.RuntimeAPI = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	f.URL = "http://" + addr
	cmd := exec.Command(f.RIE,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", f.RuntimeAPI,
		f.Bootstrap)
	cmd.Dir = dir // the bootstrap's working directory, as /var/task in Lambda
	cmd.Env = f.Env
	cmd.Stdout, cmd.Stderr = f.out, f.out
	f.Started = time.Now()
	exited, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("start %s: %w", f.RIE, err)
	}
	f.cmd, f.exited = cmd, exited
	f.pid.Store(int64(cmd.Process.Pid))

	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			f.Ready = time.Now()
			return nil
		}
		select {
		case err := <-exited:
			f.cmd, f.exited = nil, nil
			f.pid.Store(0)
			return fmt.Errorf("%w (%v); output:\n%s", errExitedEarly, err, f.out)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aws-lambda-rie did not accept connections on %s within 10s; output:\n%s", addr, f.out)
		}
	}
}

// Invoke invokes the function with payload (nil or empty is an empty
// payload) and returns the emulator's answer: the function's response, or
// the error document of a function error. Invokes are serialized: the
// emulator, like one Lambda execution environment, runs one at a time.
//
// The error is a *FunctionError when the answer is a function error (the
// body is returned too); another error, with the body, when the emulator
// answers anything else than JSON with HTTP 200 (such as its "Task timed
// out after ..." text with 200, or 502 and nothing when the bootstrap exits
// during init); or the request's error.
func (f *Function) Invoke(ctx context.Context, payload []byte) (json.RawMessage, error) {
	f.invokeMu.Lock()
	defer f.invokeMu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL+InvokePath, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return body, fmt.Errorf("invoke: reading the answer: %w", err)
	}
	if fe := ParseFunctionError(body); fe != nil {
		fe.Status = resp.StatusCode
		return body, fe
	}
	if resp.StatusCode != http.StatusOK {
		// Such as 502 with an empty body when the bootstrap exits during
		// init, where Lambda answers Runtime.ExitError.
		return body, fmt.Errorf("invoke: aws-lambda-rie answered %s: %q; its output ends with:\n%s", resp.Status, body, outputTail(f.Output(), 20))
	}
	if !json.Valid(body) {
		return body, fmt.Errorf("invoke: the answer is not JSON: %q; the output ends with:\n%s", body, outputTail(f.Output(), 20))
	}
	return body, nil
}

// Published drains the bus's queue: the events the function published
// since the last call, as EventBridge delivers them to a rule's target
// (see awstest.Queue.Receive for moto's exact shape). Moto delivers during
// PutEvents, so every event of an invoke that returned is there.
func (f *Function) Published(ctx context.Context) ([]json.RawMessage, error) {
	return f.Bus.Drain(ctx)
}

// PID is the process id of the emulator (0 once closed).
func (f *Function) PID() int { return int(f.pid.Load()) }

// RuntimePIDs returns the process ids of the running bootstraps: none
// before the first invoke, one after (the emulator starts it again at the
// next invoke if it dies). Each leads a process group of its own. A test
// can SIGKILL one to crash the function.
func (f *Function) RuntimePIDs() []int {
	if pid := f.PID(); pid != 0 {
		return children(pid)
	}
	return nil
}

// Output returns what the emulator and the function wrote so far (stdout
// and stderr interleaved: the emulator's START/END/REPORT lines, its
// "Init Duration", the function's log lines), at most the first 4 MiB.
func (f *Function) Output() string { return f.out.String() }

// Close kills the emulator and its bootstraps (their whole process groups)
// and waits until they are gone, then stops the Glue emulator it served and
// deletes the table, bus, rule and queue, and the temporary directory. It is
// safe to call more than once; later calls return the first one's result.
func (f *Function) Close() error {
	f.closeOnce.Do(func() {
		var errs []error
		if f.cmd != nil {
			f.pid.Store(0)
			if left := killTree(f.cmd.Process.Pid, f.exited, 10*time.Second); len(left) > 0 {
				errs = append(errs, fmt.Errorf("localinvoke: bootstrap processes %v still alive after SIGKILL", left))
			}
			f.cmd = nil
		}
		f.client.CloseIdleConnections()
		for _, c := range slices.Backward(f.cleanups) {
			errs = append(errs, c())
		}
		f.closeErr = errors.Join(errs...)
	})
	return f.closeErr
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("choosing a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// logBuffer keeps the first max bytes written to it and copies everything
// to tee, if set.
type logBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
	tee io.Writer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	if b.tee != nil {
		_, _ = b.tee.Write(p)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// outputTail returns the last lines of s, for error messages.
func outputTail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
