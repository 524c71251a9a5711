// Returns JSON built from the request.
export default {
  async fetch(request) {
    const url = new URL(request.url);
    return Response.json({ path: url.pathname, q: url.searchParams.get("q"), method: request.method });
  },
};
