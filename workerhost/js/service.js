// The service binding, env.NAME.fetch(input, init) → Promise<Response>.
// Go calls this function once per runtime that has such a binding; it
// returns make(send), which builds one binding object; send(method, url,
// flatHeaders, body, callback) is the binding's native call, and callback
// (err, [status, statusText, flatHeaders, body]) runs when the other
// worker has answered.
//
// Only the public Request and Response are used: the call is the other
// worker's request as the script built it, whole (bodies are buffered),
// and its answer is a fresh Response. Redirects are not followed, as on
// Workers, where the binding hands the callee's response back as it is.
(function () {
  "use strict";

  const sends = new WeakMap();

  // Fetcher has workerd's name for a service binding's class.
  class Fetcher {
    fetch(input, init) {
      const send = sends.get(this);
      if (send === undefined) return Promise.reject(new TypeError("Illegal invocation"));
      return new Promise((resolve, reject) => {
        const req = new Request(input, init);
        const flat = [];
        for (const [k, v] of req.headers) flat.push(k, v);
        const body = req.body === null ? Promise.resolve(null) : req.arrayBuffer().then((b) => new Uint8Array(b));
        body.then((b) => {
          send(req.method, req.url, flat, b, (err, res) => {
            if (err !== null) {
              reject(new Error(err));
              return;
            }
            const headers = new Headers();
            const h = res[2];
            for (let i = 0; i + 1 < h.length; i += 2) headers.append(h[i], h[i + 1]);
            const nullBody = res[0] === 101 || res[0] === 204 || res[0] === 205 || res[0] === 304;
            resolve(new Response(nullBody ? null : res[3], { status: res[0], statusText: res[1], headers }));
          });
        }).catch(reject);
      });
    }
  }

  return function make(send) {
    const binding = new Fetcher();
    sends.set(binding, send);
    return binding;
  };
});
