// A small implementation of ReadableStream, WritableStream and
// TransformStream: enough to produce and consume streamed bodies. Queues are
// unbounded on the writable side (a write resolves once its chunk has been
// transformed), which keeps the code short; readers still pull lazily.
(function (deps) {
  "use strict";

  const { kState, viewBytes } = deps;
  const kDecoder = Symbol("decoder");
  if (!Symbol.asyncIterator) {
    // goja lacks the well-known symbol; esbuild's lowered for-await falls
    // back to the same registry symbol.
    Object.defineProperty(Symbol, "asyncIterator", { value: Symbol.for("Symbol.asyncIterator") });
  }

  function deferred() {
    let resolve, reject;
    const promise = new Promise((a, b) => { resolve = a; reject = b; });
    return { promise, resolve, reject };
  }

  // ---- ReadableStream ------------------------------------------------------

  class ReadableStreamDefaultController {
    constructor(key, st) {
      if (key !== kState) throw new TypeError("Illegal constructor");
      this[kState] = st;
    }
    get desiredSize() {
      const st = this[kState];
      if (st.state === "errored") return null;
      if (st.state === "closed") return 0;
      return st.hwm - st.queueSize;
    }
    enqueue(chunk) {
      const st = this[kState];
      if (st.closeRequested || st.state !== "readable") throw new TypeError("Cannot enqueue a chunk into a closed or errored stream");
      if (st.reads.length > 0) {
        st.reads.shift().resolve({ value: chunk, done: false });
      } else {
        const size = st.size ? st.size(chunk) : 1;
        st.queue.push([chunk, size]);
        st.queueSize += size;
      }
      pullIfNeeded(st);
    }
    close() {
      const st = this[kState];
      if (st.closeRequested || st.state !== "readable") throw new TypeError("Cannot close a closed or errored stream");
      st.closeRequested = true;
      if (st.queue.length === 0) finishClose(st);
    }
    error(e) { errorStream(this[kState], e); }
  }

  function finishClose(st) {
    st.state = "closed";
    for (const r of st.reads.splice(0)) r.resolve({ value: undefined, done: true });
    if (st.reader) st.reader[kState].closed.resolve();
  }

  function errorStream(st, e) {
    if (st.state !== "readable") return;
    st.state = "errored";
    st.reason = e;
    st.queue = [];
    st.queueSize = 0;
    for (const r of st.reads.splice(0)) r.reject(e);
    if (st.reader) st.reader[kState].closed.reject(e);
  }

  function pullIfNeeded(st) {
    if (!st.started || st.state !== "readable" || st.closeRequested || !st.pull) return;
    if (st.reads.length === 0 && st.queueSize >= st.hwm) return;
    if (st.pulling) { st.pullAgain = true; return; }
    st.pulling = true;
    let r;
    try {
      r = st.pull(st.controller);
    } catch (e) {
      errorStream(st, e);
      return;
    }
    Promise.resolve(r).then(() => {
      st.pulling = false;
      if (st.pullAgain) { st.pullAgain = false; pullIfNeeded(st); }
    }, (e) => errorStream(st, e));
  }

  function cancelStream(st, reason) {
    st.disturbed = true;
    if (st.state === "closed") return Promise.resolve();
    if (st.state === "errored") return Promise.reject(st.reason);
    st.queue = [];
    st.queueSize = 0;
    finishClose(st);
    return Promise.resolve(st.cancel ? st.cancel(reason) : undefined).then(() => undefined);
  }

  class ReadableStream {
    constructor(source, strategy) {
      if (source === undefined || source === null) source = {};
      if (strategy === undefined || strategy === null) strategy = {};
      // Byte streams ("bytes") are served as default streams of chunks.
      if (source.type !== undefined && source.type !== "bytes") {
        throw new RangeError(`Invalid stream type: ${source.type}`);
      }
      const st = {
        queue: [], queueSize: 0, state: "readable", reason: undefined, reader: null, reads: [],
        started: false, pulling: false, pullAgain: false, closeRequested: false, disturbed: false,
        hwm: strategy.highWaterMark === undefined ? (source.type === "bytes" ? 0 : 1) : Number(strategy.highWaterMark),
        size: typeof strategy.size === "function" ? strategy.size : null,
        pull: typeof source.pull === "function" ? source.pull.bind(source) : null,
        cancel: typeof source.cancel === "function" ? source.cancel.bind(source) : null,
      };
      this[kState] = st;
      st.controller = new ReadableStreamDefaultController(kState, st);
      const start = typeof source.start === "function" ? source.start(st.controller) : undefined;
      Promise.resolve(start).then(() => {
        st.started = true;
        pullIfNeeded(st);
      }, (e) => errorStream(st, e));
    }
    get locked() { return this[kState].reader !== null; }
    cancel(reason) {
      if (this.locked) return Promise.reject(new TypeError("Cannot cancel a locked stream"));
      return cancelStream(this[kState], reason);
    }
    getReader(options) {
      if (options && options.mode === "byob") throw new TypeError("BYOB readers are not supported");
      return new ReadableStreamDefaultReader(this);
    }
    tee() {
      const reader = this.getReader();
      let reading = false;
      const canceled = [false, false];
      const ctrls = [];
      const branch = (i) => new ReadableStream({
        start(c) { ctrls[i] = c; },
        pull() {
          if (reading) return;
          reading = true;
          return reader.read().then(({ value, done }) => {
            reading = false;
            for (let j = 0; j < 2; j++) {
              if (canceled[j]) continue;
              if (done) ctrls[j].close(); else ctrls[j].enqueue(value);
            }
          }, (e) => { ctrls[0].error(e); ctrls[1].error(e); });
        },
        cancel(reason) {
          canceled[i] = true;
          if (canceled[0] && canceled[1]) return reader.cancel(reason);
        },
      }, { highWaterMark: 0 });
      return [branch(0), branch(1)];
    }
    pipeTo(dest, options) {
      const opts = options || {};
      let reader, writer;
      try {
        reader = this.getReader();
        writer = dest.getWriter();
      } catch (e) {
        return Promise.reject(e);
      }
      const step = () => reader.read().then(({ value, done }) => {
        if (done) return opts.preventClose ? undefined : writer.close();
        return writer.write(value).then(step);
      });
      return step().then(() => {
        reader.releaseLock();
        writer.releaseLock();
      }, (e) => {
        if (!opts.preventAbort) writer.abort(e).catch(() => {});
        if (!opts.preventCancel) reader.cancel(e).catch(() => {});
        throw e;
      });
    }
    pipeThrough(pair, options) {
      this.pipeTo(pair.writable, options).catch(() => {});
      return pair.readable;
    }
    values(options) {
      const reader = this.getReader();
      const preventCancel = !!(options && options.preventCancel);
      return {
        next() { return reader.read(); },
        return(value) {
          const done = () => ({ value, done: true });
          if (preventCancel) { reader.releaseLock(); return Promise.resolve(done()); }
          return reader.cancel(value).then(done);
        },
        [Symbol.asyncIterator]() { return this; },
      };
    }
    [Symbol.asyncIterator](options) { return this.values(options); }
    static from(iterable) {
      const it = iterable[Symbol.asyncIterator] ? iterable[Symbol.asyncIterator]() : iterable[Symbol.iterator]();
      return new ReadableStream({
        pull(c) {
          return Promise.resolve(it.next()).then((r) => {
            if (r.done) c.close(); else return Promise.resolve(r.value).then((v) => c.enqueue(v));
          });
        },
        cancel(reason) { if (typeof it.return === "function") return it.return(reason); },
      }, { highWaterMark: 0 });
    }
  }

  class ReadableStreamDefaultReader {
    constructor(stream) {
      if (!(stream instanceof ReadableStream)) throw new TypeError("ReadableStreamDefaultReader needs a ReadableStream");
      const st = stream[kState];
      if (st.reader) throw new TypeError("This ReadableStream is currently locked to a reader");
      st.reader = this;
      const closed = deferred();
      closed.promise.catch(() => {});
      this[kState] = { stream: st, closed };
      if (st.state === "closed") closed.resolve();
      if (st.state === "errored") closed.reject(st.reason);
    }
    get closed() { return this[kState].closed.promise; }
    read() {
      const st = this[kState].stream;
      if (!st || st.reader !== this) return Promise.reject(new TypeError("This reader has been released"));
      st.disturbed = true;
      if (st.queue.length > 0) {
        const [chunk, size] = st.queue.shift();
        st.queueSize -= size;
        if (st.closeRequested && st.queue.length === 0) finishClose(st);
        else pullIfNeeded(st);
        return Promise.resolve({ value: chunk, done: false });
      }
      if (st.state === "closed") return Promise.resolve({ value: undefined, done: true });
      if (st.state === "errored") return Promise.reject(st.reason);
      const d = deferred();
      st.reads.push(d);
      pullIfNeeded(st);
      return d.promise;
    }
    cancel(reason) {
      const st = this[kState].stream;
      if (!st) return Promise.reject(new TypeError("This reader has been released"));
      return cancelStream(st, reason);
    }
    releaseLock() {
      const st = this[kState].stream;
      if (!st) return;
      for (const r of st.reads.splice(0)) r.reject(new TypeError("The reader was released"));
      st.reader = null;
      this[kState].stream = null;
    }
  }

  // ---- WritableStream ------------------------------------------------------

  class WritableStream {
    constructor(sink, strategy) {
      if (sink === undefined || sink === null) sink = {};
      const st = { state: "writable", reason: undefined, writer: null, sink, closed: deferred() };
      st.closed.promise.catch(() => {});
      this[kState] = st;
      st.controller = { error: (e) => failWritable(st, e), signal: new AbortController().signal };
      st.chain = Promise.resolve(typeof sink.start === "function" ? sink.start(st.controller) : undefined);
      st.chain.catch((e) => failWritable(st, e));
    }
    get locked() { return this[kState].writer !== null; }
    getWriter() { return new WritableStreamDefaultWriter(this); }
    abort(reason) { return abortWritable(this[kState], reason); }
    close() { return closeWritable(this[kState]); }
  }

  function failWritable(st, e) {
    if (st.state === "errored" || st.state === "closed") return;
    st.state = "errored";
    st.reason = e;
    st.closed.reject(e);
  }
  function enqueueWrite(st, op) {
    const p = st.chain.then(() => {
      if (st.state === "errored") throw st.reason;
      return op();
    });
    st.chain = p.catch((e) => failWritable(st, e));
    return p;
  }
  function closeWritable(st) {
    if (st.state !== "writable") return Promise.reject(new TypeError("Cannot close a stream that is closing, closed or errored"));
    st.state = "closing";
    return enqueueWrite(st, () => (typeof st.sink.close === "function" ? st.sink.close() : undefined)).then(() => {
      st.state = "closed";
      st.closed.resolve();
    });
  }
  function abortWritable(st, reason) {
    if (st.state === "closed" || st.state === "errored") return Promise.resolve();
    const r = typeof st.sink.abort === "function" ? st.sink.abort(reason) : undefined;
    failWritable(st, reason);
    return Promise.resolve(r).then(() => undefined);
  }

  class WritableStreamDefaultWriter {
    constructor(stream) {
      const st = stream[kState];
      if (st.writer) throw new TypeError("This WritableStream is currently locked to a writer");
      st.writer = this;
      this[kState] = st;
    }
    get closed() { return this[kState].closed.promise; }
    get ready() { return this[kState].chain.then(() => undefined); }
    get desiredSize() { return this[kState].state === "writable" ? 1 : 0; }
    write(chunk) {
      const st = this[kState];
      if (st.state !== "writable") return Promise.reject(st.state === "errored" ? st.reason : new TypeError("This WritableStream is closed"));
      return enqueueWrite(st, () => (typeof st.sink.write === "function" ? st.sink.write(chunk, st.controller) : undefined));
    }
    close() { return closeWritable(this[kState]); }
    abort(reason) { return abortWritable(this[kState], reason); }
    releaseLock() { this[kState].writer = null; }
  }

  // ---- TransformStream -----------------------------------------------------

  class TransformStream {
    constructor(transformer) {
      if (transformer === undefined || transformer === null) transformer = {};
      let rc;
      let canceled = null;
      this.readable = new ReadableStream({
        start(c) { rc = c; },
        cancel(reason) { canceled = reason === undefined ? new TypeError("The readable side was canceled") : reason; },
      }, { highWaterMark: 0 });
      const tc = {
        enqueue(chunk) {
          if (canceled !== null) throw canceled;
          rc.enqueue(chunk);
        },
        error(e) { rc.error(e); },
        terminate() { rc.close(); },
        get desiredSize() { return rc.desiredSize; },
      };
      const start = typeof transformer.start === "function" ? transformer.start(tc) : undefined;
      this.writable = new WritableStream({
        start() { return start; },
        write(chunk) { return typeof transformer.transform === "function" ? transformer.transform(chunk, tc) : tc.enqueue(chunk); },
        close() {
          return Promise.resolve(typeof transformer.flush === "function" ? transformer.flush(tc) : undefined).then(() => {
            if (canceled === null) rc.close();
          });
        },
        abort(reason) { rc.error(reason); },
      });
    }
  }

  class TextEncoderStream extends TransformStream {
    constructor() {
      const enc = new TextEncoder();
      super({ transform(chunk, c) { const b = enc.encode(String(chunk)); if (b.length) c.enqueue(b); } });
    }
    get encoding() { return "utf-8"; }
  }
  class TextDecoderStream extends TransformStream {
    constructor(label, options) {
      const dec = new TextDecoder(label, options);
      super({
        transform(chunk, c) { const s = dec.decode(chunk, { stream: true }); if (s) c.enqueue(s); },
        flush(c) { const s = dec.decode(); if (s) c.enqueue(s); },
      });
      this[kDecoder] = dec;
    }
    get encoding() { return this[kDecoder].encoding; }
    get fatal() { return this[kDecoder].fatal; }
    get ignoreBOM() { return this[kDecoder].ignoreBOM; }
  }

  class CountQueuingStrategy {
    constructor(init) { this.highWaterMark = init.highWaterMark; }
    size() { return 1; }
  }
  class ByteLengthQueuingStrategy {
    constructor(init) { this.highWaterMark = init.highWaterMark; }
    size(chunk) { return chunk.byteLength; }
  }

  // streamOfBytes makes a stream of one chunk. It remembers the bytes so
  // that a body passed on unread keeps a known length (Content-Length).
  function streamOfBytes(bytes) {
    const s = new ReadableStream({
      start(c) {
        if (bytes.length > 0) c.enqueue(bytes);
        c.close();
      },
    });
    s[kState].bytes = bytes;
    return s;
  }

  // takeBytes returns the bytes of an unread streamOfBytes stream, marking
  // it read, or null for any other stream.
  function takeBytes(stream) {
    const st = stream[kState];
    if (st.bytes === undefined || st.disturbed || st.reader !== null) return null;
    st.disturbed = true;
    st.queue = [];
    st.queueSize = 0;
    st.state = "closed";
    return st.bytes;
  }

  // readAllBytes reads a stream to its end and resolves to one Uint8Array.
  function readAllBytes(stream) {
    const bytes = takeBytes(stream);
    if (bytes !== null) return Promise.resolve(bytes);
    let reader;
    try {
      reader = stream.getReader();
    } catch (e) {
      return Promise.reject(new TypeError("The body stream is locked or disturbed"));
    }
    const chunks = [];
    let total = 0;
    const step = () => reader.read().then(({ value, done }) => {
      if (done) {
        const out = new Uint8Array(total);
        let off = 0;
        for (const c of chunks) { out.set(c, off); off += c.length; }
        return out;
      }
      if (!(value instanceof ArrayBuffer) && !ArrayBuffer.isView(value)) {
        throw new TypeError("This ReadableStream did not return bytes.");
      }
      const b = viewBytes(value);
      chunks.push(b);
      total += b.length;
      return step();
    });
    return step();
  }

  return {
    ReadableStream, ReadableStreamDefaultReader, ReadableStreamDefaultController, WritableStream,
    WritableStreamDefaultWriter, TransformStream, TextEncoderStream, TextDecoderStream,
    CountQueuingStrategy, ByteLengthQueuingStrategy, streamOfBytes, takeBytes, readAllBytes,
  };
});
