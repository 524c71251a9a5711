// Streams: the Streams Standard's ReadableStream, readers, WritableStream,
// TransformStream and queuing strategies.
const tag = (v) => Object.prototype.toString.call(v);
const RS = (src, strat) => new ReadableStream(src, strat);
const of = (...chunks) => RS({ start(c) { for (const x of chunks) c.enqueue(x); c.close(); } });
const settle = (p) => p.then((v) => "resolved " + JSON.stringify(v), (e) => "rejected " + (e && e.constructor ? e.constructor.name : String(e)));
async function drain(s) { const out = []; const r = s.getReader(); for (;;) { const { value, done } = await r.read(); if (done) return out; out.push(value); } }

const gz = new Uint8Array([31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 72, 205, 201, 201, 87, 72, 175, 202, 44, 0, 0, 25, 106, 210, 223, 10, 0, 0, 0]);
const raw = new Uint8Array([43, 74, 44, 87, 72, 73, 77, 203, 73, 44, 73, 5, 0]);
const zl = new Uint8Array([120, 156, 171, 202, 201, 76, 82, 72, 73, 77, 203, 73, 44, 73, 5, 0, 30, 44, 4, 167]);
// through pipes chunks through a transform and answers the text out.
async function through(t, chunks) {
  const w = t.writable.getWriter();
  for (const c of chunks) w.write(c).catch(() => {});
  w.close().catch(() => {});
  return new Response(t.readable).text();
}
async function roundTrip(format, text) {
  const out = await new Response(new Response(text).body.pipeThrough(new CompressionStream(format))).arrayBuffer();
  return through(new DecompressionStream(format), [new Uint8Array(out)]);
}

