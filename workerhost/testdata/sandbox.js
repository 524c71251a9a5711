// Checks that code generation and host access are refused.
function attempt(fn) {
  try {
    fn();
    return "allowed";
  } catch (e) {
    return e.name;
  }
}
export default {
  fetch() {
    return Response.json({
      eval: attempt(() => eval("1 + 1")),
      indirectEval: attempt(() => (0, globalThis.eval)("1 + 1")),
      newFunction: attempt(() => new Function("return 1")()),
      ctor: attempt(() => (function () {}).constructor("return 1")()),
      asyncCtor: attempt(() => (async function () {}).constructor("return 1")()),
      require: typeof globalThis.require,
      // nodejs_compat's process, which holds none of the host's environment.
      process: typeof process,
      processEnv: JSON.stringify(process.env),
      instanceofFunction: (() => {}) instanceof Function,
    });
  },
};
