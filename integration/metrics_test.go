package integration

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the admin endpoint's /metrics and returns the value of each
// caddy_gradual_* sample by its series name, e.g.
// `caddy_gradual_requests_total{code="200",version="v1",worker="metrics"}`.
func scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, fam := range families {
		if !strings.HasPrefix(name, "caddy_gradual_") {
			continue
		}
		for _, m := range fam.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			series := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[series] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[series] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[strings.Replace(series, name, name+"_count", 1)] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	dead := freeAddr()
	addr := freeAddr()
	config := func(deploy string) string {
		return site(addr, versionBlock("v1", "a", a)+versionBlock("v2", "b", b)+
			"\t\tversion v3 {\n\t\t\tupstream "+dead+"\n\t\t}\n\t\tversion v4 {\n\t\t\tupstream "+b.addr()+"\n\t\t}\n"+
			"\t\tdeploy "+deploy+"\n")
	}
	// A worker name of its own, so other tests' series do not interfere.
	cfg := strings.Replace(config("v1@75.5% v2@24.5%"), "gradual shop", "gradual metrics", 1)
	loadCaddyfile(t, cfg)

	send := func(n int, override string) {
		for range n {
			h := http.Header{}
			if override != "" {
				h.Set("Cloudflare-Workers-Version-Overrides", `metrics="`+override+`"`)
			}
			get(t, "http://"+addr+"/", h)
		}
	}
	send(7, "v1")
	send(5, "v2")
	send(3, "v3") // 502: the upstream is down

	series := func(kind, version, extra string) string {
		return fmt.Sprintf(`caddy_gradual_%s{%sversion=%q,worker="metrics"}`, kind, extra, version)
	}
	want := map[string]float64{
		series("requests_total", "v1", `code="200",`):      7,
		series("requests_total", "v2", `code="200",`):      5,
		series("requests_total", "v3", `code="502",`):      3,
		series("request_duration_seconds_count", "v1", ""): 7,
		series("request_duration_seconds_count", "v3", ""): 3,
		series("exceptions_total", "v1", ""):               0,
		series("exceptions_total", "v3", ""):               3,
		series("deployment_percent", "v1", ""):             75.5,
		series("deployment_percent", "v2", ""):             24.5,
		series("deployment_percent", "v3", ""):             0,
	}
	check := func(got map[string]float64, want map[string]float64) {
		t.Helper()
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
	}
	check(scrape(t), want)

	// Reload: v2 raised, v4 dropped. Counters of unchanged versions carry
	// on; the dropped version's series go away.
	cfg = strings.Replace(config("v1@50% v2@50%"), "gradual shop", "gradual metrics", 1)
	cfg = strings.Replace(cfg, "\t\tversion v4 {\n\t\t\tupstream "+b.addr()+"\n\t\t}\n", "", 1)
	loadCaddyfile(t, cfg)
	send(2, "v1")
	want[series("requests_total", "v1", `code="200",`)] = 9
	want[series("request_duration_seconds_count", "v1", "")] = 9
	want[series("deployment_percent", "v1", "")] = 50
	want[series("deployment_percent", "v2", "")] = 50
	got := scrape(t)
	check(got, want)
	for k := range got {
		if strings.Contains(k, `version="v4"`) {
			t.Errorf("series %s of a removed version is still exported", k)
		}
	}
}

// TestMetricsScriptExceptions counts uncaught exceptions and CPU-limit
// overruns of a script version, and requests after them.
func TestMetricsScriptExceptions(t *testing.T) {
	script := filepath.Join(t.TempDir(), "flaky.js")
	os.WriteFile(script, []byte(`export default {
	async fetch(request) {
		const path = new URL(request.url).pathname;
		if (path === "/throw") throw new Error("flaky");
		if (path === "/loop") for (;;) {}
		return new Response("fine");
	},
};
`), 0o644)
	addr := freeAddr()
	loadCaddyfile(t, fmt.Sprintf("http://%s {\n\tgradual flaky {\n\t\tversion s1 {\n\t\t\tscript %s\n\t\t}\n\t\tcpu_limit 20ms\n\t}\n}\n", addr, script))
	for path, n := range map[string]int{"/": 4, "/throw": 3, "/loop": 2} {
		for range n {
			get(t, "http://"+addr+path, nil)
		}
	}
	got := scrape(t)
	for series, want := range map[string]float64{
		`caddy_gradual_requests_total{code="200",version="s1",worker="flaky"}`: 4,
		`caddy_gradual_requests_total{code="500",version="s1",worker="flaky"}`: 3,
		`caddy_gradual_requests_total{code="503",version="s1",worker="flaky"}`: 2,
		`caddy_gradual_exceptions_total{version="s1",worker="flaky"}`:          5,
		`caddy_gradual_deployment_percent{version="s1",worker="flaky"}`:        100,
	} {
		if got[series] != want {
			t.Errorf("%s = %v, want %v", series, got[series], want)
		}
	}
}

// TestMetricsUpstreamStatus counts an upstream version's requests by the
// status its upstream answered.
func TestMetricsUpstreamStatus(t *testing.T) {
	missing := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(missing.Close)
	addr := freeAddr()
	loadCaddyfile(t, fmt.Sprintf("http://%s {\n\tgradual statuses {\n\t\tversion u1 {\n\t\t\tupstream %s\n\t\t}\n\t}\n}\n",
		addr, strings.TrimPrefix(missing.URL, "http://")))
	for range 3 {
		if resp, _ := get(t, "http://"+addr+"/", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d, want 404 from the upstream", resp.StatusCode)
		}
	}
	if got := scrape(t)[`caddy_gradual_requests_total{code="404",version="u1",worker="statuses"}`]; got != 3 {
		t.Errorf("requests_total with code 404 = %v, want 3", got)
	}
}
