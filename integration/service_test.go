package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// frontScript calls the back worker through env.BACK with a Request it
// builds itself, so nothing of the client's request is forwarded by hand;
// /loop calls it n times through the binding and /fetch n times through
// fetch() over loopback, for the benchmark.
const frontScript = `export default { async fetch(req, env) {
	const u = new URL(req.url);
	const n = Number(u.searchParams.get("n") || 1);
	if (u.pathname === "/fetch") {
		let t = "";
		for (let i = 0; i < n; i++) t = await (await fetch(env.BACK_URL + "/")).text();
		return new Response(t);
	}
	let r;
	for (let i = 0; i < n; i++) r = await env.BACK.fetch(new Request("http://back" + u.pathname));
	return new Response("front " + env.CF_VERSION_METADATA.id + " → " + await r.text(), { status: r.status });
} }`

// backScript answers with its version, and throws on /throw.
const backScript = `export default { fetch(req, env) {
	if (new URL(req.url).pathname === "/throw") throw new Error("back failed");
	return new Response("back " + env.CF_VERSION_METADATA.id);
} }`

// loadServiceSites serves the worker front (one version, f1, with
// `service BACK back`) on one address and the worker back (versions b1
// and b2, deployed as backDeploy) on another; it returns both addresses.
// The front's site writes its access log to accessLog, if not "".
func loadServiceSites(t testing.TB, backDeploy string, traced bool, accessLog ...string) (front, back string) {
	t.Helper()
	dir := t.TempDir()
	fp, bp := filepath.Join(dir, "front.js"), filepath.Join(dir, "back.js")
	os.WriteFile(fp, []byte(frontScript), 0o644)
	os.WriteFile(bp, []byte(backScript), 0o644)
	front, back = freeAddr(), freeAddr()
	frontSite := workerSite(front, "front", scriptVersion("f1", "front", fp, map[string]string{"BACK_URL": "http://" + back})+"\t\t\tservice BACK back\n")
	if traced {
		frontSite = strings.Replace(frontSite, "\tbind 127.0.0.1\n", "\tbind 127.0.0.1\n\ttracing {\n\t\tspan caddy-request\n\t}\n", 1)
	}
	if len(accessLog) > 0 {
		frontSite = withAccessLog(frontSite, accessLog[0])
	}
	loadCaddyfile(t, frontSite+
		workerSite(back, "back", scriptVersion("b1", "one", bp, nil)+scriptVersion("b2", "two", bp, nil)+"\t\t\tdeploy "+backDeploy+"\n"))
	return front, back
}

func TestServiceBinding(t *testing.T) {
	front, _ := loadServiceSites(t, "b1", false)
	cases := []struct {
		name   string
		path   string
		header http.Header
		status int
		want   string
	}{
		{"deployed version", "/", nil, 200, "front f1 → back b1"},
		// b2 is not deployed at all: only the override reaches it, and
		// the script's fresh Request carries no header of the client's.
		{"override of the client's request", "/", http.Header{"Cloudflare-Workers-Version-Overrides": {`back="b2"`}}, 200, "front f1 → back b2"},
		{"override of another worker", "/", http.Header{"Cloudflare-Workers-Version-Overrides": {`front="f1"`}}, 200, "front f1 → back b1"},
		{"callee exception", "/throw", nil, 500, "front f1 → worker threw an exception\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, "http://"+front+c.path, c.header)
			if resp.StatusCode != c.status || body != c.want {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, c.status, c.want)
			}
		})
	}
}

// TestServiceBindingAccessLog checks that the access-log entry of a
// client's request lists the calls its worker made through bindings, with
// the callee's version, how it was chosen and its status.
func TestServiceBindingAccessLog(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "access.log")
	front, _ := loadServiceSites(t, "b1", false, logFile)
	requests := []struct {
		path   string
		header http.Header
		want   string // the calls: version selection status, ...
	}{
		{"/a", nil, "b1 random 200"},
		{"/b", http.Header{"Cloudflare-Workers-Version-Overrides": {`back="b2"`}}, "b2 override 200"},
		{"/throw", nil, "b1 random 500"},
		{"/c?n=3", nil, "b1 random 200, b1 random 200, b1 random 200"},
	}
	for _, r := range requests {
		get(t, "http://"+front+r.path, r.header)
	}
	entries := waitLog(t, logFile, len(requests))
	for i, e := range entries {
		r := requests[i]
		if uri := e["request"].(map[string]any)["uri"]; uri != r.path || e["worker"] != "front" || e["worker_version"] != "f1" {
			t.Errorf("entry %d: uri %v, worker %v, worker_version %v", i, uri, e["worker"], e["worker_version"])
		}
		calls, _ := e["worker_calls"].([]any)
		var got []string
		for _, c := range calls {
			c := c.(map[string]any)
			if c["binding"] != "BACK" || c["worker"] != "back" || c["worker_version_tag"] == nil || c["duration"] == nil {
				t.Errorf("%s: call %v", r.path, c)
			}
			got = append(got, fmt.Sprintf("%v %v %v", c["worker_version"], c["selection"], c["status"]))
		}
		if strings.Join(got, ", ") != r.want {
			t.Errorf("%s: worker_calls %v, want %s", r.path, got, r.want)
		}
	}
}

