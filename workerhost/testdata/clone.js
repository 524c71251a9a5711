// Reads a body twice through clone().
export default {
  async fetch(request) {
    const copy = request.clone();
    const a = await request.text();
    const b = await copy.text();
    const res = new Response("abc");
    const res2 = res.clone();
    return Response.json({ same: a === b, len: a.length, res: await res.text(), res2: await res2.text(), used: request.bodyUsed });
  },
};
