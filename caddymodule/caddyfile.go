package caddymodule

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/dustin/go-humanize"
	"golang.org/x/net/http/httpguts"

	"github.com/caddy-gradual/gradual/affinity"
	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/internal/rollout"
	"github.com/caddy-gradual/gradual/splitter"
	"github.com/caddy-gradual/gradual/workerhost"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("gradual", parseCaddyfile)
	// gradual answers requests itself, like reverse_proxy; running just
	// before it lets a site fall through from one to the other.
	httpcaddyfile.RegisterDirectiveOrder("gradual", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	g := new(Gradual)
	if err := g.unmarshal(h.Dispenser, &h); err != nil {
		return nil, err
	}
	return g, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	gradual [<matcher>] <worker> {
//		version <id> {
//			script <path.js|path.ts>
//			# or
//			upstream [<addresses...>] [{
//				<reverse_proxy options>
//			}]
//			tag     <tag>
//			message <message>
//			var     <NAME> <value>
//		}
//		deploy          <id>[@<percent>%] ...
//		affinity        <expression>
//		affinity_cookie <name> [<max_age>]
//		overrides       on|off
//		override_header <header name>
//		override_from   <cidr|ip> ...
//		cpu_limit       <duration>
//		memory_limit    <size>
//		poll_interval   <duration>
//		fetch_allow     <cidr|ip|ip:port|localhost[:port]> ...
//		ratelimit       <NAME> limit <n> [period 10s|60s] [namespace_id <id>]
//		service         <NAME> <worker>
//		rollout {
//			steps           <pct%>...
//			interval        <duration>
//			max_error_rate  <pct%>
//			max_latency_p99 <duration>
//			min_requests    <n>
//			margin          <pct%>
//		}
//	}
//
// `version` may be repeated, once per version ID, `ratelimit` and
// `service` once per binding name, and `var` once per name;
// every other subdirective may appear at most once. A lone `deploy <id>`
// means 100%. A script is bundled and compiled while the Caddyfile is
// parsed, so `caddy adapt` reports its errors with the script's file and
// line.
func (g *Gradual) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return g.unmarshal(d, nil)
}

// unmarshal parses the directive. helper is nil when called through
// UnmarshalCaddyfile; it is needed only for reverse_proxy's handle_response
// blocks inside an upstream.
func (g *Gradual) unmarshal(d *caddyfile.Dispenser, helper *httpcaddyfile.Helper) error {
	d.Next() // directive name
	start := d.Token()
	if !d.NextArg() {
		return d.Errf("a worker name is required: gradual <worker> { ... }")
	}
	g.Worker = d.Val()
	if err := affinity.ValidateWorkerName(g.Worker); err != nil {
		return d.WrapErr(err)
	}
	if d.NextArg() {
		return d.ArgErr()
	}

	seen := make(map[string]bool)
	var deployTok caddyfile.Token
	var rateLimitToks, serviceToks []caddyfile.Token
	for d.NextBlock(0) {
		sub := d.Val()
		if sub != "version" && sub != "ratelimit" && sub != "service" {
			if seen[sub] {
				return d.Errf("subdirective %s given more than once", sub)
			}
			seen[sub] = true
		}
		switch sub {
		case "version":
			tok := d.Token()
			v, err := parseVersion(d, helper)
			if err != nil {
				return err
			}
			for _, other := range g.Versions {
				if other.ID == v.ID {
					return errAt(tok, fmt.Errorf("version %s defined more than once", v.ID))
				}
			}
			g.Versions = append(g.Versions, v)

		case "deploy":
			deployTok = d.Token()
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			entries, err := parseDeploy(args)
			if err != nil {
				return d.WrapErr(err)
			}
			g.Deploy = entries

		case "affinity":
			if !d.AllArgs(&g.Affinity) {
				return d.ArgErr()
			}

		case "affinity_cookie":
			args := d.RemainingArgs()
			if len(args) < 1 || len(args) > 2 {
				return d.ArgErr()
			}
			c := &AffinityCookie{Name: args[0]}
			if len(args) == 2 {
				dur, err := caddy.ParseDuration(args[1])
				if err != nil {
					return d.Errf("affinity_cookie: bad max_age %q: %v", args[1], err)
				}
				if dur < 0 {
					return d.Errf("affinity_cookie: max_age must not be negative")
				}
				c.MaxAge = caddy.Duration(dur)
			}
			if err := (affinity.Cookie{Name: c.Name}).Validate(); err != nil {
				return d.WrapErr(err)
			}
			g.AffinityCookie = c

		case "overrides":
			var value string
			if !d.AllArgs(&value) {
				return d.ArgErr()
			}
			if value != "on" && value != "off" {
				return d.Errf("overrides: expected on or off, got %q", value)
			}
			on := value == "on"
			g.Overrides = &on

		case "override_header":
			if !d.AllArgs(&g.OverrideHeader) {
				return d.ArgErr()
			}
			if !httpguts.ValidHeaderFieldName(g.OverrideHeader) {
				return d.Errf("override_header: %q is not a valid header name", g.OverrideHeader)
			}

		case "cpu_limit":
			if err := positiveDuration(d, &g.CPULimit, "1s"); err != nil {
				return err
			}

		case "poll_interval":
			if err := positiveDuration(d, &g.PollInterval, "2s"); err != nil {
				return err
			}

		case "memory_limit":
			var value string
			if !d.AllArgs(&value) {
				return d.ArgErr()
			}
			size, err := humanize.ParseBytes(value)
			if err != nil || size == 0 || size > math.MaxInt64 {
				return d.Errf("memory_limit: want a positive size such as 128MiB, got %q", value)
			}
			g.MemoryLimit = int64(size)

		case "fetch_allow":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if _, err := workerhost.NewFetchPolicy(args); err != nil {
				return d.WrapErr(err)
			}
			g.FetchAllow = args

		case "rollout":
			c := new(rollout.Config)
			if err := c.UnmarshalCaddyfile(d); err != nil {
				return err
			}
			g.Rollout = c

		case "override_from":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			if _, err := affinity.ParsePrefixes(args); err != nil {
				return d.Errf("override_from: %v", err)
			}
			g.OverrideFrom = args

		case "ratelimit":
			tok := d.Token()
			rl, err := parseRateLimit(d)
			if err != nil {
				return err
			}
			for _, other := range g.RateLimits {
				if other.Name == rl.Name {
					return errAt(tok, fmt.Errorf("ratelimit %s given more than once", rl.Name))
				}
			}
			g.RateLimits = append(g.RateLimits, rl)
			rateLimitToks = append(rateLimitToks, tok)

		case "service":
			tok := d.Token()
			svc, err := parseService(d)
			if err != nil {
				return err
			}
			g.Services = append(g.Services, svc)
			serviceToks = append(serviceToks, tok)

		default:
			return d.Errf("unknown subdirective %q (expected version, deploy, affinity, affinity_cookie, overrides, override_header, override_from, cpu_limit, memory_limit, poll_interval, fetch_allow, ratelimit, service or rollout)", sub)
		}
	}

	if len(g.Versions) == 0 {
		return errAt(start, fmt.Errorf("worker %s: at least one version is required", g.Worker))
	}
	for i, rl := range g.RateLimits {
		if err := checkBindingName(rl.Name, g.Versions); err != nil {
			return errAt(rateLimitToks[i], fmt.Errorf("ratelimit %s: %w", rl.Name, err))
		}
	}
	for i := range g.Services {
		if err := checkServices(g.Services[:i+1], g.RateLimits, g.Versions); err != nil {
			return errAt(serviceToks[i], err)
		}
	}
	if helper != nil && len(g.Services) > 0 {
		if err := checkAdaptCycle(helper, g, serviceToks); err != nil {
			return err
		}
	}
	if _, err := buildSplit(g.Versions, g.Deploy); err != nil {
		if deployTok.Text == "" {
			return errAt(start, err)
		}
		return errAt(deployTok, err)
	}
	return nil
}

// errAt attributes err to the file and line of an earlier token, for
// problems only found once the whole block has been read.
func errAt(tok caddyfile.Token, err error) error {
	d := caddyfile.NewDispenser([]caddyfile.Token{tok})
	d.Next()
	return d.WrapErr(err)
}

// parseVersion parses a version block; d is on the "version" token.
func parseVersion(d *caddyfile.Dispenser, helper *httpcaddyfile.Helper) (*Version, error) {
	start := d.Token()
	if !d.NextArg() {
		return nil, d.Errf("version: an ID is required")
	}
	v := &Version{ID: d.Val()}
	if err := splitter.ValidateID(v.ID); err != nil {
		return nil, d.WrapErr(err)
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	seen := make(map[string]bool)
	var scriptTok caddyfile.Token
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		sub := d.Val()
		if seen[sub] && sub != "var" {
			return nil, d.Errf("version %s: %s given more than once", v.ID, sub)
		}
		seen[sub] = true
		switch sub {
		case "script":
			scriptTok = d.Token()
			if !d.AllArgs(&v.Script) {
				return nil, d.ArgErr()
			}
		case "var":
			var name, value string
			if !d.AllArgs(&name, &value) {
				return nil, d.Errf("version %s: var takes a name and a value", v.ID)
			}
			if _, dup := v.Vars[name]; dup {
				return nil, d.Errf("version %s: var %s given more than once", v.ID, name)
			}
			if err := api.CheckVar(name, value); err != nil {
				return nil, d.Errf("version %s: %v", v.ID, err)
			}
			if v.Vars == nil {
				v.Vars = make(map[string]string)
			}
			v.Vars[name] = value
		case "upstream":
			raw, err := parseUpstream(d, helper)
			if err != nil {
				return nil, err
			}
			v.Upstream = raw
		case "tag":
			if !d.AllArgs(&v.Tag) {
				return nil, d.ArgErr()
			}
		case "message":
			if !d.AllArgs(&v.Message) {
				return nil, d.ArgErr()
			}
		default:
			return nil, d.Errf("version %s: unknown subdirective %q (expected script, upstream, tag, message or var)", v.ID, sub)
		}
	}
	switch {
	case v.Upstream == nil && v.Script == "":
		return nil, errAt(start, fmt.Errorf("version %s: a script or an upstream is required", v.ID))
	case v.Upstream != nil && v.Script != "":
		return nil, errAt(scriptTok, fmt.Errorf("version %s: script and upstream cannot both be given", v.ID))
	case v.Upstream != nil && len(v.Vars) > 0:
		return nil, errAt(start, fmt.Errorf("version %s: var is for script versions", v.ID))
	case v.Script != "":
		if fi, err := os.Stat(v.Script); err != nil || fi.IsDir() {
			return nil, errAt(scriptTok, fmt.Errorf("version %s: script %s: no such file (paths are relative to Caddy's working directory)", v.ID, v.Script))
		}
		// Compiling here puts script errors in `caddy adapt`; the result
		// is cached, so provisioning does not compile again.
		if _, err := workerhost.Compile(workerhost.Config{Entry: v.Script}); err != nil {
			return nil, errAt(scriptTok, fmt.Errorf("version %s: %w", v.ID, err))
		}
	}
	return v, nil
}

// parseUpstream hands the upstream line and its block to reverse_proxy's own
// parser, so an upstream version takes every reverse_proxy option (health
// checks, header_up, transport, load balancing) with the same syntax and
// error messages.
func parseUpstream(d *caddyfile.Dispenser, helper *httpcaddyfile.Helper) ([]byte, error) {
	start := d.Token()
	seg := d.NextSegment()
	if helper == nil {
		// handle_response blocks are routes, which only the HTTP Caddyfile
		// adapter (through its helper) can parse.
		for _, tok := range seg {
			if tok.Text == "handle_response" {
				return nil, errAt(start, errors.New("upstream: handle_response needs the Caddyfile adapter"))
			}
		}
	}
	rp := new(reverseproxy.Handler)
	if err := rp.UnmarshalCaddyfile(caddyfile.NewDispenser(seg)); err != nil {
		return nil, err
	}
	if helper != nil {
		if err := rp.FinalizeUnmarshalCaddyfile(*helper); err != nil {
			return nil, err
		}
	}
	if len(rp.Upstreams) == 0 && rp.DynamicUpstreamsRaw == nil {
		return nil, d.Errf("upstream: at least one upstream address is required")
	}
	var warnings []caddyconfig.Warning
	raw := caddyconfig.JSONModuleObject(rp, "handler", "reverse_proxy", &warnings)
	if len(warnings) > 0 {
		return nil, d.Errf("upstream: %s", warnings[0].Message)
	}
	return raw, nil
}

// parseDeploy parses `<id>[@<percent>%] ...` with splitter.ParseDeploy,
// the grammar the CLI uses too.
func parseDeploy(args []string) ([]DeployEntry, error) {
	entries, err := splitter.ParseDeploy(args)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	deploy := make([]DeployEntry, len(entries))
	for i, e := range entries {
		deploy[i] = DeployEntry{VersionID: e.ID, Percentage: e.Weight.Percent()}
	}
	return deploy, nil
}

// Interface guards
var _ caddyfile.Unmarshaler = (*Gradual)(nil)

// positiveDuration reads the one argument of the current subdirective, a
// positive duration, into dst.
func positiveDuration(d *caddyfile.Dispenser, dst *caddy.Duration, example string) error {
	sub := d.Val()
	var value string
	if !d.AllArgs(&value) {
		return d.ArgErr()
	}
	dur, err := caddy.ParseDuration(value)
	if err != nil || dur <= 0 {
		return d.Errf("%s: want a positive duration such as %s, got %q", sub, example, value)
	}
	*dst = caddy.Duration(dur)
	return nil
}
