package localinvoke

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"sessionwatch/internal/awstest"
)

// startProcess starts cmd in a process group of its own (so that a Ctrl-C
// in the terminal reaches only the caller, who then closes the function)
// and so that it gets SIGKILL when the calling process dies; it returns a
// channel that receives cmd.Wait's result.
//
// Linux sends the parent death signal when the thread that forked the child
// exits, not only the process. The Go runtime may end a thread, so cmd is
// started from a goroutine locked to its thread that then blocks in
// cmd.Wait: that thread lives as long as the child does.
func startProcess(cmd *exec.Cmd) (<-chan error, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return awstest.StartChild(cmd)
}

// children returns the live (not zombie) processes whose parent is pid.
//
// The emulator starts the bootstrap in a process group of its own, so
// killing the emulator's group does not reach it: it is found here, by its
// parent.
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, state, ok := procStat(child); ok && ppid == pid && state != 'Z' {
			out = append(out, child)
		}
	}
	return out
}

// procStat reads the parent and the state of pid from /proc/pid/stat.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(string(f[1]))
	return ppid, f[0][0], err == nil
}

// alive reports whether pid is a process that is neither gone nor a zombie
// (an orphan whose new parent has not reaped it yet still counts as gone).
func alive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z'
}

// killTree stops the emulator (so that it starts no new runtime), kills the
// process groups of its children (the bootstrap and anything it started)
// and then the emulator itself, waits for the emulator to exit (exited) and
// for the children to be gone, at most until timeout. It returns the
// children that are still alive.
func killTree(pid int, exited <-chan error, timeout time.Duration) []int {
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	kids := children(pid)
	for _, k := range kids {
		_ = syscall.Kill(-k, syscall.SIGKILL) // its group: RIE makes each runtime a group leader
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.After(timeout)
	select {
	case <-exited:
	case <-deadline:
	}
	for {
		var left []int
		for _, k := range kids {
			if alive(k) {
				left = append(left, k)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-deadline:
			return left
		case <-time.After(10 * time.Millisecond):
		}
	}
}

const supported = true
