package caddymodule

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-gradual/gradual/workerhost"
)

// backend serves the requests routed to one version: an upstream handler
// or a worker script. The Result says how it went, for metrics, stats, the
// tail and spans, with the status sent when the backend knows it (else 0);
// WallTime is filled in by the caller.
type backend interface {
	serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (workerhost.Result, error)
}

// upstreamBackend proxies with Caddy's reverse_proxy handler (or any HTTP
// handler module the JSON config names).
type upstreamBackend struct {
	h caddyhttp.MiddlewareHandler
	// proxy tells that h is reverse_proxy, which reports its status.
	proxy bool
}

func (b upstreamBackend) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (workerhost.Result, error) {
	span := startUpstreamSpan(r)
	err := b.h.ServeHTTP(w, r, next)
	res := workerhost.Result{Outcome: workerhost.OutcomeOK}
	switch {
	case err == nil && b.proxy:
		// reverse_proxy leaves the upstream's status in a placeholder.
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			if v, ok := repl.Get("http.reverse_proxy.status_code"); ok {
				res.Status, _ = v.(int)
			}
		}
	case err != nil:
		switch {
		case errors.Is(err, context.Canceled) || r.Context().Err() != nil:
			res.Outcome = workerhost.OutcomeCanceled
		default:
			res.Outcome = workerhost.OutcomeException
			res.Exceptions = []workerhost.Exception{{Name: "ProxyError", Message: err.Error(), Time: now()}}
		}
	}
	endUpstreamSpan(span, r, responseStatus(res.Status, err), err)
	return res, err
}

// responseStatus is the status of a response: the one written, else the
// one of the handler error Caddy will write, else 200 (a handler that
// wrote nothing and returned no error gets Go's default).
func responseStatus(written int, err error) int {
	if written != 0 {
		return written
	}
	var herr caddyhttp.HandlerError
	if errors.As(err, &herr) && herr.StatusCode != 0 {
		return herr.StatusCode
	}
	if err != nil {
		return http.StatusInternalServerError
	}
	return http.StatusOK
}

// statusWriter remembers the status code the next handler wrote after a
// script passed an exception through. It is pooled.
type statusWriter struct {
	caddyhttp.ResponseWriterWrapper
	status int
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// WriteHeader records the final status (or 101 for an upgrade) and passes
// it on; informational 1xx responses are passed on only.
func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

// Write implies a 200 status when none was written.
func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

// serveNext runs the next handler and returns the status it sent.
func serveNext(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (int, error) {
	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.status = w, 0
	err := next.ServeHTTP(sw, r)
	status := sw.status
	sw.ResponseWriter = nil
	statusWriters.Put(sw)
	return status, err
}

// scriptBackend runs a worker script in the goja worker host.
type scriptBackend struct {
	w *workerhost.Worker
}

func (b scriptBackend) serve(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) (workerhost.Result, error) {
	res, err := b.w.Serve(w, r)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, workerhost.ErrPassThrough):
		// The script asked for it: the next handler in the route answers.
		res.Status, err = serveNext(w, r, next)
		return res, err
	case errors.Is(err, workerhost.ErrResponseAborted):
		return res, err
	default:
		// Serve has answered the client itself (503 when overloaded or
		// closed); there is nothing for Caddy to write.
		return res, nil
	}
}

// isException reports whether an outcome counts as an exception of the
// version, in metrics and error rates.
func isException(outcome string) bool {
	switch outcome {
	case workerhost.OutcomeException, workerhost.OutcomeExceededCPU, workerhost.OutcomeExceededMemory, workerhost.OutcomeNoResponse:
		return true
	}
	return false
}

// scripts shares running workers across config reloads: a version whose
// program and settings did not change keeps its warm runtime pool.
var scripts = caddy.NewUsagePool()

// scriptWorker lets the pool close a worker when no config uses it.
type scriptWorker struct {
	*workerhost.Worker
	// log is where the worker's console output and exceptions go: the
	// logger of the newest config that uses it, since a worker outlives
	// the config that created it.
	log *logTarget
}

// Destruct implements caddy.Destructor. It returns at once, so that a
// reload that drops or changes a version does not wait for that version's
// requests: the worker keeps serving the requests that chose it before
// the reload for up to 5 seconds (Worker.Close), then cancels them. The
// goroutine is the worker's own and ends with Close.
func (w scriptWorker) Destruct() error {
	go w.Close()
	return nil
}

