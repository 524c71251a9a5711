package workerhost

import (
	"errors"
	"net"
	"net/http"
	"runtime"
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
