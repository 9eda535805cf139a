//go:build !linux

package localinvoke

import (
	"os/exec"
	"time"
)

// The bootstrap is a linux binary and the Runtime Interface Emulator a
// linux program: local invokes run on Linux only.
const supported = false

func startProcess(*exec.Cmd) (<-chan error, error) { return nil, errUnsupported }

func children(int) []int { return nil }

func alive(int) bool { return false }

func killTree(int, <-chan error, time.Duration) []int { return nil }
