package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-gradual/gradual/caddymodule"
)

// The tests in this package share one in-process Caddy (Caddy's config is
// process-wide), started once in TestMain with only an admin endpoint on a
// free loopback port. Each test loads its own Caddyfile through the admin
// API, exactly as an operator would, and talks to it over real HTTP.
var (
	adminAddr string
	otlp      *otlpReceiver
)

func TestMain(m *testing.M) {
	// Caddy's tracing module builds its exporter from the standard OTEL
	// variables, once per process: point it at the test's receiver, over
	// OTLP/HTTP, exporting without the default 5s delay.
	var err error
	if otlp, err = startOTLPReceiver(); err != nil {
		fmt.Fprintln(os.Stderr, "starting the OTLP receiver:", err)
		os.Exit(1)
	}
	for k, v := range map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url,
		"OTEL_BSP_SCHEDULE_DELAY":     "50",
	} {
		os.Setenv(k, v)
	}

	if storageRoot, err = os.MkdirTemp("", "gradual-integration"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	adminAddr = freeAddr()
	cfg := fmt.Sprintf(`{"admin":{"listen":%q},"logging":{"logs":{"default":{"level":"ERROR"}}}}`, adminAddr)
	if err := caddy.Load([]byte(cfg), true); err != nil {
		fmt.Fprintln(os.Stderr, "starting caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	if err := caddy.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping caddy:", err)
	}
	os.RemoveAll(storageRoot)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, and that it has not returned before.
func freeAddr() string {
	freePorts.Lock()
	defer freePorts.Unlock()
	for {
		port := freePortLow + rand.IntN(freePortHigh-freePortLow)
		if freePorts.given[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		freePorts.given[port] = true
		return ln.Addr().String()
	}
}

// The ports freeAddr hands out lie below Linux's ephemeral range (32768
// and up), from which the kernel takes the port of every outgoing
// connection and of every listener on port 0: a port it took for one of
// those after a bare listen on port 0 had closed was handed out again, and
// a Caddy of the fleet tests once got its admin address as its site's.
// None is handed out twice in a run.
const freePortLow, freePortHigh = 20000, 32000

var freePorts = struct {
	sync.Mutex
	given map[int]bool
}{given: map[int]bool{}}

// loadCaddyfile replaces the running config with caddyfile, which is
// prefixed with the global options every test needs.
// Each test gets a storage folder of its own, so live deployments stored
// by one test cannot leak into another, or into the user's Caddy storage.
func loadCaddyfile(t testing.TB, caddyfile string) {
	t.Helper()
	if err := postCaddyfile(storageFor(t), caddyfile); err != nil {
		t.Fatal(err)
	}
}

var (
	storages    sync.Map // test → storage folder
	storageRoot string   // storages and the built binary; removed by TestMain, as Caddy may still write as a test ends
)

func storageFor(t testing.TB) string {
	// Keyed by the test itself, not its name, so that -count=N runs each
	// start from an empty storage.
	if dir, ok := storages.Load(t); ok {
		return dir.(string)
	}
	dir, err := os.MkdirTemp(storageRoot, "storage")
	if err != nil {
		t.Fatal(err)
	}
	storages.Store(t, dir)
	return dir
}

func postCaddyfile(storage, caddyfile string) error {
	full := fmt.Sprintf("{\n\tadmin %s\n\tauto_https off\n\tgrace_period 5s\n\tstorage file_system %s\n\tlog {\n\t\tlevel ERROR\n\t}\n}\n%s", adminAddr, storage, caddyfile)
	req, err := http.NewRequest(http.MethodPost, "http://"+adminAddr+"/load", strings.NewReader(full))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("loading config: %s: %s", resp.Status, body)
	}
	return nil
}

// upstream is a real HTTP server on loopback that answers with its name
// and counts the requests it saw.
type upstream struct {
	name string
	srv  *httptest.Server

	mu      sync.Mutex
	headers []http.Header
}

func newUpstream(t testing.TB, name string) *upstream {
	t.Helper()
	u := &upstream{name: name}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.headers = append(u.headers, r.Header.Clone())
		u.mu.Unlock()
		w.Header().Set("X-Upstream", name)
		io.WriteString(w, name)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// addr is the upstream's dial address.
func (u *upstream) addr() string { return strings.TrimPrefix(u.srv.URL, "http://") }

// seen returns the request headers the upstream received so far.
func (u *upstream) seen() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.headers...)
}

// client does not keep cookies and does not follow redirects, so each test
// controls exactly what is sent.
var client = &http.Client{
	Timeout: 10 * time.Second,
	Transport: &http.Transport{
		MaxIdleConnsPerHost: 64,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// get sends a GET to url with the given headers and returns the status and
// body.
func get(t testing.TB, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	resp, body, err := tryGet(url, header)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func tryGet(url string, header http.Header) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		return nil, "", err
	}
	return resp, buf.String(), nil
}
