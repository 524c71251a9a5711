package workerhost

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/caddy-gradual/gradual/internal/ratelimit"
)

// countingLimiter allows limit calls per key and period, with no windows.
type countingLimiter struct {
	mu     sync.Mutex
	counts map[string]int64
	calls  []string
}

func newCountingLimiter() *countingLimiter { return &countingLimiter{counts: map[string]int64{}} }

func (l *countingLimiter) Limit(key string, limit int64, period int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := key + "/" + time.Duration(period*int(time.Second)).String()
	l.calls = append(l.calls, k)
	if l.counts[k] >= limit {
		return false
	}
	l.counts[k]++
	return true
}

func withRateLimit(l RateLimiter, limit int64, period time.Duration) func(*Config) {
	return func(c *Config) {
		c.Bindings = map[string]Binding{"LIMITER": RateLimit{Limiter: l, Limit: limit, Period: period}}
		// Generous: the race detector on two busy cores is slow.
		c.CPULimit = time.Second
	}
}

func TestRateLimitBinding(t *testing.T) {
	l := newCountingLimiter()
	w := newInline(t, `export default { async fetch(req, env) {
	const key = new URL(req.url).searchParams.get("key");
	const r = await env.LIMITER.limit({ key });
	return new Response(JSON.stringify(r) + " " + Object.keys(r) + " " + typeof env.LIMITER.limit);
} }`, withRateLimit(l, 2, 10*time.Second))
	for i, want := range []string{`{"success":true}`, `{"success":true}`, `{"success":false}`, `{"success":false}`} {
		_, body, res, err := do(t, w, "GET", "http://x/?key=a", "")
		if err != nil || res.Outcome != OutcomeOK {
			t.Fatalf("call %d: %v %+v", i, err, res)
		}
		if body != want+" success function" {
			t.Errorf("call %d: %q, want %s", i, body, want)
		}
	}
	if _, body, _, _ := do(t, w, "GET", "http://x/?key=b", ""); !strings.HasPrefix(body, `{"success":true}`) {
		t.Errorf("another key: %q", body)
	}
	if got := strings.Join(l.calls, " "); got != "a/10s a/10s a/10s a/10s b/10s" {
		t.Errorf("limiter calls: %s", got)
	}
}

func TestRateLimitBindingAsGlobal(t *testing.T) {
	l := newCountingLimiter()
	w := newInline(t, `const bound = typeof LIMITER;
addEventListener("fetch", (e) => e.respondWith(LIMITER.limit({ key: "k" }).then((r) => new Response(bound + " " + r.success))));`,
		withRateLimit(l, 1, 0))
	for i, want := range []string{"object true", "object false"} {
		if _, body, _, _ := do(t, w, "GET", "http://x/", ""); body != want {
			t.Errorf("call %d: %q, want %q", i, body, want)
		}
	}
	if got := strings.Join(l.calls, " "); got != "k/1m0s k/1m0s" {
		t.Errorf("limiter calls: %s (the period defaults to 60s)", got)
	}
}

