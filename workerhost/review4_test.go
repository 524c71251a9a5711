package workerhost

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestReview4ServiceEmptyStatusText: a binding's caller gets the status
// text the callee's Response has, and workerd tells one given as "" from
// none: `new Response(b, { status: 201, statusText: "" })` reaches the
// caller with "", one made without a status text with the standard
// "Created". Both came through as "Created".
func TestReview4ServiceEmptyStatusText(t *testing.T) {
	back := newInline(t, `export default { async fetch(req) {
	const p = new URL(req.url).pathname;
	if (p === "/empty") return new Response("x", { status: 201, statusText: "" });
	if (p === "/emptystream") return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("s")); c.close(); } }), { status: 201, statusText: "" });
	if (p === "/json") return Response.json({}, { status: 201, statusText: "" });
	if (p === "/clone") return new Response("x", { status: 201, statusText: "" }).clone();
	if (p === "/none") return new Response("x", { status: 201 });
	if (p === "/nonejson") return Response.json({}, { status: 201 });
	return new Response("x", { status: 201 }).clone();
} }`)
	front := newInline(t, `export default { async fetch(req, env) {
	const out = ["local[" + new Response("x", { status: 201 }).statusText + "]"];
	for (const p of ["/empty", "/emptystream", "/json", "/clone", "/none", "/nonejson", "/noneclone"]) {
		const r = await env.BACK.fetch("http://back" + p);
		out.push(p + "[" + r.statusText + "]");
	}
	return new Response(out.join(" "));
} }`, withService(&workerFetcher{w: back}))
	_, body, _, err := do(t, front, "GET", "http://front/", "")
	// As workerd answers.
	want := "local[] /empty[] /emptystream[] /json[] /clone[] /none[Created] /nonejson[Created] /noneclone[Created]"
	if err != nil || body != want {
		t.Errorf("got %q, %v\nwant %q", body, err, want)
	}
}

// TestReview4FetchPromiseIntrinsic: the promise of a fetch(url) is made
// by a shared executor that leaves its resolve and reject in one array,
// read back after the constructor returns. Made with the global Promise,
// a script's replacement whose constructor calls fetch(url) took the
// array over: the outer fetch's promise was never settled (TypeError in
// settleSent) and the request answered 500. workerd's fetch returns its
// own promise whatever the global Promise is, and so must this.
func TestReview4FetchPromiseIntrinsic(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	defer srv.Close()
	back := newInline(t, `export default { fetch(req) { return new Response("b" + new URL(req.url).pathname); } }`)
	front := newInline(t, `
const U = "`+srv.URL+`";
const Native = Promise;
let inner = null;
class P extends Native {
	constructor(ex) { super(ex); if (inner === null) { inner = 0; inner = fetch(U + "/inner"); } }
}
export default { async fetch(req, env) {
	globalThis.Promise = P;
	inner = 0;
	const b = env.BACK.fetch("http://back/x"), b2 = env.BACK.fetch("http://back/y", {});
	const kinds = [b instanceof P, b2 instanceof P, b.constructor === Native].join(" ");
	inner = null;
	const r = await fetch(U + "/outer");
	globalThis.Promise = Native;
	return new Response(kinds + " " + (await r.text()) + "," + (inner === null ? "P never made" : await (await inner).text()) + "," + (await (await b).text()) + "," + (await (await b2).text()));
} }`, withService(serveFetcher{back}))
	_, body, res, err := do(t, front, "GET", "http://front/", "")
	// As workerd answers: no promise of fetch or a binding's fetch is a P,
	// and none of the host's makes one (TestIntrinsicPromises).
	if want := "false false true /outer,P never made,b/x,b/y"; err != nil || body != want {
		t.Errorf("got %q %v %+v, want %q", body, err, res, want)
	}
}

// serveFetcher serves a binding's calls with another Worker, concurrent
// calls too (workerFetcher records them unlocked).
type serveFetcher struct{ w *Worker }

func (f serveFetcher) ServeService(w http.ResponseWriter, req, _ *http.Request) error {
	_, err := f.w.Serve(w, req)
	return err
}
