package workerhost

import (
	"encoding/json"
	"testing"
)

// webAPIFuzzWorker calls every Web API that reaches a host native with the
// string it is posted (as UTF-16 code units, so that lone surrogates get
// through) and variations of it. Any JavaScript exception is fine; a Go
// panic is not.
const webAPIFuzzWorker = `
import { createHash, createHmac } from "node:crypto";
import { format } from "node:util";
const attempts = [];
function attempt(f) { try { const r = f(); if (r && typeof r.then === "function") attempts.push(r.catch(() => {})); } catch (e) {} }
export default {
  async fetch(request) {
    const units = await request.json();
    const s = String.fromCharCode(...units);
    const bytes = new Uint8Array(units.length * 2);
    units.forEach((u, i) => { bytes[2 * i] = u & 255; bytes[2 * i + 1] = u >> 8; });
    for (const base of [undefined, "http://h/a/b", "file:///c:/x", "non-special://h/p", s]) {
      attempt(() => new URL(s, base));
      attempt(() => URL.canParse(s, base));
      attempt(() => URL.parse(s, base));
    }
    attempt(() => new URL("http://h/" + s));
    attempt(() => new URL("http://" + s + "/"));
    attempt(() => new URL("http://[" + s + "]/"));
    for (const k of ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"]) {
      for (const href of ["http://u:p@h:8/a?q#f", "mailto:x", "file:///x", "x:/y"]) {
        attempt(() => { const u = new URL(href); u[k] = s; return [u.href, u.origin, u.searchParams.toString()]; });
      }
    }
    attempt(() => { const p = new URLSearchParams(s); p.append(s, s); p.sort(); p.set(s, s); p.delete(s, s); return [p.toString(), p.get(s), p.getAll(s), [...p]]; });
    attempt(() => new URLSearchParams({ [s]: s }).toString());
    attempt(() => new URLSearchParams([[s, s]]).toString());
    attempt(() => { const u = new URL("http://h/?" + s); u.searchParams.sort(); u.searchParams.append(s, s); return u.href; });
    attempt(() => { const h = new Headers([[s, s]]); h.append(s, s); return [...h, h.get(s), h.has(s)]; });
    attempt(() => { const h = new Headers([["a", "1"], ["set-cookie", s]]); h.set(s, s); h.delete(s); h.forEach(() => {}); return [h.getSetCookie(), [...new Headers(h).values()]]; });
    attempt(() => new Headers({ a: s }).get("a"));
    attempt(() => new Response("x", { headers: { [s]: s } }));
    attempt(() => new Response(s, { statusText: s, status: units.length ? units[0] : 200 }).text());
    attempt(() => Response.redirect(s));
    attempt(() => Response.json(s).text());
    attempt(() => new Request(s));
    attempt(() => new Request("http://h/", { method: s, headers: [["x-a", s]], redirect: s }));
    attempt(() => new Request("http://h/", { method: "POST", body: s }).formData());
    attempt(() => new Response(bytes, { headers: { "content-type": "multipart/form-data; boundary=" + s } }).formData());
    attempt(() => new Response(s, { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData());
    attempt(() => new Response(bytes).text());
    attempt(() => new Response(bytes).json());
    for (const label of ["utf-8", "utf-16le", "utf-16be", "windows-1252", "shift_jis", "gb18030", "iso-2022-jp", "big5", "euc-kr", "x-user-defined", s]) {
      attempt(() => new TextDecoder(label).decode(bytes));
      attempt(() => new TextDecoder(label, { fatal: true }).decode(bytes));
      attempt(() => { const d = new TextDecoder(label); const half = bytes.length >> 1; return d.decode(bytes.subarray(0, half), { stream: true }) + d.decode(bytes.subarray(half)); });
    }
    attempt(() => new TextEncoder().encode(s));
    attempt(() => new TextEncoder().encodeInto(s, new Uint8Array(units.length % 7)));
    attempt(() => atob(s));
    attempt(() => btoa(s));
    attempt(() => btoa(atob(s)));
    attempt(() => crypto.subtle.digest(s, bytes));
    for (const alg of ["SHA-1", "SHA-256", "SHA-384", "SHA-512", "MD5"]) {
      attempt(() => crypto.subtle.digest(alg, bytes));
      attempt(() => crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: alg }, true, ["sign", "verify"])
        .then((k) => crypto.subtle.sign("HMAC", k, bytes).then((sig) => crypto.subtle.verify("HMAC", k, sig, bytes))));
    }
    attempt(() => crypto.subtle.importKey("jwk", { kty: "oct", k: s }, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]));
    attempt(() => crypto.subtle.importKey("raw", bytes, "AES-GCM", false, ["encrypt", "decrypt"])
      .then((k) => crypto.subtle.encrypt({ name: "AES-GCM", iv: bytes, additionalData: bytes, tagLength: units.length }, k, bytes)
        .then((ct) => crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes }, k, ct))));
    attempt(() => crypto.subtle.importKey("raw", bytes, "PBKDF2", false, ["deriveBits"])
      .then((k) => crypto.subtle.deriveBits({ name: "PBKDF2", salt: bytes, iterations: 1 + (units.length % 3), hash: s }, k, 8 * (units.length % 40))));
    attempt(() => crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveBits"])
      .then((k) => crypto.subtle.deriveBits({ name: "HKDF", salt: bytes, info: bytes, hash: "SHA-256" }, k, 8 * units.length)));
    attempt(() => crypto.subtle.generateKey({ name: s, hash: s, length: units.length }, true, ["sign", "encrypt"]));
    attempt(() => crypto.subtle.timingSafeEqual(bytes, bytes));
    attempt(() => crypto.getRandomValues(new Uint8Array(units.length)));
    attempt(() => new Blob([s, bytes], { type: s }).text());
    attempt(() => { const fd = new FormData(); fd.append(s, s); fd.append(s, new Blob([bytes]), s); return new Response(fd).formData(); });
    for (const f of ["gzip", "deflate", "deflate-raw", s]) {
      attempt(() => new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream(f))).arrayBuffer());
      attempt(() => new Response(new Blob([s]).stream().pipeThrough(new CompressionStream(f))).arrayBuffer());
    }
    for (const enc of ["utf8", "hex", "base64", "base64url", "latin1", "ucs2", s]) {
      attempt(() => createHash("sha256").update(s, enc).digest(enc));
      attempt(() => createHmac(s, s).update(bytes).digest(enc));
      attempt(() => Buffer.from(s, enc).toString(enc));
    }
    attempt(() => format(s, s, bytes));
    attempt(() => structuredClone({ s, bytes }));
    attempt(() => new DOMException(s, s).code);
    attempt(() => new Event(s));
    attempt(() => Buffer.from(s, "base64").toString("hex"));
    attempt(() => Buffer.from(s).toString("latin1"));
    attempt(() => console.log(s, bytes));
    await Promise.all(attempts);
    attempts.length = 0;
    return new Response("done");
  },
};`

