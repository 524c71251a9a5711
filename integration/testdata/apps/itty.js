// An itty-router app: AutoRouter with its cors, json and error helpers.
import { AutoRouter, cors, error, json } from "itty-router";

const { preflight, corsify } = cors({ origin: "*", allowMethods: "GET, POST", maxAge: 300 });
const router = AutoRouter({ before: [preflight], finally: [corsify] });

router.get("/", () => "itty home");
router.get("/items/:id", ({ params, query }) => ({ id: params.id, query }));
router.post("/echo", async (request) => ({ got: await request.json() }));
router.get("/text", () => new Response("plain", { headers: { "x-a": "1" } }));
router.get("/json", () => json({ list: [1, 2, 3] }, { status: 201 }));
router.get("/teapot", () => error(418, "short and stout"));
router.get("/url", (request) => {
  const url = new URL(request.url);
  url.searchParams.append("added", "a b");
  url.searchParams.sort();
  return { href: url.href, origin: url.origin, params: [...url.searchParams] };
});

export default router;
