package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// api calls the admin API and decodes the Cloudflare-shaped envelope. It
// returns the status and the result.
func api(t *testing.T, method, path string, body any) (int, json.RawMessage, string) {
	t.Helper()
	return apiAt(t, adminAddr, method, path, body)
}

func apiAt(t *testing.T, admin, method, path string, body any) (int, json.RawMessage, string) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+admin+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Success bool `json:"success"`
		Errors  []struct{ Message string }
		Result  json.RawMessage `json:"result"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: %d, body is not the JSON envelope: %q", method, path, resp.StatusCode, raw)
	}
	if env.Success != (resp.StatusCode < 300) {
		t.Fatalf("%s %s: status %d but success=%v", method, path, resp.StatusCode, env.Success)
	}
	msg := ""
	if len(env.Errors) > 0 {
		msg = env.Errors[0].Message
	}
	return resp.StatusCode, env.Result, msg
}

type deploymentJSON struct {
	ID          string            `json:"id"`
	Source      string            `json:"source"`
	Versions    []versionShare    `json:"versions"`
	Annotations map[string]string `json:"annotations"`
}

type versionShare struct {
	VersionID  string  `json:"version_id"`
	Percentage float64 `json:"percentage"`
}

func deployments(t *testing.T, admin, worker string) []deploymentJSON {
	t.Helper()
	var out struct {
		Deployments []deploymentJSON `json:"deployments"`
	}
	apiGet(t, admin, "/gradual/workers/"+worker+"/deployments", &out)
	return out.Deployments
}

// apiGet GETs path from the admin API at admin, which must answer 200, and
// decodes the result into v.
func apiGet(t *testing.T, admin, path string, v any) {
	t.Helper()
	status, result, msg := apiAt(t, admin, http.MethodGet, path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, msg)
	}
	if err := json.Unmarshal(result, v); err != nil {
		t.Fatal(err)
	}
}

// loadRunner sends keyless requests from several goroutines until stopped
// and counts failures and which upstream answered.
type loadRunner struct {
	stop     atomic.Bool
	wg       sync.WaitGroup
	sent     atomic.Int64
	failures atomic.Int64
	firstErr atomic.Value
}

func startLoad(url string, workers int) *loadRunner {
	l := &loadRunner{}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for !l.stop.Load() {
				resp, _, err := tryGet(url, nil)
				l.sent.Add(1)
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				if err != nil {
					l.failures.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	return l
}

func (l *loadRunner) finish(t *testing.T) {
	t.Helper()
	l.stop.Store(true)
	l.wg.Wait()
	if n := l.failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed under load; first: %v", n, l.sent.Load(), l.firstErr.Load())
	}
	t.Logf("%d requests under load, none failed", l.sent.Load())
}

// share sends n keyless requests and returns the share served by body.
func share(t *testing.T, url, body string, n int) float64 {
	t.Helper()
	hits := 0
	for range n {
		_, got := get(t, url, nil)
		if got == body {
			hits++
		}
	}
	return 100 * float64(hits) / float64(n)
}

func TestLiveDeployments(t *testing.T) {
	stable, canary := newUpstream(t, "stable"), newUpstream(t, "canary")
	addr := freeAddr()
	// fetch_allow lets uploads name upstreams on loopback.
	config := site(addr, versionBlock("v1", "stable", stable)+"\t\tdeploy v1\n\t\tfetch_allow 127.0.0.1\n")
	loadCaddyfile(t, config)
	url := "http://" + addr + "/"

	load := startLoad(url, 4)

	// Upload a new upstream version.
	status, result, msg := api(t, http.MethodPost, "/gradual/workers/shop/versions", map[string]any{
		"upstreams": []string{canary.addr()}, "tag": "v2", "message": "new checkout",
	})
	if status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, msg)
	}
	var uploaded struct {
		ID   string `json:"id"`
		Kind string `json:"kind"`
	}
	json.Unmarshal(result, &uploaded)
	if uploaded.ID == "" || uploaded.Kind != "upstream" {
		t.Fatalf("upload result %s", result)
	}
	// Uploaded, not deployed: only the override reaches it.
	if _, body := get(t, url, http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="` + uploaded.ID + `"`}}); body != "canary" {
		t.Fatalf("override to the uploaded version served %q", body)
	}

	for _, pct := range []float64{10, 50} {
		status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/deployments", map[string]any{
			"strategy": "percentage",
			"versions": []map[string]any{
				{"version_id": "v1", "percentage": 100 - pct},
				{"version_id": uploaded.ID, "percentage": pct},
			},
			"annotations": map[string]string{"workers/message": fmt.Sprintf("canary to %v%%", pct)},
		})
		if status != http.StatusCreated {
			t.Fatalf("deploy %v%%: %d %s", pct, status, msg)
		}
		got := share(t, url, "canary", 1000)
		t.Logf("deployed canary at %v%%: observed %.1f%%", pct, got)
		if math.Abs(got-pct) > 6 { // 3.8 standard deviations at 50% over 1,000 requests
			t.Errorf("canary share %.1f%% after deploying %v%%", got, pct)
		}
	}

	// Roll back with no ID: to v1, the newest earlier version at 100%.
	status, _, msg = api(t, http.MethodPost, "/gradual/workers/shop/rollback", map[string]string{"message": "errors up"})
	if status != http.StatusCreated {
		t.Fatalf("rollback: %d %s", status, msg)
	}
	if got := share(t, url, "canary", 300); got != 0 {
		t.Errorf("canary still gets %.1f%% after the rollback", got)
	}
	load.finish(t)

	hist := deployments(t, adminAddr, "shop")
	wantSources := []string{"rollback", "api", "api", "config"}
	if len(hist) != len(wantSources) {
		t.Fatalf("history has %d deployments, want %d: %+v", len(hist), len(wantSources), hist)
	}
	for i, d := range hist {
		if d.Source != wantSources[i] || d.Annotations["workers/triggered_by"] != wantSources[i] {
			t.Errorf("deployment %d: source %q triggered_by %q, want %q", i, d.Source, d.Annotations["workers/triggered_by"], wantSources[i])
		}
	}
	if hist[0].Annotations["workers/message"] != "errors up" || hist[1].Annotations["workers/message"] != "canary to 50%" ||
		hist[2].Annotations["workers/message"] != "canary to 10%" {
		t.Errorf("history annotations, newest first: %+v", hist)
	}
	if len(hist[0].Versions) != 1 || hist[0].Versions[0] != (versionShare{"v1", 100}) {
		t.Errorf("rollback deployed %+v, want v1 at 100%%", hist[0].Versions)
	}

	// A "restart": the worker goes away (another config), then the same
	// Caddyfile comes back. The live deployment, not the Caddyfile's,
	// is active: deploy the canary at 100% first to tell them apart.
	if status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/rollback", map[string]string{"version_id": uploaded.ID}); status != http.StatusCreated {
		t.Fatalf("rollback to the canary: %d %s", status, msg)
	}
	loadCaddyfile(t, "http://"+freeAddr()+" {\n\trespond ok\n}\n")
	loadCaddyfile(t, config)
	if got := share(t, url, "canary", 50); got != 100 {
		t.Errorf("after the restart the canary gets %.0f%%, want the live 100%%", got)
	}

	// Editing the Caddyfile's deploy line wins over the live state.
	loadCaddyfile(t, strings.Replace(config, "deploy v1\n", "deploy v1@100%\n", 1)+"\n")
	if got := share(t, url, "canary", 50); got != 100 {
		t.Errorf("an equivalent deploy line changed the live deployment: canary %.0f%%", got)
	}
	loadCaddyfile(t, site(addr, versionBlock("v1", "stable", stable)+versionBlock("v0", "stable", stable)+"\t\tdeploy v1@50% v0@50%\n"))
	if got := share(t, url, "canary", 50); got != 0 {
		t.Errorf("after a new deploy line in the Caddyfile the canary still gets %.0f%%", got)
	}
}

