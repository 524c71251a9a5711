package integration

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-gradual/gradual/workerhost/workertest"
)

// The worker corpus is the table in workerhost/testdata/corpus.json, shared
// with the worker host's own tests; its "about" describes the fields.
const corpusFile = "../workerhost/testdata/corpus.json"

// nextHandlerBody is what the route answers after gradual, for scripts that
// pass an exception through (the corpus expects exactly this).
const nextHandlerBody = "passed through to the next handler"

// workerScript is a corpus script as the Caddy tests serve it.
type workerScript struct {
	*workertest.Script
	path string // absolute
	name string // the gradual worker name
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

func loadWorkerCorpus(t testing.TB) []*workerScript {
	t.Helper()
	scripts, err := workertest.Load(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*workerScript, len(scripts))
	for i, s := range scripts {
		path, err := filepath.Abs(filepath.Join(filepath.Dir(corpusFile), s.File))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = &workerScript{Script: s, path: path,
			name: "corpus-" + strings.Trim(nonName.ReplaceAllString(strings.ToLower(s.File), "-"), "-")}
	}
	return out
}

// check returns what is wrong with a response to c.
func check(c *workertest.Case, r *workerResponse) []string {
	return c.Check(r.status, r.header, r.body)
}

// workerClient sends exactly the corpus's requests: no User-Agent or
// Accept-Encoding of its own, no redirects followed, bodies as sent.
var workerClient = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type workerResponse struct {
	status int
	header http.Header
	body   string
}

func (r *workerResponse) String() string {
	return fmt.Sprintf("%d %v %q", r.status, r.header, r.body)
}

// send sends c's request to the server at addr, with extra headers given as
// name, value pairs.
func send(c *workertest.Case, addr string, extra ...string) (*workerResponse, error) {
	var body io.Reader
	if c.Request.Body != "" {
		body = strings.NewReader(c.Request.Body)
	}
	req, err := http.NewRequest(cmp.Or(c.Request.Method, http.MethodGet), "http://"+addr+c.Request.Path, body)
	if err != nil {
		return nil, err
	}
	req.Host = cmp.Or(c.Request.Host, "example.com")
	req.Header.Set("User-Agent", "")
	for k, v := range c.Request.Headers {
		req.Header.Set(k, v)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := workerClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &workerResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

// startWorkerOrigin starts the origin corpus scripts fetch from. Its other
// paths answer as the handler after gradual in the tests' Caddy routes
// does: workerd passes exceptions through to it.
func startWorkerOrigin(t testing.TB) *workertest.Origin {
	t.Helper()
	o := workertest.NewOrigin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, nextHandlerBody)
	}))
	t.Cleanup(o.Close)
	return o
}

// freeAddrs returns n distinct loopback addresses whose ports were free a
// moment ago. (Calling freeAddr n times can return a port twice.)
func freeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = freeAddr()
	}
	return addrs
}

// caddyQuote quotes s as one Caddyfile token.
func caddyQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// scriptVersion is a `version` block running a script.
func scriptVersion(id, tag, path string, vars map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\t\t\tversion %s {\n\t\t\t\tscript %s\n\t\t\t\ttag %s\n", id, caddyQuote(path), tag)
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(&b, "\t\t\t\tvar %s %s\n", k, caddyQuote(vars[k]))
	}
	b.WriteString("\t\t\t}\n")
	return b.String()
}

// workerCPULimit is the cpu_limit of the tests' workers: the default, as
// the limit counts CPU time, which a busy machine does not stretch.
const workerCPULimit = "1s"

// workerSite is a site on addr, any host, whose route runs the gradual
// worker and then, for exceptions passed through, answers nextHandlerBody.
func workerSite(addr, worker, versions string) string {
	return fmt.Sprintf(`http://:%s {
	bind 127.0.0.1
	route {
		gradual %s {
%s			cpu_limit %s
			fetch_allow 127.0.0.1
		}
		respond %s 200
	}
}
`, addr[strings.LastIndexByte(addr, ':')+1:], worker, versions, workerCPULimit, caddyQuote(nextHandlerBody))
}

// loadCorpusSites loads one site per corpus script, each on its own port,
// running the script as version v-123 tagged canary, and returns the
// sites' addresses by script.
func loadCorpusSites(t *testing.T, scripts []*workerScript, upstreamURL string) map[string]string {
	t.Helper()
	addrs := map[string]string{}
	free := freeAddrs(t, len(scripts))
	var cf strings.Builder
	for i, s := range scripts {
		addrs[s.File] = free[i]
		cf.WriteString(workerSite(addrs[s.File], s.name, scriptVersion("v-123", "canary", s.path, s.VarsWith(upstreamURL))))
	}
	loadCaddyfile(t, cf.String())
	return addrs
}

