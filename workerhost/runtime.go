package workerhost

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
	"go.uber.org/zap"
)

var (
	//go:embed js/prelude.js
	preludeSource string
	//go:embed js/url.js
	urlSource string
	//go:embed js/node.js
	nodeSource string
	//go:embed js/streams.js
	streamsSource string

	preludeProgram = goja.MustCompile("gradual:prelude.js", preludeSource, true)
	streamsProgram = goja.MustCompile("gradual:streams.js", streamsSource, true)
	urlProgram     = goja.MustCompile("gradual:url.js", urlSource, true)
	nodeProgram    = goja.MustCompile("gradual:node.js", nodeSource, true)
)

// maxCallStackSize bounds JavaScript recursion, which would otherwise grow
// the Go stack until the process dies.
const maxCallStackSize = 4096

var (
	errCPULimit = errors.New("worker exceeded its CPU time limit")
	errCanceled = errors.New("request canceled by the client")
)

// promiseType is what (*goja.Object).ExportType returns for a promise.
var promiseType = reflect.TypeFor[*goja.Promise]()

// responseDesc is the Response the script returned, as the prelude's
// describe hands it over through headerOps.emit (or host.header for a
// lone content type) and host.respond.
type responseDesc struct {
	ok     bool
	status int
	// statusText is the Response's, which only a service binding's caller
	// sees: net/http writes the standard one.
	statusText string
	// hasStatusText is whether the Response has one: a status text given
	// as "" stays "", as in workerd.
	hasStatusText bool
	kind          int64 // 0 no body, 1 string or bytes, 2 stream (reader is set)
	// A body of kind 1 is bytes, or text when isText.
	bytes   []byte
	text    string
	isText  bool
	reader  goja.Value
	headers []string // name, value, ...: names in lower case
}

// maxCanonicalKeys bounds jsRuntime.canonical.
const maxCanonicalKeys = 256

// method returns r.Method as a JavaScript string, from a cache for the
// standard methods.
func (rt *jsRuntime) method(m string) goja.Value {
	if v, ok := rt.methods[m]; ok {
		return v
	}
	return rt.vm.ToValue(m)
}

// canonicalKey returns http.CanonicalHeaderKey(name), from a cache for
// the names the script uses on every request.
func (rt *jsRuntime) canonicalKey(name string) string {
	if k, ok := rt.canonical[name]; ok {
		return k
	}
	k := http.CanonicalHeaderKey(name)
	if len(rt.canonical) < maxCanonicalKeys && len(name) <= 64 {
		rt.canonical[name] = k
	}
	return k
}

// fatalError is a failure that ends the exchange, unlike a JavaScript
// exception thrown by a callback.
type fatalError struct{ err error }

func (f *fatalError) Error() string { return f.err.Error() }
func (f *fatalError) Unwrap() error { return f.err }

