package workerhost

import (
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/dop251/goja"
)

// jsProfile names a file for a pprof profile of the JavaScript the
// benchmarks run (goja's sampling profiler), with function names and
// lines of the bundle: go test -bench ServeHono -jsprofile js.prof.
var jsProfile = flag.String("jsprofile", "", "write a profile of the benchmarks' JavaScript to this file")

// startJSProfile starts goja's profiler when -jsprofile is given, until
// the benchmark ends.
func startJSProfile(b *testing.B) {
	if *jsProfile == "" {
		return
	}
	f, err := os.Create(*jsProfile)
	if err != nil {
		b.Fatal(err)
	}
	if err := goja.StartProfile(f); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		goja.StopProfile()
		f.Close()
	})
}

// honoApp writes the Hono app of the integration tests beside the Hono
// package that `go test ./integration -run Apps` or
// integration/bench/framework.sh installs in <repo>/.cache/apps, and
// returns its path; it skips the benchmark when Hono is not there.
func honoApp(b *testing.B) string {
	dir, err := filepath.Abs("../.cache/apps")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "hono", "package.json")); err != nil {
		b.Skip("hono is not installed in .cache/apps: run go test ./integration -run Apps or integration/bench/framework.sh")
	}
	src, err := os.ReadFile("../integration/testdata/apps/hono.js")
	if err != nil {
		b.Fatal(err)
	}
	entry := filepath.Join(dir, "bench-hono.js")
	if err := os.WriteFile(entry, src, 0o644); err != nil {
		b.Fatal(err)
	}
	return entry
}

// reportCPU reports, when the returned function is called at the end of a
// benchmark, the process's CPU time per operation: on a machine shared
// with other work it varies less than the wall time.
func reportCPU(b *testing.B) func() {
	start, ok := processCPU()
	return func() {
		if end, ok2 := processCPU(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// BenchmarkServeHono serves requests of integration/bench/framework.sh to a
// Hono app (router and middleware from npm) through the worker host.
func BenchmarkServeHono(b *testing.B) {
	entry := honoApp(b)
	for _, bc := range []struct{ name, path, body string }{
		{"text", "/", "hello hono"},
		{"json-etag", "/api/items/42?q=x&tag=a&tag=b", `{"id":"42","q":"x","tags":["a","b"]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := New(Config{Worker: "bench", VersionID: "v1", Entry: entry, PoolSize: runtime.GOMAXPROCS(0)})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			r := httptest.NewRequest("GET", "http://example.com"+bc.path, nil)
			r.Header.Set("User-Agent", "wrk")
			r.Header.Set("Accept", "*/*")
			startJSProfile(b)
			defer reportCPU(b)()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					if res, err := w.Serve(rec, r); err != nil || rec.Code != 200 || rec.Body.String() != bc.body {
						b.Fatalf("%d %q %v %+v", rec.Code, rec.Body.String(), err, res)
					}
				}
			})
		})
	}
}
