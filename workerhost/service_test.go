package workerhost

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// workerFetcher serves a binding's calls with another Worker, and records
// what the calls inherited.
type workerFetcher struct {
	w        *Worker
	incoming []string
}

func (f *workerFetcher) ServeService(w http.ResponseWriter, req, incoming *http.Request) error {
	f.incoming = append(f.incoming, incoming.Header.Get("X-Incoming"))
	if req.URL.Path == "/refuse" {
		return errors.New("service binding: refused")
	}
	_, err := f.w.Serve(w, req)
	return err
}

func withService(f ServiceFetcher) func(*Config) {
	return func(c *Config) {
		c.Bindings = map[string]Binding{"BACK": Service{Fetcher: f, Target: "back"}}
		c.CPULimit = time.Second
	}
}

func TestServiceBinding(t *testing.T) {
	back := newInline(t, `export default { async fetch(req) {
	const p = new URL(req.url).pathname;
	if (p === "/throw") throw new Error("back failed");
	if (p === "/empty") return new Response(null, { status: 204 });
	if (p === "/utf8") return new Response("héllo ✓");
	if (p === "/stream") return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); } }),
		{ status: 202, statusText: "Streaming" });
	return new Response(req.method + " " + req.url + " " + req.headers.get("x-a") + " " + await req.text(),
		{ status: 201, statusText: "Made", headers: { "x-back": "b1" } });
} }`)
	f := &workerFetcher{w: back}
	front := newInline(t, `export default { async fetch(req, env) {
	const p = new URL(req.url).pathname;
	if (p === "/refuse") {
		try { await env.BACK.fetch("http://back/refuse"); } catch (e) { return new Response("caught: " + e.message); }
	}
	const r = await env.BACK.fetch("http://back" + p + "?q=1", { method: "POST", body: "hi", headers: { "x-a": "A" } });
	return new Response(r.status + " " + r.statusText + " " + r.headers.get("x-back") + " " + r.headers.get("content-length") + " " + (env.BACK instanceof Object) + " | " + await r.text());
} }`, withService(f))

	cases := []struct{ path, want string }{
		// The status text is the callee's, as on Workers, and there is
		// no Content-Length the callee did not set, as in workerd.
		{"/", "201 Made b1 null true | POST http://back/?q=1 A hi"},
		{"/stream", "202 Streaming null null true | streamed"},
		{"/throw", "500 Internal Server Error null null true | worker threw an exception\n"},
		{"/empty", "204 No Content null null true | "},
		{"/utf8", "200 OK null null true | héllo ✓"},
		{"/refuse", "caught: service binding: refused"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			resp, body, res, err := do(t, front, "GET", "http://front"+c.path, "", "X-Incoming", "client")
			if err != nil || res.Outcome != OutcomeOK || resp.StatusCode != 200 {
				t.Fatalf("%v %+v %d %q", err, res, resp.StatusCode, body)
			}
			if body != c.want {
				t.Errorf("got %q, want %q", body, c.want)
			}
		})
	}
	if got := strings.Join(f.incoming, ","); got != "client,client,client,client,client,client" {
		t.Errorf("incoming requests seen by the fetcher: %q", got)
	}
}

func TestServiceBindingBodyLimit(t *testing.T) {
	back := newInline(t, `export default { fetch() { return new Response("x".repeat(2000)); } }`)
	front := newInline(t, `export default { async fetch(req, env) {
	try { await env.BACK.fetch("http://back/"); return new Response("no error"); }
	catch (e) { return new Response(e.message); }
} }`, withService(&workerFetcher{w: back}), func(c *Config) { c.MaxBodyBytes = 1000 })
	_, body, _, _ := do(t, front, "GET", "http://front/", "")
	if body != "service binding: response body too large: over 1000 bytes" {
		t.Errorf("got %q", body)
	}
}

// panicFetcher panics on every call.
type panicFetcher struct{}

func (panicFetcher) ServeService(http.ResponseWriter, *http.Request, *http.Request) error {
	panic("boom")
}

func TestServiceBindingFetcherPanic(t *testing.T) {
	front := newInline(t, `export default { async fetch(req, env) {
	try { await env.BACK.fetch("http://back/"); return new Response("no error"); }
	catch (e) { return new Response(e.message); }
} }`, withService(panicFetcher{}))
	_, body, _, _ := do(t, front, "GET", "http://front/", "")
	if body != "service binding: internal error" {
		t.Errorf("got %q", body)
	}
}

// helloFetcher answers every call itself, so that benchmarks measure the
// binding alone.
type helloFetcher struct{}

func (helloFetcher) ServeService(w http.ResponseWriter, _, _ *http.Request) error {
	_, err := io.WriteString(w, "hello")
	return err
}

