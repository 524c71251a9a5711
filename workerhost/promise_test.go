package workerhost

import "testing"

// TestIntrinsicPromises checks that the host's APIs answer goja's own
// promises when a script has replaced the global Promise, as workerd's
// answer V8's (recorded from workerd).
func TestIntrinsicPromises(t *testing.T) {
	w := newInline(t, `export default { async fetch(req, env) {
  const P = Promise;
  class X extends P {}
  globalThis.Promise = X;
  try {
    const r = new Response("x");
    const out = [r.text() instanceof X, r.text instanceof Function, new Response("y").arrayBuffer() instanceof X,
      env.BACK.fetch("http://b/") instanceof X, new Request("http://a/", { method: "POST", body: "z" }).json().catch(() => 0) instanceof X,
      new ReadableStream().getReader().read() instanceof X, crypto.subtle.digest("SHA-256", new Uint8Array(1)) instanceof X];
    return new Response(JSON.stringify(out));
  } finally { globalThis.Promise = P; }
} }`, withService(helloFetcher{}))
	_, body, _, _ := do(t, w, "GET", "http://front/", "")
	if want := "[false,true,false,false,false,false,false]"; body != want {
		t.Errorf("got %s, want %s", body, want)
	}
}
