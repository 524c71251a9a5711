package workerhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestExceptionStackIsSourceMapped(t *testing.T) {
	for _, c := range []struct{ entry, url, body, stack, name, message string }{
		{"testdata/exception.js", "http://x/", "{}", "testdata/exception.js:5:", "TypeError", "order has no id"},
		{"testdata/ts/index.ts", "http://x/?n=-1", "", "testdata/ts/lib/greet.ts:13:", "RangeError", "not positive: -1"},
	} {
		core, logs := observer.New(zap.DebugLevel)
		w, err := New(Config{Worker: "shop", VersionID: "v9", Tag: "t9", Entry: c.entry, PoolSize: 1, Logger: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		_, _, res, _ := do(t, w, "POST", c.url, c.body)
		w.Close()
		if len(res.Exceptions) != 1 || !strings.Contains(res.Exceptions[0].Stack, c.stack) {
			t.Fatalf("%s: exceptions %+v, want a stack naming %s", c.entry, res.Exceptions, c.stack)
		}
		if e := res.Exceptions[0]; e.Name != c.name || e.Message != c.message {
			t.Errorf("exception = %+v", e)
		}
		entries := logs.FilterMessage("uncaught exception").All()
		if len(entries) != 1 {
			t.Fatalf("logged %d exceptions", len(entries))
		}
		f := entries[0].ContextMap()
		if f["worker"] != "shop" || f["version_id"] != "v9" || f["version_tag"] != "t9" || !strings.Contains(f["stack"].(string), c.stack) {
			t.Errorf("log fields = %v", f)
		}
	}
}

func TestConsoleLogs(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	w := newInline(t, `
console.info("loading");
export default { fetch() {
	console.log("plain", 1, true, null, undefined, [1, "a"], {k: {n: 2}});
	console.warn("%s is %d years", "Ann", 42.5);
	console.error(new Error("boom"));
	console.debug("dbg");
	return new Response("ok");
} }`, func(c *Config) { c.Logger = zap.New(core) })
	_, _, res, _ := do(t, w, "GET", "http://x/", "")
	want := []LogLine{
		{Level: "log", Message: `plain 1 true null undefined [ 1, "a" ] { k: { n: 2 } }`},
		{Level: "warn", Message: "Ann is 42.5 years"},
		{Level: "error", Message: "Error: boom\n\tat fetch (worker.js:6:16(27))\n"},
		{Level: "debug", Message: "dbg"},
	}
	if len(res.Logs) != len(want) {
		t.Fatalf("logs = %+v", res.Logs)
	}
	for i, l := range want {
		if res.Logs[i].Level != l.Level || (res.Logs[i].Message != l.Message && !(l.Level == "error" && strings.HasPrefix(res.Logs[i].Message, "Error: boom"))) {
			t.Errorf("log %d = %+v, want %+v", i, res.Logs[i], l)
		}
	}
	all := logs.All()
	if len(all) != 5 || all[0].Message != "loading" {
		t.Fatalf("zap got %d entries: %+v", len(all), all)
	}
	if all[2].Level != zap.WarnLevel || all[2].ContextMap()["version_id"] != "v1" || all[2].ContextMap()["console"] != "warn" {
		t.Errorf("warn entry = %+v", all[2])
	}
}

func TestCPULimitInCallbacks(t *testing.T) {
	w := newInline(t, `export default { async fetch(req) {
		if (new URL(req.url).pathname === "/ok") return new Response("ok");
		await new Promise((r) => setTimeout(r, 1));
		for (;;) {}
	} }`, func(c *Config) { c.CPULimit = 100 * time.Millisecond })
	for range 3 {
		resp, _, res, _ := do(t, w, "GET", "http://x/", "")
		if resp.StatusCode != 503 || res.Outcome != OutcomeExceededCPU || res.CPUTime < 100*time.Millisecond {
			t.Fatalf("status %d, result %+v", resp.StatusCode, res)
		}
		if resp, body, _, _ := do(t, w, "GET", "http://x/ok", ""); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("runtime not reusable after interrupt: %d %q", resp.StatusCode, body)
		}
	}
}

// TestInterruptedRuntimeReused checks that a runtime interrupted in
// synchronous code goes back to the pool as it is.
func TestInterruptedRuntimeReused(t *testing.T) {
	w := newInline(t, `export default { fetch(req) { if (req.method === "POST") for (;;) {} return new Response("ok") } }`,
		func(c *Config) { c.CPULimit = 100 * time.Millisecond })
	rt := <-w.pool
	w.pool <- rt
	if resp, _, res, _ := do(t, w, "POST", "http://x/", "x"); resp.StatusCode != 503 || res.Outcome != OutcomeExceededCPU {
		t.Fatalf("%d %+v", resp.StatusCode, res)
	}
	if _, body, _, _ := do(t, w, "GET", "http://x/", ""); body != "ok" {
		t.Fatal(body)
	}
	if again := <-w.pool; again != rt {
		t.Fatal("the interrupted runtime was replaced")
	} else {
		w.pool <- again
	}
}

func TestClientCancel(t *testing.T) {
	up := newUpstream(t)
	w := newInline(t, `export default { async fetch(req, env) {
		if (new URL(req.url).pathname === "/spin") { for (;;) {} }
		if (new URL(req.url).pathname === "/ok") return new Response("ok");
		await fetch(env.UPSTREAM + "/slow");
		return new Response("late");
	} }`, func(c *Config) {
		c.Vars = map[string]string{"UPSTREAM": up.URL}
		c.CPULimit = 10 * time.Second
	})
	for _, path := range []string{"/wait", "/spin"} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		r := httptest.NewRequest("GET", "http://x"+path, nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		start := time.Now()
		res, err := w.Serve(rec, r)
		cancel()
		if err != nil || res.Outcome != OutcomeCanceled || time.Since(start) > time.Second {
			t.Fatalf("%s: result %+v err %v after %v", path, res, err, time.Since(start))
		}
		if _, body, _, _ := do(t, w, "GET", "http://x/ok", ""); body != "ok" {
			t.Fatalf("runtime not reusable after cancel: %q", body)
		}
	}
}

func TestPoolExhausted(t *testing.T) {
	// The first request holds the pool's only runtime, awaiting an
	// upstream that answers when the test says so: on a loaded machine a
	// fixed sleep could end before it took the runtime, and the second
	// request was then served instead of refused.
	up := newHeldUpstream(t)
	w := newInline(t, `export default { async fetch(req, env) {
		if (new URL(req.url).pathname === "/slow") await fetch(env.UPSTREAM + "/slow");
		return new Response("done");
	} }`, func(c *Config) {
		c.Vars = map[string]string{"UPSTREAM": up.URL}
		c.QueueTimeout = 50 * time.Millisecond
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Serve(httptest.NewRecorder(), httptest.NewRequest("GET", "http://x/slow", nil).WithContext(ctx))
	}()
	up.waitArrived(t)
	resp, _, res, err := do(t, w, "GET", "http://x/", "")
	if resp.StatusCode != 503 || res.Outcome != OutcomeOverloaded || err == nil {
		t.Fatalf("status %d, result %+v, err %v", resp.StatusCode, res, err)
	}
	cancel()
	<-done
	if _, body, _, _ := do(t, w, "GET", "http://x/", ""); body != "done" {
		t.Fatalf("body %q", body)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"no handler", `console.log("nothing")`, "no fetch handler"},
		{"throws", "\nthrow new Error('bad start')", "worker.js:2:"},
		{"global fetch", `fetch("http://example.com"); export default { fetch() {} }`, "global scope"},
		{"global timer", `setTimeout(() => {}, 1); export default { fetch() {} }`, "global scope"},
		{"startup loop", `for (;;) {} export default { fetch() {} }`, "CPU time limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Source: c.src, PoolSize: 1})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	w := newInline(t, `export default { async fetch(req) { return new Response((await req.text()).length + "") } }`,
		func(c *Config) { c.MaxBodyBytes = 10 })
	if resp, body, _, _ := do(t, w, "POST", "http://x/", "0123456789"); resp.StatusCode != 200 || body != "10" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if resp, _, res, _ := do(t, w, "POST", "http://x/", "0123456789a"); resp.StatusCode != 413 || res.Outcome != OutcomeException {
		t.Fatalf("%d %+v", resp.StatusCode, res)
	}
}

func TestUnhandledRejectionLogged(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	w := newInline(t, `export default { fetch() { Promise.reject(new RangeError("lost")); return new Response("ok") } }`,
		func(c *Config) { c.Logger = zap.New(core) })
	if _, body, _, _ := do(t, w, "GET", "http://x/", ""); body != "ok" {
		t.Fatal(body)
	}
	e := logs.FilterMessage("unhandled promise rejection").All()
	if len(e) != 1 || e[0].ContextMap()["name"] != "RangeError" {
		t.Fatalf("logs = %+v", logs.All())
	}
}

func TestStreamFailureAborts(t *testing.T) {
	w := newInline(t, `export default { fetch() {
		let n = 0;
		return new Response(new ReadableStream({ pull(c) { if (++n > 2) throw new Error("broken source"); c.enqueue(new TextEncoder().encode("x")); } }));
	} }`)
	resp, body, res, err := do(t, w, "GET", "http://x/", "")
	if !errors.Is(err, ErrResponseAborted) || resp.StatusCode != 200 || body != "xx" || res.Outcome != OutcomeException {
		t.Fatalf("status %d body %q result %+v err %v", resp.StatusCode, body, res, err)
	}
}

func TestServeAfterClose(t *testing.T) {
	w := newInline(t, `export default { fetch() { return new Response("ok") } }`)
	w.Close()
	resp, _, _, err := do(t, w, "GET", "http://x/", "")
	if resp.StatusCode != 503 || !errors.Is(err, ErrClosed) {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
}

func TestConcurrentRequests(t *testing.T) {
	w := newInline(t, `let n = 0; export default { async fetch(req) {
		await new Promise((r) => setTimeout(r, 1));
		return Response.json({ n: ++n, body: await req.text() });
	} }`, func(c *Config) {
		c.PoolSize = 3
		// The limit counts wall-clock time, which -race on a busy machine
		// can stretch past the default; this test is not about the limit.
		c.CPULimit = 5 * time.Second
	})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body, _, _ := do(t, w, "POST", "http://x/", fmt.Sprint("req", i))
			if resp.StatusCode != 200 || !strings.Contains(body, fmt.Sprintf(`"body":"req%d"`, i)) {
				t.Errorf("%d %q", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
}

func TestFetchHeadersAndRedirects(t *testing.T) {
	var mu sync.Mutex
	var got []http.Header
	mux := http.NewServeMux()
	mux.HandleFunc("/h", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
	})
	mux.HandleFunc("/r", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/h", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	w := newInline(t, `export default { async fetch(req, env) {
		const a = await fetch(env.U + "/h", { headers: { "x-custom": "1" }, cf: { cacheEverything: true } });
		const b = await fetch(env.U + "/r");
		const c = await fetch(env.U + "/r", { redirect: "manual" });
		let immutable = "mutable";
		try { a.headers.set("x", "y"); } catch (e) { immutable = e.name; }
		return Response.json({ cookies: a.headers.getSetCookie(), redirected: b.redirected, url: b.url.endsWith("/h"),
			manual: c.status, location: c.headers.get("location"), immutable });
	} }`, func(c *Config) { c.Vars = map[string]string{"U": srv.URL} })
	_, body, res, _ := do(t, w, "GET", "http://x/", "")
	want := `{"cookies":["a=1","b=2"],"redirected":true,"url":true,"manual":302,"location":"/h","immutable":"TypeError"}`
	if body != want {
		t.Fatalf("body %s (%+v)", body, res.Exceptions)
	}
	if len(got) != 2 || got[0].Get("X-Custom") != "1" {
		t.Fatalf("upstream saw %v", got)
	}
	for _, h := range got {
		if len(h.Values("User-Agent")) != 0 || h.Get("Accept-Encoding") != "" || h.Get("Referer") != "" {
			t.Fatalf("upstream saw headers the script did not set: %v", h)
		}
	}
}

// TestBindingsAsGlobals checks that, as in workerd, a service-worker
// script sees its bindings as globals from its first line, and a module
// worker only in env.
func TestBindingsAsGlobals(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"service worker", `const greeting = GREETING;
			addEventListener("fetch", (e) => e.respondWith(new Response(greeting + " " + CF_VERSION_METADATA.id + " " + e.request.headers.get("host"))));`,
			"hi v1 example.com"},
		{"module", `export default { fetch(req, env) { return new Response(typeof GREETING + " " + typeof CF_VERSION_METADATA + " " + env.GREETING) } }`,
			"undefined undefined hi"},
	} {
		w := newInline(t, c.src, func(cfg *Config) { cfg.Vars = map[string]string{"GREETING": "hi"} })
		if _, body, res, err := do(t, w, "GET", "http://example.com/", ""); body != c.want {
			t.Errorf("%s: body %q, want %q (%v %+v)", c.name, body, c.want, err, res.Exceptions)
		}
	}
}

// TestTimersRunInOrder checks that timers due at the same time run in the
// order they were set, as in browsers and workerd, and earlier ones first.
func TestTimersRunInOrder(t *testing.T) {
	w := newInline(t, `export default { async fetch() {
		const out = [];
		await new Promise((resolve) => {
			for (let i = 0; i < 300; i++) setTimeout(() => { out.push(i); if (out.length === 300) resolve(); }, i % 3);
		});
		return Response.json(out);
	} }`)
	_, body, res, _ := do(t, w, "GET", "http://example.com/", "")
	var got []int
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 300 {
		t.Fatalf("body %q (%+v)", body, res.Exceptions)
	}
	last := map[int]int{0: -1, 1: -1, 2: -1}
	for _, v := range got {
		if v < last[v%3] {
			t.Fatalf("timer %d (%dms) ran after timer %d, set later with the same delay: %v", v, v%3, last[v%3], got)
		}
		last[v%3] = v
	}
}

// TestSynchronousResponse covers the fast path for a Response the handler
// returns without a promise: promise jobs the handler queued still run
// before the response is read, as in workerd, and a synchronous throw is
// an uncaught exception.
func TestSynchronousResponse(t *testing.T) {
	for _, c := range []struct {
		name, src    string
		status       int
		body, header string
	}{
		{"late header", `export default { fetch() {
			const r = new Response("x");
			Promise.resolve().then(() => r.headers.set("x-late", "1"));
			return r;
		} }`, 200, "x", "1"},
		{"throw", `export default { fetch() { throw new Error("boom") } }`, 500, "worker threw an exception\n", ""},
		{"service worker", `addEventListener("fetch", (e) => {
			const r = new Response("sw");
			e.respondWith(r);
			queueMicrotask(() => r.headers.set("x-late", "1"));
		})`, 200, "sw", "1"},
		{"used body", `const r = new Response("once"); export default { fetch() { return r } }`, 200, "once", ""},
		{"not a response", `export default { fetch() { return "text" } }`, 500, "worker did not return a Response\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newInline(t, c.src)
			resp, body, _, _ := do(t, w, "GET", "http://x/", "")
			if resp.StatusCode != c.status || body != c.body || resp.Header.Get("X-Late") != c.header {
				t.Fatalf("%d %q x-late %q", resp.StatusCode, body, resp.Header.Get("X-Late"))
			}
			if c.name == "used body" {
				resp, _, res, _ := do(t, w, "GET", "http://x/", "")
				if resp.StatusCode != 500 || res.Outcome != OutcomeException {
					t.Fatalf("second use: %d %+v", resp.StatusCode, res)
				}
			}
		})
	}
}
