package workerhost

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHeaders checks the Go side of Headers (headers.go) where the
// conformance suite does not reach: UTF-16 units kept in values, names
// made of surrogates, the state of copies, set's order, the guard of the
// incoming request's and a fetch response's headers, methods called on
// other objects, and subclasses. Each case is an expression whose JSON
// is compared.
func TestHeaders(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`new Headers({ a: "x\ud800y" }).get("a").charCodeAt(1)`, `55296`},
		{`new Headers({ a: " \ud800 " }).get("a").length`, `1`},
		{`[...new Headers([["\ud83d\ude00", "1"]]).keys()][0].length`, `2`},
		{`[...new Headers([["\ud83d\ude00", "1"]]).keys()][0] === "\ufffd\ufffd"`, `true`},
		{`new Headers({ "X-Ab": "1" }).has("x-AB")`, `true`},
		{`(() => { const h = new Headers([["a", "1"], ["b", "2"], ["a", "3"], ["c", "4"], ["a", "5"]]); h.set("A", "6"); return [...h]; })()`, `[["a","6"],["b","2"],["c","4"]]`},
		{`(() => { const h = new Headers([["a", "1"], ["a", "2"]]); h.delete("a"); return [...h]; })()`, `[]`},
		{`(() => { const a = new Headers({ x: "1" }); const b = new Headers(a); b.set("x", "2"); a.append("y", "3"); return [[...a], [...b]]; })()`, `[[["x","1"],["y","3"]],[["x","2"]]]`},
		{`(() => { const h = new Headers([["set-cookie", "a=1"], ["x", "1"], ["set-cookie", "b=2"]]); return [h.getSetCookie(), h.get("set-cookie"), [...h]]; })()`, `[["a=1","b=2"],"a=1, b=2",[["set-cookie","a=1"],["set-cookie","b=2"],["x","1"]]]`},
		{`(() => { try { request.headers.set("a", "1"); } catch (e) { return e.message; } })()`, `"Can't modify immutable headers."`},
		{`(() => { const h = new Headers(request.headers); h.set("a", "1"); return [h.get("a"), h.get("x-in"), request.headers.get("a")]; })()`, `["1","yes",null]`},
		{`(() => { const c = request.clone(); try { c.headers.set("a", "1"); } catch (e) { return e.message; } })()`, `"Can't modify immutable headers."`},
		{`request.headers.get("host")`, `"example.com"`},
		{`(() => { try { Headers.prototype.get.call({}, "a"); } catch (e) { return e instanceof TypeError && e.message; } })()`, `"Illegal invocation"`},
		{`(() => { try { new Headers().set("a"); } catch (e) { return e.message; } })()`, `"Failed to execute 'set' on 'Headers': 2 arguments required, but only 1 present."`},
		{`[Headers.prototype.set.name, Headers.prototype.set.length, Headers.prototype.get.length]`, `["set",2,1]`},
		{`(() => { class H extends Headers { constructor() { super({ a: "1" }); this.extra = 2; } } const h = new H(); h.append("b", "2"); return [h instanceof Headers, h.extra, [...h]]; })()`, `[true,2,[["a","1"],["b","2"]]]`},
		{`(() => { const r = Response.redirect("http://h/x"); try { r.headers.set("a", "1"); } catch (e) { return [e.message, r.headers.get("location")]; } })()`, `["Can't modify immutable headers.","http://h/x"]`},
		{`(() => { const it = new Headers({ a: "1" }).entries(); return [it.next().value, it.next().done]; })()`, `[["a","1"],true]`},
		{`(() => { try { new Headers({ a: Symbol() }); } catch (e) { return e instanceof TypeError; } })()`, `true`},
		{`(() => { const h = new Headers(); const k = Object.getOwnPropertySymbols(h)[0]; let read = 0; h[k] = { get x() { read++; return 1; } }; try { h.get("a"); } catch (e) { return [e.message, read]; } })()`, `["Illegal invocation",0]`},
		{`(() => { try { new Headers({ a: "1" }).get("a b"); } catch (e) { return e.message; } })()`, `"Invalid header name."`},
	}
	var src strings.Builder
	src.WriteString("export default { fetch(request) { const out = [];\n")
	for _, c := range cases {
		src.WriteString("try { out.push(JSON.stringify(" + c.expr + ")); } catch (e) { out.push(\"threw \" + e); }\n")
	}
	src.WriteString("return Response.json(out); } }")
	w := newInline(t, src.String())
	r := httptest.NewRequest("GET", "http://example.com/", nil)
	r.Header.Set("X-In", "yes")
	rec := httptest.NewRecorder()
	if _, err := w.Serve(rec, r); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("%d %v %s", rec.Code, err, rec.Body)
	}
	var got []string
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != len(cases) {
		t.Fatalf("%v %s", err, rec.Body)
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.expr, got[i], c.want)
		}
	}
}

