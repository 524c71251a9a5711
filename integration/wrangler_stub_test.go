package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-gradual/gradual/internal/cfapi"
)

// The project the stub test uploads: TypeScript with a relative
// import, so wrangler bundles, with vars, a json var, a secret and the
// version metadata binding.
var stubProject = map[string]string{
	"wrangler.toml": `name = "shop"
main = "src/index.ts"
compatibility_date = "2025-01-02"
compatibility_flags = ["nodejs_compat"]
upload_source_maps = true
workers_dev = false

[vars]
GREETING = "hello"
CONFIG = { level = 3, names = ["a", "b"] }

[version_metadata]
binding = "CF_VERSION_METADATA"
`,
	"src/index.ts": `import { greet } from "./greet";

interface Env { GREETING: string; CF_VERSION_METADATA: { id: string } }

export default {
	async fetch(request: Request, env: Env): Promise<Response> {
		return new Response(greet(env.GREETING) + " from " + env.CF_VERSION_METADATA.id);
	},
};
`,
	"src/greet.ts": `export function greet(word: string): string {
	return word + ", world";
}
`,
	"secrets.json": `{"API_KEY": "s3cret"}`,
}

// TestWranglerAgainstStub runs real wrangler commands against the stub and
// checks what they sent, decoded by internal/cfapi, and what they printed
// from internal/cfapi's answers.
func TestWranglerAgainstStub(t *testing.T) {
	const token = "test-token"
	stub := newCFStub(t, "shop", token)
	w := newWrangler(t, stub.srv.URL+"/client/v4", token, stubProject)

	upload := func(tag, message string) string {
		t.Helper()
		out := w.mustRun(t, "versions", "upload", "--tag", tag, "--message", message, "--secrets-file", "secrets.json")
		m := versionIDRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no version ID in:\n%s", out)
		}
		return m[1]
	}
	mark := stub.mark()
	v1 := upload("v1", "first release")
	t.Logf("versions upload sent: %q", stub.seen(mark))

	t.Run("upload decoded", func(t *testing.T) {
		u := stub.state().uploads[0]
		main := u.Module(u.MainModule)
		if main == nil || u.MainModule != "index.js" || main.Type != cfapi.ModuleESM || !strings.Contains(string(main.Content), ", world") {
			t.Errorf("main module %q: %+v", u.MainModule, main)
		}
		if len(u.SourceMaps["index.js.map"]) == 0 {
			t.Errorf("no source map for index.js: %v", slices.Collect(mapKeys(u.SourceMaps)))
		}
		if u.Vars["GREETING"] != "hello" || u.Secrets["API_KEY"] != "s3cret" || u.VersionMetadata != "CF_VERSION_METADATA" {
			t.Errorf("bindings: vars %v, secrets %v, version_metadata %q", u.Vars, u.Secrets, u.VersionMetadata)
		}
		var config struct {
			Level int
			Names []string
		}
		if err := json.Unmarshal(u.JSON["CONFIG"], &config); err != nil || config.Level != 3 || len(config.Names) != 2 {
			t.Errorf("json binding CONFIG: %s", u.JSON["CONFIG"])
		}
		if u.CompatibilityDate != "2025-01-02" || !u.NodejsCompat() {
			t.Errorf("compatibility %q %v", u.CompatibilityDate, u.CompatibilityFlags)
		}
		if u.Tag != "v1" || u.Message != "first release" || !slices.Contains(u.KeepBindings, "secret_text") {
			t.Errorf("tag %q, message %q, keep_bindings %v", u.Tag, u.Message, u.KeepBindings)
		}
	})

	v2 := upload("v2", "second release")

	t.Run("versions list", func(t *testing.T) {
		var list []cfapi.Version
		if err := json.Unmarshal([]byte(w.mustRun(t, "versions", "list", "--json")), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != v1 || list[1].ID != v2 || list[1].Annotations[cfapi.AnnotationTag] != "v2" {
			t.Errorf("got %+v", list)
		}
		out := w.mustRun(t, "versions", "list")
		for _, want := range []string{"Version ID:  " + v1, "Tag:         v2", "Message:     second release", "Source:      Upload"} {
			if !strings.Contains(out, want) {
				t.Errorf("versions list lacks %q", want)
			}
		}
	})

	t.Run("versions view", func(t *testing.T) {
		var v cfapi.Version
		if err := json.Unmarshal([]byte(w.mustRun(t, "versions", "view", v1, "--json")), &v); err != nil || v.ID != v1 {
			t.Fatalf("got %+v, %v", v, err)
		}
		out := w.mustRun(t, "versions", "view", v1)
		for _, want := range []string{v1, "first release", "Compatibility Date:", "2025-01-02", "nodejs_compat", "API_KEY", "GREETING", "CONFIG", "CF_VERSION_METADATA"} {
			if !strings.Contains(out, want) {
				t.Errorf("versions view lacks %q", want)
			}
		}
		if strings.Contains(out, "s3cret") {
			t.Error("versions view shows a secret")
		}
	})

	var seenDeploy []string
	t.Run("versions deploy", func(t *testing.T) {
		w.mustRun(t, "versions", "deploy", v1+"@100%", "-y", "--message", "all on v1")
		mark := stub.mark()
		out := w.mustRun(t, "versions", "deploy", v1+"@90%", v2+"@10%", "-y", "--message", "canary")
		seenDeploy = stub.seen(mark)
		if !strings.Contains(out, "Deployed shop version "+v1+" at 90% and version "+v2+" at 10%") {
			t.Errorf("output lacks the split")
		}
		d := stub.state().deployments[0]
		if len(d.Versions) != 2 || d.Versions[0] != (cfapi.VersionShare{VersionID: v1, Percentage: 90}) || d.Annotations[cfapi.AnnotationMessage] != "canary" {
			t.Errorf("deployment %+v", d)
		}
	})

	t.Run("deployments list and status", func(t *testing.T) {
		var list []cfapi.Deployment
		if err := json.Unmarshal([]byte(w.mustRun(t, "deployments", "list", "--json")), &list); err != nil || len(list) != 2 {
			t.Fatalf("got %+v, %v", list, err)
		}
		var cur cfapi.Deployment
		if err := json.Unmarshal([]byte(w.mustRun(t, "deployments", "status", "--json")), &cur); err != nil || len(cur.Versions) != 2 {
			t.Fatalf("got %+v, %v", cur, err)
		}
		out := w.mustRun(t, "deployments", "status")
		for _, want := range []string{"(90%) " + v1, "(10%) " + v2, "Message:     canary"} {
			if !strings.Contains(out, want) {
				t.Errorf("deployments status lacks %q", want)
			}
		}
	})

	t.Run("rollback", func(t *testing.T) {
		w.mustRun(t, "versions", "deploy", v2+"@100%", "-y")
		out := w.mustRun(t, "rollback", "-y", "--message", "back to v1")
		if !strings.Contains(out, "Worker Version "+v1+" has been deployed to 100% of traffic") {
			t.Errorf("rollback did not pick v1")
		}
		if d := stub.state().deployments[0]; len(d.Versions) != 1 || d.Versions[0].VersionID != v1 || d.Annotations[cfapi.AnnotationMessage] != "back to v1" {
			t.Errorf("deployment %+v", d)
		}
	})

	t.Run("deploy", func(t *testing.T) {
		mark := stub.mark()
		w.mustRun(t, "deploy", "--secrets-file", "secrets.json")
		t.Logf("deploy sent: %q", stub.seen(mark))
		st := stub.state()
		d := st.deployments[0]
		if len(d.Versions) != 1 || d.Versions[0].Percentage != 100 || d.Versions[0].VersionID != st.versions[len(st.versions)-1].ID {
			t.Errorf("deployment %+v", d)
		}
	})

	t.Run("tail", func(t *testing.T) {
		for _, format := range []string{"json", "pretty"} {
			mark := stub.mark()
			tail := w.start(t, "tail", "--format", format, "--version-id", v2)
			select {
			case <-stub.tailOpen:
			case <-time.After(time.Minute):
				t.Fatalf("wrangler tail did not connect:\n%s", tail.output())
			}
			// wrangler takes the session as open once it polls the socket
			// (every 100 ms) and sees it open; an interrupt before that
			// is "closed unexpectedly".
			for start := time.Now(); format == "pretty" && !strings.Contains(tail.output(), "Connected to shop, waiting for logs..."); time.Sleep(50 * time.Millisecond) {
				if time.Since(start) > 30*time.Second {
					t.Fatalf("wrangler tail did not say it is connected:\n%s", tail.output())
				}
			}
			time.Sleep(time.Second)
			stub.events <- tailLine(v1, "not for this tail")
			stub.events <- tailLine(v2, "hello from v2")
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(tail.output(), "hello from v2") && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			out := tail.stop(t)
			t.Logf("tail --format %s sent %q and printed:\n%s", format, stub.seen(mark), out)
			if !strings.Contains(out, "hello from v2") || strings.Contains(out, "not for this tail") {
				t.Errorf("tail --format %s printed the wrong events", format)
			}
			if format == "pretty" && !strings.Contains(out, "GET https://shop.example/ - Ok @") {
				t.Errorf("tail --format pretty lacks the request line")
			}
			// wrangler deletes its tail on exit, but on an interrupt the
			// process may end before that request is sent: a server must
			// also end a tail when its WebSocket closes.
			if seen := stub.seen(mark); !slices.Contains(seen, "DELETE /client/v4/accounts/local/workers/scripts/shop/tails/{id}") {
				t.Logf("tail --format %s exited without DELETE …/tails/{id}", format)
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		kv := newWrangler(t, stub.srv.URL+"/client/v4", token, map[string]string{
			"wrangler.toml": stubProject["wrangler.toml"] + "\n[[kv_namespaces]]\nbinding = \"CACHE\"\nid = \"0f2ac74b498b48028cb68387c421e279\"\n",
			"src/index.ts":  stubProject["src/index.ts"],
			"src/greet.ts":  stubProject["src/greet.ts"],
		})
		out, errOut, err := kv.run(t, "versions", "upload")
		if err == nil || !strings.Contains(out+errOut, `binding "CACHE" has type "kv_namespace"`) {
			t.Errorf("a KV binding: err %v", err)
		}
		out, errOut, err = w.run(t, "versions", "upload", "--name", "nope")
		if err == nil || !strings.Contains(out+errOut, `the Worker "nope"`) {
			t.Errorf("an unknown Worker: err %v", err)
		}
		out, errOut, err = newWrangler(t, stub.srv.URL+"/client/v4", "wrong-token", stubProject).run(t, "versions", "list")
		if err == nil || !strings.Contains(out+errOut, "Authentication error [code: 10000]") {
			t.Errorf("a wrong token: err %v", err)
		}
	})

	t.Logf("versions deploy sent: %q", seenDeploy)
	if unexpected := stub.state().unexpected; len(unexpected) > 0 {
		t.Errorf("wrangler sent requests the stub does not know: %q", unexpected)
	}
}

// tailLine is a tail event as internal/tail encodes one.
func tailLine(version, log string) []byte {
	return []byte(fmt.Sprintf(`{"scriptName":"shop","scriptVersion":{"id":%q},"outcome":"ok","eventTimestamp":%d,"event":{"request":{"method":"GET","url":"https://shop.example/","headers":{"user-agent":"test"}},"response":{"status":200}},"logs":[{"level":"log","message":[%q],"timestamp":1}],"exceptions":[],"selection":"random","cpuTime":0,"wallTime":1}`+"\n",
		version, time.Now().UnixMilli(), log))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
