package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/internal/cfapi"
)

func provisionAPI(t *testing.T, tokens ...string) *GradualAPI {
	t.Helper()
	a := &GradualAPI{Tokens: tokens}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestGradualAPIValidate(t *testing.T) {
	t.Setenv("GRADUAL_TEST_EMPTY", "")
	if err := provisionAPI(t).Validate(); err == nil {
		t.Error("no token: valid")
	}
	if err := provisionAPI(t, "{env.GRADUAL_TEST_EMPTY}").Validate(); err == nil {
		t.Error("a token that is empty once resolved: valid")
	}
	if err := provisionAPI(t, "x").Validate(); err != nil {
		t.Error(err)
	}
}

func TestGradualAPIAuth(t *testing.T) {
	t.Setenv("GRADUAL_TEST_TOKEN", "from-env")
	a := provisionAPI(t, "{env.GRADUAL_TEST_TOKEN}", "second")
	tests := []struct {
		name, method, path, auth string
		status, code             int
	}{
		{"no token", "GET", "/gradual/workers", "", 401, 10000},
		{"wrong scheme", "GET", "/gradual/workers", "Basic from-env", 401, 10000},
		{"wrong token", "GET", "/client/v4/accounts/a/workers/services/shop", "Bearer from-env2", 401, 10000},
		{"token prefix", "GET", "/client/v4/accounts/a/workers/services/shop", "Bearer from", 401, 10000},
		{"unresolved placeholder", "GET", "/gradual/workers", "Bearer {env.GRADUAL_TEST_TOKEN}", 401, 10000},
		{"gradual API", "GET", "/gradual/workers", "Bearer from-env", 200, 0},
		{"second token", "GET", "/gradual/workers", "Bearer second", 200, 0},
		{"unknown worker", "GET", "/client/v4/accounts/a/workers/services/nope", "Bearer second", 404, 10007},
		{"unknown route", "GET", "/client/v4/zones", "Bearer second", 404, 10003},
		{"other path", "GET", "/metrics", "Bearer second", 404, 10003},
		{"tail without a secret", "GET", "/client/v4/tail-sessions/nope", "", 404, 10003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			w := httptest.NewRecorder()
			if err := a.ServeHTTP(w, r, nil); err != nil {
				t.Fatal(err)
			}
			var env struct {
				Success bool
				Errors  []struct{ Code int }
			}
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
				t.Fatalf("%d %s: not an envelope: %v", w.Code, w.Body, err)
			}
			if w.Code != tt.status || (tt.code != 0 && (len(env.Errors) != 1 || env.Errors[0].Code != tt.code)) || env.Success != (tt.status == 200) {
				t.Errorf("got %d %s, want %d code %d", w.Code, w.Body, tt.status, tt.code)
			}
		})
	}
}

func TestGradualAPICaddyfile(t *testing.T) {
	for input, want := range map[string]string{
		"gradual_api a": "a",
		"gradual_api {\n\ttoken a b\n\ttoken c\n}": "a b c",
		"gradual_api a {\n\ttoken b\n}":            "a b",
	} {
		var a GradualAPI
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil || strings.Join(a.Tokens, " ") != want {
			t.Errorf("%q: got %q, %v; want %q", input, a.Tokens, err, want)
		}
	}
	for _, input := range []string{"gradual_api", "gradual_api {\n\ttoken\n}", "gradual_api {\n\tkey a\n}"} {
		var a GradualAPI
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("%q: no error", input)
		}
	}
}

// A tail's URL works once; pending tails are bounded.
func TestCFTails(t *testing.T) {
	t.Cleanup(func() {
		tailsMu.Lock()
		clear(tails)
		tailsMu.Unlock()
	})
	r := httptest.NewRequest("POST", "/client/v4/accounts/a/workers/scripts/gone/tails", nil)
	created, err := openTail(r, "gone", cfapi.TailFilter{})
	if err != nil {
		t.Fatal(err)
	}
	secret := created.URL[strings.LastIndex(created.URL, "/")+1:]
	if !strings.HasPrefix(created.URL, "ws://example.com"+tailPath) || len(secret) != 64 || created.ID == "" {
		t.Errorf("tail %+v", created)
	}
	for i, want := range []int{cfapi.CodeWorkerNotFound, cfapi.CodeNotFound} {
		w := httptest.NewRecorder()
		serveCFTail(w, httptest.NewRequest("GET", tailPath+secret, nil), secret, zap.NewNop())
		if w.Code != 404 || !strings.Contains(w.Body.String(), fmt.Sprintf(`"code":%d`, want)) {
			t.Errorf("use %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	deleted, _ := openTail(r, "gone", cfapi.TailFilter{})
	closeTail(deleted.ID)
	tailsMu.Lock()
	n := len(tails)
	tailsMu.Unlock()
	if n != 0 {
		t.Errorf("%d tails left after DELETE", n)
	}
	for range maxPendingTails {
		if _, err := openTail(r, "gone", cfapi.TailFilter{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := openTail(r, "gone", cfapi.TailFilter{}); err == nil {
		t.Error("no bound on pending tails")
	}
}

func TestWithSourceMap(t *testing.T) {
	const dataURL = "//# sourceMappingURL=data:application/json;base64,e30=\n"
	for script, want := range map[string]string{
		"a();\n//# sourceMappingURL=index.js.map\n": "a();\n\n" + dataURL,
		"a();\n//# sourceMappingURL=index.js.map":   "a();\n\n" + dataURL,
		"a();\n": "a();\n\n" + dataURL,
		"a();\n//# sourceMappingURL=x.map\nb();\n": "a();\n//# sourceMappingURL=x.map\nb();\n\n" + dataURL,
	} {
		if got := withSourceMap(script, []byte("{}")); got != want {
			t.Errorf("%q: got %q, want %q", script, got, want)
		}
	}
	if got := withSourceMap("a();", nil); got != "a();" {
		t.Errorf("no map: %q", got)
	}
}
