package bench

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"
)

// SampleEvery is how often the heap in use is sampled during a run.
const SampleEvery = 5 * time.Millisecond

// memory samples the heap in use while a run goes on.
type memory struct {
	stopc chan struct{}
	done  chan uint64
	base  memStats
}

type memStats struct {
	heapBase, heapPeak, rssBase, rssPeak uint64
}

// startMemory collects the garbage of the set-up and returns it to the
// operating system, resets the process's peak resident set to its current
// one, and starts sampling the heap in use. With a profile path, it writes
// the heap profile there at every new peak of the heap in use (the
// profile is that of the last garbage collection), for pprof.
func startMemory(profile string) *memory {
	debug.FreeOSMemory()
	resetPeakRSS()
	m := &memory{stopc: make(chan struct{}), done: make(chan uint64, 1)}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.base.heapBase = ms.HeapInuse
	m.base.rssBase, _ = rss()
	go func() {
		peak := ms.HeapInuse
		t := time.NewTicker(SampleEvery)
		defer t.Stop()
		var s runtime.MemStats
		for {
			select {
			case <-t.C:
				runtime.ReadMemStats(&s)
				if s.HeapInuse > peak {
					peak = s.HeapInuse
					if profile != "" {
						writeHeapProfile(profile)
					}
				}
			case <-m.stopc:
				runtime.ReadMemStats(&s)
				m.done <- max(peak, s.HeapInuse)
				return
			}
		}
	}()
	return m
}

// stop ends the sampling and returns what was measured.
func (m *memory) stop() memStats {
	close(m.stopc)
	s := m.base
	s.heapPeak = <-m.done
	_, s.rssPeak = rss()
	return s
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}
