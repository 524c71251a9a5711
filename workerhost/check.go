package workerhost

import (
	"errors"
	"fmt"
	"net/http"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// MaxCheckHeap bounds what a script's top-level code may allocate in
// Check.
const MaxCheckHeap = 256 << 20

// errCheckHeap interrupts a top-level run that allocates past
// MaxCheckHeap.
var errCheckHeap = fmt.Errorf("the top-level code allocated over %d MB while loading", MaxCheckHeap>>20)

// Check compiles cfg's script and runs its top-level code and the env
// setup once, in one runtime outside any pool, as New does for each
// runtime: a script that does not compile, throws while loading, runs past
// StartupCPULimit or allocates past MaxCheckHeap is refused with the
// script's error, so that it is never stored and then fails to load.
//
// goja has no heap limit, so the memory bound is made of two parts, both
// best effort: the constructors and methods that allocate a buffer in one
// step (ArrayBuffer, the typed arrays, Array, Buffer.alloc,
// String.prototype.repeat, padStart, padEnd) throw a RangeError for a size
// over MaxCheckHeap before allocating, and a watchdog samples the process
// heap every millisecond and interrupts the script once it grew by more
// than MaxCheckHeap. An allocation that one step of the script makes
// between two samples, through a path not guarded, can still exceed it.
func Check(cfg Config) error {
	// One check at a time, so that the heap the watchdog sees growing is
	// this script's.
	checkMu.Lock()
	defer checkMu.Unlock()
	cfg.setDefaults()
	cfg.PoolSize = 1
	prog, err := Compile(cfg)
	if err != nil {
		return err
	}
	w := &Worker{
		cfg: cfg, prog: prog, logger: cfg.Logger, transport: refuseFetch{},
		done: make(chan struct{}), exchanges: map[*exchange]struct{}{}, all: map[*jsRuntime]struct{}{},
	}
	rt, err := newRuntimeChecked(w, true)
	if err != nil {
		return err
	}
	<-rt.stop()
	return nil
}

var checkMu sync.Mutex

// refuseFetch is the transport of Check: top-level code cannot do I/O.
type refuseFetch struct{}

func (refuseFetch) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("fetch is not available while a script loads")
}

// watchHeap interrupts the runtime when the process heap grows by more
// than limit bytes; stop ends the watch.
func (rt *jsRuntime) watchHeap(limit uint64) (stop func()) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	base := heap()
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if h := heap(); h > base && h-base > limit {
					rt.interruptWith(errCheckHeap)
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// interruptWith stops the JavaScript running now with err.
func (rt *jsRuntime) interruptWith(err error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.inJS && rt.fired == nil {
		rt.fired = err
		rt.vm.Interrupt(err)
	}
}

// allocationGuards wraps what allocates a buffer in one step so that a size
// over the limit throws before anything is allocated.
const allocationGuards = `(function (limit) {
	"use strict";
	var g = globalThis;
	function check(bytes) {
		if (bytes > limit) {
			throw new RangeError("allocation of " + bytes + " bytes while loading; the limit is " + limit);
		}
	}
	function size(n) { return typeof n === "number" ? n : 0; }
	var ctors = { ArrayBuffer: 1, SharedArrayBuffer: 1, Int8Array: 1, Uint8Array: 1, Uint8ClampedArray: 1,
		Int16Array: 2, Uint16Array: 2, Int32Array: 4, Uint32Array: 4, Float32Array: 4, Float64Array: 8,
		BigInt64Array: 8, BigUint64Array: 8, Array: 16 };
	Object.keys(ctors).forEach(function (name) {
		var C = g[name];
		if (typeof C !== "function") return;
		var per = ctors[name];
		// G shares C's prototype, so instanceof holds for objects made
		// either way, and inherits C's statics (from, of).
		var G = function () {
			if (arguments.length === 1) check(size(arguments[0]) * per);
			return Reflect.construct(C, arguments, new.target === undefined || new.target === G ? C : new.target);
		};
		G.prototype = C.prototype;
		Object.setPrototypeOf(G, C);
		Object.defineProperty(g, name, { configurable: true, writable: true, value: G });
	});
	function wrap(obj, name, bytes) {
		var f = obj && obj[name];
		if (typeof f !== "function") return;
		Object.defineProperty(obj, name, { configurable: true, writable: true, value: function () {
			check(bytes(this, arguments));
			return f.apply(this, arguments);
		} });
	}
	wrap(String.prototype, "repeat", function (s, a) { return String(s).length * 2 * size(a[0]); });
	wrap(String.prototype, "padStart", function (s, a) { return 2 * size(a[0]); });
	wrap(String.prototype, "padEnd", function (s, a) { return 2 * size(a[0]); });
	if (g.Buffer) {
		["alloc", "allocUnsafe", "allocUnsafeSlow"].forEach(function (name) {
			wrap(g.Buffer, name, function (s, a) { return size(a[0]); });
		});
	}
})`

var allocationGuardsProgram = goja.MustCompile("gradual:guards.js", allocationGuards, true)

func installAllocationGuards(vm *goja.Runtime) error {
	v, err := vm.RunProgram(allocationGuardsProgram)
	if err != nil {
		return err
	}
	fn, _ := goja.AssertFunction(v)
	_, err = fn(goja.Undefined(), vm.ToValue(MaxCheckHeap))
	return err
}