// jsRuntime is one goja runtime with the host APIs installed and the
// worker script loaded: an isolate, whose loop goroutine (loop.go) runs
// all its JavaScript.
type jsRuntime struct {
	w          *Worker
	vm         *goja.Runtime
	uint8Array goja.Constructor
	dispatch   goja.Callable
	response   goja.Callable
	read       goja.Callable
	cancelRead goja.Callable
	fetcher    goja.Callable

	loopState
	// ex is the exchange the JavaScript running now belongs to, nil in
	// the script's top level; out the Response being described.
	ex  *exchange
	out *responseDesc
	// broken means a Go panic or an interrupt left the runtime untrusted:
	// it takes no new request. interrupted records an interrupt in the
	// current turn. Both belong to the loop.
	broken      bool
	interrupted bool

	// active counts the exchanges the runtime serves; retired means it
	// takes no new one; idleSince is when active last fell to zero, and
	// idleTimer drops the runtime after idleRuntime of that. All four are
	// guarded by w.mu. inTurn is set while the loop runs a turn.
	active    int
	retired   bool
	idleSince time.Time
	idleTimer *time.Timer
	inTurn    atomic.Bool

	// Caches, so that a request allocates less: canonical caches
	// http.CanonicalHeaderKey of response header names, headerNames the
	// header names scripts and requests use, checked and lower-cased
	// (headers.go), and methods the standard request methods.
	hostKey     goja.Value // "host"
	canonical   map[string]string
	headerNames map[string]headerName
	methods     map[string]goja.Value
	// kState is the symbol the prelude keeps a Headers object's state
	// under, and commaSpace ", " (headers.go).
	kState     *goja.Symbol
	commaSpace goja.String

	// mu guards the interrupt and CPU state shared with the watchdog and
	// the client-cancel callback, which run on other goroutines. owner is
	// the exchange of the current turn. The rest describes the current
	// segment (cpu.go): the loop's thread, the segment's start, its CPU
	// budget, the watchdog's first and latest samples of the thread's
	// clock (-1 before the first), the wall-clock time spent in JavaScript, and whether JavaScript ran
	// since the latest sample.
	mu        sync.Mutex
	inJS      bool
	callStart time.Time
	fired     error
	owner     *exchange
	tid       int
	segStart  time.Time
	limit     time.Duration
	base      time.Duration
	last      time.Duration
	jsWall    time.Duration
	busy      bool
	// liveAtBegin is Go's live heap when the segment began (memory.go).
	liveAtBegin int64

	// walked is the walk generation of the runtime's last heap walk, and
	// heap the size it found (memory.go).
	walked uint64
	heap   int64
}

func newRuntime(w *Worker) (*jsRuntime, error) { return newRuntimeChecked(w, false) }

// runtimeFault, when set, makes newRuntimeChecked fail with it: tests
// inject the failure of a script's top level this way.
var runtimeFault atomic.Pointer[error]

// newRuntimeChecked creates a runtime and starts its loop; with check, the
// script's top-level code runs under the allocation guards of Check.
func newRuntimeChecked(w *Worker, check bool) (*jsRuntime, error) {
	if err := runtimeFault.Load(); err != nil {
		return nil, *err
	}
	rt := &jsRuntime{
		w:         w,
		canonical: map[string]string{}, headerNames: map[string]headerName{}, methods: map[string]goja.Value{},
	}
	rt.wake = make(chan struct{}, 1)
	rt.exchanges = map[*exchange]struct{}{}
	rt.tracker = &tracker{rt: rt}
	if err := rt.start(check); err != nil {
		return nil, err
	}
	return rt, nil
}

