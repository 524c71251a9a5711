package workerhost

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// generousCPU keeps the wall-clock CPU limit from firing on a machine
// loaded by parallel fuzz workers.
func generousCPU(c *Config) { c.CPULimit = 10 * time.Second }

// FuzzHeaders passes header names and values from JavaScript to the Go
// response: invalid ones must be refused with a TypeError (as workerd
// refuses them), valid ones must arrive intact, and nothing may crash.
func FuzzHeaders(f *testing.F) {
	for _, s := range [][2]string{
		{"x-a", "b"}, {"Set-Cookie", "a=1; Path=/"}, {"bad name", "v"}, {"x", "line\r\nbreak"}, {"x", "  padded\t"},
		{"", "v"}, {"x", "\x00"}, {"content-length", "5"}, {"x", "ünï"}, {"Transfer-Encoding", "chunked"},
	} {
		f.Add(s[0], s[1])
	}
	w := newInline(f, `export default { async fetch(req) {
		const [n, v] = await req.json();
		let h;
		try { h = new Headers([[n, v]]); } catch (e) { return new Response(e.name, { status: 400 }); }
		return new Response("ok", { headers: h });
	} }`, generousCPU)
	f.Fuzz(func(t *testing.T, name, value string) {
		body, _ := json.Marshal([]string{name, value})
		resp, text, res, err := do(t, w, "POST", "http://x/", string(body))
		if err != nil {
			t.Fatal(err)
		}
		// JSON carries strings as valid UTF-8, as the script sees them.
		_ = json.Unmarshal(body, &[]*string{&name, &value})
		trimmed := strings.Trim(value, "\t\n\r ")
		switch resp.StatusCode {
		case 400:
			if text != "TypeError" {
				t.Fatalf("refused with %q", text)
			}
			if httpguts.ValidHeaderFieldName(name) && !strings.ContainsAny(trimmed, "\x00\r\n") {
				t.Fatalf("valid header %q: %q refused", name, value)
			}
		case 200:
			if !httpguts.ValidHeaderFieldName(name) {
				// workerd's Headers takes the empty name and non-ASCII
				// ones, which are not sent.
				if name != "" && !strings.ContainsFunc(name, func(r rune) bool { return r >= 0x80 }) {
					t.Fatalf("invalid name %q accepted", name)
				}
				if len(resp.Header) != 2 {
					t.Fatalf("headers %v sent for the name %q", resp.Header, name)
				}
				return
			}
			if !httpguts.ValidHeaderFieldValue(trimmed) && strings.ContainsAny(trimmed, "\r\n\x00") {
				t.Fatalf("invalid value %q accepted", value)
			}
			switch strings.ToLower(name) {
			case "content-length", "transfer-encoding", "connection", "keep-alive":
				if name := strings.ToLower(name); name == "content-length" && resp.Header.Get("Content-Length") != "2" {
					t.Fatalf("content-length %q", resp.Header.Get("Content-Length"))
				}
			default:
				if got := resp.Header.Get(name); got != trimmed {
					t.Fatalf("header %q = %q, want %q", name, got, trimmed)
				}
			}
		default:
			t.Fatalf("status %d, result %+v", resp.StatusCode, res)
		}
	})
}

// FuzzRequest feeds arbitrary incoming requests to a script that echoes
// them: the conversion to a JavaScript Request must not fail or crash.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/a", "q=1", "X-A", "b", "")
	f.Add("POST", "/%zz", "", "Content-Type", "application/json", `{"a":1}`)
	f.Add("PATCH", "//double", "a=%", "Cookie", "x=1; y", "\xff\xfe")
	w := newInline(f, `export default { async fetch(req) {
		const headers = {};
		for (const [k, v] of req.headers) headers[k] = v;
		return Response.json({ method: req.method, url: req.url, headers, body: await req.text() });
	} }`, generousCPU)
	f.Fuzz(func(t *testing.T, method, path, query, hname, hvalue, body string) {
		if !httpguts.ValidHeaderFieldName(method) || !httpguts.ValidHeaderFieldName(hname) || !httpguts.ValidHeaderFieldValue(hvalue) {
			t.Skip("net/http never delivers such a request")
		}
		r := &http.Request{
			Method: method, URL: &url.URL{Path: path, RawQuery: query}, Host: "example.com",
			Header: http.Header{http.CanonicalHeaderKey(hname): {hvalue}},
			Body:   io.NopCloser(strings.NewReader(body)),
		}
		r = r.WithContext(t.Context())
		rec := httptest.NewRecorder()
		res, err := w.Serve(rec, r)
		if err != nil || rec.Code != 200 {
			t.Fatalf("status %d, result %+v, err %v", rec.Code, res, err)
		}
		var got struct {
			Method  string
			URL     string
			Headers map[string]string
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(got.Method, method) {
			t.Fatalf("method %q, want %q", got.Method, method)
		}
	})
}