// TestHeadersSent checks what passes to Go: a response's headers (the
// sendable ones, every value of a name) and a fetch's request headers.
func TestHeadersSent(t *testing.T) {
	var seen http.Header
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Add("X-Up", "1")
		w.Header().Add("X-Up", "2")
	}))
	defer up.Close()
	w := newInline(t, `export default { async fetch(request) {
		const h = new Headers([["x-a", "1"], ["X-A", "2"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]]);
		const res = await fetch(request.headers.get("x-up"), { headers: h });
		h.append("", "empty");
		h.append("é", "non-ascii");
		return new Response(res.headers.get("x-up"), { headers: h });
	} }`)
	resp, body, res, err := do(t, w, "GET", "http://example.com/", "", "X-Up", up.URL)
	if err != nil || body != "1, 2" {
		t.Fatalf("%q %v %+v", body, err, res)
	}
	if got := resp.Header.Values("X-A"); strings.Join(got, "|") != "1|2" {
		t.Errorf("response X-A %q", got)
	}
	if got := resp.Header.Values("Set-Cookie"); strings.Join(got, "|") != "a=1|b=2" {
		t.Errorf("response Set-Cookie %q", got)
	}
	if _, ok := resp.Header[""]; ok {
		t.Errorf("empty name sent: %v", resp.Header)
	}
	if got := seen.Values("X-A"); strings.Join(got, "|") != "1|2" {
		t.Errorf("fetch sent X-A %q", got)
	}
}

// TestHeadersArity checks the argument counts of Headers methods, an
// explicit undefined, names and lengths, and the errors of set.
func TestHeadersArity(t *testing.T) {
	w := newInline(t, `export default { fetch(request) {
		const out = [];
		const h = new Headers();
		try { h.set("a"); } catch (e) { out.push(e instanceof TypeError, e.message); }
		try { h.append(); } catch (e) { out.push(e.message); }
		h.set("a", undefined);
		h.append("a", 1);
		out.push(h.get("a"), Headers.prototype.set.name, Headers.prototype.set.length, Headers.prototype.append.name, Headers.prototype.append.length);
		try { request.headers.set("x", "y"); } catch (e) { out.push(e instanceof TypeError, e.message); }
		try { h.set("bad name", "v"); } catch (e) { out.push(e.message); }
		try { Headers.prototype.set.call({}, "x", "y"); } catch (e) { out.push(e instanceof TypeError); }
		return new Response(out.join("|"));
	} }`)
	_, body, _, err := do(t, w, "GET", "http://x/", "")
	want := "true|Failed to execute 'set' on 'Headers': 2 arguments required, but only 1 present.|" +
		"Failed to execute 'append' on 'Headers': 2 arguments required, but only 0 present.|" +
		"undefined, 1|set|2|append|2|true|Can't modify immutable headers.|Invalid header name.|true"
	if err != nil || body != want {
		t.Errorf("got %q, %v\nwant %q", body, err, want)
	}
}
