// A small implementation of ReadableStream, WritableStream and
// TransformStream: enough to produce and consume streamed bodies. Queues are
// unbounded on the writable side (a write resolves once its chunk has been
// transformed), which keeps the code short; readers still pull lazily.
(function (deps) {
  "use strict";
  // goja's own Promise, whatever a script makes of the global one later.
  const Promise = globalThis.Promise;

  const { kState, viewBytes, concatBytes, encode } = deps;
  const kDecoder = Symbol("decoder");
  const kWriterClosed = Symbol("writer closed");
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

  // The WebIDL conversions of the underlying source, sink, transformer and
  // queuing strategy dictionaries, with the errors workerd throws.
  function dict(v, what) {
    if (v === undefined || v === null) return {};
    if (typeof v !== "object" && typeof v !== "function") throw new TypeError(`${what}: The provided value is not of type 'Object'.`);
    return v;
  }
  function callback(o, name, what) {
    const f = o[name];
    if (f !== undefined && typeof f !== "function") throw new TypeError(`${what}: member ${name} is not a function.`);
    return f === undefined ? null : f;
  }
  function strategyOf(strategy, defaultHWM, what) {
    strategy = dict(strategy, what);
    let hwm = defaultHWM;
    if (strategy.highWaterMark !== undefined) {
      hwm = Number(strategy.highWaterMark);
      if (Number.isNaN(hwm) || hwm < 0) throw new TypeError(`${what}: The highWaterMark must be a non-negative number.`);
    }
    return { hwm, size: callback(strategy, "size", what) };
  }

  // ---- ReadableStream ------------------------------------------------------

  // isReadableStream is v instanceof ReadableStream, which the body code
  // asks on every request, without the allocations of instanceof in goja.
  const kReadable = Symbol("ReadableStream");
  function isReadableStream(v) { return typeof v === "object" && v !== null && v[kReadable] === true; }

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
      if (st.bytesType && !ArrayBuffer.isView(chunk)) throw new TypeError("This ReadableStream is a byte stream: chunks must be ArrayBufferViews.");
      if (st.reads.length > 0) {
        st.reads.shift().resolve({ value: chunk, done: false });
      } else {
        let size = 1;
        if (st.size) {
          try {
            size = Number(st.size(chunk));
            if (!(size >= 0 && size < Infinity)) throw new RangeError("The return value of a queuing strategy's size function must be a finite, non-NaN, non-negative number.");
          } catch (e) {
            // workerd errors the stream without throwing.
            errorStream(st, e);
            return;
          }
        }
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
    if (st.reads.length > 0) for (const r of st.reads.splice(0)) r.resolve({ value: undefined, done: true });
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
      const what = "Failed to construct 'ReadableStream'";
      source = dict(source, what);
      const start = callback(source, "start", what), pull = callback(source, "pull", what), cancel = callback(source, "cancel", what);
      // Byte streams ("bytes") are default streams of byte chunks, which
      // a BYOB reader can also read.
      const type = source.type === undefined ? undefined : String(source.type);
      if (type !== undefined && type !== "bytes") throw new TypeError(`${what}: ${type} is not a valid stream type.`);
      const { hwm, size } = strategyOf(strategy, type === "bytes" ? 0 : 1, what);
      const st = {
        queue: [], queueSize: 0, state: "readable", reason: undefined, reader: null, reads: [],
        started: false, pulling: false, pullAgain: false, closeRequested: false, disturbed: false,
        bytesType: type === "bytes", hwm, size: size === null || type === "bytes" ? null : size,
        pull: pull === null ? null : pull.bind(source),
        cancel: cancel === null ? null : cancel.bind(source),
      };
      this[kState] = st;
      st.controller = new ReadableStreamDefaultController(kState, st);
      // An exception of start errors the stream, as in workerd (the
      // standard rethrows it).
      let started;
      try {
        started = start === null ? undefined : start.call(source, st.controller);
      } catch (e) {
        errorStream(st, e);
      }
      Promise.resolve(started).then(() => {
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
      const mode = dict(options, "Failed to execute 'getReader' on 'ReadableStream'").mode;
      if (mode === undefined) return new ReadableStreamDefaultReader(this);
      if (String(mode) !== "byob") throw new TypeError(`Failed to execute 'getReader' on 'ReadableStream': The provided value '${mode}' is not a valid enum value of type ReadableStreamReaderMode.`);
      return new ReadableStreamBYOBReader(this);
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
      if (pair === null || typeof pair !== "object" || !(pair.readable instanceof ReadableStream) || !(pair.writable instanceof WritableStream)) {
        throw new TypeError("Failed to execute 'pipeThrough' on 'ReadableStream': parameter 1 is not a readable/writable pair.");
      }
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

  Object.defineProperty(ReadableStream.prototype, kReadable, { value: true });

  class ReadableStreamDefaultReader {
    constructor(stream) {
      if (!(stream instanceof ReadableStream)) throw new TypeError("ReadableStreamDefaultReader needs a ReadableStream");
      const st = stream[kState];
      if (st.reader) throw new TypeError("This ReadableStream is currently locked to a reader");
      if (typeof st.bytes === "string") {
        st.bytes = encode(st.bytes);
        if (st.queue.length > 0) st.queue[0][0] = st.bytes;
      }
      st.reader = this;
      const closed = deferred();
      closed.promise.catch(() => {});
      this[kState] = { stream: st, closed, leftover: null };
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
    releaseLock() { releaseReader(this); }
  }

  // releaseReader unlocks a reader's stream: pending reads reject, and so
  // does the reader's closed promise, a fresh rejected one if it had
  // settled.
  function releaseReader(reader) {
    const rs = reader[kState];
    const st = rs.stream;
    if (!st) return;
    const released = () => new TypeError("This ReadableStream reader has been released.");
    for (const r of st.reads.splice(0)) r.reject(released());
    rs.closed.reject(released());
    rs.closed = deferred();
    rs.closed.promise.catch(() => {});
    rs.closed.reject(released());
    st.reader = null;
    rs.stream = null;
  }

  // ReadableStreamBYOBReader reads a byte stream into the caller's views:
  // a chunk larger than the view is kept for the next read.
  class ReadableStreamBYOBReader {
    constructor(stream) {
      if (!(stream instanceof ReadableStream)) throw new TypeError("ReadableStreamBYOBReader needs a ReadableStream");
      if (!stream[kState].bytesType) throw new TypeError("Cannot get a BYOB reader for a stream that is not a byte stream.");
      this[kState] = { inner: new ReadableStreamDefaultReader(stream), leftover: null };
    }
    get closed() { return this[kState].inner.closed; }
    read(view) {
      if (!ArrayBuffer.isView(view)) return Promise.reject(new TypeError("Failed to execute 'read' on 'ReadableStreamBYOBReader': parameter 1 is not of type 'ArrayBufferView'."));
      if (view.byteLength === 0) return Promise.reject(new TypeError("You must call read() on a \"byob\" reader with a positive-sized TypedArray object."));
      const rs = this[kState];
      const C = view.constructor;
      const per = C.BYTES_PER_ELEMENT || 1;
      const fill = (chunk) => {
        const src = viewBytes(chunk);
        const n = Math.min(src.length, view.byteLength);
        const take = n - (n % per);
        new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(src.subarray(0, take));
        rs.leftover = take < src.length ? src.subarray(take) : null;
        return { value: new C(view.buffer, view.byteOffset, take / per), done: false };
      };
      if (rs.leftover !== null) return Promise.resolve(fill(rs.leftover));
      return rs.inner.read().then((r) => (r.done ? { value: new C(view.buffer, view.byteOffset, 0), done: true } : fill(r.value)));
    }
    cancel(reason) { return this[kState].inner.cancel(reason); }
    releaseLock() { releaseReader(this[kState].inner); }
  }

  // ---- WritableStream ------------------------------------------------------

  class WritableStream {
    constructor(sink, strategy) {
      const what = "Failed to construct 'WritableStream'";
      sink = dict(sink, what);
      for (const name of ["start", "write", "close", "abort"]) callback(sink, name, what);
      const { hwm } = strategyOf(strategy, 1, what);
      const st = { state: "writable", reason: undefined, writer: null, sink, closed: deferred(), hwm };
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
      const closed = deferred();
      closed.promise.catch(() => {});
      st.closed.promise.then(closed.resolve, closed.reject);
      this[kWriterClosed] = closed;
    }
    get closed() { return this[kWriterClosed].promise; }
    get ready() { return this[kState].chain.then(() => undefined); }
    get desiredSize() {
      const st = this[kState];
      return st.state === "errored" ? null : st.state === "writable" ? st.hwm : 0;
    }
    write(chunk) {
      const st = this[kState];
      if (st.state !== "writable") return Promise.reject(st.state === "errored" ? st.reason : new TypeError("This WritableStream is closed"));
      return enqueueWrite(st, () => (typeof st.sink.write === "function" ? st.sink.write(chunk, st.controller) : undefined));
    }
    close() { return closeWritable(this[kState]); }
    abort(reason) { return abortWritable(this[kState], reason); }
    releaseLock() {
      const st = this[kState];
      if (st.writer !== this) return;
      st.writer = null;
      // The writer's closed promise rejects, as a reader's does.
      const released = () => new TypeError("This WritableStream writer has been released.");
      this[kWriterClosed].reject(released());
      this[kWriterClosed] = deferred();
      this[kWriterClosed].promise.catch(() => {});
      this[kWriterClosed].reject(released());
    }
  }

  // ---- TransformStream -----------------------------------------------------

  class TransformStream {
    constructor(transformer, writableStrategy, readableStrategy) {
      const what = "Failed to construct 'TransformStream'";
      transformer = dict(transformer, what);
      for (const name of ["start", "transform", "flush", "cancel"]) callback(transformer, name, what);
      if (transformer.readableType !== undefined) throw new TypeError(`${what}: Invalid readableType is specified.`);
      if (transformer.writableType !== undefined) throw new TypeError(`${what}: Invalid writableType is specified.`);
      strategyOf(writableStrategy, 1, what);
      strategyOf(readableStrategy, 0, what);
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
          return new Promise((resolve) => resolve(typeof transformer.flush === "function" ? transformer.flush(tc) : undefined)).then(() => {
            if (canceled === null) rc.close();
          }, (e) => {
            // A failed flush errors the readable side too.
            rc.error(e);
            throw e;
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

  // streamOfBytes makes a stream of one chunk, bytes or a string whose
  // UTF-8 it stands for. It remembers them so that a body passed on unread
  // keeps a known length (Content-Length).
  //
  // Every Response body read as .body is one (frameworks pass it on to a
  // new Response to change headers), so it is built as the constructor
  // would leave a stream whose start enqueued the bytes and closed it,
  // without calling one (a stream with no pull has nothing to do once
  // started), and with only the state such a stream reads: the fields
  // left out read as undefined, which every use takes for false or none.
  // goja stores an object of more than eight properties several times
  // slower. A string is encoded only if a reader is made.
  function streamOfBytes(bytes) {
    const s = Object.create(ReadableStream.prototype);
    const empty = bytes.length === 0;
    s[kState] = {
      queue: empty ? [] : [[bytes, 1]], queueSize: empty ? 0 : 1, state: empty ? "closed" : "readable", reader: null, reads: [],
      closeRequested: true, disturbed: false, bytes,
    };
    return s;
  }

  // takeBytes returns the bytes (or string) of an unread streamOfBytes
  // stream, marking it read, or null for any other stream.
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
    const step = () => reader.read().then(({ value, done }) => {
      if (done) return concatBytes(chunks);
      if (!(value instanceof ArrayBuffer) && !ArrayBuffer.isView(value)) {
        throw new TypeError("This ReadableStream did not return bytes.");
      }
      chunks.push(viewBytes(value));
      return step();
    });
    return step();
  }

  return {
    ReadableStream, ReadableStreamBYOBReader, ReadableStreamDefaultReader, ReadableStreamDefaultController, WritableStream,
    WritableStreamDefaultWriter, TransformStream, TextEncoderStream, TextDecoderStream,
    CountQueuingStrategy, ByteLengthQueuingStrategy, streamOfBytes, takeBytes, readAllBytes, isReadableStream,
  };
});
