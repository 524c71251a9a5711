package workerhost

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Defaults of the Config limits.
const (
	DefaultCPULimit         = time.Second
	DefaultMaxBodyBytes     = 32 << 20
	DefaultMemoryLimit      = 128 << 20
	DefaultBodyTimeout      = 30 * time.Second
	DefaultQueueTimeout     = 5 * time.Second
	DefaultWaitUntilTimeout = 30 * time.Second
	// StartupCPULimit bounds the JavaScript time of a script's top-level
	// code when a runtime is created.
	StartupCPULimit = 2 * time.Second
)

// closeTimeout bounds how long Close waits for requests and ctx.waitUntil
// work before it cancels them, and then for them to end. Tests shorten it.
var closeTimeout = 5 * time.Second

// DefaultPoolSize returns the default largest number of runtimes per
// worker: GOMAXPROCS, at least 2. A runtime runs its JavaScript on one
// core at a time, whatever number of requests it serves.
func DefaultPoolSize() int { return max(2, runtime.GOMAXPROCS(0)) }

// Outcomes reported in Result.Outcome.
const (
	OutcomeOK          = "ok"
	OutcomeException   = "exception"
	OutcomeExceededCPU = "exceededCpu"
	// OutcomeExceededMemory means the runtime's JavaScript heap passed
	// MemoryLimit; the runtime was dropped.
	OutcomeExceededMemory = "exceededMemory"
	OutcomeCanceled       = "canceled"
	OutcomeNoResponse     = "noResponse"
	// OutcomeOverloaded means no runtime became free within QueueTimeout,
	// or the worker was closed.
	OutcomeOverloaded = "overloaded"
)

var (
	// ErrPassThrough is returned by Serve, which then has written nothing,
	// when the script called ctx.passThroughOnException() and then threw:
	// the caller should run the next handler.
	ErrPassThrough = errors.New("workerhost: uncaught exception after passThroughOnException")
	// ErrResponseAborted is returned by Serve when a streamed response
	// failed after its status line was sent. The body is truncated; the
	// caller should abort the connection (e.g. panic(http.ErrAbortHandler))
	// so the client cannot take it for a complete response.
	ErrResponseAborted = errors.New("workerhost: streamed response body failed after the headers were sent")
	// ErrClosed is returned by Serve after Close.
	ErrClosed = errors.New("workerhost: worker is closed")
)

