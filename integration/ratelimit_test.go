package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// limitedScript answers 200 "allowed <version>" or 429 "refused <version>"
// as env.LIMITER decides for the X-Key header.
const limitedScript = `export default { async fetch(req, env) {
	const { success } = await env.LIMITER.limit({ key: req.headers.get("x-key") });
	return new Response((success ? "allowed " : "refused ") + env.CF_VERSION_METADATA.id, { status: success ? 200 : 429 });
} }`

// limitedSite is a worker of two versions, v1 deployed and v2 reachable by
// override, behind `ratelimit LIMITER limit 5 period 10s`.
func limitedSite(addr, path, tag string) string {
	return workerSite(addr, "limited",
		scriptVersion("v1", tag, path, nil)+scriptVersion("v2", tag, path, nil)+
			"\t\t\tdeploy v1\n\t\t\tratelimit LIMITER limit 5 period 10s\n")
}

// loadLimited writes limitedScript and loads limitedSite on a free
// address; it returns the script's path and the address.
func loadLimited(t *testing.T) (path, addr string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "limited.js")
	if err := os.WriteFile(path, []byte(limitedScript), 0o644); err != nil {
		t.Fatal(err)
	}
	addr = freeAddr()
	loadCaddyfile(t, limitedSite(addr, path, "first"))
	return path, addr
}

// window10s is the index of the 10-second window t falls in.
func window10s(t time.Time) int64 { return t.Unix() / 10 }

// inOneWindow runs round and tells whether it ended within the 10-second
// window it began in. Windows are aligned to the clock, so a round that
// straddles a boundary sees counts reset halfway: it is not judged but
// run again, from the start of the next window.
func inOneWindow(t *testing.T, round func(attempt int, errorf func(format string, args ...any))) {
	t.Helper()
	for attempt := range 3 {
		start := time.Now()
		var errs []string
		round(attempt, func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) })
		// A round that straddled a window boundary proves nothing either
		// way: its failures are dropped and it runs again.
		if window10s(time.Now()) == window10s(start) {
			for _, e := range errs {
				t.Error(e)
			}
			return
		}
		t.Logf("attempt %d straddled a window boundary; again at the start of the next window", attempt)
		sleepToNextWindow()
	}
	t.Fatal("three attempts straddled a window boundary")
}

// sleepToNextWindow sleeps until just after the next 10-second boundary.
func sleepToNextWindow() {
	time.Sleep(time.Until(time.Unix((window10s(time.Now())+1)*10, 0)) + 50*time.Millisecond)
}

// sendLimited makes n requests with key to the worker "limited" at url,
// to version (by override) or to the deployed v1, and returns how many
// were allowed.
func sendLimited(t *testing.T, url, key, version string, n int) (allowed int) {
	t.Helper()
	h := http.Header{"X-Key": {key}}
	if version != "" {
		h.Set("Cloudflare-Workers-Version-Overrides", `limited="`+version+`"`)
	}
	want := version
	if want == "" {
		want = "v1"
	}
	for range n {
		resp, body := get(t, url, h)
		switch {
		case resp.StatusCode == 200 && body == "allowed "+want:
			allowed++
		case resp.StatusCode == 429 && body == "refused "+want:
		default:
			t.Fatalf("key %s: %d %q, want 200 or 429 from %s", key, resp.StatusCode, body, want)
		}
	}
	return allowed
}

// TestRateLimitBinding sends requests to a worker with a 5-per-10s limit:
// one key gets exactly 5 of 8, another key its own 5, the two versions
// share one budget, and a config reload keeps the counts.
func TestRateLimitBinding(t *testing.T) {
	path, addr := loadLimited(t)
	url := "http://" + addr + "/"

	send := func(key, version string, n int) int { return sendLimited(t, url, key, version, n) }

	// Keys are new to the limiter, whose counters outlive configs that
	// follow one another (a test run again with -count, for one).
	run := time.Now().UnixNano()
	key := func(name string, attempt int) string { return fmt.Sprint(run, "-", name, attempt) }
	inOneWindow(t, func(attempt int, errorf func(string, ...any)) {
		a, b, c := key("a", attempt), key("b", attempt), key("c", attempt)
		if got := send(a, "", 8); got != 5 {
			errorf("8 requests with one key: %d allowed, want 5", got)
		}
		if got := send(b, "", 8); got != 5 {
			errorf("another key after the first was spent: %d of 8 allowed, want 5", got)
		}
		// v2, reached by override, spends the budget v1 then lacks.
		if got := send(c, "v2", 4); got != 4 {
			errorf("v2: %d of 4 allowed, want 4", got)
		}
		if got := send(c, "", 4); got != 1 {
			errorf("v1 after v2 spent 4 of the key's 5: %d of 4 allowed, want 1", got)
		}
		if got := send(c, "v2", 1); got != 0 {
			errorf("v2 after the budget was spent: %d allowed, want 0", got)
		}
		// A reload (a new tag: new workers) keeps the counters.
		loadCaddyfile(t, limitedSite(addr, path, fmt.Sprint("reload", attempt)))
		if got := send(a, "", 2) + send(a, "v2", 2); got != 0 {
			errorf("after a reload: %d of 4 allowed, want 0", got)
		}
	})

	// The next window gives every key a fresh budget.
	sleepToNextWindow()
	if got := send(key("a", 0), "", 6); got != 5 {
		t.Errorf("in the next window: %d of 6 allowed, want 5", got)
	}
}

// TestRateLimitUploadedVersion checks that a version uploaded through the
// admin API gets the worker's binding and shares its budget, and that an
// upload whose var or json binding takes a binding's name is refused.
func TestRateLimitUploadedVersion(t *testing.T) {
	_, addr := loadLimited(t)
	url := "http://" + addr + "/"

	status, result, msg := api(t, http.MethodPost, "/gradual/workers/limited/versions", map[string]any{"script": limitedScript, "tag": "up"})
	if status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, msg)
	}
	var up struct{ ID string }
	if err := json.Unmarshal(result, &up); err != nil || up.ID == "" {
		t.Fatalf("upload result %s: %v", result, err)
	}
	status, _, msg = api(t, http.MethodPost, "/gradual/workers/limited/versions", map[string]any{
		"script": limitedScript, "vars": map[string]string{"LIMITER": "taken"}})
	if status != http.StatusBadRequest || !strings.Contains(msg, "binding LIMITER is also a var") {
		t.Errorf("upload with a var LIMITER: %d %q, want 400 naming the binding", status, msg)
	}
	status, _, msg = api(t, http.MethodPost, "/gradual/workers/limited/versions", map[string]any{
		"script": limitedScript, "json": map[string]any{"LIMITER": 1}})
	if status != http.StatusBadRequest || !strings.Contains(msg, "json binding LIMITER: the gradual block has a binding of that name") {
		t.Errorf("upload with a json binding LIMITER: %d %q, want 400 naming the binding", status, msg)
	}

	run := time.Now().UnixNano()
	inOneWindow(t, func(attempt int, errorf func(string, ...any)) {
		key := fmt.Sprint(run, "-up", attempt)
		if got := sendLimited(t, url, key, up.ID, 3); got != 3 {
			errorf("the uploaded version: %d of 3 allowed, want 3", got)
		}
		if got := sendLimited(t, url, key, "", 4); got != 2 {
			errorf("v1 after the upload spent 3 of the key's 5: %d of 4 allowed, want 2", got)
		}
	})
}
