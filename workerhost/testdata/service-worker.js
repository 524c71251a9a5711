// Service-worker syntax.
addEventListener("fetch", (event) => {
  event.respondWith(handle(event.request));
});
async function handle(request) {
  return new Response(`service worker ${request.method} ${new URL(request.url).pathname} ${typeof GREETING}`, {
    headers: { "x-syntax": "service-worker" },
  });
}
