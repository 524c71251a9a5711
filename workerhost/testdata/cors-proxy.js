// A CORS proxy: forwards to env.UPSTREAM and adds CORS headers.
const cors = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET,HEAD,POST,OPTIONS",
  "access-control-max-age": "86400",
};
export default {
  async fetch(request, env) {
    if (request.method === "OPTIONS") {
      return new Response(null, {
        status: 204,
        headers: { ...cors, "access-control-allow-headers": request.headers.get("access-control-request-headers") || "" },
      });
    }
    const url = new URL(request.url);
    const target = env.UPSTREAM + url.pathname.replace(/^\/proxy/, "") + url.search;
    const upstream = await fetch(new Request(target, request), { cf: { cacheTtl: 60 } });
    const response = new Response(upstream.body, upstream);
    for (const [k, v] of Object.entries(cors)) response.headers.set(k, v);
    response.headers.append("vary", "Origin");
    return response;
  },
};
