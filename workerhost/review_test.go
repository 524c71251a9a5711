package workerhost

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// gateCtx is a request context whose first Done call blocks until
// release: Serve first calls it when it sets up the client-cancel
// callback, after it has chosen a runtime and before it registers the
// request, which lets a test hold a request in that window.
type gateCtx struct {
	context.Context
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newGateCtx() *gateCtx {
	return &gateCtx{Context: context.Background(), entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateCtx) Done() <-chan struct{} {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return nil
}

// TestReviewCloseRacesLateRequest: a request that chose its runtime just
// before Close ended the grace, and registers just after, must still get
// an answer: Close must not stop the loop under it.
func TestReviewCloseRacesLateRequest(t *testing.T) {
	old := closeTimeout
	closeTimeout = 200 * time.Millisecond
	defer func() { closeTimeout = old }()
	w, err := New(Config{Worker: "test", VersionID: "v1", Entry: "worker.js", PoolSize: 1,
		Source: `export default { async fetch() {
			await new Promise((r) => setTimeout(r, 10000));
			return new Response("late");
		} };`})
	if err != nil {
		t.Fatal(err)
	}
	g := newGateCtx()
	served := make(chan Result, 1)
	go func() {
		r := httptest.NewRequest("GET", "http://x/", nil).WithContext(g)
		res, _ := w.Serve(httptest.NewRecorder(), r)
		served <- res
	}()
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve never set up its client-cancel callback")
	}
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	// Let Close end its grace (nothing is registered) and stop the loops,
	// or block trying.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if w.mu.TryLock() {
			c := w.closed
			w.mu.Unlock()
			if c {
				break
			}
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(g.release)
	select {
	case res := <-served:
		t.Logf("late request: %+v", res)
	case <-time.After(5 * time.Second):
		t.Error("Serve of a request that raced Close never returned")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("Close never returned")
	}
}

// TestReviewCPUTimeNotDoubled: the CPU time of a request whose last turn
// ends in an exception is charged once, not twice: it cannot exceed the
// wall-clock time of the request, as one thread runs its JavaScript.
func TestReviewCPUTimeNotDoubled(t *testing.T) {
	w := newInline(t, `export default { fetch(req) {
		const end = Date.now() + 150;
		while (Date.now() < end) {}
		throw new Error("boom");
	} };`)
	resp, _, res, _ := do(t, w, "GET", "http://x/", "")
	if resp.StatusCode != 500 || res.Outcome != OutcomeException {
		t.Fatalf("%d %+v", resp.StatusCode, res)
	}
	t.Logf("CPU %v, wall %v", res.CPUTime, res.WallTime)
	if res.CPUTime > res.WallTime {
		t.Fatalf("charged %v of CPU time in %v of wall-clock time", res.CPUTime, res.WallTime)
	}
}

// TestReviewInterruptSparesOthers: one request of a runtime hits the CPU
// limit while others await a timer and an upstream on the same runtime:
// they must still be answered.
func TestReviewInterruptSparesOthers(t *testing.T) {
	up := newUpstream(t)
	w := newInline(t, `export default { async fetch(req, env) {
		const path = new URL(req.url).pathname;
		if (path === "/spin") for (;;) {}
		if (path === "/timer") await new Promise((r) => setTimeout(r, 300));
		if (path === "/fetch") await (await fetch(env.UPSTREAM + "/slow")).text();
		return new Response(path);
	} };`, func(c *Config) {
		c.Vars = map[string]string{"UPSTREAM": up.URL}
		c.CPULimit = 100 * time.Millisecond
	})
	type out struct {
		path string
		code int
		res  Result
	}
	outs := make(chan out, 3)
	for _, p := range []string{"/timer", "/fetch"} {
		go func() {
			resp, _, res, _ := do(t, w, "GET", "http://x"+p, "")
			outs <- out{p, resp.StatusCode, res}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	go func() {
		resp, _, res, _ := do(t, w, "GET", "http://x/spin", "")
		outs <- out{"/spin", resp.StatusCode, res}
	}()
	for range 3 {
		select {
		case o := <-outs:
			t.Logf("%s: %d %s", o.path, o.code, o.res.Outcome)
			if o.path != "/spin" && o.code != 200 {
				t.Errorf("%s: %d %+v", o.path, o.code, o.res)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request never returned")
		}
	}
}

var _ = http.StatusOK

// TestReviewStalledUnderTraffic: a request whose promise can never settle
// is answered 500 (doc.go: "a promise that can never settle"), also while
// other requests of its runtime await timers: they cannot settle it.
func TestReviewStalledUnderTraffic(t *testing.T) {
	old := stallGrace
	stallGrace = 500 * time.Millisecond
	defer func() { stallGrace = old }()
	w := newInline(t, `export default { async fetch(req) {
		if (new URL(req.url).pathname === "/never") await new Promise(() => {});
		await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
		return new Response("ok");
	} };`)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				do(t, w, "GET", "http://x/busy", "")
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(100 * time.Millisecond)
	done := make(chan *http.Response, 1)
	start := time.Now()
	go func() {
		resp, _, _, _ := do(t, w, "GET", "http://x/never", "")
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp.StatusCode != 500 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		t.Logf("answered after %v", time.Since(start))
	case <-time.After(2 * time.Second):
		t.Fatal("a request whose promise can never settle is not answered while other requests of its runtime await timers")
	}
}

// TestReviewBusyLoopAnswers: a runtime whose queue is never empty, as
// requests arrive faster than it runs them, still answers some of them
// meanwhile: a handler's settled promise must not wait for the loop to go
// idle, which an overloaded loop never does.
func TestReviewBusyLoopAnswers(t *testing.T) {
	w := newInline(t, `function spin(ms) { const end = Date.now() + ms; while (Date.now() < end) {} }
	export default { async fetch(req) {
		spin(3);
		await new Promise((r) => setTimeout(r, 1));
		return new Response("ok");
	} };`)
	var answered atomic.Int64
	var wg sync.WaitGroup
	arrivals := time.NewTicker(time.Millisecond)
	end := time.Now().Add(1500 * time.Millisecond)
	for now := range arrivals.C {
		if now.After(end) {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, body, _, _ := do(t, w, "GET", "http://x/", ""); body == "ok" {
				answered.Add(1)
			}
		}()
	}
	arrivals.Stop()
	during := answered.Load()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the requests were never all answered")
	}
	t.Logf("%d answered while requests kept arriving, %d in all", during, answered.Load())
	if during == 0 {
		t.Fatal("no request was answered while requests kept arriving")
	}
}

// TestReviewMixedThenClose: requests of every kind on two runtimes, some
// canceled by their clients, some throwing, one over its CPU limit, with
// cross-request promises and ctx.waitUntil work, then Close: every Serve
// returns, and Close too, in bounded time.
func TestReviewMixedThenClose(t *testing.T) {
	old := closeTimeout
	closeTimeout = 300 * time.Millisecond
	defer func() { closeTimeout = old }()
	up := newUpstream(t)
	w, err := New(Config{Worker: "test", VersionID: "v1", Entry: "worker.js", PoolSize: 2, Fetch: loopbackOK,
		CPULimit: 200 * time.Millisecond, Vars: map[string]string{"UPSTREAM": up.URL},
		Source: `let shared = null;
		export default { async fetch(req, env, ctx) {
			const path = new URL(req.url).pathname;
			switch (path) {
			case "/share":
				shared = fetch(env.UPSTREAM + "/slow");
				return new Response("shared");
			case "/await":
				if (shared) await shared;
				return new Response("awaited");
			case "/spin":
				for (;;) {}
			case "/throw":
				await new Promise((r) => setTimeout(r, 5));
				throw new Error("boom");
			case "/stream": {
				let n = 0;
				return new Response(new ReadableStream({ async pull(c) {
					await new Promise((r) => setTimeout(r, 5));
					if (++n > 20) c.close(); else c.enqueue(new TextEncoder().encode("chunk " + n + "\n"));
				} }));
			}
			case "/wait":
				ctx.waitUntil(new Promise((r) => setTimeout(r, 300)));
				return new Response("wait");
			case "/body":
				return new Response(await req.text());
			}
			await new Promise((r) => setTimeout(r, 20 + Math.random() * 50));
			return new Response("ok");
		} };`})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/share", "/await", "/throw", "/stream", "/wait", "/body", "/ok", "/await", "/ok"}
	var wg sync.WaitGroup
	results := make(chan string, 1000)
	for i := range 120 {
		path := paths[i%len(paths)]
		if i == 60 {
			path = "/spin"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if i%7 == 3 {
				time.AfterFunc(time.Duration(i%5)*10*time.Millisecond, cancel)
			}
			var body *strings.Reader
			method := "GET"
			if path == "/body" {
				method, body = "POST", strings.NewReader(strings.Repeat("b", 100<<10))
			}
			var r *http.Request
			if body != nil {
				r = httptest.NewRequest(method, "http://x"+path, body)
			} else {
				r = httptest.NewRequest(method, "http://x"+path, nil)
			}
			r = r.WithContext(ctx)
			res, err := w.Serve(httptest.NewRecorder(), r)
			results <- path + " " + res.Outcome + " " + fmt.Sprint(err)
		}()
		time.Sleep(2 * time.Millisecond)
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatal("some requests never returned")
	}
	close(results)
	count := map[string]int{}
	for r := range results {
		count[r]++
	}
	t.Log(count)
	start := time.Now()
	w.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// TestReviewGrownRuntimeDropped: a runtime the pool grew but that never
// served a request is dropped once idle for idleRuntime, like one that
// served (doc.go: "a runtime beyond the first that serves nothing for 30s
// is dropped").
func TestReviewGrownRuntimeDropped(t *testing.T) {
	old := idleRuntime
	idleRuntime = 200 * time.Millisecond
	defer func() {
		time.Sleep(2 * idleRuntime) // dropIdle timers read it
		idleRuntime = old
	}()
	// The top level is slow, so the runtime the pool grows is ready only
	// after the requests that made it grow have ended.
	w, err := New(Config{Worker: "test", VersionID: "v1", Entry: "worker.js", PoolSize: 2,
		Source: `{ const end = Date.now() + 300; while (Date.now() < end) {} }
		export default { fetch(req) {
			if (new URL(req.url).pathname === "/spin") { const end = Date.now() + 30; while (Date.now() < end) {} }
			return new Response("ok");
		} };`})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	grew := false
	for attempt := 0; attempt < 20 && !grew; attempt++ {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); do(t, w, "GET", "http://x/spin", "") }()
		time.Sleep(10 * time.Millisecond)
		go func() { defer wg.Done(); do(t, w, "GET", "http://x/ok", "") }()
		wg.Wait()
		w.mu.Lock()
		grew = w.growing || len(w.rts) > 1
		w.mu.Unlock()
	}
	if !grew {
		t.Skip("could not make the pool grow")
	}
	deadline := time.Now().Add(10 * time.Second)
	for w.Runtimes() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the pool never grew")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(5 * idleRuntime)
	if n := w.Runtimes(); n != 1 {
		t.Fatalf("%d runtimes after %v of idleness, want 1", n, 5*idleRuntime)
	}
}

// TestReviewCloseWaitsForGrow: Close returns once every goroutine the
// worker started has ended (its doc), including a replacement runtime
// being created when it was called.
func TestReviewCloseWaitsForGrow(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock"),
		// Idle task goroutines wait for the next task (workerhost.runTask).
		goleak.IgnoreTopFunction("github.com/caddy-gradual/gradual/workerhost.taskRunner"))
	w, err := New(Config{Worker: "test", VersionID: "v1", Entry: "worker.js", PoolSize: 1,
		CPULimit: 50 * time.Millisecond,
		Source: `{ const end = Date.now() + 1500; while (Date.now() < end) {} }
		export default { fetch(req) { for (;;) {} } };`})
	if err != nil {
		t.Fatal(err)
	}
	// The interrupted runtime is retired; its replacement takes 1.5 s.
	if resp, _, res, _ := do(t, w, "GET", "http://x/", ""); resp.StatusCode != 503 {
		t.Fatalf("%d %+v", resp.StatusCode, res)
	}
	w.Close()
}
