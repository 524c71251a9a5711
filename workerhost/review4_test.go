package workerhost

import (
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
