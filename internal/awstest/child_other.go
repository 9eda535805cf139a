//go:build !linux

package awstest

import "os/exec"

// StartChild starts cmd and returns a channel that receives cmd.Wait's
// result. Without a parent death signal on this system, the child outlives
// the test binary.
func StartChild(cmd *exec.Cmd) (<-chan error, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}
