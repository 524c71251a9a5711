package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/caddy-gradual/gradual/affinity"
	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/internal/cfapi"
	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/workerhost"
)

// Service is a service binding of every script version of the worker,
// Cloudflare's service binding: a script calls
// `await env.NAME.fetch(input, init)` and gets the Response of Worker, a
// gradual worker of the same Caddy, called in process (no socket).
//
// The callee's version is chosen as for a client's request (SPEC §3), with
// the caller's request context: the override header of the client's
// request applies to the callee even when the script builds a fresh
// Request (so 0% and undeployed versions are reachable), and the caller's
// affinity key is passed on, so that one user sees one consistent set of
// versions along a chain of workers. The call is traced as a child span
// with the callee's version, and counted in the callee's metrics, stats
// and tail. A callee that throws answers 500, as on Workers.
//
// Bindings may not form a cycle (refused when the config loads), and
// calls nest at most 16 deep. Request and response bodies are buffered.
type Service struct {
	// Name is the binding's name: env.NAME in a module worker, a global
	// in a service-worker script. Letters, digits, _ and $, not starting
	// with a digit; it must not also be a var's or a rate limit's name.
	// Required.
	Name string `json:"name"`

	// Worker is the name of the gradual worker the binding calls: the
	// `gradual <worker>` of another block of this Caddy. Required.
	Worker string `json:"worker"`
}

// maxCallDepth bounds how deep service-binding calls nest: a call at a
// greater depth fails in the calling script. Each level holds a runtime
// of its worker while it waits, so the bound keeps a loop of calls (one
// that slipped past the cycle check, through a reload) from taking every
// runtime of a pool.
const maxCallDepth = 16

// mintedKeyVar is the request variable holding the affinity key minted
// for a request without one (affinity_cookie), for the bindings' calls.
const mintedKeyVar = "gradual.minted_key"

// serviceCall is what a call through a binding inherits from the client's
// request, passed on along a chain of calls in the request context.
type serviceCall struct {
	depth int
	// header is the client's request header, whose override entries
	// apply to every worker of the chain.
	header http.Header
	key    string
	hasKey bool
}

type serviceCallKey struct{}

// callNext is the next handler of a called worker: there is none, so a
// script's passThroughOnException ends in a 500, as an exception would.
var callNext = caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
	return caddyhttp.Error(http.StatusInternalServerError, errors.New("no handler after a worker called through a service binding"))
})

// serviceFetcher serves the calls of binding name of worker caller to
// worker callee. It holds names, not handlers, since a worker outlives
// the config that created it: each call goes to the newest handlers.
type serviceFetcher struct {
	caller, callee, name string
}

// ServeService implements workerhost.ServiceFetcher.
func (f serviceFetcher) ServeService(w http.ResponseWriter, req, incoming *http.Request) error {
	call := serviceCall{depth: 1}
	if parent, ok := incoming.Context().Value(serviceCallKey{}).(*serviceCall); ok {
		if parent.depth >= maxCallDepth {
			return fmt.Errorf("service binding %s: calls nest deeper than %d", f.name, maxCallDepth)
		}
		call = *parent
		call.depth++
	} else {
		call.header = incoming.Header
		if g := newestHandler(f.caller); g != nil {
			call.key, call.hasKey = g.callerKey(incoming)
		}
	}
	g := newestHandler(f.callee)
	if g == nil {
		return fmt.Errorf("service binding %s: no gradual worker %q is loaded", f.name, f.callee)
	}
	return g.serveCall(w, req, call, f.name, callLogOf(incoming))
}

// newestHandler returns the newest handler of the named worker, or nil.
func newestHandler(worker string) *Gradual {
	if s := lookupWorker(worker); s != nil {
		return s.latest()
	}
	return nil
}

// callerKey returns the affinity key r was routed by, if any, including
// one minted for it.
func (g *Gradual) callerKey(r *http.Request) (string, bool) {
	if key, origin := g.keys.Key(r); origin != affinity.OriginNone {
		return key, true
	}
	key, ok := caddyhttp.GetVar(r.Context(), mintedKeyVar).(string)
	return key, ok
}

