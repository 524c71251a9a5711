package integration

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// wranglerProject is a TypeScript Worker with a relative import (so
// wrangler bundles it), a var, a var that is a table (which wrangler
// sends as a json binding) and the version metadata binding; it
// answers with the version that served it.
var wranglerProject = map[string]string{
	"wrangler.toml": `name = "shop"
main = "src/index.ts"
compatibility_date = "2025-01-02"
upload_source_maps = true
workers_dev = false

[vars]
GREETING = "hello"
CONFIG = { regions = ["eu", "us"], retries = 3 }

[version_metadata]
binding = "CF_VERSION_METADATA"

[[ratelimits]]
name = "LIMITER"
namespace_id = "1001"
simple = { limit = 100, period = 60 }
`,
	"src/index.ts": `import { fail, greet } from "./greet";

interface Env {
	GREETING: string;
	API_KEY?: string;
	CONFIG: { regions: string[]; retries: number };
	LIMITER: { limit(o: { key: string }): Promise<{ success: boolean }> };
	CF_VERSION_METADATA: { id: string; tag: string };
}

export default {
	async fetch(request: Request, env: Env): Promise<Response> {
		const path = new URL(request.url).pathname;
		if (path === "/secret") {
			return new Response(env.API_KEY ?? "no secret");
		}
		if (path === "/config") {
			return new Response(Array.isArray(env.CONFIG.regions) + " " + JSON.stringify(env.CONFIG));
		}
		if (path === "/limit") {
			return new Response(String((await env.LIMITER.limit({ key: "k" })).success));
		}
		if (path === "/throw") {
			fail();
		}
		console.log("served by", env.CF_VERSION_METADATA.tag);
		return new Response(env.CF_VERSION_METADATA.id + " " + greet(env.GREETING));
	},
};
`,
	"src/greet.ts": `export function greet(word: string): string {
	return word + ", world";
}

export function fail(): never {
	throw new Error("failing on purpose");
}
`,
	"secrets.json": `{"API_KEY": "s3cret"}`,
}

