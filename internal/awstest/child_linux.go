package awstest

import (
	"os/exec"
	"runtime"
	"syscall"
)

// StartChild starts cmd so that it gets SIGKILL when this process dies
// (keeping any SysProcAttr the caller set),
// and returns a channel that receives cmd.Wait's result.
//
// Linux sends the parent death signal when the thread that forked the child
// exits, not only the process. The Go runtime may end a thread, so cmd is
// started from a goroutine locked to its thread that then blocks in cmd.Wait:
// that thread lives as long as the child does.
func StartChild(cmd *exec.Cmd) (<-chan error, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread must not be reused or ended while the
		// child runs. It ends when this goroutine returns.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}
