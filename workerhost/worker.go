package workerhost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
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

// DefaultPoolSize returns the default number of runtimes per worker:
// 2×GOMAXPROCS, at least 4.
func DefaultPoolSize() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

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
	// PoolSize is the number of runtimes of this version, all created by
	// New. Each in-flight request holds one, also while it awaits fetch.
	// Default DefaultPoolSize().
	PoolSize int
	// QueueTimeout bounds the wait for a free runtime; past it Serve
	// answers 503. Default DefaultQueueTimeout (5s).
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

// Worker runs one version of a worker script in a pool of runtimes.
type Worker struct {
	cfg       Config
	prog      *Program
	logger    *zap.Logger
	transport http.RoundTripper
	ownTransp *http.Transport // transport, before WrapTransport

	pool chan *jsRuntime
	done chan struct{} // closed by Close

	// closing is set when Close begins: requests still come in (those that
	// chose this worker before a reload replaced it) and are served.
	// closed is set when it ends the grace: requests then get 503.
	// active counts the registered exchanges (requests and their
	// ctx.waitUntil work); idle, made by Close, is closed when active
	// reaches zero. tasks counts goroutines started for the scripts
	// (fetch, body reads).
	mu        sync.Mutex
	closing   bool
	closed    bool
	exchanges map[*exchange]struct{}
	active    int
	idle      chan struct{}
	tasks     sync.WaitGroup
}

// New compiles cfg's script (through the Compile cache) and creates its
// pool of runtimes, each of which has run the script's top-level code.
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
		pool:      make(chan *jsRuntime, cfg.PoolSize),
		done:      make(chan struct{}),
		exchanges: map[*exchange]struct{}{},
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
	// Runtimes are independent, so they are created in parallel.
	errs := make(chan error, cfg.PoolSize)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for range cfg.PoolSize {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rt, err := newRuntime(w)
			if err != nil {
				errs <- err
				return
			}
			w.pool <- rt
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// Program returns the compiled program the worker runs.
func (w *Worker) Program() *Program { return w.prog }

// Serve runs the worker's fetch handler for r and writes the response to rw.
//
// It returns ErrPassThrough, having written nothing, when the script called
// ctx.passThroughOnException() and then threw, so that the caller can run
// the next handler; and ErrResponseAborted when a streamed body failed
// after the status was sent. Every other failure is answered here: 500 for
// an uncaught exception or a missing Response, 503 when the CPU limit is
// exceeded or no runtime is free, 413 when the script reads a request body
// over MaxBodyBytes.
func (w *Worker) Serve(rw http.ResponseWriter, r *http.Request) (Result, error) {
	start := time.Now()
	rt, err := w.acquire(r.Context())
	if err != nil {
		res := Result{Outcome: OutcomeOverloaded, WallTime: time.Since(start)}
		if r.Context().Err() != nil {
			res.Outcome = OutcomeCanceled
			return res, nil
		}
		res.Status = http.StatusServiceUnavailable
		http.Error(rw, "worker overloaded: no runtime available", res.Status)
		return res, err
	}
	ex := newExchange(rt, r)
	res, err := ex.serve(rw)
	res.WallTime = time.Since(start)
	if ex.needsWaitUntil() {
		go func() {
			defer ex.close()
			defer func() {
				if p := recover(); p != nil {
					rt.broken = true
					w.logger.Error("Go panic in ctx.waitUntil work", zap.Any("panic", p), zap.Stack("stack"))
				}
			}()
			ex.finishWaitUntil()
		}()
	} else {
		ex.close()
	}
	return res, err
}

// acquire takes a runtime from the pool, waiting at most QueueTimeout.
func (w *Worker) acquire(ctx context.Context) (*jsRuntime, error) {
	select {
	case rt := <-w.pool:
		return rt, nil
	default:
	}
	t := time.NewTimer(w.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case rt := <-w.pool:
		return rt, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-w.done:
		return nil, ErrClosed
	case <-t.C:
		return nil, fmt.Errorf("workerhost: no runtime free after %v (pool size %d)", w.cfg.QueueTimeout, w.cfg.PoolSize)
	}
}

// release returns rt to the pool, or replaces it by a fresh runtime when
// its state cannot be trusted any more.
func (w *Worker) release(rt *jsRuntime) {
	if rt.broken {
		fresh, err := newRuntime(w)
		if err != nil {
			w.logger.Error("cannot replace a broken runtime; retrying", zap.Error(err))
			go w.replaceLater()
			return
		}
		rt = fresh
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.pool <- rt
}

// replaceRetry is the first wait before another attempt to create a
// runtime that could not be created; it doubles up to a minute.
var replaceRetry = time.Second

// replaceLater creates a runtime for the pool in place of one that could
// not be replaced, retrying until it succeeds or the worker closes, so
// that a failure to create one (a script whose top level throws now and
// then) costs the pool a runtime only for a while, never for good. The
// goroutine belongs to the worker and ends with it.
func (w *Worker) replaceLater() {
	wait := replaceRetry
	for {
		t := time.NewTimer(wait)
		select {
		case <-w.done:
			t.Stop()
			return
		case <-t.C:
		}
		rt, err := newRuntime(w)
		if err == nil {
			w.mu.Lock()
			defer w.mu.Unlock()
			if !w.closed {
				w.pool <- rt
			}
			return
		}
		w.logger.Error("cannot replace a broken runtime; retrying", zap.Error(err), zap.Duration("in", wait))
		wait = min(2*wait, time.Minute)
	}
}

// register tracks an exchange so that Close can cancel it; it fails once
// the worker is closed.
func (w *Worker) register(ex *exchange) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.exchanges[ex] = struct{}{}
	w.active++
	return true
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
// canceled (their JavaScript interrupted, their fetches aborted) and new
// requests get 503. Close returns once every goroutine the worker started
// has ended, or at the latest 5 seconds after the cancellation: a request
// stuck outside JavaScript, say writing to a client that does not read, is
// left to end on its own (it is logged) rather than hold up a config
// reload or a shutdown.
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
	for ex := range w.exchanges {
		ex.cancel()
		ex.rt.cancelExchange(ex)
		ex.signal()
	}
	idle = w.idleLocked()
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		<-idle
		w.tasks.Wait()
		close(done)
	}()
	grace.Reset(closeTimeout)
	select {
	case <-done:
	case <-grace.C:
		w.logger.Error("requests still running after the worker was closed; leaving them to end", zap.Duration("waited", 2*closeTimeout))
	}
	for {
		select {
		case <-w.pool:
			continue
		default:
		}
		break
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
