// A Hono app as published Workers use it: router, cors, etag,
// secure-headers, basic-auth, jwt and validator middleware, and Buffer.
import { Hono } from "hono";
import { cors } from "hono/cors";
import { etag } from "hono/etag";
import { secureHeaders } from "hono/secure-headers";
import { basicAuth } from "hono/basic-auth";
import { jwt, sign, verify } from "hono/jwt";
import { validator } from "hono/validator";
import { HTTPException } from "hono/http-exception";
import { Buffer } from "node:buffer";

const secret = "jwt-secret";
const app = new Hono();
app.use("*", cors({ origin: "https://example.org", allowHeaders: ["X-Custom"], exposeHeaders: ["X-Total"], maxAge: 600, credentials: true }));
app.use("*", secureHeaders());
app.use("/api/*", etag());
app.get("/", (c) => c.text("hello hono"));
app.get("/api/items/:id", (c) => {
  c.header("X-Total", "1");
  return c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null, tags: c.req.queries("tag") ?? [] });
});
app.post("/api/echo", async (c) => c.json({ got: await c.req.json(), type: c.req.header("content-type") }));
app.post("/api/form", async (c) => {
  const body = await c.req.parseBody();
  return c.json(body);
});
app.get(
  "/search",
  validator("query", (value, c) => {
    const q = value["q"];
    if (!q || typeof q !== "string") return c.text("missing q", 400);
    return { q: q.toUpperCase() };
  }),
  (c) => c.json(c.req.valid("query")),
);
app.use("/admin/*", basicAuth({ username: "ann", password: "s3cret" }));
app.get("/admin/panel", (c) => c.text("welcome ann"));
app.get("/token", async (c) => {
  const token = await sign({ sub: "ann", role: "admin" }, secret);
  const payload = await verify(token, secret, "HS256");
  return c.json({ token, payload });
});
app.use("/private/*", jwt({ secret, alg: "HS256" }));
app.get("/private/me", (c) => c.json(c.get("jwtPayload")));
app.get("/buffer", (c) => c.text(Buffer.from("hono ✓").toString("base64") + " " + Buffer.from("aG9ubw==", "base64").toString()));
app.get("/redirect", (c) => c.redirect("/api/items/1"));
app.get("/throw", () => {
  throw new Error("boom");
});
app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));
app.onError((err, c) => (err instanceof HTTPException ? err.getResponse() : c.text("error: " + err.message, 500)));

export default app;
