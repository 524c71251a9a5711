// node:events: the npm package events (js/third_party/node_events.js,
// which compile.go serves as gradual:events) and what Node's module has
// beside it, as workerd's nodejs_compat has it: errorMonitor, on,
// getEventListeners, getMaxListeners, setMaxListeners, addAbortListener,
// captureRejectionSymbol, captureRejections, usingDomains.
import EventEmitter, { once } from "gradual:events";

const errorMonitor = Symbol("events.errorMonitor");
const captureRejectionSymbol = Symbol.for("nodejs.rejection");

// An "error" goes to the errorMonitor listeners first, thrown or not.
const emit = EventEmitter.prototype.emit;
EventEmitter.prototype.emit = function (type, ...args) {
  if (type === "error" && this._events !== undefined && this._events[errorMonitor] !== undefined) {
    emit.call(this, errorMonitor, ...args);
  }
  return emit.call(this, type, ...args);
};

class AbortError extends Error {
  constructor(message = "The operation was aborted", options = undefined) {
    super(message, options);
    this.code = "ABORT_ERR";
    this.name = "AbortError";
  }
}

// Node's errors, as workerd has them: classes named after their codes.
class ERR_INVALID_ARG_TYPE extends TypeError {
  constructor(name, what, value) {
    super(`The "${name}" argument must be ${what}. Received ${value === null ? "null" : typeof value}`);
    this.code = "ERR_INVALID_ARG_TYPE";
  }
}
class ERR_OUT_OF_RANGE extends RangeError {
  constructor(name, range, value) {
    super(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`);
    this.code = "ERR_OUT_OF_RANGE";
  }
}
const invalidArgType = (name, what, value) => new ERR_INVALID_ARG_TYPE(name, what, value);

// on returns an async iterator of the arguments of each event; an "error"
// event makes it throw, and so does options.signal's abort.
function on(emitter, event, options = {}) {
  const signal = options ? options.signal : undefined;
  if (signal !== undefined && signal !== null && signal.aborted) {
    throw new AbortError(undefined, { cause: signal.reason });
  }
  const unconsumed = [];
  const pending = [];
  let error = null;
  let finished = false;
  const handler = (...args) => {
    const p = pending.shift();
    if (p) p.resolve({ value: args, done: false });
    else unconsumed.push(args);
  };
  const close = () => {
    emitter.removeListener(event, handler);
    emitter.removeListener("error", errorHandler);
    if (signal) signal.removeEventListener("abort", abortHandler);
    finished = true;
    for (const p of pending.splice(0)) p.resolve({ value: undefined, done: true });
  };
  function errorHandler(err) {
    const p = pending.shift();
    if (p) p.reject(err);
    else error = err;
    close();
  }
  function abortHandler() {
    errorHandler(new AbortError(undefined, { cause: signal.reason }));
  }
  emitter.on(event, handler);
  if (event !== "error") emitter.on("error", errorHandler);
  if (signal) signal.addEventListener("abort", abortHandler, { once: true });
  return {
    next() {
      if (unconsumed.length > 0) return Promise.resolve({ value: unconsumed.shift(), done: false });
      if (error !== null) {
        const p = Promise.reject(error);
        error = null;
        return p;
      }
      if (finished) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
    return() {
      close();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(err) {
      if (!(err instanceof Error)) throw invalidArgType("EventEmitter.AsyncIterator", "an instance of Error", err);
      error = err;
      emitter.removeListener(event, handler);
      emitter.removeListener("error", errorHandler);
    },
    [Symbol.asyncIterator]() { return this; },
  };
}

function getEventListeners(emitter, type) {
  return typeof emitter.listeners === "function" ? emitter.listeners(type) : [];
}

function getMaxListeners(emitter) {
  return typeof emitter.getMaxListeners === "function" ? emitter.getMaxListeners() : EventEmitter.defaultMaxListeners;
}

function setMaxListeners(n = EventEmitter.defaultMaxListeners, ...targets) {
  if (typeof n !== "number" || n < 0 || Number.isNaN(n)) {
    throw new ERR_OUT_OF_RANGE("n", "a non-negative number", n);
  }
  if (targets.length === 0) EventEmitter.defaultMaxListeners = n;
  for (const t of targets) {
    if (typeof t.setMaxListeners === "function") t.setMaxListeners(n);
  }
}

function addAbortListener(signal, listener) {
  if (typeof listener !== "function") throw invalidArgType("listener", "of type function", listener);
  const remove = () => signal.removeEventListener("abort", listener);
  if (signal.aborted) queueMicrotask(() => listener());
  else signal.addEventListener("abort", listener, { once: true });
  const disposable = { dispose: remove };
  if (typeof Symbol.dispose === "symbol") disposable[Symbol.dispose] = remove;
  return disposable;
}

const captureRejections = false;
const usingDomains = false;

Object.assign(EventEmitter, {
  errorMonitor, captureRejectionSymbol, captureRejections, usingDomains,
  on, getEventListeners, getMaxListeners, setMaxListeners, addAbortListener,
});

export default EventEmitter;
export {
  EventEmitter, once, on, errorMonitor, captureRejectionSymbol, captureRejections, usingDomains,
  getEventListeners, getMaxListeners, setMaxListeners, addAbortListener,
};
export const listenerCount = EventEmitter.listenerCount;
export const defaultMaxListeners = EventEmitter.defaultMaxListeners;
