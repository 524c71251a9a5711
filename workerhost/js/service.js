// The service binding, env.NAME.fetch(input, init) → Promise<Response>.
// Go calls this function once per runtime that has such a binding; it
// returns make(fetch), which builds one binding object around fetch, the
// prelude's fetch sending through the binding's native call instead of the
// network (see sendRequest in prelude.js).
(function () {
  "use strict";
  // goja's own Promise, whatever a script makes of the global one later.
  const Promise = globalThis.Promise;

  const fetches = new WeakMap();

  // Fetcher has workerd's name for a service binding's class.
  class Fetcher {
    fetch(input, init) {
      const fetch = fetches.get(this);
      if (fetch === undefined) return Promise.reject(new TypeError("Illegal invocation"));
      return fetch(input, init);
    }
  }

  return function make(fetch) {
    const binding = new Fetcher();
    fetches.set(binding, fetch);
    return binding;
  };
});