// logTarget holds the core a shared worker logs to.
type logTarget struct {
	core atomic.Pointer[zapcore.Core]
}

func newLogTarget(core zapcore.Core) *logTarget {
	t := new(logTarget)
	t.set(core)
	return t
}

func (t *logTarget) set(core zapcore.Core) { t.core.Store(&core) }

func (t *logTarget) get() zapcore.Core { return *t.core.Load() }

// logger returns base with its core replaced by one that follows t.
func (t *logTarget) logger(base *zap.Logger) *zap.Logger {
	return base.WithOptions(zap.WrapCore(func(zapcore.Core) zapcore.Core { return &followCore{target: t} }))
}

// followCore is a zapcore.Core that writes through whatever core its
// target holds at the time, with the fields added by With.
type followCore struct {
	target *logTarget
	fields []zapcore.Field
}

func (c *followCore) Enabled(l zapcore.Level) bool { return c.target.get().Enabled(l) }

func (c *followCore) With(fields []zapcore.Field) zapcore.Core {
	return &followCore{target: c.target, fields: append(slices.Clone(c.fields), fields...)}
}

func (c *followCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *followCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	core := c.target.get()
	if len(c.fields) > 0 {
		core = core.With(c.fields)
	}
	return core.Write(e, fields)
}

func (c *followCore) Sync() error { return c.target.get().Sync() }

// scriptConfig is the worker host configuration of a script version.
func (g *Gradual) scriptConfig(v *Version, created time.Time) workerhost.Config {
	cfg := workerhost.Config{
		Worker:      g.Worker,
		VersionID:   v.ID,
		Tag:         v.Tag,
		Timestamp:   created,
		Entry:       v.Script,
		Source:      v.source,
		Vars:        v.Vars,
		Bindings:    g.bindings,
		CPULimit:    time.Duration(g.CPULimit),
		MemoryLimit: g.MemoryLimit,
		Logger:      g.logger,
		Fetch:       g.fetchPolicy,
		// fetch() requests are traced when the incoming request is.
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return newFetchTransport(rt) },
	}
	if v.source != "" {
		cfg.Entry = cmp.Or(v.mainModule, "worker.js")
	}
	if len(v.json) > 0 {
		cfg.Bindings = maps.Clone(cfg.Bindings)
		if cfg.Bindings == nil {
			cfg.Bindings = make(map[string]workerhost.Binding, len(v.json))
		}
		for name, value := range v.json {
			// Uploads with a name the block binds are refused; a block
			// changed since keeps its binding.
			if _, taken := cfg.Bindings[name]; !taken {
				cfg.Bindings[name] = workerhost.JSON(value)
			}
		}
	}
	return cfg
}

// loadScript starts (or shares) the worker of a script version; release
// gives it back.
func (g *Gradual) loadScript(v *Version, created time.Time) (b backend, release func(), err error) {
	cfg := g.scriptConfig(v, created)
	prog, err := workerhost.Compile(cfg)
	if err != nil {
		return nil, nil, err
	}
	key := scriptKey(cfg, prog.Hash())
	val, loaded, err := scripts.LoadOrNew(key, func() (caddy.Destructor, error) {
		target := newLogTarget(g.logger.Core())
		cfg.Logger = target.logger(g.logger)
		w, err := workerhost.New(cfg)
		if err != nil {
			return nil, err
		}
		return scriptWorker{Worker: w, log: target}, nil
	})
	if err != nil {
		return nil, nil, err
	}
	sw := val.(scriptWorker)
	if loaded {
		sw.log.set(g.logger.Core())
	}
	return scriptBackend{sw.Worker}, func() { _, _ = scripts.Delete(key) }, nil
}

// scriptKey identifies a worker by everything that shapes it.
func scriptKey(cfg workerhost.Config, programHash string) string {
	h := sha256.New()
	vars := make([]string, 0, len(cfg.Vars))
	for k, v := range cfg.Vars {
		vars = append(vars, strconv.Quote(k)+"="+strconv.Quote(v))
	}
	for k, b := range cfg.Bindings {
		vars = append(vars, strconv.Quote(k)+":"+b.String())
	}
	sort.Strings(vars)
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%d\x00%d\x00%s\x00%s", programHash, cfg.Worker, cfg.VersionID, cfg.Tag,
		cfg.Timestamp.UTC().Format(time.RFC3339Nano), cfg.CPULimit, cfg.MemoryLimit, cfg.Fetch, strings.Join(vars, "\x00"))
	return hex.EncodeToString(h.Sum(nil))
}
