package workerhost

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dop251/goja"
	"go.uber.org/zap"
)

// The event loop of a runtime.
//
// A runtime is an isolate: one goroutine, its loop, owns the goja runtime
// and runs every piece of JavaScript of every request it serves, one turn
// at a time, as workerd runs an isolate's requests on one thread. A turn is
// one job: the start of a request, the completion of a fetch, a body read
// or a timer, the read of a chunk of a streamed response. It runs for one
// exchange and ends once the promise jobs it queued have run. While a
// request awaits I/O its runtime serves others, so the number of requests
// in flight is bounded by CPU time, not by the number of runtimes; global
// state is shared between the requests of a runtime exactly as between
// the requests of an isolate.
//
// Which request the JavaScript running now belongs to is tracked through
// promise reactions (goja's AsyncContextTracker): a continuation runs as
// the request that awaited, even when another request's I/O resolved the
// promise, so ctx.waitUntil, fetch and timers of that continuation belong
// to it. The CPU time of a turn is charged to the exchange the turn runs
// for, including the continuations of other requests it resolved.

// job is one turn of the loop, for ex (nil for work of the runtime's own,
// as its shutdown).
type job struct {
	ex *exchange
	fn func() error
}

// waiter is an exchange waiting on the loop for a condition on its
// promises: the handler's promise, a chunk's read, the ctx.waitUntil
// promises. ready is checked after every turn; then runs as a turn once
// it holds. When nothing can make it hold any more, the exchange is
// aborted with errStalled instead.
type waiter struct {
	ex    *exchange
	ready func() bool
	then  func() error
}

// post queues j on the loop. It never blocks; a job of an exchange that
// has ended is dropped when its turn comes.
func (rt *jsRuntime) post(j job) {
	rt.qmu.Lock()
	rt.queue = append(rt.queue, j)
	rt.qmu.Unlock()
	select {
	case rt.wake <- struct{}{}:
	default:
	}
}

// exec runs fn on the loop and waits for it: for tests and for work on a
// runtime that serves no request.
func (rt *jsRuntime) exec(fn func()) {
	done := make(chan struct{})
	rt.post(job{fn: func() error { fn(); close(done); return nil }})
	<-done
}

// start runs the runtime's loop goroutine: it creates the goja runtime
// and runs the script's top level, reports how that went on ready, and
// then serves jobs until stop.
func (rt *jsRuntime) start(check bool) error {
	ready := make(chan error, 1)
	rt.loopDone = make(chan struct{})
	go func() {
		defer close(rt.loopDone)
		err := rt.init(check)
		ready <- err
		if err != nil {
			return
		}
		rt.loop()
	}()
	return <-ready
}

// stop ends the loop once the jobs queued before it have run; done is
// closed when it has.
func (rt *jsRuntime) stop() (done <-chan struct{}) {
	rt.post(job{fn: func() error { return errStopLoop }})
	return rt.loopDone
}

var errStopLoop = errors.New("stop the loop")

func (rt *jsRuntime) loop() {
	// recheck wakes an idle loop whose waiters may be hung (checkHung).
	recheck := time.NewTimer(time.Hour)
	recheck.Stop()
	defer recheck.Stop()
	for {
		rt.qmu.Lock()
		jobs := rt.queue
		rt.queue = rt.spare[:0]
		rt.qmu.Unlock()
		for i, j := range jobs {
			if j.ex == nil {
				if err := j.fn(); err == errStopLoop {
					rt.drop(jobs[i+1:])
					return
				}
				continue
			}
			rt.turn(j.ex, j.fn)
		}
		clear(jobs)
		rt.spare = jobs
		// The waiters are checked after every batch, not only once the
		// queue is empty: a loop whose queue refills during every batch
		// (more requests than it can run) would otherwise never answer.
		ranWaiters := rt.checkWaiters()
		hung := rt.checkHung()
		if len(jobs) > 0 || ranWaiters {
			continue
		}
		rt.checkStalled()
		if hung {
			recheck.Reset(stallGrace / 4)
			select {
			case <-rt.wake:
				recheck.Stop()
			case <-recheck.C:
			}
			continue
		}
		<-rt.wake
	}
}

// stallGrace is how long a request may wait for a promise while it has
// nothing of its own in flight (no fetch, body read, timer or service
// call) before it is taken for hung, although other requests of its
// runtime have: it may be awaiting their I/O (a promise another request
// settles), which is allowed for that long. Tests shorten it.
var stallGrace = 5 * time.Second

