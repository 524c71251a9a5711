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
// Each turn of a runtime's loop (loop.go) is a segment, charged to the
// exchange the turn runs for. The loop's goroutine is locked to its OS
// thread for the segment: that thread runs nothing else meanwhile, so its
// clock counts the turn's JavaScript, the host functions it calls (regular
// expressions, crypto, JSON) and the little Go work of the loop itself.
//
// Reading a thread clock is a system call (about 1.5 µs on the machine the
// README's figures come from), too dear for every turn. So a turn reads no
// clock at all: a watchdog goroutine samples, every watchdogTick, the
// clocks of the segments that ran JavaScript since its last sample and are
// older than one tick, and interrupts those whose thread CPU time since
// its first sample reaches their budget. Segments shorter than a tick,
// which are nearly all of them, cost no system call; their CPU time is
// charged as their JavaScript's wall-clock time, which bounds it. The CPU
// time a sampled segment used before its first sample (at most about two
// ticks) is not charged, until the request has used a quarter of its
// budget: from then on its turns read the clock when they begin and are
// charged exactly. So a request is interrupted after at most its limit
// plus half of it, and honest requests are never charged more than they
// used, however loaded the machine.
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

// beginSegment charges the JavaScript rt runs from now on to ex (nil for
// the script's top level) against limit, until endSegment. It locks the
// loop's goroutine to its thread for the segment: between turns the loop
// is an ordinary goroutine, which a job wakes at the cost of a goroutine
// switch rather than of waking a thread of its own.
func (rt *jsRuntime) beginSegment(ex *exchange, limit time.Duration) {
	rt.inTurn.Store(true)
	// The watchdog first: when it wakes it reads the live heap afresh,
	// which liveAtBegin must be; a figure from before it slept would
	// charge this segment with whatever became live meanwhile. Until the
	// fields are set below, it finds no JavaScript running to sample.
	cpuWatch.add(rt)
	runtime.LockOSThread()
	tid := gettid()
	rt.mu.Lock()
	rt.tid = tid
	rt.owner = ex
	rt.segStart = time.Now()
	rt.limit = limit
	rt.base, rt.last = -1, -1
	rt.jsWall = 0
	rt.busy = false
	rt.fired = nil
	rt.liveAtBegin = liveHeap.Load()
	if ex != nil && ex.cpu >= rt.w.cfg.CPULimit/4 {
		// A request that has used a quarter of its budget is charged
		// exactly from here on: a system call per turn is little next to
		// the CPU time it uses.
		if c, ok := threadCPU(rt.tid); ok {
			rt.base, rt.last = c, c
		}
	}
	rt.mu.Unlock()
}

// endSegment ends the segment begun by beginSegment and returns the CPU
// time it is charged: the thread's clock from the watchdog's first sample
// on (or from the segment's start, for a request charged exactly); for a
// segment the watchdog never sampled, its JavaScript's wall-clock time,
// which bounds its CPU time.
func (rt *jsRuntime) endSegment() time.Duration {
	rt.mu.Lock()
	if rt.base >= 0 {
		if c, ok := threadCPU(rt.tid); ok {
			rt.last = c
		}
	}
	used := rt.chargeLocked()
	rt.owner = nil
	rt.mu.Unlock()
	runtime.UnlockOSThread()
	// Unlocked first: a wait for the watchdog's lock costs a goroutine
	// switch, not a handoff between threads.
	cpuWatch.remove(rt)
	rt.inTurn.Store(false)
	return used
}

// segmentUsed is the CPU time the current segment has been charged so far:
// none outside a segment, where endSegment has charged it already (an
// exchange aborted after its turn is not charged that turn twice).
func (rt *jsRuntime) segmentUsed() time.Duration {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.owner == nil {
		return 0
	}
	return rt.chargeLocked()
}

// usedLocked is the CPU time of the segment as the thread's clock has
// measured it so far, which the budget is checked against. rt.mu must be
// held.
func (rt *jsRuntime) usedLocked() time.Duration {
	if rt.base < 0 {
		return 0
	}
	return rt.last - rt.base
}

// chargeLocked is the CPU time the segment is charged: its clock's
// measure, or for a segment the watchdog never sampled, its JavaScript's
// wall-clock time up to two ticks: a segment that ran longer than that
// was not sampled only because the watchdog itself was kept from running
// (a machine saturated), and its wall-clock time then says nothing of its
// CPU time. rt.mu must be held.
func (rt *jsRuntime) chargeLocked() time.Duration {
	if rt.base < 0 {
		return min(rt.jsWall, 2*watchdogTick)
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
	if rt.inJS && rt.fired == nil && live-rt.liveAtBegin > rt.w.cfg.MemoryLimit {
		rt.fired = errMemoryLimit
		rt.vm.Interrupt(errMemoryLimit)
		return
	}
	if (!rt.busy && !rt.inJS) || now.Sub(rt.segStart) < watchdogTick {
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
	if rt.inJS && rt.fired == nil && rt.usedLocked() >= rt.limit {
		rt.fired = errCPULimit
		rt.vm.Interrupt(errCPULimit)
	}
}
