package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-gradual/gradual/internal/stats"
)

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

	// source is the inline script of an uploaded version; json its json
	// bindings; createdOn its upload time; uploaded marks versions from
	// the admin API.
	source     string
	json       map[string]json.RawMessage
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
	stats     *stats.Version
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