func TestLiveAPIErrors(t *testing.T) {
	a := newUpstream(t, "a")
	addr := freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "a", a)+"\t\tversion v2 {\n\t\t\tupstream "+a.addr()+"\n\t\t}\n\t\tdeploy v1\n"))
	// The first poll records the config's deployment.
	waitFor(t, 5*time.Second, func() bool { return len(deployments(t, adminAddr, "shop")) == 1 },
		func() string { return "the config's deployment was not recorded" })
	before := deployments(t, adminAddr, "shop")

	cases := []struct {
		name, method, path string
		body               any
		status             int
		msg                string
	}{
		{"invalid JSON", "POST", "/gradual/workers/shop/deployments", `{"versions": [`, 400, "invalid JSON"},
		{"unknown field", "POST", "/gradual/workers/shop/deployments", `{"version": []}`, 400, "unknown field"},
		{"sum not 100", "POST", "/gradual/workers/shop/deployments", map[string]any{"versions": []map[string]any{{"version_id": "v1", "percentage": 60}, {"version_id": "v2", "percentage": 30}}}, 400, "add up to 90%"},
		{"unknown version", "POST", "/gradual/workers/shop/deployments", map[string]any{"versions": []map[string]any{{"version_id": "nope", "percentage": 100}}}, 400, `unknown version "nope"`},
		{"three decimals", "POST", "/gradual/workers/shop/deployments", map[string]any{"versions": []map[string]any{{"version_id": "v1", "percentage": 99.999}, {"version_id": "v2", "percentage": 0.001}}}, 400, "two decimals"},
		{"bad strategy", "POST", "/gradual/workers/shop/deployments", map[string]any{"strategy": "random", "versions": []map[string]any{{"version_id": "v1", "percentage": 100}}}, 400, "strategy"},
		{"unknown worker", "POST", "/gradual/workers/nope/deployments", map[string]any{}, 404, "no worker"},
		{"upload nothing", "POST", "/gradual/workers/shop/versions", map[string]any{"tag": "x"}, 400, "script"},
		{"upload both", "POST", "/gradual/workers/shop/versions", map[string]any{"script": "x", "upstreams": []string{"a:1"}}, 400, "not both"},
		{"upload bad address", "POST", "/gradual/workers/shop/versions", map[string]any{"upstreams": []string{"nope"}}, 400, "host:port"},
		{"upload loopback upstream", "POST", "/gradual/workers/shop/versions", map[string]any{"upstreams": []string{"127.0.0.1:9"}}, 400, "loopback addresses are reachable only when fetch_allow names them"},
		{"upload admin upstream", "POST", "/gradual/workers/shop/versions", map[string]any{"upstreams": []string{adminAddr}}, 400, "Caddy's admin endpoint"},
		{"upload metadata upstream", "POST", "/gradual/workers/shop/versions", map[string]any{"upstreams": []string{"169.254.169.254:80"}}, 400, "link-local"},
		{"upload bad script", "POST", "/gradual/workers/shop/versions", map[string]any{"script": "export default { fetch( }"}, 400, "does not compile"},
		{"upload oversize", "POST", "/gradual/workers/shop/versions", map[string]any{"script": strings.Repeat("x", 12<<20)}, 413, "over"},
		{"rollback unknown", "POST", "/gradual/workers/shop/rollback", map[string]any{"version_id": "nope"}, 400, `unknown version "nope"`},
		{"rollback nowhere", "POST", "/gradual/workers/shop/rollback", nil, 409, "no earlier version"},
		{"wrong method", "DELETE", "/gradual/workers/shop/deployments", nil, 405, "not allowed"},
		{"no such endpoint", "GET", "/gradual/workers/shop/nope", nil, 404, "no such endpoint"},
		{"no such endpoint at the top", "GET", "/gradual/nope", nil, 404, "no such endpoint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, msg := api(t, tc.method, tc.path, tc.body)
			if status != tc.status || !strings.Contains(msg, tc.msg) {
				t.Errorf("%d %q, want %d with %q", status, msg, tc.status, tc.msg)
			}
		})
	}
	// Nothing changed.
	if after := deployments(t, adminAddr, "shop"); len(after) != len(before) {
		t.Errorf("bad requests changed the history: %d deployments, had %d", len(after), len(before))
	}
	status, result, _ := api(t, http.MethodGet, "/gradual/workers/shop/versions", nil)
	var versions []map[string]any
	json.Unmarshal(result, &versions)
	if status != 200 || len(versions) != 2 {
		t.Errorf("bad uploads changed the versions: %s", result)
	}
}

