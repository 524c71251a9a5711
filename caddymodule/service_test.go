package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/logging" // log_append, for TestServiceCalleeLogFields

	"github.com/caddy-gradual/gradual/affinity"
	"github.com/caddy-gradual/gradual/internal/cfapi"
)

func TestServiceConfig(t *testing.T) {
	versions := []*Version{{ID: "a", Script: "x.js", Vars: map[string]string{"TAKEN": "x"}}}
	rls := []*RateLimit{{Name: "LIMITER", Limit: 1}}
	for _, tt := range []struct {
		name string
		svcs []*Service
		want string
	}{
		{"ok", []*Service{{Name: "AUTH", Worker: "auth"}, {Name: "DB", Worker: "db"}}, "<nil>"},
		{"null", []*Service{nil}, "services: null entry"},
		{"bad name", []*Service{{Name: "a-b", Worker: "x"}}, `service: var name "a-b": letters, digits, _ and $ only, not starting with a digit`},
		{"bad worker", []*Service{{Name: "A", Worker: "Auth"}}, "service A: worker: "},
		{"duplicate", []*Service{{Name: "A", Worker: "x"}, {Name: "A", Worker: "y"}}, "service A: a binding of that name is defined more than once"},
		{"a rate limit's name", []*Service{{Name: "LIMITER", Worker: "x"}}, "service LIMITER: a binding of that name is defined more than once"},
		{"var of the same name", []*Service{{Name: "TAKEN", Worker: "x"}}, "service TAKEN: version a has a var of the same name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(checkServices(tt.svcs, rls, versions)); !strings.HasPrefix(got, tt.want) {
				t.Errorf("error %s, want %s", got, tt.want)
			}
		})
	}
}

func TestServiceCaddyfile(t *testing.T) {
	for _, tt := range []struct{ input, want string }{
		{"service AUTH auth", "<nil>"},
		{"service AUTH", "service: expected a binding name and a worker: service <NAME> <worker>, at Testfile:5"},
		{"service AUTH auth extra", "service: expected a binding name and a worker"},
		{"service 1A auth", `service: var name "1A"`},
		{"service AUTH Bad", "service AUTH: "},
		{"service AUTH auth\nservice AUTH other", "service AUTH: a binding of that name is defined more than once, at Testfile:6"},
		{"ratelimit AUTH limit 1\nservice AUTH auth", "service AUTH: a binding of that name is defined more than once"},
	} {
		t.Run(tt.input, func(t *testing.T) {
			g := new(Gradual)
			err := g.UnmarshalCaddyfile(caddyfile.NewTestDispenser("gradual shop {\nversion a {\nupstream x:1\n}\n" + tt.input + "\n}"))
			if got := fmt.Sprint(err); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("error %s, want %s", got, tt.want)
			}
			if err == nil && (len(g.Services) != 1 || *g.Services[0] != (Service{Name: "AUTH", Worker: "auth"})) {
				t.Errorf("services %+v", g.Services)
			}
		})
	}
}

func TestFindCycle(t *testing.T) {
	graph := map[string][]string{"a": {"b", "c"}, "b": {"d"}, "c": {"d", "a"}, "d": nil, "s": {"s"}}
	calls := func(w string) []string { return graph[w] }
	for start, want := range map[string]string{"a": "a c a", "b": "", "d": "", "s": "s s", "c": "c a c"} {
		if got := strings.Join(findCycle(start, calls), " "); got != want {
			t.Errorf("from %s: %q, want %q", start, got, want)
		}
	}
}

// serviceWorkers provisions the worker back (versions b1 and b2 at 50%)
// and front, which has one version calling back through env.BACK and
// answering with back's answer, set up further by opts.
func serviceWorkers(t *testing.T, opts ...func(front *Gradual)) (front, back *Gradual) {
	t.Helper()
	dir := t.TempDir()
	fp, bp := filepath.Join(dir, "front.js"), filepath.Join(dir, "back.js")
	os.WriteFile(fp, []byte(`export default { async fetch(req, env) {
	const r = await env.BACK.fetch("http://back/");
	return new Response(await r.text());
} }`), 0o644)
	os.WriteFile(bp, []byte(`export default { fetch(req, env) { return new Response(env.CF_VERSION_METADATA.id); } }`), 0o644)
	back = &Gradual{Worker: "back", Versions: []*Version{{ID: "b1", Script: bp}, {ID: "b2", Script: bp}},
		Deploy: []DeployEntry{{"b1", 50}, {"b2", 50}}, CPULimit: caddy.Duration(time.Second)}
	front = &Gradual{Worker: "front", Versions: []*Version{{ID: "f1", Script: fp}},
		Services: []*Service{{Name: "BACK", Worker: "back"}}, CPULimit: caddy.Duration(time.Second)}
	for _, o := range opts {
		o(front)
	}
	provision(t, back)
	provision(t, front)
	return front, back
}

