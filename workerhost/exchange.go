package workerhost

import (
	"context"
	"errors"
	"net/http"
	"slices"
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
	errStalled  = errors.New("the script will never generate a response: its promise cannot settle")
	errTimeout  = errors.New("ctx.waitUntil work did not finish in time")
	errShutdown = errors.New("the worker is shutting down")
)

// exchange is one request on a runtime: its timers, outbound fetches and
// body, what Serve reports, and the replies the loop hands to the Serve
// goroutine, which writes the response.
//
// An exchange goes through three phases on the loop: handling (the
// handler runs until it has a Response), streaming (Serve asks for the
// chunks of a streamed body one by one) and after (its ctx.waitUntil work
// runs). Everything but the fields marked otherwise belongs to the loop.
type exchange struct {
	rt  *jsRuntime
	w   *Worker
	req *http.Request
	// rec is rw when the exchange is a call through a service binding,
	// whose caller gets the request and response as workerd hands them
	// over (begin, describe, respond); nil otherwise. It never changes.
	rec *serviceRecorder

	// rw, rc and writeDeadline belong to the Serve goroutine; rc is also
	// used by the goroutine that reads the request body, to set its read
	// deadline. slowBody is set when the request body timed out.
	rw            http.ResponseWriter
	rc            *http.ResponseController
	writeDeadline bool
	slowBody      atomic.Bool
	stop          func() bool // stops the client-cancel callback

	// replies carries the loop's answers to Serve: one for the response,
	// one per chunk of a streamed body. done is closed when the exchange
	// ends, after its last reply.
	replies chan reply
	done    chan struct{}

	// ctx, made by context on first use (most requests never need it),
	// lives until the exchange ends, including ctx.waitUntil work; it keeps
	// the request's values (trace spans) but not its deadline. ctxMu guards
	// it against cancel, which Close may call from another goroutine.
	ctxMu       sync.Mutex
	ctx         context.Context
	cancelCtx   context.CancelFunc
	ctxCanceled bool

	// cpu is the CPU time charged to the exchange's turns.
	cpu time.Duration
	// pending counts the operations (timers, fetches, body reads, service
	// calls) that will post a job for the exchange.
	pending int
	closed  bool
	// idleSince is when the loop first saw the exchange waiting with
	// nothing in flight (checkHung).
	idleSince time.Time

	// timers and fetches are made on first use.
	timers    map[int64]*jsTimer
	nextTimer int64
	timerSeq  int64
	fetches   map[int64]*fetchOp
	nextFetch int64
	body      requestBody

	phase       int
	out         responseDesc
	reader      goja.Value // the streamed body's reader
	waitUntil   []*goja.Promise
	waitTimer   *time.Timer // bounds the ctx.waitUntil work
	passThrough bool
	// failed means the exchange ended on a fatal error; responded that
	// its response is complete (a client that leaves then no longer
	// cancels its ctx.waitUntil work); canceled that its client left.
	failed     bool
	responded  bool
	canceled   bool
	rejections []*goja.Promise
	logs       []LogLine
	exceptions []Exception
}

// Phases of an exchange.
const (
	phaseHandling = iota
	phaseStreaming
	phaseAfter
)

// reply is what the loop hands to the Serve goroutine.
type reply struct {
	// res is what Serve reports, as far as the loop knows it.
	res Result
	// fail, for the first reply, means there is no response: Serve writes
	// the error it describes.
	fail *failure
	// resp is the response, for the first reply.
	resp *responseDesc
	// chunk is the next chunk of a streamed body; eof marks its end and
	// err its failure (nil when the client left), with res final.
	chunk []byte
	eof   bool
	err   error
}

func newExchange(rt *jsRuntime, r *http.Request, rw http.ResponseWriter) *exchange {
	ex := &exchange{
		rt: rt, w: rt.w, req: r, rw: rw,
		// At most two replies are ever outstanding: one Serve asked for,
		// and the last one of an exchange that ended meanwhile.
		replies: make(chan reply, 2),
		done:    make(chan struct{}),
	}
	ex.rec, _ = rw.(*serviceRecorder)
	ex.rc = http.NewResponseController(rw)
	ex.stop = context.AfterFunc(r.Context(), func() {
		rt.cancelExchange(ex)
		rt.post(job{ex, func() error {
			if ex.responded {
				return nil
			}
			ex.canceled = true
			if ex.body.state == 1 {
				// net/http cancels the request when a read of its body
				// fails, before the read returns: the read's own outcome
				// (a 408 for a client too slow) ends the exchange.
				return nil
			}
			return &fatalError{errCanceled}
		}})
	})
	return ex
}

// budget is what is left of the exchange's CPU time.
func (ex *exchange) budget() time.Duration { return ex.w.cfg.CPULimit - ex.cpu }

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

// post queues fn to run on the loop as a turn of the exchange; it is
// dropped once the exchange has ended. It may be called from any goroutine.
func (ex *exchange) post(fn func() error) { ex.rt.post(job{ex, fn}) }

