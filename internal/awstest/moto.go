package awstest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvEndpoint is the environment variable that, when set, gives the URL of an
// already running moto server (.ci/run sets it).
const EnvEndpoint = "MOTO_ENDPOINT"

// MotoMissingHint says how to get moto_server, for messages about
// [ErrMotoMissing].
const MotoMissingHint = "moto_server 5.2.1 must be on PATH (it ships with this machine's pyenv Python 3.11, reached through the pyenv shims); or set " + EnvEndpoint + " to the URL of a running moto server"

const (
	motoCommand      = "moto_server"
	motoStartTimeout = 15 * time.Second
)

// ErrMotoMissing marks a failure to find moto_server at all (as opposed to
// a failure to start one that was found): [Endpoint] then skips the test
// outside CI, and callers of [StartMoto] can tell it with errors.Is.
var ErrMotoMissing = errors.New("moto_server not found")

var (
	motoOnce sync.Once
	motoURL  string
	motoErr  error
)

// Endpoint returns the URL of a moto server, such as "http://127.0.0.1:40123".
//
// If the environment variable MOTO_ENDPOINT is set, its value is returned,
// less any trailing slash. Otherwise the first call in the test binary starts
// "moto_server -H 127.0.0.1 -p PORT" on a free port and waits (up to 15 s)
// until GET /moto-api/ answers; later calls return the same URL. That server
// is shared by every test of the binary and is never reset. It is not stopped
// in a Cleanup: on Linux it gets SIGKILL when the test binary exits (parent
// death signal), elsewhere it has to be stopped by hand.
//
// If moto_server cannot be found, the test is skipped, or fails when the
// environment variable CI is non-empty. Any other failure to start it fails
// the test.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		return strings.TrimRight(ep, "/")
	}
	motoOnce.Do(func() { motoURL, _, motoErr = StartMoto() })
	switch {
	case errors.Is(motoErr, ErrMotoMissing):
		msg := fmt.Sprintf("awstest: %v: %s", motoErr, MotoMissingHint)
		if os.Getenv("CI") != "" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	case motoErr != nil:
		tb.Fatalf("awstest: starting moto_server: %v", motoErr)
	}
	return motoURL
}

// StartMoto starts a new moto_server on a free port of 127.0.0.1, waits (up
// to 15 s) until GET /moto-api/ answers, and returns its URL, such as
// "http://127.0.0.1:40123", and a function that kills it and waits for it to
// exit (safe to call more than once). It tries again on another port if the
// server exits before answering (such as when another process took the port
// meanwhile).
//
// Each call starts its own server; it is not the one [Endpoint] shares. On
// Linux the server also gets SIGKILL when the calling process dies (parent
// death signal); elsewhere it outlives a caller that never calls stop.
//
// If moto_server cannot be found, the error wraps [ErrMotoMissing].
func StartMoto() (url string, stop func(), err error) {
	path, err := exec.LookPath(motoCommand)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrMotoMissing, err)
	}
	for attempt := 1; ; attempt++ {
		url, stop, err := startMotoOnce(path)
		if err == nil || attempt == 3 || !errors.Is(err, errExitedEarly) {
			return url, stop, err
		}
	}
}

var errExitedEarly = errors.New("moto_server exited before answering")

func startMotoOnce(path string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	out := &headBuffer{max: 64 << 10}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout = out
	cmd.Stderr = out
	exited, err := StartChild(cmd)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(motoStartTimeout)
	for {
		resp, err := client.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, stop, nil
			}
		}
		select {
		case err := <-exited:
			var exitErr *exec.ExitError
			if errors.As(err, &exitErr) && exitErr.ExitCode() == 127 {
				// A pyenv shim whose command the selected Python lacks:
				// "pyenv: moto_server: command not found", exit status 127.
				return "", nil, fmt.Errorf("%w: %s: %v: %s", ErrMotoMissing, path, err, strings.TrimSpace(out.String()))
			}
			return "", nil, fmt.Errorf("%w (%v); output:\n%s", errExitedEarly, err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("%s did not answer GET %s/moto-api/ within %v; output:\n%s", path, url, motoStartTimeout, out)
		}
	}
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("choosing a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// headBuffer keeps the first max bytes written to it and drops the rest:
// moto logs a line per request, and only its start-up output is of interest.
type headBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *headBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *headBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