// BenchmarkServiceBinding compares a call through a service binding with
// the same call through fetch() to a loopback server, in one run; the
// callee is Go code answering "hello" in both.
func BenchmarkServiceBinding(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") }))
	defer srv.Close()
	for _, bc := range []struct{ name, src string }{
		{"binding", `export default { fetch(req, env) { return env.BACK.fetch("http://back/"); } }`},
		{"loopback-fetch", `export default { fetch(req, env) { return fetch("` + srv.URL + `/"); } }`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := newInline(b, bc.src, withService(helloFetcher{}))
			r := httptest.NewRequest(http.MethodGet, "http://front/", nil)
			b.ReportAllocs()
			for b.Loop() {
				if res, _ := w.Serve(httptest.NewRecorder(), r); res.Outcome != OutcomeOK {
					b.Fatalf("%+v", res)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// TestServiceBindingRequestHeaders checks the headers a callee gets, as
// workerd gives them (recorded from workerd): those the script set, the
// framing ones included, no host it did not set, and the length of a body
// whose length is known.
func TestServiceBindingRequestHeaders(t *testing.T) {
	back := newInline(t, `export default { async fetch(req) {
  const h = {};
  for (const [k, v] of req.headers) h[k] = v;
  return new Response(JSON.stringify({ h, body: await req.text() }));
} }`)
	front := newInline(t, `export default { async fetch(req, env) {
  const out = {};
  out.post = await (await env.BACK.fetch("http://back/", { method: "POST", body: "hi" })).json();
  out.postCL = await (await env.BACK.fetch("http://back/", { method: "POST", body: "hi", headers: { "content-length": "999", "connection": "close", "transfer-encoding": "chunked", "x-a": "1" } })).json();
  out.get = await (await env.BACK.fetch("http://back/")).json();
  out.stream = await (await env.BACK.fetch("http://back/", { method: "POST", body: new Response("streamed").body, duplex: "half" })).json();
  out.host = await (await env.BACK.fetch("http://back/", { headers: { host: "other.example" } })).json();
  return new Response(JSON.stringify(out, null, 1));
} }`, withService(&workerFetcher{w: back}))
	_, body, _, _ := do(t, front, "GET", "http://front/", "")
	want := `{
 "post": {
  "h": {
   "content-length": "2",
   "content-type": "text/plain;charset=UTF-8"
  },
  "body": "hi"
 },
 "postCL": {
  "h": {
   "connection": "close",
   "content-length": "999",
   "content-type": "text/plain;charset=UTF-8",
   "transfer-encoding": "chunked",
   "x-a": "1"
  },
  "body": "hi"
 },
 "get": {
  "h": {},
  "body": ""
 },
 "stream": {
  "h": {
   "content-length": "8"
  },
  "body": "streamed"
 },
 "host": {
  "h": {
   "host": "other.example"
  },
  "body": ""
 }
}`
	if body != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}
}

// TestServiceBindingResponseHeaders checks the response a caller gets, as
// workerd gives it (recorded from workerd): the headers the callee's
// script set, a Content-Length only if it set one.
func TestServiceBindingResponseHeaders(t *testing.T) {
	back := newInline(t, `export default { async fetch(req) {
  const p = new URL(req.url).pathname;
  if (p === "/text") return new Response("hello");
  if (p === "/stream") return new Response(new Response("streamed").body);
  if (p === "/cl") return new Response("hi", { headers: { "content-length": "2", "x-b": "1" } });
  if (p === "/204") return new Response(null, { status: 204 });
  if (p === "/json") return Response.json({ a: 1 });
  return new Response(null);
} }`)
	front := newInline(t, `export default { async fetch(req, env) {
  const out = {};
  for (const p of ["/text", "/stream", "/cl", "/204", "/json", "/null"]) {
    const r = await env.BACK.fetch("http://back" + p);
    const h = {};
    for (const [k, v] of r.headers) h[k] = v;
    out[p] = { status: r.status, statusText: r.statusText, h, body: await r.text() };
  }
  return new Response(JSON.stringify(out, null, 1));
} }`, withService(&workerFetcher{w: back}))
	_, body, _, _ := do(t, front, "GET", "http://front/", "")
	want := `{
 "/text": {
  "status": 200,
  "statusText": "OK",
  "h": {
   "content-type": "text/plain;charset=UTF-8"
  },
  "body": "hello"
 },
 "/stream": {
  "status": 200,
  "statusText": "OK",
  "h": {},
  "body": "streamed"
 },
 "/cl": {
  "status": 200,
  "statusText": "OK",
  "h": {
   "content-length": "2",
   "content-type": "text/plain;charset=UTF-8",
   "x-b": "1"
  },
  "body": "hi"
 },
 "/204": {
  "status": 204,
  "statusText": "No Content",
  "h": {},
  "body": ""
 },
 "/json": {
  "status": 200,
  "statusText": "OK",
  "h": {
   "content-type": "application/json"
  },
  "body": "{\"a\":1}"
 },
 "/null": {
  "status": 200,
  "statusText": "OK",
  "h": {},
  "body": ""
 }
}`
	if body != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}
}
