package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// benchHandler is a provisioned two-version handler whose versions answer
// nothing, so benchmarks measure the handler's own work.
func benchHandler(b *testing.B) *Gradual {
	g := &Gradual{Worker: "shop", Versions: []*Version{staticVersion("v1", "t1"), staticVersion("v2", "t2")},
		Deploy: []DeployEntry{{"v1", 90}, {"v2", 10}}}
	provision(b, g)
	for _, v := range g.set.Load().byID {
		v.backend = upstreamBackend{h: nopHandler{}}
	}
	return g
}

// tracedRequest returns r inside a recording server span of a provider
// that exports to memory, as Caddy's tracing directive would set it up.
func tracedRequest(b *testing.B, r *http.Request) (*http.Request, trace.Span) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("bench").Start(r.Context(), "server", trace.WithSpanKind(trace.SpanKindServer))
	return r.WithContext(ctx), span
}

// BenchmarkTag measures tagging a request with its version, by part:
// placeholders, the span work (with tracing off: one context look-up), the
// access-log field (inside Caddy's ExtraLogFields), and all of it with
// tracing off and on.
func BenchmarkTag(b *testing.B) {
	for _, bc := range []struct {
		name   string
		traced bool
		tag    func(g *Gradual, r *http.Request, v *version)
	}{
		{"placeholders", false, func(g *Gradual, r *http.Request, v *version) { g.setPlaceholders(r, v, selectedRandom) }},
		{"spans/tracing=off", false, func(g *Gradual, r *http.Request, v *version) { startSpans(r, g.Worker, v.spanAttrs[selectedRandom]) }},
		{"access-log", false, func(g *Gradual, r *http.Request, v *version) { tagAccessLog(r, v) }},
		{"all/tracing=off", false, func(g *Gradual, r *http.Request, v *version) { g.tag(r, v, selectedRandom) }},
		{"all/tracing=on", true, func(g *Gradual, r *http.Request, v *version) {
			if _, span := g.tag(r, v, selectedRandom); span != nil {
				span.End()
			}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := benchHandler(b)
			v := g.set.Load().byID["v1"]
			r, _ := request(nil, "127.0.0.1")
			if bc.traced {
				var server trace.Span
				r, server = tracedRequest(b, r)
				defer server.End()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				bc.tag(g, r, v)
			}
		})
	}
}

// BenchmarkServeHTTP measures the handler's whole cost per request:
// choosing the version, tagging, metrics, live stats and (when on) spans.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct {
		name   string
		header http.Header
		traced bool
	}{
		{"keyless", nil, false},
		{"keyed", http.Header{"Cloudflare-Workers-Version-Key": {"9b2d44e1-5a6f-4c1e-8d7a-3f2b1c0d9e8f"}}, false},
		{"override", http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v2"`}}, false},
		{"keyless/traced", nil, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g := benchHandler(b)
			r, _ := request(bc.header, "127.0.0.1")
			if bc.traced {
				var server trace.Span
				r, server = tracedRequest(b, r)
				defer server.End()
			}
			w := httptest.NewRecorder()
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := g.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
