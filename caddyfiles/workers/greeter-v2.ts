// greeter v2: the same worker rewritten in TypeScript, with an import.
// Ask for /boom to see a source-mapped exception in Caddy's log.
import { greeting, type Greeting } from "./lib/greeting";

interface Env {
  GREETING: string;
  CF_VERSION_METADATA: { id: string; tag: string; timestamp: string };
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/boom") {
      throw new Error("v2 does not like /boom");
    }
    const body: Greeting = greeting(env.GREETING, url.searchParams.get("name") ?? "world");
    return new Response(JSON.stringify({ ...body, version: env.CF_VERSION_METADATA }), {
      headers: { "content-type": "application/json; charset=utf-8" },
    });
  },
};
