package workerhost

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPanicWhileResponding checks that a Go panic while a worker's
// Response is written answers 500 and replaces the runtime instead of
// leaking it, and that Close stays bounded (issue 9, item 3).
func TestPanicWhileResponding(t *testing.T) {
	cases := map[string]string{
		// The Response's internal state, reached through its own symbol.
		"odd status": `export default { fetch(req) {
			const r = new Response("x");
			const k = Object.getOwnPropertySymbols(r).find((s) => typeof r[s] === "object" && r[s] !== null && "status" in r[s]);
			r[k].status = req.url.endsWith("/big") ? 1000 : 42;
			return r;
		} };`,
		// A polyfilled stream reader whose read() returns no promise.
		"reader without promise": `export default { fetch() {
			const s = new ReadableStream({ pull(c) { c.enqueue(new TextEncoder().encode("a")); } });
			s.getReader = () => ({ read() { return { then() { return 5; } }; }, cancel() { return Promise.resolve(); } });
			return new Response(s);
		} };`,
		// A body that is neither a string nor bytes.
		"odd body": `export default { fetch() {
			const r = new Response("x");
			const k = Object.getOwnPropertySymbols(r).find((s) => typeof r[s] === "object" && r[s] !== null && "status" in r[s]);
			r[k].source = { toString() { throw new Error("no"); } };
			return r;
		} };`,
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			w, err := New(Config{Worker: "test", VersionID: "v1", Entry: "worker.js", Source: src, PoolSize: 1, QueueTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			// More requests than runtimes: a leaked runtime would turn the
			// later ones into 503s.
			for i := range 3 {
				url := "http://x/"
				if i == 1 {
					url = "http://x/big"
				}
				resp, body, res, _ := do(t, w, "GET", url, "")
				if resp.StatusCode != http.StatusInternalServerError && !(res.Status == http.StatusOK && res.Outcome != OutcomeOK) {
					t.Fatalf("request %d: status %d %q, outcome %s; want 500", i, resp.StatusCode, body, res.Outcome)
				}
			}
			done := make(chan struct{})
			go func() { w.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				t.Fatal("Close hangs")
			}
		})
	}
}

// blockingWriter is a ResponseWriter whose client never reads: Write
// blocks until unblock is closed.
type blockingWriter struct {
	h       http.Header
	unblock chan struct{}
}

func (b *blockingWriter) Header() http.Header { return b.h }
func (b *blockingWriter) WriteHeader(int)     {}
func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.unblock
	return 0, http.ErrHandlerTimeout
}