var (
	caddyBinOnce sync.Once
	caddyBin     string
	caddyBinErr  error
)

// builtCaddy builds Caddy with the plugin once per test run.
func builtCaddy(t *testing.T) string {
	t.Helper()
	caddyBinOnce.Do(func() {
		dir, err := os.MkdirTemp(storageRoot, "bin") // removed by TestMain
		if err != nil {
			caddyBinErr = err
			return
		}
		caddyBin = filepath.Join(dir, "caddy")
		cmd := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			caddyBinErr = fmt.Errorf("building caddy: %v\n%s", err, out)
		}
	})
	if caddyBinErr != nil {
		t.Fatal(caddyBinErr)
	}
	return caddyBin
}

// TestSharedStorage runs a second Caddy process on the same storage: a
// deployment made through the first one reaches the second within the
// poll interval.
func TestSharedStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a second Caddy process")
	}
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	addr1, addr2, admin2 := freeAddr(), freeAddr(), freeAddr()
	body := versionBlock("v1", "a", a) + versionBlock("v2", "b", b) + "\t\tdeploy v1\n"
	loadCaddyfile(t, site(addr1, body))

	storage := storageFor(t)
	cfg := filepath.Join(t.TempDir(), "Caddyfile")
	os.WriteFile(cfg, []byte(fmt.Sprintf("{\n\tadmin %s\n\tauto_https off\n\tstorage file_system %s\n}\n%s", admin2, storage, site(addr2, body))), 0o644)
	logs := runCaddy(t, cfg)
	waitFor(t, 30*time.Second, func() bool {
		resp, _, err := tryGet("http://"+addr2+"/", nil)
		return err == nil && resp.StatusCode == 200
	}, func() string { return "second caddy did not come up:\n" + logs.String() })

	if status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/deployments", map[string]any{
		"versions": []map[string]any{{"version_id": "v2", "percentage": 100}},
	}); status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", status, msg)
	}
	start := time.Now()
	waitFor(t, 10*time.Second, func() bool {
		_, body, err := tryGet("http://"+addr2+"/", nil)
		return err == nil && body == "b"
	}, func() string { return "the second caddy never served the new deployment:\n" + logs.String() })
	t.Logf("second caddy converged in %v", time.Since(start).Round(10*time.Millisecond))
	if hist := deployments(t, admin2, "shop"); len(hist) == 0 || hist[0].Versions[0].VersionID != "v2" {
		t.Errorf("second caddy's history: %+v", hist)
	}
}

