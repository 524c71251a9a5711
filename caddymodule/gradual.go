// Package caddymodule is the Caddy side of caddy-gradual: the
// http.handlers.gradual module, its Caddyfile directive and its glue to
// Caddy's logs and placeholders. It is the only package of the project
// that imports Caddy.
package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-gradual/gradual/affinity"
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

	// state is shared with other configs' handlers of the same worker.
	state *workerState
	// configKey is the config's deploy in canonical form; recorded tells
	// whether the first request has had it recorded in the stored state.
	configKey string
	recorded  atomic.Bool
	// ctx is the config's context, for loading uploaded versions.
	ctx caddy.Context

	// mu guards the fields below, changed by live deployments.
	mu sync.Mutex
	// config are the config's versions; uploads those loaded from the
	// admin API, by ID.
	config  []*version
	uploads map[string]*upload
	closed  bool
}

// versionSet is an immutable snapshot of a handler's versions and active
// deployment.
type versionSet struct {
	byID map[string]*version
	dep  *deployment
}

// upload is an uploaded version loaded by this handler.
type upload struct {
	v      *version
	cancel context.CancelFunc // unloads its modules
}

// Version is one version of the worker.
type Version struct {
	// ID identifies the version: 1 to 64 characters of A-Z, a-z, 0-9, ".",
	// "_" and "-". UUIDs are recommended. Required.
	ID string `json:"id"`

	// Tag is a short label, such as a release name or a git tag.
	Tag string `json:"tag,omitempty"`

	// Message describes the version, like a commit message.
	Message string `json:"message,omitempty"`

	// Script is the path of the version's entry JavaScript or TypeScript
	// file (ES module or service-worker syntax), relative to Caddy's
	// working directory. Relative imports and packages in a node_modules
	// folder beside it are bundled in. Exactly one of Script and Upstream
	// is required.
	Script string `json:"script,omitempty"`

	// Upstream is the HTTP handler that serves this version: a
	// `reverse_proxy` handler (module `http.handlers.reverse_proxy`), with
	// all of its options. The Caddyfile's `upstream` subdirective produces
	// it. Exactly one of Script and Upstream is required.
	Upstream json.RawMessage `json:"upstream,omitempty" caddy:"namespace=http.handlers inline_key=handler"`

	// Vars are plain-text bindings a script version reads as env.NAME.
	Vars map[string]string `json:"vars,omitempty"`

	// source is the inline script of an uploaded version; createdOn its
	// upload time; uploaded marks versions from the admin API.
	source     string
	mainModule string
	createdOn  time.Time
	uploaded   bool
}

// DeployEntry gives one version its share of the traffic. Its shape is the
// one Cloudflare's deployments API uses.
type DeployEntry struct {
	// VersionID names a version defined in Versions.
	VersionID string `json:"version_id"`

	// Percentage is the share of traffic, from 0 to 100 with at most two
	// decimals.
	Percentage float64 `json:"percentage"`
}

// AffinityCookie configures the cookie that carries a minted affinity key.
type AffinityCookie struct {
	// Name is the cookie's name. Required.
	Name string `json:"name"`

	// MaxAge is the cookie's lifetime. Default: 0, a session cookie.
	MaxAge caddy.Duration `json:"max_age,omitempty"`
}

// version is the runtime form of a Version. Everything a request needs to
// tag itself is built here once, so that tagging allocates nothing.
type version struct {
	id, tag, message string
	kind             string // "upstream" or "script"
	createdOn        time.Time
	// The placeholder values, boxed once.
	idVal, tagVal any
	// logFields adds worker, worker_version and worker_version_tag to the
	// access log entry.
	logFields zap.Field
	// spanAttrs are the span attributes for each selection.
	spanAttrs [len(selectionNames)][]attribute.KeyValue
	backend   backend
	metrics   *versionMetrics
	stats     *versionStats
	// uploaded marks versions from the admin API; upstreams are the
	// addresses of an upstream version; release gives back a script's
	// worker or unloads an upstream's handler.
	uploaded  bool
	upstreams []string
	release   func()
}

// accessLogFields is what a version adds to access log entries.
type accessLogFields struct{ worker, id, tag string }

// MarshalLogObject implements zapcore.ObjectMarshaler.
func (f *accessLogFields) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("worker", f.worker)
	enc.AddString("worker_version", f.id)
	enc.AddString("worker_version_tag", f.tag)
	return nil
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
	if g.fetchPolicy, err = workerhost.NewFetchPolicy(g.FetchAllow, adminAddresses(ctx)); err != nil {
		return err
	}

	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	g.ctx = ctx
	g.state = acquireWorker(g.Worker)
	g.uploads = make(map[string]*upload)
	for _, v := range g.Versions {
		rv, err := g.loadVersion(ctx, v)
		if err != nil {
			// Caddy calls Cleanup after a failed Provision, which
			// releases what was loaded so far.
			return fmt.Errorf("version %s: %w", v.ID, err)
		}
		g.config = append(g.config, rv)
	}
	g.configKey = deployKey(configEntries(g))
	st := g.state.loadLive(configStorage(ctx), g)
	g.apply(st)
	g.state.attach(g)
	return nil
}

