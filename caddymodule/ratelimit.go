package caddymodule

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/internal/ratelimit"
	"github.com/caddy-gradual/gradual/workerhost"
)

// RateLimit is a rate-limiting binding of every script version of the
// worker, Cloudflare's `ratelimits` binding: a script calls
// `const { success } = await env.NAME.limit({ key })` and gets success
// false once key has made Limit calls in the current window. Windows are
// fixed and aligned to the clock (10:00:00, 10:00:10, ... for 10s).
//
// The counters are shared by every version of the worker and outlive
// config reloads, so a canary, an override or a reload never gives a
// client a second budget. They are local to this Caddy process and kept
// in memory for at most 65,536 keys per binding: past that the least
// recently used key is forgotten and starts a fresh window when seen
// again. Keys over 128 bytes are kept as their SHA-256.
type RateLimit struct {
	// Name is the binding's name: env.NAME in a module worker, a global
	// in a service-worker script. Letters, digits, _ and $, not starting
	// with a digit; it must not also be a var's name. Required.
	Name string `json:"name"`

	// Limit is the number of calls allowed per key in each window.
	// Required, positive.
	Limit int64 `json:"limit"`

	// Period is the window's length: 10s or 60s. Default: 60s.
	Period caddy.Duration `json:"period,omitempty"`

	// NamespaceID, as on Cloudflare, names the counters: bindings with
	// the same namespace_id share them, in any worker of this Caddy.
	// Default: counters of their own for this worker and binding name.
	NamespaceID string `json:"namespace_id,omitempty"`
}

// limiterClock, when set (by tests), is the rate limiters' clock; nil is
// the system clock, read the cheap way internal/ratelimit does.
var limiterClock func() time.Time

// limiters holds the rate limiters' counters, keyed by what shares them
// (see limiterKey), across config reloads.
var limiters = caddy.NewUsagePool()

// sharedLimiter is a limiter in the pool.
type sharedLimiter struct{ *ratelimit.Limiter }

// Destruct implements caddy.Destructor; the counters are just memory.
func (sharedLimiter) Destruct() error { return nil }

// limiterKey identifies the counters of binding rl of worker.
func limiterKey(worker string, rl *RateLimit) string {
	if rl.NamespaceID != "" {
		return "namespace\x00" + rl.NamespaceID
	}
	return "binding\x00" + worker + "\x00" + rl.Name
}

// provisionRateLimits builds the bindings of the worker's rate limits.
// Cleanup gives their counters back, also after a failed Provision.
func (g *Gradual) provisionRateLimits() error {
	var err error
	g.bindings, g.releaseLimits, err = rateLimitBindings(g.Worker, g.RateLimits)
	return err
}

// releaseRateLimits gives the bindings' counters back to the pool.
func (g *Gradual) releaseRateLimits() {
	if g.releaseLimits != nil {
		g.releaseLimits()
		g.releaseLimits = nil
	}
}

// rateLimitBindings takes the counters of rate limits rls of worker from
// the pool and returns the bindings a script gets, by name, and the
// function that gives the counters back. A version that brings rate
// limits of its own (an upload's) can take them the same way.
func rateLimitBindings(worker string, rls []*RateLimit) (map[string]workerhost.Binding, func(), error) {
	var keys []string
	release := func() {
		for _, key := range keys {
			_, _ = limiters.Delete(key)
		}
	}
	bindings := make(map[string]workerhost.Binding, len(rls))
	for _, rl := range rls {
		key := limiterKey(worker, rl)
		v, _, err := limiters.LoadOrNew(key, func() (caddy.Destructor, error) {
			return sharedLimiter{ratelimit.New(ratelimit.Options{Now: limiterClock})}, nil
		})
		if err != nil {
			release()
			return nil, nil, err
		}
		keys = append(keys, key)
		bindings[rl.Name] = workerhost.RateLimit{
			Limiter: v.(sharedLimiter).Limiter,
			Limit:   rl.Limit,
			Period:  cmp.Or(time.Duration(rl.Period), time.Minute),
		}
	}
	return bindings, release, nil
}

// checkRateLimits checks the rate-limiting bindings against each other
// and the versions' vars.
func checkRateLimits(rls []*RateLimit, versions []*Version) error {
	seen := make(map[string]bool, len(rls))
	for _, rl := range rls {
		if rl == nil {
			return errors.New("ratelimits: null entry")
		}
		if err := rl.check(); err != nil {
			return err
		}
		if seen[rl.Name] {
			return fmt.Errorf("ratelimit %s: defined more than once", rl.Name)
		}
		seen[rl.Name] = true
		if err := checkBindingName(rl.Name, versions); err != nil {
			return fmt.Errorf("ratelimit %s: %w", rl.Name, err)
		}
	}
	return nil
}

// check checks one binding on its own.
func (rl *RateLimit) check() error {
	if err := api.CheckVar(rl.Name, ""); err != nil {
		return fmt.Errorf("ratelimit: %w", err)
	}
	if rl.Limit <= 0 {
		return fmt.Errorf("ratelimit %s: limit must be positive, got %d", rl.Name, rl.Limit)
	}
	if rl.Period != 0 {
		if _, ok := ratelimit.PeriodOf(time.Duration(rl.Period)); !ok {
			return fmt.Errorf("ratelimit %s: period must be 10s or 60s, got %v", rl.Name, time.Duration(rl.Period))
		}
	}
	return nil
}

// checkBindingName reports a version's var of the binding's name.
func checkBindingName(name string, versions []*Version) error {
	for _, v := range versions {
		if v == nil {
			continue
		}
		if _, dup := v.Vars[name]; dup {
			return fmt.Errorf("version %s has a var of the same name", v.ID)
		}
	}
	return nil
}

// parseRateLimit parses `ratelimit <NAME> limit <n> [period 10s|60s]
// [namespace_id <id>]`; d is on the "ratelimit" token.
func parseRateLimit(d *caddyfile.Dispenser) (*RateLimit, error) {
	if !d.NextArg() {
		return nil, d.Errf("ratelimit: a binding name is required: ratelimit <NAME> limit <n> period 10s|60s")
	}
	rl := &RateLimit{Name: d.Val()}
	if err := api.CheckVar(rl.Name, ""); err != nil {
		return nil, d.Errf("ratelimit: %v", err)
	}
	seen := make(map[string]bool)
	for d.NextArg() {
		opt := d.Val()
		if seen[opt] {
			return nil, d.Errf("ratelimit %s: %s given more than once", rl.Name, opt)
		}
		seen[opt] = true
		if opt != "limit" && opt != "period" && opt != "namespace_id" {
			return nil, d.Errf("ratelimit %s: unknown option %q (expected limit, period or namespace_id)", rl.Name, opt)
		}
		if !d.NextArg() {
			return nil, d.Errf("ratelimit %s: %s needs a value", rl.Name, opt)
		}
		val := d.Val()
		switch opt {
		case "limit":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 {
				return nil, d.Errf("ratelimit %s: limit must be a positive integer, got %q", rl.Name, val)
			}
			rl.Limit = n
		case "period":
			dur, err := caddy.ParseDuration(val)
			if _, ok := ratelimit.PeriodOf(dur); err != nil || !ok {
				return nil, d.Errf("ratelimit %s: period must be 10s or 60s, got %q", rl.Name, val)
			}
			rl.Period = caddy.Duration(dur)
		case "namespace_id":
			rl.NamespaceID = val
		}
	}
	if rl.Limit == 0 {
		return nil, d.Errf("ratelimit %s: limit is required: ratelimit %s limit <n> period 10s|60s", rl.Name, rl.Name)
	}
	return rl, nil
}
