package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUploadsThatDoNotLoad sends uploads whose top-level code throws, loops
// or allocates a gigabyte to a Caddy process whose address space is bounded
// with prlimit, so that a failure cannot take the machine down. Each gets a
// 4xx with the script's error, and leaves the stored state, the history and
// the traffic as they were; the process survives every one.
func TestUploadsThatDoNotLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a Caddy process")
	}
	if _, err := os.Stat("/usr/bin/prlimit"); err != nil {
		t.Fatal("prlimit (util-linux) is required to bound the Caddy under test")
	}
	a := newUpstream(t, "a")
	storage := storageFor(t)
	addr := freeAddr()
	p := startCaddy(t, storage, addr, versionBlock("v1", "a", a)+"\t\tpoll_interval 1s\n", "/usr/bin/prlimit", "--as=3221225472")

	status, result, msg := apiAt(t, p.admin, http.MethodPost, "/gradual/workers/shop/versions", map[string]any{
		"script": "export default { fetch() { return new Response('good') } };",
	})
	if status != http.StatusCreated {
		t.Fatalf("good upload: %d %s", status, msg)
	}
	var good struct{ ID string }
	json.Unmarshal(result, &good)
	if status, _, msg := apiAt(t, p.admin, http.MethodPost, "/gradual/workers/shop/deployments", map[string]any{
		"versions": []map[string]any{{"version_id": good.ID, "percentage": 100}},
	}); status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", status, msg)
	}
	stateFile := filepath.Join(storage, "gradual", "workers", "shop", "state.json")
	before, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	history := deployments(t, p.admin, "shop")

	const handler = "\nexport default { fetch() { return new Response('bad') } };\n"
	for _, tc := range []struct{ name, script, want string }{
		{"throws", "const x = 1;\nthrow new Error('boom at load');" + handler, "worker.js:2"},
		{"loops", "for (;;) {}" + handler, "CPU time limit"},
		{"allocates 1 GB", "const big = new Uint8Array(1024 * 1024 * 1024); big[0] = 1;" + handler, "RangeError"},
		{"allocates 1 GB as a string", "const big = 'x'.repeat(1 << 30);" + handler, "RangeError"},
		{"allocates 1 GB step by step", "const keep = []; for (;;) keep.push(new Uint8Array(8 << 20).fill(1));" + handler, "while loading"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			status, _, msg := apiAt(t, p.admin, http.MethodPost, "/gradual/workers/shop/versions", map[string]any{"script": tc.script})
			if status < 400 || status >= 500 || !strings.Contains(msg, tc.want) {
				t.Errorf("%d %q, want a 4xx with %q", status, msg, tc.want)
			}
			t.Logf("refused in %v: %s", time.Since(start).Round(time.Millisecond), msg)
			if done, err := p.exited(); done {
				t.Fatalf("caddy exited: %v\n%s", err, p.output())
			}
			after, err := os.ReadFile(stateFile)
			if err != nil || !bytes.Equal(before, after) {
				t.Errorf("the stored state changed: %v\n%s\n%s", err, before, after)
			}
			if h := deployments(t, p.admin, "shop"); len(h) != len(history) || h[0].ID != history[0].ID {
				t.Errorf("history changed: %+v", h)
			}
			if _, got := get(t, "http://"+addr+"/", nil); got != "good" {
				t.Errorf("traffic changed: served %q", got)
			}
		})
	}
}
