// The conformance suite: small cases written from the WHATWG URL, Fetch,
// Encoding, Streams and DOM standards, WebIDL, Web Crypto and Node's
// documentation (node:crypto, node:util, node:buffer, node:events,
// node:stream), one module per API
// family. GET /<family> runs that family's cases and answers a JSON object
// of case name → what the case observed, rendered by show. The same script
// runs in the worker host (workerhost/conformance_test.go) and in workerd
// (integration/conformance_test.go), whose answers are kept in workerd.json;
// differences.json lists, with the reason, the cases where the host knowingly
// answers otherwise. Each case is called with the incoming request, a GET.
// After adding cases, record workerd's answers with
//
//	go test ./integration -run TestWorkerdConformance -update-conformance
import url from "./url.js";
import search from "./search.js";
import events from "./events.js";
import encoding from "./encoding.js";
import fetchapi from "./fetch.js";
import streams from "./streams.js";
import misc from "./misc.js";
import node from "./node.js";
import nodestream from "./nodestream.js";
import webcrypto from "./webcrypto.js";

const families = { url, search, events, encoding, fetch: fetchapi, streams, misc, node, nodestream, webcrypto };

// show renders a value so that two runtimes' answers compare as strings.
function show(v) {
  switch (typeof v) {
    case "undefined": return "undefined";
    case "string": return JSON.stringify(v);
    case "number": return Object.is(v, -0) ? "-0" : String(v);
    case "boolean": case "bigint": return String(v);
    case "symbol": return v.toString();
    case "function": return "function";
  }
  if (v === null) return "null";
  if (Array.isArray(v)) return "[" + v.map(show).join(",") + "]";
  if (v instanceof ArrayBuffer) return "ArrayBuffer[" + new Uint8Array(v).join(",") + "]";
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return v.constructor.name + "[" + Array.prototype.join.call(v, ",") + "]";
  return Object.prototype.toString.call(v);
}

// thrown names what a case threw: the error's class, and for a
// DOMException its name and code.
function thrown(e) {
  if (e instanceof DOMException) return `throws DOMException ${e.name} ${e.code}`;
  if (e instanceof Error) return `throws ${e.constructor.name}`;
  return "throws " + show(e);
}

// kHung marks a case that did not settle in 200ms.
const kHung = Symbol("hung");

export async function run(family, request) {
  const cases = families[family];
  const out = {};
  if (!cases) return out;
  for (const [name, fn] of cases) {
    if (Object.prototype.hasOwnProperty.call(out, name)) throw new Error("duplicate case " + family + "/" + name);
    let timer;
    const hang = new Promise((resolve) => { timer = setTimeout(() => resolve(kHung), 200); });
    try {
      const v = await Promise.race([Promise.resolve(request).then(fn), hang]);
      out[name] = v === kHung ? "hangs" : show(v);
    } catch (e) {
      out[name] = thrown(e);
    } finally {
      clearTimeout(timer);
    }
  }
  return out;
}

export default {
  async fetch(request) {
    const family = new URL(request.url).pathname.slice(1);
    return new Response(JSON.stringify(await run(family, request)), { headers: { "content-type": "application/json" } });
  },
};
