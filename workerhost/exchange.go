package workerhost

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"go.uber.org/zap"
)

const (
	maxLogLines   = 256
	maxLogMessage = 16 << 10
)

var (
	errStalled = errors.New("the script will never generate a response: its promise cannot settle")
	errTimeout = errors.New("ctx.waitUntil work did not finish in time")
)

// exchange is the state of one request on one runtime: its event loop,
// timers, outbound fetches and what Serve reports.
type exchange struct {
	rt  *jsRuntime
	w   *Worker
	req *http.Request
	// rw is the response; rc its controller, made on first use (for
	// deadlines); writeDeadline records that a write deadline was set.
	rw            http.ResponseWriter
	rc            *http.ResponseController
	writeDeadline bool
	// slowBody is set when the request body timed out (deadline.go).
	slowBody atomic.Bool
	stop     func() bool // stops the client-cancel callback

	// ctx, made by context on first use (most requests never need it),
	// lives until the exchange ends, including ctx.waitUntil work; it keeps
	// the request's values (trace spans) but not its deadline. ctxMu guards
	// it against cancel, which Close may call from another goroutine.
	ctxMu       sync.Mutex
	ctx         context.Context
	cancelCtx   context.CancelFunc
	ctxCanceled bool

	// cpu is the CPU time charged to the exchange's finished segments.
	cpu time.Duration

	// queue holds jobs posted by other goroutines; pending counts the
	// operations (timers, fetches, body reads) that will post one.
	mu      sync.Mutex
	queue   []func() error
	closed  bool
	wake    chan struct{} // the runtime's: a stale wake-up only costs a loop turn
	pending int

	// timers and fetches are made on first use.
	timers    map[int64]*jsTimer
	nextTimer int64
	timerSeq  int64
	fetches   map[int64]*fetchOp
	nextFetch int64
	body      requestBody

	waitUntil   []*goja.Promise
	passThrough bool
	// unregistered means the worker was closed before the exchange began;
	// failed that the exchange ended on a fatal error; wroteHeader that
	// the status line was sent.
	unregistered bool
	failed       bool
	wroteHeader  bool
	// canceled and responded are guarded by rt.mu.
	canceled   bool
	responded  bool
	rejections []*goja.Promise
	logs       []LogLine
	exceptions []Exception
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

func newExchange(rt *jsRuntime, r *http.Request) *exchange {
	ex := &exchange{
		rt: rt, w: rt.w, req: r,
		wake: rt.wake,
	}
	rt.ex = ex
	rt.mu.Lock()
	rt.owner = ex
	rt.mu.Unlock()
	ex.stop = context.AfterFunc(r.Context(), func() {
		rt.cancelExchange(ex)
		ex.signal()
	})
	return ex
}

// context returns the exchange's context.
func (ex *exchange) context() context.Context {
	ex.ctxMu.Lock()
	defer ex.ctxMu.Unlock()
	if ex.ctx == nil {
		ex.ctx, ex.cancelCtx = context.WithCancel(context.WithoutCancel(ex.req.Context()))
		if ex.ctxCanceled {
			ex.cancelCtx()
		}
	}
	return ex.ctx
}

// cancel cancels the exchange's context, now or when it is made.
func (ex *exchange) cancel() {
	ex.ctxMu.Lock()
	defer ex.ctxMu.Unlock()
	ex.ctxCanceled = true
	if ex.cancelCtx != nil {
		ex.cancelCtx()
	}
}

// post queues fn to run on the exchange's goroutine; it is dropped once
// the exchange has ended.
func (ex *exchange) post(fn func() error) {
	ex.mu.Lock()
	if ex.closed {
		ex.mu.Unlock()
		return
	}
	ex.queue = append(ex.queue, fn)
	ex.mu.Unlock()
	ex.signal()
}

func (ex *exchange) signal() {
	select {
	case ex.wake <- struct{}{}:
	default:
	}
}

// goTask runs fn on a goroutine tracked by the worker, so Close can wait
// for it. A panic in fn is logged: it must not end the process.
func (ex *exchange) goTask(fn func()) {
	ex.w.tasks.Add(1)
	go func() {
		defer ex.w.tasks.Done()
		defer func() {
			if p := recover(); p != nil {
				ex.w.logger.Error("Go panic in a worker task", zap.Any("panic", p), zap.Stack("stack"))
			}
		}()
		fn()
	}()
}

// run is the event loop: it runs queued jobs until done reports true. It
// fails with a *fatalError, errStalled when nothing could make done true
// any more, or errTimeout at the deadline.
func (ex *exchange) run(done func() bool, deadline <-chan time.Time) error {
	for {
		for {
			ex.mu.Lock()
			jobs := ex.queue
			ex.queue = nil
			ex.mu.Unlock()
			if len(jobs) == 0 {
				break
			}
			for _, job := range jobs {
				if err := job(); err != nil {
					return err
				}
			}
		}
		if done() {
			return nil
		}
		if ex.isCanceled() {
			return &fatalError{errCanceled}
		}
		if ex.pending == 0 {
			return errStalled
		}
		select {
		case <-ex.wake:
		case <-deadline:
			return errTimeout
		}
	}
}

func (ex *exchange) isCanceled() bool {
	ex.rt.mu.Lock()
	defer ex.rt.mu.Unlock()
	return ex.canceled
}

// settle runs the loop until p is no longer pending.
func (ex *exchange) settle(p *goja.Promise) error {
	return ex.run(func() bool { return p.State() != goja.PromiseStatePending }, nil)
}

// callback runs a JavaScript callback from a job. An exception it throws
// is reported as uncaught without ending the exchange.
func (ex *exchange) callback(fn goja.Callable, args ...goja.Value) error {
	_, err := ex.rt.call(fn, args...)
	var jsErr *goja.Exception
	if errors.As(err, &jsErr) {
		ex.addException(newException(jsErr))
		return nil
	}
	return err
}

func (ex *exchange) addException(e Exception) {
	ex.exceptions = append(ex.exceptions, e)
	ex.w.logException(e, "uncaught exception")
}

func (ex *exchange) forgetRejection(p *goja.Promise) {
	for i, q := range ex.rejections {
		if q == p {
			ex.rejections = append(ex.rejections[:i], ex.rejections[i+1:]...)
			return
		}
	}
}

// rejection turns a rejected promise that Go consumes into an Exception.
func (ex *exchange) rejection(p *goja.Promise) Exception {
	ex.forgetRejection(p)
	v := p.Result()
	e := Exception{Name: "Error", Time: time.Now()}
	if o, ok := v.(*goja.Object); ok {
		if n := o.Get("name"); n != nil && !goja.IsUndefined(n) {
			e.Name = n.String()
		}
		if m := o.Get("message"); m != nil && !goja.IsUndefined(m) {
			e.Message = m.String()
		}
		if s := o.Get("stack"); s != nil && !goja.IsUndefined(s) {
			e.Stack = s.String()
		}
	} else if v != nil {
		e.Message = v.String()
	}
	if e.Stack == "" {
		e.Stack = e.Name + ": " + e.Message
	}
	return e
}

func (ex *exchange) log(level, msg string) {
	if len(msg) > maxLogMessage {
		msg = msg[:maxLogMessage] + "…"
	}
	lvl := zap.InfoLevel
	switch level {
	case "debug":
		lvl = zap.DebugLevel
	case "warn":
		lvl = zap.WarnLevel
	case "error":
		lvl = zap.ErrorLevel
	}
	if ce := ex.w.logger.Check(lvl, msg); ce != nil {
		ce.Write(zap.String("console", level))
	}
	if len(ex.logs) < maxLogLines {
		ex.logs = append(ex.logs, LogLine{Level: level, Message: msg, Time: time.Now()})
	}
}

// serve dispatches the request to the script and writes its response.
func (ex *exchange) serve(rw http.ResponseWriter) (Result, error) {
	ex.rw = rw
	ex.rt.beginSegment(ex.w.cfg.CPULimit)
	res, err := ex.serveRecovered(rw)
	ex.clearDeadlines()
	ex.cpu = ex.rt.endSegment()
	res.CPUTime = ex.cpu
	// The response is complete: a client that leaves now no longer
	// cancels the ctx.waitUntil work.
	ex.stop()
	ex.rt.mu.Lock()
	ex.responded = true
	ex.canceled = false
	ex.rt.mu.Unlock()
	res.Logs = append([]LogLine(nil), ex.logs...)
	res.Exceptions = append([]Exception(nil), ex.exceptions...)
	return res, err
}

// serveRecovered is serveInner made safe against a Go panic: whatever
// panicked, the runtime is replaced rather than trusted again, and the
// client gets a 500, or an aborted response if the status was sent.
func (ex *exchange) serveRecovered(rw http.ResponseWriter) (res Result, err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		ex.rt.broken = true
		ex.failed = true
		ex.w.logger.Error("Go panic while serving a worker request", zap.Any("panic", p), zap.Stack("stack"))
		if ex.wroteHeader {
			res, err = Result{Outcome: OutcomeException, Status: res.Status}, ErrResponseAborted
			return
		}
		res, err = ex.respondError(rw, OutcomeException, http.StatusInternalServerError, "worker failed")
	}()
	return ex.serveInner(rw)
}