// checkHung fails the waits of the exchanges that have had nothing in
// flight for stallGrace, as checkStalled does at once when the whole
// runtime has nothing in flight. It runs after every batch of jobs, and a
// wait is only counted from a batch that saw nothing of its exchange's in
// flight: an operation is started and ended in different turns, so one
// lasting across the batch after it was started is seen. It reports
// whether a wait is still being counted.
func (rt *jsRuntime) checkHung() bool {
	counting := false
	var now time.Time
	for _, wt := range rt.waiters {
		ex := wt.ex
		if ex.closed || ex.pending > 0 {
			ex.idleSince = time.Time{}
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		if ex.idleSince.IsZero() {
			ex.idleSince = now
		}
		if now.Sub(ex.idleSince) < stallGrace {
			counting = true
			continue
		}
		// abort drops ex's waiter, which changes the list: count again at
		// the next batch.
		rt.turn(ex, func() error { return errStalled })
		return true
	}
	return counting
}

// drop runs what the jobs after a stop need to release: nothing runs on
// a stopped runtime, so they are only logged when they belong to an
// exchange still open (which Close would have ended first).
func (rt *jsRuntime) drop(jobs []job) {
	for _, j := range jobs {
		if j.ex != nil && !j.ex.closed {
			rt.w.logger.Error("a job was left on a stopped runtime")
		}
	}
}

// turn runs fn for ex within ex's CPU budget. A fatal error, or a Go
// panic outside JavaScript, ends the exchange.
func (rt *jsRuntime) turn(ex *exchange, fn func() error) {
	if ex.closed {
		return
	}
	rt.ex = ex
	rt.beginSegment(ex, ex.budget())
	err := rt.guard(fn)
	ex.cpu += rt.endSegment()
	rt.ex = nil
	rt.tracker.reset()
	if rt.interrupted {
		// goja drops the promise jobs queued when an interrupt lands, and
		// they may be other requests': the runtime takes no new request
		// and ends once those it serves have.
		rt.interrupted = false
		rt.vm.ClearInterrupt()
		rt.broken = true
	}
	if rt.broken {
		rt.w.retire(rt)
	}
	if err != nil {
		ex.abort(err)
	}
	// The pool counts the exchanges that ended off after the segment, so
	// that waiting for its lock never holds the thread the segment was
	// locked to.
	for i, ended := range rt.ended {
		rt.w.exchangeDone(ended)
		rt.ended[i] = nil
	}
	rt.ended = rt.ended[:0]
}

// guard runs fn, turning a Go panic into a fatal error and marking the
// runtime broken: its state cannot be trusted.
func (rt *jsRuntime) guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			rt.broken = true
			rt.w.logger.Error("Go panic on a worker's event loop", zap.Any("panic", p), zap.Stack("stack"))
			err = &fatalError{fmt.Errorf("workerhost: Go panic: %v", p)}
		}
	}()
	return fn()
}

// wait registers a waiter; its condition is checked after the turn.
func (rt *jsRuntime) wait(wt *waiter) {
	rt.waiters = append(rt.waiters, wt)
}

// checkWaiters runs, as turns, the waiters whose condition holds, and
// drops those of exchanges that have ended. It reports whether any ran.
func (rt *jsRuntime) checkWaiters() bool {
	var ready []*waiter
	keep := rt.waiters[:0]
	for _, wt := range rt.waiters {
		switch {
		case wt.ex.closed:
		case wt.ready():
			ready = append(ready, wt)
		default:
			keep = append(keep, wt)
		}
	}
	clear(rt.waiters[len(keep):])
	rt.waiters = keep
	for _, wt := range ready {
		rt.turn(wt.ex, wt.then)
	}
	return len(ready) > 0
}

// checkStalled ends the waits that can never end: the loop is idle, and no
// exchange of the runtime awaits anything (a fetch, a body read, a timer,
// a service call) that could settle a promise.
func (rt *jsRuntime) checkStalled() {
	if len(rt.waiters) == 0 {
		return
	}
	for ex := range rt.exchanges {
		if ex.pending > 0 {
			return
		}
	}
	rt.qmu.Lock()
	queued := len(rt.queue)
	rt.qmu.Unlock()
	if queued > 0 {
		return
	}
	waiters := rt.waiters
	rt.waiters = nil
	for _, wt := range waiters {
		rt.turn(wt.ex, func() error { return errStalled })
	}
}

// dropWaiters forgets ex's waits.
func (rt *jsRuntime) dropWaiters(ex *exchange) {
	keep := rt.waiters[:0]
	for _, wt := range rt.waiters {
		if wt.ex != ex {
			keep = append(keep, wt)
		}
	}
	clear(rt.waiters[len(keep):])
	rt.waiters = keep
}

// tracker follows promise reactions so that a continuation runs as the
// exchange that awaited (goja.AsyncContextTracker).
type tracker struct {
	rt    *jsRuntime
	saved []*exchange
}

// Grab returns the exchange the JavaScript running now belongs to.
func (t *tracker) Grab() any {
	if t.rt.ex == nil {
		return nil
	}
	return t.rt.ex
}

// Resumed makes a reaction's exchange the current one while it runs. A
// reaction registered by the script's top level keeps the current one.
func (t *tracker) Resumed(o any) {
	t.saved = append(t.saved, t.rt.ex)
	if ex, ok := o.(*exchange); ok && ex != nil {
		t.rt.ex = ex
	}
}

// Exited restores the exchange of before the reaction.
func (t *tracker) Exited() {
	if n := len(t.saved); n > 0 {
		t.rt.ex = t.saved[n-1]
		t.saved = t.saved[:n-1]
	}
}

// reset forgets reactions an interrupt left unfinished.
func (t *tracker) reset() { t.saved = t.saved[:0] }

// settled reports whether p is no longer pending.
func settled(p *goja.Promise) bool { return p.State() != goja.PromiseStatePending }

// loopState is the part of jsRuntime the loop owns.
type loopState struct {
	qmu      sync.Mutex
	queue    []job
	spare    []job
	wake     chan struct{}
	loopDone chan struct{}
	tracker  *tracker
	waiters  []*waiter
	// exchanges are those open on the runtime; loop-owned. ended are
	// those that ended in the current turn, for the pool to count off
	// once it is over.
	exchanges map[*exchange]struct{}
	ended     []*exchange
}
