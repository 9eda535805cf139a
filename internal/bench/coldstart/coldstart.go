// Package coldstart measures the cold start of the sessionwatch Lambda
// function: the time from starting the Lambda Runtime Interface Emulator
// with the real bootstrap to the first response of a quiet run, set beside
// the same time for a hello-world Go bootstrap built the same way and
// measured in the same process, alternately, so that the machine's noise
// falls on both. It runs the function through package localinvoke, against
// moto and the Glue emulator.
package coldstart

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"sessionwatch/internal/awstest"
	"sessionwatch/internal/localinvoke"
)

// Result is a cold-start measurement.
type Result struct {
	// Bootstrap and Hello are the times from starting the emulator to the
	// first response, rep by rep, of sessionwatch (a quiet run) and of the
	// hello-world bootstrap.
	Bootstrap, Hello []time.Duration
	// Sizes of the two binaries, built for this machine's architecture.
	BootstrapSize, HelloSize int64
	// Build is how both were built.
	Build string
	// Watched are the sessions the quiet run polls.
	Watched []string
}

// Median returns the median of ds.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Ratio is the median cold start of sessionwatch over the hello world's.
func (r *Result) Ratio() float64 {
	return float64(Median(r.Bootstrap)) / float64(Median(r.Hello))
}

// helloSource is the hello-world bootstrap: aws-lambda-go's runtime loop
// and a handler that answers at once.
const helloSource = `package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(ctx context.Context, payload json.RawMessage) (map[string]string, error) {
		return map[string]string{"hello": "world"}, nil
	})
}
`

// Measure builds both bootstraps, seeds a table so that the next run of
// the function is quiet, then starts reps emulators of each, alternating,
// and times each one's first invoke. moto is $MOTO_ENDPOINT, else a
// moto_server it starts. Progress goes to log.
func Measure(ctx context.Context, reps int, log io.Writer) (*Result, error) {
	moto := os.Getenv(awstest.EnvEndpoint)
	if moto == "" {
		url, stop, err := awstest.StartMoto()
		if err != nil {
			return nil, fmt.Errorf("coldstart: %w", err)
		}
		defer stop()
		moto = url
	}
	dir, err := os.MkdirTemp("", "sessionwatch-coldstart-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	res := &Result{Watched: []string{localinvoke.ReadySession, localinvoke.ProvisioningSession}}
	bootstrap := filepath.Join(dir, "bootstrap")
	if res.Build, err = localinvoke.Build(ctx, "", bootstrap); err != nil {
		return nil, fmt.Errorf("coldstart: %w", err)
	}
	hello, err := buildHello(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("coldstart: %w", err)
	}
	for _, b := range []struct {
		path string
		size *int64
	}{{bootstrap, &res.BootstrapSize}, {hello, &res.HelloSize}} {
		fi, err := os.Stat(b.path)
		if err != nil {
			return nil, err
		}
		*b.size = fi.Size()
	}
	rie, err := localinvoke.InstallRIE(ctx)
	if err != nil {
		return nil, fmt.Errorf("coldstart: %w", err)
	}

	// The seed deployment's first run writes the snapshots; its second
	// proves the next run is quiet. Every measured deployment uses its
	// table, bus and Glue emulator.
	ids := strings.Join(res.Watched, ",")
	seed, err := localinvoke.Start(ctx, localinvoke.Options{
		MotoEndpoint: moto, Sessions: localinvoke.Sessions(), Bootstrap: bootstrap, RIE: rie,
		Name: "coldstart-seed", Env: map[string]string{"SESSION_IDS": ids},
	})
	if err != nil {
		return nil, fmt.Errorf("coldstart: %w", err)
	}
	defer seed.Close()
	for i, wantChanged := range []int{len(res.Watched), 0} {
		body, err := seed.Invoke(ctx, []byte(`{}`))
		if err != nil {
			return nil, fmt.Errorf("coldstart: seed run %d: %w", i+1, err)
		}
		if err := checkRun(body, wantChanged); err != nil {
			return nil, fmt.Errorf("coldstart: seed run %d: %w", i+1, err)
		}
	}
	env := map[string]string{"SESSION_IDS": ids, "SNAPSHOT_TABLE": seed.Table, "EVENT_BUS_NAME": seed.Bus.Name}

	for rep := range reps {
		order := []bool{true, false} // sessionwatch first on odd reps, hello world first on even ones
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		for _, quiet := range order {
			opts := localinvoke.Options{
				MotoEndpoint: moto, GlueEndpoint: seed.GlueURL, Bootstrap: bootstrap, RIE: rie,
				Name: fmt.Sprintf("coldstart-%d", rep), Env: env,
			}
			if !quiet {
				opts.Bootstrap, opts.Name = hello, fmt.Sprintf("coldstart-hello-%d", rep)
			}
			d, err := coldStart(ctx, opts, quiet)
			if err != nil {
				return nil, fmt.Errorf("coldstart: rep %d: %w", rep+1, err)
			}
			if quiet {
				res.Bootstrap = append(res.Bootstrap, d)
			} else {
				res.Hello = append(res.Hello, d)
			}
			fmt.Fprintf(log, "cold start rep %d: %s %v\n", rep+1, map[bool]string{true: "sessionwatch", false: "hello-world"}[quiet], d.Round(time.Millisecond))
		}
	}
	return res, nil
}

// coldStart starts a deployment and returns the time from starting its
// emulator to the answer of its first invoke, checked to be a quiet run
// when quiet is set.
func coldStart(ctx context.Context, opts localinvoke.Options, quiet bool) (time.Duration, error) {
	f, err := localinvoke.Start(ctx, opts)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	body, err := f.Invoke(ctx, []byte(`{}`))
	d := time.Since(f.Started)
	if err != nil {
		return 0, err
	}
	if quiet {
		if err := checkRun(body, 0); err != nil {
			return 0, err
		}
	}
	return d, nil
}

// checkRun checks a run's response: no error, and changed sessions as
// wanted (0: a quiet run, which publishes nothing).
func checkRun(body []byte, changed int) error {
	var res struct {
		Polled, Changed, Published int
		Errors                     []json.RawMessage
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("response %s: %w", body, err)
	}
	if len(res.Errors) > 0 || res.Changed != changed || (changed == 0 && res.Published != 0) {
		return fmt.Errorf("response %s: want %d changed and no error", body, changed)
	}
	return nil
}

// buildHello writes the hello-world source where the go command reads it
// through an overlay (a package of this module that exists only for the
// build, so that it uses the module's aws-lambda-go), and builds it with
// the bootstrap's flags and for the same platform into dir.
func buildHello(ctx context.Context, dir string) (string, error) {
	root, err := localinvoke.ModuleRoot()
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "hello.go")
	if err := os.WriteFile(src, []byte(helloSource), 0o644); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(root, "internal", "bench", "coldstart", "hellobootstrap", "main.go"): src},
	})
	if err != nil {
		return "", err
	}
	overlayPath := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayPath, overlay, 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "hello")
	args := append([]string{"build", "-overlay", overlayPath}, localinvoke.BuildFlags...)
	args = append(args, "-o", out, "./internal/bench/coldstart/hellobootstrap")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", errors.Join(fmt.Errorf("build the hello-world bootstrap: %w", err), errors.New(string(b)))
	}
	return out, nil
}
