// The nodejs_compat modules node:crypto and node:util, built on first
// import (compile.go serves `import ... from "node:crypto"` from them)
// over the natives of node.go and the host's Web APIs.
(function (host, deps) {
  "use strict";

  const { Buffer, viewBytes, format, inspect } = deps;

  function invalidArgType(name, what) {
    const e = new TypeError(`The "${name}" argument must be ${what}.`);
    e.code = "ERR_INVALID_ARG_TYPE";
    return e;
  }
  function bytesOf(data, encoding, name) {
    if (typeof data === "string") {
      const b = host.decodeString(data, encoding === undefined || encoding === null ? "utf8" : String(encoding));
      if (b === null) throw unknownEncoding(encoding);
      return b;
    }
    if (ArrayBuffer.isView(data) || data instanceof ArrayBuffer) return viewBytes(data);
    throw invalidArgType(name, "of type string or an instance of Buffer, TypedArray, or DataView");
  }
  // nodeError makes an error of Node's kind: its class is named after its
  // code (as workerd's are) and extends base.
  const errorClasses = new Map();
  function nodeError(base, code, message) {
    let C = errorClasses.get(code);
    if (C === undefined) {
      C = { [code]: class extends base {} }[code];
      errorClasses.set(code, C);
    }
    const e = new C(message);
    e.code = code;
    return e;
  }
  function unknownEncoding(encoding) {
    const e = new TypeError(`Unknown encoding: ${encoding}`);
    e.code = "ERR_UNKNOWN_ENCODING";
    return e;
  }
  function output(bytes, encoding) {
    if (encoding === undefined || encoding === "buffer") return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const s = host.encodeBytes(bytes, String(encoding));
    if (s === null) throw unknownEncoding(encoding);
    return s;
  }

  // ---- node:crypto ---------------------------------------------------------

  const kHash = Symbol("hash");
  function digestUsed() { return nodeError(Error, "ERR_CRYPTO_HASH_FINALIZED", "Digest already called"); }
  class Hash {
    constructor(state) { this[kHash] = state; }
    update(data, encoding) {
      const st = this[kHash];
      if (st.done) throw digestUsed();
      host.hashUpdate(st.h, bytesOf(data, encoding, "data"));
      return this;
    }
    digest(encoding) {
      const st = this[kHash];
      if (st.done) throw digestUsed();
      st.done = true;
      return output(host.hashDigest(st.h), encoding);
    }
  }
  class Hmac extends Hash {}
  Hash.prototype.copy = function copy() {
    const st = this[kHash];
    if (st.done) throw digestUsed();
    return new Hash({ h: host.hashCopy(st.h), done: false });
  };
  function createHash(algorithm) {
    if (typeof algorithm !== "string") throw invalidArgType("algorithm", "of type string");
    const h = host.hashNew(algorithm, undefined);
    if (h === null) throw new Error("Digest method not supported");
    return new Hash({ h, done: false });
  }
  function createHmac(algorithm, key) {
    if (typeof algorithm !== "string") throw invalidArgType("hmac", "of type string");
    const k = key !== null && typeof key === "object" && key.type === "secret" && key.export ? key.export() : key;
    const h = host.hashNew(algorithm, bytesOf(k, undefined, "key"));
    if (h === null) throw new Error(`Invalid digest: ${algorithm}`);
    return new Hmac({ h, done: false });
  }
  function randomBytes(size, callback) {
    if (typeof size !== "number" || !(size >= 0 && size <= 2 ** 31 - 1) || size !== Math.floor(size)) {
      throw nodeError(RangeError, "ERR_OUT_OF_RANGE", `The value of "size" is out of range. It must be >= 0 && <= 2147483647. Received ${size}`);
    }
    const b = Buffer.alloc(size);
    for (let off = 0; off < size; off += 65536) crypto.getRandomValues(b.subarray(off, Math.min(size, off + 65536)));
    if (typeof callback === "function") {
      queueMicrotask(() => callback(null, b));
      return undefined;
    }
    return b;
  }
  function timingSafeEqual(a, b) {
    if (!ArrayBuffer.isView(a) && !(a instanceof ArrayBuffer)) throw invalidArgType("buf1", "an instance of ArrayBuffer, Buffer, TypedArray, or DataView");
    if (!ArrayBuffer.isView(b) && !(b instanceof ArrayBuffer)) throw invalidArgType("buf2", "an instance of ArrayBuffer, Buffer, TypedArray, or DataView");
    const x = viewBytes(a), y = viewBytes(b);
    if (x.length !== y.length) throw new TypeError("Input buffers must have the same byte length");
    return crypto.subtle.timingSafeEqual(x, y);
  }
  const nodeCrypto = {
    createHash, createHmac, Hash, Hmac, randomBytes, timingSafeEqual,
    randomUUID: () => crypto.randomUUID(),
    getRandomValues: (a) => crypto.getRandomValues(a),
    getHashes: () => ["md5", "sha1", "sha256", "sha384", "sha512"],
    webcrypto: crypto,
    subtle: crypto.subtle,
  };

  // ---- node:util -----------------------------------------------------------

  const customPromisify = Symbol.for("nodejs.util.promisify.custom");
  function promisify(original) {
    if (typeof original !== "function") throw invalidArgType("original", "of type function");
    if (typeof original[customPromisify] === "function") return original[customPromisify];
    function fn(...args) {
      return new Promise((resolve, reject) => {
        Reflect.apply(original, this, [...args, (err, value) => (err ? reject(err) : resolve(value))]);
      });
    }
    Object.setPrototypeOf(fn, Object.getPrototypeOf(original));
    Object.defineProperty(fn, customPromisify, { value: fn, configurable: true });
    return fn;
  }
  promisify.custom = customPromisify;
  function callbackify(original) {
    if (typeof original !== "function") throw invalidArgType("original", "of type function");
    return function (...args) {
      const cb = args.pop();
      if (typeof cb !== "function") throw invalidArgType("last argument", "of type function");
      Reflect.apply(original, this, args).then((v) => queueMicrotask(() => cb(null, v)), (e) => queueMicrotask(() => cb(e)));
    };
  }
  function inherits(ctor, superCtor) {
    Object.defineProperty(ctor, "super_", { value: superCtor, writable: true, configurable: true });
    Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
  }
  const tag = (v) => Object.prototype.toString.call(v);
  const TypedArray = Object.getPrototypeOf(Uint8Array);
  const types = {
    isDate: (v) => v instanceof Date,
    isRegExp: (v) => v instanceof RegExp,
    isPromise: (v) => v instanceof Promise,
    isMap: (v) => v instanceof Map,
    isSet: (v) => v instanceof Set,
    isWeakMap: (v) => v instanceof WeakMap,
    isWeakSet: (v) => v instanceof WeakSet,
    isArrayBuffer: (v) => v instanceof ArrayBuffer,
    isAnyArrayBuffer: (v) => v instanceof ArrayBuffer,
    isArrayBufferView: (v) => ArrayBuffer.isView(v),
    isTypedArray: (v) => v instanceof TypedArray,
    isUint8Array: (v) => v instanceof Uint8Array,
    isDataView: (v) => v instanceof DataView,
    isNativeError: (v) => v instanceof Error,
    isGeneratorFunction: (v) => typeof v === "function" && tag(v) === "[object GeneratorFunction]",
    isAsyncFunction: (v) => typeof v === "function" && tag(v) === "[object AsyncFunction]",
    isBoxedPrimitive: (v) => v instanceof Number || v instanceof String || v instanceof Boolean,
  };
  const nodeUtil = {
    format: (...args) => format(args),
    inspect: (v) => inspect(v, 1, new Set()),
    promisify, callbackify, inherits, types,
    deprecate: (fn) => fn,
    isArray: Array.isArray,
    TextEncoder, TextDecoder,
  };

  const modules = { crypto: nodeCrypto, util: nodeUtil };
  return (name) => modules[name];
});
