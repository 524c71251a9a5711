// Redirects /old/* to /new/* keeping the query, and everything else to the home page.
export default {
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/old/")) {
      url.pathname = "/new/" + url.pathname.slice("/old/".length);
      return Response.redirect(url.toString(), 301);
    }
    return Response.redirect("https://example.com/", 302);
  },
};
