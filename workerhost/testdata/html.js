// Serves an HTML page.
const page = (name) => `<!doctype html><html><head><title>Hi</title></head><body><h1>Hello, ${name}!</h1></body></html>`;
export default {
  fetch(request) {
    const name = new URL(request.url).searchParams.get("name") || "world";
    return new Response(page(name.replace(/[<>&"]/g, "")), {
      headers: { "content-type": "text/html;charset=UTF-8" },
    });
  },
};
