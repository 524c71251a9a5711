package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkServiceCall compares a hello-world call front→back through the
// service binding with the same call through fetch() over loopback, in
// one run. Each iteration serves one request to front in process, so the
// two differ only in how front reaches back: in process, or by HTTP to a
// loopback server that serves back with the same handler.
func BenchmarkServiceCall(b *testing.B) {
	dir := b.TempDir()
	bp, fp := filepath.Join(dir, "back.js"), filepath.Join(dir, "front.js")
	os.WriteFile(bp, []byte(`export default { fetch() { return new Response("hello"); } }`), 0o644)
	os.WriteFile(fp, []byte(`export default { fetch(req, env) {
	return env.BACK_URL ? fetch(env.BACK_URL) : env.BACK.fetch("http://back/");
} }`), 0o644)
	back := &Gradual{Worker: "back", Versions: []*Version{{ID: "b1", Script: bp}}, CPULimit: caddy.Duration(time.Second)}
	provision(b, back)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// request gives it what Caddy's server puts in a request's context.
		r, _ = request(r.Header, "127.0.0.1")
		_ = back.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	}))
	b.Cleanup(srv.Close)
	bound := &Gradual{Worker: "front", Versions: []*Version{{ID: "f1", Script: fp}},
		Services: []*Service{{Name: "BACK", Worker: "back"}}, CPULimit: caddy.Duration(time.Second)}
	provision(b, bound)
	fetching := &Gradual{Worker: "front2", Versions: []*Version{{ID: "f1", Script: fp, Vars: map[string]string{"BACK_URL": srv.URL}}},
		FetchAllow: []string{"127.0.0.1"}, CPULimit: caddy.Duration(time.Second)}
	provision(b, fetching)

	for _, bc := range []struct {
		name string
		g    *Gradual
	}{{"binding", bound}, {"loopback-fetch", fetching}} {
		b.Run(bc.name, func(b *testing.B) {
			if w, _ := serve(b, bc.g, nil, "127.0.0.1"); w.Body.String() != "hello" {
				b.Fatalf("got %d %q", w.Code, w.Body.String())
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve(b, bc.g, nil, "127.0.0.1")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
