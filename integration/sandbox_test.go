package integration

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFetchSandbox drives a "fetch the URL I am given" worker (a CORS
// proxy, a link previewer) through a real Caddy: whatever fetch_allow says,
// no client can make it read the admin endpoint's config or load a new one,
// and without fetch_allow it reaches nothing on loopback.
func TestFetchSandbox(t *testing.T) {
	inner := newUpstream(t, "inner")
	script := filepath.Join(t.TempDir(), "proxy.js")
	os.WriteFile(script, []byte(`export default {
	async fetch(request) {
		const q = new URL(request.url).searchParams;
		try {
			const res = await fetch(q.get("u"), { method: q.get("m") || "GET", body: q.get("b") });
			return new Response("fetched " + res.status + ": " + await res.text());
		} catch (e) {
			return new Response(e.name + ": " + e.message, { status: 502 });
		}
	},
};
`), 0o644)
	open, closed := freeAddr(), freeAddr()
	loadCaddyfile(t, fmt.Sprintf(`http://%s {
	gradual open {
		version v1 {
			script %s
		}
		fetch_allow 127.0.0.1
	}
}
http://%s {
	gradual closed {
		version v1 {
			script %s
		}
	}
}
`, open, script, closed, script))

	proxy := func(site, target, method, body string) (int, string) {
		q := url.Values{"u": {target}, "m": {method}}
		if body != "" {
			q.Set("b", body)
		}
		resp, text := get(t, "http://"+site+"/?"+q.Encode(), nil)
		return resp.StatusCode, text
	}
	_, adminPort, _ := strings.Cut(adminAddr, ":")
	adminRule := "TypeError: fetch to 127.0.0.1:" + adminPort + " is blocked: it is Caddy's admin endpoint, which no worker may reach"
	tests := []struct {
		name, site, target, method, body string
		status                           int
		want                             string
	}{
		{"fetch_allow opens loopback", open, inner.srv.URL, "GET", "", 200, "fetched 200: inner"},
		{"admin config stays closed", open, "http://" + adminAddr + "/config/", "GET", "", 502, adminRule},
		{"admin by name stays closed", open, "http://localhost:" + adminPort + "/config/", "GET", "", 502, "Caddy's admin endpoint"},
		{"admin load stays closed", open, "http://" + adminAddr + "/load", "POST", `{"apps":{}}`, 502, adminRule},
		{"loopback closed by default", closed, inner.srv.URL, "GET", "", 502, "loopback addresses are reachable only when fetch_allow names them"},
		{"metadata closed by default", closed, "http://169.254.169.254/latest/meta-data/", "GET", "", 502, "link-local (cloud metadata)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := proxy(tt.site, tt.target, tt.method, tt.body)
			if status != tt.status || !strings.HasPrefix(body, tt.want) && !strings.Contains(body, tt.want) {
				t.Fatalf("%d %q, want %d and %q", status, body, tt.status, tt.want)
			}
		})
	}
	// The config is still the one loaded: the POST /load never arrived.
	resp, _ := get(t, "http://"+open+"/?u="+url.QueryEscape(inner.srv.URL), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the attempts the site answers %d", resp.StatusCode)
	}
}
