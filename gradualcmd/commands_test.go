package gradualcmd

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func TestRegistered(t *testing.T) {
	c, ok := caddycmd.Commands()["gradual"]
	if !ok {
		t.Fatal("caddy gradual is not registered")
	}
	root := &cobra.Command{Use: "gradual"}
	c.CobraFunc(root)
	for _, path := range [][]string{
		{"versions", "upload"}, {"versions", "list"}, {"versions", "deploy"},
		{"deployments", "list"}, {"rollback"}, {"status"}, {"tail"},
		{"rollout", "start"}, {"rollout", "status"}, {"rollout", "pause"},
		{"rollout", "resume"}, {"rollout", "promote"}, {"rollout", "abort"},
	} {
		cmd, rest, err := root.Find(path)
		if err != nil || len(rest) != 0 || cmd.Name() != path[len(path)-1] || cmd.RunE == nil {
			t.Errorf("caddy gradual %s: not found (%v)", strings.Join(path, " "), err)
		}
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "worker.js")
	const src = "export default { fetch() { return new Response('hi') } }\n"
	writeFile(t, script, src)
	list := request{"GET", "/gradual/workers", ""}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		reqs  []request
		out   string // exact output, or
		json  string // the JSON value printed with --json
	}{
		{
			name: "status",
			args: []string{"status"},
			reqs: []request{list, {"GET", "/gradual/workers/shop", ""}},
			out: `Worker:        shop
Deployment:    d2 (api, 2026-05-01 11:00:00Z)
Triggered by:  ci
Message:       canary 10%
Window:        60s (error rate, p50, p99)

VERSION  PERCENT  TAG     REQUESTS  ERRORS  ERROR RATE  P50     P99
v1       90%      stable  1200      3       0.17%       1.20ms  9.50ms
v2       10%      canary  130       0       0.00%       12.3ms  250ms
v3       -        -       0         0       -           -       -

NODE    DEPLOYMENT  SINCE                 LAST SEEN             STATE
edge-1  d2          2026-05-01 11:00:01Z  2026-05-01 11:05:00Z  ok
edge-2  d1          2026-05-01 10:00:00Z  2026-05-01 11:05:01Z  error: version v2 does not load
edge-3  config      -                     2026-05-01 09:00:00Z  gone
`,
		},
		{
			name: "status json",
			args: []string{"status", "--json", "-w", "shop"},
			reqs: []request{{"GET", "/gradual/workers/shop", ""}},
			json: fixtureWorker("shop"),
		},
		{
			name: "versions list",
			args: []string{"versions", "list", "--worker", "shop"},
			reqs: []request{{"GET", "/gradual/workers/shop/versions", ""}},
			out: `ID  CREATED               SOURCE  KIND      TAG     MESSAGE
v3  2026-05-02 09:00:00Z  upload  script    -       not yet
v2  2026-05-01 10:30:00Z  upload  script    canary  new checkout flow
v1  2026-05-01 08:00:00Z  config  upstream  stable  first release
`,
		},
		{
			name: "versions list json",
			args: []string{"versions", "list", "--json"},
			reqs: []request{list, {"GET", "/gradual/workers/shop/versions", ""}},
			json: fixtureVersions,
		},
		{
			name: "upload script",
			args: []string{"versions", "upload", "--script", script, "--tag", "v4", "--message", "faster", "--var", "A=1", "--var", "B=x=y"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/versions",
				fmt.Sprintf(`{"script":%q,"main_module":"worker.js","tag":"v4","message":"faster","vars":{"A":"1","B":"x=y"}}`, src)}},
			out: "Uploaded version v4 of worker shop.\n",
		},
		{
			name:  "upload script from stdin",
			args:  []string{"versions", "upload", "--script", "-", "-w", "shop"},
			stdin: src,
			reqs:  []request{{"POST", "/gradual/workers/shop/versions", fmt.Sprintf(`{"script":%q}`, src)}},
			out:   "Uploaded version v4 of worker shop.\n",
		},
		{
			name: "upload upstreams",
			args: []string{"versions", "upload", "--upstream", "127.0.0.1:9003", "--upstream", "127.0.0.1:9004", "--tag", "v4", "--json"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/versions", `{"upstreams":["127.0.0.1:9003","127.0.0.1:9004"],"tag":"v4"}`}},
			json: `{"id":"v4","source":"upload","kind":"upstream","created_on":"2026-05-03T10:00:00Z","annotations":{"workers/tag":"v4"}}`,
		},
		{
			name: "deploy split",
			args: []string{"versions", "deploy", "v1@90%", "v2@10%", "--message", "canary 10%"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/deployments",
				`{"strategy":"percentage","versions":[{"version_id":"v1","percentage":90},{"version_id":"v2","percentage":10}],"annotations":{"workers/message":"canary 10%"}}`}},
			out: "Deployed worker shop: v1@90% v2@10% (deployment d3).\n",
		},
		{
			name: "deploy decimals, no percent sign",
			args: []string{"versions", "deploy", "v1@66.67", "v2@33.33%", "v3@0%"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/deployments",
				`{"strategy":"percentage","versions":[{"version_id":"v1","percentage":66.67},{"version_id":"v2","percentage":33.33},{"version_id":"v3","percentage":0}]}`}},
			out: "Deployed worker shop: v1@66.67% v2@33.33% v3@0% (deployment d3).\n",
		},
		{
			name: "deploy lone id",
			args: []string{"versions", "deploy", "v2", "--json"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/deployments",
				`{"strategy":"percentage","versions":[{"version_id":"v2","percentage":100}]}`}},
			json: `{"id":"d3","created_on":"2026-05-03T10:00:00Z","source":"api","strategy":"percentage","versions":[{"version_id":"v2","percentage":100}],"annotations":null}`,
		},
		{
			name: "deployments list",
			args: []string{"deployments", "list"},
			reqs: []request{list, {"GET", "/gradual/workers/shop/deployments", ""}},
			out: `CREATED               SOURCE  TRIGGERED BY  SPLIT          MESSAGE
2026-05-01 11:00:00Z  api     ci            v1@90% v2@10%  canary 10%
2026-05-01 08:00:00Z  config  -             v1@100%        -
`,
		},
		{
			name: "deployments list json",
			args: []string{"deployments", "list", "--json", "-w", "shop"},
			reqs: []request{{"GET", "/gradual/workers/shop/deployments", ""}},
			json: `{"deployments":[` + cliFixtureD2 + `,` + cliFixtureD1 + `]}`,
		},
		{
			name: "rollback to the last full version",
			args: []string{"rollback"},
			reqs: []request{list, {"POST", "/gradual/workers/shop/rollback", `{}`}},
			out:  "Rolled back worker shop: v1@100% (deployment d4).\n",
		},
		{
			name: "rollback to a version",
			args: []string{"rollback", "v2", "--message", "v3 is broken", "-w", "shop"},
			reqs: []request{{"POST", "/gradual/workers/shop/rollback", `{"version_id":"v2","message":"v3 is broken"}`}},
			out:  "Rolled back worker shop: v2@100% (deployment d4).\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAdmin(t, "shop")
			out, errOut, err := runOnce(t, tc.stdin, append(tc.args, "--address", f.addr)...)
			if err != nil {
				t.Fatalf("error %v, stderr %q", err, errOut)
			}
			checkRequests(t, f, tc.reqs)
			if tc.json != "" {
				if !sameJSON(t, out, tc.json) {
					t.Errorf("output:\n%s\nwant the JSON:\n%s", out, tc.json)
				}
			} else if out != tc.out {
				t.Errorf("output:\n%s\nwant:\n%s", out, tc.out)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "worker.js")
	empty := filepath.Join(dir, "empty.js")
	writeFile(t, script, "export default {}")
	writeFile(t, empty, " \n")
	list := request{"GET", "/gradual/workers", ""}
	for _, tc := range []struct {
		name    string
		workers []string
		args    []string
		reqs    []request
		err     string
	}{
		{name: "sum below 100", args: []string{"versions", "deploy", "v1@50%"}, err: "percentages add up to 50%, not 100%"},
		{name: "sum above 100", args: []string{"versions", "deploy", "v1@90%", "v2@20%"}, err: "percentages add up to 110%, not 100%"},
		{name: "bad percentage", args: []string{"versions", "deploy", "v1@ten%", "v2@100%"}, err: `version v1: invalid percentage "ten%"`},
		{name: "three decimals", args: []string{"versions", "deploy", "v1@10.125%", "v2@89.875%"}, err: "at most two decimals"},
		{name: "negative", args: []string{"versions", "deploy", "v1@-10%", "v2@110%"}, err: "invalid percentage"},
		{name: "missing percentage", args: []string{"versions", "deploy", "v1", "v2"}, err: `"v1": expected <version id>@<percent>%`},
		{name: "duplicate version", args: []string{"versions", "deploy", "v1@50%", "v1@50%"}, err: `version ID "v1" appears more than once`},
		{name: "bad version ID", args: []string{"versions", "deploy", "v/1@100%"}, err: `invalid version ID "v/1"`},
		{name: "no versions", args: []string{"versions", "deploy"}, err: "give at least one <version id>@<percent>%"},
		{name: "neither script nor upstream", args: []string{"versions", "upload", "--tag", "x"}, err: "--script <file> or its upstreams with --upstream <addr>"},
		{name: "script and upstream", args: []string{"versions", "upload", "--script", script, "--upstream", "127.0.0.1:1"}, err: "either --script or --upstream, not both"},
		{name: "vars for an upstream", args: []string{"versions", "upload", "--upstream", "127.0.0.1:1", "--var", "A=1"}, err: "--var applies only to --script versions"},
		{name: "var without value", args: []string{"versions", "upload", "--script", script, "--var", "A"}, err: `--var "A": expected <key>=<value>`},
		{name: "var twice", args: []string{"versions", "upload", "--script", script, "--var", "A=1", "--var", "A=2"}, err: "--var A is given more than once"},
		{name: "missing script", args: []string{"versions", "upload", "--script", filepath.Join(dir, "nope.js")}, err: "reading the script"},
		{name: "empty script", args: []string{"versions", "upload", "--script", empty}, err: "is empty"},
		{name: "rollback with a bad ID", args: []string{"rollback", "a b"}, err: `invalid version ID "a b"`},
		{name: "rollback with two IDs", args: []string{"rollback", "v1", "v2"}, err: "accepts at most 1 arg(s)"},
		{name: "unknown flag", args: []string{"status", "--nope"}, err: "unknown flag: --nope"},
		{name: "mistyped command", args: []string{"stauts"}, err: `unknown command "stauts" for "caddy gradual"`},
		{name: "mistyped subcommand", args: []string{"versions", "lst"}, err: `unknown command "lst" for "caddy gradual versions"`},
		{
			name: "several workers", workers: []string{"api", "shop"}, args: []string{"status"},
			reqs: []request{list}, err: "runs 2 workers (api, shop); choose one with --worker",
		},
		{
			name: "no workers", workers: []string{}, args: []string{"versions", "list"},
			reqs: []request{list}, err: "runs no gradual worker",
		},
		{
			name: "unknown worker", args: []string{"status", "-w", "nope"},
			reqs: []request{{"GET", "/gradual/workers/nope", ""}}, err: `no worker named "nope"`,
		},
		{
			name: "unknown version", args: []string{"versions", "deploy", "missing@100%", "-w", "shop"},
			reqs: []request{{"POST", "/gradual/workers/shop/deployments", `{"strategy":"percentage","versions":[{"version_id":"missing","percentage":100}]}`}},
			err:  `worker shop has no version "missing"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			workers := tc.workers
			if workers == nil {
				workers = []string{"shop"}
			}
			f := newFakeAdmin(t, workers...)
			runFailing(t, f, tc.args, tc.err, tc.reqs)
		})
	}
}

func TestAdminAddress(t *testing.T) {
	f := newFakeAdmin(t, "shop")

	t.Run("from the config", func(t *testing.T) {
		config := filepath.Join(t.TempDir(), "caddy.json")
		writeFile(t, config, fmt.Sprintf(`{"admin":{"listen":%q}}`, f.addr))
		if _, errOut, err := runOnce(t, "", "versions", "list", "-w", "shop", "--config", config); err != nil {
			t.Fatalf("%v: %s", err, errOut)
		}
		checkRequests(t, f, []request{{"GET", "/gradual/workers/shop/versions", ""}})
	})

	// A listener that is closed at once gives an address where nothing
	// listens.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	// Caddy itself answers requests that no module serves, or that it
	// refuses, in its own formats.
	caddyErrors := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/shop") {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":"host not allowed: example.com"}`+"\n")
			return
		}
		http.NotFound(w, r)
	}))
	defer caddyErrors.Close()
	caddyAddr := strings.TrimPrefix(caddyErrors.URL, "http://")

	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"nothing listening", []string{"status", "--address", closed}, "cannot reach Caddy's admin API at " + closed},
		{"port range", []string{"status", "--address", "localhost:2019-2020"}, "a port range"},
		{"bad config", []string{"status", "--config", filepath.Join(t.TempDir(), "nope.json")}, "finding the admin API address"},
		{"caddy without the plugin", []string{"status", "--address", caddyAddr}, "HTTP 404: 404 page not found (is this Caddy built with caddy-gradual?)"},
		{"caddy refuses", []string{"status", "-w", "shop", "--address", caddyAddr}, "admin API: HTTP 403: host not allowed: example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runOnce(t, "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
		})
	}
}
