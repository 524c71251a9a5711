package workerhost

import (
	"bufio"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// TestReview2HeaderJoinLinear: get, forEach and the iterators join the
// values of a name inside one native call, which the CPU limit cannot
// interrupt, so the join must be linear. Concatenating value by value
// copied the growing string each time: a script that appended 100,000
// values to one name and called get once ran 24 s of CPU in that call
// under a 1 s CPU limit (the JavaScript Headers joined in 12 ms).
func TestReview2HeaderJoinLinear(t *testing.T) {
	vm := goja.New()
	rt := &jsRuntime{vm: vm, commaSpace: vm.ToValue(", ").(goja.String)}
	const n, value = 5000, "xxxxxxxxxx"
	hl := &headerList{}
	for range n {
		hl.add("a", vm.ToValue("a"), vm.ToValue(value))
	}
	joinedLen := n*(len(value)+2) - 2
	for _, c := range []struct {
		name string
		f    func() goja.Value
	}{
		{"get", func() goja.Value { return rt.joined(hl, "a") }},
		{"pairs", func() goja.Value {
			return rt.pairs(hl).(*goja.Object).Get("0").(*goja.Object).Get("1")
		}},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		v := c.f()
		runtime.ReadMemStats(&after)
		if l := v.(goja.String).Length(); l != joinedLen {
			t.Errorf("%s: joined length %d, want %d", c.name, l, joinedLen)
		}
		// Linear is a few times the joined value and the list; copying
		// the value once per entry is n²·6 bytes, 150 MB.
		if got := after.TotalAlloc - before.TotalAlloc; got > 64*uint64(joinedLen) {
			t.Errorf("%s: %d bytes allocated to join %d values of %d bytes, want linear", c.name, got, n, len(value))
		}
	}
}

// TestReview2FetchedNamesNotValidated: the names of a fetched response's
// headers share the cache of names the script's Headers calls checked, so
// a name Go's client accepts but Headers refuses (one with a space) must
// not become valid for the script once an upstream has sent it.
func TestReview2FetchedNamesNotValidated(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	}()
	w := newInline(t, `export default { async fetch(request) {
		const try_ = (f) => { try { return String(f()); } catch (e) { return e.name + ": " + e.message; } };
		const before = try_(() => new Headers({ "Bad Name": "1" }));
		const res = await fetch(request.headers.get("x-up"));
		await res.text();
		const after = try_(() => new Headers({ "Bad Name": "1" }));
		const get = try_(() => new Headers().get("Bad Name"));
		return new Response([before, after, get].join("|"));
	} }`)
	_, body, res, err := do(t, w, "GET", "http://example.com/", "", "X-Up", "http://"+ln.Addr().String()+"/")
	if err != nil || res.Status != http.StatusOK {
		t.Fatalf("%d %v %s", res.Status, err, body)
	}
	want := strings.Repeat("TypeError: Invalid header name.|", 3)
	if body != want[:len(want)-1] {
		t.Errorf("got  %s\nwant %s", body, want[:len(want)-1])
	}
}

// TestReview2GCKeepsProcessGOGC: a GOGC the process sets while workers
// are loaded (an embedder's or a test's debug.SetGCPercent, GC turned off
// included) is the process's own: the last worker's Close must not put
// back the GOGC of before the first worker.
func TestReview2GCKeepsProcessGOGC(t *testing.T) {
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	defer debug.SetGCPercent(before)
	// A headroom far above any live heap, so that the host raises GOGC.
	limit := minMemoryLimit.Swap(1 << 40)
	defer minMemoryLimit.Store(limit)
	for _, set := range []int{50, -1} {
		gcTune.mu.Lock()
		loaded := gcTune.workers
		gcTune.mu.Unlock()
		if loaded != 0 {
			t.Skip("workers of other tests are loaded")
		}
		w := newInline(t, `export default { fetch() { return new Response("x") } }`)
		runtime.GC()
		// What the host does after a collection, without waiting for one.
		gcTune.mu.Lock()
		gcTuneLocked()
		raised := gcTune.percent
		gcTune.mu.Unlock()
		if raised <= before {
			// A live heap over maxHeadroom is collected at GOGC as it is.
			w.Close()
			t.Skipf("GOGC %d with a worker loaded: the live heap is too large to raise it", raised)
		}
		debug.SetGCPercent(set)
		w.Close()
		if got := debug.SetGCPercent(before); got != set {
			t.Errorf("process set GOGC %d with a worker loaded; GOGC %d after the worker closed", set, got)
		}
	}
}

// TestReview2GCCountBalanced: Close uncounts only a worker New counted.
// Each checked GOGC in the environment for itself, so a worker loaded
// with GOGC set and closed without made the count negative: the next
// worker then counted as none, and GOGC raised for it was never restored.
func TestReview2GCCountBalanced(t *testing.T) {
	gcTune.mu.Lock()
	loaded := gcTune.workers
	gcTune.mu.Unlock()
	t.Setenv("GOGC", "200")
	w := newInline(t, `export default { fetch() { return new Response("x") } }`)
	t.Setenv("GOGC", "")
	w.Close()
	gcTune.mu.Lock()
	got := gcTune.workers
	gcTune.mu.Unlock()
	if got != loaded {
		t.Errorf("%d workers counted after New and Close, want %d", got, loaded)
	}
}

// TestReview2GCCheckGarbage: Check bounds what top-level code allocates by
// the growth of the process heap, garbage included, at MaxCheckHeap. With
// workers of a large memory_limit loaded (2 GiB: a headroom of 512 MiB),
// the raised GOGC let garbage pile up past MaxCheckHeap between
// collections, and a script whose top level makes 400 MB of short-lived
// garbage was refused, "allocated over 256 MB while loading"; with GOGC
// as Go has it, it loads.
func TestReview2GCCheckGarbage(t *testing.T) {
	t.Setenv("GOGC", "")
	limit := minMemoryLimit.Swap(0)
	defer minMemoryLimit.Store(limit)
	t.Cleanup(runtime.GC)
	runtime.GC()
	newInline(t, `export default { fetch() { return new Response("x") } }`, func(c *Config) { c.MemoryLimit = 2 << 30 })
	err := Check(Config{Worker: "check", Entry: "worker.js", Source: `for (let i = 0; i < 400; i++) new Uint8Array(1 << 20);
export default { fetch() { return new Response("ok") } };`})
	if err != nil {
		t.Error(err)
	}
}

// TestReview2ServiceHostOnce: a Request passed on to a service binding
// (env.BACK.fetch(request)) carries a host header; the callee's request
// has its Host from the URL as well, and saw "example.com, example.com".
// The callee gets the host header the script set, as in workerd (see
// TestServiceBindingRequestHeaders), once.
func TestReview2ServiceHostOnce(t *testing.T) {
	back := newInline(t, `export default { fetch(req) { return new Response(req.headers.get("host")); } }`)
	front := newInline(t, `export default { async fetch(req, env) {
		const a = await (await env.BACK.fetch(req)).text();
		const b = await (await env.BACK.fetch("http://back/", { headers: { host: "other" } })).text();
		return new Response(a + "|" + b);
	} }`, withService(&workerFetcher{w: back}))
	_, body, _, err := do(t, front, "GET", "http://example.com/x", "")
	if err != nil || body != "example.com|other" {
		t.Errorf("callee's host %q, %v; want %q", body, err, "example.com|other")
	}
}
