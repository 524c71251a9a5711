// The nodejs_compat modules the host offers: node:crypto's hashes and
// HMACs, node:util's helpers, and node:buffer's Buffer, as Node documents
// them and workerd implements them.
import { createHash, createHmac, randomBytes, timingSafeEqual, getRandomValues, randomUUID } from "node:crypto";
import * as nodeCrypto from "node:crypto";
import util, { format, promisify, inherits, types } from "node:util";
import { Buffer } from "node:buffer";

const hash = (alg, enc, ...data) => () => { const h = createHash(alg); for (const d of data) h.update(...(Array.isArray(d) ? d : [d])); return h.digest(enc); };

const cases = [];
for (const alg of ["md5", "sha1", "sha256", "sha384", "sha512", "SHA256", "RSA-SHA256", "sha-256"]) {
  cases.push(["createHash " + alg, hash(alg, "hex", "abc")]);
}
for (const enc of ["hex", "base64", "base64url", "latin1", "binary", "buffer", undefined, "bogus"]) {
  cases.push(["digest encoding " + enc, hash("sha1", enc, "abc")]);
}
cases.push(
  ["createHash unknown", () => createHash("sha3-999")],
  ["createHash non-string", () => createHash(1)],
  ["update twice", hash("sha256", "hex", "a", "bc")],
  ["update hex input", hash("sha256", "hex", ["616263", "hex"])],
  ["update base64 input", hash("sha256", "hex", ["YWJj", "base64"])],
  ["update latin1 input", hash("sha256", "hex", ["\u00e9", "latin1"])],
  ["update utf8 input", hash("sha256", "hex", ["\u00e9", "utf8"])],
  ["update Uint8Array", hash("sha256", "hex", new Uint8Array([97, 98, 99]))],
  ["update DataView", hash("sha256", "hex", new DataView(new Uint8Array([97, 98, 99]).buffer))],
  ["update number", () => createHash("sha256").update(1)],
  ["update returns this", () => { const h = createHash("md5"); return h.update("x") === h; }],
  ["digest twice", () => { const h = createHash("md5"); h.digest(); return h.digest("hex"); }],
  ["update after digest", () => { const h = createHash("md5"); h.digest(); h.update("x"); }],
  ["copy", () => { const h = createHash("sha256").update("a"); const c = h.copy(); c.update("b"); return [h.digest("hex"), c.digest("hex")]; }],
  ["digest is a Buffer", () => Buffer.isBuffer(createHash("md5").update("x").digest())],
  ["hmac", () => createHmac("sha256", "key").update("data").digest("hex")],
  ["hmac Buffer key", () => createHmac("sha1", Buffer.from("key")).update("data").digest("base64")],
  ["hmac empty key", () => createHmac("sha512", "").update("data").digest("hex").slice(0, 32)],
  ["hmac unknown", () => createHmac("nope", "k")],
  ["hmac long key", () => createHmac("md5", "k".repeat(200)).update("d").digest("hex")],
  ["randomBytes length", () => [randomBytes(16).length, Buffer.isBuffer(randomBytes(1))]],
  ["randomBytes negative", () => randomBytes(-1)],
  ["randomBytes callback", () => new Promise((res) => randomBytes(4, (err, b) => res([err, b.length])))],
  ["timingSafeEqual", () => [timingSafeEqual(Buffer.from("a"), Buffer.from("a")), timingSafeEqual(Buffer.from("a"), Buffer.from("b"))]],
  ["timingSafeEqual lengths", () => timingSafeEqual(Buffer.from("a"), Buffer.from("ab"))],
  ["timingSafeEqual strings", () => timingSafeEqual("a", "a")],
  ["getRandomValues", () => getRandomValues(new Uint8Array(3)).length],
  ["randomUUID", () => /^[0-9a-f-]{36}$/.test(randomUUID())],
  ["webcrypto", () => nodeCrypto.webcrypto === crypto],
  ["subtle", () => nodeCrypto.subtle === crypto.subtle],
  ["format %s %d %i %f %j", () => format("%s %d %i %f %j", "a", 42.5, 42.5, "1.5", { a: 1 })],
  ["format %%", () => format("100%% %s", "x")],
  ["format extra args", () => format("a", "b", 3)],
  ["format missing args", () => format("%s %s", "a")],
  ["format no format string", () => format(1, "b")],
  ["format %o object", () => format("%s", { a: 1 })],
  ["promisify", async () => promisify((a, cb) => cb(null, a + 1))(1)],
  ["promisify error", async () => { try { await promisify((cb) => cb(new RangeError("r")))(); } catch (e) { return e.constructor.name; } }],
  ["promisify custom", () => { const f = () => {}; const g = async () => 1; f[promisify.custom] = g; return promisify(f) === g; }],
  ["promisify.custom symbol", () => promisify.custom === Symbol.for("nodejs.util.promisify.custom")],
  ["inherits", () => { function A() {} A.prototype.x = 1; function B() {} inherits(B, A); return [new B().x, B.super_ === A]; }],
  ["types", () => [types.isDate(new Date()), types.isRegExp(/x/), types.isPromise(Promise.resolve()), types.isUint8Array(new Uint8Array()), types.isTypedArray(new Int8Array()), types.isArrayBuffer(new ArrayBuffer(1)), types.isMap(new Map())]],
  ["util default", () => typeof util.format],
  ["util TextEncoder", () => util.TextEncoder === TextEncoder],
  ["Buffer from utf8", () => Buffer.from("h€")],
  ["Buffer from hex", () => Buffer.from("0aff", "hex")],
  ["Buffer from base64", () => Buffer.from("aGk=", "base64")],
  ["Buffer toString hex", () => Buffer.from("hi").toString("hex")],
  ["Buffer toString base64", () => Buffer.from("hi?>").toString("base64")],
  ["Buffer concat", () => Buffer.concat([Buffer.from("a"), Buffer.from("bc")]).toString()],
  ["Buffer byteLength", () => Buffer.byteLength("h€")],
  ["Buffer isBuffer", () => [Buffer.isBuffer(Buffer.alloc(1)), Buffer.isBuffer(new Uint8Array(1))]],
  ["Buffer alloc fill", () => Buffer.alloc(3, 1)],
  ["Buffer equals", () => Buffer.from("a").equals(Buffer.from("a"))],
  ["Buffer instanceof Uint8Array", () => Buffer.from("a") instanceof Uint8Array],
);

export default cases;