func (ex *exchange) serveInner(rw http.ResponseWriter) (Result, error) {
	if !ex.w.register(ex) {
		ex.unregistered = true
		http.Error(rw, "worker is shutting down", http.StatusServiceUnavailable)
		return Result{Outcome: OutcomeOverloaded, Status: http.StatusServiceUnavailable}, ErrClosed
	}
	rt := ex.rt
	r := ex.req
	vm := rt.vm

	rv, err := rt.call(rt.dispatch,
		rt.method(r.Method), vm.ToValue(requestURL(r)), rt.requestHeaders(r),
		vm.ToValue(r.Body != nil && r.Body != http.NoBody))
	if err != nil {
		return ex.fail(rw, err)
	}
	// dispatch returns a Response the handler returned synchronously as it
	// is, and a promise otherwise.
	if o, ok := rv.(*goja.Object); ok && o.ExportType() == promiseType {
		p := o.Export().(*goja.Promise)
		if err := ex.settle(p); err != nil {
			return ex.fail(rw, err)
		}
		if p.State() == goja.PromiseStateRejected {
			ex.addException(ex.rejection(p))
			return ex.failException(rw)
		}
		rv = p.Result()
	}
	rt.out = responseDesc{headers: rt.out.headers[:0]}
	if _, err := rt.call(rt.response, rv); err != nil {
		return ex.fail(rw, err)
	}
	if rt.overMemory() {
		return ex.fail(rw, &fatalError{errMemoryLimit})
	}
	out := &rt.out
	if !out.ok {
		return ex.respondError(rw, OutcomeNoResponse, http.StatusInternalServerError, "worker did not return a Response")
	}
	status, kind, reader := out.status, out.kind, out.reader
	b, text, isText := out.bytes, out.text, out.isText
	out.reader, out.bytes, out.text = nil, nil, ""

	h := rw.Header()
	for i := 0; i+1 < len(out.headers); i += 2 {
		name := out.headers[i]
		switch name {
		case "content-length", "transfer-encoding", "connection", "keep-alive":
			// The host frames the body it actually sends.
			continue
		}
		key := rt.canonicalKey(name)
		h[key] = append(h[key], out.headers[i+1])
	}
	clear(out.headers)
	res := Result{Outcome: OutcomeOK, Status: status}
	switch kind {
	case 0:
		if bodyAllowed(status) {
			h.Set("Content-Length", "0")
		}
		ex.writeHeader(rw, status)
	case 1:
		size := len(b)
		if isText {
			size = len(text)
		}
		if bodyAllowed(status) {
			h.Set("Content-Length", strconv.Itoa(size))
		}
		ex.writeHeader(rw, status)
		if err := ex.writeBody(b, text, isText); err != nil {
			res.Outcome = OutcomeCanceled
			if errors.Is(err, errSlowClient) {
				return res, ErrResponseAborted
			}
		}
	case 2:
		return ex.stream(rw, status, reader)
	}
	return res, nil
}