// Config describes one worker version.
type Config struct {
	// Worker is the worker name, used in logs.
	Worker string
	// VersionID and Tag identify the version in logs and in
	// env.CF_VERSION_METADATA.
	VersionID string
	Tag       string
	// Timestamp is env.CF_VERSION_METADATA.timestamp, in RFC 3339.
	Timestamp time.Time
	// Entry is the path of the entry .js/.ts file. Relative imports and
	// packages from node_modules folders beside it resolve as with Wrangler.
	Entry string
	// Source, if set, is the inline script (an admin upload) and Entry is
	// only its virtual name, used in stacks. Such a script must be
	// self-contained: it may import node:buffer but no files.
	Source string
	// Vars are the plain-text env bindings.
	Vars map[string]string
	// Bindings are the other env bindings, by name (see Binding): env.NAME
	// in a module worker, a global in a service-worker script. A name
	// must not also be a var.
	Bindings map[string]Binding
	// CPULimit bounds the CPU time of one request's JavaScript, including
	// its ctx.waitUntil work, as the clock of the thread that runs it
	// counts it (cpu.go): time spent waiting for I/O or for a core on a
	// loaded machine is not charged. Default DefaultCPULimit (1s).
	CPULimit time.Duration
	// MemoryLimit bounds the heap of each runtime, in bytes, as memory.go
	// measures it: past it the request gets 503 and the runtime is
	// dropped and replaced. Default DefaultMemoryLimit (128 MiB).
	MemoryLimit int64
	// PoolSize is the most runtimes of this version. Each serves many
	// requests at once (loop.go); the pool starts with one and grows when
	// every runtime is busy running JavaScript. Default DefaultPoolSize().
	PoolSize int
	// QueueTimeout bounds the wait for a runtime when the pool has none
	// (its last one was dropped and a new one is being created); past it
	// Serve answers 503. Default DefaultQueueTimeout (5s).
	QueueTimeout time.Duration
	// WaitUntilTimeout bounds the ctx.waitUntil work after a response.
	// Default DefaultWaitUntilTimeout (30s).
	WaitUntilTimeout time.Duration
	// MaxBodyBytes bounds buffered bodies: the incoming request body read
	// by the script, and fetch() response bodies. Default
	// DefaultMaxBodyBytes (32 MiB).
	MaxBodyBytes int64
	// BodyTimeout is how long a read of the request body, or a write of a
	// large or streamed response, may move no data before the request is
	// failed (deadline.go): a slow client cannot hold a runtime longer.
	// Default DefaultBodyTimeout (30s).
	BodyTimeout time.Duration
	// Logger receives console.* output and uncaught exceptions, with fields
	// worker, version_id and version_tag. Default: no logging.
	Logger *zap.Logger
	// Fetch decides which addresses fetch() may dial (see FetchPolicy).
	// Default (nil): public addresses only.
	Fetch *FetchPolicy
	// WrapTransport, if set, wraps the worker's fetch() transport (e.g. to
	// trace it). The transport it is given dials only what Fetch allows,
	// and no HTTP proxy: the policy judges the address really dialled.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

func (c *Config) setDefaults() {
	if c.CPULimit <= 0 {
		c.CPULimit = DefaultCPULimit
	}
	if c.MemoryLimit <= 0 {
		c.MemoryLimit = DefaultMemoryLimit
	}
	if c.PoolSize <= 0 {
		c.PoolSize = DefaultPoolSize()
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	if c.WaitUntilTimeout <= 0 {
		c.WaitUntilTimeout = DefaultWaitUntilTimeout
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Timestamp.IsZero() {
		c.Timestamp = time.Now()
	}
}

// newTransport returns the transport of a worker's fetch() requests: with
// dial, TLS and response-header timeouts, no automatic compression, no
// proxy, and every dial checked by policy. Each worker has its own, so a
// pooled connection is only ever reused under the policy that dialled it.
func newTransport(policy *FetchPolicy) *http.Transport {
	return &http.Transport{
		DialContext:           policy.dialer(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   32,
		ForceAttemptHTTP2:     true,
		// Bodies pass through as the origin sent them, with their
		// Content-Encoding, and Go adds no Accept-Encoding of its own.
		DisableCompression: true,
	}
}

// Result reports what happened to one request.
type Result struct {
	// Outcome is one of the Outcome constants.
	Outcome string
	// Status is the HTTP status written, or 0 if nothing was written.
	Status int
	// CPUTime is the CPU time charged up to the response (cpu.go: the
	// thread clock for requests the watchdog sampled, the wall-clock time
	// in JavaScript, which bounds it, for shorter ones); WallTime the time
	// Serve took.
	CPUTime, WallTime time.Duration
	// Logs and Exceptions are those of the request up to the response.
	Logs       []LogLine
	Exceptions []Exception
}

// LogLine is one console.* call.
type LogLine struct {
	Level   string
	Message string
	Time    time.Time
}

// Exception is an uncaught JavaScript exception.
type Exception struct {
	Name    string
	Message string
	// Stack names the original source files and lines.
	Stack string
	Time  time.Time
}

// Worker runs one version of a worker script in a pool of runtimes, each
// an isolate with its own event loop (loop.go) that serves many requests
// at once. The pool starts with one runtime and grows, up to PoolSize,
// when a request arrives while every runtime is running JavaScript; a
// runtime idle for idleRuntime beyond the first is dropped.
type Worker struct {
	cfg       Config
	prog      *Program
	logger    *zap.Logger
	transport http.RoundTripper
	ownTransp *http.Transport // transport, before WrapTransport

	done chan struct{} // closed by Close

	// mu guards the pool and the exchanges. rts are the runtimes that
	// take requests; all every runtime not yet stopped, including those
	// retired (broken, or idle too long) that still end their requests.
	// growing is set while a runtime is being created; grown is closed
	// when it is ready.
	//
	// closing is set when Close begins: requests still come in (those that
	// chose this worker before a reload replaced it) and are served.
	// closed is set when it ends the grace: requests then get 503.
	// active counts the registered exchanges (requests and their
	// ctx.waitUntil work); idle, made by Close, is closed when active
	// reaches zero. tasks counts goroutines started for the scripts
	// (fetch, body reads).
	mu        sync.Mutex
	rts       []*jsRuntime
	all       map[*jsRuntime]struct{}
	growing   bool
	grown     chan struct{}
	growErr   error
	closing   bool
	closed    bool
	exchanges map[*exchange]struct{}
	active    int
	idle      chan struct{}
	tasks     sync.WaitGroup
	// growers counts the grow goroutines; they are started with w.mu
	// held and never once closed is set.
	growers sync.WaitGroup
}

// idleRuntime is how long a runtime beyond the first may serve nothing
// before it is dropped. Tests shorten it.
var idleRuntime = 30 * time.Second

// New compiles cfg's script (through the Compile cache) and creates the
// first runtime of its pool, which has run the script's top-level code.
func New(cfg Config) (*Worker, error) {
	cfg.setDefaults()
	noteMemoryLimit(cfg.MemoryLimit)
	prog, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:       cfg,
		prog:      prog,
		done:      make(chan struct{}),
		exchanges: map[*exchange]struct{}{},
		all:       map[*jsRuntime]struct{}{},
		logger: cfg.Logger.With(
			zap.String("worker", cfg.Worker),
			zap.String("version_id", cfg.VersionID),
			zap.String("version_tag", cfg.Tag),
		),
	}
	w.ownTransp = newTransport(cfg.Fetch)
	w.transport = w.ownTransp
	if cfg.WrapTransport != nil {
		w.transport = cfg.WrapTransport(w.ownTransp)
	}
	rt, err := newRuntime(w)
	if err != nil {
		w.ownTransp.CloseIdleConnections()
		return nil, err
	}
	w.rts = append(w.rts, rt)
	w.all[rt] = struct{}{}
	return w, nil
}

// Program returns the compiled program the worker runs.
func (w *Worker) Program() *Program { return w.prog }

// Runtimes returns the number of runtimes taking requests.
func (w *Worker) Runtimes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.rts)
}

// Serve runs the worker's fetch handler for r and writes the response to rw.
//
// It returns ErrPassThrough, having written nothing, when the script called
// ctx.passThroughOnException() and then threw, so that the caller can run
// the next handler; and ErrResponseAborted when a streamed body failed
// after the status was sent. Every other failure is answered here: 500 for
// an uncaught exception or a missing Response, 503 when the CPU or memory
// limit is exceeded or no runtime can be had, 413 when the script reads a
// request body over MaxBodyBytes.
func (w *Worker) Serve(rw http.ResponseWriter, r *http.Request) (Result, error) {
	start := time.Now()
	ex, err := w.pick(rw, r)
	if err != nil {
		res := Result{Outcome: OutcomeOverloaded, WallTime: time.Since(start)}
		if r.Context().Err() != nil {
			res.Outcome = OutcomeCanceled
			return res, nil
		}
		res.Status = http.StatusServiceUnavailable
		msg := "worker overloaded: no runtime available"
		if errors.Is(err, ErrClosed) {
			msg = "worker is shutting down"
		}
		http.Error(rw, msg, res.Status)
		return res, err
	}
	ex.rt.post(job{ex, ex.begin})
	res, err := ex.respond(rw)
	res.WallTime = time.Since(start)
	return res, err
}

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
		if busy && !w.growing && len(w.rts) < w.cfg.PoolSize {
			w.growing = true
			w.grown = make(chan struct{})
			w.growers.Add(1)
			go w.grow()
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
			w.growing = false
			close(w.grown)
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
			w.growing = false
			close(w.grown)
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
	if len(w.rts) == 0 && !w.growing && !w.closed {
		w.growing = true
		w.grown = make(chan struct{})
		w.growers.Add(1)
		go w.grow()
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

// exchangeDone counts an exchange of rt less: a retired runtime stops
// with its last one, and a runtime beyond the first is dropped once it
// has been idle for idleRuntime.
func (w *Worker) exchangeDone(rt *jsRuntime) {
	w.mu.Lock()
	defer w.mu.Unlock()
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

func (w *Worker) unregister(ex *exchange) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.exchanges, ex)
	w.active--
	if w.active == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// Close stops the worker. Requests in progress, their ctx.waitUntil work
// and requests that still arrive (those that chose this worker before a
// reload replaced it) are served for up to 5 seconds; then they are
// ended (their JavaScript interrupted, their fetches aborted; a request
// not yet answered gets 503) and new requests get 503. Close returns once
// every goroutine the worker started has ended, or at the latest 5
// seconds after that: a request stuck outside JavaScript, say writing to
// a client that does not read, is left to end on its own (it is logged)
// rather than hold up a config reload or a shutdown.
func (w *Worker) Close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return nil
	}
	w.closing = true
	idle := w.idleLocked()
	w.mu.Unlock()
	grace := time.NewTimer(closeTimeout)
	defer grace.Stop()
	select {
	case <-idle:
	case <-grace.C:
	}
	w.mu.Lock()
	w.closed = true
	close(w.done)
	for rt := range w.all {
		rt.interruptWith(errShutdown)
	}
	for ex := range w.exchanges {
		ex.cancel()
		ex.post(func() error { return &fatalError{errShutdown} })
	}
	idle = w.idleLocked()
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		<-idle
		w.tasks.Wait()
		// A runtime being created stops itself, seeing closed.
		w.growers.Wait()
		close(done)
	}()
	grace.Reset(closeTimeout)
	select {
	case <-done:
	case <-grace.C:
		w.logger.Error("requests still running after the worker was closed; leaving them to end", zap.Duration("waited", 2*closeTimeout))
	}
	w.mu.Lock()
	var loops []<-chan struct{}
	for rt := range w.all {
		delete(w.all, rt)
		loops = append(loops, rt.stop())
	}
	w.rts = nil
	w.mu.Unlock()
	// A loop ends after the turn it runs, which the CPU limit bounds.
	for _, l := range loops {
		<-l
	}
	w.ownTransp.CloseIdleConnections()
	return nil
}

// idleLocked returns a channel closed once no exchange is registered.
// w.mu must be held.
func (w *Worker) idleLocked() <-chan struct{} {
	if w.active == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	return w.idle
}
