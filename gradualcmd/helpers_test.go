package gradualcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// The fixtures are written out as the admin API's contract shows them, so
// the tests also check that the CLI decodes the real shapes.
const (
	fixtureVersions = `[
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
	fixtureStats = `{
		"v1":{"requests":1200,"errors":3,"window_seconds":60,"window_requests":600,"window_errors":1,"error_rate":0.0016666,"p50_ms":1.2,"p99_ms":9.5},
		"v2":{"requests":130,"errors":0,"window_seconds":60,"window_requests":65,"window_errors":0,"error_rate":0,"p50_ms":12.34,"p99_ms":250},
		"v3":{"requests":0,"errors":0,"window_seconds":60,"window_requests":0,"window_errors":0,"error_rate":0,"p50_ms":0,"p99_ms":0}}`
)

// fixtureWorker is the fixture worker named name.
func fixtureWorker(name string) string {
	return fmt.Sprintf(`{"name":%q,"versions":%s,"deployment":%s,"stats":%s,"nodes":%s}`, name, fixtureVersions, cliFixtureD2, fixtureStats, fixtureNodes)
}

// fixtureNodes is a fleet of three: one on the active deployment, one
// that failed to apply it, one gone.
const fixtureNodes = `[
	{"id":"edge-1","deployment":"d2","since":"2026-05-01T11:00:01Z","last_error":"","last_seen":"2026-05-01T11:05:00Z","gone":false},
	{"id":"edge-2","deployment":"d1","since":"2026-05-01T10:00:00Z","last_error":"version v2 does not load","last_seen":"2026-05-01T11:05:01Z","gone":false},
	{"id":"edge-3","deployment":"","since":"0001-01-01T00:00:00Z","last_error":"","last_seen":"2026-05-01T09:00:00Z","gone":true}]`

// request is a request the fake admin API received.
type request struct {
	Method, Path, Body string
}

// fakeAdmin implements the admin API's contract with fixed data and
// records every request.
type fakeAdmin struct {
	workers []string
	// tail is what GET .../tail streams; unless tailEnds, the stream then
	// stays open until the client goes away, as the real one does.
	tail     []string
	tailEnds bool
	// rollouts are what successive GETs of .../rollout answer, the last
	// one ever after; with none, the worker has had no rollout (404).
	// conflict, if set, is the message of the 409 that every rollout
	// command is refused with.
	rollouts []string
	conflict string

	mu     sync.Mutex
	reqs   []request
	polled int
	addr   string
}

// newFakeAdmin starts a fake admin API that runs the given workers.
func newFakeAdmin(t *testing.T, workers ...string) *fakeAdmin {
	f := &fakeAdmin{workers: workers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.addr = strings.TrimPrefix(srv.URL, "http://")
	return f
}

// requests returns the requests received so far.
func (f *fakeAdmin) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// ServeHTTP answers as the admin API's contract says, for the fixtures.
func (f *fakeAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, request{r.Method, r.URL.RequestURI(), string(body)})
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
			list[i] = fixtureWorker(name)
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
		ok(http.StatusOK, fixtureWorker(name))
	case "GET versions":
		ok(http.StatusOK, fixtureVersions)
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
	case "GET rollout":
		if len(f.rollouts) == 0 {
			fail(http.StatusNotFound, fmt.Sprintf("worker %s has had no rollout", name))
			return
		}
		f.mu.Lock()
		i := min(f.polled, len(f.rollouts)-1)
		f.polled++
		f.mu.Unlock()
		ok(http.StatusOK, f.rollouts[i])
	case "POST rollout", "POST rollout/pause", "POST rollout/resume", "POST rollout/promote", "POST rollout/abort":
		if f.conflict != "" {
			fail(http.StatusConflict, f.conflict)
			return
		}
		status := http.StatusOK
		if route == "POST rollout" {
			status = http.StatusCreated
		}
		ok(status, rolloutAfter[route])
	default:
		fail(http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	}
}

// syncBuffer is a bytes.Buffer that a running command may write while
// the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// execute runs `caddy gradual args...` in process, as Caddy's root command
// would, and returns its standard output and error and its error.
func execute(ctx context.Context, stdin string, stdout, stderr io.Writer, args ...string) error {
	root := &cobra.Command{Use: "caddy", SilenceUsage: true}
	gradual := &cobra.Command{Use: "gradual"}
	setup(gradual)
	root.AddCommand(gradual)
	root.SetArgs(append([]string{"gradual"}, args...))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// runOnce runs a command that ends by itself and returns its output.
func runOnce(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = execute(t.Context(), stdin, &out, &errOut, args...)
	return out.String(), errOut.String(), err
}

// runFailing runs a command against f that must fail with an error that
// contains want, and checks that it sent exactly reqs.
func runFailing(t *testing.T, f *fakeAdmin, args []string, want string, reqs []request) {
	t.Helper()
	out, errOut, err := runOnce(t, "", append(args, "--address", f.addr)...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one with %q", err, want)
	}
	// This is what the user sees before caddy exits with status 1.
	if !strings.HasPrefix(errOut, "Error: ") || !strings.Contains(errOut, want) {
		t.Errorf("stderr %q does not show the error", errOut)
	}
	if out != "" {
		t.Errorf("stdout %q after an error", out)
	}
	checkRequests(t, f, reqs)
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t *testing.T, a, b string) bool {
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

// checkRequests compares the requests f received with want, bodies as
// JSON.
func checkRequests(t *testing.T, f *fakeAdmin, want []request) {
	t.Helper()
	got := f.requests()
	if len(got) != len(want) {
		t.Fatalf("requests:\n%v\nwant:\n%v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		sameBody := g.Body == w.Body || g.Body != "" && w.Body != "" && sameJSON(t, g.Body, w.Body)
		if g.Method != w.Method || g.Path != w.Path || !sameBody {
			t.Errorf("request %d: %s %s %s\nwant %s %s %s", i, g.Method, g.Path, g.Body, w.Method, w.Path, w.Body)
		}
	}
}

// writeFile writes a file the test needs.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
