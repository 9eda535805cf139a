package localinvoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RIEModule and RIEVersion name the AWS Lambda Runtime Interface Emulator
// that [InstallRIE] installs. It is a tool, not a dependency: it never goes
// into go.mod.
const (
	RIEModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	RIEPackage = RIEModule + "/cmd/aws-lambda-rie"
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// EnvRIE is the environment variable that, when set, gives the path of an
// aws-lambda-rie binary to use instead of installing one.
const EnvRIE = "SESSIONWATCH_RIE"

// ErrRIEUnavailable marks a failure to find or install aws-lambda-rie.
var ErrRIEUnavailable = errors.New("aws-lambda-rie unavailable")

// modulePath is the path of the module whose bootstrap is built.
const modulePath = "sessionwatch"

// ModuleRoot returns the directory of the sessionwatch module (the one
// holding its go.mod), looked for from the working directory upwards.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && modulePathOf(b) == modulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of module %s in %s or above", modulePath, dir)
		}
	}
}

func modulePathOf(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// BuildFlags are the go build flags of the Lambda bootstrap, those of the
// Makefile's build-SessionWatchFunction target that `sam build` runs (a
// test keeps the two in step).
var BuildFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// Build builds the function's bootstrap (./cmd/bootstrap of the module at
// root, or of [ModuleRoot] if root is empty) into the file out and returns
// how go build was run.
//
// The template builds it for linux/arm64 (CGO_ENABLED=0, -tags lambda.norpc,
// -trimpath, -ldflags '-s -w'); this is the same build for GOARCH the host's
// architecture, so that it runs here under the Runtime Interface Emulator.
func Build(ctx context.Context, root, out string) (string, error) {
	if root == "" {
		var err error
		if root, err = ModuleRoot(); err != nil {
			return "", err
		}
	}
	goTool, err := goCommand()
	if err != nil {
		return "", err
	}
	args := append([]string{"build"}, BuildFlags...)
	args = append(args, "-o", out, "./cmd/bootstrap")
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	desc := fmt.Sprintf("CGO_ENABLED=0 GOOS=linux GOARCH=%s go %s", runtime.GOARCH, strings.Join(args, " "))
	if b, err := cmd.CombinedOutput(); err != nil {
		return desc, fmt.Errorf("%s (in %s): %v\n%s", desc, root, err, b)
	}
	return desc, nil
}

// goCommand finds the go tool on PATH.
func goCommand() (string, error) {
	p, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the go command is not on PATH")
	}
	return p, nil
}

// RIEDir is where [InstallRIE] keeps aws-lambda-rie: a directory per
// version under the user's cache directory (~/.cache/sessionwatch/bin/... on
// Linux).
func RIEDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "sessionwatch", "bin", "aws-lambda-rie@"+RIEVersion), nil
}

// InstallRIE returns the path of the aws-lambda-rie binary: $SESSIONWATCH_RIE
// if set; else the one in [RIEDir] if present; else it installs it there
// first with
//
//	GOBIN=<tmp> go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@<RIEVersion>
//
// (outside any module: go.mod is not touched) and renames it into place, so
// that concurrent installs do not see a half-written binary. Every error
// wraps [ErrRIEUnavailable].
func InstallRIE(ctx context.Context) (string, error) {
	if p := os.Getenv(EnvRIE); p != "" {
		if err := isExecutable(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrRIEUnavailable, EnvRIE, p, err)
		}
		return p, nil
	}
	dir, err := RIEDir()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrRIEUnavailable, err)
	}
	bin := filepath.Join(dir, "aws-lambda-rie")
	if isExecutable(bin) == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%w: %v", ErrRIEUnavailable, err)
	}
	tmp, err := os.MkdirTemp(dir, "install-")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrRIEUnavailable, err)
	}
	defer os.RemoveAll(tmp)
	goTool, err := goCommand()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrRIEUnavailable, err)
	}
	cmd := exec.CommandContext(ctx, goTool, "install", RIEPackage+"@"+RIEVersion)
	cmd.Dir = tmp // outside the module: `go install pkg@version` never edits a go.mod, but be plain about it
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOOS=", "GOARCH=", "GOFLAGS=", "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: go install %s@%s: %v\n%s", ErrRIEUnavailable, RIEPackage, RIEVersion, err, out.Bytes())
	}
	if err := os.Rename(filepath.Join(tmp, "aws-lambda-rie"), bin); err != nil {
		return "", fmt.Errorf("%w: %v", ErrRIEUnavailable, err)
	}
	return bin, nil
}

func isExecutable(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return err
	case fi.IsDir() || fi.Mode()&0o111 == 0:
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}
