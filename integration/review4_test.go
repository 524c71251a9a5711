package integration

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReview4ReverseProxyCallee: a worker whose version is an upstream
// (reverse_proxy) answers calls through a binding. The call's request
// context had the caller's client_ip var but not trusted_proxy, which
// reverse_proxy asserts to be a bool: every call panicked in
// reverse_proxy and failed as "service binding: internal error".
func TestReview4ReverseProxyCallee(t *testing.T) {
	up := newUpstream(t, "up1")
	dir := t.TempDir()
	fp := filepath.Join(dir, "front.js")
	os.WriteFile(fp, []byte(`export default { async fetch(req, env) {
	try { const r = await env.BACK.fetch("http://back/"); return new Response(r.status + " " + await r.text()); }
	catch (e) { return new Response("caught: " + e.message); }
} }`), 0o644)
	front, back := freeAddr(), freeAddr()
	loadCaddyfile(t, workerSite(front, "front", scriptVersion("f1", "one", fp, nil)+"\t\t\tservice BACK back\n")+
		workerSite(back, "back", "\t\t\tversion b1 {\n\t\t\t\tupstream "+up.addr()+"\n\t\t\t}\n"))
	if _, body := get(t, "http://"+front+"/", nil); body != "200 up1" {
		t.Errorf("got %q, want the upstream's answer", body)
	}
	if seen := up.seen(); len(seen) != 1 || seen[0].Get("X-Forwarded-For") != "127.0.0.1" {
		t.Errorf("the upstream saw %v", seen)
	}
}

// TestReview4CallCutShortLogged: a call through a binding whose callee's
// response is cut short after its status went out (reverse_proxy panics
// with http.ErrAbortHandler when its upstream's body breaks) still goes in
// the access log's worker_calls: the call was made, and failed, which is
// what one reads the log for. serveCall recovered from the panic past
// the line that logs the call, and the entry listed no call.
func TestReview4CallCutShortLogged(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}))
	defer up.Close()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "access.log")
	fp := filepath.Join(dir, "front.js")
	os.WriteFile(fp, []byte(`export default { async fetch(req, env) {
	try { const r = await env.BACK.fetch("http://back/"); return new Response("no error " + r.status + " " + await r.text()); }
	catch (e) { return new Response("caught: " + e.message); }
} }`), 0o644)
	front, back := freeAddr(), freeAddr()
	frontSite := workerSite(front, "front", scriptVersion("f1", "one", fp, nil)+"\t\t\tservice BACK back\n")
	frontSite = withAccessLog(frontSite, logFile)
	loadCaddyfile(t, frontSite+workerSite(back, "back", "\t\t\tversion b1 {\n\t\t\t\tupstream "+up.Listener.Addr().String()+"\n\t\t\t}\n"))
	resp, body := get(t, "http://"+front+"/", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "caught: ") {
		t.Fatalf("got %d %q, want the call to fail", resp.StatusCode, body)
	}
	entries := waitLog(t, logFile, 1)
	calls, _ := entries[0]["worker_calls"].([]any)
	if len(calls) != 1 {
		t.Fatalf("worker_calls %v, want the call cut short (%q)", entries[0]["worker_calls"], body)
	}
	if c := calls[0].(map[string]any); c["binding"] != "BACK" || c["worker_version"] != "b1" {
		t.Errorf("call %v", c)
	}
}