// TestServiceBindingAccessLogChain checks that the calls of a chain of
// workers (front → mid → back) all go in the client's request's entry, as
// they end: back's first.
func TestServiceBindingAccessLogChain(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	call := func(binding string) string {
		return `export default { async fetch(req, env) { return new Response("` + binding + ` " + await (await env.` + binding + `.fetch("http://x/")).text()); } }`
	}
	fp, mp, bp := filepath.Join(dir, "front.js"), filepath.Join(dir, "mid.js"), filepath.Join(dir, "back.js")
	os.WriteFile(fp, []byte(call("MID")), 0o644)
	os.WriteFile(mp, []byte(call("BACK")), 0o644)
	os.WriteFile(bp, []byte(backScript), 0o644)
	front, mid, back := freeAddr(), freeAddr(), freeAddr()
	frontSite := workerSite(front, "front", scriptVersion("f1", "one", fp, nil)+"\t\t\tservice MID mid\n")
	frontSite = withAccessLog(frontSite, logFile)
	loadCaddyfile(t, frontSite+
		workerSite(mid, "mid", scriptVersion("m1", "one", mp, nil)+"\t\t\tservice BACK back\n")+
		workerSite(back, "back", scriptVersion("b1", "one", bp, nil)))
	if _, body := get(t, "http://"+front+"/", nil); body != "MID BACK back b1" {
		t.Fatalf("got %q", body)
	}
	entries := waitLog(t, logFile, 1)
	var got []string
	calls, _ := entries[0]["worker_calls"].([]any)
	for _, c := range calls {
		c := c.(map[string]any)
		got = append(got, fmt.Sprintf("%v %v %v", c["binding"], c["worker"], c["worker_version"]))
	}
	if want := "BACK back b1, MID mid m1"; strings.Join(got, ", ") != want {
		t.Errorf("worker_calls %v, want %s", got, want)
	}
}

// TestServiceBindingAccessLogPassThrough checks that the calls of a worker
// that passes its exception through to a second worker with bindings stay
// in the entry beside the second's.
func TestServiceBindingAccessLogPassThrough(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	ap, bp, cp := filepath.Join(dir, "a.js"), filepath.Join(dir, "b.js"), filepath.Join(dir, "back.js")
	os.WriteFile(ap, []byte(`export default { async fetch(req, env, ctx) {
	ctx.passThroughOnException();
	await env.BACK.fetch("http://back/");
	throw new Error("on to the next handler");
} }`), 0o644)
	os.WriteFile(bp, []byte(`export default { async fetch(req, env) { return new Response("b " + await (await env.BACK.fetch("http://back/")).text()); } }`), 0o644)
	os.WriteFile(cp, []byte(backScript), 0o644)
	site, back := freeAddr(), freeAddr()
	loadCaddyfile(t, fmt.Sprintf(`http://:%s {
	bind 127.0.0.1
	log {
		output file %s
		format json
	}
	route {
		gradual a {
%s			service BACK back
		}
		gradual b {
%s			service BACK back
		}
	}
}
`, site[strings.LastIndexByte(site, ':')+1:], logFile, scriptVersion("a1", "one", ap, nil), scriptVersion("b1", "one", bp, nil))+
		workerSite(back, "back", scriptVersion("c1", "one", cp, nil)))
	if _, body := get(t, "http://"+site+"/", nil); body != "b back c1" {
		t.Fatalf("got %q", body)
	}
	e := waitLog(t, logFile, 1)[0]
	calls, _ := e["worker_calls"].([]any)
	if e["worker"] != "b" || len(calls) != 2 {
		t.Errorf("entry of worker %v has worker_calls %v, want the calls of a and b", e["worker"], e["worker_calls"])
	}
}

// TestServiceBindingAffinity checks that the caller's affinity key routes
// the callee: each key sticks to one back version, and the shares follow
// the deployment.
func TestServiceBindingAffinity(t *testing.T) {
	front, _ := loadServiceSites(t, "b1@50% b2@50%", false)
	const keys = 1000
	counts := map[string]int{}
	for i := range keys {
		h := http.Header{"Cloudflare-Workers-Version-Key": {"user-" + strconv.Itoa(i)}}
		_, first := get(t, "http://"+front+"/", h)
		_, again := get(t, "http://"+front+"/", h)
		if first != again {
			t.Fatalf("key %d: %q then %q", i, first, again)
		}
		counts[first]++
	}
	for _, v := range []string{"b1", "b2"} {
		share := 100 * float64(counts["front f1 → back "+v]) / keys
		if share < 45 || share > 55 {
			t.Errorf("%s got %.1f%% of the keys, want 50 ± 5: %v", v, share, counts)
		}
	}
}

