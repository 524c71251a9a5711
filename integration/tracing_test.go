package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestTracingUpstreamVersions sends traced requests that select versions by
// override, affinity and at random, and checks the exported spans: the
// server span and the handler's span carry the version, the upstream
// request is a client span under the handler's span, and the upstream got
// a traceparent naming that client span.
func TestTracingUpstreamVersions(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	addr := freeAddr()
	loadCaddyfile(t, fmt.Sprintf(`http://%s {
	tracing {
		span caddy-request
	}
	header {
		defer
		X-Worker-Version {http.gradual.version_id}
	}
	gradual shop {
%s%s		deploy v1@50%% v2@50%%
	}
}
`, addr, versionBlock("v1", "tag-a", a), versionBlock("v2", "tag-b", b)))

	cases := []struct {
		name, selection string
		header          http.Header
	}{
		{"override", "override", http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v2"`}}},
		{"affinity", "affinity", http.Header{"Cloudflare-Workers-Version-Key": {"user-7"}}},
		{"random", "random", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			traceID, parentID := randomHex(16), randomHex(8)
			header := http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}}
			for k, v := range tc.header {
				header[k] = v
			}
			resp, body := get(t, "http://"+addr+"/", header)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			version := resp.Header.Get("X-Worker-Version")
			up := map[string]*upstream{"v1": a, "v2": b}[version]
			if up == nil {
				t.Fatalf("served by unknown version %q", version)
			}

			spans := otlp.trace(t, traceID, 3)
			server := onlySpan(t, spans, tracepb.Span_SPAN_KIND_SERVER)
			handler := onlySpan(t, spans, tracepb.Span_SPAN_KIND_INTERNAL)
			client := onlySpan(t, spans, tracepb.Span_SPAN_KIND_CLIENT)
			for _, s := range spans {
				if got := attr(s, "worker.version.id"); got != version {
					t.Errorf("span %q (%v): worker.version.id %q, want %q", s.Name, s.Kind, got, version)
				}
				if attr(s, "worker.name") != "shop" || attr(s, "worker.version.selection") != tc.selection ||
					attr(s, "worker.version.tag") != map[string]string{"v1": "tag-a", "v2": "tag-b"}[version] {
					t.Errorf("span %q: attributes %v", s.Name, s.Attributes)
				}
			}
			if hex.EncodeToString(server.ParentSpanId) != parentID {
				t.Errorf("server span's parent %x, want the client's %s", server.ParentSpanId, parentID)
			}
			if handler.Name != "shop" || string(handler.ParentSpanId) != string(server.SpanId) {
				t.Errorf("handler span %q parent %x, want \"shop\" under the server span %x", handler.Name, handler.ParentSpanId, server.SpanId)
			}
			if string(client.ParentSpanId) != string(handler.SpanId) {
				t.Errorf("client span parent %x, want the handler span %x", client.ParentSpanId, handler.SpanId)
			}
			seen := up.seen()
			tp := seen[len(seen)-1].Get("Traceparent")
			want := "00-" + traceID + "-" + hex.EncodeToString(client.SpanId) + "-01"
			if tp != want {
				t.Errorf("upstream got traceparent %q, want %q (the client span)", tp, want)
			}
		})
	}
}

func onlySpan(t *testing.T, spans []*tracepb.Span, kind tracepb.Span_SpanKind) *tracepb.Span {
	t.Helper()
	var found []*tracepb.Span
	var names []string
	for _, s := range spans {
		names = append(names, fmt.Sprintf("%s(%v)", s.Name, s.Kind))
		if s.Kind == kind {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %v span, got spans %s", kind, strings.Join(names, ", "))
	}
	return found[0]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestTracingScriptVersion checks a script version: its fetch() is a
// client span under the handler's span, carrying the version, and the
// origin gets a traceparent naming it; an uncaught exception is recorded on
// the handler's span with an error status.
func TestTracingScriptVersion(t *testing.T) {
	origin := newUpstream(t, "origin")
	script := filepath.Join(t.TempDir(), "proxy.js")
	os.WriteFile(script, []byte(`export default {
	async fetch(request, env) {
		if (new URL(request.url).pathname === "/throw") throw new TypeError("boom from the script");
		const res = await fetch(env.ORIGIN + "/data");
		return new Response("via script: " + await res.text());
	},
};
`), 0o644)
	addr := freeAddr()
	loadCaddyfile(t, fmt.Sprintf(`http://%s {
	tracing {
		span caddy-request
	}
	gradual shop {
		version s1 {
			script %s
			tag scripted
			var ORIGIN http://%s
		}
		fetch_allow 127.0.0.1
	}
}
`, addr, script, origin.addr()))

	traceID, parentID := randomHex(16), randomHex(8)
	resp, body := get(t, "http://"+addr+"/", http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}})
	if resp.StatusCode != 200 || body != "via script: origin" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	spans := otlp.trace(t, traceID, 3)
	handler := onlySpan(t, spans, tracepb.Span_SPAN_KIND_INTERNAL)
	client := onlySpan(t, spans, tracepb.Span_SPAN_KIND_CLIENT)
	for _, s := range spans {
		if attr(s, "worker.version.id") != "s1" || attr(s, "worker.version.tag") != "scripted" || attr(s, "worker.version.selection") != "random" {
			t.Errorf("span %q (%v) attributes %v", s.Name, s.Kind, s.Attributes)
		}
	}
	if string(client.ParentSpanId) != string(handler.SpanId) {
		t.Errorf("fetch span parent %x, want the handler span %x", client.ParentSpanId, handler.SpanId)
	}
	seen := origin.seen()
	if tp, want := seen[len(seen)-1].Get("Traceparent"), "00-"+traceID+"-"+hex.EncodeToString(client.SpanId)+"-01"; tp != want {
		t.Errorf("origin got traceparent %q, want %q", tp, want)
	}

	traceID = randomHex(16)
	resp, _ = get(t, "http://"+addr+"/throw", http.Header{"Traceparent": {"00-" + traceID + "-" + parentID + "-01"}})
	if resp.StatusCode != 500 {
		t.Fatalf("throwing script: status %d", resp.StatusCode)
	}
	spans = otlp.trace(t, traceID, 2)
	handler = onlySpan(t, spans, tracepb.Span_SPAN_KIND_INTERNAL)
	if handler.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("handler span status %v, want error", handler.Status)
	}
	var recorded bool
	for _, ev := range handler.Events {
		if ev.Name == "exception" {
			for _, kv := range ev.Attributes {
				if kv.Key == "exception.message" && strings.Contains(anyValue(kv.Value), "boom from the script") {
					recorded = true
				}
			}
		}
	}
	if !recorded {
		t.Errorf("the exception is not recorded on the handler span: events %v", handler.Events)
	}
}
