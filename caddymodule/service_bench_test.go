package caddymodule

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/filestorage"
)

// BenchmarkServiceCall compares the throughput of a hello-world call
// front→back through the service binding with the same call through
// fetch() over loopback, in one run, on one real Caddy: its config holds
// back (served on a loopback port), front (`service BACK back`) and
// front2, the same script as front with BACK_URL, which fetches back's
// port instead. Requests to the fronts are served in process, as many at
// a time as the pools take, so the two differ only in how front reaches
// back: in process, or by HTTP through back's Caddy server.
//
// Each line has cpu-ns/op, the CPU time the process spent per call (GC
// and the loopback server included), which other load on the machine
// does not inflate as it does ns/op; the loopback-fetch line has
// binding-ratio, the binding's throughput over loopback's from the same
// run, and binding-cpu-ratio, loopback's CPU time per call over the
// binding's: the throughput ratio of a machine whose cores are busy. integration/bench/service.sh runs it
// in rounds, beside wrk against the same sites over HTTP, and prints the
// medians.
func BenchmarkServiceCall(b *testing.B) {
	dir := b.TempDir()
	bp, fp := filepath.Join(dir, "back.js"), filepath.Join(dir, "front.js")
	os.WriteFile(bp, []byte(`export default { fetch() { return new Response("hello"); } }`), 0o644)
	os.WriteFile(fp, []byte(`export default { fetch(req, env) {
	return env.BACK_URL ? fetch(env.BACK_URL) : env.BACK.fetch("http://back/");
} }`), 0o644)
	backAddr := loopbackAddr(b)
	loadBenchConfig(b, dir, map[string][]*Gradual{
		backAddr: {{Worker: "back", Versions: []*Version{{ID: "b1", Script: bp}}}},
		loopbackAddr(b): {
			{Worker: "front", Versions: []*Version{{ID: "f1", Script: fp}}, Services: []*Service{{Name: "BACK", Worker: "back"}}},
			{Worker: "front2", Versions: []*Version{{ID: "f1", Script: fp, Vars: map[string]string{"BACK_URL": "http://" + backAddr + "/"}}}, FetchAllow: []string{"127.0.0.1"}},
		},
	})

	var bindingRate, loopbackRate, bindingCPU, loopbackCPU float64
	for _, bc := range []struct {
		name, worker string
		rate, cpu    *float64
	}{{"binding", "front", &bindingRate, &bindingCPU}, {"loopback-fetch", "front2", &loopbackRate, &loopbackCPU}} {
		b.Run(bc.name, func(b *testing.B) {
			g := newestHandler(bc.worker)
			if w, _ := serve(b, g, nil, "127.0.0.1"); w.Body.String() != "hello" {
				b.Fatalf("got %d %q", w.Code, w.Body.String())
			}
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
			b.ReportAllocs()
			// Several requests per core, as a loaded server has: a call
			// waits on back while others run.
			b.SetParallelism(4)
			cpu0, cpuOK := processCPU()
			// The incoming request is a copy of one parsed once: parsing
			// it is the client's hop, not the call measured here, and
			// httptest's parser allocates a 4 KB reader per request,
			// which a server reuses.
			incoming, _ := request(nil, "127.0.0.1")
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, _ := serverValues(incoming.Clone(context.Background()), "127.0.0.1")
					w := httptest.NewRecorder()
					if err := g.ServeHTTP(w, r, next); err != nil || w.Code != http.StatusOK {
						b.Errorf("got %d, %v", w.Code, err)
						return
					}
				}
			})
			if cpu1, ok := processCPU(); ok && cpuOK {
				*bc.cpu = float64(cpu1-cpu0) / float64(b.N)
				b.ReportMetric(*bc.cpu, "cpu-ns/op")
			}
			*bc.rate = float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(*bc.rate, "calls/s")
			if bc.rate == &loopbackRate && bindingRate > 0 {
				b.ReportMetric(bindingRate/loopbackRate, "binding-ratio")
				if bindingCPU > 0 && loopbackCPU > 0 {
					b.ReportMetric(loopbackCPU/bindingCPU, "binding-cpu-ratio")
				}
			}
		})
	}
}

// loopbackAddr returns a free 127.0.0.1 address.
func loopbackAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// loadBenchConfig runs a Caddy config with a server on each address of
// sites, whose one route holds the site's handlers in order; storage,
// logs and the admin endpoint stay out of the way.
func loadBenchConfig(tb testing.TB, dir string, sites map[string][]*Gradual) {
	tb.Helper()
	servers := map[string]any{}
	for addr, gs := range sites {
		var handle []json.RawMessage
		for _, g := range gs {
			raw, err := json.Marshal(g)
			if err != nil {
				tb.Fatal(err)
			}
			handle = append(handle, json.RawMessage(`{"handler":"gradual",`+strings.TrimPrefix(string(raw), "{")))
		}
		servers[strings.ReplaceAll(addr, ":", "_")] = map[string]any{
			"listen":          []string{addr},
			"routes":          []any{map[string]any{"handle": handle}},
			"automatic_https": map[string]any{"disable": true},
		}
	}
	cfg, err := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "storage")},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps":    map[string]any{"http": map[string]any{"servers": servers}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := caddy.Load(cfg, true); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = caddy.Stop() })
}
