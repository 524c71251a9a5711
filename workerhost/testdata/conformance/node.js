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
const encs = ["utf8", "utf-8", "hex", "base64", "base64url", "latin1", "binary", "ascii", "ucs2", "utf16le", "UTF8", "bogus"];
for (const enc of encs) {
  cases.push(["Buffer.from text " + enc, () => Buffer.from("hé€?>\u00ff", enc)]);
  cases.push(["Buffer bytes toString " + enc, () => Buffer.from([0x68, 0xc3, 0xa9, 0xff, 0x3f, 0x3e, 0x00]).toString(enc)]);
  cases.push(["Buffer.byteLength " + enc, () => Buffer.byteLength("hé€aGk=", enc)]);
}
cases.push(
  ["Buffer.from base64url input", () => Buffer.from("aGk_-w", "base64url")],
  ["Buffer.from base64 with url alphabet", () => Buffer.from("aGk_-w==", "base64")],
  ["Buffer.from base64 whitespace", () => Buffer.from(" aG k=\n", "base64")],
  ["Buffer.from hex odd", () => Buffer.from("abc", "hex")],
  ["Buffer.from hex invalid", () => Buffer.from("zz11", "hex")],
  ["Buffer.from array", () => Buffer.from([1, 256, -1, 3.7])],
  ["Buffer.from ArrayBuffer shares", () => { const ab = new ArrayBuffer(4); const b = Buffer.from(ab, 1, 2); new Uint8Array(ab)[1] = 9; return [b.length, b[0]]; }],
  ["Buffer.from Buffer copies", () => { const a = Buffer.from("ab"); const b = Buffer.from(a); a[0] = 0; return b.toString(); }],
  ["Buffer.from object valueOf", () => Buffer.from(new String("xy"))],
  ["Buffer.from number", () => Buffer.from(5)],
  ["Buffer.alloc string fill", () => Buffer.alloc(5, "ab")],
  ["Buffer.alloc hex fill", () => Buffer.alloc(4, "ff00", "hex")],
  ["Buffer.allocUnsafe length", () => Buffer.allocUnsafe(3).length],
  ["Buffer.compare", () => [Buffer.compare(Buffer.from("a"), Buffer.from("b")), Buffer.compare(Buffer.from("b"), Buffer.from("a")), Buffer.compare(Buffer.from("a"), Buffer.from("a"))]],
  ["Buffer compare method", () => Buffer.from("abc").compare(Buffer.from("abd"))],
  ["Buffer concat total", () => Buffer.concat([Buffer.from("abc"), Buffer.from("de")], 4).toString()],
  ["Buffer concat empty", () => Buffer.concat([]).length],
  ["Buffer slice shares", () => { const a = Buffer.from("abc"); const s = a.slice(1); s[0] = 122; return a.toString(); }],
  ["Buffer subarray type", () => Buffer.isBuffer(Buffer.from("abc").subarray(1))],
  ["Buffer toString range", () => Buffer.from("hello").toString("utf8", 1, 3)],
  ["Buffer write", () => { const b = Buffer.alloc(5); const n = b.write("hé", 1); return [n, b]; }],
  ["Buffer write hex", () => { const b = Buffer.alloc(3); return [b.write("a1b2", "hex"), b]; }],
  ["Buffer readUInt32BE", () => Buffer.from([1, 2, 3, 4]).readUInt32BE(0)],
  ["Buffer readUInt16LE", () => Buffer.from([1, 2, 3, 4]).readUInt16LE(1)],
  ["Buffer readInt8", () => Buffer.from([255]).readInt8(0)],
  ["Buffer writeUInt32LE", () => { const b = Buffer.alloc(4); b.writeUInt32LE(0x01020304, 0); return b; }],
  ["Buffer readUInt32BE out of range", () => Buffer.from([1, 2]).readUInt32BE(0)],
  ["Buffer equals Uint8Array", () => [Buffer.from("a").equals(Buffer.from("a")), Buffer.from("a").equals(new Uint8Array([97]))]],
  ["Buffer indexOf", () => [Buffer.from("hello").indexOf("l"), Buffer.from("hello").indexOf(Buffer.from("lo")), Buffer.from("hello").includes("z")]],
  ["Buffer fill", () => Buffer.alloc(4).fill("ab")],
  ["Buffer toJSON", () => JSON.stringify(Buffer.from("hi"))],
  ["Buffer isEncoding", () => ["utf8", "hex", "latin1", "base64url", "nope"].map((e) => Buffer.isEncoding(e))],
  ["Buffer copy", () => { const a = Buffer.from("abc"); const b = Buffer.alloc(4); return [a.copy(b, 1), b]; }],
  ["Buffer swap16", () => Buffer.from([1, 2, 3, 4]).swap16()],
  ["Buffer reverse", () => Buffer.from([1, 2, 3]).reverse()],
  ["Buffer String()", () => String(Buffer.from("hi"))],
  ["Buffer readBigUInt64BE", () => String(Buffer.from([0, 0, 0, 0, 0, 0, 1, 0]).readBigUInt64BE(0))],
  ["Buffer toString no argument lone bytes", () => Buffer.from([0xe2, 0x82]).toString()],
);

export default cases;
