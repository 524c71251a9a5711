// Calls env.LIMITER.limit with good and bad arguments and answers, as JSON,
// how each call went: {sync} when it threw synchronously, {name, message}
// when it rejected, {value} when it resolved. The differential test runs it
// in workerd and in Caddy, with LIMITER at limit 3 and period 60, and a
// fresh key prefix per request (?p=) so that counts start at zero; the
// cases without a key share the key "", so run it once per minute at most.
const withInheritedKey = Object.create({ key: "inherited" });
const withHiddenExtra = Object.defineProperty({ key: "hidden" }, "extra", { value: 1, enumerable: false });

function cases(p) {
  return [
    ["no argument", []],
    ["undefined", [undefined]],
    ["null", [null]],
    ["string", ["k"]],
    ["number", [42]],
    ["boolean", [true]],
    ["function", [function () {}]],
    ["empty object", [{}]],
    ["empty array", [[]]],
    ["array", [["a"]]],
    ["extra keys", [{ key: p + "x", extra: 1, other: 2 }]],
    ["key number", [{ key: 1 }]],
    ["key null", [{ key: null }]],
    ["key object", [{ key: {} }]],
    ["key String object", [{ key: new String("s") }]],
    ["key symbol", [{ key: Symbol("s") }]],
    ["key undefined", [{ key: undefined }]],
    ["key inherited", [withInheritedKey]],
    ["key with a hidden extra", [withHiddenExtra]],
    ["symbol-keyed extra", [{ key: p + "sym", [Symbol("s")]: 1 }]],
    ["limit string", [{ key: p + "a", limit: "5" }]],
    ["limit null", [{ key: p + "a", limit: null }]],
    ["limit object", [{ key: p + "a", limit: {} }]],
    ["period string", [{ key: p + "a", period: "10" }]],
    ["period 30", [{ key: p + "a", period: 30 }]],
    ["period 10.5", [{ key: p + "a", period: 10.5 }]],
    ["period -0", [{ key: p + "a", period: -0 }]],
    ["period NaN", [{ key: p + "a", period: NaN }]],
    ["period 10", [{ key: p + "p10", period: 10 }]],
    ["period 60.0", [{ key: p + "p60", period: 60.0 }]],
    ["first of three", [{ key: p + "n" }]],
    ["second of three", [{ key: p + "n" }]],
    ["third of three", [{ key: p + "n" }]],
    ["fourth of three", [{ key: p + "n" }]],
    ["other key", [{ key: p + "m" }]],
    ["limit 0", [{ key: p + "z", limit: 0 }]],
    ["limit -1", [{ key: p + "z", limit: -1 }]],
    ["limit NaN", [{ key: p + "nan", limit: NaN }]],
    ["limit Infinity", [{ key: p + "inf", limit: Infinity }]],
    ["limit 1.5 once", [{ key: p + "f", limit: 1.5 }]],
    ["limit 1.5 twice", [{ key: p + "f", limit: 1.5 }]],
    ["limit 1.5 thrice", [{ key: p + "f", limit: 1.5 }]],
    ["limit 5 after 4 calls of 3", [{ key: p + "n", limit: 5 }]],
    ["two arguments", [{ key: p + "two" }, { key: 1 }]],
    ["a throwing limit getter", [{ key: p + "g", get limit() { throw new RangeError("limit read"); } }]],
    ["a throwing key getter and an extra key", [{ get key() { throw new RangeError("key read"); }, extra: 1 }]],
    ["a key whose toString throws", [{ key: { toString() { throw new RangeError("toString called"); } } }]],
    ["called on undefined", [{ key: p + "u" }], undefined],
    ["called on undefined with every option", [{ key: p + "u", limit: 1, period: 10 }], undefined],
    ["called on another object", [{ key: p + "o" }], {}],
    ["called on another object with every option", [{ key: p + "o", limit: 1, period: 10 }], {}],
    ["lone surrogate once", [{ key: p + "\ud800", limit: 1 }]],
    ["lone surrogate twice", [{ key: p + "\ud800", limit: 1 }]],
    ["another lone surrogate", [{ key: p + "\ud801", limit: 1 }]],
    ["a lone low surrogate", [{ key: p + "\udc00", limit: 1 }]],
    ["U+FFFD itself", [{ key: p + "\ufffd", limit: 1 }]],
    ["a surrogate pair", [{ key: p + "\ud83d\ude00", limit: 1 }]],
    ["the same pair again", [{ key: p + "\ud83d\ude00", limit: 1 }]],
    ["empty key", [{ key: "" }]],
  ];
}

async function run(p, limiter) {
  const out = [];
  for (const c of cases(p)) {
    const [name, args] = c;
    const self = c.length > 2 ? c[2] : limiter;
    let promise;
    try {
      promise = limiter.limit.apply(self, args);
    } catch (e) {
      out.push({ name, sync: `${e.name}: ${e.message}` });
      continue;
    }
    try {
      const value = await promise;
      out.push({ name, value });
    } catch (e) {
      out.push({ name, rejected: `${e.constructor.name}: ${e.message}` });
    }
  }
  const l = limiter;
  out.push({ name: "shape", value: { type: typeof l, class: l.constructor.name, string: String(l), limit: typeof l.limit, length: l.limit.length } });
  return out;
}

export default {
  async fetch(request, env) {
    const p = new URL(request.url).searchParams.get("p") || "";
    return Response.json(await run(p, env.LIMITER), { headers: { "cache-control": "no-store" } });
  },
};
