// Fetches several upstream documents in parallel and merges them.
export default {
  async fetch(request, env) {
    const names = ["a", "b", "c"];
    const parts = await Promise.all(names.map((n) => fetch(`${env.UPSTREAM}/item/${n}`).then((r) => r.json())));
    return Response.json({ items: parts, count: parts.length });
  },
};
