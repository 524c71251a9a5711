// Package caddymodule is the Caddy side of caddy-gradual: the data plane
// (the http.handlers.gradual module: choose a version, tag the request,
// serve it), its Caddyfile directive, its glue to Caddy's logs, metrics and
// placeholders, and the admin API as thin routes onto internal/live, the
// control plane, whose changes handlers take through Apply (apply.go).
package caddymodule

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-gradual/gradual/affinity"
	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/internal/rollout"
	"github.com/caddy-gradual/gradual/splitter"
	"github.com/caddy-gradual/gradual/workerhost"
)

func init() {
	caddy.RegisterModule(new(Gradual))
}

// Gradual serves several versions of one worker behind one route and splits
// traffic between them by percentage. Each request is served by exactly one
// version, chosen in this order: the override header (when a tester names a
// defined version), the affinity key (sticky: the same key always reaches
// the same version for a given deployment), else at random by the
// deployment's percentages.
type Gradual struct {
	// Worker is the worker's name. It is the key testers use in the override
	// header (`shop="<version id>"`), so it must be a valid RFC 8941 key:
	// lowercase letters, digits, "_", "-", "." and "*", starting with a
	// letter or "*". Required.
	Worker string `json:"worker"`

	// Versions are the versions of the worker that can serve requests.
	// A version not named in Deploy is "uploaded, not deployed": it gets no
	// normal traffic but testers can reach it with the override header.
	Versions []*Version `json:"versions,omitempty"`

	// Deploy splits traffic between versions. Percentages have at most two
	// decimals, may be 0 and must add up to 100. May be omitted when there
	// is exactly one version, which then serves 100%.
	Deploy []DeployEntry `json:"deploy,omitempty"`

	// Affinity is an expression, usually a placeholder such as
	// `{http.request.cookie.session}`, whose value is the affinity key of a
	// request that has no `Cloudflare-Workers-Version-Key` header. An empty
	// value means no key.
	Affinity string `json:"affinity,omitempty"`

	// AffinityCookie, when set, gives every request without a key a fresh
	// random key, routes it by that key and sets it as a cookie on the
	// response, so that each browser sticks to one version.
	AffinityCookie *AffinityCookie `json:"affinity_cookie,omitempty"`

	// Overrides enables the override header. Default: true.
	Overrides *bool `json:"overrides,omitempty"`

	// OverrideHeader is the name of the override request header.
	// Default: `Cloudflare-Workers-Version-Overrides`.
	OverrideHeader string `json:"override_header,omitempty"`

	// CPULimit bounds the JavaScript execution time of one request to a
	// script version; past it the request gets 503. It counts the CPU time
	// of the thread running the JavaScript, not wall-clock time, so
	// waiting for I/O or for a core never counts. Default: 1s.
	CPULimit caddy.Duration `json:"cpu_limit,omitempty"`

	// MemoryLimit bounds the JavaScript heap of each runtime of a script
	// version, in bytes; past it the request gets 503 (tail outcome
	// exceededMemory) and the runtime is replaced by a fresh one. How the
	// heap is measured is in the README. Default: 128 MiB (134217728).
	MemoryLimit int64 `json:"memory_limit,omitempty"`

	// FetchAllow lets script versions' fetch() reach loopback, link-local
	// and private addresses, which it cannot by default: CIDR prefixes
	// (10.0.0.0/8), IP addresses (any port), IP:port pairs
	// (127.0.0.1:9002, [::1]:9002) or localhost[:port]. It is checked on
	// the address actually dialled, after DNS and on every redirect.
	// Caddy's admin endpoint is never reachable, whatever it says.
	// Default: public addresses only.
	FetchAllow []string `json:"fetch_allow,omitempty"`

	// Rollout is the default policy of automatic rollouts of this worker
	// (started with POST /gradual/workers/{name}/rollout or `caddy gradual
	// rollout start`, which may override any field). Default: steps 1% 10%
	// 50% 100%, interval 5m, max_error_rate 2%, min_requests 100, margin
	// 1%, no latency bound.
	Rollout *rollout.Config `json:"rollout,omitempty"`

	// OverrideFrom limits the override header to clients in these networks
	// (CIDRs or single IPs). The client IP is Caddy's, so it honours the
	// server's trusted_proxies. Default: any client.
	OverrideFrom []string `json:"override_from,omitempty"`

	// PollInterval is how often this Caddy reads the live deployments
	// stored for the worker, to follow changes made through other
	// instances sharing the storage; a change reaches every instance
	// within two intervals. Default: 2s.
	PollInterval caddy.Duration `json:"poll_interval,omitempty"`

	// RateLimits are rate-limiting bindings of every script version
	// (env.NAME.limit({key})), whose counters all versions share.
	RateLimits []*RateLimit `json:"ratelimits,omitempty"`

	// Services are service bindings of every script version
	// (env.NAME.fetch(input, init)): calls to other gradual workers of this
	// Caddy, in process, keeping the caller's version affinity.
	Services []*Service `json:"services,omitempty"`

	// set is what requests read: the versions and the active deployment,
	// swapped as a whole.
	set atomic.Pointer[versionSet]

	overridesOn    bool
	overrideHeader string
	overrideFrom   affinity.Prefixes
	keys           affinity.Source
	cookie         *affinity.Cookie
	workerVal      any
	logger         *zap.Logger
	fetchPolicy    *workerhost.FetchPolicy
	// bindings are the scripts' bindings beyond vars; releaseLimits
	// gives back their rate limiters' counters.
	bindings      map[string]workerhost.Binding
	releaseLimits func()
	// configLoad identifies the config this handler was provisioned in, for
	// the cycle check of service bindings.
	configLoad any

	// state is shared with other configs' handlers of the same worker.
	state *workerState
	// configDeploy is the config's deploy, explicit for a lone version;
	// configKey its canonical form.
	configDeploy []live.Entry
	configKey    string
	// ctx is the config's context, for loading uploaded versions.
	ctx    caddy.Context
	detach func()

	// mu guards the fields below, changed by live deployments (apply.go).
	// It is never held while a version loads.
	mu sync.Mutex
	// config are the config's versions; uploads those loaded from the
	// admin API, by ID; failed the uploads that did not load, with why.
	config  []*version
	uploads map[string]*upload
	failed  map[string]string
	// seq is the live.State.Seq installed; serving the ID of the
	// deployment installed ("" for the config's, never recorded).
	seq     uint64
	serving string
	retired []retired
	reaper  *time.Timer
	closed  bool
}