// TestCloseBounded checks that Close returns although a request is stuck
// writing to a client that does not read.
func TestCloseBounded(t *testing.T) {
	old := closeTimeout
	closeTimeout = 100 * time.Millisecond
	defer func() { closeTimeout = old }()
	w, err := New(Config{Worker: "test", VersionID: "v1", Entry: "worker.js", Source: `export default { fetch() { return new Response("x".repeat(100)); } };`, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	bw := &blockingWriter{h: http.Header{}, unblock: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_, _ = w.Serve(bw, httptest.NewRequest("GET", "http://x/", nil))
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	w.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	close(bw.unblock)
	<-served
}

// TestJSONParseDepth checks that JSON nested deep enough to overflow goja's
// recursive parser is refused with a RangeError, whether the script or a
// client's body supplies it, and that ordinary JSON parses as before.
func TestJSONParseDepth(t *testing.T) {
	w := newInline(t, `export default { async fetch(req) {
		try {
			const v = await req.json();
			return new Response(JSON.stringify(v) + " " + JSON.parse.name + JSON.parse.length);
		} catch (e) {
			return new Response(e.name + ": " + e.message, { status: 400 });
		}
	} };`, func(c *Config) {
		c.MaxBodyBytes = 64 << 20
		// Reading and decoding megabytes of body is CPU time; under -race
		// on a busy machine it is well past the default second.
		c.CPULimit = 30 * time.Second
	})
	deep := strings.Repeat("[", 4<<20) + strings.Repeat("]", 4<<20)
	resp, body, _, _ := do(t, w, "POST", "http://x/", deep)
	if resp.StatusCode != 400 || !strings.HasPrefix(body, "RangeError") {
		t.Fatalf("%d %.200q", resp.StatusCode, body)
	}
	resp, body, _, _ = do(t, w, "POST", "http://x/", `{"a":[1,"[[[",{"b":null}]}`)
	if resp.StatusCode != 200 || body != `{"a":[1,"[[[",{"b":null}]} parse2` {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	for s, want := range map[string]int{`[]`: 1, `{"a":[{}]}`: 3, `["]]]["]`: 1, `["\"["]`: 1, `1`: 0} {
		if got := jsonDepth(s, 100); got != want {
			t.Errorf("jsonDepth(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestCloseServesStragglers is issue 9's reload item: while Close waits for
// a request in progress, a request that still arrives (it chose this
// version before a reload replaced it) is served, not refused with 503.
func TestCloseServesStragglers(t *testing.T) {
	// The request in progress awaits an upstream that answers only once
	// the straggler has been served, and each step waits for the one
	// before it: with fixed sleeps (50 ms for the slow request to start,
	// 50 ms for Close to begin, a 300 ms timer for the request in
	// progress) a loaded machine could close an idle worker, or let the
	// request in progress end and Close finish, before the straggler
	// came, which then got 503. Close's grace is not what is tested here,
	// so it is long enough for any machine.
	old := closeTimeout
	closeTimeout = time.Minute
	defer func() { closeTimeout = old }()
	up := newHeldUpstream(t)
	w, err := New(Config{Worker: "test", VersionID: "v1", Entry: "worker.js", PoolSize: 2, Fetch: loopbackOK,
		Vars: map[string]string{"UPSTREAM": up.URL}, Source: `export default { async fetch(req, env) {
		if (new URL(req.url).pathname === "/slow") await fetch(env.UPSTREAM);
		return new Response("ok");
	} };`})
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan int)
	go func() {
		resp, _, _, _ := do(t, w, "GET", "http://x/slow", "")
		slow <- resp.StatusCode
	}()
	up.waitArrived(t)
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		w.mu.Lock()
		closing := w.closing
		w.mu.Unlock()
		if closing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Close did not begin")
		}
	}
	if resp, body, _, _ := do(t, w, "GET", "http://x/", ""); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("a request during Close: %d %q", resp.StatusCode, body)
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a request was in progress")
	default:
	}
	up.Release()
	if code := <-slow; code != 200 {
		t.Fatalf("the request in progress: %d", code)
	}
	<-closed
	if resp, _, _, _ := do(t, w, "GET", "http://x/", ""); resp.StatusCode != 503 {
		t.Fatalf("after Close: %d", resp.StatusCode)
	}
}

// TestBrokenRuntimeReplacedLater checks that a runtime that cannot be
// replaced at once (its script's top level fails for a while) is replaced
// later, so the pool does not shrink for good.
func TestBrokenRuntimeReplacedLater(t *testing.T) {
	old := replaceRetry
	replaceRetry = 50 * time.Millisecond
	defer func() { replaceRetry = old }()
	w := newInline(t, `export default { fetch() { return new Response("ok"); } };`, func(c *Config) { c.QueueTimeout = 10 * time.Second })
	// The pool's only runtime is dropped, and a new one cannot be made for
	// the next 300 ms.
	fault := errors.New("the top level failed")
	runtimeFault.Store(&fault)
	w.retire(firstRuntime(w))
	start := time.Now()
	time.AfterFunc(300*time.Millisecond, func() { runtimeFault.Store(nil) })
	if resp, body, _, _ := do(t, w, "GET", "http://x/", ""); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if resp, body, _, _ := do(t, w, "GET", "http://x/", ""); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after the replacement failed: %d %q", resp.StatusCode, body)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Fatal("served before a runtime could be made: the test did not exercise the retry")
	}
}

// TestDeepArrayToString checks that converting an array nested deeper than
// the call-stack bound to a string fails the request rather than overflow
// the Go stack, here limited to 64 MB so that an unguarded recursion would
// end the test process within 100,000 levels.
func TestDeepArrayToString(t *testing.T) {
	defer debug.SetMaxStack(debug.SetMaxStack(64 << 20))
	w := newInline(t, `export default { fetch(req) {
		let a = [];
		for (let i = 0; i < 100000; i++) a = [a];
		if (new URL(req.url).pathname === "/locale") return new Response(a.toLocaleString());
		return new Response(String(a));
	} };`, func(c *Config) { c.CPULimit = 10 * time.Second })
	for _, path := range []string{"/", "/locale"} {
		if resp, body, _, _ := do(t, w, "GET", "http://x"+path, ""); resp.StatusCode != 500 {
			t.Fatalf("%s: %d %.100q", path, resp.StatusCode, body)
		}
	}
	w2 := newInline(t, `export default { fetch() { return new Response(String([1, [2, [3]]]) + [4, 5].toLocaleString() + Array.prototype.toString.name + Array.prototype.toString.length); } };`)
	if _, body, _, _ := do(t, w2, "GET", "http://x/", ""); body != "1,2,34,5toString0" {
		t.Fatalf("%q", body)
	}
}

// TestRunTask checks that tasks run on goroutines that are reused while
// tasks keep coming and end once idle for taskIdle.
func TestRunTask(t *testing.T) {
	defer taskIdle.Store(taskIdle.Load())
	taskIdle.Store(int64(100 * time.Millisecond))
	before := runtime.NumGoroutine()
	// Concurrent tasks each get a goroutine.
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 3 {
		wg.Add(1)
		runTask(func() { <-release; wg.Done() })
	}
	close(release)
	wg.Wait()
	// Tasks one after the other reuse the idle ones.
	ids := map[string]bool{}
	for range 1000 {
		done := make(chan string)
		runTask(func() {
			buf := make([]byte, 64)
			done <- strings.Fields(string(buf[:runtime.Stack(buf, false)]))[1]
		})
		ids[<-done] = true
	}
	if len(ids) > 10 {
		t.Errorf("1,000 tasks one after the other ran on %d goroutines", len(ids))
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine() - before; n > 0 {
		t.Errorf("%d task goroutines left after 100 ms idle", n)
	}
}