// writeHeader sends the status line, and records that it was sent.
func (ex *exchange) writeHeader(rw http.ResponseWriter, status int) {
	ex.wroteHeader = true
	rw.WriteHeader(status)
}

// stream sends a ReadableStream body chunk by chunk, flushing each.
func (ex *exchange) stream(rw http.ResponseWriter, status int, reader goja.Value) (Result, error) {
	res := Result{Outcome: OutcomeOK, Status: status}
	ex.writeHeader(rw, status)
	rc := http.NewResponseController(rw)
	_ = rc.Flush()
	for {
		chunk, err := ex.nextChunk(reader)
		var rejected *rejectedRead
		switch {
		case errors.As(err, &rejected):
			ex.addException(ex.rejection(rejected.p))
			res.Outcome = OutcomeException
			return res, ErrResponseAborted
		case err != nil:
			res.Outcome = outcomeOf(err)
			ex.failed = true
			var jsErr *goja.Exception
			if errors.As(err, &jsErr) {
				ex.addException(newException(jsErr))
			} else if res.Outcome != OutcomeCanceled {
				ex.w.logger.Error("streamed response failed", zap.Error(err))
			}
			if res.Outcome == OutcomeCanceled {
				return res, nil
			}
			return res, ErrResponseAborted
		case chunk == nil:
			return res, nil
		}
		if err := ex.writeChunk(chunk, ""); err != nil {
			_, _ = ex.rt.call(ex.rt.cancelRead, reader, ex.rt.vm.ToValue("client disconnected"))
			res.Outcome = OutcomeCanceled
			if errors.Is(err, errSlowClient) {
				return res, ErrResponseAborted
			}
			return res, nil
		}
		_ = rc.Flush()
	}
}

