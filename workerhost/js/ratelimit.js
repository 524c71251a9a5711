// The rate-limiting binding, env.NAME.limit(options) → Promise<{success}>.
// Go calls this function once per runtime that has such a binding; it
// returns make(check, limit, period), which builds one binding object;
// check(key, limit, period) is the binding's native counter.
//
// The options are checked as workerd checks them where it hosts the
// binding itself (wrangler dev): only key, limit and period are allowed,
// key defaults to "" and must be a string, limit and period default to the
// binding's and must be numbers, period must be 10 or 60. Every failure is
// a rejection with an Error, since limit is an async function there too.
(function () {
  "use strict";

  const optionNames = ["key", "limit", "period"];
  const periods = [10, 60];
  const kState = Symbol("ratelimit");

  function assert(ok, message) {
    if (!ok) throw new Error(message);
  }

  class RateLimit {
    async limit(options) {
      assert(typeof options === "object" && options !== null, "invalid rate limit options");
      const unknown = Object.keys(options).filter((name) => !optionNames.includes(name));
      assert(unknown.length === 0, `bad rate limit options: [${unknown.join(",")}]`);
      // The defaults are read only when an option is absent, as in a
      // destructuring assignment.
      const { key = "", limit = this[kState].limit, period = this[kState].period } = options;
      assert(typeof key === "string", `invalid key: ${key}`);
      assert(typeof limit === "number", `limit must be a number: ${limit}`);
      assert(typeof period === "number", `period must be a number: ${period}`);
      assert(periods.includes(period), `unsupported period: ${period}`);
      return { success: this[kState].check(key, limit, period) };
    }
  }

  return function make(check, limit, period) {
    const binding = new RateLimit();
    Object.defineProperty(binding, kState, { value: Object.freeze({ check, limit, period }) });
    return binding;
  };
});
