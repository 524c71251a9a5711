// Proxies an upstream body through a TransformStream that upper-cases it.
export default {
  async fetch(request, env) {
    const upstream = await fetch(`${env.UPSTREAM}/text`);
    const dec = new TextDecoder();
    const enc = new TextEncoder();
    const upper = new TransformStream({
      transform(chunk, controller) { controller.enqueue(enc.encode(dec.decode(chunk, { stream: true }).toUpperCase())); },
    });
    return new Response(upstream.body.pipeThrough(upper), { status: upstream.status, headers: { "x-upstream-type": upstream.headers.get("content-type") } });
  },
};
