// node:events, node:stream and process as nodejs_compat has them: the common
// EventEmitter operations and the stream classes, pipeline and finished,
// as Node documents them and workerd implements them.
import EventEmitterDefault, { EventEmitter, once, on, errorMonitor, getEventListeners, getMaxListeners, setMaxListeners, captureRejectionSymbol } from "node:events";
import { Readable, Writable, Duplex, Transform, PassThrough, pipeline, finished } from "node:stream";
import { pipeline as pipelinePromise } from "node:stream/promises";

const collect = () => {
  const chunks = [];
  const w = new Writable({ write(c, enc, cb) { chunks.push(String(c)); cb(); } });
  w.chunks = chunks;
  return w;
};
const upper = () => new Transform({ transform(c, enc, cb) { cb(null, String(c).toUpperCase()); } });

const cases = [
  ["default export", () => EventEmitterDefault === EventEmitter],
  ["on and emit", () => { const e = new EventEmitter(); const got = []; e.on("x", (a, b) => got.push(a, b)); return [e.emit("x", 1, 2), e.emit("y"), got]; }],
  ["once fires once", () => { const e = new EventEmitter(); let n = 0; e.once("x", () => n++); e.emit("x"); e.emit("x"); return n; }],
  ["listener order and prepend", () => { const e = new EventEmitter(); const got = []; e.on("x", () => got.push(1)); e.prependListener("x", () => got.push(0)); e.on("x", () => got.push(2)); e.emit("x"); return got; }],
  ["off and removeAllListeners", () => { const e = new EventEmitter(); const f = () => {}; e.on("x", f); e.on("x", () => {}); e.on("y", f); e.off("x", f); const a = e.listenerCount("x"); e.removeAllListeners("x"); return [a, e.listenerCount("x"), e.listenerCount("y"), e.eventNames()]; }],
  ["listeners and rawListeners", () => { const e = new EventEmitter(); const f = () => {}; e.once("x", f); return [e.listeners("x")[0] === f, e.rawListeners("x")[0] === f]; }],
  ["this in a listener", () => { const e = new EventEmitter(); let self; e.on("x", function () { self = this; }); e.emit("x"); return self === e; }],
  ["error without listener", () => { const e = new EventEmitter(); e.emit("error", new TypeError("boom")); }],
  ["error with listener", () => { const e = new EventEmitter(); let m; e.on("error", (err) => (m = err.message)); e.emit("error", new Error("handled")); return m; }],
  ["newListener event", () => { const e = new EventEmitter(); const got = []; e.on("newListener", (name) => got.push(name)); e.on("a", () => {}); e.once("b", () => {}); return got; }],
  ["max listeners", () => { const e = new EventEmitter(); const d = e.getMaxListeners(); e.setMaxListeners(1); return [d, e.getMaxListeners(), EventEmitter.defaultMaxListeners]; }],
  ["returns this", () => { const e = new EventEmitter(); const f = () => {}; return [e.on("x", f) === e, e.once("x", f) === e, e.off("x", f) === e, e.removeAllListeners() === e]; }],
  ["subclass", () => { class C extends EventEmitter {} const c = new C(); let v; c.on("x", (a) => (v = a)); c.emit("x", 5); return [v, c instanceof EventEmitter]; }],
  ["once() promise", async () => { const e = new EventEmitter(); setTimeout(() => e.emit("ready", 1, 2), 1); return await once(e, "ready"); }],
  ["once() rejects on error", async () => { const e = new EventEmitter(); setTimeout(() => e.emit("error", new RangeError("bad")), 1); return await once(e, "ready"); }],
  ["errorMonitor", () => { const e = new EventEmitter(); const got = []; e.on("error", (err) => got.push("error " + err.message)); e.on(errorMonitor, (err) => got.push("monitor " + err.message)); e.emit("error", new Error("x")); return got; }],
  ["errorMonitor, unhandled", () => { const e = new EventEmitter(); const got = []; e.on(errorMonitor, (err) => got.push("monitor " + err.message)); try { e.emit("error", new Error("y")); } catch (err) { got.push("threw " + err.message); } return got; }],
  ["errorMonitor statics", () => [typeof errorMonitor, EventEmitter.errorMonitor === errorMonitor, captureRejectionSymbol === Symbol.for("nodejs.rejection")]],
  ["on() iterates", async () => { const e = new EventEmitter(); setTimeout(() => { e.emit("x", 1); e.emit("x", 2, 3); e.emit("x", 4); }, 1); const got = []; for await (const args of on(e, "x")) { got.push(args); if (got.length === 2) break; } return [got, e.listenerCount("x"), e.listenerCount("error")]; }],
  ["on() queued events", async () => { const e = new EventEmitter(); const it = on(e, "x"); e.emit("x", "a"); e.emit("x", "b"); const a = await it.next(); const b = await it.next(); await it.return(); return [a.value, b.value, (await it.next()).done]; }],
  ["on() error", async () => { const e = new EventEmitter(); setTimeout(() => e.emit("error", new RangeError("bad")), 1); for await (const args of on(e, "x")) return args; }],
  ["on() abort", async () => { const e = new EventEmitter(); const ac = new AbortController(); setTimeout(() => ac.abort(), 1); try { for await (const args of on(e, "x", { signal: ac.signal })) return args; } catch (err) { return [err.name, err.code, e.listenerCount("x")]; } }],
  ["on() aborted signal", () => { const ac = new AbortController(); ac.abort(); try { on(new EventEmitter(), "x", { signal: ac.signal }); } catch (err) { return [err.name, err.code]; } }],
  ["getEventListeners", () => { const e = new EventEmitter(); const f = () => {}; e.on("x", f); return [getEventListeners(e, "x")[0] === f, getEventListeners(e, "y").length]; }],
  ["setMaxListeners and getMaxListeners", () => { const e = new EventEmitter(); setMaxListeners(3, e); return [getMaxListeners(e), e.getMaxListeners()]; }],
  ["setMaxListeners negative", () => setMaxListeners(-1, new EventEmitter())],
  ["listenerCount static", () => EventEmitter.listenerCount(new EventEmitter().on("x", () => {}), "x")],

  ["Readable.from to array", async () => { const got = []; for await (const c of Readable.from(["a", "b", "c"])) got.push(c); return got; }],
  ["Readable push and read", () => { const r = new Readable({ read() {} }); r.push("ab"); r.push("cd"); r.push(null); return String(r.read()); }],
  ["Readable data events", () => new Promise((res) => { const got = []; const r = new Readable({ read() {} }); r.on("data", (c) => got.push(String(c))); r.on("end", () => res(got)); r.push("x"); r.push("y"); r.push(null); })],
  ["Readable object mode", async () => { const got = []; for await (const c of new Readable({ objectMode: true, read() { this.push({ n: 1 }); this.push(null); } })) got.push(c.n); return got; }],
  ["Readable setEncoding", () => new Promise((res) => { const r = Readable.from([Buffer.from("h\u00e9")], { objectMode: false }); r.setEncoding("utf8"); let s = ""; r.on("data", (c) => (s += typeof c + ":" + c)); r.on("end", () => res(s)); })],
  ["Readable destroy with error", () => new Promise((res) => { const r = new Readable({ read() {} }); r.on("error", (e) => res(["error", e.message, r.destroyed])); r.destroy(new Error("gone")); })],
  ["Writable write and finish", () => new Promise((res) => { const w = collect(); w.on("finish", () => res(w.chunks)); w.write("a"); w.write(Buffer.from("b")); w.end("c"); })],
  ["Writable write after end", () => new Promise((res) => { const w = collect(); w.on("error", (e) => res(e.code)); w.end(); w.write("late"); })],
  ["Writable backpressure", () => { const w = new Writable({ highWaterMark: 2, write(c, e, cb) { setTimeout(cb, 1); } }); return [w.write("a"), w.write("bc"), w.writableLength]; }],
  ["Transform", () => new Promise((res) => { const t = upper(); const got = []; t.on("data", (c) => got.push(String(c))); t.on("end", () => res(got)); t.write("ab"); t.end("cd"); })],
  ["PassThrough", async () => { const p = new PassThrough(); p.end("xyz"); let s = ""; for await (const c of p) s += c; return s; }],
  ["Duplex", () => new Promise((res) => { const written = []; const d = new Duplex({ read() { this.push("out"); this.push(null); }, write(c, e, cb) { written.push(String(c)); cb(); } }); let s = ""; d.on("data", (c) => (s += c)); d.on("end", () => res([s, written])); d.end("in"); })],
  ["pipe", () => new Promise((res) => { const w = collect(); w.on("finish", () => res(w.chunks)); Readable.from(["p", "q"]).pipe(upper()).pipe(w); })],
  ["pipeline callback", () => new Promise((res) => { const w = collect(); pipeline(Readable.from(["a", "b"]), upper(), w, (err) => res([err === undefined || err === null, w.chunks])); })],
  ["pipeline error", () => new Promise((res) => { const bad = new Transform({ transform(c, e, cb) { cb(new Error("transform failed")); } }); pipeline(Readable.from(["a"]), bad, collect(), (err) => res(err && err.message)); })],
  ["stream/promises pipeline", async () => { const w = collect(); await pipelinePromise(Readable.from(["x", "y"]), upper(), w); return w.chunks; }],
  ["finished", () => new Promise((res) => { const r = Readable.from(["a"]); finished(r, (err) => res(["finished", err === undefined || err === null])); r.resume(); })],
  ["streams are EventEmitters", () => [new Readable() instanceof EventEmitter, new PassThrough() instanceof Writable, new PassThrough() instanceof Readable]],

  ["process keys", () => Object.keys(process).sort()],
  ["process.env", () => JSON.stringify(process.env)],
  ["process.platform", () => process.platform],
  ["process is writable", () => { const p = globalThis.process; globalThis.process = 1; const v = globalThis.process; globalThis.process = p; return v; }],
  ["getBuiltinModule process", () => process.getBuiltinModule("node:process") === process],
  ["getBuiltinModule buffer", () => process.getBuiltinModule("node:buffer").Buffer === Buffer],
  ["getBuiltinModule unknown", () => process.getBuiltinModule("node:nope")],
  ["nextTick order", async () => { const got = []; process.nextTick((a, b) => got.push("tick " + a + b), 1, 2); Promise.resolve().then(() => got.push("promise")); got.push("sync"); await new Promise((r) => setTimeout(r, 1)); return got; }],
  ["nextTick non-function", () => process.nextTick(1)],
  ["readable state", () => { const r = Readable.from(["a"]); return [r.readable, r.readableEnded, r.readableObjectMode, r.destroyed]; }],
];

export default cases;
