// Web Crypto: the SubtleCrypto methods the host implements (digest, HMAC
// importKey/exportKey/sign/verify) with their argument checks and errors,
// and which algorithms exist.
const te = new TextEncoder();
const data = te.encode("data");
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
const hmacKey = (hash = "SHA-256", usages = ["sign", "verify"], extractable = true, raw = te.encode("key")) =>
  crypto.subtle.importKey("raw", raw, { name: "HMAC", hash }, extractable, usages);

const cases = [];
for (const alg of ["SHA-1", "SHA-256", "SHA-384", "SHA-512", "sha-256", { name: "SHA-256" }, "MD5"]) {
  cases.push(["digest " + JSON.stringify(alg), async () => hex(await crypto.subtle.digest(alg, data))]);
}
for (const hash of ["SHA-1", "SHA-256", "SHA-384", "SHA-512", "MD5"]) {
  cases.push(["hmac sign " + hash, async () => hex(await crypto.subtle.sign("HMAC", await hmacKey(hash), data))]);
}
cases.push(
  ["digest no data", () => crypto.subtle.digest("SHA-256")],
  ["digest string data", () => crypto.subtle.digest("SHA-256", "abc")],
  ["digest unknown", () => crypto.subtle.digest("SHA-3", data)],
  ["digest object without name", () => crypto.subtle.digest({}, data)],
  ["digest DataView", async () => hex(await crypto.subtle.digest("SHA-1", new DataView(data.buffer)))],
  ["digest result type", async () => Object.prototype.toString.call(await crypto.subtle.digest("SHA-1", data))],
  ["hmac key properties", async () => { const k = await hmacKey(); return [k.type, k.extractable, k.algorithm.name, k.algorithm.hash.name, k.algorithm.length, k.usages]; }],
  ["hmac key length given", async () => (await crypto.subtle.importKey("raw", te.encode("key"), { name: "HMAC", hash: "SHA-256", length: 24 }, true, ["sign"])).algorithm.length],
  ["hmac key hash object", async () => (await crypto.subtle.importKey("raw", te.encode("k"), { name: "hmac", hash: { name: "sha-512" } }, true, ["sign"])).algorithm.hash.name],
  ["hmac key empty", () => hmacKey("SHA-256", ["sign"], true, new Uint8Array(0))],
  ["hmac key no usages", () => hmacKey("SHA-256", [])],
  ["hmac key bad usage", () => hmacKey("SHA-256", ["encrypt"])],
  ["hmac key no hash", () => crypto.subtle.importKey("raw", data, { name: "HMAC" }, true, ["sign"])],
  ["hmac key unknown format", () => crypto.subtle.importKey("spki", data, { name: "HMAC", hash: "SHA-256" }, true, ["sign"])],
  ["hmac key jwk", async () => (await crypto.subtle.importKey("jwk", { kty: "oct", k: "a2V5", alg: "HS256" }, { name: "HMAC", hash: "SHA-256" }, true, ["sign"])).algorithm.length],
  ["hmac key jwk wrong kty", () => crypto.subtle.importKey("jwk", { kty: "RSA", k: "a2V5" }, { name: "HMAC", hash: "SHA-256" }, true, ["sign"])],
  ["hmac export raw", async () => hex(await crypto.subtle.exportKey("raw", await hmacKey()))],
  ["hmac export jwk", async () => JSON.stringify(await crypto.subtle.exportKey("jwk", await hmacKey()))],
  ["hmac export not extractable", async () => crypto.subtle.exportKey("raw", await hmacKey("SHA-256", ["sign"], false))],
  ["hmac verify", async () => { const k = await hmacKey(); const sig = await crypto.subtle.sign("HMAC", k, data); return [await crypto.subtle.verify("HMAC", k, sig, data), await crypto.subtle.verify("HMAC", k, sig, te.encode("other")), await crypto.subtle.verify("HMAC", k, sig.slice(1), data)]; }],
  ["hmac sign with verify-only key", async () => crypto.subtle.sign("HMAC", await hmacKey("SHA-256", ["verify"]), data)],
  ["hmac sign with wrong algorithm", async () => crypto.subtle.sign("RSASSA-PKCS1-v1_5", await hmacKey(), data)],
  ["sign with a non-key", () => crypto.subtle.sign("HMAC", {}, data)],
  ["CryptoKey toStringTag", async () => Object.prototype.toString.call(await hmacKey())],
  ["CryptoKey constructor", () => new CryptoKey()],
  ["generateKey HMAC", async () => { const k = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]); return [k.type, k.algorithm.length]; }],
  ["generateKey AES-GCM", async () => (await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, true, ["encrypt"])).algorithm.name],
  ["encrypt AES-GCM", async () => { const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt"]); return hex(await crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, k, data)); }],
  ["deriveBits PBKDF2", async () => { const k = await crypto.subtle.importKey("raw", te.encode("pw"), "PBKDF2", false, ["deriveBits"]); return hex(await crypto.subtle.deriveBits({ name: "PBKDF2", salt: te.encode("salt"), iterations: 1000, hash: "SHA-256" }, k, 128)); }],
  ["deriveBits HKDF", async () => { const k = await crypto.subtle.importKey("raw", te.encode("ikm"), "HKDF", false, ["deriveBits"]); return hex(await crypto.subtle.deriveBits({ name: "HKDF", salt: te.encode("salt"), info: te.encode("info"), hash: "SHA-256" }, k, 128)); }],
  ["generateKey ECDSA", async () => (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])).privateKey.type],
  ["generateKey Ed25519", async () => (await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"])).privateKey.algorithm.name],
  ["AES-GCM round trip with additional data", async () => { const k = await crypto.subtle.importKey("raw", new Uint8Array(32).fill(7), { name: "AES-GCM" }, true, ["encrypt", "decrypt"]); const alg = { name: "AES-GCM", iv: new Uint8Array(12).fill(1), additionalData: te.encode("aad") }; const ct = await crypto.subtle.encrypt(alg, k, data); return [hex(ct), new TextDecoder().decode(await crypto.subtle.decrypt(alg, k, ct))]; }],
  ["AES-GCM tag length 96", async () => { const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt"]); return hex(await crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12), tagLength: 96 }, k, data)); }],
  ["AES-GCM 16-byte iv", async () => { const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt"]); return hex(await crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(16) }, k, data)); }],
  ["AES-GCM tampered", async () => { const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt", "decrypt"]); const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, k, data)); ct[0] ^= 1; return crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, k, ct); }],
  ["AES-GCM bad key length", () => crypto.subtle.importKey("raw", new Uint8Array(10), "AES-GCM", false, ["encrypt"])],
  ["AES-GCM bad tag length", async () => { const k = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt"]); return crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12), tagLength: 100 }, k, data); }],
  ["AES-GCM key properties", async () => { const k = await crypto.subtle.importKey("raw", new Uint8Array(24), "aes-gcm", true, ["decrypt"]); return [k.algorithm.name, k.algorithm.length, k.usages]; }],
  ["AES-GCM export jwk", async () => JSON.stringify(await crypto.subtle.exportKey("jwk", await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", true, ["encrypt", "decrypt"])))],
  ["AES-GCM encrypt with decrypt-only key", async () => crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["decrypt"]), data)],
  ["AES-GCM sign", async () => crypto.subtle.sign("AES-GCM", await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-GCM", false, ["encrypt"]), data)],
  ["PBKDF2 extractable", () => crypto.subtle.importKey("raw", te.encode("pw"), "PBKDF2", true, ["deriveBits"])],
  ["PBKDF2 SHA-512 256 bits", async () => { const k = await crypto.subtle.importKey("raw", te.encode("pw"), "PBKDF2", false, ["deriveBits"]); return hex(await crypto.subtle.deriveBits({ name: "PBKDF2", salt: new Uint8Array(8), iterations: 10, hash: "SHA-512" }, k, 256)); }],
  ["PBKDF2 zero iterations", async () => { const k = await crypto.subtle.importKey("raw", te.encode("pw"), "PBKDF2", false, ["deriveBits"]); return crypto.subtle.deriveBits({ name: "PBKDF2", salt: new Uint8Array(8), iterations: 0, hash: "SHA-256" }, k, 256); }],
  ["PBKDF2 odd length", async () => { const k = await crypto.subtle.importKey("raw", te.encode("pw"), "PBKDF2", false, ["deriveBits"]); return crypto.subtle.deriveBits({ name: "PBKDF2", salt: new Uint8Array(8), iterations: 1, hash: "SHA-256" }, k, 12); }],
  ["PBKDF2 deriveKey HMAC", async () => { const k = await crypto.subtle.importKey("raw", te.encode("pw"), "PBKDF2", false, ["deriveKey"]); const d = await crypto.subtle.deriveKey({ name: "PBKDF2", salt: new Uint8Array(8), iterations: 5, hash: "SHA-256" }, k, { name: "HMAC", hash: "SHA-256", length: 256 }, true, ["sign"]); return [d.algorithm.length, hex(await crypto.subtle.exportKey("raw", d))]; }],
  ["PBKDF2 deriveKey AES", async () => { const k = await crypto.subtle.importKey("raw", te.encode("pw"), "PBKDF2", false, ["deriveKey"]); const d = await crypto.subtle.deriveKey({ name: "PBKDF2", salt: new Uint8Array(8), iterations: 5, hash: "SHA-1" }, k, { name: "AES-GCM", length: 128 }, true, ["encrypt"]); return hex(await crypto.subtle.exportKey("raw", d)); }],
  ["HKDF empty salt and info", async () => { const k = await crypto.subtle.importKey("raw", te.encode("ikm"), "HKDF", false, ["deriveBits"]); return hex(await crypto.subtle.deriveBits({ name: "HKDF", salt: new Uint8Array(0), info: new Uint8Array(0), hash: "SHA-1" }, k, 160)); }],
  ["HKDF without info", async () => { const k = await crypto.subtle.importKey("raw", te.encode("ikm"), "HKDF", false, ["deriveBits"]); return crypto.subtle.deriveBits({ name: "HKDF", salt: new Uint8Array(0), hash: "SHA-256" }, k, 128); }],
  ["deriveBits with sign key", async () => crypto.subtle.deriveBits({ name: "HKDF", salt: new Uint8Array(0), info: new Uint8Array(0), hash: "SHA-256" }, await hmacKey(), 128)],
  ["generateKey HMAC length", async () => (await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-512", length: 128 }, true, ["sign"])).algorithm.length],
  ["generateKey HMAC SHA-384 default length", async () => (await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-384" }, true, ["sign"])).algorithm.length],
  ["generateKey AES-GCM bad length", () => crypto.subtle.generateKey({ name: "AES-GCM", length: 100 }, true, ["encrypt"])],
  ["generateKey no usages", () => crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, [])],
  ["wrapKey", async () => crypto.subtle.wrapKey("raw", await hmacKey(), await hmacKey(), "AES-KW")],
  ["subtle methods", () => ["encrypt", "decrypt", "sign", "verify", "digest", "generateKey", "deriveKey", "deriveBits", "importKey", "exportKey", "wrapKey", "unwrapKey", "timingSafeEqual"].map((m) => typeof crypto.subtle[m])],
);

export default cases;
