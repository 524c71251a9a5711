// An API that rate-limits each client with Cloudflare's binding: at most 10
// requests in any 10-second window and 100 a minute. The client is the IP
// address Caddy puts in X-Client-IP (see ratelimit.Caddyfile).
export default {
  async fetch(request, env) {
    const key = request.headers.get("x-client-ip") ?? "unknown";
    const burst = await env.BURST.limit({ key });
    const minute = burst.success && (await env.PER_MINUTE.limit({ key }));
    if (!burst.success || !minute.success) {
      return new Response("too many requests\n", {
        status: 429,
        headers: { "retry-after": burst.success ? "60" : "10" },
      });
    }
    return Response.json({ client: key, version: env.CF_VERSION_METADATA.tag });
  },
};
