// Rewrites headers: reads request headers, adds security headers, removes others.
export default {
  async fetch(request) {
    const seen = request.headers.get("x-forwarded-for") || "none";
    const res = new Response("headers rewritten", {
      headers: { "x-powered-by": "php", "content-type": "text/plain", "x-seen": seen },
    });
    const out = new Response(res.body, res);
    out.headers.delete("x-powered-by");
    out.headers.set("strict-transport-security", "max-age=63072000");
    out.headers.set("x-content-type-options", "nosniff");
    out.headers.append("x-multi", "a");
    out.headers.append("x-multi", "b");
    out.headers.set("content-length", "99999");
    out.headers.set("x-header-count", String([...request.headers.keys()].length));
    return out;
  },
};
