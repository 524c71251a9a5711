//go:build !linux

package workerhost

import "time"

// Elsewhere than on Linux there is no thread clock to read: the watchdog
// charges wall-clock time in JavaScript instead.
func gettid() int { return -1 }

func threadCPU(int) (time.Duration, bool) { return 0, false }
