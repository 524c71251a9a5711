package workerhost

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/dop251/goja"
)

// hostSetTimer implements setTimeout and setInterval on the exchange's
// loop. A pending timer keeps the exchange alive.
func (rt *jsRuntime) hostSetTimer(c goja.FunctionCall) goja.Value {
	ex := rt.requestOnly("setTimeout()")
	fn, ok := goja.AssertFunction(c.Argument(0))
	if !ok {
		rt.throwType("The callback must be a function")
	}
	ms := c.Argument(1).ToFloat()
	if math.IsNaN(ms) || ms < 0 {
		ms = 0
	}
	d := time.Duration(min(ms, float64(math.MaxInt64/int64(time.Millisecond)))) * time.Millisecond
	var args []goja.Value
	if a, ok := c.Argument(3).(*goja.Object); ok {
		for _, k := range a.Keys() {
			args = append(args, a.Get(k))
		}
	}
	ex.nextTimer++
	id := ex.nextTimer
	t := &jsTimer{fn: fn, args: args, interval: d, repeat: c.Argument(2).ToBoolean()}
	if ex.timers == nil {
		ex.timers = map[int64]*jsTimer{}
	}
	ex.timers[id] = t
	ex.armTimer(id, t)
	return rt.vm.ToValue(id)
}

// armTimer schedules t. Its time.AfterFunc only wakes the loop to run the
// timers that are due, in order: the AfterFuncs of two timers due at the
// same time could post their jobs in either order.
func (ex *exchange) armTimer(id int64, t *jsTimer) {
	ex.pending++
	ex.timerSeq++
	t.seq = ex.timerSeq
	t.due = time.Now().Add(t.interval)
	t.t = time.AfterFunc(t.interval, func() {
		ex.post(func() error {
			ex.pending--
			return ex.runDueTimers()
		})
	})
}

// runDueTimers runs the callbacks of the timers that are due, earliest
// first and, for equal times, in the order they were set, as in browsers
// and workerd.
func (ex *exchange) runDueTimers() error {
	now := time.Now()
	var due []int64
	for id, t := range ex.timers {
		if !t.due.After(now) {
			due = append(due, id)
		}
	}
	slices.SortFunc(due, func(a, b int64) int {
		ta, tb := ex.timers[a], ex.timers[b]
		return cmp.Or(ta.due.Compare(tb.due), cmp.Compare(ta.seq, tb.seq))
	})
	for _, id := range due {
		t, ok := ex.timers[id]
		if !ok || t.due.After(now) {
			// Cleared or re-armed by a callback that ran before it.
			continue
		}
		if !t.repeat {
			delete(ex.timers, id)
		}
		if err := ex.callback(t.fn, t.args...); err != nil {
			return err
		}
		if t.repeat && !t.canceled {
			ex.armTimer(id, t)
		}
	}
	return nil
}

func (rt *jsRuntime) hostClearTimer(c goja.FunctionCall) goja.Value {
	ex := rt.ex
	if ex == nil {
		return goja.Undefined()
	}
	id := c.Argument(0).ToInteger()
	t, ok := ex.timers[id]
	if !ok {
		return goja.Undefined()
	}
	delete(ex.timers, id)
	t.canceled = true
	if t.t.Stop() {
		// The timer will not post its job, which would have settled the
		// pending count.
		ex.pending--
	}
	return goja.Undefined()
}

type jsTimer struct {
	t        *time.Timer
	fn       goja.Callable
	args     []goja.Value
	interval time.Duration
	repeat   bool
	canceled bool
	// due and seq order the timers that are due: earliest first, and in
	// the order they were set for equal times.
	due time.Time
	seq int64
}
