// The rate-limiting binding, env.NAME.limit(options) → Promise<{success}>.
// Go calls this function once per runtime that has such a binding; it
// returns make(check, limit, period), which builds one binding object;
// check(key, limit, period) is the binding's native counter.
//
// The options are checked as workerd checks them where it hosts the
// binding itself (wrangler dev): only key, limit and period are allowed,
// key defaults to "" and must be a string, limit and period default to the
// binding's and must be numbers, period must be 10 or 60. Every failure is
// a rejection with an Error, as from workerd's async function.
(function () {
  "use strict";

  const optionNames = ["key", "limit", "period"];
  const periods = [10, 60];
  // Each binding's native check and defaults, out of the script's reach.
  const states = new WeakMap();

  function fail(message) {
    throw new Error(message);
  }

  // The class has workerd's name for it.
  class Ratelimit {
    // limit is an async function in workerd; this one settles its promise
    // the same way (a value, or the exception thrown while checking) at a
    // fraction of the cost of an async function in goja.
    limit(options) {
      try {
        return Promise.resolve(limitSync(this, options));
      } catch (e) {
        return Promise.reject(e);
      }
    }
  }

  // limitSync checks the options in workerd's order. The messages are
  // built only on failure: converting a valid value to a string never
  // throws, so this is not observable.
  function limitSync(self, options) {
    if (typeof options !== "object" || options === null) fail("invalid rate limit options");
    const names = Object.keys(options);
    let unknown = null;
    for (let i = 0; i < names.length; i++) {
      if (!optionNames.includes(names[i])) (unknown || (unknown = [])).push(names[i]);
    }
    if (unknown !== null) fail(`bad rate limit options: [${unknown.join(",")}]`);
    // The defaults are read only when an option is absent, as in a
    // destructuring assignment.
    const { key = "", limit = field(self, "limitVal"), period = field(self, "period") } = options;
    if (typeof key !== "string") fail(`invalid key: ${key}`);
    if (typeof limit !== "number") fail(`limit must be a number: ${limit}`);
    if (typeof period !== "number") fail(`period must be a number: ${period}`);
    if (!periods.includes(period)) fail(`unsupported period: ${period}`);
    const st = states.get(self);
    if (st === undefined) noProperty(field(self, "fetcher"), "fetch");
    return { success: st.check(key, limit, period) };
  }

  // field reads a binding's setting as workerd's binding object holds it
  // (limitVal, period, fetcher), so that limit called on something else
  // fails as it does there: on another object the settings are undefined,
  // on undefined or null reading them throws V8's TypeError.
  function field(self, name) {
    if (self === undefined || self === null) noProperty(self, name);
    const st = states.get(self);
    if (st === undefined) return undefined;
    return name === "limitVal" ? st.limit : st.period;
  }

  function noProperty(value, name) {
    throw new TypeError(`Cannot read properties of ${value} (reading '${name}')`);
  }

  return function make(check, limit, period) {
    const binding = new Ratelimit();
    states.set(binding, { check, limit, period });
    return binding;
  };
});