// goTask runs fn on a goroutine tracked by the worker, so Close can wait
// for it. A panic in fn is logged: it must not end the process.
func (ex *exchange) goTask(fn func()) {
	w := ex.w
	w.tasks.Add(1)
	runTask(func() {
		defer w.tasks.Done()
		defer func() {
			if p := recover(); p != nil {
				w.logger.Error("Go panic in a worker task", zap.Any("panic", p), zap.Stack("stack"))
			}
		}()
		fn()
	})
}

// Tasks (fetches, body reads, service calls) run on goroutines that are
// kept for taskIdle after their task: a new goroutine for every task
// would grow its stack from the minimum, copying it at each doubling, on
// the deep path of a service call into another worker.
var (
	// idleTasks are the idle task goroutines, the most recently idle
	// last: a task goes to that one, so that those a burst of tasks
	// started find none and end, where one channel they all waited on
	// handed tasks round all of them and kept them for good.
	idleTasks struct {
		sync.Mutex
		list []*idleTask
	}
	// taskIdle is a time.Duration, which tests shorten.
	taskIdle atomic.Int64
)

// idleTask is an idle task goroutine; runTask hands it a task on next,
// which has room for it.
type idleTask struct{ next chan func() }

func init() { taskIdle.Store(int64(5 * time.Second)) }

// runTask hands fn to an idle task goroutine, or starts one.
func runTask(fn func()) {
	idleTasks.Lock()
	if n := len(idleTasks.list); n > 0 {
		it := idleTasks.list[n-1]
		idleTasks.list[n-1] = nil
		idleTasks.list = idleTasks.list[:n-1]
		idleTasks.Unlock()
		it.next <- fn
		return
	}
	idleTasks.Unlock()
	go taskRunner(fn)
}

