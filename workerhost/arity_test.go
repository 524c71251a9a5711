package workerhost

import "testing"

// TestArity checks the Headers methods host.arity wraps: argument counts,
// an explicit undefined, name and length, and exceptions from within.
func TestArity(t *testing.T) {
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
