package workerhost

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

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
	// gcCounted is set when New counted the worker for gc.go's tuning.
	gcCounted bool
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
	w.gcCounted = gcWorkerLoaded()
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
	if w.gcCounted {
		gcWorkerClosed()
	}
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
