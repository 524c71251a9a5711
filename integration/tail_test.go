package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tailClient reads a live tail over the admin API.
type tailClient struct {
	events chan map[string]any
	cancel context.CancelFunc
}

func startTail(t *testing.T, worker, versionID string) *tailClient {
	t.Helper()
	url := "http://" + adminAddr + "/gradual/workers/" + worker + "/tail"
	if versionID != "" {
		url += "?version_id=" + versionID
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		cancel()
		t.Fatalf("tail: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	tc := &tailClient{events: make(chan map[string]any, 1000), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		defer close(tc.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("tail line %q: %v", sc.Text(), err)
				return
			}
			tc.events <- ev
		}
	}()
	t.Cleanup(cancel)
	return tc
}

// collect reads n events, failing after a timeout.
func (tc *tailClient) collect(t *testing.T, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	timeout := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-tc.events:
			if !ok {
				t.Fatalf("tail ended after %d events, want %d", len(out), n)
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("got %d tail events, want %d", len(out), n)
		}
	}
	return out
}

// quiet checks that no further event arrives for a moment.
func (tc *tailClient) quiet(t *testing.T) {
	t.Helper()
	select {
	case ev := <-tc.events:
		t.Errorf("unexpected extra tail event: %v", ev)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestTail(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	dead := freeAddr()
	addr := freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "tag-a", a)+versionBlock("v2", "tag-b", b)+
		"\t\tversion v3 {\n\t\t\tupstream "+dead+"\n\t\t\tmessage \"broken\"\n\t\t}\n"+
		"\t\tdeploy v1@50% v2@50%\n"))

	all := startTail(t, "shop", "")
	onlyV2 := startTail(t, "shop", "v2")

	secret := http.Header{
		"Cookie":        {"session=s3cr3t"},
		"Authorization": {"Bearer s3cr3t"},
		"X-Api-Key":     {"s3cr3t"},
		"X-Auth-Token":  {"s3cr3t"},
		"X-Plain":       {"visible"},
	}
	send := func(version string) {
		h := secret.Clone()
		h.Set("Cloudflare-Workers-Version-Overrides", `shop="`+version+`"`)
		get(t, "http://"+addr+"/path?q=1", h)
	}
	send("v1")
	send("v2")
	send("v3")
	send("v2")

	events := all.collect(t, 4)
	wantOrder := []string{"v1", "v2", "v3", "v2"}
	for i, ev := range events {
		sv := ev["scriptVersion"].(map[string]any)
		if sv["id"] != wantOrder[i] {
			t.Errorf("event %d: version %v, want %s", i, sv["id"], wantOrder[i])
		}
		if ev["scriptName"] != "shop" || ev["eventTimestamp"] == nil || ev["selection"] != "override" {
			t.Errorf("event %d: %v", i, ev)
		}
		req := ev["event"].(map[string]any)["request"].(map[string]any)
		if req["method"] != "GET" || req["url"] != "http://"+addr+"/path?q=1" {
			t.Errorf("event %d request: %v", i, req)
		}
		headers := req["headers"].(map[string]any)
		for _, h := range []string{"cookie", "authorization", "x-api-key", "x-auth-token"} {
			if headers[h] != "REDACTED" {
				t.Errorf("event %d: header %s = %v, want REDACTED", i, h, headers[h])
			}
		}
		if headers["x-plain"] != "visible" {
			t.Errorf("event %d: x-plain = %v", i, headers["x-plain"])
		}
		status := ev["event"].(map[string]any)["response"].(map[string]any)["status"].(float64)
		switch wantOrder[i] {
		case "v3":
			if ev["outcome"] != "exception" || status != 502 || sv["message"] != "broken" {
				t.Errorf("v3 event: outcome %v status %v version %v", ev["outcome"], status, sv)
			}
			if ex := ev["exceptions"].([]any); len(ex) != 1 {
				t.Errorf("v3 event: exceptions %v", ex)
			}
		default:
			if ev["outcome"] != "ok" || status != 200 {
				t.Errorf("event %d: outcome %v status %v", i, ev["outcome"], status)
			}
		}
	}
	all.quiet(t)

	for _, ev := range onlyV2.collect(t, 2) {
		if id := ev["scriptVersion"].(map[string]any)["id"]; id != "v2" {
			t.Errorf("filtered tail got an event of version %v", id)
		}
	}
	onlyV2.quiet(t)
}