// loadVersion loads a version's backend and its share of the worker's
// stats.
func (g *Gradual) loadVersion(ctx caddy.Context, v *Version) (*version, error) {
	created := v.createdOn
	if created.IsZero() {
		created = g.state.firstSeen(v.ID)
	}
	var (
		b         backend
		release   func()
		kind      = "upstream"
		upstreams []string
		err       error
	)
	if v.Script != "" || v.source != "" {
		kind = "script"
		b, release, err = g.loadScript(v, created)
	} else {
		b, upstreams, release, err = g.loadBackend(ctx, v)
	}
	if err != nil {
		return nil, err
	}
	return &version{
		id: v.ID, tag: v.Tag, message: v.Message, kind: kind, createdOn: created,
		uploaded: v.uploaded, upstreams: upstreams, release: release,
		idVal: v.ID, tagVal: v.Tag,
		// The key only names the field for ExtraLogFields.Set: an
		// inline marshaler's fields go to the top level of the entry.
		logFields: zap.Field{Key: "gradual", Type: zapcore.InlineMarshalerType,
			Interface: &accessLogFields{worker: g.Worker, id: v.ID, tag: v.Tag}},
		spanAttrs: spanAttrs(g.Worker, v.ID, v.Tag),
		backend:   b,
		metrics:   newVersionMetrics(g.Worker, v.ID),
		stats:     g.state.retainVersion(v.ID),
	}, nil
}

// releaseVersions gives back the versions' share of the worker's stats,
// and their script workers.
func (g *Gradual) releaseVersions(vs []*version) {
	for _, v := range vs {
		g.state.releaseVersion(v.id)
		if v.release != nil {
			v.release()
		}
	}
}

// apply brings the handler up to the stored live state: it loads uploaded
// versions it does not have yet, unloads evicted ones, and installs the
// active deployment. A nil st means the config alone.
func (g *Gradual) apply(st *storedState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	byID := make(map[string]*version, len(g.config)+len(g.uploads))
	for _, v := range g.config {
		byID[v.id] = v
	}
	keep := make(map[string]bool)
	if st != nil {
		for _, sv := range st.Versions {
			keep[sv.ID] = true
			if byID[sv.ID] != nil {
				continue // a config version of the same ID wins
			}
			up := g.uploads[sv.ID]
			if up == nil {
				vctx, cancel := caddy.NewContext(g.ctx)
				rv, err := g.loadVersion(vctx, sv.version())
				if err != nil {
					cancel()
					g.logger.Error("cannot load uploaded version", zap.String("version_id", sv.ID), zap.Error(err))
					continue
				}
				up = &upload{v: rv, cancel: cancel}
				g.uploads[sv.ID] = up
			}
			byID[sv.ID] = up.v
		}
	}
	for id, up := range g.uploads {
		if !keep[id] {
			delete(g.uploads, id)
			// Requests that reached it by override may still run.
			time.AfterFunc(time.Minute, func() {
				up.cancel()
				g.releaseVersions([]*version{up.v})
			})
		}
	}
	entries := g.activeEntries(st)
	dep, err := g.newDeployment(slices.Collect(maps.Values(byID)), entries)
	if err != nil {
		g.logger.Error("cannot install the live deployment; serving the config's", zap.Error(err))
		if dep, err = g.newDeployment(g.config, configEntries(g)); err != nil {
			return
		}
	}
	g.set.Store(&versionSet{byID: byID, dep: dep})
	for id := range byID {
		var pct float64
		if i := dep.split.Index(id); i >= 0 {
			pct = dep.split.Entry(i).Weight.Percent()
		}
		gradualMetrics.percent.WithLabelValues(g.Worker, id).Set(pct)
	}
}