// versionSet is an immutable snapshot of a handler's versions and active
// deployment.
type versionSet struct {
	byID map[string]*version
	dep  *deployment
}

// deployment is the active split: split.Entry(i) is served by versions[i].
type deployment struct {
	split    *splitter.Deployment
	versions []*version
}

// selection says how a request's version was chosen.
type selection uint8

const (
	selectedOverride selection = iota
	selectedAffinity
	selectedRandom
)

var selectionNames = [...]string{"override", "affinity", "random"}

// selectionVals holds the selection names, boxed once for placeholders.
var selectionVals = [...]any{"override", "affinity", "random"}

// CaddyModule returns the Caddy module information.
func (*Gradual) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.gradual",
		New: func() caddy.Module { return new(Gradual) },
	}
}

// Provision checks the configuration, loads each version's handler and
// builds the traffic split.
func (g *Gradual) Provision(ctx caddy.Context) error {
	g.logger = ctx.Logger()
	if err := g.checkConfig(); err != nil {
		return err
	}

	g.overridesOn = g.Overrides == nil || *g.Overrides
	g.overrideHeader = affinity.DefaultOverrideHeader
	if g.OverrideHeader != "" {
		g.overrideHeader = http.CanonicalHeaderKey(g.OverrideHeader)
	}
	prefixes, err := affinity.ParsePrefixes(g.OverrideFrom)
	if err != nil {
		return fmt.Errorf("override_from: %w", err)
	}
	g.overrideFrom = prefixes

	if g.Affinity != "" {
		expr := g.Affinity
		g.keys.Expression = func(r *http.Request) string {
			repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
			return repl.ReplaceAll(expr, "")
		}
	}
	if c := g.AffinityCookie; c != nil {
		g.cookie = &affinity.Cookie{Name: c.Name, MaxAge: time.Duration(c.MaxAge)}
		g.keys.Cookie = g.cookie
	}
	g.workerVal = g.Worker
	if g.fetchPolicy, err = workerhost.NewFetchPolicy(g.FetchAllow); err != nil {
		return err
	}
	protectAdmin(ctx, g.logger)

	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	g.ctx = ctx
	g.state = acquireWorker(g.Worker, g.logger)
	if err := g.provisionRateLimits(); err != nil {
		return err
	}
	if err := g.provisionServices(ctx); err != nil {
		return err
	}
	g.uploads = make(map[string]*upload)
	g.failed = make(map[string]string)
	for _, v := range g.Versions {
		rv, err := g.loadVersion(ctx, v)
		if err != nil {
			// Caddy calls Cleanup after a failed Provision, which
			// releases what was loaded so far.
			return fmt.Errorf("version %s: %w", v.ID, err)
		}
		g.config = append(g.config, rv)
	}
	g.configDeploy = entriesOf(explicitDeploy(g.Versions, g.Deploy))
	g.configKey = live.Key(g.configDeploy)
	dep, err := g.newDeployment(g.config, g.configDeploy)
	if err != nil {
		return err
	}
	byID := make(map[string]*version, len(g.config))
	for _, v := range g.config {
		byID[v.id] = v
	}
	g.mu.Lock()
	g.install(byID, dep, "")
	g.mu.Unlock()
	// Attach writes nothing, so that `caddy validate` on a machine
	// sharing the storage cannot change what the fleet serves; the
	// config's deployment is recorded by the first poll. Storage failures
	// leave the config's deployment served, and the poller retries.
	g.detach, err = g.state.live.Attach(ctx, g, configStorage(ctx), time.Duration(g.PollInterval))
	if err != nil {
		g.logger.Error("cannot apply the live deployments for now; serving the config's deployment", zap.Error(err))
	}
	return nil
}

