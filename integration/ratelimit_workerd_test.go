package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// The rate-limiting binding is not built into workerd: Cloudflare's edge
// implements it outside the open-source runtime, and wrangler dev gives
// workerd a wrapped binding whose JavaScript module, shipped in the npm
// package miniflare, checks limit()'s options and asks a counter service
// (a Durable Object there) for the verdict. The differential test does
// the same with the pinned workerd: it loads that module, as installed
// from npm, under the name miniflare gives it, and puts a small counter of
// its own behind it. What it compares is what the module decides, the
// errors for bad options above all, and the counting the counter does in
// fixed windows aligned to the clock, as miniflare's does.
//
// miniflare is installed, without its dependencies' install scripts or
// optional packages, into <repo>/.cache/miniflare:
//
//	npm install --prefix .cache/miniflare --no-save --no-audit --no-fund --ignore-scripts --omit=optional miniflare@<miniflareVersion>
const miniflareVersion = "4.20260730.0"

// rateLimitModule is the module's path inside the miniflare package, and
// rateLimitModuleName the name wrangler dev gives it in workerd.
const (
	rateLimitModule     = "dist/src/workers/ratelimit/ratelimit.worker.js"
	rateLimitModuleName = "cloudflare-internal:ratelimit:module"
)

// rateLimitCounter stands in for miniflare's counter: POST {key, limit,
// period} → {success}, a fixed window of period seconds per key, where a
// refused call is not counted.
const rateLimitCounter = `const windows = new Map();
export default {
  async fetch(request) {
    const { key, limit, period } = await request.json();
    const window = Math.floor(Date.now() / (period * 1000));
    const id = period + "/" + key;
    let w = windows.get(id);
    if (!w || w.window !== window) windows.set(id, (w = { window, count: 0 }));
    if (w.count >= limit) return Response.json({ success: false });
    w.count++;
    return Response.json({ success: true });
  },
};
`

// miniflareRateLimitModule returns the path of the module, installing the
// pinned miniflare with npm if needed, or skips the test without npm.
func miniflareRateLimitModule(t *testing.T) string {
	t.Helper()
	prefix, err := filepath.Abs("../.cache/miniflare")
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(prefix, "node_modules", "miniflare")
	module := filepath.Join(pkg, rateLimitModule)
	data, err := os.ReadFile(filepath.Join(pkg, "package.json"))
	var meta struct{ Version string }
	if err == nil && json.Unmarshal(data, &meta) == nil && meta.Version == miniflareVersion && fileExists(module) {
		return module
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skipf("miniflare@%s is not installed in %s and npm is not on PATH", miniflareVersion, prefix)
	}
	t.Logf("installing miniflare@%s into %s", miniflareVersion, prefix)
	out, err := exec.Command(npm, "install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund",
		"--ignore-scripts", "--omit=optional", "miniflare@"+miniflareVersion).CombinedOutput()
	if err != nil {
		t.Fatalf("npm install miniflare@%s: %v\n%s", miniflareVersion, err, out)
	}
	if !fileExists(module) {
		t.Fatalf("miniflare@%s has no %s", miniflareVersion, rateLimitModule)
	}
	return module
}

// rateLimitWorkerdConfig writes into dir a workerd config that serves
// script on addr with LIMITER, a rate-limiting binding of limit calls per
// period seconds, wired as wrangler dev wires it.
func rateLimitWorkerdConfig(t *testing.T, dir, module, script, addr string, limit, period int) {
	t.Helper()
	files := map[string]string{"ratelimit.worker.js": module, "worker.js": script}
	for name, src := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "counter.js"), []byte(rateLimitCounter), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .main),
    (name = "counter", worker = .counter),
  ],
  sockets = [(name = "http", address = %q, http = (), service = "main")],
  extensions = [(modules = [(name = %q, esModule = embed "ratelimit.worker.js", internal = true)])],
);

const main :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = %q,
  bindings = [(name = "LIMITER", wrapped = (
    moduleName = %q,
    innerBindings = [
      (name = "fetcher", service = "counter"),
      (name = "limit", json = "%d"),
      (name = "period", json = "%d"),
    ],
  ))],
);

const counter :Workerd.Worker = (
  modules = [(name = "counter.js", esModule = embed "counter.js")],
  compatibilityDate = %q,
);
`, addr, rateLimitModuleName, workerdCompatDate, rateLimitModuleName, limit, period, workerdCompatDate)
	if err := os.WriteFile(filepath.Join(dir, "config.capnp"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRateLimitWorkerdDifferential runs testdata/ratelimit/args.js, which
// calls limit() with good and bad options, in workerd and in Caddy, and
// requires the same outcome for every call: the same rejection (error
// class and message), or the same {success}.
func TestRateLimitWorkerdDifferential(t *testing.T) {
	bin := workerdBinary(t)
	module := miniflareRateLimitModule(t)
	script, err := filepath.Abs("../workerhost/testdata/ratelimit/args.js")
	if err != nil {
		t.Fatal(err)
	}
	addrs := freeAddrs(t, 2)
	workerdAddr, caddyAddr := addrs[0], addrs[1]
	dir := t.TempDir()
	rateLimitWorkerdConfig(t, dir, module, script, workerdAddr, 3, 60)
	startWorkerd(t, bin, dir, []string{workerdAddr})
	loadCaddyfile(t, workerSite(caddyAddr, "args", scriptVersion("v1", "t", script, nil)+"\t\t\tratelimit LIMITER limit 3 period 60s\n"))

	// The script's counting cases take a few milliseconds; they must not
	// straddle a minute.
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 3*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
	results := map[string][]map[string]any{}
	for side, addr := range map[string]string{"workerd": workerdAddr, "caddy": caddyAddr} {
		resp, body := get(t, "http://"+addr+"/?p=diff-", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", side, resp.StatusCode, body)
		}
		var r []map[string]any
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("%s: %v: %s", side, err, body)
		}
		results[side] = r
	}
	ours, theirs := results["caddy"], results["workerd"]
	if len(ours) != len(theirs) {
		t.Fatalf("caddy ran %d cases, workerd %d", len(ours), len(theirs))
	}
	for i := range ours {
		name := theirs[i]["name"]
		if reflect.DeepEqual(ours[i], theirs[i]) {
			t.Logf("%s: %v", name, outcome(theirs[i]))
			continue
		}
		t.Errorf("%s:\n\tcaddy   %v\n\tworkerd %v", name, outcome(ours[i]), outcome(theirs[i]))
	}
}

// outcome is a case's result without its name.
func outcome(r map[string]any) any {
	for _, k := range []string{"value", "rejected", "sync"} {
		if v, ok := r[k]; ok {
			return map[string]any{k: v}
		}
	}
	return r
}
