// TypeScript with relative imports and types.
import { greet, mustBePositive, type Greeting } from "./lib/greet";
import config from "./config.json";

interface Env {
  GREETING: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const params = new URL(request.url).searchParams;
    if (params.has("n")) mustBePositive(Number(params.get("n")));
    const name = params.get("name") ?? "TypeScript";
    const g: Greeting = greet(env.GREETING, name);
    return Response.json({ ...g, app: config.app });
  },
};
