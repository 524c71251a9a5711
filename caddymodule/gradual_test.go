package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/certmagic"
	"go.uber.org/goleak"

	"github.com/caddy-gradual/gradual/splitter"
)

// staticVersion is a version served by Caddy's static_response handler, so
// these tests exercise the real module loading without a network.
func staticVersion(id, tag string) *Version {
	return &Version{ID: id, Tag: tag, Upstream: json.RawMessage(fmt.Sprintf(`{"handler":"static_response","body":%q}`, id))}
}

// TestMain gives the unit tests' handlers a storage for live deployments.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gradual-unit")
	if err != nil {
		panic(err)
	}
	configStorage = func(caddy.Context) certmagic.Storage { return &certmagic.FileStorage{Path: dir} }
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every goroutine and timer of the handlers and their control
		// planes stops on Cleanup. certmagic's file lock keeps a goroutine
		// that notices an unlock on its next tick.
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
			// Idle task goroutines wait for the next task (workerhost.runTask).
			goleak.IgnoreTopFunction("github.com/caddy-gradual/gradual/workerhost.taskRunner")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func provision(t testing.TB, g *Gradual) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := g.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Cleanup() })
}

// request builds a request carrying what Caddy's server puts in every
// request's context. The access-log fields are checked end to end in
// integration.TestAccessLogFields, since Caddy keeps them unexported.
func request(header http.Header, clientIP string) (*http.Request, *caddy.Replacer) {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
	for k, v := range header {
		r.Header[k] = v
	}
	return serverValues(r, clientIP)
}

// serverValues adds to r the values Caddy's server gives a request: a
// replacer, access-log fields and the client IP.
func serverValues(r *http.Request, clientIP string) (*http.Request, *caddy.Replacer) {
	repl := caddyhttp.NewTestReplacer(r)
	extra := new(caddyhttp.ExtraLogFields)
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.ExtraLogFieldsCtxKey, extra)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: clientIP})
	return r.WithContext(ctx), repl
}

func serve(t testing.TB, g *Gradual, header http.Header, clientIP string) (*httptest.ResponseRecorder, *caddy.Replacer) {
	t.Helper()
	r, repl := request(header, clientIP)
	w := httptest.NewRecorder()
	if err := g.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
		t.Fatal(err)
	}
	return w, repl
}

func TestServeHTTPSelection(t *testing.T) {
	off := false
	tests := []struct {
		name     string
		g        *Gradual
		header   http.Header
		clientIP string
		wantID   string
		wantSel  string
		cookie   bool
	}{
		{
			name:   "override reaches a 0% version",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 100}, {"v2", 0}}},
			header: http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v2"`}},
			wantID: "v2", wantSel: "override",
		},
		{
			name:   "override reaches an undeployed version",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 100}}},
			header: http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v3"`}},
			wantID: "v3", wantSel: "override",
		},
		{
			name:   "malformed override ignored",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 100}}},
			header: http.Header{"Cloudflare-Workers-Version-Overrides": {`shop=v3`}},
			wantID: "v1", wantSel: "random",
		},
		{
			name:   "unknown version ignored",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 100}}},
			header: http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v9"`}},
			wantID: "v1", wantSel: "random",
		},
		{
			name:   "overrides off",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 100}}, Overrides: &off},
			header: http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v3"`}},
			wantID: "v1", wantSel: "random",
		},
		{
			name:     "override_from allows the client",
			g:        &Gradual{Deploy: []DeployEntry{{"v1", 100}}, OverrideFrom: []string{"10.0.0.0/8"}},
			header:   http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v3"`}},
			clientIP: "10.1.2.3",
			wantID:   "v3", wantSel: "override",
		},
		{
			name:     "override_from refuses the client",
			g:        &Gradual{Deploy: []DeployEntry{{"v1", 100}}, OverrideFrom: []string{"10.0.0.0/8"}},
			header:   http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v3"`}},
			clientIP: "192.0.2.1",
			wantID:   "v1", wantSel: "random",
		},
		{
			name:   "custom override header",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 100}}, OverrideHeader: "x-pick"},
			header: http.Header{"X-Pick": {`shop="v2"`}},
			wantID: "v2", wantSel: "override",
		},
		{
			name:   "key header",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 50}, {"v2", 50}}},
			header: http.Header{"Cloudflare-Workers-Version-Key": {"user-1"}},
			wantID: pickFor("user-1", 50), wantSel: "affinity",
		},
		{
			name:   "affinity expression",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 50}, {"v2", 50}}, Affinity: "{http.request.header.X-User}"},
			header: http.Header{"X-User": {"alice"}},
			wantID: pickFor("alice", 50), wantSel: "affinity",
		},
		{
			name:   "affinity cookie is minted",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 100}}, AffinityCookie: &AffinityCookie{Name: "k"}},
			wantID: "v1", wantSel: "affinity", cookie: true,
		},
		{
			name:   "affinity cookie is honoured",
			g:      &Gradual{Deploy: []DeployEntry{{"v1", 50}, {"v2", 50}}, AffinityCookie: &AffinityCookie{Name: "k"}},
			header: http.Header{"Cookie": {"k=bob"}},
			wantID: pickFor("bob", 50), wantSel: "affinity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g
			g.Worker = "shop"
			g.Versions = []*Version{staticVersion("v1", "t1"), staticVersion("v2", "t2"), staticVersion("v3", "t3")}
			provision(t, g)
			w, repl := serve(t, g, tt.header, tt.clientIP)
			if body := w.Body.String(); body != tt.wantID {
				t.Errorf("served by %q, want %q", body, tt.wantID)
			}
			for key, want := range map[string]string{
				"http.gradual.worker":      "shop",
				"http.gradual.version_id":  tt.wantID,
				"http.gradual.version_tag": "t" + tt.wantID[1:],
				"http.gradual.selection":   tt.wantSel,
			} {
				if got, _ := repl.GetString(key); got != want {
					t.Errorf("{%s} = %q, want %q", key, got, want)
				}
			}
			if got := len(w.Result().Cookies()); (got == 1) != tt.cookie {
				t.Errorf("Set-Cookie %v, want a cookie: %v", w.Header().Values("Set-Cookie"), tt.cookie)
			}
		})
	}
}

