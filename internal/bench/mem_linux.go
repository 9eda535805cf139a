package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// resetPeakRSS sets the process's peak resident set (VmHWM, and so the
// maximum RSS its parent reads at exit) to its current resident set.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// rss returns the process's resident set and its peak (VmRSS and VmHWM), in
// bytes.
func rss() (cur, peak uint64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		switch string(f[0]) {
		case "VmRSS:":
			cur = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return cur, peak
}

// maxRSS is the maximum resident set of an exited child, in bytes (Linux
// counts ru_maxrss in KB).
func maxRSS(ps *os.ProcessState) uint64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return uint64(ru.Maxrss) << 10
	}
	return 0
}