// loadBackend loads the handler of an upstream version, the addresses it
// proxies to (for the admin API), and a func that unloads it.
func (g *Gradual) loadBackend(parent caddy.Context, v *Version) (backend, []string, func(), error) {
	ctx, cancel := moduleContext(parent)
	mod, err := ctx.LoadModule(v, "Upstream")
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("loading upstream handler: %w", err)
	}
	release := func() {
		cancel()
		if c, ok := mod.(caddy.CleanerUpper); ok {
			if err := c.Cleanup(); err != nil {
				g.logger.Error("cleaning up upstream handler", zap.String("version_id", v.ID), zap.Error(err))
			}
		}
	}
	h, ok := mod.(caddyhttp.MiddlewareHandler)
	if !ok {
		release()
		return nil, nil, nil, fmt.Errorf("module %T is not an HTTP handler", mod)
	}
	var upstreams []string
	rp, isProxy := h.(*reverseproxy.Handler)
	if isProxy {
		for _, u := range rp.Upstreams {
			upstreams = append(upstreams, u.Dial)
		}
	}
	return upstreamBackend{h: h, proxy: isProxy}, upstreams, release, nil
}

// moduleContext returns a context of its own for loading one version's
// modules, and the func that cancels it; the caller cleans the modules up.
//
// Versions must not share their parent's context: LoadModule appends the
// module to the context's ancestry, and when that slice has room to grow
// in place every sibling loaded through the same context gets the same
// slot. A reverse_proxy's health checker reads its slot (its events name
// it as their origin) while the next version's load writes it: a data race,
// and events naming the wrong module. caddy.NewContext starts an empty
// ancestry. Its own cancel func is not used because it would also run the
// parent's OnCancel funcs, such as closing the config's log writers; the
// child's context.Context is replaced by one this package can cancel.
func moduleContext(parent caddy.Context) (caddy.Context, context.CancelFunc) {
	base := parent
	var cancel context.CancelFunc
	base.Context, cancel = context.WithCancel(parent.Context)
	ctx, _ := caddy.NewContext(base)
	return ctx, cancel
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
	for _, up := range g.uploads {
		up.cancel()
		g.releaseVersions([]*version{up.v})
	}
	g.uploads = nil
	g.releaseVersions(g.config)
	g.mu.Unlock()
	g.state.detach(g)
	releaseWorker(g.Worker)
	return nil
}

// checkConfig reports the first problem with the configuration that can be
// found without loading modules. The Caddyfile parser runs the same checks,
// so the JSON and Caddyfile paths accept exactly the same configurations.
func (g *Gradual) checkConfig() error {
	if err := affinity.ValidateWorkerName(g.Worker); err != nil {
		return fmt.Errorf("worker name: %w", err)
	}
	if len(g.Versions) == 0 {
		return fmt.Errorf("worker %s: at least one version is required", g.Worker)
	}
	seen := make(map[string]bool, len(g.Versions))
	for _, v := range g.Versions {
		if v == nil {
			return errors.New("version: null entry")
		}
		if err := splitter.ValidateID(v.ID); err != nil {
			return fmt.Errorf("version: %w", err)
		}
		if seen[v.ID] {
			return fmt.Errorf("version %s: defined more than once", v.ID)
		}
		seen[v.ID] = true
		if (len(v.Upstream) == 0) == (v.Script == "" && v.source == "") {
			return fmt.Errorf("version %s: exactly one of script and upstream is required", v.ID)
		}
		if len(v.Upstream) > 0 && len(v.Vars) > 0 {
			return fmt.Errorf("version %s: vars are for script versions", v.ID)
		}
		for name, value := range v.Vars {
			if err := checkVar(name, value); err != nil {
				return fmt.Errorf("version %s: %w", v.ID, err)
			}
		}
	}
	if _, err := buildSplit(g.Versions, g.Deploy); err != nil {
		return err
	}
	if g.OverrideHeader != "" && !httpguts.ValidHeaderFieldName(g.OverrideHeader) {
		return fmt.Errorf("override_header: %q is not a valid header name", g.OverrideHeader)
	}
	if _, err := affinity.ParsePrefixes(g.OverrideFrom); err != nil {
		return fmt.Errorf("override_from: %w", err)
	}
	if g.CPULimit < 0 {
		return errors.New("cpu_limit must not be negative")
	}
	if g.MemoryLimit < 0 {
		return errors.New("memory_limit must not be negative")
	}
	if _, err := workerhost.NewFetchPolicy(g.FetchAllow, nil); err != nil {
		return err
	}
	if _, err := g.Rollout.Over(rollout.DefaultPolicy()); err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	if c := g.AffinityCookie; c != nil {
		if c.MaxAge < 0 {
			return errors.New("affinity_cookie: max_age must not be negative")
		}
		if err := (affinity.Cookie{Name: c.Name}).Validate(); err != nil {
			return fmt.Errorf("affinity_cookie: %w", err)
		}
	}
	return nil
}

// explicitDeploy is deploy, or, when it is empty and there is exactly one
// version, that version at 100%.
func explicitDeploy(versions []*Version, deploy []DeployEntry) []DeployEntry {
	if len(deploy) == 0 && len(versions) == 1 {
		return []DeployEntry{{VersionID: versions[0].ID, Percentage: 100}}
	}
	return deploy
}