// pickFor is the version the splitter gives key in a v1/v2 deployment.
func pickFor(key string, v1Pct float64) string {
	w1, _ := splitter.PercentFromFloat(v1Pct)
	d, err := splitter.New([]splitter.Entry{{ID: "v1", Weight: w1}, {ID: "v2", Weight: splitter.Total - w1}})
	if err != nil {
		panic(err)
	}
	return d.Entry(d.PickKey(key)).ID
}

func TestRandomSplit(t *testing.T) {
	g := Gradual{Worker: "shop", Versions: []*Version{staticVersion("v1", ""), staticVersion("v2", "")},
		Deploy: []DeployEntry{{"v1", 80}, {"v2", 20}}}
	provision(t, &g)
	counts := map[string]int{}
	const n = 20000
	for range n {
		w, _ := serve(t, &g, nil, "")
		counts[w.Body.String()]++
	}
	if share := 100 * float64(counts["v2"]) / n; share < 19 || share > 21 {
		t.Errorf("v2 share %.2f%% over %d random picks, want 20%% ± 1", share, n)
	}
}

func TestCheckConfig(t *testing.T) {
	v := func(id string) *Version { return staticVersion(id, "") }
	tests := []struct {
		name    string
		g       *Gradual
		wantErr string
	}{
		{"ok", &Gradual{Worker: "shop", Versions: []*Version{v("a"), v("b")}, Deploy: []DeployEntry{{"a", 99.5}, {"b", 0.5}}}, ""},
		{"lone version", &Gradual{Worker: "shop", Versions: []*Version{v("a")}}, ""},
		{"bad worker", &Gradual{Worker: "Shop", Versions: []*Version{v("a")}}, "worker name"},
		{"no versions", &Gradual{Worker: "shop"}, "at least one version"},
		{"null version", &Gradual{Worker: "shop", Versions: []*Version{nil}}, "null entry"},
		{"bad id", &Gradual{Worker: "shop", Versions: []*Version{v("a b")}}, "invalid version ID"},
		{"duplicate version", &Gradual{Worker: "shop", Versions: []*Version{v("a"), v("a")}, Deploy: []DeployEntry{{"a", 100}}}, "defined more than once"},
		{"no upstream", &Gradual{Worker: "shop", Versions: []*Version{{ID: "a"}}}, "exactly one of script and upstream"},
		{"no deploy", &Gradual{Worker: "shop", Versions: []*Version{v("a"), v("b")}}, "deploy: required"},
		{"unknown deploy id", &Gradual{Worker: "shop", Versions: []*Version{v("a")}, Deploy: []DeployEntry{{"z", 100}}}, `unknown version "z"`},
		{"sum", &Gradual{Worker: "shop", Versions: []*Version{v("a"), v("b")}, Deploy: []DeployEntry{{"a", 60}, {"b", 30}}}, "add up to 90%"},
		{"three decimals", &Gradual{Worker: "shop", Versions: []*Version{v("a"), v("b")}, Deploy: []DeployEntry{{"a", 99.999}, {"b", 0.001}}}, "two decimals"},
		{"negative", &Gradual{Worker: "shop", Versions: []*Version{v("a"), v("b")}, Deploy: []DeployEntry{{"a", 110}, {"b", -10}}}, "deploy: version"},
		{"duplicate deploy", &Gradual{Worker: "shop", Versions: []*Version{v("a")}, Deploy: []DeployEntry{{"a", 50}, {"a", 50}}}, "more than once"},
		{"bad header name", &Gradual{Worker: "shop", Versions: []*Version{v("a")}, OverrideHeader: "x y"}, "override_header"},
		{"bad override_from", &Gradual{Worker: "shop", Versions: []*Version{v("a")}, OverrideFrom: []string{"nope"}}, "override_from"},
		{"bad cookie", &Gradual{Worker: "shop", Versions: []*Version{v("a")}, AffinityCookie: &AffinityCookie{Name: "a;b"}}, "affinity_cookie"},
		{"negative max_age", &Gradual{Worker: "shop", Versions: []*Version{v("a")}, AffinityCookie: &AffinityCookie{Name: "k", MaxAge: -1}}, "max_age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.g.checkConfig()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input, wantErr string
		check                func(t *testing.T, g *Gradual)
	}{
		{
			name: "full",
			input: `gradual shop {
				version v1 {
					upstream localhost:9001
					tag one
					message "first release"
				}
				version v2 {
					upstream localhost:9002
				}
				deploy v1@66.67% v2@33.33%
				affinity {http.request.cookie.s}
				affinity_cookie k 1h
				overrides off
				override_header X-Pick
				override_from 10.0.0.0/8 ::1
			}`,
			check: func(t *testing.T, g *Gradual) {
				if g.Worker != "shop" || len(g.Versions) != 2 || g.Versions[0].Tag != "one" || g.Versions[0].Message != "first release" {
					t.Errorf("versions: %+v", g.Versions)
				}
				if len(g.Deploy) != 2 || g.Deploy[0] != (DeployEntry{"v1", 66.67}) || g.Deploy[1] != (DeployEntry{"v2", 33.33}) {
					t.Errorf("deploy: %+v", g.Deploy)
				}
				if g.Affinity != "{http.request.cookie.s}" || g.AffinityCookie.Name != "k" || g.AffinityCookie.MaxAge != caddy.Duration(3600e9) {
					t.Errorf("affinity: %q %+v", g.Affinity, g.AffinityCookie)
				}
				if g.Overrides == nil || *g.Overrides || g.OverrideHeader != "X-Pick" || len(g.OverrideFrom) != 2 {
					t.Errorf("overrides: %v %q %v", g.Overrides, g.OverrideHeader, g.OverrideFrom)
				}
				var up map[string]any
				if err := json.Unmarshal(g.Versions[1].Upstream, &up); err != nil || up["handler"] != "reverse_proxy" {
					t.Errorf("upstream JSON %s: %v", g.Versions[1].Upstream, err)
				}
			},
		},
		{name: "lone deploy id", input: "gradual shop {\nversion a {\nupstream x:1\n}\nversion b {\nupstream x:2\n}\ndeploy b\n}",
			check: func(t *testing.T, g *Gradual) {
				if len(g.Deploy) != 1 || g.Deploy[0] != (DeployEntry{"b", 100}) {
					t.Errorf("deploy: %+v", g.Deploy)
				}
			}},
		{name: "extra worker arg", input: "gradual shop extra {\n}", wantErr: "wrong argument count"},
		{name: "handle_response needs adapter", input: "gradual shop {\nversion a {\nupstream x:1 {\nhandle_response {\nrespond 200\n}\n}\n}\n}", wantErr: "handle_response needs the Caddyfile adapter, at Testfile:3"},
		{name: "version without id", input: "gradual shop {\nversion {\n}\n}", wantErr: "an ID is required, at Testfile:2"},
		{name: "tag without value", input: "gradual shop {\nversion a {\nupstream x:1\ntag\n}\n}", wantErr: "wrong argument count"},
		{name: "deploy without args", input: "gradual shop {\nversion a {\nupstream x:1\n}\ndeploy\n}", wantErr: "wrong argument count or unexpected line ending after 'deploy', at Testfile:5"},
		{name: "affinity_cookie three args", input: "gradual shop {\nversion a {\nupstream x:1\n}\naffinity_cookie a 1h x\n}", wantErr: "wrong argument count"},
		{name: "negative max_age", input: "gradual shop {\nversion a {\nupstream x:1\n}\naffinity_cookie a -1h\n}", wantErr: "must not be negative"},
		{name: "bad override header", input: "gradual shop {\nversion a {\nupstream x:1\n}\noverride_header \"a b\"\n}", wantErr: "not a valid header name, at Testfile:5"},
		{name: "empty upstream", input: "gradual shop {\nversion a {\nupstream\n}\n}", wantErr: "at least one upstream address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := new(Gradual)
			err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := g.checkConfig(); err != nil {
				t.Fatalf("parsed config fails the JSON checks: %v", err)
			}
			tt.check(t, g)
		})
	}
}

