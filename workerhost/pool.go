package workerhost

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"
)

// pick chooses the runtime for a new request, the one serving the
// fewest, and makes the request's exchange on it, counted on the runtime
// and registered in the same critical section that checks closed: Close,
// which sets closed and then ends every registered exchange before it
// stops the loops, cannot miss a request that chose a runtime before it.
// It starts another runtime when every runtime is running JavaScript and
// the pool is not full, and waits (at most QueueTimeout) for one only when
// the pool has none.
func (w *Worker) pick(rw http.ResponseWriter, r *http.Request) (*exchange, error) {
	ctx := r.Context()
	w.mu.Lock()
	for {
		if w.closed {
			w.mu.Unlock()
			return nil, ErrClosed
		}
		var best *jsRuntime
		busy := true
		for _, rt := range w.rts {
			if best == nil || rt.active < best.active {
				best = rt
			}
			if !rt.inTurn.Load() {
				busy = false
			}
		}
		if busy && len(w.rts) < w.cfg.PoolSize {
			w.growLocked()
		}
		if best != nil {
			best.active++
			// The client-cancel callback is set up before the exchange is
			// registered, so that no job of it can run before either: it
			// takes w.mu, held until then.
			ex := newExchange(best, r, rw)
			w.registerLocked(ex)
			w.mu.Unlock()
			return ex, nil
		}
		grown := w.grown
		w.mu.Unlock()
		t := time.NewTimer(w.cfg.QueueTimeout)
		select {
		case <-grown:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-w.done:
			t.Stop()
			return nil, ErrClosed
		case <-t.C:
			return nil, fmt.Errorf("workerhost: no runtime after %v: %w", w.cfg.QueueTimeout, w.lastGrowErr())
		}
		w.mu.Lock()
	}
}

func (w *Worker) lastGrowErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.growErr == nil {
		return errors.New("none could be created in time")
	}
	return w.growErr
}

// replaceRetry is the first wait before another attempt to create a
// runtime for a pool that has none; it doubles up to a minute.
var replaceRetry = time.Second

// growLocked starts creating a runtime for the pool, unless one is being
// created or the worker is closed. w.mu must be held.
func (w *Worker) growLocked() {
	if w.growing || w.closed {
		return
	}
	w.growing = true
	w.grown = make(chan struct{})
	w.growers.Add(1)
	go w.grow()
}

// grownLocked ends what growLocked began. w.mu must be held.
func (w *Worker) grownLocked() {
	w.growing = false
	close(w.grown)
}

// grow creates a runtime for the pool. When the pool has none (its last
// one was dropped) and the script's top level fails now and then, it
// retries until it succeeds or the worker closes: a failure costs the
// pool its runtime only for a while, never for good.
func (w *Worker) grow() {
	defer w.growers.Done()
	wait := replaceRetry
	for {
		rt, err := newRuntime(w)
		w.mu.Lock()
		if err == nil {
			if w.closed {
				w.mu.Unlock()
				<-rt.stop()
				w.mu.Lock()
			} else {
				w.rts = append(w.rts, rt)
				w.all[rt] = struct{}{}
				// It is idle until it serves: a runtime that never does
				// is dropped like one that served.
				w.markIdleLocked(rt)
			}
		}
		w.growErr = err
		empty := len(w.rts) == 0 && !w.closed
		if err == nil || !empty {
			w.grownLocked()
			w.mu.Unlock()
			if err != nil {
				w.logger.Error("cannot add a runtime", zap.Error(err))
			}
			return
		}
		w.mu.Unlock()
		w.logger.Error("cannot replace a dropped runtime; retrying", zap.Error(err), zap.Duration("in", wait))
		t := time.NewTimer(wait)
		select {
		case <-w.done:
			t.Stop()
			w.mu.Lock()
			w.grownLocked()
			w.mu.Unlock()
			return
		case <-t.C:
		}
		wait = min(2*wait, time.Minute)
	}
}

// retire takes rt out of the pool: it serves no new request and stops
// once those it serves have ended. If the pool is left empty, a
// replacement is started at once.
func (w *Worker) retire(rt *jsRuntime) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rt.retired {
		return
	}
	rt.retired = true
	w.rts = slices.DeleteFunc(w.rts, func(r *jsRuntime) bool { return r == rt })
	if len(w.rts) == 0 {
		w.growLocked()
	}
	if rt.active == 0 {
		w.stopLocked(rt)
	}
}

// stopLocked stops rt's loop, which ends after the turn that calls it.
// w.mu must be held.
func (w *Worker) stopLocked(rt *jsRuntime) {
	if _, ok := w.all[rt]; !ok {
		return
	}
	delete(w.all, rt)
	rt.stop()
}

// exchangeDone forgets an exchange that has ended and counts it off its
// runtime: a retired runtime stops with its last one, and a runtime
// beyond the first is dropped once it has been idle for idleRuntime.
func (w *Worker) exchangeDone(ex *exchange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.exchanges, ex)
	w.active--
	if w.active == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
	rt := ex.rt
	rt.active--
	if rt.active > 0 {
		return
	}
	if rt.retired {
		w.stopLocked(rt)
		return
	}
	w.markIdleLocked(rt)
}

// markIdleLocked notes that rt, which serves nothing, is idle from now on,
// and drops it after idleRuntime if it is then still idle and not the
// pool's only runtime. w.mu must be held.
func (w *Worker) markIdleLocked(rt *jsRuntime) {
	rt.idleSince = time.Now()
	if len(w.rts) <= 1 {
		return
	}
	// One timer a runtime, moved each time it becomes idle.
	if rt.idleTimer == nil {
		rt.idleTimer = time.AfterFunc(idleRuntime, func() { w.dropIdle(rt) })
	} else {
		rt.idleTimer.Reset(idleRuntime)
	}
}

func (w *Worker) dropIdle(rt *jsRuntime) {
	w.mu.Lock()
	idle := !rt.retired && rt.active == 0 && len(w.rts) > 1 && time.Since(rt.idleSince) >= idleRuntime
	w.mu.Unlock()
	if idle {
		w.retire(rt)
	}
}

// registerLocked tracks an exchange so that Close can end it. w.mu must
// be held.
func (w *Worker) registerLocked(ex *exchange) {
	w.exchanges[ex] = struct{}{}
	w.active++
}
