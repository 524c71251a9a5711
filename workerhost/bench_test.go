package workerhost

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const helloJSON = `export default { fetch(request) { return Response.json({ hello: "world" }) } }`

// BenchmarkServeHelloJSON serves the hello-world worker from 8 clients a
// core, and reports the CPU time a request costs the process (cpu-ns/op).
func BenchmarkServeHelloJSON(b *testing.B) {
	w := newInline(b, helloJSON, func(c *Config) { c.PoolSize = runtime.GOMAXPROCS(0) })
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	b.ReportAllocs()
	b.SetParallelism(8)
	start, ok := processCPU()
	defer func() {
		if end, ok2 := processCPU(); ok && ok2 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			if res, err := w.Serve(rec, r); err != nil || rec.Code != 200 {
				b.Fatalf("%d %v %+v", rec.Code, err, res)
			}
		}
	})
	b.ReportMetric(float64(w.Runtimes()), "runtimes")
}

// BenchmarkServeAsyncHeaders serves a typical async handler that reads
// request headers and the URL and sets response headers.
func BenchmarkServeAsyncHeaders(b *testing.B) {
	w := newInline(b, `export default { async fetch(request) {
		const url = new URL(request.url);
		const lang = request.headers.get("accept-language") || "en";
		return new Response("<p>" + url.pathname + " " + lang + "</p>", {
			headers: { "content-type": "text/html;charset=UTF-8", "cache-control": "no-store" },
		});
	} }`, func(c *Config) {
		c.PoolSize = runtime.GOMAXPROCS(0)
		c.CPULimit = time.Second
	})
	r := httptest.NewRequest("GET", "http://example.com/docs?q=1", nil)
	r.Header.Set("Accept-Language", "de")
	r.Header.Set("User-Agent", "bench")
	r.Header.Set("Accept", "text/html")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			if res, err := w.Serve(rec, r); err != nil || rec.Code != 200 || rec.Body.String() != "<p>/docs de</p>" {
				b.Fatalf("%d %q %v %+v", rec.Code, rec.Body.String(), err, res)
			}
		}
	})
}

// bundle1MB writes an entry importing a module of about 1 MB of code.
func bundle1MB(b *testing.B) string {
	dir := b.TempDir()
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		fmt.Fprintf(&sb, "export function f%d(a, b) { const xs = [a, b, %d]; return xs.map((x) => x * 2).filter((x) => x > %d).reduce((s, x) => s + x, 0) + `f%d`.length; }\n", i, i, i%7, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.js"), []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkCompile1MB bundles and compiles a 1 MB script; the entry
// changes every iteration so that the cache never answers.
func BenchmarkCompile1MB(b *testing.B) {
	dir := bundle1MB(b)
	entry := filepath.Join(dir, "main.js")
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for i := range b.N {
		src := fmt.Sprintf("import * as big from './big.js';\nexport default { fetch() { return new Response(String(Object.keys(big).length + %d)) } }", i)
		if err := os.WriteFile(entry, []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(Config{Entry: entry}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileCached measures a Compile answered by the cache.
func BenchmarkCompileCached(b *testing.B) {
	dir := bundle1MB(b)
	entry := filepath.Join(dir, "main.js")
	if err := os.WriteFile(entry, []byte("import * as big from './big.js';\nexport default { fetch() { return new Response(String(Object.keys(big).length)) } }"), 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := Compile(Config{Entry: entry}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(Config{Entry: entry}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRuntimeMemory reports the heap held by one pooled runtime of
// the hello-world worker, and the time to create it.
func BenchmarkRuntimeMemory(b *testing.B) {
	w := newInline(b, helloJSON)
	var before, after runtime.MemStats
	rts := make([]*jsRuntime, 0, b.N)
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for range b.N {
		rt, err := newRuntime(w)
		if err != nil {
			b.Fatal(err)
		}
		rts = append(rts, rt)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(b.N), "heap-bytes/runtime")
	for _, rt := range rts {
		<-rt.stop()
	}
}

// BenchmarkServeHelloSerial serves the hello-world worker one request at
// a time: the latency of a request's trip through the loop.
func BenchmarkServeHelloSerial(b *testing.B) {
	w := newInline(b, helloJSON)
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		if res, err := w.Serve(rec, r); err != nil || rec.Code != 200 {
			b.Fatalf("%d %v %+v", rec.Code, err, res)
		}
	}
}

// BenchmarkIOBound is issue 9's I/O goal: a worker that awaits a 100 ms
// upstream, at 64 concurrent clients, against the upstream itself at the
// same concurrency, in the same run. Each iteration measures both for a
// second and reports their requests/s and the ratio worker/upstream.
func BenchmarkIOBound(b *testing.B) {
	const clients = 64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		_, _ = w.Write([]byte("ok"))
	}))
	defer upstream.Close()
	w := newInline(b, `export default { async fetch(req, env) {
		const r = await fetch(env.UPSTREAM);
		return new Response(await r.text());
	} }`, func(c *Config) { c.Vars = map[string]string{"UPSTREAM": upstream.URL} })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	// rate runs clients loops of one for a second and returns requests/s.
	rate := func(one func() bool) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(time.Second)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					if !one() {
						b.Error("a request failed")
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load())
	}
	direct := func() bool {
		resp, err := client.Get(upstream.URL)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	viaWorker := func() bool {
		rec := httptest.NewRecorder()
		_, err := w.Serve(rec, httptest.NewRequest("GET", "http://x/", nil))
		return err == nil && rec.Code == 200 && rec.Body.String() == "ok"
	}
	var up, wk float64
	for b.Loop() {
		up += rate(direct)
		wk += rate(viaWorker)
	}
	b.ReportMetric(up/float64(b.N), "upstream-req/s")
	b.ReportMetric(wk/float64(b.N), "worker-req/s")
	b.ReportMetric(wk/up, "ratio")
}

// BenchmarkRegexpWork serves a script that replaces, splits and matches
// with regular expressions over 1 KB of text, without a named group and
// with one elsewhere in its source: the prelude then patches
// RegExp.prototype.exec to add match.groups, which sends every match of
// the script through goja's generic (slow) path.
func BenchmarkRegexpWork(b *testing.B) {
	const work = `const s = "hello world, the quick brown fox. ".repeat(30);
	export default { fetch() {
		let n = 0;
		for (let i = 0; i < 10; i++) n += s.replace(/o/g, "0").length + s.split(/[ ,.]+/).length + (s.match(/q(u)ick/) ? 1 : 0);
		return new Response(String(n));
	} }`
	for _, bc := range []struct{ name, src string }{
		{"no-named-group", work},
		{"named-group", work + "\nexport const unused = /(?<name>x)/;"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := newInline(b, bc.src)
			r := httptest.NewRequest("GET", "http://example.com/", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				if _, err := w.Serve(rec, r); err != nil || rec.Code != 200 {
					b.Fatalf("%d %v", rec.Code, err)
				}
			}
		})
	}
}
