package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"sessionwatch/internal/wiring"
)

// ChildFlag is the flag of the runner (internal/bench/run) that makes it
// run the one case given as JSON and print its Result as JSON.
const ChildFlag = "child"

// RunChild runs c in a child process (exe -child <case as JSON>), so that
// its peak RSS is its own, against the Glue emulator and the DynamoDB and
// EventBridge stand-ins in another process (exe -aws-server), and returns its result with RSSPeak set to the
// child's maximum resident set, which the child resets just before the
// measured run.
func RunChild(ctx context.Context, exe string, c Case) (*Result, error) {
	if c.Server == "" {
		url, stop, err := startServer(ctx, exe, c)
		if err != nil {
			return nil, err
		}
		defer stop()
		c.Server = url
	}
	arg, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-"+ChildFlag, string(arg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("bench: child for %v: %w\n%s", c, err, strings.TrimSpace(stderr.String()))
	}
	var r Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return nil, fmt.Errorf("bench: child for %v answered %q: %w", c, stdout.String(), err)
	}
	if m := maxRSS(cmd.ProcessState); m > 0 {
		r.RSSPeak = m
	}
	return &r, nil
}

// ServeChild runs the case arg (JSON) in this process and writes its Result
// as JSON to w: the child's side of RunChild. The process is the
// function's: with Case.MemoryMB set, a sessionwatch case runs under the
// soft memory limit the bootstrap sets (wiring.LimitMemory, from the
// function's memory; GOMEMLIMIT in the environment overrides it, as in
// Lambda).
func ServeChild(ctx context.Context, arg string, w io.Writer) error {
	var c Case
	if err := json.Unmarshal([]byte(arg), &c); err != nil {
		return fmt.Errorf("bench: case %q: %w", arg, err)
	}
	if c.MemoryMB > 0 && !c.Naive {
		wiring.LimitMemory(func(k string) string {
			if k == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" {
				return strconv.Itoa(c.MemoryMB)
			}
			return os.Getenv(k)
		})
	}
	r, err := Run(ctx, c)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(r)
}
