package workerhost

import (
	"runtime"
	"sync"
	"time"

	"github.com/dlclark/regexp2"
)

// CPU time is charged from the clock of the OS thread that runs the
// JavaScript (Linux's per-thread CPU clock), not from wall-clock time, so
// that a loaded machine or a slow upstream never trips cpu_limit.
//
// A request's goroutine is locked to its OS thread for a whole segment
// (serving the request, or its ctx.waitUntil work): that thread runs
// nothing else meanwhile, and sleeps while the request awaits I/O, so its
// clock counts the request's JavaScript, the host functions it calls
// (regular expressions, crypto, JSON) and the little Go work of the
// exchange itself (writing the response), and nothing of any other
// request.
//
// Reading a thread clock is a system call (about 1.5 µs on the machine the
// README's figures come from), too dear for every call into JavaScript. So
// the request path reads no clock at all: it only records which thread it
// runs on. A watchdog goroutine samples, every watchdogTick, the clocks of
// the segments that ran JavaScript since its last sample and are older
// than one tick, and interrupts those whose thread CPU time since its
// first sample reaches their budget. Segments shorter than a tick, which
// are nearly all of them, cost no system call; their CPU time is reported
// as their JavaScript's wall-clock time, which bounds it. How exact: the
// CPU time a segment uses before its first sample (at most about two
// ticks) is not charged, so a script is interrupted between its limit and
// its limit plus 2×watchdogTick of CPU time; it is never charged for more
// than it used.
const watchdogTick = 5 * time.Millisecond

// RegexpMatchTimeout bounds one regular-expression match in wall-clock
// time. goja runs backtracking regular expressions in regexp2's native Go
// code, which an interrupt does not reach until the match returns; this
// bound (regexp2's MatchTimeout, process-wide) makes it return. A match cut
// short fails as if nothing matched; by then the CPU watchdog has
// interrupted the script (on an idle machine, CPU and wall-clock time run
// together), so the script stops at once with exceededCpu.
const RegexpMatchTimeout = time.Second

func init() {
	regexp2.DefaultMatchTimeout = RegexpMatchTimeout
}

// watchdog samples the thread CPU clocks of the runtimes running a
// segment and interrupts those over budget.
type watchdog struct {
	mu      sync.Mutex
	rts     map[*jsRuntime]struct{}
	running bool
	scratch []*jsRuntime
	heap    *heapWatch
}

var cpuWatch = &watchdog{rts: map[*jsRuntime]struct{}{}, heap: newHeapWatch()}

func (d *watchdog) add(rt *jsRuntime) {
	d.mu.Lock()
	d.rts[rt] = struct{}{}
	if !d.running {
		d.running = true
		// The live heap is read afresh when the watchdog wakes, so that
		// no segment starts from a figure from before it slept.
		d.heap.read()
		go d.run()
	}
	d.mu.Unlock()
}

func (d *watchdog) remove(rt *jsRuntime) {
	d.mu.Lock()
	delete(d.rts, rt)
	d.mu.Unlock()
}

// run samples until no segment is left to watch: the goroutine lives only
// while requests do.
func (d *watchdog) run() {
	t := time.NewTicker(watchdogTick)
	defer t.Stop()
	for now := range t.C {
		d.mu.Lock()
		if len(d.rts) == 0 {
			d.running = false
			d.mu.Unlock()
			return
		}
		list := d.scratch[:0]
		for rt := range d.rts {
			list = append(list, rt)
		}
		d.scratch = list
		live := d.heap.read()
		d.mu.Unlock()
		for _, rt := range list {
			rt.sample(now, live)
		}
		clear(list)
	}
}

// beginSegment locks the calling goroutine to its thread and charges the
// JavaScript rt runs from now on against limit, until endSegment.
func (rt *jsRuntime) beginSegment(limit time.Duration) {
	runtime.LockOSThread()
	tid := gettid()
	rt.mu.Lock()
	rt.tid = tid
	rt.segStart = time.Now()
	rt.limit = limit
	rt.base, rt.last = -1, -1
	rt.jsWall = 0
	rt.busy = false
	rt.liveAtBegin = liveHeap.Load()
	rt.mu.Unlock()
	cpuWatch.add(rt)
}

// endSegment ends the segment begun by beginSegment and returns the CPU
// time it used.
func (rt *jsRuntime) endSegment() time.Duration {
	cpuWatch.remove(rt)
	rt.mu.Lock()
	used := rt.jsWall
	if rt.base >= 0 {
		if c, ok := threadCPU(rt.tid); ok {
			used = c - rt.base
		} else {
			used = rt.last - rt.base
		}
	}
	rt.tid = 0
	rt.mu.Unlock()
	runtime.UnlockOSThread()
	return used
}

// usedLocked is the CPU time the segment has been charged so far. rt.mu
// must be held.
func (rt *jsRuntime) usedLocked() time.Duration {
	if rt.base < 0 {
		return 0
	}
	return rt.last - rt.base
}

// sample reads the clock of rt's thread, if rt ran JavaScript since the
// last sample, and interrupts its JavaScript past its CPU budget, or when
// Go's live heap has grown past its memory limit since its segment began
// (memory.go). It runs on the watchdog's goroutine.
func (rt *jsRuntime) sample(now time.Time, live int64) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.tid != 0 && rt.inJS && rt.fired == nil && live-rt.liveAtBegin > rt.w.cfg.MemoryLimit {
		rt.fired = errMemoryLimit
		rt.vm.Interrupt(errMemoryLimit)
		return
	}
	if rt.tid == 0 || (!rt.busy && !rt.inJS) || now.Sub(rt.segStart) < watchdogTick {
		return
	}
	c, ok := threadCPU(rt.tid)
	if !ok {
		// No thread clock on this platform: wall-clock time in JavaScript
		// bounds the CPU time.
		c = rt.jsWall
		if rt.inJS {
			c += now.Sub(rt.callStart)
		}
	}
	if rt.base < 0 {
		rt.base = 0
		if ok {
			rt.base = c
		}
	}
	rt.last = c
	rt.busy = rt.inJS
	if rt.inJS && rt.fired == nil && rt.last-rt.base >= rt.limit {
		rt.fired = errCPULimit
		rt.vm.Interrupt(errCPULimit)
	}
}
