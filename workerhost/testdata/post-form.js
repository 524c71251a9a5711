// Reads an urlencoded or multipart form.
export default {
  async fetch(request) {
    const form = await request.formData();
    const out = {};
    for (const [k, v] of form) {
      out[k] = typeof v === "string" ? v : { file: v.name, type: v.type, size: v.size, text: await v.text() };
    }
    return Response.json(out);
  },
};
