// Protects a page with HTTP Basic authentication.
function unauthorized() {
  return new Response("authentication required", {
    status: 401,
    headers: { "www-authenticate": 'Basic realm="shop", charset="UTF-8"' },
  });
}
export default {
  async fetch(request, env) {
    const auth = request.headers.get("authorization") || "";
    const [scheme, encoded] = auth.split(" ");
    if (scheme !== "Basic" || !encoded) return unauthorized();
    const [user, pass] = atob(encoded).split(":");
    const enc = new TextEncoder();
    const a = enc.encode(`${user}:${pass}`);
    const b = enc.encode(`${env.USER}:${env.PASS}`);
    if (a.byteLength !== b.byteLength || !crypto.subtle.timingSafeEqual(a, b)) return unauthorized();
    return new Response(`welcome ${user}`, { headers: { "cache-control": "no-store" } });
  },
};
