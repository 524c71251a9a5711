package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// The fixtures are written out as the admin API's contract shows them, so
// the tests also check that the CLI decodes the real shapes.
const (
	cliFixtureVersions = `[
		{"id":"v3","source":"upload","kind":"script","created_on":"2026-05-02T09:00:00Z",
		 "annotations":{"workers/tag":"","workers/message":"not yet"}},
		{"id":"v2","source":"upload","kind":"script","created_on":"2026-05-01T12:30:00+02:00",
		 "annotations":{"workers/tag":"canary","workers/message":"new\tcheckout\nflow"}},
		{"id":"v1","source":"config","kind":"upstream","created_on":"2026-05-01T08:00:00Z",
		 "annotations":{"workers/tag":"stable","workers/message":"first release"},"upstreams":["127.0.0.1:9002"]}]`
	cliFixtureD2 = `{"id":"d2","created_on":"2026-05-01T11:00:00Z","source":"api","strategy":"percentage",
		"versions":[{"version_id":"v1","percentage":90},{"version_id":"v2","percentage":10}],
		"annotations":{"workers/message":"canary 10%","workers/triggered_by":"ci"}}`
	cliFixtureD1 = `{"id":"d1","created_on":"2026-05-01T08:00:00Z","source":"config","strategy":"percentage",
		"versions":[{"version_id":"v1","percentage":100}],"annotations":{}}`
	cliFixtureStats = `{
		"v1":{"requests":1200,"errors":3,"window_seconds":60,"window_requests":600,"window_errors":1,"error_rate":0.0016666,"p50_ms":1.2,"p99_ms":9.5},
		"v2":{"requests":130,"errors":0,"window_seconds":60,"window_requests":65,"window_errors":0,"error_rate":0,"p50_ms":12.34,"p99_ms":250},
		"v3":{"requests":0,"errors":0,"window_seconds":60,"window_requests":0,"window_errors":0,"error_rate":0,"p50_ms":0,"p99_ms":0}}`
)

// cliFixtureWorker is the fixture worker named name.
func cliFixtureWorker(name string) string {
	return fmt.Sprintf(`{"name":%q,"versions":%s,"deployment":%s,"stats":%s}`, name, cliFixtureVersions, cliFixtureD2, cliFixtureStats)
}

// cliRequest is a request the fake admin API received.
type cliRequest struct {
	Method, Path, Body string
}

// cliFakeAdmin implements the admin API's contract with fixed data and
// records every request.
type cliFakeAdmin struct {
	workers []string
	// tail is what GET .../tail streams; unless tailEnds, the stream then
	// stays open until the client goes away, as the real one does.
	tail     []string
	tailEnds bool

	mu   sync.Mutex
	reqs []cliRequest
	addr string
}

// newCLIFakeAdmin starts a fake admin API that runs the given workers.
func newCLIFakeAdmin(t *testing.T, workers ...string) *cliFakeAdmin {
	f := &cliFakeAdmin{workers: workers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.addr = strings.TrimPrefix(srv.URL, "http://")
	return f
}

// requests returns the requests received so far.
func (f *cliFakeAdmin) requests() []cliRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]cliRequest(nil), f.reqs...)
}

