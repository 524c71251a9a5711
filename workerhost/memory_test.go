package workerhost

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
	"golang.org/x/sys/unix"
)

// underAddressLimit runs the calling test in a child process whose
// address space is limited, so that a regression of the memory limit
// ends the child, never the machine. It returns true in the child, which
// then runs the test's body.
func underAddressLimit(t *testing.T, limit uint64) bool {
	t.Helper()
	if os.Getenv("GRADUAL_TEST_AS_LIMIT") == t.Name() {
		if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
			t.Fatal(err)
		}
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "GRADUAL_TEST_AS_LIMIT="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("under an address-space limit of %d MB: %v\n%s", limit>>20, err, tail(string(out), 4000))
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "memory_test.go") {
			t.Log(strings.TrimSpace(l))
		}
	}
	return false
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestMemoryLimitGlobalCache is issue 9's item 6: a cache in a global that
// grows with every request is stopped at the memory limit, its runtime
// replaced at once, and the process lives on.
func TestMemoryLimitGlobalCache(t *testing.T) {
	if !underAddressLimit(t, 3<<30) {
		return
	}
	w := newInline(t, `const cache = [];
	export default { fetch() {
		cache.push("x".repeat(4 << 20) + cache.length);
		return new Response(String(cache.length));
	} };`, func(c *Config) { c.MemoryLimit = 32 << 20 })
	exceeded := 0
	fresh := false // the request after an exceededMemory
	for i := range 60 {
		resp, body, res, _ := do(t, w, "GET", "http://x/", "")
		if res.Outcome == OutcomeExceededMemory {
			if resp.StatusCode != 503 {
				t.Fatalf("request %d: status %d", i, resp.StatusCode)
			}
			exceeded++
			fresh = true
			t.Logf("request %d: exceededMemory", i)
			continue
		}
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d %q %+v", i, resp.StatusCode, body, res)
		}
		// The runtime over its limit takes no request after it: the next
		// one is served by a new runtime, with a new cache.
		if fresh && body != "1" {
			t.Fatalf("after exceededMemory, request %d saw the old heap: cache length %q", i, body)
		}
		fresh = false
	}
	if exceeded == 0 {
		t.Fatal("the cache was never stopped")
	}
}

// TestMemoryLimitRunaway checks that one request that allocates without
// bound is stopped, long before its CPU limit, and the next request is
// served by a fresh runtime.
func TestMemoryLimitRunaway(t *testing.T) {
	if !underAddressLimit(t, 3<<30) {
		return
	}
	w := newInline(t, `export default { fetch(req) {
		if (req.method === "GET") return new Response("ok");
		const a = [];
		for (;;) a.push("y".repeat(1 << 20) + a.length);
	} };`, func(c *Config) {
		c.MemoryLimit = 64 << 20
		c.CPULimit = time.Minute
	})
	start := time.Now()
	resp, _, res, _ := do(t, w, "POST", "http://x/", "go")
	if resp.StatusCode != 503 || res.Outcome != OutcomeExceededMemory {
		t.Fatalf("status %d, result %+v", resp.StatusCode, res)
	}
	t.Logf("stopped after %v", time.Since(start))
	debug.FreeOSMemory()
	if resp, body, _, _ := do(t, w, "GET", "http://x/", ""); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after: %d %q", resp.StatusCode, body)
	}
}

// TestHeapSize checks the heap walk against objects of known size.
func TestHeapSize(t *testing.T) {
	w := newInline(t, `const keep = []; globalThis.grow = (n) => { keep.push("z".repeat(n) + keep.length); };
	export default { fetch() { return new Response("ok"); } };`)
	rt := firstRuntime(w)
	var base, after int64
	rt.exec(func() {
		base, _ = heapSize(rt.vm, 1<<40)
		grow, _ := rt.vm.RunString("grow")
		fn, _ := goja.AssertFunction(grow)
		if _, err := fn(nil, rt.vm.ToValue(10<<20)); err != nil {
			t.Error(err)
		}
		after, _ = heapSize(rt.vm, 1<<40)
	})
	t.Logf("fresh runtime %d KB; after keeping a 10 MB string: +%d KB", base>>10, (after-base)>>10)
	if d := after - base; d < 10<<20 || d > 11<<20 {
		t.Fatalf("grew by %d bytes, want about 10 MiB", d)
	}
}

// TestMemoryNotChargedForOthers checks that memory which became live
// while the watchdog slept (here the test's own) is not charged to the
// next request: its segment starts from the live heap as the waking
// watchdog reads it, not from the figure of before it slept.
func TestMemoryNotChargedForOthers(t *testing.T) {
	w := newInline(t, `export default { fetch() { const t = Date.now(); while (Date.now() - t < 30) {} return new Response("ok") } }`,
		func(c *Config) { c.MemoryLimit = 64 << 20 })
	do(t, w, "GET", "http://x/", "") // the watchdog runs, then sleeps
	time.Sleep(50 * time.Millisecond)
	hold := make([][]byte, 200)
	for i := range hold {
		hold[i] = make([]byte, 1<<20)
	}
	runtime.GC()
	resp, body, res, _ := do(t, w, "GET", "http://x/", "")
	runtime.KeepAlive(hold)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q %+v", resp.StatusCode, body, res)
	}
}