// taskRunner runs fn, then the tasks handed to it while it waits, until
// it has waited taskIdle for one.
func taskRunner(fn func()) {
	it := &idleTask{next: make(chan func(), 1)}
	var idle *time.Timer
	for {
		fn()
		d := time.Duration(taskIdle.Load())
		if idle == nil {
			idle = time.NewTimer(d)
		} else {
			idle.Reset(d)
		}
		idleTasks.Lock()
		idleTasks.list = append(idleTasks.list, it)
		idleTasks.Unlock()
		select {
		case fn = <-it.next:
		case <-idle.C:
			idleTasks.Lock()
			i := slices.Index(idleTasks.list, it)
			if i >= 0 {
				idleTasks.list = slices.Delete(idleTasks.list, i, i+1)
			}
			idleTasks.Unlock()
			if i >= 0 {
				return
			}
			// runTask took it from the list as the timer fired: its
			// task is on the way.
			fn = <-it.next
		}
	}
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

// begin is the exchange's first turn: it runs the fetch handler.
func (ex *exchange) begin() error {
	rt := ex.rt
	rt.exchanges[ex] = struct{}{}
	r := ex.req
	vm := rt.vm
	host := r.Host
	if ex.rec != nil {
		// A call through a service binding: the request has the headers
		// the calling script set, a host among them only if it set one.
		host = ""
	}
	rv, err := rt.call(rt.dispatch,
		rt.method(r.Method), vm.ToValue(requestURL(r)), rt.headerState(host, r.Header),
		vm.ToValue(r.Body != nil && r.Body != http.NoBody))
	if err != nil {
		return err
	}
	// dispatch returns a Response the handler returned synchronously as it
	// is, and a promise otherwise.
	if o, ok := rv.(*goja.Object); ok && o.ExportType() == promiseType {
		return ex.whenSettled(o.Export().(*goja.Promise), ex.handled)
	}
	return ex.describe(rv)
}

// whenSettled runs then with p once p is settled: now, or as a turn after
// the one that settles it.
func (ex *exchange) whenSettled(p *goja.Promise, then func(*goja.Promise) error) error {
	if settled(p) {
		return then(p)
	}
	ex.rt.wait(&waiter{ex: ex, ready: func() bool { return settled(p) }, then: func() error { return then(p) }})
	return nil
}

// handled takes the settled promise of the handler.
func (ex *exchange) handled(p *goja.Promise) error {
	if p.State() == goja.PromiseStateRejected {
		ex.addException(ex.rejection(p))
		ex.replyFailure(ex.exceptionFailure())
		return nil
	}
	return ex.describe(p.Result())
}

// describe has the prelude describe the Response v and hands it to Serve.
func (ex *exchange) describe(v goja.Value) error {
	rt := ex.rt
	ex.out = responseDesc{}
	rt.out = &ex.out
	_, err := rt.call(rt.response, v)
	rt.out = nil
	if err != nil {
		return err
	}
	if rt.overMemory() {
		return &fatalError{errMemoryLimit}
	}
	out := &ex.out
	if !out.ok {
		return &fatalError{errNoResponse}
	}
	if ex.rec == nil {
		// The names become canonical here, on the loop, which owns the
		// cache. The host frames the body it actually sends. A service
		// binding's caller gets the headers as the script set them,
		// framing ones included, as in workerd: they stay as they are.
		h := out.headers[:0]
		for i := 0; i+1 < len(out.headers); i += 2 {
			switch name := out.headers[i]; name {
			case "content-length", "transfer-encoding", "connection", "keep-alive":
			default:
				h = append(h, rt.canonicalKey(name), out.headers[i+1])
			}
		}
		out.headers = h
	}
	if out.kind == 2 {
		ex.phase = phaseStreaming
		ex.reader, out.reader = out.reader, nil
		ex.replies <- reply{resp: out, res: Result{Outcome: OutcomeOK, Status: out.status}}
		return nil
	}
	ex.finish(reply{resp: out}, OutcomeOK, out.status)
	return nil
}

// readChunk reads the next chunk of a streamed body, at Serve's request.
func (ex *exchange) readChunk() error {
	rt := ex.rt
	pv, err := rt.call(rt.read, ex.reader)
	if err != nil {
		return err
	}
	p, ok := pv.Export().(*goja.Promise)
	if !ok {
		return &fatalError{errors.New("workerhost: a stream reader's read() returned no promise")}
	}
	return ex.whenSettled(p, ex.chunkRead)
}

// chunkRead hands the result of a chunk's read to Serve.
func (ex *exchange) chunkRead(p *goja.Promise) error {
	if p.State() == goja.PromiseStateRejected {
		ex.addException(ex.rejection(p))
		ex.failed = true
		ex.finish(reply{err: ErrResponseAborted}, OutcomeException, ex.out.status)
		return nil
	}
	// read resolves to bytes, a string or null: primitives, which convert
	// without running JavaScript. The bytes are copied: the script may
	// still change them while Serve writes them.
	switch v := p.Result().Export().(type) {
	case nil:
		ex.finish(reply{eof: true}, OutcomeOK, ex.out.status)
	case []byte:
		ex.replies <- reply{chunk: append([]byte{}, v...)}
	case string:
		ex.replies <- reply{chunk: []byte(v)}
	default:
		return &fatalError{errors.New("workerhost: a stream chunk is neither bytes nor a string")}
	}
	return nil
}

// clientGone cancels the streamed body of a client that left or stalled,
// at Serve's request.
func (ex *exchange) clientGone() error {
	_, _ = ex.rt.call(ex.rt.cancelRead, ex.reader, ex.rt.vm.ToValue("client disconnected"))
	ex.finish(reply{}, OutcomeCanceled, ex.out.status)
	return nil
}

// finish sends Serve the last reply of the response, with the result as
// it stands, and moves on to the ctx.waitUntil work or ends the exchange.
func (ex *exchange) finish(r reply, outcome string, status int) {
	r.res.Outcome, r.res.Status = outcome, status
	r.res.CPUTime = ex.cpu + ex.rt.segmentUsed()
	r.res.Logs = append([]LogLine(nil), ex.logs...)
	r.res.Exceptions = append([]Exception(nil), ex.exceptions...)
	last := ex.failed || ex.rt.broken || len(ex.waitUntil) == 0
	if last {
		// Logged before Serve returns, as the request's own lines.
		ex.reportRejections()
	}
	ex.replies <- r
	ex.responded = true
	ex.canceled = false
	ex.stop()
	if last {
		ex.close()
		return
	}
	ex.phase = phaseAfter
	allSettled := func() bool {
		for _, p := range ex.waitUntil {
			if !settled(p) {
				return false
			}
		}
		return true
	}
	ex.waitTimer = time.AfterFunc(ex.w.cfg.WaitUntilTimeout, func() {
		ex.post(func() error { return errTimeout })
	})
	ex.rt.wait(&waiter{ex: ex, ready: allSettled, then: func() error {
		ex.reportWaitUntil()
		ex.close()
		return nil
	}})
}

// reportWaitUntil reports the ctx.waitUntil promises that were rejected.
func (ex *exchange) reportWaitUntil() {
	for _, p := range ex.waitUntil {
		if p.State() == goja.PromiseStateRejected {
			ex.addException(ex.rejection(p))
		}
	}
}

// close ends the exchange: timers stop, fetches and body reads are
// canceled, unhandled rejections are reported, and once the turn is over
// (turn) the pool counts it off.
func (ex *exchange) close() {
	if ex.closed {
		return
	}
	ex.closed = true
	close(ex.done)
	ex.stop()
	ex.cancel()
	for _, t := range ex.timers {
		t.t.Stop()
	}
	if ex.waitTimer != nil {
		ex.waitTimer.Stop()
	}
	ex.reportRejections()
	ex.rt.dropWaiters(ex)
	delete(ex.rt.exchanges, ex)
	ex.rt.ended = append(ex.rt.ended, ex)
}

// reportRejections logs the promise rejections nothing handled.
func (ex *exchange) reportRejections() {
	for _, p := range ex.rejections {
		if p.State() == goja.PromiseStateRejected {
			e := ex.rejection(p)
			e.Message = "Uncaught (in promise) " + e.Message
			ex.w.logException(e, "unhandled promise rejection")
		}
	}
	ex.rejections = nil
}