// FuzzWebAPIs feeds arbitrary strings, lone surrogates included, to every
// Web API reachable from JavaScript that calls into Go (URL,
// URLSearchParams, Headers, Request, Response, TextDecoder, TextEncoder,
// atob, btoa, crypto, Blob, FormData, CompressionStream and
// DecompressionStream, node:crypto, node:util): each may throw a JavaScript error,
// but none may reach a Go panic or fail the request.
func FuzzWebAPIs(f *testing.F) {
	for _, s := range []string{"", "http://h/", "\xd8\x00", "\x00\xdc", "a=1&b=%zz+%", "[::1]", "%", "\xff\xfe\xff\xff", "utf-16le", "xn--", "aGk=", "=\x00\x01"} {
		f.Add([]byte(s))
	}
	w := newInline(f, webAPIFuzzWorker, generousCPU)
	f.Fuzz(func(t *testing.T, data []byte) {
		units := make([]uint16, 0, len(data)/2+1)
		for i := 0; i < len(data); i += 2 {
			u := uint16(data[i])
			if i+1 < len(data) {
				u |= uint16(data[i+1]) << 8
			}
			units = append(units, u)
		}
		body, _ := json.Marshal(units)
		resp, text, res, err := do(t, w, "POST", "http://example.com/", string(body))
		if err != nil || resp.StatusCode != 200 || text != "done" || res.Outcome != OutcomeOK {
			t.Fatalf("status %d, body %q, outcome %s, err %v, exceptions %+v", resp.StatusCode, text, res.Outcome, err, res.Exceptions)
		}
	})
}