// Cleanup releases the worker's shared state. Requests still in flight
// (a reload does not wait for them) keep working: g.state stays set, and
// the worker's stats and tail simply outlive the config.
func (g *Gradual) Cleanup() error {
	if g.state == nil {
		return nil // Provision failed before acquiring it
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	if g.reaper != nil {
		g.reaper.Stop()
	}
	ups := slices.Collect(maps.Values(g.uploads))
	for _, r := range g.retired {
		ups = append(ups, r.up)
	}
	g.uploads, g.retired = nil, nil
	g.mu.Unlock()
	if g.detach != nil {
		g.detach()
	}
	for _, up := range ups {
		g.unload(up)
	}
	g.releaseVersions(g.config)
	g.releaseRateLimits()
	g.releaseServices()
	releaseWorker(g.Worker)
	return nil
}

// Validate checks the provisioned handler.
func (g *Gradual) Validate() error {
	if g.set.Load() == nil {
		return errors.New("gradual: not provisioned")
	}
	return nil
}

// ServeHTTP chooses the request's version, tags the request with it, hands
// it to that version and records how it went.
func (g *Gradual) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := now()
	v, sel := g.choose(w, r)
	if len(g.Services) > 0 {
		r = withCallLog(r)
	}
	_, err := g.serveVersion(w, r, next, v, sel, start)
	return err
}

// serveVersion serves r, started at start, with v, chosen as sel: it tags
// the request with v, hands it to v and records how it went. Requests from
// clients and calls through service bindings (service.go) both go here.
// It returns the status sent.
func (g *Gradual) serveVersion(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, v *version, sel selection, start time.Time) (int, error) {
	r, span := g.tag(r, v, sel)

	// The backends report the status they sent: wrapping w to see it
	// costs reverse_proxy about a tenth of its throughput.
	res, err := v.backend.serve(w, r, next)
	status := responseStatus(res.Status, err)
	res.Status = status
	end := now()
	res.WallTime = end.Sub(start)

	exception := isException(res.Outcome)
	v.metrics.observe(status, res.WallTime.Seconds(), exception)
	v.stats.Record(end, res.WallTime, exception || status >= 500)
	endSpan(span, &res, err)
	if g.state.tail.Active() {
		if ev := newTailEvent(g.Worker, v, sel, r, start, res); ev != nil {
			g.state.tail.Publish(v.id, ev)
		}
	}
	if errors.Is(err, workerhost.ErrResponseAborted) {
		// The body was cut short after the status went out: abort the
		// connection so the client cannot take it for a whole response.
		panic(http.ErrAbortHandler)
	}
	return status, err
}