const cases = [
  ["ReadableStream()", () => tag(RS())],
  ["ReadableStream(null)", () => tag(RS(null))],
  ["ReadableStream(1)", () => RS(1)],
  ["start not callable", () => RS({ start: 1 })],
  ["pull not callable", () => RS({ pull: "x" })],
  ["cancel not callable", () => RS({ cancel: {} })],
  ["type invalid", () => RS({ type: "foo" })],
  ["type bytes", () => tag(RS({ type: "bytes" }))],
  ["type undefined", () => tag(RS({ type: undefined }))],
  ["type stringified", () => tag(RS({ type: { toString() { return "bytes"; } } }))],
  ["highWaterMark negative", () => RS({}, { highWaterMark: -1 })],
  ["highWaterMark NaN", () => RS({}, { highWaterMark: NaN })],
  ["size not callable", () => RS({}, { size: 1 })],
  ["size with bytes", () => RS({ type: "bytes" }, { size() { return 1; } })],
  ["start throws", () => RS({ start() { throw new RangeError("x"); } })],
  ["start this", () => { let self; const src = { start() { self = this; } }; RS(src); return self === src; }],
  ["desiredSize", () => { let d; RS({ start(c) { d = [c.desiredSize]; c.enqueue("a"); d.push(c.desiredSize); } }, { highWaterMark: 2 }); return d; }],
  ["read chunks", async () => drain(of("a", "b"))],
  ["locked", () => { const s = RS(); const before = s.locked; s.getReader(); return [before, s.locked]; }],
  ["getReader twice", () => { const s = RS(); s.getReader(); s.getReader(); }],
  ["getReader mode undefined", () => tag(RS().getReader({ mode: undefined }))],
  ["getReader mode byob on default", () => RS().getReader({ mode: "byob" })],
  ["getReader mode invalid", () => RS().getReader({ mode: "bogus" })],
  ["getReader mode ToString", () => { let called = false; try { RS().getReader({ mode: { toString() { called = true; return "bogus"; } } }); } catch (e) { return [called, e.constructor.name]; } return called; }],
  ["getReader mode byob on bytes", () => tag(RS({ type: "bytes" }).getReader({ mode: "byob" }))],
  ["getReader options null", () => tag(RS().getReader(null))],
  ["getReader options not object", () => RS().getReader(1)],
  ["releaseLock rejects closed", () => { const r = RS().getReader(); const c = r.closed; r.releaseLock(); return settle(c); }],
  ["releaseLock new closed rejected", () => { const r = RS().getReader(); r.releaseLock(); return settle(r.closed); }],
  ["releaseLock pending read rejects", () => { const r = RS().getReader(); const p = r.read(); r.releaseLock(); return settle(p); }],
  ["releaseLock unlocks", () => { const s = RS(); s.getReader().releaseLock(); return s.locked; }],
  ["releaseLock twice", () => { const r = RS().getReader(); r.releaseLock(); r.releaseLock(); return "ok"; }],
  ["read after releaseLock", () => { const r = RS().getReader(); r.releaseLock(); return settle(r.read()); }],
  ["closed resolves on close", () => settle(of().getReader().closed)],
  ["closed rejects on error", () => settle(RS({ start(c) { c.error(new RangeError("e")); } }).getReader().closed)],
  ["read after error", () => settle(RS({ start(c) { c.error(new SyntaxError("e")); } }).getReader().read())],
  ["read after close", async () => { const r = of().getReader(); await r.read(); return JSON.stringify(await r.read()); }],
  ["enqueue after close", () => { let e; RS({ start(c) { c.close(); try { c.enqueue("a"); } catch (x) { e = x.constructor.name; } } }); return e; }],
  ["close twice", () => { let e; RS({ start(c) { c.close(); try { c.close(); } catch (x) { e = x.constructor.name; } } }); return e; }],
  ["error after close is ignored", () => { let e = "none"; RS({ start(c) { c.close(); try { c.error(new Error("x")); } catch (x) { e = x.constructor.name; } } }); return e; }],
  ["cancel resolves undefined", async () => settle(of("a").cancel("why"))],
  ["cancel calls source", async () => { let reason; await RS({ cancel(r) { reason = r; } }).cancel("why"); return reason; }],
  ["cancel locked", () => { const s = RS(); s.getReader(); return settle(s.cancel()); }],
  ["cancel errored", () => settle(RS({ start(c) { c.error(new TypeError("t")); } }).cancel())],
  ["reader cancel", async () => { let reason; const r = RS({ cancel(x) { reason = x; } }).getReader(); await r.cancel("y"); return [reason, JSON.stringify(await r.read())]; }],
  ["pull called lazily", async () => { let n = 0; const s = RS({ pull(c) { n++; c.enqueue(n); if (n === 3) c.close(); } }, { highWaterMark: 0 }); const before = n; await drain(s); return [before, n]; }],
  ["pull rejection errors", async () => settle(RS({ pull() { return Promise.reject(new RangeError("p")); } }).getReader().read())],
  ["tee", async () => { const [a, b] = of("x", "y").tee(); return [await drain(a), await drain(b)]; }],
  ["tee locks", () => { const s = of(); s.tee(); return s.locked; }],
  ["tee locked", () => { const s = of(); s.getReader(); s.tee(); }],
  ["async iteration", async () => { const out = []; for await (const x of of("a", "b")) out.push(x); return out; }],
  ["values preventCancel", async () => typeof ReadableStream.prototype.values],
  ["pipeTo", async () => { const got = []; await of("a", "b").pipeTo(new WritableStream({ write(c) { got.push(c); } })); return got; }],
  ["pipeTo non-writable", () => settle(of().pipeTo({}))],
  ["pipeThrough", async () => drain(of("a").pipeThrough(new TransformStream({ transform(c, ctl) { ctl.enqueue(c + c); } })))],
  ["pipeThrough invalid", () => of().pipeThrough({})],
  ["ReadableStream.from", async () => typeof ReadableStream.from === "function" ? drain(ReadableStream.from(["a", "b"])) : "absent"],
  ["reader constructor", () => tag(new ReadableStreamDefaultReader(RS()))],
  ["reader constructor non-stream", () => new ReadableStreamDefaultReader({})],
  ["reader constructor locked", () => { const s = RS(); s.getReader(); return new ReadableStreamDefaultReader(s); }],
  ["ReadableStream toStringTag", () => tag(RS())],
  ["reader toStringTag", () => tag(RS().getReader())],
  ["controller constructor", () => { let C; RS({ start(c) { C = c.constructor; } }); return new C(); }],
  ["ReadableStream without new", () => ReadableStream()],
  ["WritableStream()", () => tag(new WritableStream())],
  ["WritableStream write not callable", () => new WritableStream({ write: 1 })],
  ["WritableStream type", () => new WritableStream({ type: "bytes" })],
  ["WritableStream writes", async () => { const got = []; const w = new WritableStream({ write(c) { got.push(c); } }).getWriter(); await w.write("a"); await w.write("b"); await w.close(); return got; }],
  ["WritableStream locked", () => { const s = new WritableStream(); s.getWriter(); return s.locked; }],
  ["WritableStream getWriter twice", () => { const s = new WritableStream(); s.getWriter(); s.getWriter(); }],
  ["writer desiredSize", () => new WritableStream({}, { highWaterMark: 3 }).getWriter().desiredSize],
  ["write after close", async () => { const w = new WritableStream().getWriter(); w.close(); return settle(w.write("a")); }],
  ["writer releaseLock closed rejects", () => { const w = new WritableStream().getWriter(); const c = w.closed; w.releaseLock(); return settle(c); }],
  ["write error errors stream", async () => { const w = new WritableStream({ write() { throw new RangeError("w"); } }).getWriter(); await w.write("a").catch(() => {}); return settle(w.closed); }],
  ["abort", async () => { let reason; const w = new WritableStream({ abort(r) { reason = r; } }).getWriter(); await w.abort("why"); return reason; }],
  ["WritableStream toStringTag", () => tag(new WritableStream())],
  ["writer toStringTag", () => tag(new WritableStream().getWriter())],
  ["TransformStream()", async () => { const t = new TransformStream(); const w = t.writable.getWriter(); w.write("a"); w.close(); return drain(t.readable); }],
  ["TransformStream transform not callable", () => new TransformStream({ transform: 1 })],
  ["TransformStream readableType", () => new TransformStream({ readableType: "bytes" })],
  ["TransformStream flush", async () => { const t = new TransformStream({ flush(c) { c.enqueue("end"); } }); const w = t.writable.getWriter(); w.close(); return drain(t.readable); }],
  ["TransformStream transform throws", async () => { const t = new TransformStream({ transform() { throw new SyntaxError("t"); } }); const w = t.writable.getWriter(); const p = w.write("a"); return [await settle(p), await settle(t.readable.getReader().read())]; }],
  ["TransformStream terminate", async () => { const t = new TransformStream({ start(c) { c.enqueue("x"); c.terminate(); } }); return drain(t.readable); }],
  ["TransformStream toStringTag", () => tag(new TransformStream())],
  ["CountQueuingStrategy", () => { const s = new CountQueuingStrategy({ highWaterMark: 3 }); return [s.highWaterMark, s.size("abc")]; }],
  ["CountQueuingStrategy no init", () => new CountQueuingStrategy()],
  ["ByteLengthQueuingStrategy", () => { const s = new ByteLengthQueuingStrategy({ highWaterMark: 8 }); return [s.highWaterMark, s.size(new Uint8Array(5))]; }],
  ["ByteLengthQueuingStrategy toStringTag", () => tag(new ByteLengthQueuingStrategy({ highWaterMark: 1 }))],
  ["strategy size used", () => { let d; RS({ start(c) { c.enqueue("abcd"); d = c.desiredSize; } }, new ByteLengthQueuingStrategy({ highWaterMark: 10 })); return d; }],
  ["byte stream enqueue string", () => { let e; RS({ type: "bytes", start(c) { try { c.enqueue("a"); } catch (x) { e = x.constructor.name; } } }); return e; }],
  ["byte stream read", async () => drain(RS({ type: "bytes", start(c) { c.enqueue(new Uint8Array([1, 2])); c.close(); } }))],
];
if (typeof CompressionStream === "function") {
  for (const f of ["gzip", "deflate", "deflate-raw"]) {
    cases.push(["compression round trip " + f, () => roundTrip(f, "hello " + f + " ".repeat(100) + "€")]);
    cases.push(["compression round trip empty " + f, () => roundTrip(f, "")]);
  }
  cases.push(
    ["decompress gzip", () => through(new DecompressionStream("gzip"), [gz])],
    ["decompress gzip split", () => through(new DecompressionStream("gzip"), [gz.subarray(0, 7), gz.subarray(7)])],
    ["decompress deflate-raw", () => through(new DecompressionStream("deflate-raw"), [raw])],
    ["decompress deflate", () => through(new DecompressionStream("deflate"), [zl])],
    ["decompress wrong format", () => settle(through(new DecompressionStream("deflate"), [gz]))],
    ["decompress truncated", () => settle(through(new DecompressionStream("gzip"), [gz.subarray(0, 20)]))],
    ["decompress trailing junk", () => settle(through(new DecompressionStream("gzip"), [gz, new Uint8Array([1, 2])]))],
    ["decompress string chunk", () => settle(through(new DecompressionStream("gzip"), ["x"]))],
    ["compress string chunk", async () => through(new DecompressionStream("gzip"), [new Uint8Array(await new Response(new Blob(["x"]).stream().pipeThrough(new TextDecoderStream()).pipeThrough(new CompressionStream("gzip"))).arrayBuffer())])],
    ["flush error errors the readable side", () => settle(through(new TransformStream({ flush() { throw new RangeError("f"); } }), []))],
    ["compression format invalid", () => new CompressionStream("zip")],
    ["compression format missing", () => new CompressionStream()],
    ["decompression format invalid", () => new DecompressionStream("br")],
    ["compression format case", () => new CompressionStream("GZIP")],
    ["compression toStringTag", () => tag(new CompressionStream("gzip"))],
    ["compression is a TransformStream", () => new CompressionStream("gzip") instanceof TransformStream],
    ["compressed gzip header", async () => { const b = new Uint8Array(await new Response(new Response("x").body.pipeThrough(new CompressionStream("gzip"))).arrayBuffer()); return [b[0], b[1], b[2]]; }],
  );
}

export default cases;