// TestWorkerCorpus runs every corpus case through Caddy: the script as a
// gradual version, real HTTP on loopback.
func TestWorkerCorpus(t *testing.T) {
	origin := startWorkerOrigin(t)
	scripts := loadWorkerCorpus(t)
	addrs := loadCorpusSites(t, scripts, origin.URL)
	for _, s := range scripts {
		// One script at a time: timers.js orders timers 10ms apart, which
		// parallel subtests on two cores can upset.
		t.Run(s.File, func(t *testing.T) {
			for _, c := range s.Cases {
				logged := len(origin.Logged())
				resp, err := send(&c, addrs[s.File])
				if err != nil {
					t.Errorf("%s: %v", c.Name, err)
					continue
				}
				for _, p := range check(&c, resp) {
					t.Errorf("%s: %s", c.Name, p)
				}
				if c.UpstreamLog != "" {
					if err := origin.WaitLogged(logged, c.UpstreamLog); err != nil {
						t.Errorf("%s: %v", c.Name, err)
					}
				}
			}
		})
	}
}

// loadCaddyfileLogging is loadCaddyfile with one more logger in the global
// options, writing the gradual handler's logs as JSON to a new file, whose
// path it returns. (A worker logs through the config that created it, so
// the logger must be in the config that first loads the version.)
func loadCaddyfileLogging(t *testing.T, caddyfile string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gradual.log")
	full := fmt.Sprintf(`{
	admin %s
	auto_https off
	grace_period 5s
	storage file_system %s
	log {
		level ERROR
	}
	log workers {
		output file %s
		format json
		level WARN
		include http.handlers.gradual
	}
}
%s`, adminAddr, storageFor(t), caddyQuote(path), caddyfile)
	resp, err := http.Post("http://"+adminAddr+"/load", "text/caddyfile", strings.NewReader(full))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("loading config: %s: %s", resp.Status, b)
	}
	return path
}

