// Cancels a slow fetch with AbortController.
export default {
  async fetch(request, env) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 30);
    try {
      await fetch(`${env.UPSTREAM}/slow`, { signal: controller.signal });
      return new Response("not aborted");
    } catch (e) {
      return new Response(`aborted: ${e.name}`, { status: 504 });
    } finally {
      clearTimeout(timer);
    }
  },
};
