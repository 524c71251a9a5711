package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestRateLimitConfig(t *testing.T) {
	versions := []*Version{{ID: "a", Script: "x.js", Vars: map[string]string{"TAKEN": "x"}}}
	for _, tt := range []struct {
		name string
		rls  []*RateLimit
		want string
	}{
		{"ok", []*RateLimit{{Name: "A", Limit: 1}, {Name: "B", Limit: 5, Period: caddy.Duration(10 * time.Second), NamespaceID: "7"}}, "<nil>"},
		{"null", []*RateLimit{nil}, "ratelimits: null entry"},
		{"bad name", []*RateLimit{{Name: "a-b", Limit: 1}}, `ratelimit: var name "a-b": letters, digits, _ and $ only, not starting with a digit`},
		{"reserved name", []*RateLimit{{Name: "CF_VERSION_METADATA", Limit: 1}}, `ratelimit: var name "CF_VERSION_METADATA" is reserved`},
		{"zero limit", []*RateLimit{{Name: "A"}}, "ratelimit A: limit must be positive, got 0"},
		{"period 30s", []*RateLimit{{Name: "A", Limit: 1, Period: caddy.Duration(30 * time.Second)}}, "ratelimit A: period must be 10s or 60s, got 30s"},
		{"duplicate", []*RateLimit{{Name: "A", Limit: 1}, {Name: "A", Limit: 2}}, "ratelimit A: defined more than once"},
		{"var of the same name", []*RateLimit{{Name: "TAKEN", Limit: 1}}, "ratelimit TAKEN: version a has a var of the same name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(checkRateLimits(tt.rls, versions)); got != tt.want {
				t.Errorf("error %s, want %s", got, tt.want)
			}
		})
	}
	// The JSON config's check runs them.
	g := &Gradual{Worker: "shop", Versions: versions, RateLimits: []*RateLimit{{Name: "A"}}}
	if err := g.checkConfig(); err == nil || !strings.Contains(err.Error(), "ratelimit A: limit must be positive") {
		t.Errorf("checkConfig: %v", err)
	}
}

// limitedWorker is a worker of two script versions whose responses say
// whether env.LIMITER allowed the request's key.
func limitedWorker(t *testing.T, name string, rl RateLimit) *Gradual {
	t.Helper()
	path := filepath.Join(t.TempDir(), "limited.js")
	src := `export default { async fetch(req, env) {
	const { success } = await env.LIMITER.limit({ key: req.headers.get("x-key") });
	return new Response((success ? "allowed" : "refused") + " by " + env.CF_VERSION_METADATA.id);
} }`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Gradual{
		Worker:     name,
		Versions:   []*Version{{ID: "v1", Script: path}, {ID: "v2", Script: path}},
		Deploy:     []DeployEntry{{"v1", 50}, {"v2", 50}},
		RateLimits: []*RateLimit{&rl},
		// Generous: the race detector on two busy cores is slow.
		CPULimit: caddy.Duration(time.Second),
	}
}

// allowedBy sends n requests with key, alternating the version by
// override, and counts those allowed.
func allowedBy(t *testing.T, g *Gradual, key string, n int) int {
	t.Helper()
	allowed := 0
	for i := range n {
		version := []string{"v1", "v2"}[i%2]
		w, _ := serve(t, g, http.Header{"X-Key": {key}, "Cloudflare-Workers-Version-Overrides": {g.Worker + `="` + version + `"`}}, "127.0.0.1")
		body := w.Body.String()
		if !strings.HasSuffix(body, " by "+version) {
			t.Fatalf("request %d: %q, want an answer of %s", i, body, version)
		}
		if strings.HasPrefix(body, "allowed") {
			allowed++
		}
	}
	return allowed
}

// TestRateLimitShared checks that every version of a worker, and the next
// config after a reload, count in one budget, and that the counters go
// when the last config using them does.
func TestRateLimitShared(t *testing.T) {
	limiterClock = func() time.Time { return time.Date(2026, 12, 3, 8, 0, 1, 0, time.UTC) }
	defer func() { limiterClock = nil }()
	rl := RateLimit{Name: "LIMITER", Limit: 3, Period: caddy.Duration(10 * time.Second)}

	old := limitedWorker(t, "rl-shared", rl)
	provision(t, old)
	if got := allowedBy(t, old, "k", 6); got != 3 {
		t.Fatalf("two versions allowed %d of 6, want 3 in all", got)
	}
	if got := allowedBy(t, old, "other", 4); got != 3 {
		t.Fatalf("another key: %d of 4 allowed, want 3", got)
	}
	// A reload: the new config is provisioned before the old one goes.
	reloaded := limitedWorker(t, "rl-shared", rl)
	provision(t, reloaded)
	_ = old.Cleanup()
	if got := allowedBy(t, reloaded, "k", 2); got != 0 {
		t.Fatalf("after a reload %d allowed, want 0: the counts must survive", got)
	}
	// Another worker with a binding of the same name counts apart...
	apart := limitedWorker(t, "rl-apart", rl)
	provision(t, apart)
	if got := allowedBy(t, apart, "k", 4); got != 3 {
		t.Fatalf("another worker: %d of 4 allowed, want 3", got)
	}
	_ = reloaded.Cleanup()
	// ...and once no config uses the counters, they are gone.
	fresh := limitedWorker(t, "rl-shared", rl)
	provision(t, fresh)
	if got := allowedBy(t, fresh, "k", 4); got != 3 {
		t.Fatalf("after the last config went: %d of 4 allowed, want 3 (fresh counters)", got)
	}
}

func TestRateLimitNamespaceShared(t *testing.T) {
	limiterClock = func() time.Time { return time.Date(2026, 12, 3, 8, 0, 1, 0, time.UTC) }
	defer func() { limiterClock = nil }()
	rl := RateLimit{Name: "LIMITER", Limit: 4, NamespaceID: "1001"}
	a, b := limitedWorker(t, "rl-ns-a", rl), limitedWorker(t, "rl-ns-b", rl)
	provision(t, a)
	provision(t, b)
	if got := allowedBy(t, a, "k", 2) + allowedBy(t, b, "k", 4); got != 4 {
		t.Fatalf("two workers of one namespace allowed %d, want 4 in all", got)
	}
}

// TestRateLimitConcurrent sends one key's requests from many goroutines,
// so that many runtimes of both versions call limit() at once: exactly
// the limit is allowed (run it with -race).
func TestRateLimitConcurrent(t *testing.T) {
	limiterClock = func() time.Time { return time.Date(2026, 12, 3, 8, 0, 1, 0, time.UTC) }
	defer func() { limiterClock = nil }()
	g := limitedWorker(t, "rl-concurrent", RateLimit{Name: "LIMITER", Limit: 7})
	provision(t, g)
	var allowed, answered atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				version := []string{"v1", "v2"}[(i+j)%2]
				r, _ := request(http.Header{"X-Key": {"k"}, "Cloudflare-Workers-Version-Overrides": {`rl-concurrent="` + version + `"`}}, "127.0.0.1")
				w := httptest.NewRecorder()
				if err := g.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
					t.Error(err)
					return
				}
				if body := w.Body.String(); strings.HasSuffix(body, " by "+version) {
					answered.Add(1)
					if strings.HasPrefix(body, "allowed") {
						allowed.Add(1)
					}
				} else {
					t.Errorf("%q, want an answer of %s", body, version)
				}
			}
		})
	}
	wg.Wait()
	if answered.Load() != 40 || allowed.Load() != 7 {
		t.Errorf("%d of %d answers allowed, want 7 of 40", allowed.Load(), answered.Load())
	}
}