func TestServiceBindingCycle(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w.js")
	os.WriteFile(p, []byte(backScript), 0o644)
	a, b := freeAddr(), freeAddr()
	err := postCaddyfile(storageFor(t),
		workerSite(a, "a", scriptVersion("a1", "a", p, nil)+"\t\t\tservice B b\n")+
			workerSite(b, "b", scriptVersion("b1", "b", p, nil)+"\t\t\tservice A a\n"))
	if err == nil || !strings.Contains(err.Error(), "service A: service bindings form a cycle: b → a → b") {
		t.Fatalf("got %v, want the cycle refused", err)
	}
	if !strings.Contains(err.Error(), "Caddyfile:") {
		t.Errorf("the error names no line: %v", err)
	}
}

// TestServiceBindingTrace checks that a traced request's trace goes on
// through the call: the front's handler span, under it the call's span
// and the back's handler span, each with its own worker's version.
func TestServiceBindingTrace(t *testing.T) {
	front, _ := loadServiceSites(t, "b1", true)
	traceID, parentID := randomHex(16), randomHex(8)
	_, body := get(t, "http://"+front+"/", http.Header{
		"Traceparent":                          {"00-" + traceID + "-" + parentID + "-01"},
		"Cloudflare-Workers-Version-Overrides": {`back="b2"`},
	})
	if body != "front f1 → back b2" {
		t.Fatalf("got %q", body)
	}
	spans := otlp.trace(t, traceID, 4)
	byName := map[string]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	server, frontSpan, call, backSpan := byName["caddy-request"], byName["front"], byName["service BACK"], byName["back"]
	if server == nil || frontSpan == nil || call == nil || backSpan == nil {
		t.Fatalf("spans %v", spanNames(spans))
	}
	chain := []struct {
		span, parent *tracepb.Span
		worker, id   string
		selection    string
	}{
		{frontSpan, server, "front", "f1", "random"},
		{call, frontSpan, "back", "b2", "override"},
		{backSpan, call, "back", "b2", "override"},
	}
	for _, c := range chain {
		if string(c.span.ParentSpanId) != string(c.parent.SpanId) {
			t.Errorf("span %q: parent %x, want %q %x", c.span.Name, c.span.ParentSpanId, c.parent.Name, c.parent.SpanId)
		}
		if attr(c.span, "worker.name") != c.worker || attr(c.span, "worker.version.id") != c.id || attr(c.span, "worker.version.selection") != c.selection {
			t.Errorf("span %q attributes %v, want %s %s %s", c.span.Name, c.span.Attributes, c.worker, c.id, c.selection)
		}
	}
	if call.Kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("call span kind %v", call.Kind)
	}
	if attr(server, "worker.version.id") != "f1" {
		t.Errorf("the server span is the front's: attributes %v", server.Attributes)
	}
}

func spanNames(spans []*tracepb.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name+"("+s.Kind.String()+")")
	}
	return out
}

// TestServiceBindingCycleJSON checks that a JSON config, which no adapter
// saw, is refused at load when its bindings form a cycle, and that the
// config in place keeps serving.
func TestServiceBindingCycleJSON(t *testing.T) {
	front, _ := loadServiceSites(t, "b1", false)
	p := filepath.Join(t.TempDir(), "w.js")
	os.WriteFile(p, []byte(backScript), 0o644)
	handler := func(worker, calls string) string {
		return fmt.Sprintf(`{"handler":"gradual","worker":%q,"versions":[{"id":"v1","script":%q}],"services":[{"name":"CALL","worker":%q}]}`, worker, p, calls)
	}
	cfg := fmt.Sprintf(`{"admin":{"listen":%q},"storage":{"module":"file_system","root":%q},"logging":{"logs":{"default":{"level":"ERROR"}}},
"apps":{"http":{"servers":{"s":{"listen":[%q],"routes":[{"handle":[%s]},{"handle":[%s]}]}}}}}`,
		adminAddr, storageFor(t), freeAddr(), handler("x", "y"), handler("y", "x"))
	resp, err := http.Post("http://"+adminAddr+"/load", "application/json", strings.NewReader(cfg))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 || !strings.Contains(string(body), "service CALL: service bindings form a cycle: y → x → y") {
		t.Fatalf("got %d %s, want the cycle refused", resp.StatusCode, body)
	}
	if _, got := get(t, "http://"+front+"/", nil); got != "front f1 → back b1" {
		t.Errorf("the config in place answers %q", got)
	}
}