// FuzzUnmarshalCaddyfile feeds arbitrary Caddyfile text to the parser. It
// must never panic, and whatever it accepts the JSON path must accept too,
// so the two can never disagree.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, seed := range []string{
		"gradual shop {\nversion v1 {\nupstream localhost:9001\n}\n}",
		"gradual shop {\nversion a {\nupstream x:1\ntag t\nmessage m\n}\nversion b {\nupstream x:2\n}\ndeploy a@50% b@50%\naffinity {x}\naffinity_cookie k 30d\noverrides on\noverride_header X\noverride_from 10.0.0.0/8\n}",
		"gradual shop {\nversion a {\nupstream x:1\n}\ndeploy a@99.99% \n}",
		"gradual shop {\nversion a {\nupstream x:1\n}\nratelimit L limit 5 period 10s namespace_id 7\nratelimit M limit 1\n}",
		"gradual",
		"gradual {\n}",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Fuzzfile")
		if err != nil || len(tokens) == 0 || tokens[0].Text != "gradual" {
			return
		}
		g := new(Gradual)
		if err := g.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		if err := g.checkConfig(); err != nil {
			t.Fatalf("Caddyfile accepted but JSON check rejects: %v\n%s", err, input)
		}
		if _, err := json.Marshal(g); err != nil {
			t.Fatalf("accepted config does not marshal: %v", err)
		}
	})
}