// TestServiceMintedKey checks that a key minted for a client by
// affinity_cookie routes the callee as the caller's key.
func TestServiceMintedKey(t *testing.T) {
	front, back := serviceWorkers(t, func(g *Gradual) { g.AffinityCookie = &AffinityCookie{Name: "k"} })
	dep := back.set.Load().dep
	for range 20 {
		w, _ := serve(t, front, nil, "127.0.0.1")
		cookie := (&http.Response{Header: w.Header()}).Cookies()
		if len(cookie) != 1 {
			t.Fatalf("cookies %v", cookie)
		}
		if want := dep.versions[dep.split.PickKey(cookie[0].Value)].id; w.Body.String() != want {
			t.Fatalf("key %s: back answered %q, want %s", cookie[0].Value, w.Body.String(), want)
		}
	}
	// The calls count in the callee's stats, per version.
	if n := back.state.totals("b1").Requests + back.state.totals("b2").Requests; n != 20 {
		t.Errorf("back's stats count %d requests, want 20", n)
	}
	if n := front.state.totals("f1").Requests; n != 20 {
		t.Errorf("front's stats count %d requests, want 20", n)
	}
}

// TestServiceOverrideFrom checks that the callee's override_from is
// checked against the client's address.
func TestServiceOverrideFrom(t *testing.T) {
	front, back := serviceWorkers(t)
	back.overrideFrom = mustPrefixes(t, "10.0.0.0/8")
	for _, tt := range []struct{ ip, want string }{{"10.1.2.3", "b2"}, {"192.0.2.1", ""}} {
		for range 10 {
			w, _ := serve(t, front, http.Header{"Cloudflare-Workers-Version-Overrides": {`back="b2"`}, "Cloudflare-Workers-Version-Key": {"k1"}}, tt.ip)
			want := tt.want
			if want == "" {
				dep := back.set.Load().dep
				want = dep.versions[dep.split.PickKey("k1")].id
			}
			if w.Body.String() != want {
				t.Fatalf("client %s: %q, want %s", tt.ip, w.Body.String(), want)
			}
		}
	}
}

func TestServiceCallDepth(t *testing.T) {
	f := serviceFetcher{caller: "front", callee: "nowhere", name: "BACK"}
	in := httptest.NewRequest(http.MethodGet, "http://front/", nil)
	deep := in.WithContext(context.WithValue(in.Context(), serviceCallKey{}, &serviceCall{depth: maxCallDepth}))
	req := httptest.NewRequest(http.MethodGet, "http://back/", nil)
	if err := f.ServeService(httptest.NewRecorder(), req, deep); fmt.Sprint(err) != "service binding BACK: calls nest deeper than 16" {
		t.Errorf("at the bound: %v", err)
	}
	if err := f.ServeService(httptest.NewRecorder(), req, in); fmt.Sprint(err) != `service binding BACK: no gradual worker "nowhere" is loaded` {
		t.Errorf("unknown worker: %v", err)
	}
}