// TestRateLimitArguments pins what limit() does with each argument of
// testdata/ratelimit/args.js: what workerd does (see the differential test
// in integration/), read from its implementation.
func TestRateLimitArguments(t *testing.T) {
	w, err := New(Config{Entry: "testdata/ratelimit/args.js", PoolSize: 1, CPULimit: 5 * time.Second,
		Bindings: map[string]Binding{"LIMITER": RateLimit{Limiter: newCountingLimiter(), Limit: 3, Period: time.Minute}}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, body, res, err := do(t, w, "GET", "http://x/?p=t1-", "")
	if err != nil || res.Outcome != OutcomeOK {
		t.Fatalf("%v %+v %s", err, res, body)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	ok := map[string]any{"success": true}
	refused := map[string]any{"success": false}
	invalid := "Error: invalid rate limit options"
	want := map[string]any{
		"no argument":                            invalid,
		"undefined":                              invalid,
		"null":                                   invalid,
		"string":                                 invalid,
		"number":                                 invalid,
		"boolean":                                invalid,
		"function":                               invalid,
		"empty object":                           ok,
		"empty array":                            ok,
		"array":                                  "Error: bad rate limit options: [0]",
		"extra keys":                             "Error: bad rate limit options: [extra,other]",
		"key number":                             "Error: invalid key: 1",
		"key null":                               "Error: invalid key: null",
		"key object":                             "Error: invalid key: [object Object]",
		"key String object":                      "Error: invalid key: s",
		"key symbol":                             "TypeError: Cannot convert a Symbol value to a string",
		"key undefined":                          ok,
		"key inherited":                          ok,
		"key with a hidden extra":                ok,
		"symbol-keyed extra":                     ok,
		"limit string":                           "Error: limit must be a number: 5",
		"limit null":                             "Error: limit must be a number: null",
		"limit object":                           "Error: limit must be a number: [object Object]",
		"period string":                          "Error: period must be a number: 10",
		"period 30":                              "Error: unsupported period: 30",
		"period 10.5":                            "Error: unsupported period: 10.5",
		"period -0":                              "Error: unsupported period: 0",
		"period NaN":                             "Error: unsupported period: NaN",
		"period 10":                              ok,
		"period 60.0":                            ok,
		"first of three":                         ok,
		"second of three":                        ok,
		"third of three":                         ok,
		"fourth of three":                        refused,
		"other key":                              ok,
		"limit 0":                                refused,
		"limit -1":                               refused,
		"limit NaN":                              refused,
		"limit Infinity":                         refused,
		"limit 1.5 once":                         ok,
		"limit 1.5 twice":                        ok,
		"limit 1.5 thrice":                       refused,
		"limit 5 after 4 calls of 3":             ok,
		"two arguments":                          ok,
		"a throwing limit getter":                "RangeError: limit read",
		"a throwing key getter and an extra key": "Error: bad rate limit options: [extra]",
		"a key whose toString throws":            "RangeError: toString called",
		"called on undefined":                    "TypeError: Cannot read properties of undefined (reading 'limitVal')",
		"called on undefined with every option":  "TypeError: Cannot read properties of undefined (reading 'fetcher')",
		"called on another object":               "Error: limit must be a number: undefined",
		"called on another object with every option": "TypeError: Cannot read properties of undefined (reading 'fetch')",
		"lone surrogate once":                        ok,
		"lone surrogate twice":                       refused,
		"another lone surrogate":                     ok,
		"a lone low surrogate":                       ok,
		"U+FFFD itself":                              ok,
		"a surrogate pair":                           ok,
		"the same pair again":                        refused,
		"empty key":                                  refused, // the fourth call with key ""
	}
	shape := got[len(got)-1]
	if v, _ := json.Marshal(shape["value"]); shape["name"] != "shape" || string(v) != `{"class":"Ratelimit","length":1,"limit":"function","string":"[object Object]","type":"object"}` {
		t.Errorf("the binding's shape: %v", shape)
	}
	got = got[:len(got)-1]
	if len(got) != len(want) {
		t.Errorf("%d cases, want %d", len(got), len(want))
	}
	for _, g := range got {
		name := g["name"].(string)
		w, known := want[name]
		if !known {
			t.Errorf("%s: unexpected case", name)
			continue
		}
		if _, sync := g["sync"]; sync {
			t.Errorf("%s: threw synchronously (%v); limit() must always return a promise", name, g["sync"])
			continue
		}
		switch w := w.(type) {
		case string:
			if g["rejected"] != w {
				t.Errorf("%s: %v, want a rejection %q", name, g, w)
			}
		case map[string]any:
			v, _ := g["value"].(map[string]any)
			if v == nil || v["success"] != w["success"] || len(v) != 1 {
				t.Errorf("%s: %v, want %v", name, g, w)
			}
		}
	}
}

func TestRateLimitOutsideRequest(t *testing.T) {
	w := newInline(t, `let early;
LIMITER.limit({ key: "k" }).catch((e) => { early = e.message; });
addEventListener("fetch", (e) => e.respondWith(new Response(early)));`, withRateLimit(newCountingLimiter(), 1, 0))
	if _, body, _, _ := do(t, w, "GET", "http://x/", ""); !strings.Contains(body, "global scope") {
		t.Errorf("limit() at the top level: %q, want a global-scope error", body)
	}
}

func TestRateLimitBadConfig(t *testing.T) {
	l := newCountingLimiter()
	for _, c := range []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"no limiter", withRateLimit(nil, 1, 0), "without a limiter"},
		{"zero limit", withRateLimit(l, 0, 0), "limit must be positive"},
		{"period 30s", withRateLimit(l, 1, 30*time.Second), "period must be 10s or 60s"},
		{"name taken by a var", func(c *Config) {
			withRateLimit(l, 1, 0)(c)
			c.Vars = map[string]string{"LIMITER": "x"}
		}, "binding LIMITER is also a var"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Entry: "worker.js", Source: `export default { fetch() { return new Response("") } }`, PoolSize: 1}
			c.cfg(&cfg)
			w, err := New(cfg)
			if err == nil {
				w.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLimitOf(t *testing.T) {
	for f, want := range map[float64]int64{
		1: 1, 2.5: 3, 0.1: 1, 0: 0, -3: 0, 1e300: 1<<63 - 1,
	} {
		if got := limitOf(f); got != want {
			t.Errorf("limitOf(%v) = %d, want %d", f, got, want)
		}
	}
}

type nopLimiter struct{}

func (nopLimiter) Limit(string, int64, int) bool { return true }

// BenchmarkRateLimitCheck measures the Go side of limit() on a hit: the
// native check with its argument conversions and the count in
// internal/ratelimit's Limiter, which Caddy uses.
func BenchmarkRateLimitCheck(b *testing.B) {
	w := newInline(b, `export default { fetch() { return new Response("") } }`)
	rt := firstRuntime(w)
	rt.exec(func() {
		rt.ex = &exchange{}
		defer func() { rt.ex = nil }()
		check := rt.rateLimitCheck(ratelimit.New(ratelimit.Options{}))
		key, err := rt.vm.RunString(`"client-203.0.113.7"`) // a JavaScript string, as scripts pass
		if err != nil {
			b.Fatal(err)
		}
		call := goja.FunctionCall{Arguments: []goja.Value{key, rt.vm.ToValue(1 << 50), rt.vm.ToValue(60)}}
		b.ReportAllocs()
		for b.Loop() {
			check(call)
		}
	})
}

// BenchmarkRateLimitRequest measures a whole request that awaits
// env.LIMITER.limit({key}).
func BenchmarkRateLimitRequest(b *testing.B) {
	w := newInline(b, `export default { async fetch(req, env) {
	const { success } = await env.LIMITER.limit({ key: "client" });
	return new Response(success ? "ok" : "no");
} }`, withRateLimit(nopLimiter{}, 100, 0))
	b.ReportAllocs()
	for b.Loop() {
		do(b, w, "GET", "http://x/", "")
	}
}

// TestJSONBinding checks a json binding as workerd has it: env.NAME is the
// parsed value, a plain mutable object, the same one on every request of
// a runtime; a service-worker script has it as a global.
func TestJSONBinding(t *testing.T) {
	withJSON := func(c *Config) {
		c.Bindings = map[string]Binding{"CONF": JSON(`{"a":{"b":[1,2]},"s":"x\u00e9"}`), "N": JSON(`42`), "NIL": JSON(`null`)}
		c.Vars = map[string]string{"V": "v"}
		c.PoolSize = 1
	}
	w := newInline(t, `export default { async fetch(req, env) {
	const c = env.CONF;
	const out = [Object.getPrototypeOf(c) === Object.prototype, Object.isFrozen(c), Array.isArray(c.a.b), c.a.b.length, c.s, env.N, typeof env.N, env.NIL, env.V];
	c.a.b.push(3);
	return new Response(JSON.stringify(out));
} }`, withJSON)
	for i, want := range []string{`[true,false,true,2,"xé",42,"number",null,"v"]`, `[true,false,true,3,"xé",42,"number",null,"v"]`} {
		_, body, res, err := do(t, w, "GET", "http://x/", "")
		if err != nil || res.Outcome != OutcomeOK || body != want {
			t.Fatalf("request %d: %q %v %+v, want %s", i, body, err, res, want)
		}
	}
	sw := newInline(t, `addEventListener("fetch", e => e.respondWith(new Response(JSON.stringify(CONF.a))));`, withJSON)
	if _, body, _, err := do(t, sw, "GET", "http://x/", ""); err != nil || body != `{"b":[1,2]}` {
		t.Errorf("service worker: %q %v", body, err)
	}
	for _, bad := range []Binding{JSON(`{`), JSON(``)} {
		cfg := Config{Worker: "w", Entry: "worker.js", Source: `export default { fetch() { return new Response("") } }`, Bindings: map[string]Binding{"B": bad}}
		if err := Check(cfg); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
			t.Errorf("%q: %v, want not valid JSON", bad, err)
		}
	}
}