// TestWranglerAgainstCaddy runs wrangler, unchanged, against a real Caddy
// serving gradual_api, and checks what it prints against what the site
// serves.
func TestWranglerAgainstCaddy(t *testing.T) {
	const token = "wrangler-test-token"
	a := newUpstream(t, "a")
	addr, apiAddr := freeAddr(), freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "a", a)+"\t\tdeploy v1\n\t\tratelimit LIMITER limit 100 period 60s\n")+fmt.Sprintf(`
http://%s {
	gradual_api {
		token %s
	}
}
`, apiAddr, token))
	base := "http://" + apiAddr + "/client/v4"
	w := newWrangler(t, base, token, wranglerProject)
	url := "http://" + addr + "/"

	upload := func(tag string, args ...string) string {
		t.Helper()
		m := versionIDRE.FindStringSubmatch(w.mustRun(t, append([]string{"versions", "upload", "--tag", tag, "--message", "release " + tag}, args...)...))
		if m == nil {
			t.Fatal("no version ID printed")
		}
		return m[1]
	}
	// The first upload brings a secret; the second keeps it, as
	// wrangler versions upload asks (keep_bindings secret_text).
	id1, id2 := upload("w1", "--secrets-file", "secrets.json"), upload("w2")
	override := func(id string) http.Header {
		return http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="` + id + `"`}}
	}

	// An uploaded version is reachable by override before any deployment.
	if _, body := get(t, url, override(id1)); body != id1+" hello, world" {
		t.Fatalf("override to the uploaded version served %q", body)
	}
	for _, id := range []string{id1, id2} {
		if _, body := get(t, url+"secret", override(id)); body != "s3cret" {
			t.Errorf("version %s has the secret %q", id, body)
		}
	}
	if _, body := get(t, url+"config", override(id2)); body != `true {"regions":["eu","us"],"retries":3}` {
		t.Errorf("the json binding is %q", body)
	}
	if _, body := get(t, url+"limit", override(id1)); body != "true" {
		t.Errorf("the ratelimit binding answered %q", body)
	}

	var list []struct {
		ID          string
		Annotations map[string]string
	}
	if err := json.Unmarshal([]byte(w.mustRun(t, "versions", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range list {
		ids = append(ids, v.ID)
	}
	if len(list) != 3 || list[0].ID != "v1" || list[1].ID != id1 || list[2].ID != id2 || list[2].Annotations["workers/tag"] != "w2" {
		t.Errorf("versions list: %v", ids)
	}
	if out := w.mustRun(t, "versions", "view", id2); !strings.Contains(out, "GREETING") || !strings.Contains(out, "release w2") || !strings.Contains(out, "Secret Name:  API_KEY") || strings.Contains(out, "s3cret") || !strings.Contains(out, "env.LIMITER") || !strings.Contains(out, "CONFIG") {
		t.Errorf("versions view lacks the var, the json binding, the message, the secret's name or the rate limit, or shows the secret:\n%s", out)
	}

	out := w.mustRun(t, "versions", "deploy", id1+"@90%", id2+"@10%", "-y", "--message", "canary")
	if !strings.Contains(out, "at 90% and version "+id2+" at 10%") {
		t.Errorf("versions deploy printed no split")
	}
	got := share(t, url, id2+" hello, world", 1000)
	t.Logf("wrangler deployed %s at 10%%: observed %.1f%%", id2, got)
	if math.Abs(got-10) > 4 { // 4.2 standard deviations at 10% over 1,000 requests
		t.Errorf("share %.1f%% after deploying 10%%", got)
	}
	var status struct {
		Versions []struct {
			VersionID  string `json:"version_id"`
			Percentage float64
		}
	}
	if err := json.Unmarshal([]byte(w.mustRun(t, "deployments", "status", "--json")), &status); err != nil || len(status.Versions) != 2 || status.Versions[1].Percentage != 10 {
		t.Errorf("deployments status: %+v, %v", status, err)
	}

	// Rolling back without an ID goes to the newest earlier deployment
	// at 100%: v1, as the Caddyfile deployed it.
	out = w.mustRun(t, "rollback", "-y", "--message", "back")
	if !strings.Contains(out, "Worker Version v1 has been deployed to 100% of traffic") {
		t.Errorf("rollback did not go to v1")
	}
	if got := share(t, url, "a", 100); got != 100 {
		t.Errorf("after the rollback %.0f%% went to v1", got)
	}

	out = w.mustRun(t, "deploy", "--message", "all in")
	m := regexp.MustCompile(`Current Version ID: (` + uuidRE.String() + `)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatal("wrangler deploy printed no version ID")
	}
	if got := share(t, url, m[1]+" hello, world", 100); got != 100 {
		t.Errorf("after wrangler deploy %.0f%% went to %s", got, m[1])
	}
	var deployments []struct {
		Versions []struct {
			VersionID string `json:"version_id"`
		}
	}
	if err := json.Unmarshal([]byte(w.mustRun(t, "deployments", "list", "--json")), &deployments); err != nil || len(deployments) == 0 ||
		deployments[len(deployments)-1].Versions[0].VersionID != m[1] {
		t.Errorf("deployments list: %+v, %v", deployments, err)
	}

	t.Run("tail", func(t *testing.T) {
		tail := w.start(t, "tail", "--format", "pretty", "--version-id", m[1])
		for start := time.Now(); !strings.Contains(tail.output(), "Connected to shop, waiting for logs..."); time.Sleep(50 * time.Millisecond) {
			if time.Since(start) > time.Minute {
				t.Fatalf("wrangler tail did not connect:\n%s", tail.output())
			}
		}
		time.Sleep(time.Second)
		for start := time.Now(); !strings.Contains(tail.output(), "(log) served by"); time.Sleep(200 * time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("no event in the tail:\n%s", tail.output())
			}
			get(t, url+"tailed", nil)
		}
		// An exception's stack names the TypeScript source, through the
		// source map wrangler uploaded.
		for start := time.Now(); !strings.Contains(tail.output(), "failing on purpose"); time.Sleep(200 * time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("no exception in the tail:\n%s", tail.output())
			}
			get(t, url+"throw", nil)
		}
		time.Sleep(200 * time.Millisecond)
		out := tail.stop(t)
		if !strings.Contains(out, "GET http://"+addr+"/tailed - Ok @") || !strings.Contains(out, "GET http://"+addr+"/throw - Exception Thrown @") {
			t.Errorf("tail printed no request line:\n%s", out)
		}
		if !regexp.MustCompile(`at fail \(\S*src/greet\.ts:6:`).MatchString(out) {
			t.Errorf("the exception's stack does not name src/greet.ts:6:\n%s", out)
		}
	})

	// A script in service-worker syntax is deployed with PUT
	// …/scripts/{name}, as a body_part.
	t.Run("service worker", func(t *testing.T) {
		sw := newWrangler(t, base, token, map[string]string{
			"wrangler.toml": "name = \"shop\"\nmain = \"worker.js\"\ncompatibility_date = \"2025-01-02\"\nworkers_dev = false\n",
			"worker.js":     "addEventListener('fetch', (event) => event.respondWith(new Response('service worker')));\n",
		})
		out := sw.mustRun(t, "deploy")
		if m := regexp.MustCompile(`Current Version ID: (` + uuidRE.String() + `)`).FindStringSubmatch(out); m == nil {
			t.Errorf("wrangler deploy printed no version ID")
		}
		if got := share(t, url, "service worker", 50); got != 100 {
			t.Errorf("after deploying the service worker %.0f%% went to it", got)
		}
	})

	// With nodejs_compat, wrangler's bundle imports node:events and
	// node:stream for its own process polyfill, and so may the worker.
	// Its json binding API_KEY replaces the secret of the upload before,
	// which wrangler versions upload asks to keep.
	t.Run("nodejs_compat", func(t *testing.T) {
		nc := newWrangler(t, base, token, map[string]string{
			"wrangler.toml": "name = \"shop\"\nmain = \"src/index.js\"\ncompatibility_date = \"2025-01-02\"\ncompatibility_flags = [\"nodejs_compat\"]\nworkers_dev = false\n[vars]\nAPI_KEY = { json = true }\n",
			"src/index.js": `import { EventEmitter, once } from "node:events";
import { Readable, Transform, Writable, pipeline } from "node:stream";
import { Buffer } from "node:buffer";

export default {
	async fetch(request, env) {
		const e = new EventEmitter();
		setTimeout(() => e.emit("ready", "events"), 1);
		const [word] = await once(e, "ready");
		const chunks = [];
		const upper = new Transform({ transform(c, enc, cb) { cb(null, Buffer.from(String(c).toUpperCase())); } });
		const sink = new Writable({ write(c, enc, cb) { chunks.push(String(c)); cb(); } });
		await new Promise((resolve, reject) => pipeline(Readable.from(["stre", "am"]), upper, sink, (err) => (err ? reject(err) : resolve())));
		return new Response(word + " " + chunks.join("") + " " + typeof process.nextTick + " " + JSON.stringify(env.API_KEY));
	},
};
`,
		})
		w.mustRun(t, "versions", "upload", "--secrets-file", "secrets.json")
		m := versionIDRE.FindStringSubmatch(nc.mustRun(t, "versions", "upload"))
		if m == nil {
			t.Fatal("no version ID printed")
		}
		if _, body := get(t, url, override(m[1])); body != `events STREAM function {"json":true}` {
			t.Errorf("the uploaded nodejs_compat version served %q", body)
		}
		out := nc.mustRun(t, "deploy")
		if m := regexp.MustCompile(`Current Version ID: (` + uuidRE.String() + `)`).FindStringSubmatch(out); m == nil {
			t.Errorf("wrangler deploy printed no version ID")
		}
		if got := share(t, url, `events STREAM function {"json":true}`, 50); got != 100 {
			_, body := get(t, url, nil)
			t.Errorf("after deploying the nodejs_compat worker %.0f%% went to it (it served %q)", got, body)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		files := map[string]string{}
		for k, v := range wranglerProject {
			files[k] = v
		}
		files["wrangler.toml"] += "\n[[kv_namespaces]]\nbinding = \"CACHE\"\nid = \"0f2ac74b498b48028cb68387c421e279\"\n"
		out, errOut, err := newWrangler(t, base, token, files).run(t, "versions", "upload")
		if err == nil || !strings.Contains(out+errOut, `binding "CACHE" has type "kv_namespace"`) {
			t.Errorf("a KV binding: err %v", err)
		}
		files["wrangler.toml"] = strings.Replace(wranglerProject["wrangler.toml"], "limit = 100", "limit = 5", 1)
		out, errOut, err = newWrangler(t, base, token, files).run(t, "versions", "upload")
		if err == nil || !strings.Contains(out+errOut, `ratelimit binding "LIMITER" asks 5 per 60s; the gradual block declares 100 per 1m0s`) {
			t.Errorf("a ratelimit unlike the block's: err %v", err)
		}
		files["wrangler.toml"] = strings.Replace(wranglerProject["wrangler.toml"], "[vars]\n", "[vars]\nBIG = { text = \""+strings.Repeat("x", 6000)+"\" }\n", 1)
		out, errOut, err = newWrangler(t, base, token, files).run(t, "versions", "upload")
		if err == nil || !strings.Contains(out+errOut, `json binding BIG: 6011 bytes; the limit is 5120`) {
			t.Errorf("a json binding over the limit: err %v\n%s", err, out+errOut)
		}
		out, errOut, err = w.run(t, "versions", "upload", "--name", "nope")
		if err == nil || !strings.Contains(out+errOut, `worker named "nope"`) {
			t.Errorf("an unknown worker: err %v", err)
		}
		out, errOut, err = newWrangler(t, base, "wrong", wranglerProject).run(t, "versions", "list")
		if err == nil || !strings.Contains(out+errOut, "[code: 10000]") {
			t.Errorf("a wrong token: err %v", err)
		}
	})
}