// FuzzConfigJSON decodes arbitrary JSON as the handler's config, as the
// admin API does with a POSTed config. Checking it must never panic, and an
// accepted deployment must build a split that sums to 100%.
func FuzzConfigJSON(f *testing.F) {
	f.Add(`{"worker":"shop","versions":[{"id":"a","upstream":{"handler":"reverse_proxy"}}]}`)
	f.Add(`{"worker":"shop","versions":[{"id":"a","upstream":{}},{"id":"b","upstream":{}}],"deploy":[{"version_id":"a","percentage":12.5},{"version_id":"b","percentage":87.5}]}`)
	f.Add(`{"worker":"shop","versions":[null]}`)
	f.Add(`{"worker":"shop","versions":[{"id":"a","upstream":{}}],"deploy":[{"version_id":"a","percentage":1e308}]}`)
	f.Fuzz(func(t *testing.T, input string) {
		var g Gradual
		if err := json.Unmarshal([]byte(input), &g); err != nil {
			return
		}
		if err := g.checkConfig(); err != nil {
			return
		}
		split, err := buildSplit(g.Versions, g.Deploy)
		if err != nil {
			t.Fatalf("checkConfig accepted a deployment buildSplit rejects: %v", err)
		}
		var sum splitter.Weight
		for i := range split.Len() {
			sum += split.Entry(i).Weight
		}
		if sum != splitter.Total {
			t.Fatalf("accepted deployment sums to %v", sum)
		}
	})
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request, caddyhttp.Handler) error { return nil }