// ServeHTTP answers as the admin API's contract says, for the fixtures.
func (f *cliFakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, cliRequest{r.Method, r.URL.RequestURI(), string(body)})
	f.mu.Unlock()

	fail := func(status int, msg string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"success":false,"errors":[{"code":%d,"message":%q}],"messages":[],"result":null}`, status, msg)
	}
	ok := func(status int, result string) {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"success":true,"errors":[],"messages":[],"result":%s}`, result)
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/gradual/workers"), "/")
	if parts[0] != "" {
		http.NotFound(w, r)
		return
	}
	if len(parts) == 1 {
		list := make([]string, len(f.workers))
		for i, name := range f.workers {
			list[i] = cliFixtureWorker(name)
		}
		ok(http.StatusOK, "["+strings.Join(list, ",")+"]")
		return
	}
	name := parts[1]
	known := false
	for _, n := range f.workers {
		known = known || n == name
	}
	if !known {
		fail(http.StatusNotFound, fmt.Sprintf("no worker named %q", name))
		return
	}
	var req map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			fail(http.StatusBadRequest, "invalid JSON: "+err.Error())
			return
		}
	}
	route := r.Method + " " + strings.Join(parts[2:], "/")
	switch route {
	case "GET ":
		ok(http.StatusOK, cliFixtureWorker(name))
	case "GET versions":
		ok(http.StatusOK, cliFixtureVersions)
	case "POST versions":
		kind, tag := "script", req["tag"]
		if tag == nil {
			tag = ""
		}
		if req["upstreams"] != nil {
			kind = "upstream"
		}
		ok(http.StatusCreated, fmt.Sprintf(`{"id":"v4","source":"upload","kind":%q,"created_on":"2026-05-03T10:00:00Z","annotations":{"workers/tag":%q}}`, kind, tag))
	case "GET deployments":
		ok(http.StatusOK, `{"deployments":[`+cliFixtureD2+`,`+cliFixtureD1+`]}`)
	case "POST deployments":
		for _, v := range req["versions"].([]any) {
			if id := v.(map[string]any)["version_id"]; id == "missing" {
				fail(http.StatusBadRequest, fmt.Sprintf("worker %s has no version %q", name, id))
				return
			}
		}
		versions, _ := json.Marshal(req["versions"])
		annotations, _ := json.Marshal(req["annotations"])
		ok(http.StatusCreated, fmt.Sprintf(`{"id":"d3","created_on":"2026-05-03T10:00:00Z","source":"api","strategy":"percentage","versions":%s,"annotations":%s}`, versions, annotations))
	case "POST rollback":
		id, _ := req["version_id"].(string)
		if id == "" {
			id = "v1"
		}
		ok(http.StatusCreated, fmt.Sprintf(`{"id":"d4","created_on":"2026-05-03T10:00:00Z","source":"rollback","strategy":"percentage","versions":[{"version_id":%q,"percentage":100}],"annotations":{"workers/triggered_by":"rollback"}}`, id))
	case "GET tail":
		w.Header().Set("Content-Type", "application/x-ndjson")
		for _, line := range f.tail {
			io.WriteString(w, line+"\n")
			w.(http.Flusher).Flush()
		}
		if !f.tailEnds {
			<-r.Context().Done()
		}
	default:
		fail(http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	}
}

