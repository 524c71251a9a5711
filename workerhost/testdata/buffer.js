// Uses node:buffer.
import { Buffer } from "node:buffer";
export default {
  async fetch(request) {
    const text = await request.text();
    const b64 = Buffer.from(text, "utf8").toString("base64");
    const back = Buffer.from(b64, "base64").toString();
    return Response.json({ b64, back, hex: Buffer.from("hi").toString("hex"), isBuffer: Buffer.isBuffer(Buffer.alloc(1)) });
  },
};
