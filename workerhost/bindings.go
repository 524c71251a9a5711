package workerhost

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// A Binding is an env binding other than a plain-text var: a value the
// host builds in each runtime, env.NAME in a module worker and a global in
// a service-worker script: RateLimit, Service or JSON.
type Binding interface {
	// String describes the binding's settings, so that a caller can tell
	// whether two configs give a script the same bindings.
	String() string
	// value builds the binding in a runtime.
	value(b *binder, name string) (goja.Value, error)
}

// RateLimiter counts calls per key in fixed windows aligned to the clock.
// internal/ratelimit's Limiter is one, through a small adapter.
type RateLimiter interface {
	// Limit counts a call for key in the current window of period seconds
	// (10 or 60) and reports whether it is within limit (a limit of 0
	// allows nothing). A refused call is not counted. It is called on a
	// runtime's goroutine, concurrently from many runtimes, and must not
	// block for long.
	Limit(key string, limit int64, period int) bool
}

// RateLimit is Cloudflare's rate-limiting binding:
// `const { success } = await env.NAME.limit({ key })`. Calls are counted
// per key by Limiter; give every version of a worker the same Limiter so
// that they share one budget.
//
// A script may pass its own limit and period with the key, as workerd
// allows: limit({key, limit: 10, period: 60}). The options are checked as
// workerd checks them, with its error messages (see js/ratelimit.js). A
// limit that is not a finite number allows nothing, as in workerd, whose
// emulation sends it as JSON null; a fractional limit counts as the next
// integer.
type RateLimit struct {
	// Limiter counts the calls. Required.
	Limiter RateLimiter
	// Limit is the number of calls allowed per key and window. It must
	// be positive.
	Limit int64
	// Period is the window: 10 or 60 seconds. Default 60 seconds.
	Period time.Duration
}

// String implements Binding.
func (b RateLimit) String() string {
	return fmt.Sprintf("ratelimit(limit=%d, period=%v, limiter=%p)", b.Limit, b.Period, b.Limiter)
}

var (
	//go:embed js/ratelimit.js
	rateLimitSource  string
	rateLimitProgram = goja.MustCompile("gradual:ratelimit.js", rateLimitSource, true)
)

// JSON is Cloudflare's json binding: env.NAME is the value of this JSON
// text. As in workerd, each runtime gets its own copy, parsed once when
// the runtime starts, neither frozen nor shared: a script that changes it
// changes it for the later requests that runtime serves, and for no other
// runtime.
type JSON string

// String implements Binding.
func (b JSON) String() string { return "json(" + string(b) + ")" }

func (b JSON) value(bd *binder, name string) (goja.Value, error) {
	if !json.Valid([]byte(b)) {
		return nil, fmt.Errorf("binding %s: not valid JSON", name)
	}
	if bd.parseJSON == nil {
		// The runtime's own JSON.parse, before any script runs.
		o := bd.rt.vm.Get("JSON").ToObject(bd.rt.vm)
		bd.parseJSON, _ = goja.AssertFunction(o.Get("parse"))
	}
	return bd.parseJSON(goja.Undefined(), bd.rt.vm.ToValue(string(b)))
}

// binder builds a runtime's bindings; it runs each kind's JavaScript
// once per runtime.
type binder struct {
	rt            *jsRuntime
	makeRateLimit goja.Callable
	makeService   goja.Callable
	parseJSON     goja.Callable
}

func (b RateLimit) value(bd *binder, name string) (goja.Value, error) {
	period := b.Period
	if period == 0 {
		period = time.Minute
	}
	switch {
	case b.Limiter == nil:
		return nil, fmt.Errorf("binding %s: rate limit without a limiter", name)
	case b.Limit <= 0:
		return nil, fmt.Errorf("binding %s: limit must be positive, not %d", name, b.Limit)
	case period != 10*time.Second && period != time.Minute:
		return nil, fmt.Errorf("binding %s: period must be 10s or 60s, not %v", name, period)
	}
	rt := bd.rt
	if bd.makeRateLimit == nil {
		v, err := rt.vm.RunProgram(rateLimitProgram)
		if err != nil {
			return nil, err
		}
		setup, _ := goja.AssertFunction(v)
		if v, err = setup(goja.Undefined()); err != nil {
			return nil, err
		}
		bd.makeRateLimit, _ = goja.AssertFunction(v)
	}
	return bd.makeRateLimit(goja.Undefined(), rt.vm.ToValue(rt.rateLimitCheck(b.Limiter)),
		rt.vm.ToValue(b.Limit), rt.vm.ToValue(int(period/time.Second)))
}

// rateLimitCheck returns the native side of limit(): check(key, limit,
// period), with arguments ratelimit.js has checked. It allocates nothing
// for an ASCII key.
func (rt *jsRuntime) rateLimitCheck(l RateLimiter) func(goja.FunctionCall) goja.Value {
	return func(c goja.FunctionCall) goja.Value {
		rt.requestOnly("rate limit binding limit()")
		ok := l.Limit(limitKey(c.Argument(0)), limitOf(c.Argument(1).ToFloat()), int(c.Argument(2).ToInteger()))
		return rt.vm.ToValue(ok)
	}
}

// limitKey returns a script's key as a Go string that tells apart every
// JavaScript string: goja's String turns each lone surrogate into U+FFFD,
// so such keys are spelled in WTF-8 (a lone surrogate as its own 3-byte
// sequence) instead, as workerd, which sends keys as JSON, keeps them
// apart.
func limitKey(v goja.Value) string {
	key := v.String()
	if !strings.Contains(key, "\uFFFD") {
		return key
	}
	s, ok := v.(goja.String)
	if !ok {
		return key
	}
	b := make([]byte, 0, len(key))
	for i, n := 0, s.Length(); i < n; i++ {
		c := rune(s.CharAt(i))
		if utf16.IsSurrogate(c) && i+1 < n {
			if r := utf16.DecodeRune(c, rune(s.CharAt(i+1))); r != utf8.RuneError {
				b = utf8.AppendRune(b, r)
				i++
				continue
			}
		}
		if utf16.IsSurrogate(c) {
			b = append(b, byte(0xE0|c>>12), byte(0x80|(c>>6)&0x3F), byte(0x80|c&0x3F))
			continue
		}
		b = utf8.AppendRune(b, c)
	}
	return string(b)
}

// limitOf maps a script's limit to a count: NaN and infinities allow
// nothing (workerd's emulation sends them as JSON null, which compares as
// 0), a fraction counts as the next integer, as a comparison count >= limit
// does.
func limitOf(f float64) int64 {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0) || f <= 0:
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(math.Ceil(f))
}

// envValues returns the values of the script's env, by name: its vars and
// its bindings. A name given as both is an error.
func (rt *jsRuntime) envValues() (map[string]goja.Value, error) {
	cfg := &rt.w.cfg
	env := make(map[string]goja.Value, len(cfg.Vars)+len(cfg.Bindings))
	bd := &binder{rt: rt}
	for k, v := range cfg.Vars {
		env[k] = rt.vm.ToValue(v)
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Bindings)) {
		if _, dup := cfg.Vars[name]; dup {
			return nil, fmt.Errorf("binding %s is also a var", name)
		}
		v, err := cfg.Bindings[name].value(bd, name)
		if err != nil {
			return nil, err
		}
		env[name] = v
	}
	return env, nil
}