// callContext is the context of a call's request: the caller's, with the
// call and the callee's own variables and log fields, so that tagging the
// callee leaves the caller's alone, and without the caller's replacer (a
// callee that needs one gets its own: serveCall). One value rather than a
// chain of three: a call allocates less, and looking up the caller's
// values walks fewer links. Only an upstream callee has log fields:
// Caddy's handlers expect them, and no log reads a script callee's.
type callContext struct {
	context.Context
	call     serviceCall
	vars     map[string]any
	upstream bool
	extra    caddyhttp.ExtraLogFields
}

// Value answers the call's keys and hands the others to the caller's
// context.
func (c *callContext) Value(key any) any {
	switch key {
	case serviceCallKey{}:
		return &c.call
	case caddyhttp.VarsCtxKey:
		return c.vars
	case caddyhttp.ExtraLogFieldsCtxKey:
		if !c.upstream {
			return nil
		}
		return &c.extra
	case caddy.ReplacerCtxKey:
		return nil
	}
	return c.Context.Value(key)
}

// serveCall serves a call through a binding: r is the script's request,
// whose context is the caller's. The call goes in log, the call log of
// the client's request (nil for none).
func (g *Gradual) serveCall(w http.ResponseWriter, r *http.Request, call serviceCall, binding string, log *callLog) (err error) {
	start := now()
	ctx := &callContext{Context: r.Context(), call: call, vars: make(map[string]any, 2)}
	if ip := caddyhttp.GetVar(ctx.Context, caddyhttp.ClientIPVarKey); ip != nil {
		ctx.vars[caddyhttp.ClientIPVarKey] = ip
	}
	// reverse_proxy asserts trusted_proxy a bool, as Caddy's server sets
	// it: the caller's, else not trusted.
	trusted, _ := caddyhttp.GetVar(ctx.Context, caddyhttp.TrustedProxyVarKey).(bool)
	ctx.vars[caddyhttp.TrustedProxyVarKey] = trusted
	r = r.WithContext(ctx)
	// A replacer with the request's http.* placeholders is made for an
	// affinity expression of the callee and for an upstream's handler; a
	// script has no use for one.
	if g.Affinity != "" {
		caddyhttp.NewTestReplacer(r)
	}
	v, sel := g.chooseCall(r, &ctx.call)
	ctx.upstream = v.kind == "upstream"
	if g.Affinity == "" && ctx.upstream {
		caddyhttp.NewTestReplacer(r)
	}
	r, span := startCallSpan(r, binding, v.spanAttrs[sel])
	// status stays 0 for a response cut short, which the call log lists
	// too: the call was made, and failed.
	status := 0
	defer func() {
		if rec := recover(); rec != nil {
			if rec != http.ErrAbortHandler {
				panic(rec)
			}
			err = fmt.Errorf("service binding %s: the response of %s was cut short", binding, g.Worker)
		}
		if span != nil {
			span.End()
		}
		log.add(loggedCall{binding: binding, worker: g.Worker, v: v, sel: sel, status: status, took: now().Sub(start)})
	}()
	status, err = g.serveVersion(w, r, callNext, v, sel, start)
	if err != nil {
		// As Caddy would answer a client: the status of the handler error.
		es := responseStatus(0, err)
		http.Error(w, http.StatusText(es), es)
	}
	return nil
}

// chooseCall picks the callee's version for a call, as SPEC §3 orders it
// with the caller's context: the override in the script's request, else
// in the client's; the caller's affinity key, else the callee's own key
// of the script's request; else at random. It never mints a key: the
// response goes to a script, not to a browser.
func (g *Gradual) chooseCall(r *http.Request, call *serviceCall) (*version, selection) {
	if v := g.override(r); v != nil {
		return v, selectedOverride
	}
	if v := g.overrideOf(call.header[g.overrideHeader], r); v != nil {
		return v, selectedOverride
	}
	dep := g.set.Load().dep
	if call.hasKey {
		return dep.versions[dep.split.PickKey(call.key)], selectedAffinity
	}
	if key, origin := g.keys.Key(r); origin != affinity.OriginNone {
		return dep.versions[dep.split.PickKey(key)], selectedAffinity
	}
	return dep.versions[dep.split.PickRandom()], selectedRandom
}