// TestServiceCycleProvision checks the JSON path: the handler that closes
// a cycle of the config's bindings fails to provision.
func TestServiceCycleProvision(t *testing.T) {
	front, _ := serviceWorkers(t)
	path := front.Versions[0].Script
	g := &Gradual{Worker: "back2", Versions: []*Version{{ID: "x", Script: path}}, Services: []*Service{{Name: "F", Worker: "front"}}}
	provision(t, g) // no cycle: nothing calls back2
	g = &Gradual{Worker: "back", Versions: []*Version{{ID: "x", Script: path}}, Services: []*Service{{Name: "F", Worker: "front"}}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	err := g.Provision(ctx)
	_ = g.Cleanup()
	if fmt.Sprint(err) != "service F: service bindings form a cycle: back → front → back (a worker may not call itself through bindings)" {
		t.Errorf("got %v", err)
	}
}

func mustPrefixes(t *testing.T, s ...string) affinity.Prefixes {
	t.Helper()
	p, err := affinity.ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCFServices checks which service bindings of a wrangler upload are
// taken: those the gradual block declares alike, which every version
// has, as its versions show them.
func TestCFServices(t *testing.T) {
	front, _ := serviceWorkers(t)
	for _, tt := range []struct {
		name string
		want []cfapi.ServiceBinding
		err  string
	}{
		{"none", nil, ""},
		{"the block's", []cfapi.ServiceBinding{{Name: "BACK", Service: "back"}}, ""},
		{"another name", []cfapi.ServiceBinding{{Name: "BACK", Service: "back"}, {Name: "AUTH", Service: "back"}},
			`service binding "AUTH": the gradual block declares no such service binding (service AUTH back) [code: 10002]`},
		{"another worker", []cfapi.ServiceBinding{{Name: "BACK", Service: "auth"}},
			`service binding "BACK" calls the worker "auth"; the gradual block's calls "back" [code: 10002]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := cfServices(front.state, tt.want)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *cfapi.Error
			if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || err.Error() != tt.err {
				t.Errorf("got %v, want 400 %s", err, tt.err)
			}
		})
	}
	block := blockBindings(front.state)
	if got, want := block.Bindings(), []cfapi.Binding{{Name: "BACK", Type: "service", Service: "back"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("the versions' bindings: %+v, want %+v", got, want)
	}
}

// TestServiceCalleeReplacer checks that the callees that need a replacer
// get their own: one choosing by an affinity expression, and an upstream
// handler (static_response reads the callee's placeholders), while the
// caller's placeholders stay its own.
func TestServiceCalleeReplacer(t *testing.T) {
	dir := t.TempDir()
	fp := filepath.Join(dir, "front.js")
	os.WriteFile(fp, []byte(`export default { async fetch(req, env) {
	const r = await env.BACK.fetch("http://back/p");
	return new Response(await r.text());
} }`), 0o644)
	up := json.RawMessage(`{"handler":"static_response","body":"{http.gradual.version_id} {http.request.uri.path}"}`)
	for _, expr := range []string{"{http.request.uri.path}", ""} {
		t.Run(expr, func(t *testing.T) {
			back := &Gradual{Worker: "back", Versions: []*Version{{ID: "b1", Upstream: up}, {ID: "b2", Upstream: up}},
				Deploy: []DeployEntry{{"b1", 50}, {"b2", 50}}, Affinity: expr}
			front := &Gradual{Worker: "front", Versions: []*Version{{ID: "f1", Script: fp}},
				Services: []*Service{{Name: "BACK", Worker: "back"}}, CPULimit: caddy.Duration(time.Second)}
			provision(t, back)
			provision(t, front)
			dep := back.set.Load().dep
			want := map[string]bool{"b1 /p": true, "b2 /p": true}
			if expr != "" {
				want = map[string]bool{dep.versions[dep.split.PickKey("/p")].id + " /p": true}
			}
			for range 8 {
				w, repl := serve(t, front, nil, "127.0.0.1")
				if !want[w.Body.String()] {
					t.Fatalf("got %d %q, want one of %v", w.Code, w.Body.String(), want)
				}
				if id, _ := repl.Get("http.gradual.version_id"); id != "f1" {
					t.Errorf("the caller's version_id placeholder is %v", id)
				}
			}
		})
	}
}

// TestServiceCalleeLogFields checks that an upstream callee gets log
// fields of its own, which Caddy's log_append handler asserts, while a
// script callee gets none (no log reads them).
func TestServiceCalleeLogFields(t *testing.T) {
	dir := t.TempDir()
	fp := filepath.Join(dir, "front.js")
	os.WriteFile(fp, []byte(`export default { async fetch(req, env) {
	const r = await env.BACK.fetch("http://back/");
	return new Response(r.status + " " + await r.text());
} }`), 0o644)
	bp := filepath.Join(dir, "back.js")
	os.WriteFile(bp, []byte(`export default { fetch() { return new Response("script"); } }`), 0o644)
	for name, v := range map[string]*Version{
		"upstream": {ID: "b1", Upstream: json.RawMessage(`{"handler":"log_append","key":"k","value":"v"}`)},
		"script":   {ID: "b1", Script: bp},
	} {
		t.Run(name, func(t *testing.T) {
			back := &Gradual{Worker: "back", Versions: []*Version{v}}
			front := &Gradual{Worker: "front", Versions: []*Version{{ID: "f1", Script: fp}},
				Services: []*Service{{Name: "BACK", Worker: "back"}}, CPULimit: caddy.Duration(time.Second)}
			provision(t, back)
			provision(t, front)
			// log_append passes the call on to callNext, which answers 500.
			want := map[string]string{"upstream": "500 Internal Server Error\n", "script": "200 script"}[name]
			if w, _ := serve(t, front, nil, "127.0.0.1"); w.Body.String() != want {
				t.Errorf("got %d %q, want %q", w.Code, w.Body.String(), want)
			}
		})
	}
}