// waitLogEntry polls the JSON log at path for an entry for which match is
// true.
func waitLogEntry(t *testing.T, path, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries := readLog(t, path)
		if i := slices.IndexFunc(entries, match); i >= 0 {
			return entries[i]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log entry %s in %v", what, entries)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkerFailures checks what Caddy does when a script fails: an
// exception gives 500 and a log entry naming worker, version and the
// original source line; an exception after ctx.passThroughOnException()
// falls through to the next handler; an endless loop gives 503 and leaves
// the version serving.
func TestWorkerFailures(t *testing.T) {
	testdata, err := filepath.Abs("../workerhost/testdata")
	if err != nil {
		t.Fatal(err)
	}
	free := freeAddrs(t, 4)
	exc, ts, pass, loop := free[0], free[1], free[2], free[3]
	// New version IDs each run: a version still running from an earlier
	// config would keep logging through that config's loggers.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	vExc, vTS, vLoop := "v-exc-"+run, "v-ts-"+run, "v-loop-"+run
	logFile := loadCaddyfileLogging(t, workerSite(exc, "throws", scriptVersion(vExc, "tag-exc", testdata+"/exception.js", nil))+
		workerSite(ts, "throws-ts", scriptVersion(vTS, "tag-ts", testdata+"/ts/index.ts", map[string]string{"GREETING": "Hi"}))+
		workerSite(pass, "passes", scriptVersion("v-pass", "tag-pass", testdata+"/passthrough.js", nil))+
		workerSite(loop, "loops", scriptVersion(vLoop, "tag-loop", testdata+"/infinite-loop.js", nil)))

	send := func(addr, method, path, body string) *workerResponse {
		t.Helper()
		c := workertest.Case{}
		c.Request.Method, c.Request.Path, c.Request.Body = method, path, body
		r, err := send(&c, addr)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("exception", func(t *testing.T) {
		for _, c := range []struct {
			addr, method, path, body string
			worker, version, tag     string
			name, message, at        string
		}{
			{exc, "POST", "/", "{}", "throws", vExc, "tag-exc", "TypeError", "order has no id", "exception.js:5:"},
			{ts, "GET", "/?n=-2", "", "throws-ts", vTS, "tag-ts", "RangeError", "not positive: -2", "lib/greet.ts:13:"},
		} {
			r := send(c.addr, c.method, c.path, c.body)
			if r.status != 500 || r.body != "worker threw an exception\n" {
				t.Errorf("%s: %s, want 500 worker threw an exception", c.worker, r)
			}
			e := waitLogEntry(t, logFile, "for the exception of "+c.worker, func(e map[string]any) bool {
				return e["msg"] == "uncaught exception" && e["worker"] == c.worker
			})
			stack, _ := e["stack"].(string)
			if e["level"] != "error" || e["version_id"] != c.version || e["version_tag"] != c.tag ||
				e["name"] != c.name || e["message"] != c.message || !strings.Contains(stack, c.at) {
				t.Errorf("%s: log entry %v, want level error, version_id %s, version_tag %s, %s: %s and a stack naming %s",
					c.worker, e, c.version, c.tag, c.name, c.message, c.at)
			}
		}
	})

	t.Run("passThroughOnException", func(t *testing.T) {
		if r := send(pass, "GET", "/", ""); r.status != 200 || r.body != "handled by the worker" {
			t.Errorf("without an exception: %s", r)
		}
		if r := send(pass, "GET", "/?fail", ""); r.status != 200 || r.body != nextHandlerBody {
			t.Errorf("with an exception: %s, want the next handler's %q", r, nextHandlerBody)
		}
	})

	t.Run("cpu limit", func(t *testing.T) {
		if r := send(loop, "GET", "/", ""); r.status != 503 || r.body != "worker exceeded its CPU time limit\n" {
			t.Fatalf("endless loop: %s, want 503", r)
		}
		// More requests than the version has runtimes (a FIFO pool of
		// max(4, 2×GOMAXPROCS)), so the interrupted one serves again too.
		for range 2*max(4, 2*runtime.GOMAXPROCS(0)) + 1 {
			if r := send(loop, "GET", "/?ok", ""); r.status != 200 || r.body != "fine" {
				t.Fatalf("after an interrupted loop: %s, want 200 fine", r)
			}
		}
		e := waitLogEntry(t, logFile, "for the CPU limit", func(e map[string]any) bool { return e["worker"] == "loops" })
		if e["level"] != "warn" || e["msg"] != "worker exceeded its CPU time limit" || e["version_id"] != vLoop || e["version_tag"] != "tag-loop" {
			t.Errorf("log entry %v, want a warning with the version", e)
		}
	})
}

// TestWorkerVersionMetadata checks env.CF_VERSION_METADATA: the version's
// id and tag, and the RFC 3339 time its config was loaded.
func TestWorkerVersionMetadata(t *testing.T) {
	path, err := filepath.Abs("../workerhost/testdata/env.js")
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr()
	// A new version ID: a version keeps the time it was first loaded
	// across reloads, so one left by an earlier run would be older.
	id := "v-meta-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	before := time.Now().Truncate(time.Second)
	loadCaddyfile(t, workerSite(addr, "meta", scriptVersion(id, "release-7", path, map[string]string{"GREETING": "hey"})))
	after := time.Now()

	r, err := send(&workertest.Case{}, addr)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Greeting, ID, Tag, Timestamp, CF string
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 {
		t.Fatalf("%s (%v)", r, err)
	}
	if got.Greeting != "hey" || got.ID != id || got.Tag != "release-7" || got.CF != "object" {
		t.Errorf("env: %+v, want greeting hey, id %s, tag release-7 and request.cf an object", got, id)
	}
	ts, err := time.Parse(time.RFC3339, got.Timestamp)
	if err != nil {
		t.Fatalf("timestamp %q is not RFC 3339: %v", got.Timestamp, err)
	}
	if ts.Before(before) || ts.After(after) {
		t.Errorf("timestamp %s, want the load time, between %s and %s", ts, before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
	}
}

// TestWorkerLogsFollowReload reloads a config whose script version does
// not change (its runtime pool is kept) but whose log output does: the
// worker's exceptions must go to the new config's log.
func TestWorkerLogsFollowReload(t *testing.T) {
	script := filepath.Join(t.TempDir(), "throws.js")
	os.WriteFile(script, []byte("export default { fetch() { throw new Error(\"logged where?\") } };\n"), 0o644)
	addr := freeAddr()
	cfg := fmt.Sprintf("http://%s {\n\tgradual reloaded {\n\t\tversion r1 {\n\t\t\tscript %s\n\t\t}\n\t}\n}\n", addr, caddyQuote(script))
	for round := range 2 {
		logFile := loadCaddyfileLogging(t, cfg)
		resp, _ := get(t, "http://"+addr+"/", nil)
		if resp.StatusCode != http.StatusInternalServerError {
			t.Fatalf("round %d: status %d", round, resp.StatusCode)
		}
		waitFor(t, 5*time.Second, func() bool {
			raw, _ := os.ReadFile(logFile)
			return strings.Contains(string(raw), "logged where?")
		}, func() string {
			return fmt.Sprintf("round %d: the exception is not in this config's log %s", round, logFile)
		})
	}
}