// tag marks the request as served by v: placeholders, access-log fields,
// and, when the request is traced, span attributes and the handler's span.
func (g *Gradual) tag(r *http.Request, v *version, sel selection) (*http.Request, trace.Span) {
	g.setPlaceholders(r, v, sel)
	tagAccessLog(r, v)
	return startSpans(r, g.Worker, v.spanAttrs[sel])
}

// setPlaceholders sets the {http.gradual.*} placeholders, if the request
// has a replacer (a script called through a binding has none); the values
// were boxed at provision, so this allocates nothing.
func (g *Gradual) setPlaceholders(r *http.Request, v *version, sel selection) {
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return
	}
	repl.Set("http.gradual.worker", g.workerVal)
	repl.Set("http.gradual.version_id", v.idVal)
	repl.Set("http.gradual.version_tag", v.tagVal)
	repl.Set("http.gradual.selection", selectionVals[sel])
}

// tagAccessLog adds the version to the request's access-log entry. Caddy's
// ExtraLogFields.Set allocates (it resets a sync.Map each time), so the
// three fields go in as one inline field: one allocation, not three.
func tagAccessLog(r *http.Request, v *version) {
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Set(v.logFields)
	}
}

// choose picks the version for r as SPEC §3 orders it: override, affinity,
// random. When it mints an affinity key it sets the cookie on w.
func (g *Gradual) choose(w http.ResponseWriter, r *http.Request) (*version, selection) {
	if v := g.override(r); v != nil {
		return v, selectedOverride
	}
	dep := g.set.Load().dep
	key, origin := g.keys.Key(r)
	if origin == affinity.OriginNone && g.cookie != nil {
		key = affinity.NewKey()
		g.cookie.SetCookie(w.Header(), key, r.TLS != nil)
		// Service bindings pass the key on to the workers this one calls.
		caddyhttp.SetVar(r.Context(), mintedKeyVar, key)
		origin = affinity.OriginCookie
	}
	if origin != affinity.OriginNone {
		return dep.versions[dep.split.PickKey(key)], selectedAffinity
	}
	return dep.versions[dep.split.PickRandom()], selectedRandom
}

// override returns the version that r's override header names for this
// worker, or nil. A malformed header or an unknown version is not an error:
// the request is routed as if the header were absent.
func (g *Gradual) override(r *http.Request) *version {
	if !g.overridesOn {
		return nil
	}
	// The name is canonical already: indexing skips Values' canonicalising.
	return g.overrideOf(r.Header[g.overrideHeader], r)
}

// overrideOf returns the version that the override header values name
// for this worker, or nil; r is the request they are for.
func (g *Gradual) overrideOf(values []string, r *http.Request) *version {
	if len(values) == 0 {
		return nil
	}
	if len(g.overrideFrom) > 0 && !g.overrideAllowed(r) {
		g.debug("ignoring override header from a client outside override_from", values)
		return nil
	}
	id, err := affinity.Override(values, g.Worker)
	if err != nil {
		g.debug("ignoring malformed override header", values, zap.Error(err))
		return nil
	}
	if id == "" {
		return nil
	}
	v := g.set.Load().byID[id]
	if v == nil {
		g.debug("ignoring override for unknown version", values, zap.String("version_id", id))
	}
	return v
}

// overrideAllowed reports whether the client may use the override header.
func (g *Gradual) overrideAllowed(r *http.Request) bool {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	return g.overrideFrom.Contains(addr)
}

func (g *Gradual) debug(msg string, override []string, fields ...zap.Field) {
	if ce := g.logger.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(append(fields, zap.String("worker", g.Worker), zap.Strings("override", override))...)
	}
}

// Interface guards
var (
	_ caddy.Module                = (*Gradual)(nil)
	_ caddy.Provisioner           = (*Gradual)(nil)
	_ caddy.Validator             = (*Gradual)(nil)
	_ caddy.CleanerUpper          = (*Gradual)(nil)
	_ caddyhttp.MiddlewareHandler = (*Gradual)(nil)
)
