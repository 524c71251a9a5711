// A worker on the nodejs_compat modules: node:crypto's createHash and
// createHmac, node:util's format and promisify, node:buffer's Buffer.
import { createHash, createHmac } from "node:crypto";
import { format, promisify } from "node:util";
import { Buffer } from "node:buffer";

const sleep = promisify((ms, cb) => setTimeout(() => cb(null, ms), ms));

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const body = request.method === "POST" ? await request.text() : url.searchParams.get("d") ?? "";
    const sig = createHmac("sha256", "secret").update(body).digest("hex");
    const tag = createHash("sha1").update(Buffer.from(body)).digest("base64");
    await sleep(1);
    return new Response(format("%s bytes, sig %s, b64 %s", Buffer.byteLength(body), sig, Buffer.from(body).toString("base64")), {
      headers: { etag: `"${tag}"` },
    });
  },
};
