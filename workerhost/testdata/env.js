// Reads env vars and the version metadata.
export default {
  fetch(request, env) {
    const { id, tag, timestamp } = env.CF_VERSION_METADATA;
    return Response.json({ greeting: env.GREETING, id, tag, timestamp, cf: typeof request.cf });
  },
};
