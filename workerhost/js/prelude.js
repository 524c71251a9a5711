// The Web platform APIs of the worker host that are simplest to write in
// JavaScript. It runs once per runtime, before the worker script, and is
// called with `host`, the runtime's native Go functions. It returns the
// functions the Go side calls per request.
(function (host, global) {
  "use strict";
  // The host's promises are goja's own, as workerd's are V8's, whatever a
  // script makes of the global Promise later.
  const Promise = global.Promise;

  const kState = Symbol("state");
  const kGuard = Symbol("guard");
  const kNative = Symbol("native body");
  // Bytes is goja's own Uint8Array: the global one becomes a wrapper
  // (below), which the host's own byte views need not go through.
  const Bytes = Uint8Array;
  const utf8 = { encode: (s) => new Bytes(host.encodeUTF8(s)) };

  function define(name, value) {
    Object.defineProperty(global, name, { value, writable: true, configurable: true, enumerable: false });
  }

  // ---- DOMException, Event, EventTarget ---------------------------------

  // WebIDL's DOMException names that have a legacy code, with the name of
  // their constant: the code is the position in this list, from 1.
  const domLegacy = [
    ["IndexSizeError", "INDEX_SIZE_ERR"], ["DOMStringSizeError", "DOMSTRING_SIZE_ERR"], ["HierarchyRequestError", "HIERARCHY_REQUEST_ERR"],
    ["WrongDocumentError", "WRONG_DOCUMENT_ERR"], ["InvalidCharacterError", "INVALID_CHARACTER_ERR"], ["NoDataAllowedError", "NO_DATA_ALLOWED_ERR"],
    ["NoModificationAllowedError", "NO_MODIFICATION_ALLOWED_ERR"], ["NotFoundError", "NOT_FOUND_ERR"], ["NotSupportedError", "NOT_SUPPORTED_ERR"],
    ["InUseAttributeError", "INUSE_ATTRIBUTE_ERR"], ["InvalidStateError", "INVALID_STATE_ERR"], ["SyntaxError", "SYNTAX_ERR"],
    ["InvalidModificationError", "INVALID_MODIFICATION_ERR"], ["NamespaceError", "NAMESPACE_ERR"], ["InvalidAccessError", "INVALID_ACCESS_ERR"],
    ["ValidationError", "VALIDATION_ERR"], ["TypeMismatchError", "TYPE_MISMATCH_ERR"], ["SecurityError", "SECURITY_ERR"],
    ["NetworkError", "NETWORK_ERR"], ["AbortError", "ABORT_ERR"], ["URLMismatchError", "URL_MISMATCH_ERR"],
    ["QuotaExceededError", "QUOTA_EXCEEDED_ERR"], ["TimeoutError", "TIMEOUT_ERR"], ["InvalidNodeTypeError", "INVALID_NODE_TYPE_ERR"],
    ["DataCloneError", "DATA_CLONE_ERR"],
  ];
  const domCodes = {};
  for (let i = 0; i < domLegacy.length; i++) domCodes[domLegacy[i][0]] = i + 1;
  // DOMException is shaped as workerd's: an object inheriting from
  // Error.prototype (not an Error exotic object, so it is tagged
  // "[object Object]"), whose code, name, message and stack are own,
  // enumerable and read-only.
  class DOMException {
    constructor(message = "", name = "Error") {
      message = String(message);
      name = String(name);
      const stack = new Error(message).stack;
      Object.defineProperties(this, {
        code: { value: domCodes[name] || 0, enumerable: true },
        name: { value: name, enumerable: true },
        message: { value: message, enumerable: true },
        stack: { value: typeof stack === "string" ? stack.replace(/^Error/, name) : `${name}: ${message}`, enumerable: true },
      });
    }
  }
  Object.setPrototypeOf(DOMException.prototype, Error.prototype);
  for (let i = 0; i < domLegacy.length; i++) {
    Object.defineProperty(DOMException, domLegacy[i][1], { value: i + 1, enumerable: true });
    Object.defineProperty(DOMException.prototype, domLegacy[i][1], { value: i + 1, enumerable: true });
  }

  const kEvent = Symbol("event");
  const eventPhases = { NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 };
  class Event {
    constructor(type, init) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
      if (init === undefined || init === null) init = {};
      else if (typeof init !== "object" && typeof init !== "function") throw new TypeError("Failed to construct 'Event': The provided value is not of type 'EventInit'.");
      this[kEvent] = {
        type: String(type), bubbles: !!init.bubbles, cancelable: !!init.cancelable, composed: !!init.composed,
        canceled: false, stop: false, stopImmediate: false, passive: false, dispatching: false, trusted: false,
        target: undefined, currentTarget: undefined, phase: 0, timeStamp: Date.now(),
      };
    }
    get type() { return this[kEvent].type; }
    get bubbles() { return this[kEvent].bubbles; }
    get cancelable() { return this[kEvent].cancelable; }
    get composed() { return this[kEvent].composed; }
    get defaultPrevented() { return this[kEvent].canceled; }
    get returnValue() { return !this[kEvent].canceled; }
    get isTrusted() { return this[kEvent].trusted; }
    get eventPhase() { return this[kEvent].phase; }
    get target() { return this[kEvent].target; }
    get srcElement() { return this[kEvent].target; }
    get currentTarget() { return this[kEvent].currentTarget; }
    get timeStamp() { return this[kEvent].timeStamp; }
    get cancelBubble() { return this[kEvent].stop; }
    set cancelBubble(v) { if (v) this[kEvent].stop = true; }
    composedPath() {
      const st = this[kEvent];
      return st.dispatching ? [st.currentTarget] : [];
    }
    preventDefault() {
      const st = this[kEvent];
      if (st.cancelable && !st.passive) st.canceled = true;
    }
    stopPropagation() { this[kEvent].stop = true; }
    stopImmediatePropagation() {
      const st = this[kEvent];
      st.stop = st.stopImmediate = true;
    }
  }
  for (const k of Object.keys(eventPhases)) {
    Object.defineProperty(Event, k, { value: eventPhases[k], enumerable: true });
    Object.defineProperty(Event.prototype, k, { value: eventPhases[k], enumerable: true });
  }
  function trustedEvent(type) {
    const e = new Event(type);
    e[kEvent].trusted = true;
    return e;
  }

  class CustomEvent extends Event {
    constructor(type, init) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'CustomEvent': 1 argument required, but only 0 present.");
      super(type, init);
      this[kEvent].detail = init === undefined || init === null ? undefined : init.detail;
    }
    get detail() { return this[kEvent].detail; }
  }

  // An EventTarget's kListeners maps each type to its listeners in the
  // order they were added: {callback, once, passive, removed}. Like
  // workerd's, it has no capture phase: asking for one throws.
  const kListeners = Symbol("listeners");
  function listenersOf(t) {
    let m = t[kListeners];
    if (m === undefined) {
      if (!(t instanceof EventTarget)) throw new TypeError("Illegal invocation");
      m = t[kListeners] = new Map();
    }
    return m;
  }
  function noCapture(options) {
    const capture = typeof options === "boolean" ? options : typeof options === "object" && options !== null && !!options.capture;
    if (capture) throw new TypeError("addEventListener(): useCapture must be false.");
  }
  function removeListener(t, type, l) {
    const list = listenersOf(t).get(type);
    const i = list === undefined ? -1 : list.indexOf(l);
    if (i >= 0) {
      l.removed = true;
      list.splice(i, 1);
    }
  }
  class EventTarget {
    constructor() { this[kListeners] = new Map(); }
    addEventListener(type, callback, options) {
      if (arguments.length < 2) throw new TypeError(`Failed to execute 'addEventListener' on 'EventTarget': 2 arguments required, but only ${arguments.length} present.`);
      type = String(type);
      noCapture(options);
      if (callback === null || callback === undefined) return;
      if (typeof callback !== "function") {
        if (typeof callback !== "object" || typeof callback.handleEvent !== "function") {
          throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': The callback provided as parameter 2 is not an object with a handleEvent function.");
        }
      }
      let once = false, passive = false, signal;
      if (typeof options === "object" && options !== null) {
        once = !!options.once;
        passive = !!options.passive;
        if (options.signal !== undefined) {
          signal = options.signal;
          if (!(signal instanceof AbortSignal)) throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type AbortSignal.");
          if (signal.aborted) return;
        }
      }
      const m = listenersOf(this);
      let list = m.get(type);
      if (list === undefined) m.set(type, (list = []));
      for (let i = 0; i < list.length; i++) if (list[i].callback === callback) return;
      const l = { callback, once, passive, removed: false };
      list.push(l);
      if (signal !== undefined) onAbort(signal, () => removeListener(this, type, l));
    }
    removeEventListener(type, callback, options) {
      if (arguments.length < 2) throw new TypeError(`Failed to execute 'removeEventListener' on 'EventTarget': 2 arguments required, but only ${arguments.length} present.`);
      noCapture(options);
      const list = listenersOf(this).get(String(type));
      if (list === undefined) return;
      for (const l of list) if (l.callback === callback) return removeListener(this, String(type), l);
    }
    dispatchEvent(event) {
      if (!(event instanceof Event)) throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
      const st = event[kEvent];
      if (st.dispatching) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
      const list = listenersOf(this).get(st.type);
      st.dispatching = true;
      st.target = st.currentTarget = this;
      st.phase = 2;
      try {
        if (list !== undefined) {
          for (const l of list.slice()) {
            if (l.removed) continue;
            if (l.once) removeListener(this, st.type, l);
            st.passive = l.passive;
            if (typeof l.callback === "function") l.callback.call(global, event);
            else l.callback.handleEvent(event);
            st.passive = false;
            if (st.stopImmediate) break;
          }
        }
      } finally {
        st.dispatching = st.passive = st.stop = st.stopImmediate = false;
        st.phase = 0;
      }
      return !st.canceled;
    }
  }

  // ---- AbortController, AbortSignal ------------------------------------

  // An AbortSignal's kSignal state: aborted, reason, the internal abort
  // algorithms (run before the abort event), its dependents (signals of
  // AbortSignal.any that follow it), and the listener of its onabort.
  const kSignal = Symbol("signal");
  class AbortSignal extends EventTarget {
    constructor(key) {
      if (key !== kSignal) throw new TypeError("Illegal constructor");
      super();
      this[kSignal] = { aborted: false, reason: undefined, algorithms: [], dependents: [], sources: null, onabort: null };
    }
    get aborted() { return this[kSignal].aborted; }
    get reason() { return this[kSignal].reason; }
    get onabort() { const h = this[kSignal].onabort; return h === null ? null : h.value; }
    set onabort(v) {
      const st = this[kSignal];
      if (typeof v !== "function" && (typeof v !== "object" || v === null)) v = null;
      if (v === null) {
        if (st.onabort !== null) this.removeEventListener("abort", st.onabort.listener);
        st.onabort = null;
        return;
      }
      if (st.onabort !== null) { st.onabort.value = v; return; }
      const h = { value: v, listener: (e) => { if (typeof h.value === "function") h.value.call(global, e); } };
      st.onabort = h;
      this.addEventListener("abort", h.listener);
    }
    throwIfAborted() {
      const st = this[kSignal];
      if (st.aborted) throw st.reason;
    }
    static abort(reason) {
      const s = new AbortSignal(kSignal);
      s[kSignal].aborted = true;
      s[kSignal].reason = reason === undefined ? new DOMException("The operation was aborted", "AbortError") : reason;
      return s;
    }
    static timeout(ms) {
      const s = new AbortSignal(kSignal);
      setTimeout(() => abortSignal(s, new DOMException("The operation was aborted due to timeout", "TimeoutError")), ms);
      return s;
    }
    static any(signals) {
      if (signals === null || (typeof signals !== "object" && typeof signals !== "function") || typeof signals[Symbol.iterator] !== "function") {
        throw new TypeError("Failed to execute 'any' on 'AbortSignal': The provided value cannot be converted to a sequence.");
      }
      const list = Array.from(signals);
      for (const o of list) if (!(o instanceof AbortSignal)) throw new TypeError("Failed to execute 'any' on 'AbortSignal': Failed to convert value to 'AbortSignal'.");
      const s = new AbortSignal(kSignal);
      const st = s[kSignal];
      for (const o of list) {
        if (o[kSignal].aborted) {
          st.aborted = true;
          st.reason = o[kSignal].reason;
          return s;
        }
      }
      st.sources = [];
      for (const o of list) {
        for (const src of o[kSignal].sources === null ? [o] : o[kSignal].sources) {
          if (st.sources.includes(src)) continue;
          st.sources.push(src);
          src[kSignal].dependents.push(s);
        }
      }
      return s;
    }
  }
  // onAbort adds an abort algorithm to a signal.
  function onAbort(s, fn) { s[kSignal].algorithms.push(fn); }
  // abortSignal runs the DOM Standard's "signal abort": the signal and the
  // dependents it aborts are all marked aborted before any abort event.
  function abortSignal(s, reason) {
    const st = s[kSignal];
    if (st.aborted) return;
    st.aborted = true;
    st.reason = reason === undefined ? new DOMException("The operation was aborted", "AbortError") : reason;
    const dependents = [];
    for (const d of st.dependents) {
      const ds = d[kSignal];
      if (ds.aborted) continue;
      ds.aborted = true;
      ds.reason = st.reason;
      dependents.push(d);
    }
    runAbortSteps(s);
    for (const d of dependents) runAbortSteps(d);
  }
  function runAbortSteps(s) {
    const st = s[kSignal];
    const algorithms = st.algorithms;
    st.algorithms = [];
    for (const fn of algorithms) fn();
    s.dispatchEvent(trustedEvent("abort"));
  }
  class AbortController {
    constructor() { this[kSignal] = new AbortSignal(kSignal); }
    get signal() { return this[kSignal]; }
    abort(reason) { abortSignal(this[kSignal], reason); }
  }

  // ---- iterators -----------------------------------------------------------

  // iterator returns a function making the iterators of an interface
  // named name, as workerd makes them: one prototype per kind ("key",
  // "value" or "key+value") with its own next, inheriting from
  // %IteratorPrototype% and tagged "Iterator" (V8's Iterator.prototype
  // tag, which goja lacks). at(target, i) gives the i-th [key, value] pair,
  // or undefined past the end; with own set, a pair nobody else holds,
  // which "key+value" iterators return as it is rather than copied.
  const IteratorPrototype = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
  if (!Object.prototype.hasOwnProperty.call(IteratorPrototype, Symbol.toStringTag)) {
    Object.defineProperty(IteratorPrototype, Symbol.toStringTag, { value: "Iterator", configurable: true, writable: true });
  }
  function iterator(name, at, own) {
    const kIter = Symbol(name + " Iterator");
    const protos = {};
    for (const kind of ["key", "value", "key+value"]) {
      protos[kind] = Object.create(IteratorPrototype, {
        next: {
          value: function next() {
            const st = this[kIter];
            if (st === undefined) throw new TypeError("Illegal invocation");
            const e = st.target === null ? undefined : at(st.target, st.index);
            if (e === undefined) {
              st.target = null;
              return { done: true, value: undefined };
            }
            st.index++;
            return { done: false, value: kind === "key" ? e[0] : kind === "value" ? e[1] : own ? e : [e[0], e[1]] };
          },
          writable: true, enumerable: true, configurable: true,
        },
      });
    }
    return (target, kind) => {
      const it = Object.create(protos[kind]);
      it[kIter] = { target, index: 0 };
      return it;
    };
  }

  const { URL, URLSearchParams, href: urlHref } = host.url(host, { iterator });

  // ---- bytes helpers -------------------------------------------------------

  function isBufferSource(v) { return v instanceof ArrayBuffer || ArrayBuffer.isView(v); }
  // viewBytes returns a Uint8Array over the same memory as v.
  function viewBytes(v) {
    if (ArrayBuffer.isView(v)) return new Bytes(v.buffer, v.byteOffset, v.byteLength);
    if (v instanceof ArrayBuffer) return new Bytes(v);
    throw new TypeError("Expected an ArrayBuffer or ArrayBufferView");
  }
  function copyBytes(v) { return viewBytes(v).slice(); }
  // concatBytes joins Uint8Arrays into a new one, in Go (bytes.go).
  function concatBytes(chunks) { return host.concat(chunks); }
  function toBytes(x) { return typeof x === "string" ? utf8.encode(x) : x; }
  function toText(x) { return typeof x === "string" ? x : host.decodeUTF8(x, false, false)[0]; }

  // ---- TextEncoder, TextDecoder, atob, btoa --------------------------------

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") { return utf8.encode(String(input)); }
    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("Failed to execute 'encodeInto' on 'TextEncoder': parameter 2 is not of type 'Uint8Array'.");
      const r = host.encodeInto(String(source), destination);
      return { read: r[0], written: r[1] };
    }
  }

  const asciiSpace = /^[\t\n\f\r ]+|[\t\n\f\r ]+$/g;
  // noOptions is an absent dictionary: one object for every call that
  // passes none (its members are only read).
  const noOptions = Object.freeze({});
  function dictionary(v, what) {
    if (v === undefined || v === null) return noOptions;
    if (typeof v !== "object" && typeof v !== "function") throw new TypeError(`${what}: The provided value is not of type 'Object'.`);
    return v;
  }
  // TextDecoder keeps, between streamed calls, the bytes of an incomplete
  // sequence (pending) and whether the BOM has been dealt with (started).
  class TextDecoder {
    constructor(label = "utf-8", options = undefined) {
      const name = host.encodingName(String(label).replace(asciiSpace, ""));
      if (name === null) throw new RangeError(`Failed to construct 'TextDecoder': The encoding label provided ('${label}') is invalid.`);
      options = dictionary(options, "Failed to construct 'TextDecoder'");
      this[kState] = { name, fatal: !!options.fatal, ignoreBOM: !!options.ignoreBOM, pending: null, started: false };
    }
    get encoding() { return this[kState].name; }
    get fatal() { return this[kState].fatal; }
    get ignoreBOM() { return this[kState].ignoreBOM; }
    decode(input = undefined, options = undefined) {
      const st = this[kState];
      if (input !== undefined && !isBufferSource(input)) throw new TypeError("Failed to execute 'decode' on 'TextDecoder': parameter 1 is not of type 'ArrayBuffer or ArrayBufferView'.");
      const stream = !!dictionary(options, "Failed to execute 'decode' on 'TextDecoder'").stream;
      let bytes = input === undefined ? new Uint8Array(0) : viewBytes(input);
      if (st.pending !== null) {
        bytes = concatBytes([st.pending, bytes]);
        st.pending = null;
      }
      let r;
      try {
        r = host.textDecode(st.name, bytes, st.fatal, stream);
      } catch (e) {
        st.started = false;
        throw e;
      }
      let s = r[0];
      if (r[1] > 0) st.pending = bytes.slice(bytes.length - r[1]);
      // workerd drops a UTF-8 BOM at the start of every call's input, and
      // a UTF-16 one only at the start of the stream, as the standard does.
      if ((!st.started || st.name === "utf-8") && !st.ignoreBOM && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
      st.started = stream && (st.started || r[0].length > 0);
      if (!stream) st.pending = null;
      return s;
    }
  }

  // ---- structuredClone -----------------------------------------------------

  function structuredClone(value) {
    const seen = new Map();
    const fail = (what) => { throw new DOMException(`${what} could not be cloned.`, "DataCloneError"); };
    function clone(v) {
      if (typeof v === "function") fail(`function ${v.name || "anonymous"}`);
      if (typeof v === "symbol") fail(String(v));
      if (v === null || typeof v !== "object") return v;
      if (seen.has(v)) return seen.get(v);
      let out;
      if (Array.isArray(v)) {
        out = new Array(v.length);
        seen.set(v, out);
        for (let i = 0; i < v.length; i++) if (i in v) out[i] = clone(v[i]);
        return out;
      }
      if (v instanceof Date) out = new Date(v.getTime());
      else if (v instanceof RegExp) out = new RegExp(v.source, v.flags);
      else if (v instanceof ArrayBuffer) out = v.slice(0);
      else if (ArrayBuffer.isView(v)) {
        const C = v.constructor;
        const buf = clone(v.buffer);
        out = v instanceof DataView ? new DataView(buf, v.byteOffset, v.byteLength) : new C(buf, v.byteOffset, v.length);
      } else if (v instanceof Map) {
        out = new Map();
        seen.set(v, out);
        for (const [k, x] of v) out.set(clone(k), clone(x));
        return out;
      } else if (v instanceof Set) {
        out = new Set();
        seen.set(v, out);
        for (const x of v) out.add(clone(x));
        return out;
      } else if (v instanceof Error) {
        const C = { EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError }[v.name] || Error;
        out = new C(v.message);
        out.stack = v.stack;
      } else if (v instanceof Boolean || v instanceof Number || v instanceof String) {
        out = Object(v.valueOf());
      } else if (v instanceof Promise || v instanceof WeakMap || v instanceof WeakSet) {
        fail(`#<${v.constructor.name}>`);
      } else {
        out = {};
        seen.set(v, out);
        for (const k of Object.keys(v)) out[k] = clone(v[k]);
        return out;
      }
      seen.set(v, out);
      return out;
    }
    if (arguments.length === 0) throw new TypeError("structuredClone requires a value");
    return clone(value);
  }

  // ---- console -------------------------------------------------------------

  function inspect(v, depth, seen) {
    switch (typeof v) {
      case "string": return depth === 0 ? v : JSON.stringify(v);
      case "function": return `[Function: ${v.name || "(anonymous)"}]`;
      case "symbol": case "bigint": case "number": case "boolean": case "undefined": return String(v);
    }
    if (v === null) return "null";
    if (v instanceof Error) return v.stack || `${v.name}: ${v.message}`;
    if (seen.has(v)) return "[Circular]";
    if (depth > 3) return Array.isArray(v) ? "[Array]" : "[Object]";
    seen.add(v);
    try {
      if (Array.isArray(v)) return "[ " + v.map((x) => inspect(x, depth + 1, seen)).join(", ") + " ]";
      if (v instanceof Date) return v.toISOString();
      if (v instanceof RegExp) return String(v);
      if (v instanceof Map) return `Map(${v.size}) { ` + [...v].map(([k, x]) => `${inspect(k, depth + 1, seen)} => ${inspect(x, depth + 1, seen)}`).join(", ") + " }";
      if (v instanceof Set) return `Set(${v.size}) { ` + [...v].map((x) => inspect(x, depth + 1, seen)).join(", ") + " }";
      if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.length}) [ ${Array.prototype.slice.call(v, 0, 50).join(", ")} ]`;
      if (v instanceof Headers) return "Headers " + inspect(Object.fromEntries(v), depth, seen);
      const name = v.constructor && v.constructor !== Object ? v.constructor.name + " " : "";
      const keys = Object.keys(v);
      if (keys.length === 0) return name + "{}";
      return name + "{ " + keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${inspect(v[k], depth + 1, seen)}`).join(", ") + " }";
    } finally {
      seen.delete(v);
    }
  }
  function format(args) {
    let out = "";
    let i = 0;
    if (typeof args[0] === "string" && args[0].indexOf("%") >= 0) {
      i = 1;
      out = args[0].replace(/%[sdifjoOc%]/g, (m) => {
        if (m === "%%") return "%";
        if (i >= args.length) return m;
        const a = args[i++];
        switch (m) {
          case "%s": return typeof a === "string" ? a : inspect(a, 1, new Set());
          case "%d": case "%i": return String(m === "%i" ? Math.trunc(Number(a)) : Number(a));
          case "%f": return String(parseFloat(a));
          case "%j": try { return JSON.stringify(a); } catch (e) { return "[Circular]"; }
          case "%c": return "";
          default: return inspect(a, 1, new Set());
        }
      });
    }
    for (; i < args.length; i++) out += (out === "" && i === 0 ? "" : " ") + inspect(args[i], 0, new Set());
    return out;
  }
  const console = {};
  for (const [name, level] of [["log", "log"], ["info", "info"], ["debug", "debug"], ["warn", "warn"], ["error", "error"], ["trace", "debug"]]) {
    console[name] = function () { host.log(level, format(Array.prototype.slice.call(arguments))); };
  }
  console.assert = function (cond, ...rest) { if (!cond) host.log("error", "Assertion failed" + (rest.length ? ": " + format(rest) : "")); };
  console.dir = function (v) { host.log("log", inspect(v, 1, new Set())); };
  console.table = console.log;
  const timers = new Map();
  console.time = function (label = "default") { timers.set(label, Date.now()); };
  console.timeEnd = function (label = "default") {
    const t = timers.get(label);
    if (t !== undefined) { timers.delete(label); host.log("log", `${label}: ${Date.now() - t}ms`); }
  };

  // ---- Headers -------------------------------------------------------------

  // A Headers object keeps its entries in Go (headers.go), in a state
  // object under kState: append, set, delete, get, has and getSetCookie
  // are Go's; headerOps has the functions of state objects the rest of
  // the prelude uses.
  const headerOps = host.headers(kState);
  const headerInitError = "Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.";

  // isHeaders is v instanceof Headers without instanceof's cost in goja:
  // frameworks copy Headers several times per request.
  const kHeaders = Symbol("Headers");
  function isHeaders(v) { return typeof v === "object" && v !== null && v[kHeaders] === true; }

  class Headers {
    constructor(init) {
      if (isHeaders(init)) {
        this[kState] = headerOps.copy(init[kState], false);
        return;
      }
      const st = headerOps.create();
      this[kState] = st;
      if (init === undefined) return;
      if (init === null) throw new TypeError(headerInitError);
      if (typeof init !== "object" && typeof init !== "function") throw new TypeError("Failed to construct 'Headers': invalid init");
      if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = typeof pair === "string" ? [pair] : Array.from(pair);
          if (p.length !== 2) throw new TypeError("Header pairs must contain exactly two items");
          headerOps.fill(st, p[0], p[1]);
        }
      } else {
        const keys = Object.keys(init);
        for (let i = 0; i < keys.length; i++) headerOps.fill(st, keys[i], init[keys[i]]);
      }
    }
    getAll(n) {
      if (headerOps.name(n) !== "set-cookie") {
        throw new TypeError("getAll() can only be used with the header name \"Set-Cookie\".");
      }
      return this.getSetCookie();
    }
    forEach(cb, thisArg) {
      const list = headerOps.pairs(this[kState]);
      for (let i = 0; i < list.length; i++) cb.call(thisArg, list[i][1], list[i][0], this);
    }
    // The iterators go over the sorted and combined list as it was when
    // they were made, as workerd's do.
    entries() { return headersIterator(headerOps.pairs(this[kState]), "key+value"); }
    keys() { return headersIterator(headerOps.pairs(this[kState]), "key"); }
    values() { return headersIterator(headerOps.pairs(this[kState]), "value"); }
    [Symbol.iterator]() { return headersIterator(headerOps.pairs(this[kState]), "key+value"); }
  }
  for (const name of Object.keys(headerOps.methods)) {
    Object.defineProperty(Headers.prototype, name, { value: headerOps.methods[name], writable: true, configurable: true });
  }
  Object.defineProperty(Headers.prototype, kHeaders, { value: true });
  // The pairs of a list are the iterator's own to hand out.
  const headersIterator = iterator("Headers", (list, i) => list[i], true);
  // headersOf makes a Headers object of a state object from Go.
  function headersOf(st) {
    const h = Object.create(Headers.prototype);
    h[kState] = st;
    return h;
  }
  // copyHeaders copies h, immutable if h is.
  function copyHeaders(h) { return headersOf(headerOps.copy(h[kState], true)); }

  // ---- Blob, File, FormData -------------------------------------------------

  const blobTypeRe = /^[\u0020-\u007e]*$/;
  class Blob {
    constructor(parts = undefined, options = undefined) {
      if (parts === undefined) parts = [];
      else if (typeof parts !== "object" || parts === null || typeof parts[Symbol.iterator] !== "function") {
        throw new TypeError("Failed to construct 'Blob': The provided value cannot be converted to a sequence.");
      }
      options = dictionary(options, "Failed to construct 'Blob'");
      if (options.endings !== undefined) throw new Error("The 'endings' field on 'Options' is not implemented.");
      // concatBytes copies: the parts' own bytes can go in as they are.
      const chunks = [];
      for (const p of parts) chunks.push(p instanceof Blob ? p[kState] : isBufferSource(p) ? viewBytes(p) : utf8.encode(String(p)));
      this[kState] = concatBytes(chunks);
      const type = options.type === undefined ? "" : String(options.type);
      this[kGuard] = blobTypeRe.test(type) ? type.toLowerCase() : "";
    }
    get size() { return this[kState].length; }
    get type() { return this[kGuard]; }
    slice(start = 0, end = this.size, type = "") {
      const b = new Blob([], { type });
      b[kState] = this[kState].slice(start, end);
      return b;
    }
    text() { return Promise.resolve(toText(this[kState])); }
    arrayBuffer() { return Promise.resolve(this[kState].slice().buffer); }
    bytes() { return Promise.resolve(this[kState].slice()); }
    stream() { return streamOfBytes(this[kState]); }
  }
  class File extends Blob {
    constructor(parts, name, options = undefined) {
      if (arguments.length < 2) throw new TypeError(`Failed to construct 'File': 2 arguments required, but only ${arguments.length} present.`);
      options = dictionary(options, "Failed to construct 'File'");
      super(parts, options);
      this.name = String(name);
      this.lastModified = options.lastModified === undefined ? Date.now() : Number(options.lastModified);
    }
  }

  function need(n, args, what) {
    if (args.length < n) throw new TypeError(`Failed to execute '${what}': ${n} argument${n > 1 ? "s" : ""} required, but only ${args.length} present.`);
  }
  class FormData {
    constructor() { this[kState] = []; }
    append(name, value, filename) {
      need(2, arguments, "append");
      name = String(name);
      this[kState].push([name, formValue(name, value, filename)]);
    }
    set(name, value, filename) {
      need(2, arguments, "set");
      name = String(name);
      const v = formValue(name, value, filename);
      const i = this[kState].findIndex((e) => e[0] === name);
      this[kState] = this[kState].filter((e, j) => e[0] !== name || j === i);
      if (i >= 0) this[kState][this[kState].findIndex((e) => e[0] === name)][1] = v; else this[kState].push([name, v]);
    }
    get(name) { need(1, arguments, "get"); const e = this[kState].find((x) => x[0] === String(name)); return e ? e[1] : null; }
    getAll(name) { need(1, arguments, "getAll"); return this[kState].filter((x) => x[0] === String(name)).map((x) => x[1]); }
    has(name) { need(1, arguments, "has"); return this[kState].some((x) => x[0] === String(name)); }
    delete(name) { need(1, arguments, "delete"); this[kState] = this[kState].filter((x) => x[0] !== String(name)); }
    forEach(cb, thisArg) { for (const [k, v] of this) cb.call(thisArg, v, k, this); }
    entries() { return formIterator(this, "key+value"); }
    keys() { return formIterator(this, "key"); }
    values() { return formIterator(this, "value"); }
    [Symbol.iterator]() { return formIterator(this, "key+value"); }
  }
  const formIterator = iterator("FormData", (fd, i) => fd[kState][i]);
  // formValue makes a FormData entry's value. A Blob given without a file
  // name is named after the entry, as workerd does (the standard says
  // "blob").
  function formValue(name, value, filename) {
    if (value instanceof Blob) {
      if (value instanceof File && filename === undefined) return value;
      return new File([value], filename === undefined ? name : filename, { type: value.type });
    }
    return String(value);
  }
  function encodeMultipart(fd) {
    const boundary = "----GradualFormBoundary" + host.randomUUID().replace(/-/g, "");
    const chunks = [];
    const push = (b) => { chunks.push(toBytes(b)); };
    const esc = (s) => s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
    for (const [name, v] of fd[kState]) {
      push(`--${boundary}\r\nContent-Disposition: form-data; name="${esc(name)}"`);
      if (typeof v === "string") {
        push(`\r\n\r\n${v}\r\n`);
      } else {
        push(`; filename="${esc(v.name)}"\r\nContent-Type: ${v.type || "application/octet-stream"}\r\n\r\n`);
        push(v[kState]);
        push("\r\n");
      }
    }
    push(`--${boundary}--\r\n`);
    return { bytes: concatBytes(chunks), type: `multipart/form-data; boundary=${boundary}` };
  }

  // ---- Streams (see streams.js) --------------------------------------------

  const streams = host.streams({ kState, viewBytes, concatBytes, DOMException, encode: utf8.encode });
  const { ReadableStream, WritableStream, TransformStream, streamOfBytes, takeBytes, readAllBytes, isReadableStream } = streams;

  // ---- Body ----------------------------------------------------------------

  // A body source is null, a string, a Uint8Array, a ReadableStream, or
  // kNative for the incoming request's body that Go still holds.
  function extractBody(body) {
    if (body === undefined || body === null) return { source: null, type: null };
    if (typeof body === "string") return { source: body, type: "text/plain;charset=UTF-8" };
    if (isReadableStream(body)) return { source: body, type: null };
    if (isBufferSource(body)) return { source: copyBytes(body), type: null };
    if (body instanceof URLSearchParams) return { source: body.toString(), type: "application/x-www-form-urlencoded;charset=UTF-8" };
    if (body instanceof FormData) { const m = encodeMultipart(body); return { source: m.bytes, type: m.type }; }
    if (body instanceof Blob) return { source: body[kState], type: body.type || null };
    return { source: String(body), type: "text/plain;charset=UTF-8" };
  }

  // consumeBody marks the body used and resolves to its whole content as a
  // string or Uint8Array.
  function consumeBody(b) {
    const st = b[kState];
    if (st.used) return Promise.reject(new TypeError("Body has already been used. It can only be used once. Use tee() first if you need to read it twice."));
    const src = st.source;
    st.used = src !== null;
    if (src === null) return Promise.resolve("");
    if (typeof src === "string" || src instanceof Uint8Array) return Promise.resolve(src);
    if (src === kNative) return host.readRequestBody();
    return readAllBytes(src);
  }

  class Body {
    get body() {
      const st = this[kState];
      const src = st.source;
      if (src === null) return null;
      if (isReadableStream(src)) return src;
      if (st.used) return null;
      st.source = src === kNative ? nativeBodyStream() : streamOfBytes(src);
      return st.source;
    }
    get bodyUsed() {
      const st = this[kState];
      return st.used || (isReadableStream(st.source) && st.source[kState].disturbed);
    }
    text() { return consumeBody(this).then(toText); }
    json() { return this.text().then((t) => JSON.parse(t)); }
    arrayBuffer() { return consumeBody(this).then((b) => (typeof b === "string" ? utf8.encode(b) : b.slice()).buffer); }
    bytes() { return consumeBody(this).then((b) => (typeof b === "string" ? utf8.encode(b) : b.slice())); }
    blob() {
      const type = this.headers.get("content-type") || "";
      return consumeBody(this).then((b) => new Blob([toBytes(b)], { type }));
    }
    formData() {
      const type = this.headers.get("content-type") || "";
      return consumeBody(this).then((b) => {
        const fd = new FormData();
        if (/^multipart\/form-data/i.test(type)) {
          for (const e of host.parseMultipart(toBytes(b), type)) {
            if (e.length === 2) fd.append(e[0], e[1]);
            else fd.append(e[0], new File([new Uint8Array(e[4])], e[2], { type: e[3] }));
          }
          return fd;
        }
        if (/^application\/x-www-form-urlencoded/i.test(type)) {
          for (const [k, v] of new URLSearchParams(toText(b))) fd.append(k, v);
          return fd;
        }
        throw new TypeError("Unrecognized Content-Type header value. FormData can only parse the following MIME types: multipart/form-data, application/x-www-form-urlencoded");
      });
    }
  }

  function nativeBodyStream() {
    return new ReadableStream({
      pull(c) {
        return host.readRequestBody().then((b) => {
          if (b.length > 0) c.enqueue(b);
          c.close();
        });
      },
    });
  }

  // cloneBody gives both a and its clone an independent body.
  function cloneBody(st) {
    if (st.used) throw new TypeError("Body has already been used.");
    let src = st.source;
    if (src === kNative) src = nativeBodyStream();
    if (isReadableStream(src)) {
      // A stream of bytes still unread stays one on both sides, so that
      // both keep a known length (Content-Length), as through workerd's tee.
      const bytes = takeBytes(src);
      if (bytes !== null) {
        st.source = streamOfBytes(bytes);
        return streamOfBytes(bytes);
      }
      const [a, b] = src.tee();
      st.source = a;
      return b;
    }
    return src;
  }

  // ---- Request -------------------------------------------------------------

  // normMethods are the methods whose case workerd normalises; the
  // others it knows must be given in upper case.
  const normMethods = { DELETE: 1, GET: 1, HEAD: 1, OPTIONS: 1, POST: 1, PUT: 1 };
  const otherMethods = {
    PATCH: 1, PURGE: 1, TRACE: 1, COPY: 1, LOCK: 1, MKCOL: 1, MOVE: 1, PROPFIND: 1, PROPPATCH: 1, SEARCH: 1, UNLOCK: 1,
    ACL: 1, REPORT: 1, MKACTIVITY: 1, CHECKOUT: 1, MERGE: 1, NOTIFY: 1, SUBSCRIBE: 1, UNSUBSCRIBE: 1, MKCALENDAR: 1,
  };
  function requestMethod(m) {
    const u = m.toUpperCase();
    if (normMethods[u]) return u;
    if (otherMethods[m]) return m;
    throw new TypeError(`Invalid HTTP method string: ${m}`);
  }
  // Request and Response inherit from Body as derived classes would, but
  // are base classes: a derived constructor's super() call is a cost goja
  // charges on every Response.
  function inheritBody(c) {
    Object.setPrototypeOf(c.prototype, Body.prototype);
    Object.setPrototypeOf(c, Body);
  }
  class Request {
    constructor(input, init) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'Request': 1 argument required, but only 0 present.");
      init = dictionary(init, "Failed to construct 'Request'");
      const src = input instanceof Request ? input : null;
      const url = src ? src.url : urlHref(input, "Invalid URL: ");
      const method = init.method !== undefined ? requestMethod(String(init.method)) : src ? src.method : "GET";
      if (init.cache !== undefined) throw new Error("The 'cache' field on 'RequestInitializerDict' is not implemented.");
      if (init.signal !== undefined && init.signal !== null && !(init.signal instanceof AbortSignal)) {
        throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
      }
      const headers = new Headers(init.headers !== undefined ? init.headers : src ? src.headers : undefined);
      let source = null;
      if (init.body !== undefined && init.body !== null) {
        const e = extractBody(init.body);
        source = e.source;
        if (e.type !== null && !headers.has("content-type")) headers.set("content-type", e.type);
      } else if (src && init.body === undefined) {
        if (src[kState].used) throw new TypeError("Cannot construct a Request with a Request object that has already been used.");
        source = src[kState].source;
        if (source !== null) src[kState].used = true;
      }
      if (source !== null && (method === "GET" || method === "HEAD")) {
        throw new TypeError("Request with a GET or HEAD method cannot have a body.");
      }
      const redirect = init.redirect !== undefined ? String(init.redirect).toLowerCase() : src ? src.redirect : "follow";
      if (redirect !== "follow" && redirect !== "manual") throw new TypeError(`Invalid redirect value, must be one of "follow" or "manual" ("error" won't be implemented since it does not make sense at the edge; use "manual" and check the response status code).`);
      this[kState] = {
        url, method, headers, source, used: false, redirect,
        signal: init.signal !== undefined ? init.signal : src ? src.signal : null,
        cf: init.cf !== undefined ? init.cf : src ? src.cf : undefined,
      };
    }
    get url() { return this[kState].url; }
    get method() { return this[kState].method; }
    get headers() { return requestHeaders(this[kState]); }
    get redirect() { return this[kState].redirect; }
    get signal() {
      const st = this[kState];
      if (!st.signal) st.signal = new AbortController().signal;
      return st.signal;
    }
    get cf() {
      const st = this[kState];
      if (st.cf === kNative) st.cf = {};
      return st.cf;
    }
    get keepalive() { return false; }
    get integrity() { return ""; }
    clone() {
      const st = this[kState];
      const r = Object.create(Request.prototype);
      r[kState] = Object.assign({}, st, { headers: copyHeaders(requestHeaders(st)), source: cloneBody(st) });
      return r;
    }
  }
  inheritBody(Request);

  // requestHeaders returns the headers of a request's state. Those of the
  // incoming request are made on first use from the state object Go
  // passed, which st.headers holds until then: most scripts never read
  // most requests' headers.
  function requestHeaders(st) {
    if (!isHeaders(st.headers)) st.headers = headersOf(st.headers);
    return st.headers;
  }

  // ---- Response ------------------------------------------------------------

  // A Response made without init headers keeps in st.headers only its
  // content type, a string or null, and one from Go (fetch) the state
  // object of its header list, until the script asks for its headers: most
  // responses are sent, or handed on, as they were made.
  function responseHeaders(st) {
    const h = st.headers;
    if (isHeaders(h)) return h;
    let hs;
    if (h !== null && typeof h === "object") hs = headersOf(h);
    else {
      hs = new Headers();
      if (h !== null) headerOps.fill(hs[kState], "content-type", h);
    }
    st.headers = hs;
    return hs;
  }

  const nullBodyStatus = { 101: 1, 204: 1, 205: 1, 304: 1 };
  // controlRe finds what workerd refuses in a status text.
  const controlRe = /[\u0000-\u001f]/;
  const redirectStatus = { 301: 1, 302: 1, 303: 1, 307: 1, 308: 1 };
  class Response {
    constructor(body, init) {
      init = dictionary(init, "Failed to construct 'Response'");
      const status = init.status === undefined ? 200 : Math.trunc(Number(init.status));
      if (!(status >= 200 && status <= 599)) {
        throw new RangeError(`Responses may only be constructed with status codes in the range 200 to 599, inclusive.`);
      }
      let headers = init.headers === undefined ? null : new Headers(init.headers);
      let source = null, type = null;
      if (typeof body === "string") {
        source = body;
        type = "text/plain;charset=UTF-8";
      } else if (isReadableStream(body)) {
        source = body;
      } else if (body !== undefined && body !== null) {
        const e = extractBody(body);
        source = e.source;
        type = e.type;
      }
      if (source !== null && nullBodyStatus[status]) {
        // workerd takes an empty body for none (it warns).
        if (source !== "" && !(source instanceof Uint8Array && source.length === 0)) {
          throw new TypeError(`Response with null body status (${status}) cannot have a body.`);
        }
        source = null;
      }
      // null stands for no status text: a binding's caller gets the
      // standard one, where one given as "" stays "", as in workerd.
      const statusText = init.statusText === undefined ? null : String(init.statusText);
      if (statusText !== null && statusText !== "" && controlRe.test(statusText)) throw new TypeError("Invalid statusText");
      if (headers === null) headers = type;
      else if (type !== null && !headers.has("content-type")) headers.set("content-type", type);
      this[kState] = {
        status, statusText,
        headers, source, used: false, url: "", redirected: false, type: "default",
      };
    }
    get status() { return this[kState].status; }
    get statusText() { const t = this[kState].statusText; return t === null ? "" : t; }
    get ok() { const s = this[kState].status; return s >= 200 && s < 300; }
    get headers() {
      const h = this[kState].headers;
      return isHeaders(h) ? h : responseHeaders(this[kState]);
    }
    get url() { return this[kState].url; }
    get redirected() { return this[kState].redirected; }
    get type() { return this[kState].type; }
    get webSocket() { return null; }
    clone() {
      const st = this[kState];
      const r = Object.create(Response.prototype);
      r[kState] = {
        status: st.status, statusText: st.statusText, headers: copyHeaders(responseHeaders(st)), source: cloneBody(st), used: st.used,
        url: st.url, redirected: st.redirected, type: st.type,
      };
      return r;
    }
    static json(data, init) {
      // JSON.stringify gives undefined for undefined and functions, which
      // workerd sends as the text "undefined".
      const body = String(JSON.stringify(data));
      if (init === undefined || init === null) {
        // The common case, built directly.
        const r = Object.create(Response.prototype);
        r[kState] = {
          status: 200, statusText: null, headers: "application/json", source: body, used: false, url: "", redirected: false, type: "default",
        };
        return r;
      }
      const headers = new Headers(init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(body, { status: init.status, statusText: init.statusText, headers });
    }
    static redirect(url, status = 302) {
      if (!redirectStatus[status]) throw new RangeError(`Invalid redirect status code: ${status}`);
      const r = new Response(null, { status });
      r.headers.set("location", urlHref(url, "Unable to parse URL: "));
      headerOps.freeze(r.headers[kState]);
      return r;
    }
    static error() {
      const r = new Response(null, { status: 200 });
      r[kState].status = 0;
      r[kState].type = "error";
      return r;
    }
  }
  inheritBody(Response);

  function responseFromGo(status, statusText, headers, body, url, redirected) {
    const r = Object.create(Response.prototype);
    r[kState] = {
      status, statusText, headers,
      // Go hands over null for an empty body.
      source: body, used: false, url, redirected, type: "basic",
    };
    return r;
  }

  // ---- fetch ---------------------------------------------------------------

  function fetch(input, init) {
    host.assertRequest("fetch()");
    return sendRequest(host.fetch, input, init);
  }

  // sendRequest sends the Request made of input and init through send,
  // which has host.fetch's signature: to the network for fetch(), to
  // another worker for a service binding (service.js). send(method, url,
  // headers, body, redirect, callback, resolve, reject) calls back with
  // callback(resolve, reject, err, status, statusText, headers, body, url,
  // redirected).
  function sendRequest(send, input, init) {
    if (typeof input === "string" && init === undefined) {
      // A URL alone, as most calls are, is a GET without headers, body or
      // signal: there is no Request to build, and no closure to make.
      const p = new Promise(takeSettlers);
      const resolve = settlers[0], reject = settlers[1];
      settlers[0] = settlers[1] = null;
      try {
        send("GET", urlHref(input, "Invalid URL: "), null, null, "follow", settleSent, resolve, reject);
      } catch (e) {
        reject(e);
      }
      return p;
    }
    return new Promise((resolve, reject) => {
      const req = new Request(input, init);
      const st = req[kState];
      const signal = st.signal;
      if (signal && signal.aborted) throw signal.reason;
      const headers = st.headers[kState];
      // sendBody sends with body, what Go can send: null, a string or
      // bytes. A request without a body (most are) is sent at once.
      const sendBody = (body) => {
        let onAbort = null;
        const id = send(st.method, st.url, headers, body, st.redirect, (resolve, reject, err, status, statusText, resHeaders, resBody, url, redirected) => {
          if (onAbort) signal.removeEventListener("abort", onAbort);
          if (err === "abort") reject(signal.reason);
          else settleSent(resolve, reject, err, status, statusText, resHeaders, resBody, url, redirected);
        }, resolve, reject);
        if (signal) {
          onAbort = () => host.abortFetch(id);
          signal.addEventListener("abort", onAbort);
        }
      };
      if (st.source === null) sendBody(null);
      else consumeBody({ [kState]: st }).then(sendBody).catch(reject);
    });
  }
  // takeSettlers is the executor of the promise of a fetch(url): it leaves
  // the promise's resolve and reject in settlers, which one shared function
  // costs less than a closure per call. The promise is goja's own (see
  // Promise above): a script's Promise could call fetch in its constructor
  // and take settlers over.
  const settlers = [null, null];
  function takeSettlers(resolve, reject) {
    settlers[0] = resolve;
    settlers[1] = reject;
  }
  // settleSent settles a fetch's promise with what send called back with.
  function settleSent(resolve, reject, err, status, statusText, headers, body, url, redirected) {
    if (err !== null) reject(new TypeError(err));
    else resolve(responseFromGo(status, statusText, headers, body, url, redirected));
  }

  // ---- crypto --------------------------------------------------------------

  // SubtleCrypto as workerd has it for the algorithms the host implements:
  // SHA digests (and MD5, a workerd extension), HMAC, AES-GCM, PBKDF2 and
  // HKDF, the last three on the natives of webcrypto.go. Errors are the
  // DOMExceptions WebCrypto names; every method answers a promise.
  const hashes = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024, MD5: 512 }; // name → block size in bits
  const jwkHMAC = { "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };
  const algNames = { HMAC: "HMAC", "AES-GCM": "AES-GCM", PBKDF2: "PBKDF2", HKDF: "HKDF" };
  const notSupported = (what) => new DOMException(`Unrecognized or unsupported algorithm: ${what}`, "NotSupportedError");
  // algorithm normalizes an AlgorithmIdentifier: a name, or an object with
  // a name.
  function algorithm(alg) {
    if (typeof alg === "string") return { name: alg };
    if (alg === null || (typeof alg !== "object" && typeof alg !== "function")) throw new TypeError("Algorithm must be a string or an object");
    if (alg.name === undefined) throw notSupported("undefined");
    return alg;
  }
  function hashName(alg) {
    const a = algorithm(alg);
    const n = String(a.name).toUpperCase();
    if (hashes[n] === undefined) throw notSupported(a.name);
    return n;
  }
  function algName(alg) {
    const a = algorithm(alg);
    const n = algNames[String(a.name).toUpperCase()];
    if (n === undefined) throw notSupported(a.name);
    return n;
  }
  function bufferSource(v, what) {
    if (!isBufferSource(v)) throw new TypeError(`${what} must be an ArrayBuffer or ArrayBufferView`);
    return copyBytes(v);
  }
  class CryptoKey {
    constructor(key) { if (key !== kState) throw new TypeError("Illegal constructor"); }
  }
  function makeKey(raw, algorithm, extractable, usages) {
    const k = new CryptoKey(kState);
    k[kState] = raw;
    Object.defineProperties(k, {
      type: { value: "secret", enumerable: true },
      extractable: { value: !!extractable, enumerable: true },
      algorithm: { value: algorithm, enumerable: true },
      usages: { value: usages, enumerable: true },
    });
    return k;
  }
  // keyUsages checks the usages asked for a key against those its
  // algorithm allows.
  function keyUsages(usages, allowed, what) {
    const list = Array.from(usages, String);
    for (const u of list) if (!allowed.includes(u)) throw new DOMException(`Unsupported key usage for ${what}: ${u}`, "SyntaxError");
    if (list.length === 0) throw new DOMException(`A key for ${what} needs at least one usage.`, "SyntaxError");
    return list;
  }
  // knownAlgs are the algorithms WebCrypto defines: asking for one that
  // does not match a key's is an InvalidAccessError, even where the host
  // does not implement it.
  const knownAlgs = new Set(["HMAC", "AES-GCM", "AES-CBC", "AES-CTR", "AES-KW", "PBKDF2", "HKDF", "RSASSA-PKCS1-V1_5", "RSA-PSS", "RSA-OAEP", "ECDSA", "ECDH", "ED25519", "X25519"]);
  function keyFor(key, alg, usage) {
    if (!(key instanceof CryptoKey)) throw new TypeError("The key must be a CryptoKey");
    const a = algorithm(alg);
    const n = String(a.name).toUpperCase();
    if (!knownAlgs.has(n)) throw notSupported(a.name);
    if (n !== key.algorithm.name) throw new DOMException(`The requested algorithm ${a.name} does not match the key's algorithm ${key.algorithm.name}.`, "InvalidAccessError");
    if (!key.usages.includes(usage)) throw new DOMException(`The key does not support the "${usage}" operation.`, "InvalidAccessError");
    return key[kState];
  }
  function importKeyNow(format, keyData, alg, extractable, usages) {
    const name = algName(alg);
    const a = algorithm(alg);
    let raw;
    if (format === "raw") raw = bufferSource(keyData, "keyData");
    else if (format === "jwk" && name !== "PBKDF2" && name !== "HKDF") {
      if (keyData === null || typeof keyData !== "object") throw new TypeError("keyData must be a JsonWebKey");
      if (keyData.kty !== "oct" || typeof keyData.k !== "string") throw new DOMException("The JWK is not a symmetric key (kty \"oct\" with k).", "DataError");
      raw = new Uint8Array(host.base64urlDecode(keyData.k));
    } else throw new DOMException(`Unrecognized or unsupported key format: ${format}`, "NotSupportedError");
    if (name === "HMAC") {
      if (a.hash === undefined) throw new TypeError("HMAC key import needs a hash");
      const hash = hashName(a.hash);
      const list = keyUsages(usages, ["sign", "verify"], "HMAC");
      if (raw.length === 0) throw new DOMException("HMAC key data must not be empty.", "DataError");
      const length = a.length === undefined ? raw.length * 8 : Number(a.length);
      return makeKey(raw, { name, hash: { name: hash }, length }, extractable, list);
    }
    if (name === "AES-GCM") {
      if (raw.length !== 16 && raw.length !== 24 && raw.length !== 32) throw new DOMException("AES key data must be 128, 192 or 256 bits.", "DataError");
      return makeKey(raw, { name, length: raw.length * 8 }, extractable, keyUsages(usages, ["encrypt", "decrypt", "wrapKey", "unwrapKey"], name));
    }
    if (extractable) throw new DOMException(`${name} keys cannot be extractable.`, "SyntaxError");
    return makeKey(raw, { name }, false, keyUsages(usages, ["deriveBits", "deriveKey"], name));
  }
  function deriveBitsNow(alg, key, length, usage = "deriveBits") {
    const name = algName(alg);
    const a = algorithm(alg);
    const raw = keyFor(key, a, usage);
    const bits = Number(length);
    if (!(bits >= 0) || bits % 8 !== 0) throw new DOMException("The length must be a multiple of 8.", "OperationError");
    const hash = hashName(a.hash);
    if (name === "PBKDF2") {
      const iterations = Number(a.iterations);
      if (!(iterations > 0)) throw new DOMException("PBKDF2 needs a positive number of iterations.", "OperationError");
      return host.pbkdf2(hash, raw, bufferSource(a.salt, "salt"), iterations, bits / 8);
    }
    if (name === "HKDF") return host.hkdf(hash, raw, bufferSource(a.salt, "salt"), bufferSource(a.info, "info"), bits / 8);
    throw notSupported(name);
  }
  function aesGcm(encrypt, alg, key, data) {
    const name = algName(alg);
    const a = algorithm(alg);
    const raw = keyFor(key, a, encrypt ? "encrypt" : "decrypt");
    if (name !== "AES-GCM") throw notSupported(name);
    const tag = a.tagLength === undefined ? 128 : Number(a.tagLength);
    if (![32, 64, 96, 104, 112, 120, 128].includes(tag)) throw new DOMException("Invalid AES-GCM tag length.", "OperationError");
    const aad = a.additionalData === undefined ? new Uint8Array(0) : bufferSource(a.additionalData, "additionalData");
    const out = host.aesGcm(encrypt, raw, bufferSource(a.iv, "iv"), bufferSource(data, "data"), aad, tag / 8);
    if (out === null) throw new DOMException("Decryption failed.", "OperationError");
    return out;
  }
  // later runs f on a later job, answering its result or its exception as
  // a promise, as the WebCrypto methods do.
  const later = (f) => new Promise((resolve) => resolve(f()));
  const subtle = {
    digest(alg, data) {
      const n = arguments.length;
      return later(() => {
        if (n < 2) throw new TypeError("Failed to execute 'digest' on 'SubtleCrypto': 2 arguments required.");
        return host.digest(hashName(alg), viewBytes(data));
      });
    },
    importKey(format, keyData, alg, extractable, usages) { return later(() => importKeyNow(format, keyData, alg, extractable, usages)); },
    exportKey(format, key) {
      return later(() => {
        if (!(key instanceof CryptoKey)) throw new TypeError("The key must be a CryptoKey");
        if (!key.extractable) throw new DOMException("Key is not extractable", "InvalidAccessError");
        const raw = key[kState];
        if (format === "raw") return raw.slice().buffer;
        if (format === "jwk") {
          const jwk = { kty: "oct", key_ops: key.usages.slice() };
          if (key.algorithm.name === "HMAC") jwk.alg = jwkHMAC[key.algorithm.hash.name];
          else jwk.alg = "A" + key.algorithm.length + "GCM";
          jwk.ext = true;
          jwk.k = host.base64urlEncode(raw);
          return jwk;
        }
        throw new DOMException(`Unrecognized or unsupported key format: ${format}`, "NotSupportedError");
      });
    },
    generateKey(alg, extractable, usages) {
      return later(() => {
        const name = algName(alg);
        const a = algorithm(alg);
        let bytes;
        if (name === "HMAC") {
          if (a.hash === undefined) throw new TypeError("HMAC key generation needs a hash");
          bytes = a.length === undefined ? hashes[hashName(a.hash)] / 8 : Math.ceil(Number(a.length) / 8);
        } else if (name === "AES-GCM") {
          bytes = Number(a.length) / 8;
          if (bytes !== 16 && bytes !== 24 && bytes !== 32) throw new DOMException("AES key length must be 128, 192 or 256 bits.", "OperationError");
        } else throw notSupported(name);
        const raw = new Uint8Array(bytes);
        host.randomFill(raw);
        return importKeyNow("raw", raw, a, extractable, usages);
      });
    },
    sign(alg, key, data) {
      return later(() => {
        const raw = keyFor(key, alg, "sign");
        if (key.algorithm.name !== "HMAC") throw notSupported(key.algorithm.name);
        return host.hmac(key.algorithm.hash.name, raw, viewBytes(data));
      });
    },
    verify(alg, key, signature, data) {
      return later(() => {
        const raw = keyFor(key, alg, "verify");
        if (key.algorithm.name !== "HMAC") throw notSupported(key.algorithm.name);
        const mac = new Uint8Array(host.hmac(key.algorithm.hash.name, raw, viewBytes(data)));
        const sig = viewBytes(signature);
        return sig.length === mac.length && host.timingSafeEqual(sig, mac);
      });
    },
    encrypt(alg, key, data) { return later(() => aesGcm(true, alg, key, data)); },
    decrypt(alg, key, data) { return later(() => aesGcm(false, alg, key, data)); },
    deriveBits(alg, key, length) { return later(() => deriveBitsNow(alg, key, length)); },
    deriveKey(alg, key, derivedAlg, extractable, usages) {
      return later(() => {
        const d = algorithm(derivedAlg);
        const name = algName(d);
        const bits = name === "HMAC" ? (d.length === undefined ? hashes[hashName(d.hash)] : Number(d.length)) : Number(d.length);
        return importKeyNow("raw", new Uint8Array(deriveBitsNow(alg, key, bits, "deriveKey")), d, extractable, usages);
      });
    },
    // Key wrapping needs AES-KW or RSA-OAEP, which the host lacks: after
    // the key checks, it is not supported.
    wrapKey(format, key, wrappingKey, alg) { return later(() => { keyFor(wrappingKey, alg, "wrapKey"); throw notSupported(algorithm(alg).name); }); },
    unwrapKey(format, wrapped, unwrappingKey, alg) { return later(() => { keyFor(unwrappingKey, alg, "unwrapKey"); throw notSupported(algorithm(alg).name); }); },
    timingSafeEqual(a, b) {
      const x = viewBytes(a), y = viewBytes(b);
      if (x.length !== y.length) throw new TypeError("Input buffers must have the same byte length");
      return host.timingSafeEqual(x, y);
    },
  };
  const intArrays = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array];
  if (typeof BigInt64Array !== "undefined") intArrays.push(BigInt64Array, BigUint64Array);
  const crypto = {
    subtle,
    getRandomValues(a) {
      if (!ArrayBuffer.isView(a)) throw new TypeError("Failed to execute 'getRandomValues' on 'Crypto': parameter 1 is not of type 'ArrayBufferView'.");
      if (!intArrays.some((C) => a instanceof C)) throw new DOMException("The data argument must be an integer-type TypedArray", "TypeMismatchError");
      if (a.byteLength > 65536) throw new DOMException(`The ArrayBufferView's byte length (${a.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`, "QuotaExceededError");
      host.randomFill(viewBytes(a));
      return a;
    },
    randomUUID() { return host.randomUUID(); },
  };

  // ---- code generation -----------------------------------------------------

  // Workers refuse code generation from strings; so does this host.
  function noEval() { throw new EvalError("Code generation from strings disallowed for this context"); }
  for (const proto of [Function.prototype, Object.getPrototypeOf(function* () {}), Object.getPrototypeOf(async function () {})]) {
    const F = function () { noEval(); };
    F.prototype = proto;
    Object.defineProperty(proto, "constructor", { value: F, writable: true, configurable: true });
    if (proto === Function.prototype) define("Function", F);
  }
  define("eval", function () { noEval(); });

  // ---- fixes to goja_nodejs globals ----------------------------------------

  // goja's TypedArray.from refuses strings, which are iterable.
  const TypedArray = Object.getPrototypeOf(Uint8Array);
  // goja parses named capture groups but gives matches no groups object
  // (routers such as itty-router read params from it). exec, match,
  // matchAll and replace add it, from the names in the pattern; replace
  // also takes $<name> and hands a replacer function the groups. They are
  // patched only for a script whose source has a named group ("(?<name>",
  // in a literal or in a string a pattern is built from): a RegExp.prototype
  // whose exec was replaced makes goja run every match, replace and split
  // of every pattern through the generic algorithm, several times slower.
  if (host.namedGroups) {
    const groupNames = new Map();
    function namesOf(re) {
      const source = re.source;
      let names = groupNames.get(source);
      if (names !== undefined) return names;
      names = null;
      if (source.indexOf("(?<") >= 0) {
        let index = 0, inClass = false;
        for (let i = 0; i < source.length; i++) {
          const c = source[i];
          if (c === "\\") { i++; continue; }
          if (inClass) { if (c === "]") inClass = false; continue; }
          if (c === "[") { inClass = true; continue; }
          if (c !== "(") continue;
          if (source[i + 1] !== "?") { index++; continue; }
          if (source[i + 2] === "<" && source[i + 3] !== "=" && source[i + 3] !== "!") {
            index++;
            (names || (names = [])).push([source.slice(i + 3, source.indexOf(">", i + 3)), index]);
          }
        }
      }
      if (groupNames.size >= 256) groupNames.clear();
      groupNames.set(source, names);
      return names;
    }
    function groupsOf(names, get) {
      const groups = Object.create(null);
      for (let i = 0; i < names.length; i++) groups[names[i][0]] = get(names[i][1]);
      return groups;
    }
    function withGroups(re, m) {
      if (m === null || m === undefined || m.groups !== undefined) return m;
      const names = namesOf(re);
      if (names !== null) m.groups = groupsOf(names, (i) => m[i]);
      return m;
    }
    const isRegExp = (v) => v instanceof RegExp;
    function patch(proto, name, make) {
      const native = proto[name];
      Object.defineProperty(proto, name, { value: make(native), writable: true, configurable: true });
    }
    patch(RegExp.prototype, "exec", (native) => function exec(s) { return withGroups(this, native.call(this, s)); });
    patch(String.prototype, "match", (native) => function match(re) {
      const m = native.call(this, re);
      return isRegExp(re) && !re.global ? withGroups(re, m) : m;
    });
    patch(String.prototype, "matchAll", (native) => function matchAll(re) {
      const it = native.call(this, re);
      if (!isRegExp(re) || namesOf(re) === null) return it;
      return (function* () { for (const m of it) yield withGroups(re, m); })();
    });
    for (const name of ["replace", "replaceAll"]) {
      patch(String.prototype, name, (native) => function (re, replacement) {
        const names = isRegExp(re) ? namesOf(re) : null;
        if (names === null) return native.call(this, re, replacement);
        if (typeof replacement === "function") {
          const fn = replacement;
          replacement = function (...args) {
            const count = args.length - 2;
            return fn(...args, groupsOf(names, (i) => (i < count ? args[i] : undefined)));
          };
        } else {
          replacement = String(replacement).replace(/\$<([^>]*)>/g, (all, n) => {
            const e = names.find((x) => x[0] === n);
            return e === undefined ? "" : "$" + e[1];
          });
        }
        return native.call(this, re, replacement);
      });
    }
  }

  // goja's TypedArray.from and Array.from step an iterator per element:
  // over 350 KB they take most of a second. Without a map function, a
  // typed array or an Array is copied with set (as from would convert it,
  // element by element), and Array.from over an integer typed array is
  // built in Go (bytes.go).
  const typedFrom = TypedArray.from;
  const isTypedArray = (v) => ArrayBuffer.isView(v) && !(v instanceof DataView);
  const intArrayTypes = [Uint8Array, Int8Array, Uint8ClampedArray, Uint16Array, Int16Array, Uint32Array, Int32Array];
  const isIntArray = (v) => intArrayTypes.some((C) => v instanceof C);
  Object.defineProperty(TypedArray, "from", {
    value: function from(source, ...rest) {
      if (rest.length === 0 && (isTypedArray(source) || Array.isArray(source)) && typeof this === "function" && Object.getPrototypeOf(this) === TypedArray) {
        const out = new this(source.length);
        out.set(source);
        return out;
      }
      return typedFrom.call(this, typeof source === "string" ? Array.from(source) : source, ...rest);
    },
    writable: true, configurable: true,
  });
  // new Uint8Array(array) steps the array's iterator too: the constructors
  // of the number typed arrays copy a plain Array with set instead, which
  // converts each element the same way (they are otherwise goja's own).
  for (const C of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array]) {
    const name = C.name;
    // Every typed array made, slice and subarray included (through the
    // species), comes through here: so no rest parameter, and goja's
    // constructor takes undefined arguments for absent ones, as the
    // standard does.
    const W = {
      [name]: function (a, b, c) {
        if (new.target === undefined) throw new TypeError(`Constructor ${name} requires 'new'`);
        if (Array.isArray(a) && b === undefined && c === undefined) {
          const t = Reflect.construct(C, [a.length], new.target === W ? C : new.target);
          t.set(a);
          return t;
        }
        return new.target === W ? new C(a, b, c) : Reflect.construct(C, [a, b, c], new.target);
      },
    }[name];
    Object.defineProperty(W, "length", { value: 3 });
    Object.defineProperty(W, "prototype", { value: C.prototype, writable: false, enumerable: false, configurable: false });
    Object.defineProperty(W, "BYTES_PER_ELEMENT", { value: C.BYTES_PER_ELEMENT });
    Object.setPrototypeOf(W, TypedArray);
    Object.defineProperty(C.prototype, "constructor", { value: W, writable: true, configurable: true });
    define(name, W);
  }
  const arrayFrom = Array.from;
  Object.defineProperty(Array, "from", {
    value: function from(source, ...rest) {
      if (this === Array && (rest.length === 0 || rest[0] === undefined) && isIntArray(source)) {
        return host.arrayFromTyped(source);
      }
      return arrayFrom.apply(this, arguments);
    },
    writable: true, configurable: true,
  });

  const Buffer = global.Buffer;
  // goja_nodejs names the constructor after its Go method.
  Object.defineProperty(Buffer, "name", { value: "Buffer", configurable: true });
  // goja_nodejs's Buffer knows only utf8, hex and base64 and lacks much of
  // Node's API: the encodings and methods below follow Node (and
  // workerd), over the natives of node.go.
  const bufferEncodings = {
    utf8: "utf8", "utf-8": "utf8", hex: "hex", base64: "base64", base64url: "base64url", latin1: "latin1", binary: "latin1",
    ascii: "ascii", ucs2: "utf16le", "ucs-2": "utf16le", utf16le: "utf16le", "utf-16le": "utf16le",
  };
  function bufferEncoding(enc) {
    if (enc === undefined || enc === null) return "utf8";
    const e = bufferEncodings[String(enc).toLowerCase()];
    if (e === undefined) throw new TypeError(`Unknown encoding: ${enc}`);
    return e;
  }
  const bufferFrom = Buffer.from;
  const asBuffer = (u8) => bufferFrom(u8.buffer, u8.byteOffset, u8.length);
  const bytesOfString = (str, enc) => host.decodeString(str, bufferEncoding(enc));
  // clampIndex converts a start or end argument as Buffer methods do.
  function clampIndex(v, len, dflt) {
    if (v === undefined) return dflt;
    v = Math.trunc(Number(v)) || 0;
    return v < 0 ? 0 : v > len ? len : v;
  }
  // needleOf is what indexOf and fill look for or write: bytes.
  function needleOf(value, enc) {
    if (typeof value === "string") return bytesOfString(value, enc);
    if (typeof value === "number") return new Uint8Array([value & 255]);
    if (isBufferSource(value)) return viewBytes(value);
    throw new TypeError('The "value" argument must be one of type number or string or an instance of Buffer or Uint8Array.');
  }
  Buffer.from = function from(value, encodingOrOffset, length) {
    if (typeof value === "string") return asBuffer(bytesOfString(value, encodingOrOffset));
    return bufferFrom.apply(this, arguments);
  };
  Buffer.isBuffer = (b) => b instanceof Buffer;
  Buffer.isEncoding = (e) => typeof e === "string" && bufferEncodings[e.toLowerCase()] !== undefined;
  // byteLength computes hex and base64 lengths as Node does, from the
  // string's length, and counts an unknown encoding as UTF-8.
  Buffer.byteLength = (v, enc) => {
    if (typeof v !== "string") return v.byteLength;
    const e = (enc !== undefined && enc !== null && bufferEncodings[String(enc).toLowerCase()]) || "utf8";
    if (e === "hex") return v.length >>> 1;
    if (e === "base64" || e === "base64url") {
      let n = v.length;
      if (n > 0 && v.charCodeAt(n - 1) === 0x3d) n--;
      if (n > 0 && v.charCodeAt(n - 1) === 0x3d) n--;
      return (n * 3) >>> 2;
    }
    return host.decodeString(v, e).length;
  };
  Buffer.allocUnsafe = Buffer.allocUnsafeSlow = (size) => Buffer.alloc(size);
  Buffer.compare = (a, b) => Math.sign(host.compareBytes(viewBytes(a), viewBytes(b)));
  Buffer.concat = (list, total) => {
    if (total === undefined) total = list.reduce((n, b) => n + b.length, 0);
    const out = Buffer.alloc(total);
    let off = 0;
    for (const b of list) {
      if (off >= total) break;
      out.set(b.subarray(0, total - off), off);
      off += b.length;
    }
    return out;
  };
  const bufferMethods = {
    toString(enc, start, end) {
      const len = this.length;
      start = clampIndex(start, len, 0);
      end = clampIndex(end, len, len);
      return host.encodeBytes(new Uint8Array(this.buffer, this.byteOffset + start, Math.max(0, end - start)), bufferEncoding(enc));
    },
    toJSON() { return { type: "Buffer", data: Array.from(this) }; },
    equals(other) {
      if (!(other instanceof Uint8Array)) throw new TypeError('The "otherBuffer" argument must be an instance of Buffer or Uint8Array.');
      return host.compareBytes(this, other) === 0;
    },
    compare(target, targetStart, targetEnd, sourceStart, sourceEnd) {
      const t = viewBytes(target);
      return Math.sign(host.compareBytes(
        this.subarray(clampIndex(sourceStart, this.length, 0), clampIndex(sourceEnd, this.length, this.length)),
        t.subarray(clampIndex(targetStart, t.length, 0), clampIndex(targetEnd, t.length, t.length))));
    },
    copy(target, targetStart, sourceStart, sourceEnd) {
      const ts = clampIndex(targetStart, target.length, 0);
      const src = this.subarray(clampIndex(sourceStart, this.length, 0), clampIndex(sourceEnd, this.length, this.length));
      const n = Math.min(src.length, target.length - ts);
      viewBytes(target).set(src.subarray(0, n), ts);
      return n;
    },
    fill(value, offset, end, enc) {
      if (typeof offset === "string") { enc = offset; offset = undefined; end = undefined; }
      if (typeof end === "string") { enc = end; end = undefined; }
      const from = clampIndex(offset, this.length, 0), to = clampIndex(end, this.length, this.length);
      if (typeof value === "number") return Uint8Array.prototype.fill.call(this, value & 255, from, to);
      const pattern = needleOf(value, enc);
      if (pattern.length === 0) return Uint8Array.prototype.fill.call(this, 0, from, to);
      for (let i = from; i < to; i += pattern.length) this.set(pattern.subarray(0, Math.min(pattern.length, to - i)), i);
      return this;
    },
    indexOf(value, byteOffset, enc) {
      if (typeof byteOffset === "string") { enc = byteOffset; byteOffset = undefined; }
      let from = byteOffset === undefined ? 0 : Math.trunc(Number(byteOffset)) || 0;
      if (from < 0) from = Math.max(0, this.length + from);
      return host.indexBytes(this, needleOf(value, enc), from);
    },
    lastIndexOf(value, byteOffset, enc) {
      if (typeof byteOffset === "string") { enc = byteOffset; byteOffset = undefined; }
      const needle = needleOf(value, enc);
      let from = byteOffset === undefined ? this.length : Math.trunc(Number(byteOffset)) || 0;
      if (from < 0) from += this.length;
      for (let i = Math.min(from, this.length - needle.length); i >= 0; i--) {
        let j = 0;
        while (j < needle.length && this[i + j] === needle[j]) j++;
        if (j === needle.length) return i;
      }
      return -1;
    },
    includes(value, byteOffset, enc) { return this.indexOf(value, byteOffset, enc) !== -1; },
    slice(start, end) { return this.subarray(start, end); },
    write(string, offset, length, enc) {
      if (typeof offset === "string") { enc = offset; offset = undefined; length = undefined; }
      if (typeof length === "string") { enc = length; length = undefined; }
      const off = clampIndex(offset, this.length, 0);
      const bytes = bytesOfString(String(string), enc);
      const n = Math.min(bytes.length, this.length - off, length === undefined ? Infinity : Math.max(0, Math.trunc(length) || 0));
      this.set(bytes.subarray(0, n), off);
      return n;
    },
    swap16() { return swap(this, 2); },
    swap32() { return swap(this, 4); },
    swap64() { return swap(this, 8); },
  };
  function swap(b, size) {
    if (b.length % size !== 0) throw new RangeError(`Buffer size must be a multiple of ${size * 8}-bits`);
    for (let i = 0; i < b.length; i += size) {
      for (let j = 0; j < size / 2; j++) {
        const t = b[i + j];
        b[i + j] = b[i + size - 1 - j];
        b[i + size - 1 - j] = t;
      }
    }
    return b;
  }
  for (const k of Object.keys(bufferMethods)) {
    Object.defineProperty(Buffer.prototype, k, { value: bufferMethods[k], writable: true, configurable: true });
  }

  // ---- globals -------------------------------------------------------------

  // The nodejs_compat modules other than node:buffer (js/node.js) are built
  // when a script first imports one; compile.go's module stubs call this.
  let nodeModules = null;
  Object.defineProperty(global, Symbol.for("gradual.node"), {
    value: (name) => {
      if (nodeModules === null) nodeModules = host.node(host, { Buffer, viewBytes, format, inspect });
      return nodeModules(name);
    },
  });

  // process, as workerd's nodejs_compat has it before a bundler's polyfill
  // replaces it (wrangler's does, and asks it for getBuiltinModule and
  // nextTick): env, exit, features, getBuiltinModule, nextTick, platform.
  // getBuiltinModule knows the modules the host builds in; node:events and
  // node:stream are bundled into the scripts that import them.
  const nodeProcess = {
    env: {},
    exit(code) { throw new Error(`The Node.js process.exit(${code === undefined ? "" : code}) API was called. Canceling the request.`); },
    features: { cached_builtins: true, debug: false, inspector: false, ipv6: true, openssl_is_boringssl: true, require_module: false, tls: true, tls_alpn: true, tls_ocsp: true, tls_sni: true, typescript: false, uv: true },
    getBuiltinModule(id) {
      const name = String(id).replace(/^node:/, "");
      if (name === "process") return nodeProcess;
      if (name === "buffer") return { Buffer };
      if (name === "crypto" || name === "util") return global[Symbol.for("gradual.node")](name);
      return undefined;
    },
    // workerd checks nothing here: a callback that is not a function
    // fails on the microtask queue.
    nextTick(fn, ...args) { Promise.resolve().then(() => fn(...args)); },
    platform: "linux",
  };
  Object.defineProperty(global, "process", { value: nodeProcess, writable: true, configurable: true, enumerable: false });

  // Interfaces scripts may name but not construct.
  function illegal(name) {
    const C = { [name]: function () { throw new TypeError("Illegal constructor"); } }[name];
    return C;
  }
  const Crypto = illegal("Crypto");
  const SubtleCrypto = illegal("SubtleCrypto");
  Object.setPrototypeOf(crypto, Crypto.prototype);
  Object.setPrototypeOf(subtle, SubtleCrypto.prototype);

  // ErrorEvent and PromiseRejectionEvent, the Event subclasses workerd
  // defines.
  class ErrorEvent extends Event {
    constructor(type, init) {
      super(type, init);
      const i = init === undefined || init === null ? {} : init;
      this[kGuard] = { message: i.message === undefined ? "" : String(i.message), filename: i.filename === undefined ? "" : String(i.filename),
        lineno: i.lineno >>> 0, colno: i.colno >>> 0, error: i.error };
    }
    get message() { return this[kGuard].message; }
    get filename() { return this[kGuard].filename; }
    get lineno() { return this[kGuard].lineno; }
    get colno() { return this[kGuard].colno; }
    get error() { return this[kGuard].error; }
  }
  class PromiseRejectionEvent extends Event {
    constructor(type, init) {
      super(type, init);
      const i = init === undefined || init === null ? {} : init;
      this[kGuard] = { promise: i.promise, reason: i.reason };
    }
    get promise() { return this[kGuard].promise; }
    get reason() { return this[kGuard].reason; }
  }

  // IdentityTransformStream and FixedLengthStream, workerd's byte
  // pass-through streams; FixedLengthStream checks the length written.
  class IdentityTransformStream extends TransformStream {
    constructor() {
      super({
        transform(chunk, c) {
          if (!isBufferSource(chunk)) throw new TypeError("This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.");
          c.enqueue(copyBytes(chunk));
        },
      });
    }
  }
  class FixedLengthStream extends TransformStream {
    constructor(expectedLength) {
      const n = Number(expectedLength);
      if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER)) throw new TypeError("FixedLengthStream requires a non-negative integer expected length.");
      let seen = 0;
      super({
        transform(chunk, c) {
          if (!isBufferSource(chunk)) throw new TypeError("This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.");
          seen += chunk.byteLength;
          if (seen > n) throw new TypeError("Attempt to write too many bytes through a FixedLengthStream.");
          c.enqueue(copyBytes(chunk));
        },
        flush() { if (seen < n) throw new TypeError("FixedLengthStream did not see all expected bytes before close()."); },
      });
    }
  }

  // CompressionStream and DecompressionStream over Go's compress packages
  // (compress.go). Strings are compressed as their UTF-8, as in workerd.
  const zlibFormats = { gzip: 1, deflate: 1, "deflate-raw": 1 };
  function zlibTransform(what, format, decompress) {
    format = String(format);
    if (!zlibFormats[format]) throw new TypeError(`Failed to construct '${what}': The provided value '${format}' is not a valid enum value of type CompressionFormat.`);
    const z = host.zlibNew(format, decompress);
    return {
      transform(chunk, c) {
        const b = typeof chunk === "string" ? utf8.encode(chunk) : isBufferSource(chunk) ? viewBytes(chunk) : null;
        if (b === null) throw new TypeError(`${what} accepts only ArrayBuffer and ArrayBufferView chunks.`);
        const out = host.zlibWrite(z, b);
        if (out.length > 0) c.enqueue(out);
      },
      flush(c) {
        const out = host.zlibEnd(z);
        if (out.length > 0) c.enqueue(out);
      },
    };
  }
  class CompressionStream extends TransformStream {
    constructor(format) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'CompressionStream': 1 argument required, but only 0 present.");
      super(zlibTransform("CompressionStream", format, false));
    }
  }
  class DecompressionStream extends TransformStream {
    constructor(format) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'DecompressionStream': 1 argument required, but only 0 present.");
      super(zlibTransform("DecompressionStream", format, true));
    }
  }

  // scheduler.wait, workerd's await-able setTimeout.
  const scheduler = { wait(ms) { return new Promise((resolve) => host.setTimer(resolve, ms, false, [])); } };

  const fetchListeners = [];
  function addEventListener(type, listener) {
    if (type === "fetch" && typeof listener === "function") fetchListeners.push(listener);
  }

  const globals = {
    URL, URLSearchParams, DOMException, Event, CustomEvent, EventTarget, AbortController, AbortSignal, TextEncoder, TextDecoder, structuredClone,
    console, Headers, Blob, File, FormData, Request, Response, fetch, crypto, CryptoKey,
    ReadableStream, WritableStream, TransformStream, addEventListener,
    ReadableStreamDefaultReader: streams.ReadableStreamDefaultReader, ReadableStreamBYOBReader: streams.ReadableStreamBYOBReader,
    ReadableStreamDefaultController: streams.ReadableStreamDefaultController, ReadableByteStreamController: illegal("ReadableByteStreamController"),
    WritableStreamDefaultWriter: streams.WritableStreamDefaultWriter, WritableStreamDefaultController: illegal("WritableStreamDefaultController"),
    TransformStreamDefaultController: illegal("TransformStreamDefaultController"),
    CompressionStream, DecompressionStream, Crypto, SubtleCrypto, ErrorEvent, PromiseRejectionEvent, IdentityTransformStream, FixedLengthStream, scheduler,
    CountQueuingStrategy: streams.CountQueuingStrategy, ByteLengthQueuingStrategy: streams.ByteLengthQueuingStrategy,
    TextEncoderStream: streams.TextEncoderStream, TextDecoderStream: streams.TextDecoderStream,
    setTimeout: (fn, ms, ...args) => host.setTimer(fn, ms, false, args),
    setInterval: (fn, ms, ...args) => host.setTimer(fn, ms, true, args),
    clearTimeout: (id) => host.clearTimer(id),
    clearInterval: (id) => host.clearTimer(id),
    queueMicrotask(fn) {
      if (typeof fn !== "function") throw new TypeError("Failed to execute 'queueMicrotask': parameter 1 is not of type 'Function'.");
      Promise.resolve().then(fn);
    },
    atob(data) {
      if (arguments.length === 0) throw new TypeError("atob requires an argument");
      const r = host.atob(String(data));
      if (r === null) throw new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
      return r;
    },
    btoa(data) {
      if (arguments.length === 0) throw new TypeError("btoa requires an argument");
      const r = host.btoa(String(data));
      if (r === null) throw new DOMException("Invalid character", "InvalidCharacterError");
      return r;
    },
    performance: { timeOrigin: Date.now(), now() { return Date.now() - this.timeOrigin; } },
    self: global, navigator: { userAgent: "Cloudflare-Workers" },
  };
  for (const k of Object.keys(globals)) define(k, globals[k]);

  // ---- per-request entry points for Go -------------------------------------

  let handler = null;
  let env = null;

  // isResponse is r instanceof Response, without the allocations of
  // instanceof in goja.
  const kResponse = Symbol("Response");
  Object.defineProperty(Response.prototype, kResponse, { value: true });
  function isResponse(r) { return typeof r === "object" && r !== null && r[kResponse] === true; }

  // describe hands a Response to Go: its headers through headerOps.emit,
  // then host.respond(status, kind, body, statusText), where kind is 0 (no
  // body), 1 (string or bytes) or 2 (stream, and body is a reader), and
  // statusText is null for none.
  function describe(r) {
    const st = r[kState];
    if (st.used) throw new TypeError("The Response body has already been used");
    let src = st.source;
    let kind = 1;
    if (src === null) kind = 0;
    else if (typeof src !== "string") {
      if (src === kNative) src = nativeBodyStream();
      if (isReadableStream(src)) {
        const b = takeBytes(src);
        if (b !== null) src = b;
        else kind = 2;
      }
    }
    st.used = kind !== 0;
    const h = st.headers;
    if (typeof h === "string") host.header("content-type", h);
    else if (isHeaders(h)) headerOps.emit(h[kState]);
    else if (h !== null) headerOps.emit(h);
    host.respond(st.status || 500, kind, kind === 2 ? src.getReader() : src, st.statusText);
  }

  function ExecutionContext() {}
  ExecutionContext.prototype.waitUntil = function (p) { host.waitUntil(Promise.resolve(p)); };
  ExecutionContext.prototype.passThroughOnException = function () { host.passThroughOnException(); };

  class FetchEvent extends Event {
    constructor(request, ctx) {
      super("fetch");
      this.request = request;
      this[kGuard] = { ctx, response: null };
    }
    respondWith(r) {
      if (this[kGuard].response) throw new DOMException("respondWith() was already called", "InvalidStateError");
      this[kGuard].response = isResponse(r) ? r : Promise.resolve(r);
    }
    waitUntil(p) { this[kGuard].ctx.waitUntil(p); }
    passThroughOnException() { this[kGuard].ctx.passThroughOnException(); }
  }

  return {
    // init finds the script's fetch handler after the script has run and
    // builds env. It returns an error message, or "" on success.
    init(vars, metadata) {
      const entry = global.__gradual_entry;
      global.__gradual_entry = undefined;
      const mod = entry && entry.default;
      if (mod && typeof mod.fetch === "function") handler = mod;
      else if (fetchListeners.length === 0) return "the script has no fetch handler: export default { fetch } or call addEventListener(\"fetch\", ...)";
      env = Object.assign({}, vars, { CF_VERSION_METADATA: Object.freeze(metadata) });
      return "";
    },
    // dispatch runs the fetch handler and returns its Response, when it
    // returned one synchronously, or a promise of its result: Go needs no
    // event loop for the former. A synchronous exception propagates to Go.
    // Go describes the Response with response once the call has returned,
    // after the promise jobs the handler queued have run, as in workerd.
    dispatch(method, url, headers, hasBody) {
      const req = Object.create(Request.prototype);
      req[kState] = {
        // A GET or HEAD request has no body, whatever the client sent, as
        // on Workers: so fetch(url, request) and new Request(url, request)
        // work for them.
        url, method, headers, source: hasBody && method !== "GET" && method !== "HEAD" ? kNative : null,
        used: false, redirect: "manual", signal: null, cf: kNative, // the cf getter makes it {} on first use
      };
      const ctx = new ExecutionContext();
      let r;
      if (handler) {
        r = handler.fetch(req, env, ctx);
      } else {
        const ev = new FetchEvent(req, ctx);
        for (const l of fetchListeners) l.call(global, ev);
        r = ev[kGuard].response;
      }
      return isResponse(r) ? r : Promise.resolve(r);
    },
    // fetcher returns a fetch that sends through send instead of the
    // network (see sendRequest).
    fetcher(send) {
      return (input, init) => sendRequest(send, input, init);
    },
    // response describes r to Go if it is a Response.
    response(r) {
      if (isResponse(r)) describe(r);
    },
    // read resolves to the next chunk of a stream reader, or null at its end.
    read(reader) {
      return reader.read().then((r) => {
        if (r.done) return null;
        const v = r.value;
        if (typeof v === "string") return v;
        if (isBufferSource(v)) return viewBytes(v);
        throw new TypeError("This TransformStream is being used as a byte stream, but received an object of non-ArrayBuffer/ArrayBufferView type on its writable side.");
      });
    },
    cancel(reader, reason) { reader.cancel(reason).catch(() => {}); },
  };
});
