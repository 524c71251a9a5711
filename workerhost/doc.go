// Package workerhost runs Cloudflare-style Workers in goja.
//
// Compile bundles a worker script with esbuild (in-process) and compiles it
// for goja; New creates a Worker, a pool of goja runtimes that have each run
// the script's top-level code; Worker.Serve runs the script's fetch handler
// for one HTTP request. The package imports neither Caddy nor any other
// package of this module.
//
// # Scripts
//
// The entry file may be JavaScript or TypeScript (.ts, .tsx, .jsx) and use
// ES modules: relative imports, JSON imports, and npm packages resolved from
// node_modules folders beside the script (conditions workerd, worker,
// browser; main fields browser, module, main), as Wrangler does. Both
// `export default { fetch(request, env, ctx) }` and the service-worker form
// `addEventListener("fetch", e => e.respondWith(...))` work; an entry with
// no import or export statement is taken for the latter, and, as in
// workerd, sees its vars and CF_VERSION_METADATA as globals. Code is lowered
// to ES2017 (async generators and for-await included), except for the newer
// syntax goja runs natively: private class members, ?., ??, logical
// assignment, object spread and rest, static blocks. The nodejs_compat
// modules are node:buffer, node:crypto, node:util, node:events, node:stream
// and node:stream/promises; importing any other node: module fails the
// build. process.env.NODE_ENV is "production". An inline Source (an upload)
// must be self-contained: it may import those modules but no file.
//
// Compile errors name the script path, line and column. Source maps stay in
// memory and are handed to goja's parser, so exception stacks name the
// original file and line; goja never reads map files itself.
//
// Compiled programs are cached in an LRU of CacheSize (32) entries keyed by
// the sha256 of every loaded source file, the package.json, tsconfig.json
// and jsconfig.json files beside them, and the bundle options. Compiling an
// unchanged script again only re-reads and hashes its files.
//
// # Globals
//
//   - Request, Response (json, redirect, error, clone), Headers (with
//     getSetCookie), body readers text, json, arrayBuffer, bytes, blob and
//     formData (urlencoded and multipart), request.cf (an empty object).
//     The incoming request's headers include host.
//     Incoming request headers and fetch response headers are immutable, as
//     in Workers: copy with new Response(res.body, res) to change them.
//   - fetch: outbound HTTP through the worker's own transport, which dials
//     only what Config.Fetch allows (see FetchPolicy), with the request's
//     context values (for tracing) but not its cancellation, so that
//     ctx.waitUntil work may fetch after the response. It sends only the
//     headers the script set (no Go User-Agent, Accept-Encoding or Referer),
//     accepts and ignores cf: {...}, supports redirect follow (up to 20) and
//     manual (as workerd, it refuses "error"), and AbortSignal. Response
//     bodies are buffered, up to MaxBodyBytes. An incoming GET or HEAD
//     request has a null body.
//   - URL and URLSearchParams after the WHATWG URL Standard (url.go and
//     js/url.js, on github.com/nlnwa/whatwg-url), with URL.canParse and
//     URL.parse; Buffer (goja_nodejs/buffer, with Node's encodings and
//     the methods it lacks added: toString, write, fill, indexOf,
//     compare, copy, toJSON, …); node:crypto (createHash, createHmac,
//     randomBytes, timingSafeEqual, webcrypto) and node:util (format,
//     inspect, promisify, callbackify, inherits, types), built on first
//     import (js/node.js, node.go); node:events and node:stream, the npm
//     packages events and readable-stream bundled by js/gen-node.sh into
//     js/third_party/node_events.js and node_stream.js (node:events
//     completed by js/node_events.js: on, errorMonitor, …), which are
//     bundled into the scripts that import them; and nodejs_compat's process global (env
//     empty, nextTick, platform, features, exit, getBuiltinModule), which
//     wrangler's bundle asks for.
//   - console (log, info, debug, warn, error, trace, assert, dir, table,
//     time, timeEnd), TextEncoder, TextDecoder (every encoding of the
//     Encoding Standard but "replacement", with BOM handling, stream and
//     fatal modes; encoding.go), atob, btoa, structuredClone,
//     queueMicrotask, performance.now, scheduler.wait.
//   - crypto.randomUUID, crypto.getRandomValues, crypto.subtle: digest
//     (SHA-1, SHA-256, SHA-384, SHA-512, MD5); HMAC, AES-GCM, PBKDF2 and
//     HKDF keys (importKey and exportKey raw and jwk, generateKey); sign
//     and verify (HMAC), encrypt and decrypt (AES-GCM), deriveBits and
//     deriveKey (PBKDF2, HKDF; webcrypto.go), timingSafeEqual. The
//     public-key algorithms throw NotSupportedError.
//   - setTimeout, setInterval, clearTimeout, clearInterval (due timers run
//     earliest first, and in the order they were set); AbortController,
//     AbortSignal (abort, timeout, any); Event, CustomEvent, ErrorEvent,
//     PromiseRejectionEvent, EventTarget (no capture phase, as in workerd),
//     DOMException (with the legacy codes); Blob, File, FormData.
//   - ReadableStream (default readers, BYOB readers of byte streams, tee,
//     pipeTo, pipeThrough, async iteration, from), WritableStream,
//     TransformStream, IdentityTransformStream, FixedLengthStream,
//     CompressionStream and DecompressionStream (gzip, deflate,
//     deflate-raw; decompression buffers its input, up to MaxBodyBytes,
//     and answers at the end), TextEncoderStream, TextDecoderStream,
//     CountQueuingStrategy, ByteLengthQueuingStrategy. Readers pull lazily;
//     the writable side has no backpressure: a write resolves once its
//     chunk is transformed.
//
// Where workerd departs from the standards, the host follows workerd; the
// conformance suite (testdata/conformance, TestConformance) compares the
// two case by case and lists the differences that remain.
//
// Scripts get no require, process, filesystem or environment access, and,
// as in Workers, eval, new Function and the other function constructors
// throw EvalError. fetch, timers and ctx methods throw in the global scope,
// outside a request, as in workerd.
//
// # env and ctx
//
// env holds Config.Vars, Config.Bindings and CF_VERSION_METADATA {id, tag,
// timestamp}, the timestamp in RFC 3339. A RateLimit binding is
// Cloudflare's rate-limiting API: env.NAME.limit({key}) resolves {success},
// counted by the binding's RateLimiter; its options are checked as workerd
// checks them, and every failure is a rejection with workerd's message. ctx.waitUntil(promise) keeps the runtime working
// after the response until the promise settles, within WaitUntilTimeout;
// ctx.passThroughOnException() makes Serve return ErrPassThrough, having
// written nothing, when the handler then throws.
//
// # Requests and failures
//
// A runtime is an isolate: its event loop (loop.go), one goroutine, runs
// all its JavaScript, one turn at a time, and serves many requests at
// once: while one awaits fetch, a body, a timer or its ctx.waitUntil work,
// the others run. Requests of a runtime share its global state, as those
// of an isolate do. Serve's goroutine writes the response, so a slow
// client costs a goroutine, never a runtime. The pool starts with one
// runtime and grows to PoolSize while every runtime is busy running
// JavaScript; a runtime beyond the first that serves nothing for 30s is
// dropped. A promise continuation runs as the request that awaited
// (goja's AsyncContextTracker), even when another request settled it; the
// CPU time of a turn is charged to the request the turn runs for.
// Responses get a Content-Length for the body actually sent (header values
// set by the script are replaced); streamed bodies are sent chunked and
// flushed chunk by chunk.
//
//   - Uncaught exception: 500 "worker threw an exception", logged with its
//     source-mapped stack and fields worker, version_id, version_tag.
//   - CPU time over CPULimit: 503 "exceededCpu"; the JavaScript is
//     interrupted. An interrupt makes goja drop the promise jobs queued at
//     the time, which may be other requests', so the runtime takes no new
//     request and stops once those it serves have ended; a new one takes
//     its place. A native call such as a regular expression match is
//     bounded by RegexpMatchTimeout.
//   - No Response (undefined, a non-Response value, or a promise that can
//     never settle): 500 "worker did not return a Response".
//   - Request body over MaxBodyBytes, read by the script: 413.
//   - No runtime within QueueTimeout (the pool lost its last one and the
//     replacement fails), or a closed worker: 503.
//   - Client gone before the response: the request ends at its next turn
//     (its JavaScript running now is interrupted if it is the runtime's only
//     request) and the outcome is "canceled". (request.signal is a signal
//     that never aborts.)
//   - A streamed body that fails after the status was sent: Serve returns
//     ErrResponseAborted so the caller can abort the connection.
//   - Unhandled promise rejections are logged, not swallowed.
//   - Recursion is bounded (4096 frames); the JavaScript heap of a runtime
//     by MemoryLimit (memory.go): past it 503 "exceededMemory", and the
//     runtime is replaced. Check, run on an upload before it is accepted,
//     also bounds the top-level code's heap (see Check).
//   - A Go panic while a Response is written: 500, or ErrResponseAborted
//     once the status is sent; the runtime is replaced.
//
// # Limits and defaults
//
//	CPULimit          1s of CPU time per request (the thread's clock, not
//	                  wall-clock time), including ctx.waitUntil work;
//	                  enforced within half the limit (cpu.go)
//	regexp match      1s of wall-clock time per match (RegexpMatchTimeout)
//	MemoryLimit       128 MiB of JavaScript heap per runtime
//	PoolSize          max(2, GOMAXPROCS) runtimes at most, one at first,
//	                  each serving any number of requests
//	QueueTimeout      5s wait for a runtime when the pool has none
//	WaitUntilTimeout  30s for ctx.waitUntil work after the response
//	MaxBodyBytes      32 MiB for buffered request and fetch response bodies
//	BodyTimeout       30s without progress reading the request body (408)
//	                  or writing a large or streamed response (aborted)
//	StartupCPULimit   2s for a script's top-level code
//	CacheSize         32 compiled programs
//	GC headroom       while workers are loaded, Go's heap may grow by a
//	                  quarter of the smallest MemoryLimit (32 MiB; at most
//	                  64 MiB) before it collects, however small the live
//	                  heap: GOGC is raised after each collection, unless
//	                  GOGC is set in the environment (gc.go)
//	Close             serves what is in progress, and requests that still
//	                  arrive, for up to 5s; cancels what still runs, waits
//	                  up to 5s more, then returns (what is stuck is logged)
//
// console output goes to Config.Logger at the matching zap level (log and
// info at info), with fields worker, version_id, version_tag and console
// (the console method's level); at most 256 lines of at most 16 KiB each
// per request are also returned in Result.Logs.
package workerhost
