// greeter v1: an ES-module Worker, as on Cloudflare.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const name = url.searchParams.get("name") ?? "world";
    console.log(`greeting ${name}`);
    return Response.json({
      message: `${env.GREETING}, ${name}!`,
      version: env.CF_VERSION_METADATA,
    });
  },
};
