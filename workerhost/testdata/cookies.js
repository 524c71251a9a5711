// Reads the Cookie header and sets several cookies.
function parseCookies(header) {
  const out = {};
  for (const part of (header || "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}
export default {
  fetch(request) {
    const cookies = parseCookies(request.headers.get("cookie"));
    const visits = Number(cookies.visits || 0) + 1;
    const headers = new Headers({ "content-type": "text/plain" });
    headers.append("set-cookie", `visits=${visits}; Path=/; HttpOnly`);
    headers.append("set-cookie", "theme=dark; Path=/; SameSite=Lax");
    return new Response(`hello ${cookies.user || "anonymous"}, visit ${visits}, cookies ${headers.getSetCookie().length}`, { headers });
  },
};
