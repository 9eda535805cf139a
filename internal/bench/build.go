package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildFlags are the go build flags of the Makefile's
// build-SessionWatchFunction target, the one `sam build` runs (a test keeps
// the two in step).
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// BuildBootstrap builds the Lambda bootstrap (./cmd/bootstrap of the module
// at root) for linux/goarch with CGO_ENABLED=0 and BuildFlags, as
// build-SessionWatchFunction does for arm64, into dir. It returns the
// binary's path and size and the command it ran.
func BuildBootstrap(ctx context.Context, root, goarch, dir string) (path string, size int64, command string, err error) {
	path = filepath.Join(dir, "bootstrap-"+goarch)
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", path, "./cmd/bootstrap")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	command = fmt.Sprintf("CGO_ENABLED=0 GOOS=linux GOARCH=%s go build -tags lambda.norpc -trimpath -ldflags='-s -w' ./cmd/bootstrap", goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", 0, command, fmt.Errorf("%s: %w\n%s", command, err, b)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", 0, command, err
	}
	return path, fi.Size(), command, nil
}

// ModuleRoot returns the directory of the go.mod of module sessionwatch,
// looked for from the working directory upwards.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			if strings.TrimSpace(first) == "module sessionwatch" {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of module sessionwatch in %s or above", dir)
		}
	}
}
