//go:build !linux

package bench

import "os"

func resetPeakRSS() {}

func rss() (cur, peak uint64) { return 0, 0 }

func maxRSS(*os.ProcessState) uint64 { return 0 }
