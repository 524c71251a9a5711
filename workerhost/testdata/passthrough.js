// Falls through to the origin when it fails.
export default {
  async fetch(request, env, ctx) {
    ctx.passThroughOnException();
    if (new URL(request.url).searchParams.has("fail")) {
      throw new Error("something broke");
    }
    return new Response("handled by the worker");
  },
};