// TestWranglerServiceBinding uploads with wrangler a worker whose
// wrangler.toml binds another worker of the same Caddy: the binding the
// gradual block declares alike is taken, and the uploaded version calls
// the other worker through it in process; any other is refused by name.
func TestWranglerServiceBinding(t *testing.T) {
	const token = "wrangler-test-token"
	dir := t.TempDir()
	fp, bp := filepath.Join(dir, "front.js"), filepath.Join(dir, "back.js")
	os.WriteFile(fp, []byte(`export default { fetch() { return new Response("front from the Caddyfile"); } }`), 0o644)
	os.WriteFile(bp, []byte(backScript), 0o644)
	front, back, apiAddr := freeAddr(), freeAddr(), freeAddr()
	loadCaddyfile(t, workerSite(front, "front", scriptVersion("f1", "one", fp, nil)+"\t\t\tservice BACK back\n")+
		workerSite(back, "back", scriptVersion("b1", "one", bp, nil))+fmt.Sprintf(`
http://%s {
	gradual_api {
		token %s
	}
}
`, apiAddr, token))
	project := map[string]string{
		"wrangler.toml": `name = "front"
main = "src/index.js"
compatibility_date = "2025-01-02"
workers_dev = false
services = [{ binding = "BACK", service = "back" }]
`,
		"src/index.js": `export default {
	async fetch(request, env) {
		const r = await env.BACK.fetch("http://back/");
		return new Response("uploaded → " + await r.text(), { status: r.status });
	},
};
`,
	}
	base := "http://" + apiAddr + "/client/v4"
	w := newWrangler(t, base, token, project)
	m := versionIDRE.FindStringSubmatch(w.mustRun(t, "versions", "upload"))
	if m == nil {
		t.Fatal("no version ID printed")
	}
	override := http.Header{"Cloudflare-Workers-Version-Overrides": {`front="` + m[1] + `"`}}
	if _, body := get(t, "http://"+front+"/", override); body != "uploaded → back b1" {
		t.Errorf("the uploaded version served %q", body)
	}
	if out := w.mustRun(t, "versions", "view", m[1]); !strings.Contains(out, "env.BACK") {
		t.Errorf("versions view lacks the service binding:\n%s", out)
	}

	project["wrangler.toml"] = strings.Replace(project["wrangler.toml"], `binding = "BACK"`, `binding = "OTHER"`, 1)
	out, errOut, err := newWrangler(t, base, token, project).run(t, "versions", "upload")
	if err == nil || !strings.Contains(out+errOut, `service binding "OTHER": the gradual block declares no such service binding (service OTHER back)`) {
		t.Errorf("a binding the block does not declare: err %v\n%s", err, out+errOut)
	}
}
