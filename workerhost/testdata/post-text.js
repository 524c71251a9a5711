// Reads a text body.
export default {
  async fetch(request) {
    const text = await request.text();
    return new Response(text.toUpperCase(), { headers: { "x-length": String(text.length) } });
  },
};
