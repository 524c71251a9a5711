// Verifies HMAC-signed URLs: /sign?path=... signs, /verify?... checks.
const enc = new TextEncoder();
async function key(secret) {
  return crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}
const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const unb64url = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const k = await key(env.SECRET);
    if (url.pathname === "/sign") {
      const path = url.searchParams.get("path");
      const expires = url.searchParams.get("expires");
      const mac = await crypto.subtle.sign("HMAC", k, enc.encode(`${path}@${expires}`));
      return new Response(`${path}?expires=${expires}&sig=${b64url(mac)}`);
    }
    const expires = Number(url.searchParams.get("expires"));
    const sig = url.searchParams.get("sig") || "";
    if (!expires || Date.now() / 1000 > expires) return new Response("link expired", { status: 403 });
    const ok = await crypto.subtle.verify("HMAC", k, unb64url(sig), enc.encode(`${url.pathname}@${expires}`));
    return ok ? new Response("valid signature") : new Response("invalid signature", { status: 403 });
  },
};
