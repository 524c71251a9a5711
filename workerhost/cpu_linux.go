package workerhost

import (
	"time"

	"golang.org/x/sys/unix"
)

func gettid() int { return unix.Gettid() }

// threadCPU reads the CPU clock of thread tid of this process: the clock
// ID is Linux's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED).
func threadCPU(tid int) (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(int32(^tid<<3|6), &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