// cliSyncBuffer is a bytes.Buffer that a running command may write while
// the test reads it.
type cliSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *cliSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *cliSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cliExec runs `caddy gradual args...` in process, as Caddy's root command
// would, and returns its standard output and error and its error.
func cliExec(ctx context.Context, stdin string, stdout, stderr io.Writer, args ...string) error {
	root := &cobra.Command{Use: "caddy", SilenceUsage: true}
	gradual := &cobra.Command{Use: "gradual"}
	cliSetup(gradual)
	root.AddCommand(gradual)
	root.SetArgs(append([]string{"gradual"}, args...))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// cliRunOnce runs a command that ends by itself and returns its output.
func cliRunOnce(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = cliExec(t.Context(), stdin, &out, &errOut, args...)
	return out.String(), errOut.String(), err
}

// cliSameJSON reports whether a and b hold the same JSON value.
func cliSameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("%v in %s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	return reflect.DeepEqual(va, vb)
}

// cliCheckRequests compares the requests f received with want, bodies as
// JSON.
func cliCheckRequests(t *testing.T, f *cliFakeAdmin, want []cliRequest) {
	t.Helper()
	got := f.requests()
	if len(got) != len(want) {
		t.Fatalf("requests:\n%v\nwant:\n%v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		sameBody := g.Body == w.Body || g.Body != "" && w.Body != "" && cliSameJSON(t, g.Body, w.Body)
		if g.Method != w.Method || g.Path != w.Path || !sameBody {
			t.Errorf("request %d: %s %s %s\nwant %s %s %s", i, g.Method, g.Path, g.Body, w.Method, w.Path, w.Body)
		}
	}
}

func TestCLIRegistered(t *testing.T) {
	c, ok := caddycmd.Commands()["gradual"]
	if !ok {
		t.Fatal("caddy gradual is not registered")
	}
	root := &cobra.Command{Use: "gradual"}
	c.CobraFunc(root)
	for _, path := range [][]string{
		{"versions", "upload"}, {"versions", "list"}, {"versions", "deploy"},
		{"deployments", "list"}, {"rollback"}, {"status"}, {"tail"},
	} {
		cmd, rest, err := root.Find(path)
		if err != nil || len(rest) != 0 || cmd.Name() != path[len(path)-1] || cmd.RunE == nil {
			t.Errorf("caddy gradual %s: not found (%v)", strings.Join(path, " "), err)
		}
	}
}

func TestCLICommands(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "worker.js")
	const src = "export default { fetch() { return new Response('hi') } }\n"
	cliWriteFile(t, script, src)
	list := cliRequest{"GET", "/gradual/workers", ""}
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		reqs  []cliRequest
		out   string // exact output, or
		json  string // the JSON value printed with --json
	}{
		{
			name: "status",
			args: []string{"status"},
			reqs: []cliRequest{list, {"GET", "/gradual/workers/shop", ""}},
			out: `Worker:        shop
Deployment:    d2 (api, 2026-05-01 11:00:00Z)
Triggered by:  ci
Message:       canary 10%
Window:        60s (error rate, p50, p99)

VERSION  PERCENT  TAG     REQUESTS  ERRORS  ERROR RATE  P50     P99
v1       90%      stable  1200      3       0.17%       1.20ms  9.50ms
v2       10%      canary  130       0       0.00%       12.3ms  250ms
v3       -        -       0         0       -           -       -
`,
		},
		{
			name: "status json",
			args: []string{"status", "--json", "-w", "shop"},
			reqs: []cliRequest{{"GET", "/gradual/workers/shop", ""}},
			json: cliFixtureWorker("shop"),
		},
		{
			name: "versions list",
			args: []string{"versions", "list", "--worker", "shop"},
			reqs: []cliRequest{{"GET", "/gradual/workers/shop/versions", ""}},
			out: `ID  CREATED               SOURCE  KIND      TAG     MESSAGE
v3  2026-05-02 09:00:00Z  upload  script    -       not yet
v2  2026-05-01 10:30:00Z  upload  script    canary  new checkout flow
v1  2026-05-01 08:00:00Z  config  upstream  stable  first release
`,
		},
		{
			name: "versions list json",
			args: []string{"versions", "list", "--json"},
			reqs: []cliRequest{list, {"GET", "/gradual/workers/shop/versions", ""}},
			json: cliFixtureVersions,
		},
		{
			name: "upload script",
			args: []string{"versions", "upload", "--script", script, "--tag", "v4", "--message", "faster", "--var", "A=1", "--var", "B=x=y"},
			reqs: []cliRequest{list, {"POST", "/gradual/workers/shop/versions",
				fmt.Sprintf(`{"script":%q,"main_module":"worker.js","tag":"v4","message":"faster","vars":{"A":"1","B":"x=y"}}`, src)}},
			out: "Uploaded version v4 of worker shop.\n",
		},
		{
			name:  "upload script from stdin",
			args:  []string{"versions", "upload", "--script", "-", "-w", "shop"},
			stdin: src,
			reqs:  []cliRequest{{"POST", "/gradual/workers/shop/versions", fmt.Sprintf(`{"script":%q}`, src)}},
			out:   "Uploaded version v4 of worker shop.\n",
		},
		{
			name: "upload upstreams",
			args: []string{"versions", "upload", "--upstream", "127.0.0.1:9003", "--upstream", "127.0.0.1:9004", "--tag", "v4", "--json"},
			reqs: []cliRequest{list, {"POST", "/gradual/workers/shop/versions", `{"upstreams":["127.0.0.1:9003","127.0.0.1:9004"],"tag":"v4"}`}},
			json: `{"id":"v4","source":"upload","kind":"upstream","created_on":"2026-05-03T10:00:00Z","annotations":{"workers/tag":"v4"}}`,
		},
		{
			name: "deploy split",
			args: []string{"versions", "deploy", "v1@90%", "v2@10%", "--message", "canary 10%"},
			reqs: []cliRequest{list, {"POST", "/gradual/workers/shop/deployments",
				`{"strategy":"percentage","versions":[{"version_id":"v1","percentage":90},{"version_id":"v2","percentage":10}],"annotations":{"workers/message":"canary 10%"}}`}},
			out: "Deployed worker shop: v1@90% v2@10% (deployment d3).\n",
		},
		{
			name: "deploy decimals, no percent sign",
			args: []string{"versions", "deploy", "v1@66.67", "v2@33.33%", "v3@0%"},
			reqs: []cliRequest{list, {"POST", "/gradual/workers/shop/deployments",
				`{"strategy":"percentage","versions":[{"version_id":"v1","percentage":66.67},{"version_id":"v2","percentage":33.33},{"version_id":"v3","percentage":0}]}`}},
			out: "Deployed worker shop: v1@66.67% v2@33.33% v3@0% (deployment d3).\n",
		},
		{
			name: "deploy lone id",
			args: []string{"versions", "deploy", "v2", "--json"},
			reqs: []cliRequest{list, {"POST", "/gradual/workers/shop/deployments",
				`{"strategy":"percentage","versions":[{"version_id":"v2","percentage":100}]}`}},
			json: `{"id":"d3","created_on":"2026-05-03T10:00:00Z","source":"api","strategy":"percentage","versions":[{"version_id":"v2","percentage":100}],"annotations":null}`,
		},
		{
			name: "deployments list",
			args: []string{"deployments", "list"},
			reqs: []cliRequest{list, {"GET", "/gradual/workers/shop/deployments", ""}},
			out: `CREATED               SOURCE  TRIGGERED BY  SPLIT          MESSAGE
2026-05-01 11:00:00Z  api     ci            v1@90% v2@10%  canary 10%
2026-05-01 08:00:00Z  config  -             v1@100%        -
`,
		},
		{
			name: "deployments list json",
			args: []string{"deployments", "list", "--json", "-w", "shop"},
			reqs: []cliRequest{{"GET", "/gradual/workers/shop/deployments", ""}},
			json: `{"deployments":[` + cliFixtureD2 + `,` + cliFixtureD1 + `]}`,
		},
		{
			name: "rollback to the last full version",
			args: []string{"rollback"},
			reqs: []cliRequest{list, {"POST", "/gradual/workers/shop/rollback", `{}`}},
			out:  "Rolled back worker shop: v1@100% (deployment d4).\n",
		},
		{
			name: "rollback to a version",
			args: []string{"rollback", "v2", "--message", "v3 is broken", "-w", "shop"},
			reqs: []cliRequest{{"POST", "/gradual/workers/shop/rollback", `{"version_id":"v2","message":"v3 is broken"}`}},
			out:  "Rolled back worker shop: v2@100% (deployment d4).\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCLIFakeAdmin(t, "shop")
			out, errOut, err := cliRunOnce(t, tc.stdin, append(tc.args, "--address", f.addr)...)
			if err != nil {
				t.Fatalf("error %v, stderr %q", err, errOut)
			}
			cliCheckRequests(t, f, tc.reqs)
			if tc.json != "" {
				if !cliSameJSON(t, out, tc.json) {
					t.Errorf("output:\n%s\nwant the JSON:\n%s", out, tc.json)
				}
			} else if out != tc.out {
				t.Errorf("output:\n%s\nwant:\n%s", out, tc.out)
			}
		})
	}
}