// init creates the goja runtime and runs the script's top level, on the
// loop's goroutine.
func (rt *jsRuntime) init(check bool) error {
	w := rt.w
	vm := goja.New()
	rt.vm = vm
	vm.SetMaxCallStackSize(maxCallStackSize)
	rt.hostKey = vm.ToValue("host")
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		rt.methods[m] = vm.ToValue(m)
	}
	vm.SetPromiseRejectionTracker(rt.trackRejection)
	vm.SetAsyncContextTracker(rt.tracker)

	c, ok := goja.AssertConstructor(vm.Get("Uint8Array"))
	if !ok {
		return errors.New("workerhost: Uint8Array is not a constructor")
	}
	rt.uint8Array = c

	rt.beginSegment(nil, StartupCPULimit)
	err := rt.enter(func() (goja.Value, error) {
		// goja_nodejs modules are loaded without a require() registry, so
		// that scripts get their globals but no way to load modules.
		for _, require := range []func(*goja.Runtime, *goja.Object){buffer.Require} {
			module := vm.NewObject()
			exports := vm.NewObject()
			if err := module.Set("exports", exports); err != nil {
				return nil, err
			}
			require(vm, module)
			for _, k := range exports.Keys() {
				if k == "Buffer" {
					if err := vm.Set(k, exports.Get(k)); err != nil {
						return nil, err
					}
				}
			}
		}
		if err := guardNesting(vm); err != nil {
			return nil, err
		}
		streams, err := vm.RunProgram(streamsProgram)
		if err != nil {
			return nil, err
		}
		urlModule, err := vm.RunProgram(urlProgram)
		if err != nil {
			return nil, err
		}
		host := rt.hostObject()
		if err := host.Set("streams", streams); err != nil {
			return nil, err
		}
		if err := host.Set("url", urlModule); err != nil {
			return nil, err
		}
		nodeModule, err := vm.RunProgram(nodeProgram)
		if err != nil {
			return nil, err
		}
		if err := host.Set("namedGroups", w.prog.namedGroups); err != nil {
			return nil, err
		}
		if err := host.Set("node", nodeModule); err != nil {
			return nil, err
		}
		preludeFn, err := vm.RunProgram(preludeProgram)
		if err != nil {
			return nil, err
		}
		call, _ := goja.AssertFunction(preludeFn)
		api, err := call(goja.Undefined(), host, vm.GlobalObject())
		if err != nil {
			return nil, err
		}
		o := api.ToObject(vm)
		for name, dst := range map[string]*goja.Callable{"dispatch": &rt.dispatch, "response": &rt.response, "read": &rt.read, "cancel": &rt.cancelRead, "fetcher": &rt.fetcher} {
			if *dst, ok = goja.AssertFunction(o.Get(name)); !ok {
				return nil, fmt.Errorf("prelude lacks %s", name)
			}
		}
		env, err := rt.envValues()
		if err != nil {
			return nil, err
		}
		vars := vm.NewObject()
		for k, v := range env {
			if err := vars.Set(k, v); err != nil {
				return nil, err
			}
		}
		meta := vm.NewObject()
		_ = meta.Set("id", w.cfg.VersionID)
		_ = meta.Set("tag", w.cfg.Tag)
		_ = meta.Set("timestamp", w.cfg.Timestamp.UTC().Format(time.RFC3339))
		if w.prog.serviceWorker {
			// A service-worker script has no env: its bindings are globals,
			// there from its first line on.
			for k, v := range env {
				if err := vm.Set(k, v); err != nil {
					return nil, err
				}
			}
			if err := vm.Set("CF_VERSION_METADATA", meta); err != nil {
				return nil, err
			}
		}
		if check {
			if err := installAllocationGuards(vm); err != nil {
				return nil, err
			}
			stop := rt.watchHeap(MaxCheckHeap)
			defer stop()
		}
		if _, err := vm.RunProgram(w.prog.prog); err != nil {
			return nil, err
		}
		initFn, _ := goja.AssertFunction(o.Get("init"))
		msg, err := initFn(goja.Undefined(), vars, meta)
		if err != nil {
			return nil, err
		}
		if s := msg.String(); s != "" {
			return nil, errors.New(s)
		}
		return nil, nil
	})
	rt.endSegment()
	if err != nil {
		var jsErr *goja.Exception
		if errors.As(err, &jsErr) {
			return fmt.Errorf("workerhost: %s: the script threw while loading: %s", w.prog.name, exceptionStack(jsErr))
		}
		if errors.Is(err, errMemoryLimit) {
			return fmt.Errorf("workerhost: %s: the top-level code allocated over the memory limit (%d MB) while loading", w.prog.name, w.cfg.MemoryLimit>>20)
		}
		return fmt.Errorf("workerhost: %s: %w", w.prog.name, err)
	}
	return nil
}

// cancelExchange stops the JavaScript running now if it is ex's, whose
// client left, and ex is the runtime's only exchange: the interrupt would
// lose the promise jobs of any other (loop.go), so with others, ex ends at
// its next turn instead. It runs on the goroutine of the request
// context's AfterFunc.
func (rt *jsRuntime) cancelExchange(ex *exchange) {
	rt.w.mu.Lock()
	only := rt.active == 1
	rt.w.mu.Unlock()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if only && rt.owner == ex && rt.inJS && rt.fired == nil {
		rt.fired = errCanceled
		rt.vm.Interrupt(errCanceled)
	}
}

