export default {
  async fetch(request, env) {
    return new Response(env.WORD);
  },
};