func waitFor(t *testing.T, timeout time.Duration, ok func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLiveScriptUpload(t *testing.T) {
	a := newUpstream(t, "a")
	addr := freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "a", a)))
	status, result, msg := api(t, http.MethodPost, "/gradual/workers/shop/versions", map[string]any{
		"script": `export default {
			async fetch(request, env) {
				console.log("serving", env.WORD);
				return Response.json({ word: env.WORD, conf: env.CONF, meta: env.CF_VERSION_METADATA });
			},
		};`,
		"tag":  "script-1",
		"vars": map[string]string{"WORD": "uploaded"},
		"json": map[string]any{"CONF": map[string]any{"n": 1, "list": []string{"x"}}},
	})
	if status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, msg)
	}
	var v struct{ ID, Kind string }
	json.Unmarshal(result, &v)
	if v.Kind != "script" {
		t.Fatalf("upload result %s", result)
	}
	if status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/deployments", map[string]any{
		"versions": []map[string]any{{"version_id": v.ID, "percentage": 100}},
	}); status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", status, msg)
	}
	resp, body := get(t, "http://"+addr+"/", nil)
	var got struct {
		Word string
		Conf json.RawMessage
		Meta struct{ ID, Tag, Timestamp string }
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %q: %v", resp.StatusCode, body, err)
	}
	if got.Word != "uploaded" || string(got.Conf) != `{"list":["x"],"n":1}` || got.Meta.ID != v.ID || got.Meta.Tag != "script-1" {
		t.Errorf("served %+v", got)
	}
	if _, err := time.Parse(time.RFC3339, got.Meta.Timestamp); err != nil {
		t.Errorf("CF_VERSION_METADATA.timestamp %q: %v", got.Meta.Timestamp, err)
	}
	if resp.Header.Get("X-Worker-Version") != v.ID || resp.Header.Get("X-Worker-Version-Tag") != "script-1" {
		t.Errorf("placeholders: %v", resp.Header)
	}
}