// rejectedRead is the error of a read whose promise was rejected.
type rejectedRead struct{ p *goja.Promise }

func (r *rejectedRead) Error() string { return "a stream read was rejected" }

// nextChunk reads the next chunk of a streamed body: nil at its end, or
// an error, a *rejectedRead when the read's promise was rejected.
func (ex *exchange) nextChunk(reader goja.Value) ([]byte, error) {
	pv, err := ex.rt.call(ex.rt.read, reader)
	if err != nil {
		return nil, err
	}
	p, ok := pv.Export().(*goja.Promise)
	if !ok {
		return nil, &fatalError{errors.New("workerhost: a stream reader's read() returned no promise")}
	}
	if err := ex.settle(p); err != nil {
		return nil, err
	}
	if p.State() == goja.PromiseStateRejected {
		return nil, &rejectedRead{p}
	}
	// read resolves to bytes, a string or null: primitives, which convert
	// without running JavaScript.
	switch v := p.Result().Export().(type) {
	case nil:
		return nil, nil
	case []byte:
		if v == nil {
			v = []byte{}
		}
		return v, nil
	case string:
		return []byte(v), nil
	}
	return nil, &fatalError{errors.New("workerhost: a stream chunk is neither bytes nor a string")}
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

func outcomeOf(err error) string {
	switch {
	case errors.Is(err, errCPULimit):
		return OutcomeExceededCPU
	case errors.Is(err, errMemoryLimit):
		return OutcomeExceededMemory
	case errors.Is(err, errCanceled):
		return OutcomeCanceled
	case errors.Is(err, errStalled):
		return OutcomeNoResponse
	default:
		return OutcomeException
	}
}

// fail answers a request whose handler did not produce a Response.
func (ex *exchange) fail(rw http.ResponseWriter, err error) (Result, error) {
	var jsErr *goja.Exception
	if errors.As(err, &jsErr) {
		ex.addException(newException(jsErr))
		return ex.failException(rw)
	}
	ex.failed = true
	switch outcomeOf(err) {
	case OutcomeExceededCPU:
		ex.w.logger.Warn("worker exceeded its CPU time limit", zap.Duration("cpu_limit", ex.w.cfg.CPULimit))
		return ex.respondError(rw, OutcomeExceededCPU, http.StatusServiceUnavailable, "worker exceeded its CPU time limit")
	case OutcomeExceededMemory:
		// The heap cannot be trusted to shrink: the runtime is dropped.
		ex.rt.broken = true
		ex.w.logger.Warn("worker exceeded its memory limit; its runtime is replaced",
			zap.Int64("memory_limit", ex.w.cfg.MemoryLimit), zap.Int64("heap", ex.rt.heap))
		return ex.respondError(rw, OutcomeExceededMemory, http.StatusServiceUnavailable, "worker exceeded its memory limit")
	case OutcomeCanceled:
		if ex.slowBody.Load() && !ex.wroteHeader {
			return ex.respondError(rw, OutcomeCanceled, http.StatusRequestTimeout, "request body timeout: the client sent no data in time")
		}
		return Result{Outcome: OutcomeCanceled}, nil
	case OutcomeNoResponse:
		ex.w.logger.Error("worker did not return a Response", zap.Error(err))
		return ex.respondError(rw, OutcomeNoResponse, http.StatusInternalServerError, "worker did not return a Response")
	}
	ex.w.logger.Error("worker failed", zap.Error(err))
	return ex.respondError(rw, OutcomeException, http.StatusInternalServerError, "worker failed")
}

func (ex *exchange) failException(rw http.ResponseWriter) (Result, error) {
	if ex.body.tooLarge {
		return ex.respondError(rw, OutcomeException, http.StatusRequestEntityTooLarge, "request body too large")
	}
	if ex.passThrough {
		return Result{Outcome: OutcomeException}, ErrPassThrough
	}
	return ex.respondError(rw, OutcomeException, http.StatusInternalServerError, "worker threw an exception")
}

func (ex *exchange) respondError(rw http.ResponseWriter, outcome string, status int, msg string) (Result, error) {
	http.Error(rw, msg, status)
	return Result{Outcome: outcome, Status: status}, nil
}

func (ex *exchange) needsWaitUntil() bool {
	return !ex.unregistered && !ex.failed && !ex.rt.broken && len(ex.waitUntil) > 0
}

// finishWaitUntil runs the loop until every ctx.waitUntil promise has
// settled, within WaitUntilTimeout and what is left of the CPU budget.
func (ex *exchange) finishWaitUntil() {
	ex.rt.beginSegment(ex.w.cfg.CPULimit - ex.cpu)
	defer func() { ex.cpu += ex.rt.endSegment() }()
	t := time.NewTimer(ex.w.cfg.WaitUntilTimeout)
	defer t.Stop()
	err := ex.run(func() bool {
		for _, p := range ex.waitUntil {
			if p.State() == goja.PromiseStatePending {
				return false
			}
		}
		return true
	}, t.C)
	for _, p := range ex.waitUntil {
		if p.State() == goja.PromiseStateRejected {
			ex.addException(ex.rejection(p))
		}
	}
	if err != nil {
		var jsErr *goja.Exception
		if errors.As(err, &jsErr) {
			ex.addException(newException(jsErr))
		} else {
			ex.w.logger.Warn("ctx.waitUntil work abandoned", zap.Error(err))
		}
	}
}

// close ends the exchange: timers stop, fetches and body reads are
// canceled, unhandled rejections are reported, and the runtime goes back
// to the pool.
func (ex *exchange) close() {
	ex.mu.Lock()
	ex.closed = true
	ex.queue = nil
	ex.mu.Unlock()
	ex.stop()
	ex.cancel()
	for _, t := range ex.timers {
		t.t.Stop()
	}
	ex.reportRejections()
	rt := ex.rt
	rt.ex = nil
	rt.mu.Lock()
	rt.owner = nil
	rt.fired = nil
	rt.mu.Unlock()
	rt.vm.ClearInterrupt()
	if rt.interrupted && !rt.broken {
		rt.interrupted = false
		rt.broken = !rt.healthy()
	}
	if !ex.unregistered {
		ex.w.unregister(ex)
	}
	ex.w.release(rt)
}

// reportRejections logs the promise rejections nothing handled. Reading
// a rejection's properties may run a script's getters, outside any call's
// recovery: a panic there breaks the runtime, but never the close.
func (ex *exchange) reportRejections() {
	defer func() {
		if p := recover(); p != nil {
			ex.rt.broken = true
			ex.w.logger.Error("Go panic while reporting promise rejections", zap.Any("panic", p))
		}
	}()
	for _, p := range ex.rejections {
		if p.State() == goja.PromiseStateRejected {
			e := ex.rejection(p)
			e.Message = "Uncaught (in promise) " + e.Message
			ex.w.logException(e, "unhandled promise rejection")
		}
	}
}

// requestURL is the absolute URL of r, as the script sees it.
func requestURL(r *http.Request) string {
	if r.URL.IsAbs() {
		return r.URL.String()
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(r.Host) + len(r.URL.RequestURI()))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(r.Host)
	b.WriteString(r.URL.RequestURI())
	return b.String()
}

// requestHeaders flattens the headers of an incoming request like
// headersToJS, with the Host header, which net/http keeps apart but
// Workers scripts read from request.headers.
func (rt *jsRuntime) requestHeaders(r *http.Request) goja.Value {
	// The values are goja.Values, which NewArray takes as they are, rather
	// than strings it would box once more.
	flat := rt.flat[:0]
	if r.Host != "" {
		flat = append(flat, rt.hostKey, rt.vm.ToValue(r.Host))
	}
	for k, vs := range r.Header {
		lk := rt.lowerKey(k)
		for _, v := range vs {
			flat = append(flat, lk, rt.vm.ToValue(v))
		}
	}
	a := rt.vm.NewArray(flat...)
	clear(flat)
	rt.flat = flat
	return a
}

// headersToJS flattens h into [name, value, ...] with lower-case names.
func headersToJS(vm *goja.Runtime, h http.Header) goja.Value {
	flat := make([]any, 0, 2*len(h))
	for k, vs := range h {
		lk := strings.ToLower(k)
		for _, v := range vs {
			flat = append(flat, lk, v)
		}
	}
	return vm.NewArray(flat...)
}