func TestTailErrors(t *testing.T) {
	a := newUpstream(t, "a")
	addr := freeAddr()
	loadCaddyfile(t, site(addr, versionBlock("v1", "tag-a", a)))
	for path, want := range map[string]int{
		"/gradual/workers/nope/tail":              http.StatusNotFound,
		"/gradual/workers/shop/tail?version_id=x": http.StatusNotFound,
		"/gradual/workers/shop/nothing":           http.StatusNotFound,
		"/gradual/elsewhere":                      http.StatusNotFound,
	} {
		resp, err := http.Get("http://" + adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != want || body["success"] != false || len(body["errors"].([]any)) != 1 {
			t.Errorf("%s: %d %v, want %d with a JSON error", path, resp.StatusCode, body, want)
		}
	}
}

func TestTailScriptLogsAndExceptions(t *testing.T) {
	script := filepath.Join(t.TempDir(), "logs.js")
	os.WriteFile(script, []byte(`export default {
	async fetch(request) {
		console.log("hello", "tail");
		console.warn("careful");
		if (new URL(request.url).pathname === "/throw") throw new RangeError("out of range");
		return new Response("ok");
	},
};
`), 0o644)
	addr := freeAddr()
	loadCaddyfile(t, fmt.Sprintf("http://%s {\n\tgradual logs {\n\t\tversion s1 {\n\t\t\tscript %s\n\t\t\ttag t1\n\t\t}\n\t}\n}\n", addr, script))
	tc := startTail(t, "logs", "s1")
	get(t, "http://"+addr+"/", nil)
	get(t, "http://"+addr+"/throw", nil)
	events := tc.collect(t, 2)

	ok, thrown := events[0], events[1]
	logs := ok["logs"].([]any)
	if len(logs) != 2 {
		t.Fatalf("logs %v, want 2 lines", logs)
	}
	first := logs[0].(map[string]any)
	if first["level"] != "log" || fmt.Sprint(first["message"]) != "[hello tail]" || first["timestamp"] == nil {
		t.Errorf("first log line %v", first)
	}
	if second := logs[1].(map[string]any); second["level"] != "warn" {
		t.Errorf("second log line %v", second)
	}
	if ok["outcome"] != "ok" || len(ok["exceptions"].([]any)) != 0 {
		t.Errorf("ok event: %v", ok)
	}
	ex := thrown["exceptions"].([]any)
	if thrown["outcome"] != "exception" || len(ex) != 1 {
		t.Fatalf("throwing request: outcome %v exceptions %v", thrown["outcome"], ex)
	}
	e := ex[0].(map[string]any)
	if e["name"] != "RangeError" || e["message"] != "out of range" || !strings.Contains(fmt.Sprint(e["stack"]), "logs.js:5") {
		t.Errorf("exception %v, want RangeError with a stack naming logs.js:5", e)
	}
}

// TestTailSurvivesReload keeps a tail open across a config reload that
// keeps the worker: the stream goes on.
func TestTailSurvivesReload(t *testing.T) {
	a := newUpstream(t, "a")
	addr := freeAddr()
	cfg := site(addr, versionBlock("v1", "a", a))
	loadCaddyfile(t, cfg)
	tc := startTail(t, "shop", "")
	loadCaddyfile(t, cfg+"\n")
	get(t, "http://"+addr+"/", nil)
	if ev := tc.collect(t, 1)[0]; ev["scriptName"] != "shop" {
		t.Errorf("event after the reload: %v", ev)
	}
}
