package workerhost

import (
	"errors"
	"reflect"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/dop251/goja"
)

// JavaScript heap per runtime (Config.MemoryLimit, memory_limit).
//
// goja allocates its objects on Go's heap and has no heap limit of its own,
// and Go attributes memory to no goroutine. So a runtime's heap is
// measured, and the measurement is made in two ways:
//
//   - Retained memory, exactly up to the sizes of Go's own headers: a walk
//     of every Go object reachable from the runtime (its globals, closures,
//     promise jobs and the rest of goja's state; not the compiled program,
//     which runtimes share), summing their sizes. A walk costs about
//     100–200 ns per object and stops as soon as the limit is passed, so it
//     runs only when it may matter: when Go's live heap (as its last
//     collection found it) has grown by a quarter of the smallest memory
//     limit since the last walks were ordered, each runtime walks once, at
//     its next request, after the handler's JavaScript has run and before
//     the response is written. A runtime over its limit answers that
//     request 503 (exceededMemory) and is dropped. This is what catches a
//     cache in a global, growing request after request.
//   - Growth within one request, which can reach gigabytes long before the
//     CPU limit: the CPU watchdog reads Go's live heap on every tick; when
//     it has grown by more than a runtime's limit since that runtime's
//     segment began, and that runtime was the one running JavaScript, the
//     request is interrupted (503, exceededMemory) and the runtime dropped.
//     The live heap is process-wide and updated by each collection, so this
//     check lags one collection (Go lets the heap reach twice its live size
//     before collecting) and, with several runtimes allocating at once,
//     stops the one running when the limit is passed.
var errMemoryLimit = errors.New("worker exceeded its memory limit")

// walkGeneration is advanced to order every runtime to walk its heap once.
var walkGeneration atomic.Uint64

// minMemoryLimit is the smallest memory limit of the process's workers,
// which sets how much growth of the live heap orders a walk.
var minMemoryLimit atomic.Int64

func noteMemoryLimit(limit int64) {
	for {
		cur := minMemoryLimit.Load()
		if cur != 0 && cur <= limit {
			return
		}
		if minMemoryLimit.CompareAndSwap(cur, limit) {
			return
		}
	}
}

// liveHeap is Go's live heap as of its last collection, as the watchdog
// last read it.
var liveHeap atomic.Int64

// heapWatch reads Go's live heap for the watchdog.
type heapWatch struct {
	samples []metrics.Sample
	// walkedAt is the live heap when walks were last ordered.
	walkedAt int64
}

func newHeapWatch() *heapWatch {
	return &heapWatch{samples: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
}

// read updates liveHeap and orders walks when it has grown enough since
// the last order.
func (h *heapWatch) read() int64 {
	metrics.Read(h.samples)
	live := int64(h.samples[0].Value.Uint64())
	liveHeap.Store(live)
	if live < h.walkedAt {
		h.walkedAt = live
	}
	if step := minMemoryLimit.Load() / 4; step > 0 && live-h.walkedAt >= step {
		h.walkedAt = live
		walkGeneration.Add(1)
	}
	return live
}

// overMemory reports whether rt retains more than limit bytes, walking its
// heap if a walk was ordered since its last one. It must run on the
// goroutine that owns rt, with no JavaScript running.
func (rt *jsRuntime) overMemory() bool {
	gen := walkGeneration.Load()
	if rt.walked == gen {
		return false
	}
	rt.walked = gen
	size, over := heapSize(rt.vm, rt.w.cfg.MemoryLimit)
	rt.heap = size
	return over
}

var (
	programType = reflect.TypeFor[goja.Program]()
	// hostTypes are the host's own objects, which the script's closures
	// reach (a host function is a method of its runtime): the walk does
	// not enter them. They are not the script's memory, and an exchange
	// leads to net/http's state, which other goroutines change meanwhile.
	hostTypes = map[reflect.Type]bool{
		reflect.TypeFor[jsRuntime](): true,
		reflect.TypeFor[exchange]():  true,
		reflect.TypeFor[Worker]():    true,
	}
	// pointerFree caches whether values of a type hold no pointers, so the
	// walk need not look into them.
	pointerFree sync.Map
)

// heapSize sums the sizes of the Go objects reachable from root, stopping
// once the sum passes limit.
func heapSize(root any, limit int64) (int64, bool) {
	w := heapWalker{seen: map[uintptr]struct{}{}}
	w.stack = append(w.stack, reflect.ValueOf(root))
	for len(w.stack) > 0 && w.size <= limit {
		v := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.visit(v)
	}
	return w.size, w.size > limit
}

type heapWalker struct {
	seen  map[uintptr]struct{}
	stack []reflect.Value
	size  int64
}

func (w *heapWalker) first(p uintptr) bool {
	if p == 0 {
		return false
	}
	if _, ok := w.seen[p]; ok {
		return false
	}
	w.seen[p] = struct{}{}
	return true
}

func (w *heapWalker) push(v reflect.Value) {
	if !hasPointers(v.Type()) {
		return
	}
	w.stack = append(w.stack, v)
}

func (w *heapWalker) visit(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || v.Type().Elem() == programType || hostTypes[v.Type().Elem()] || !w.first(v.Pointer()) {
			return
		}
		e := v.Elem()
		w.size += int64(e.Type().Size())
		w.push(e)
	case reflect.Interface:
		if !v.IsNil() {
			e := v.Elem()
			if e.Kind() != reflect.Pointer && e.Kind() != reflect.Map && e.Kind() != reflect.Slice {
				// A non-pointer value in an interface is boxed.
				w.size += int64(e.Type().Size())
			}
			w.stack = append(w.stack, e)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			w.push(v.Field(i))
		}
	case reflect.Array:
		for i := range v.Len() {
			w.push(v.Index(i))
		}
	case reflect.Slice:
		if v.IsNil() || !w.first(v.Pointer()) {
			return
		}
		w.size += int64(v.Cap()) * int64(v.Type().Elem().Size())
		if hasPointers(v.Type().Elem()) {
			for i := range v.Len() {
				w.stack = append(w.stack, v.Index(i))
			}
		}
	case reflect.String:
		s := v.String()
		if len(s) > 0 && w.first(uintptr(unsafe.Pointer(unsafe.StringData(s)))) {
			w.size += int64(len(s))
		}
	case reflect.Map:
		if v.IsNil() || !w.first(v.Pointer()) {
			return
		}
		t := v.Type()
		// Go's maps hold their entries in groups of eight slots with a
		// control word, at most 7/8 full.
		w.size += 48 + int64(v.Len())*int64(t.Key().Size()+t.Elem().Size()+1)*8/7
		kp, ep := hasPointers(t.Key()), hasPointers(t.Elem())
		if kp || ep {
			it := v.MapRange()
			for it.Next() {
				if kp {
					w.stack = append(w.stack, it.Key())
				}
				if ep {
					w.stack = append(w.stack, it.Value())
				}
			}
		}
	}
}

// hasPointers reports whether a value of type t may refer to other
// memory the walk should count. Functions, channels and unsafe pointers
// are not followed: the walk cannot see into them.
func hasPointers(t reflect.Type) bool {
	if v, ok := pointerFree.Load(t); ok {
		return !v.(bool)
	}
	has := false
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map, reflect.String:
		has = true
	case reflect.Array:
		has = t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				has = true
				break
			}
		}
	}
	pointerFree.Store(t, !has)
	return has
}
