package workerhost

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Go's collector under JavaScript.
//
// goja allocates every JavaScript object, closure and promise on Go's
// heap: a request through a framework such as Hono allocates about 100 KB
// in a few hundred objects, where the same request in workerd stays in
// V8's young generation. A Caddy serving workers has a small live heap
// (10–15 MB), and with GOGC=100 Go collects each time the heap has grown
// by its live size: every few dozen requests, with the collector marking
// (and the write barrier slowing JavaScript) most of the time. That took
// 40% of the CPU time of a Hono request.
//
// So while workers are loaded, the host keeps Go's heap goal at least the
// live heap plus a headroom of a quarter of the smallest memory limit of
// the process's workers (32 MiB with the default memory_limit of 128 MiB),
// at most maxHeadroom: after each collection it raises GOGC, when the live
// heap is smaller than the headroom, to what lets the heap grow by the
// headroom. A large live heap is collected as GOGC=100 would, and
// GOMEMLIMIT (which Caddy sets from a container's memory limit) still
// applies. The headroom is at most
// the growth of the live heap that orders the walks of memory.go, so memory
// limits are checked as often as before. GOGC set in the environment,
// "off" included, turns this off; the last worker to close restores GOGC,
// unless the process set one itself meanwhile (debug.SetGCPercent), which
// the host then takes as the GOGC to raise from and to leave in place.
var gcTune struct {
	mu sync.Mutex
	// workers counts the workers loaded (New done, Close not called).
	workers int
	// base is GOGC as the process set it, before the first worker was
	// loaded or since; percent is what the host set last.
	base, percent int
	// hooked is set while a sentinel awaits the next collection.
	hooked  bool
	samples []metrics.Sample
}

// gcWorkerLoaded counts a worker loaded, and starts tuning with the first.
// It reports whether it counted the worker, which gcWorkerClosed must then
// uncount: GOGC in the environment may change in between.
func gcWorkerLoaded() bool {
	if os.Getenv("GOGC") != "" {
		return false
	}
	gcTune.mu.Lock()
	defer gcTune.mu.Unlock()
	gcTune.workers++
	if gcTune.workers > 1 {
		return true
	}
	if gcTune.samples == nil {
		gcTune.samples = []metrics.Sample{
			{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gogc:percent"},
			{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"},
		}
	}
	gcTuneLocked()
	if !gcTune.hooked {
		gcTune.hooked = true
		hookNextGC()
	}
	return true
}

// gcWorkerClosed uncounts a worker gcWorkerLoaded counted; the last
// restores GOGC.
func gcWorkerClosed() {
	gcTune.mu.Lock()
	defer gcTune.mu.Unlock()
	gcTune.workers--
	if gcTune.workers != 0 {
		return
	}
	gcReadLocked()
	if gcTune.percent != gcTune.base {
		debug.SetGCPercent(gcTune.base)
		gcTune.percent = gcTune.base
	}
}

// gcReadLocked reads GOGC and returns what GOGC is a percentage of: the
// live heap the last collection found, plus the goroutine stacks and
// globals it scanned (Go's heap goal is live + that × GOGC/100). A GOGC
// other than the host's last is the process's own: it becomes the base.
func gcReadLocked() (scanned int64) {
	metrics.Read(gcTune.samples)
	if p := int(int64(gcTune.samples[1].Value.Uint64())); p != gcTune.percent {
		gcTune.base, gcTune.percent = p, p
	}
	for _, i := range []int{0, 2, 3} {
		scanned += int64(gcTune.samples[i].Value.Uint64())
	}
	return scanned
}

// gcSentinel is an object made unreachable at once, whose cleanup runs
// after the collection that finds it: one per collection while tuning.
// It is larger than Go's tiny allocations, which share a block with
// others and may never be freed.
type gcSentinel [32]byte

func hookNextGC() {
	runtime.AddCleanup(new(gcSentinel), func(struct{}) { afterGC() }, struct{}{})
}

// afterGC retunes after a collection and waits for the next one, until
// no worker is loaded.
func afterGC() {
	gcTune.mu.Lock()
	defer gcTune.mu.Unlock()
	if gcTune.workers == 0 {
		gcTune.hooked = false
		return
	}
	gcTuneLocked()
	hookNextGC()
}

// gcTuneLocked sets GOGC for the heap the last collection found.
func gcTuneLocked() {
	live := gcReadLocked()
	if gcTune.base < 0 {
		return
	}
	want := gcPercent(gcTune.base, live, min(minMemoryLimit.Load()/4, maxHeadroom))
	// Small changes are not worth a call that takes the heap lock.
	if d := want - gcTune.percent; d > gcTune.percent/8 || -d > gcTune.percent/8 {
		debug.SetGCPercent(want)
		gcTune.percent = want
	}
}

// maxHeadroom bounds the headroom: Check refuses a script whose top-level
// code grows the heap, garbage included, by MaxCheckHeap, and a larger
// headroom (a memory_limit over 256 MiB) lets garbage of that size pile
// up between collections.
const maxHeadroom = MaxCheckHeap / 4

// gcPercent is the GOGC that lets a heap whose live size, stacks and
// globals add up to live grow by headroom before the next collection,
// and never less than base.
func gcPercent(base int, live, headroom int64) int {
	if live <= 0 || headroom <= 0 {
		return base
	}
	if p := headroom * 100 / live; p > int64(base) {
		return int(min(p, 100_000))
	}
	return base
}
