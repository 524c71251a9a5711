package workerhost

import (
	"net/http/httptest"
	"testing"
	"time"
)

// bytesWorker does, for the path it is asked, one byte-heavy operation of
// the host's own APIs on about 350 KB.
const bytesWorker = `
const chunk = new Uint8Array(35 * 1024).fill(97);
const chunks = Array.from({ length: 10 }, () => chunk);
const big = new Uint8Array(350 * 1024).fill(98);
const text = "a".repeat(350 * 1024);
const b64 = btoa(text);
const plain = Array.from(big);
const ops = {
  blob: () => new Blob(chunks).arrayBuffer(),
  body: () => new Response(new ReadableStream({ start(c) { for (const x of chunks) c.enqueue(x); c.close(); } })).arrayBuffer(),
  digest: () => crypto.subtle.digest("SHA-256", big),
  btoa: () => btoa(text),
  atob: () => atob(b64),
  encode: () => new TextEncoder().encode(text),
  decode: () => new TextDecoder().decode(big),
  bufferConcat: () => Buffer.concat(chunks),
  bufferBase64: () => Buffer.from(big).toString("base64"),
  slice: () => big.slice(),
  text: () => new Response(big).text(),
  noop: () => null,
  typedFrom: () => Uint8Array.from(big),
  arrayFrom: () => Array.from(big),
  typedNew: () => new Uint8Array(plain),
  formData: () => { const fd = new FormData(); fd.append("f", new Blob(chunks)); return new Response(fd).arrayBuffer(); },
};
export default {
  async fetch(request) {
    await ops[new URL(request.url).pathname.slice(1)]();
    return new Response("ok");
  },
};`

// BenchmarkBytes times byte-heavy operations of the host's APIs on 350 KB,
// the per-request cost a script pays for them.
func BenchmarkBytes(b *testing.B) {
	w := newInline(b, bytesWorker, func(c *Config) { c.CPULimit = 10 * time.Second })
	for _, op := range []string{"blob", "body", "digest", "btoa", "atob", "encode", "decode", "bufferConcat", "bufferBase64", "slice", "text", "formData", "typedFrom", "arrayFrom", "typedNew", "noop"} {
		b.Run(op, func(b *testing.B) {
			r := httptest.NewRequest("GET", "http://example.com/"+op, nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				if res, err := w.Serve(rec, r); err != nil || rec.Code != 200 {
					b.Fatalf("%d %q %v %+v", rec.Code, rec.Body.String(), err, res)
				}
			}
		})
	}
}
