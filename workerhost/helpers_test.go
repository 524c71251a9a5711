package workerhost

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// regexp2's clock goroutine, started by a regular expression with a
	// match timeout (cpu.go), ends on its own a second after the last
	// match's deadline.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2.runClock"),
		// Idle task goroutines wait for the next task (workerhost.runTask).
		goleak.IgnoreTopFunction("github.com/caddy-gradual/gradual/workerhost.taskRunner"))
}

// loopbackOK lets tests' workers fetch from their loopback test servers.
var loopbackOK = mustPolicy("127.0.0.1", "::1")

func mustPolicy(allow ...string) *FetchPolicy {
	p, err := NewFetchPolicy(allow)
	if err != nil {
		panic(err)
	}
	return p
}

// newInline starts a worker running src, with small pools to keep tests
// fast; it may fetch from loopback.
func newInline(t testing.TB, src string, opts ...func(*Config)) *Worker {
	t.Helper()
	cfg := Config{Worker: "test", VersionID: "v1", Tag: "t1", Entry: "worker.js", Source: src, PoolSize: 1, Fetch: loopbackOK}
	for _, o := range opts {
		o(&cfg)
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// firstRuntime returns the runtime a request would go to first.
func firstRuntime(w *Worker) *jsRuntime {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rts[0]
}

// do serves one request and returns the recorded response and result.
func do(t testing.TB, w *Worker, method, url, body string, hdr ...string) (*http.Response, string, Result, error) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, url, rb)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	res, err := w.Serve(rec, r)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), res, err
}

// heldUpstream is a loopback server whose requests are held until the
// test releases them: arrived receives once per request as it arrives, so
// that a test knows a worker's request is in progress (awaiting this
// fetch) without sleeping and hoping it is.
type heldUpstream struct {
	*httptest.Server
	arrived chan struct{}
	release chan struct{}
}

func newHeldUpstream(t *testing.T) *heldUpstream {
	t.Helper()
	h := &heldUpstream{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.arrived <- struct{}{}
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(h.Server.Close)
	t.Cleanup(h.Release)
	return h
}

// Release lets every held request, and every later one, be answered.
func (h *heldUpstream) Release() {
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

// waitArrived waits for a request to reach h, failing after a minute.
func (h *heldUpstream) waitArrived(t *testing.T) {
	t.Helper()
	select {
	case <-h.arrived:
	case <-time.After(time.Minute):
		t.Fatal("no request reached the upstream")
	}
}