// startCallSpan starts the span of a call through a binding, a client span
// under the caller's, with the callee's version attributes; the callee's
// handler span goes under it. Untraced calls cost one context look-up.
func startCallSpan(r *http.Request, binding string, attrs []attribute.KeyValue) (*http.Request, trace.Span) {
	parent := trace.SpanFromContext(r.Context())
	if !parent.IsRecording() {
		return r, nil
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(r.Context(), "service "+binding,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return r.WithContext(ctx), span
}

// serviceLoads holds, per config load, the handlers provisioned in it, so
// that a cycle of bindings is found when its last member is provisioned
// (JSON configs; the Caddyfile adapter finds it while parsing).
var serviceLoads = struct {
	sync.Mutex
	m map[any]map[*Gradual]struct{}
}{m: make(map[any]map[*Gradual]struct{})}

// provisionServices adds the bindings of the worker's services to its
// bindings, after refusing a cycle among the handlers of this config.
func (g *Gradual) provisionServices(ctx caddy.Context) error {
	if len(g.Services) == 0 {
		return nil
	}
	if mods := ctx.Modules(); len(mods) > 0 {
		// The app at the root of the ancestry is this config's own.
		g.configLoad = mods[0]
	}
	serviceLoads.Lock()
	handlers := serviceLoads.m[g.configLoad]
	if handlers == nil {
		handlers = make(map[*Gradual]struct{})
		serviceLoads.m[g.configLoad] = handlers
	}
	handlers[g] = struct{}{}
	cycle := findCycle(g.Worker, func(worker string) []string {
		var out []string
		for h := range handlers {
			if h.Worker == worker {
				for _, s := range h.Services {
					out = append(out, s.Worker)
				}
			}
		}
		return out
	})
	serviceLoads.Unlock()
	if cycle != nil {
		return cycleError(g.Services, cycle)
	}
	if g.bindings == nil {
		g.bindings = make(map[string]workerhost.Binding, len(g.Services))
	}
	for _, s := range g.Services {
		g.bindings[s.Name] = workerhost.Service{
			Fetcher: serviceFetcher{caller: g.Worker, callee: s.Worker, name: s.Name},
			Target:  s.Worker,
		}
	}
	return nil
}

// releaseServices takes the handler out of its config's cycle check.
func (g *Gradual) releaseServices() {
	serviceLoads.Lock()
	defer serviceLoads.Unlock()
	if handlers := serviceLoads.m[g.configLoad]; handlers != nil {
		delete(handlers, g)
		if len(handlers) == 0 {
			delete(serviceLoads.m, g.configLoad)
		}
	}
}

// findCycle returns a path of calls from start back to start, as worker
// names (start first and last), or nil; calls lists whom a worker calls.
func findCycle(start string, calls func(worker string) []string) []string {
	visited := make(map[string]bool)
	var path []string
	var walk func(worker string) bool
	walk = func(worker string) bool {
		path = append(path, worker)
		for _, next := range calls(worker) {
			if next == start {
				path = append(path, next)
				return true
			}
			if !visited[next] {
				visited[next] = true
				if walk(next) {
					return true
				}
			}
		}
		path = path[:len(path)-1]
		return false
	}
	if walk(start) {
		return path
	}
	return nil
}

// cycleError describes a cycle of bindings, naming the binding of services
// (the first worker's) that starts it: `service A: a → b → a`.
func cycleError(services []*Service, cycle []string) error {
	name := ""
	if i := slices.IndexFunc(services, func(s *Service) bool { return s.Worker == cycle[1] }); i >= 0 {
		name = services[i].Name
	}
	return fmt.Errorf("service %s: service bindings form a cycle: %s (a worker may not call itself through bindings)", name, strings.Join(cycle, " → "))
}

// cfServices accepts an upload's service bindings that the gradual block
// declares alike. The block's services are bindings of every script
// version, resolved when the config loads (where a cycle is refused), so
// an upload can only ask for them: `[[services]] binding = "NAME"
// service = "<worker>"` in wrangler.toml matches `service NAME <worker>`.
func cfServices(s *workerState, services []cfapi.ServiceBinding) error {
	if len(services) == 0 {
		return nil
	}
	g := s.latest()
	if g == nil {
		return live.ErrNotLoaded
	}
	for _, want := range services {
		i := slices.IndexFunc(g.Services, func(svc *Service) bool { return svc.Name == want.Name })
		switch {
		case i < 0:
			return cfapi.Errorf(http.StatusBadRequest, cfapi.CodeUnsupported, "service binding %q: the gradual block declares no such service binding (service %s %s)", want.Name, want.Name, want.Service)
		case g.Services[i].Worker != want.Service:
			return cfapi.Errorf(http.StatusBadRequest, cfapi.CodeUnsupported, "service binding %q calls the worker %q; the gradual block's calls %q", want.Name, want.Service, g.Services[i].Worker)
		}
	}
	return nil
}

// checkServices checks the service bindings against each other, the
// rate limits and the versions' vars.
func checkServices(svcs []*Service, rls []*RateLimit, versions []*Version) error {
	seen := make(map[string]bool, len(svcs))
	for _, rl := range rls {
		if rl != nil {
			seen[rl.Name] = true
		}
	}
	for _, s := range svcs {
		if s == nil {
			return errors.New("services: null entry")
		}
		if err := api.CheckVar(s.Name, ""); err != nil {
			return fmt.Errorf("service: %w", err)
		}
		if err := affinity.ValidateWorkerName(s.Worker); err != nil {
			return fmt.Errorf("service %s: worker: %w", s.Name, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("service %s: a binding of that name is defined more than once", s.Name)
		}
		seen[s.Name] = true
		if err := checkBindingName(s.Name, versions); err != nil {
			return fmt.Errorf("service %s: %w", s.Name, err)
		}
	}
	return nil
}

// parseService parses `service <NAME> <worker>`; d is on the "service"
// token.
func parseService(d *caddyfile.Dispenser) (*Service, error) {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return nil, d.Errf("service: expected a binding name and a worker: service <NAME> <worker>")
	}
	s := &Service{Name: args[0], Worker: args[1]}
	if err := api.CheckVar(s.Name, ""); err != nil {
		return nil, d.Errf("service: %v", err)
	}
	if err := affinity.ValidateWorkerName(s.Worker); err != nil {
		return nil, d.Errf("service %s: %v", s.Name, err)
	}
	return s, nil
}

// adaptStateKey is where the Caddyfile adapter keeps, while it parses,
// which workers each worker calls, to refuse a cycle of bindings.
const adaptStateKey = "gradual.service_calls"

// checkAdaptCycle records the calls of g's services in the adapter's state
// and refuses the one that closes a cycle; tok is its `service` token.
func checkAdaptCycle(h *httpcaddyfile.Helper, g *Gradual, toks []caddyfile.Token) error {
	calls, _ := h.State[adaptStateKey].(map[string][]string)
	if calls == nil {
		calls = make(map[string][]string)
		h.State[adaptStateKey] = calls
	}
	for _, s := range g.Services {
		calls[g.Worker] = append(calls[g.Worker], s.Worker)
	}
	cycle := findCycle(g.Worker, func(worker string) []string { return calls[worker] })
	if cycle == nil {
		return nil
	}
	i := slices.IndexFunc(g.Services, func(s *Service) bool { return s.Worker == cycle[1] })
	return errAt(toks[i], cycleError(g.Services, cycle))
}
