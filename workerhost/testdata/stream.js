// Streams a response body chunk by chunk with a TransformStream.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default {
  fetch(request, env, ctx) {
    const { readable, writable } = new TransformStream();
    const writer = writable.getWriter();
    const enc = new TextEncoder();
    const write = async () => {
      for (let i = 1; i <= 5; i++) {
        await writer.write(enc.encode(`chunk ${i}\n`));
        await sleep(2);
      }
      await writer.close();
    };
    ctx.waitUntil(write());
    return new Response(readable, { headers: { "content-type": "text/plain", "content-length": "1" } });
  },
};
