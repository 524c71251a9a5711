package integration

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
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