// buildSplit checks a deployment against the defined versions and builds
// the split.
func buildSplit(versions []*Version, deploy []DeployEntry) (*splitter.Deployment, error) {
	deploy = explicitDeploy(versions, deploy)
	if len(deploy) == 0 {
		return nil, fmt.Errorf("deploy: required when there is more than one version (%d defined)", len(versions))
	}
	defined := make(map[string]bool, len(versions))
	for _, v := range versions {
		defined[v.ID] = true
	}
	entries := make([]splitter.Entry, 0, len(deploy))
	for _, e := range deploy {
		if !defined[e.VersionID] {
			return nil, fmt.Errorf("deploy: unknown version %q", e.VersionID)
		}
		w, err := splitter.PercentFromFloat(e.Percentage)
		if err != nil {
			return nil, fmt.Errorf("deploy: version %s: %w", e.VersionID, err)
		}
		entries = append(entries, splitter.Entry{ID: e.VersionID, Weight: w})
	}
	split, err := splitter.New(entries)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	return split, nil
}

// splitEntries converts entries to the splitter's. A percentage that is
// not valid (see splitter.PercentFromFloat), which no installed or stored
// deployment has, is rounded to hundredths and clamped to 0..100%, so that
// every deployment has a key.
func splitEntries(entries []DeployEntry) []splitter.Entry {
	out := make([]splitter.Entry, len(entries))
	for i, e := range entries {
		w, err := splitter.PercentFromFloat(e.Percentage)
		if err != nil {
			p := e.Percentage
			if !(p >= 0) { // below 0, or NaN
				p = 0
			}
			w = splitter.Weight(math.Round(min(p, 100) * 100))
		}
		out[i] = splitter.Entry{ID: e.VersionID, Weight: w}
	}
	return out
}

// newDeployment builds the runtime split of entries over versions.
func (g *Gradual) newDeployment(versions []*version, entries []DeployEntry) (*deployment, error) {
	defined := make([]*Version, len(versions))
	byID := make(map[string]*version, len(versions))
	for i, v := range versions {
		defined[i] = &Version{ID: v.id}
		byID[v.id] = v
	}
	split, err := buildSplit(defined, entries)
	if err != nil {
		return nil, err
	}
	dep := &deployment{split: split, versions: make([]*version, split.Len())}
	for i := range dep.versions {
		dep.versions[i] = byID[split.Entry(i).ID]
	}
	return dep, nil
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
	if !g.recorded.Load() {
		g.recordConfigOnce()
	}
	v, sel := g.choose(w, r)

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
	v.stats.record(end, res.WallTime, exception || status >= 500)
	endSpan(span, &res, err)
	if g.state.tail.active() {
		if ev := newTailEvent(g.Worker, v, sel, r, start, res); ev != nil {
			g.state.tail.publish(v.id, ev)
		}
	}
	if errors.Is(err, workerhost.ErrResponseAborted) {
		// The body was cut short after the status went out: abort the
		// connection so the client cannot take it for a whole response.
		panic(http.ErrAbortHandler)
	}
	return err
}

// tag marks the request as served by v: placeholders, access-log fields,
// and, when the request is traced, span attributes and the handler's span.
func (g *Gradual) tag(r *http.Request, v *version, sel selection) (*http.Request, trace.Span) {
	g.setPlaceholders(r, v, sel)
	tagAccessLog(r, v)
	return startSpans(r, g.Worker, v.spanAttrs[sel])
}

// setPlaceholders sets the {http.gradual.*} placeholders; the values were
// boxed at provision, so this allocates nothing.
func (g *Gradual) setPlaceholders(r *http.Request, v *version, sel selection) {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
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
	values := r.Header[g.overrideHeader]
	if len(values) == 0 {
		return nil
	}
	if len(g.overrideFrom) > 0 && !g.overrideAllowed(r) {
		g.debug("ignoring override header from a client outside override_from", r)
		return nil
	}
	id, err := affinity.Override(values, g.Worker)
	if err != nil {
		g.debug("ignoring malformed override header", r, zap.Error(err))
		return nil
	}
	if id == "" {
		return nil
	}
	v := g.set.Load().byID[id]
	if v == nil {
		g.debug("ignoring override for unknown version", r, zap.String("version_id", id))
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

func (g *Gradual) debug(msg string, r *http.Request, fields ...zap.Field) {
	if ce := g.logger.Check(zapcore.DebugLevel, msg); ce != nil {
		ce.Write(append(fields, zap.String("worker", g.Worker), zap.Strings("override", r.Header.Values(g.overrideHeader)))...)
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