func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "worker.js")
	empty := filepath.Join(dir, "empty.js")
	cliWriteFile(t, script, "export default {}")
	cliWriteFile(t, empty, " \n")
	list := cliRequest{"GET", "/gradual/workers", ""}
	for _, tc := range []struct {
		name    string
		workers []string
		args    []string
		reqs    []cliRequest
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
			reqs: []cliRequest{list}, err: "runs 2 workers (api, shop); choose one with --worker",
		},
		{
			name: "no workers", workers: []string{}, args: []string{"versions", "list"},
			reqs: []cliRequest{list}, err: "runs no gradual worker",
		},
		{
			name: "unknown worker", args: []string{"status", "-w", "nope"},
			reqs: []cliRequest{{"GET", "/gradual/workers/nope", ""}}, err: `no worker named "nope"`,
		},
		{
			name: "unknown version", args: []string{"versions", "deploy", "missing@100%", "-w", "shop"},
			reqs: []cliRequest{{"POST", "/gradual/workers/shop/deployments", `{"strategy":"percentage","versions":[{"version_id":"missing","percentage":100}]}`}},
			err:  `worker shop has no version "missing"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			workers := tc.workers
			if workers == nil {
				workers = []string{"shop"}
			}
			f := newCLIFakeAdmin(t, workers...)
			out, errOut, err := cliRunOnce(t, "", append(tc.args, "--address", f.addr)...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
			// This is what the user sees before caddy exits with status 1.
			if !strings.HasPrefix(errOut, "Error: ") || !strings.Contains(errOut, tc.err) {
				t.Errorf("stderr %q does not show the error", errOut)
			}
			if out != "" {
				t.Errorf("stdout %q after an error", out)
			}
			cliCheckRequests(t, f, tc.reqs)
		})
	}
}

func TestCLIAdminAddress(t *testing.T) {
	f := newCLIFakeAdmin(t, "shop")

	t.Run("from the config", func(t *testing.T) {
		config := filepath.Join(t.TempDir(), "caddy.json")
		cliWriteFile(t, config, fmt.Sprintf(`{"admin":{"listen":%q}}`, f.addr))
		if _, errOut, err := cliRunOnce(t, "", "versions", "list", "-w", "shop", "--config", config); err != nil {
			t.Fatalf("%v: %s", err, errOut)
		}
		cliCheckRequests(t, f, []cliRequest{{"GET", "/gradual/workers/shop/versions", ""}})
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
			_, _, err := cliRunOnce(t, "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
		})
	}
}

// cliTailFixture is a tail as the admin API streams it: two events, a
// heartbeat and a report of dropped events.
var cliTailFixture = []string{
	`{"scriptName":"shop","scriptVersion":{"id":"v2","tag":"canary","message":"new"},"outcome":"exception","eventTimestamp":1777629600123,` +
		`"event":{"request":{"method":"POST","url":"http://shop.example/cart?id=1","headers":{"cookie":"REDACTED"}},"response":{"status":500}},` +
		`"logs":[{"level":"log","message":["cart",3,{"a":1}],"timestamp":1777629600120},{"level":"error","message":["two\nlines \u001b[31mred"],"timestamp":1777629600121}],` +
		`"exceptions":[{"name":"TypeError","message":"x is undefined","stack":"TypeError: x is undefined\n\tat fetch (worker.js:3:5)\n\tat main","timestamp":1777629600122}],` +
		`"selection":"random","cpuTime":2,"wallTime":5}`,
	``,
	`{"type":"dropped","dropped":12,"eventTimestamp":1777629601000}`,
	`{"scriptName":"shop","scriptVersion":{"id":"v1"},"outcome":"ok","eventTimestamp":1777629602000,` +
		`"event":{"request":{"method":"GET","url":"http://shop.example/","headers":{}},"response":{"status":200}},"logs":[],"exceptions":[],"selection":"key","cpuTime":0,"wallTime":1}`,
}

const cliTailText = `2026-05-01 10:00:00.123Z  v2 (canary)  random  POST http://shop.example/cart?id=1  500  exception
  [log] cart 3 {"a":1}
  [error] two
          lines  [31mred
  [exception] TypeError: x is undefined
    at fetch (worker.js:3:5)
    at main
2026-05-01 10:00:01.000Z  (12 events dropped: this tail read too slowly)
2026-05-01 10:00:02.000Z  v1  key  GET http://shop.example/  200  ok
`

func TestCLITail(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		path string
		out  string
	}{
		{"text", []string{"tail"}, "/gradual/workers/shop/tail", cliTailText},
		{"json", []string{"tail", "--json", "--version-id", "v2"}, "/gradual/workers/shop/tail?version_id=v2",
			cliTailFixture[0] + "\n" + cliTailFixture[2] + "\n" + cliTailFixture[3] + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCLIFakeAdmin(t, "shop")
			f.tail = cliTailFixture
			ctx, cancel := context.WithCancel(t.Context())
			var out, errOut cliSyncBuffer
			done := make(chan error, 1)
			go func() { done <- cliExec(ctx, "", &out, &errOut, append(tc.args, "--address", f.addr)...) }()
			// The tail follows until it is interrupted, which the context
			// stands in for here.
			deadline := time.Now().Add(5 * time.Second)
			for out.String() != tc.out && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("tail: %v", err)
			}
			if got := out.String(); got != tc.out {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.out)
			}
			if !strings.Contains(errOut.String(), "Tailing worker shop") {
				t.Errorf("stderr %q", errOut.String())
			}
			cliCheckRequests(t, f, []cliRequest{{"GET", "/gradual/workers", ""}, {"GET", tc.path, ""}})
		})
	}

	t.Run("ended by the server", func(t *testing.T) {
		f := newCLIFakeAdmin(t, "shop")
		f.tail, f.tailEnds = cliTailFixture[2:3], true
		out, _, err := cliRunOnce(t, "", "tail", "-w", "shop", "--address", f.addr)
		if err == nil || !strings.Contains(err.Error(), "the admin API ended the tail") {
			t.Errorf("error %v", err)
		}
		if !strings.Contains(out, "12 events dropped") {
			t.Errorf("output %q", out)
		}
	})
}

func TestCLIFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{cliMs(0.0421), "0.04ms"},
		{cliMs(9.999), "10.00ms"},
		{cliMs(12.34), "12.3ms"},
		{cliMs(250), "250ms"},
		{cliMs(1500), "1.50s"},
		{cliPercent(12.5), "12.5%"},
		{cliPercent(33.33), "33.33%"},
		{cliTime(time.Date(2026, 5, 1, 12, 30, 0, 5e8, time.FixedZone("", 2*3600))), "2026-05-01 10:30:00Z"},
		{cliTime(time.Time{}), ""},
		{(&deploymentRecord{ID: "d1", Source: "api", CreatedOn: time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)}).cliDescribe(), "d1 (api, 2026-05-01 08:00:00Z)"},
		{(&deploymentRecord{Source: "config"}).cliDescribe(), "config"},
		{(&deploymentRecord{ID: "d1"}).cliDescribe(), "d1"},
		{cliClean("a\tb\nc\x1b[0m"), "a b c [0m"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// cliWriteFile writes a file the test needs.
func cliWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
