// A/B test by cookie: new visitors get a random group, kept in a cookie.
const NAME = "ab-group";
export default {
  fetch(request) {
    const cookie = request.headers.get("cookie") || "";
    const m = cookie.match(/(?:^|;\s*)ab-group=(control|test)/);
    let group = m && m[1];
    const fresh = !group;
    if (!group) group = crypto.getRandomValues(new Uint8Array(1))[0] < 128 ? "control" : "test";
    const res = new Response(`group ${group}`, { headers: { "x-ab-group": group } });
    if (fresh) res.headers.append("set-cookie", `${NAME}=${group}; Path=/`);
    return res;
  },
};
