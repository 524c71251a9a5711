// Reads a JSON body and answers with a computed result.
export default {
  async fetch(request) {
    if (request.method !== "POST") return new Response("method not allowed", { status: 405, headers: { allow: "POST" } });
    let data;
    try {
      data = await request.json();
    } catch (e) {
      return Response.json({ error: "invalid JSON: " + e.name }, { status: 400 });
    }
    const sum = (data.numbers || []).reduce((a, b) => a + b, 0);
    return Response.json({ sum, count: (data.numbers || []).length, bodyUsed: request.bodyUsed });
  },
};