// enter runs fn, which calls into JavaScript, within the current
// segment's CPU budget (cpu.go). It returns a *fatalError for a CPU limit,
// a cancellation or a Go panic, and the JavaScript exception otherwise.
func (rt *jsRuntime) enter(fn func() (goja.Value, error)) (err error) {
	_, err = rt.enterValue(fn)
	return err
}

func (rt *jsRuntime) enterValue(fn func() (goja.Value, error)) (v goja.Value, err error) {
	rt.mu.Lock()
	if rt.usedLocked() >= rt.limit {
		rt.mu.Unlock()
		return nil, &fatalError{errCPULimit}
	}
	start := time.Now()
	rt.inJS = true
	rt.busy = true
	rt.fired = nil
	rt.callStart = start
	rt.mu.Unlock()
	defer func() {
		elapsed := time.Since(start)
		rt.mu.Lock()
		rt.inJS = false
		rt.jsWall += elapsed
		fired := rt.fired
		over := rt.usedLocked() >= rt.limit
		rt.mu.Unlock()
		if p := recover(); p != nil {
			rt.broken = true
			err = &fatalError{fmt.Errorf("workerhost: Go panic in a host function: %v", p)}
			return
		}
		if fired != nil {
			// The interrupt may have landed after JavaScript returned; it
			// must not hit the next call.
			rt.vm.ClearInterrupt()
			rt.interrupted = true
			v, err = nil, &fatalError{fired}
			return
		}
		if over {
			v, err = nil, &fatalError{errCPULimit}
		}
	}()
	return fn()
}

// call calls a JavaScript function within the current segment's budget.
func (rt *jsRuntime) call(fn goja.Callable, args ...goja.Value) (goja.Value, error) {
	return rt.enterValue(func() (goja.Value, error) { return fn(goja.Undefined(), args...) })
}

func (rt *jsRuntime) trackRejection(p *goja.Promise, op goja.PromiseRejectionOperation) {
	ex := rt.ex
	if ex == nil {
		return
	}
	if op == goja.PromiseRejectionReject {
		ex.rejections = append(ex.rejections, p)
		return
	}
	ex.forgetRejection(p)
}

// bytes wraps b in a new Uint8Array without copying.
func (rt *jsRuntime) bytes(b []byte) goja.Value {
	o, err := rt.uint8Array(nil, rt.vm.ToValue(rt.vm.NewArrayBuffer(b)))
	if err != nil {
		panic(err)
	}
	return o
}

// throwType throws a JavaScript TypeError from a host function.
func (rt *jsRuntime) throwType(format string, args ...any) {
	panic(rt.vm.NewTypeError(fmt.Sprintf(format, args...)))
}

// exceptionStack returns the source-mapped stack of a JavaScript exception.
func exceptionStack(e *goja.Exception) string {
	if o, ok := e.Value().(*goja.Object); ok {
		if s := o.Get("stack"); s != nil && !goja.IsUndefined(s) && s.String() != "" {
			return s.String()
		}
	}
	return e.String()
}

// newException describes a thrown JavaScript value.
func newException(e *goja.Exception) Exception {
	out := Exception{Name: "Error", Time: time.Now(), Stack: exceptionStack(e)}
	if o, ok := e.Value().(*goja.Object); ok {
		if n := o.Get("name"); n != nil && !goja.IsUndefined(n) {
			out.Name = n.String()
		}
		if m := o.Get("message"); m != nil && !goja.IsUndefined(m) {
			out.Message = m.String()
		}
	} else if e.Value() != nil {
		out.Message = e.Value().String()
	}
	return out
}

func (w *Worker) logException(e Exception, msg string) {
	if ce := w.logger.Check(zap.ErrorLevel, msg); ce != nil {
		ce.Write(zap.String("name", e.Name), zap.String("message", e.Message), zap.String("stack", e.Stack))
	}
}
