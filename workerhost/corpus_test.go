package workerhost

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is the origin the corpus scripts fetch from.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	logs []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	mux := http.NewServeMux()
	mux.HandleFunc("/item/{name}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"name": r.PathValue("name")})
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "yes")
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "ua": r.Header.Values("User-Agent"), "body": string(b), "query": r.URL.RawQuery, "accept": r.Header.Get("Accept")})
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	mux.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.logs = append(u.logs, string(b))
		u.mu.Unlock()
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "streamed from upstream, ünïcode")
	})
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) logged() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.logs...)
}

type corpusCase struct {
	name    string
	method  string
	path    string
	body    string
	headers []string
	status  int
	want    map[string]string // response headers
	body0   string            // exact body, if set
	contain []string          // body substrings
	outcome string
	err     error
}

func TestCorpus(t *testing.T) {
	up := newUpstream(t)
	multipart := "--XB\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n" +
		"--XB\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n--XB--\r\n"
	scripts := map[string][]corpusCase{
		"json.js": {{name: "query", path: "/p?q=1", status: 200, want: map[string]string{"Content-Type": "application/json", "Content-Length": "36"}, body0: `{"path":"/p","q":"1","method":"GET"}` + ""}},
		"html.js": {{name: "escaped", path: "/?name=<Ann>", status: 200, want: map[string]string{"Content-Type": "text/html;charset=UTF-8"}, contain: []string{"<h1>Hello, Ann!</h1>"}}},
		"redirect.js": {
			{name: "old", path: "/old/page?x=1", status: 301, want: map[string]string{"Location": "http://example.com/new/page?x=1"}, body0: ""},
			{name: "other", path: "/else", status: 302, want: map[string]string{"Location": "https://example.com/"}},
		},
		"headers.js": {{name: "rewrite", path: "/", headers: []string{"X-Forwarded-For", "1.2.3.4"}, status: 200,
			want: map[string]string{"X-Powered-By": "", "X-Seen": "1.2.3.4", "X-Content-Type-Options": "nosniff", "Strict-Transport-Security": "max-age=63072000", "Content-Length": "17", "X-Multi": "a, b"}, body0: "headers rewritten"}},
		"post-json.js": {
			{name: "sum", method: "POST", path: "/", body: `{"numbers":[1,2,3.5]}`, status: 200, body0: `{"sum":6.5,"count":3,"bodyUsed":true}`},
			{name: "bad json", method: "POST", path: "/", body: `{`, status: 400, contain: []string{"SyntaxError"}},
			{name: "get", method: "GET", path: "/", status: 405, want: map[string]string{"Allow": "POST"}, body0: "method not allowed"},
		},
		"post-form.js": {
			{name: "urlencoded", method: "POST", path: "/", body: "a=1&b=two+words&a=3", headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 200, body0: `{"a":"3","b":"two words"}`},
			{name: "multipart", method: "POST", path: "/", body: multipart, headers: []string{"Content-Type", "multipart/form-data; boundary=XB"}, status: 200,
				body0: `{"title":"hello","doc":{"file":"a.txt","type":"text/plain","size":9,"text":"file body"}}`},
			{name: "unsupported", method: "POST", path: "/", body: "x", headers: []string{"Content-Type", "text/plain"}, status: 500, outcome: OutcomeException, body0: "worker threw an exception\n"},
		},
		"post-text.js": {{name: "upper", method: "PUT", path: "/", body: "héllo", status: 200, want: map[string]string{"X-Length": "5"}, body0: "HÉLLO"}},
		"basic-auth.js": {
			{name: "none", path: "/", status: 401, want: map[string]string{"Www-Authenticate": `Basic realm="shop", charset="UTF-8"`}},
			{name: "wrong", path: "/", headers: []string{"Authorization", "Basic YWRtaW46bm9wZQ=="}, status: 401},
			{name: "right", path: "/", headers: []string{"Authorization", "Basic YWRtaW46czNjcmV0"}, status: 200, body0: "welcome admin"},
		},
		"cors-proxy.js": {
			{name: "preflight", method: "OPTIONS", path: "/proxy/echo", headers: []string{"Access-Control-Request-Headers", "x-a"}, status: 204,
				want: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Headers": "x-a"}},
			{name: "proxied", method: "POST", path: "/proxy/echo?k=v", body: "payload", headers: []string{"Accept", "application/json"}, status: 200,
				want:  map[string]string{"Access-Control-Allow-Origin": "*", "X-Upstream": "yes", "Vary": "Origin", "Content-Type": "application/json"},
				body0: `{"accept":"application/json","body":"payload","method":"POST","query":"k=v","ua":null}` + "\n"},
		},
		"aggregate.js": {{name: "all", path: "/", status: 200, body0: `{"items":[{"name":"a"},{"name":"b"},{"name":"c"}],"count":3}`}},
		"cookies.js":   {{name: "visits", path: "/", headers: []string{"Cookie", "user=ann; visits=4"}, status: 200, body0: "hello ann, visit 5, cookies 2"}},
		"ab-test.js": {
			{name: "kept", path: "/", headers: []string{"Cookie", "ab-group=test"}, status: 200, want: map[string]string{"X-Ab-Group": "test", "Set-Cookie": ""}, body0: "group test"},
			{name: "fresh", path: "/", status: 200, contain: []string{"group "}},
		},
		"stream.js":        {{name: "chunks", path: "/", status: 200, want: map[string]string{"Content-Length": "", "Content-Type": "text/plain"}, body0: "chunk 1\nchunk 2\nchunk 3\nchunk 4\nchunk 5\n"}},
		"stream-source.js": {{name: "pull", path: "/", status: 200, body0: "LINE 1\nLINE 2\nLINE 3\nEND\n"}},
		"stream-proxy.js":  {{name: "upper", path: "/", status: 200, want: map[string]string{"X-Upstream-Type": "text/plain; charset=utf-8"}, body0: "STREAMED FROM UPSTREAM, ÜNÏCODE"}},
		"passthrough.js": {
			{name: "ok", path: "/", status: 200, body0: "handled by the worker"},
			{name: "throws", path: "/?fail", status: 200, body0: "", outcome: OutcomeException, err: ErrPassThrough},
		},
		"service-worker.js": {{name: "sw", path: "/sw", status: 200, want: map[string]string{"X-Syntax": "service-worker"}, body0: "service worker GET /sw undefined"}},
		"ts/index.ts":       {{name: "ts", path: "/?name=Go", status: 200, body0: `{"message":"Hello, Go!","length":10,"app":"ts-demo"}`}},
		"npm/index.js":      {{name: "module field", path: "/?t=Hello%20Gradual%20World", status: 200, body0: "esm:hello-gradual-world"}},
		"exception.js": {
			{name: "throws", method: "POST", path: "/", body: "{}", status: 500, want: map[string]string{"Content-Type": "text/plain; charset=utf-8"}, body0: "worker threw an exception\n", outcome: OutcomeException},
			{name: "fine", method: "POST", path: "/", body: `{"id":7}`, status: 200, body0: `{"id":7}`},
		},
		"infinite-loop.js": {
			{name: "loops", path: "/", status: 503, outcome: OutcomeExceededCPU, contain: []string{"CPU time limit"}},
			{name: "reused", path: "/?ok", status: 200, body0: "fine"},
		},
		"buffer.js":      {{name: "b64", method: "POST", path: "/", body: "hi there", status: 200, body0: `{"b64":"aGkgdGhlcmU=","back":"hi there","hex":"6869","isBuffer":true}`}},
		"digest.js":      {{name: "abc", method: "POST", path: "/", body: "abc", status: 200, contain: []string{`"SHA-1":"a9993e364706816aba3e25717850c26c9cd0d89d"`, `"SHA-256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`, `"uuid":true`, `"SHA-512":"ddaf35a1`}}},
		"web-apis.js":    {{name: "apis", path: "/", status: 200, body0: `{"href":"https://example.com/a/b?y=2&z=3+4","params":"q=caf%C3%A9&n=1","bytes":10,"streamed":"héllo €","clone":true,"b64":"aGVsbG8=","unb64":"hello"}`}},
		"no-response.js": {{name: "undefined", path: "/", status: 500, outcome: OutcomeNoResponse, body0: "worker did not return a Response\n"}},
		"env.js":         {{name: "vars", path: "/", status: 200, body0: `{"greeting":"Hello","id":"v-123","tag":"canary","timestamp":"2025-01-02T03:04:05Z","cf":"object"}`}},
		"sandbox.js": {{name: "refused", path: "/", status: 200,
			body0: `{"eval":"EvalError","indirectEval":"EvalError","newFunction":"EvalError","ctor":"EvalError","asyncCtor":"EvalError","require":"undefined","process":"undefined","instanceofFunction":true}`}},
		"abort.js":  {{name: "aborted", path: "/", status: 504, body0: "aborted: AbortError"}},
		"clone.js":  {{name: "twice", method: "POST", path: "/", body: "body!", status: 200, body0: `{"same":true,"len":5,"res":"abc","res2":"abc","used":true}`}},
		"timers.js": {{name: "order", path: "/", status: 200, body0: `["t0","tick","tick","tick","t25","micro"]`}},
	}
	for file, cases := range scripts {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			w, err := New(Config{
				Worker: "corpus", VersionID: "v-123", Tag: "canary", Entry: filepath.Join("testdata", file),
				Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
				Vars:      map[string]string{"GREETING": "Hello", "UPSTREAM": up.URL, "USER": "admin", "PASS": "s3cret", "SECRET": "k3y"},
				PoolSize:  1, CPULimit: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for _, c := range cases {
				method := c.method
				if method == "" {
					method = "GET"
				}
				resp, body, res, err := do(t, w, method, "http://example.com"+c.path, c.body, c.headers...)
				if err != c.err {
					t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
				}
				if resp.StatusCode != c.status {
					t.Errorf("%s: status = %d, want %d (body %q, result %+v)", c.name, resp.StatusCode, c.status, body, res)
				}
				for k, v := range c.want {
					if got := strings.Join(resp.Header.Values(k), ", "); got != v {
						t.Errorf("%s: header %s = %q, want %q", c.name, k, got, v)
					}
				}
				if c.body0 != "" || (c.contain == nil && c.status != 301 && c.status != 302 && c.status != 204 && c.status != 401 && c.status != 503) {
					if body != c.body0 {
						t.Errorf("%s: body = %q, want %q", c.name, body, c.body0)
					}
				}
				for _, s := range c.contain {
					if !strings.Contains(body, s) {
						t.Errorf("%s: body %q lacks %q", c.name, body, s)
					}
				}
				want := c.outcome
				if want == "" {
					want = OutcomeOK
				}
				if res.Outcome != want {
					t.Errorf("%s: outcome = %q, want %q (%+v)", c.name, res.Outcome, want, res.Exceptions)
				}
			}
		})
	}
}

func TestCorpusWaitUntil(t *testing.T) {
	up := newUpstream(t)
	w, err := New(Config{Entry: "testdata/wait-until.js", Vars: map[string]string{"UPSTREAM": up.URL}, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, body, res, err := do(t, w, "GET", "http://example.com/page", "")
	if err != nil || body != "logged later" || res.Outcome != OutcomeOK {
		t.Fatalf("body %q, result %+v, err %v", body, res, err)
	}
	if got := up.logged(); len(got) != 0 {
		t.Fatalf("logged before the response: %q", got)
	}
	// Close waits for the ctx.waitUntil work.
	w.Close()
	got := up.logged()
	if len(got) != 1 || !strings.Contains(got[0], `"path":"/page"`) {
		t.Fatalf("logged %q", got)
	}
}

func TestCorpusHMAC(t *testing.T) {
	w, err := New(Config{Entry: "testdata/hmac.js", Vars: map[string]string{"SECRET": "k3y"}, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	future := time.Now().Add(time.Hour).Unix()
	resp, signed, _, _ := do(t, w, "GET", fmt.Sprintf("http://example.com/sign?path=/file&expires=%d", future), "")
	if resp.StatusCode != 200 || !strings.HasPrefix(signed, fmt.Sprintf("/file?expires=%d&sig=", future)) {
		t.Fatalf("sign: %d %q", resp.StatusCode, signed)
	}
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{signed, 200, "valid signature"},
		{strings.Replace(signed, "/file", "/other", 1), 403, "invalid signature"},
		{fmt.Sprintf("/file?expires=%d&sig=AAAA", future), 403, "invalid signature"},
		{"/file?expires=1&sig=AAAA", 403, "link expired"},
	}
	for _, c := range cases {
		resp, body, res, _ := do(t, w, "GET", "http://example.com"+c.path, "")
		if resp.StatusCode != c.status || body != c.body {
			t.Errorf("%s: %d %q (%+v)", c.path, resp.StatusCode, body, res.Exceptions)
		}
	}
}
