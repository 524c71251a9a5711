// Package cfapi speaks the part of Cloudflare's API v4 that wrangler uses
// for a Worker, so that `wrangler deploy`, `wrangler versions …`,
// `wrangler deployments …`, `wrangler rollback` and `wrangler tail` work
// against a Caddy that serves the gradual_api handler. It holds the wire
// shapes and their decoding (Cloudflare's envelope, the multipart version
// upload, the deployment body, tail filters, the trace-v1 tail stream); the
// decisions (which versions exist, what a deployment may contain) belong to
// internal/live, onto which the gradual_api handler maps these values
// (caddymodule/cfroutes.go).
//
// # What wrangler sends and reads
//
// Read from wrangler 4.86.0 (its bundled wrangler-dist/cli.js, sources
// src/versions, src/versions/deployments, src/versions/rollback,
// src/deploy, src/triggers, src/tail, src/cfetch,
// src/deployment-bundle/create-worker-upload-form.ts) and checked by
// running it against a recording stub (integration/wrangler_stub_test.go)
// and a real Caddy (integration/wrangler_caddy_test.go).
// Paths are relative to CLOUDFLARE_API_BASE_URL (…/client/v4); {a} is
// CLOUDFLARE_ACCOUNT_ID, {name} the Worker name of wrangler.toml. Every
// request carries "Authorization: Bearer <CLOUDFLARE_API_TOKEN>" and
// "User-Agent: wrangler/<version>".
//
//	GET    /accounts/{a}/workers/services/{name}
//	       deploy, versions upload, versions deploy. Reads
//	       result.default_environment.script.{tag, tags, last_deployed_from}
//	       ("dash" or "api" make wrangler warn and ask) and
//	       default_environment.environment. Error code 10007 means "no such
//	       Worker": versions upload goes on, deploy switches to PUT below.
//	POST   /accounts/{a}/workers/scripts/{name}/versions?bindings_inherit=strict
//	       versions upload; deploy when the Worker exists and is in module
//	       syntax. Multipart body, see Upload. Reads result.id,
//	       result.startup_time_ms, result.metadata.has_preview (true makes
//	       it ask …/subdomain and print preview URLs) and, for deploy,
//	       result.resources.script.etag. A 5xx answer is retried (3 tries).
//	       An error with code 10021 has its first message source-mapped.
//	PUT    /accounts/{a}/workers/scripts/{name}?excludeScript=true&bindings_inherit=strict
//	       deploy of a Worker that services/{name} did not find, or in
//	       service-worker syntax. Same multipart body. Reads
//	       result.deployment_id (the version ID) and result.startup_time_ms.
//	GET    /accounts/{a}/workers/scripts/{name}/versions?deployable=true
//	       versions list, versions deploy. Reads result.items[], each a
//	       Version.
//	GET    /accounts/{a}/workers/scripts/{name}/versions/{id}
//	       versions view, versions deploy, deployments list|status,
//	       rollback. Reads a Version: id, metadata.{created_on,
//	       author_email, source}, annotations["workers/tag",
//	       "workers/message", "workers/triggered_by"],
//	       resources.script.handlers, resources.script_runtime.
//	       {compatibility_date, compatibility_flags}, resources.bindings.
//	GET    /accounts/{a}/workers/scripts/{name}/deployments
//	       deployments list|status, versions deploy, rollback. Reads
//	       result.deployments[], newest first (.at(0) is "the current
//	       deployment"); each {id, source, strategy, author_email,
//	       annotations, created_on, versions[{version_id, percentage}]}.
//	       rollback without an ID takes the newest deployment but the
//	       current one that has a version at exactly 100.
//	POST   /accounts/{a}/workers/scripts/{name}/deployments[?force=true]
//	       versions deploy, rollback, deploy. Body {"strategy":"percentage",
//	       "versions":[{"version_id","percentage"}],"annotations":
//	       {"workers/message"}}; reads result.id.
//	PATCH  /accounts/{a}/workers/scripts/{name}/script-settings
//	       deploy, versions deploy (when logpush, tail_consumers or
//	       observability are configured). Body is those settings (and
//	       tags); reads logpush, observability.{enabled,
//	       head_sampling_rate}, tail_consumers[], streaming_tail_consumers[].
//	GET    /accounts/{a}/workers/subdomain
//	       deploy when workers_dev is on (the default without routes).
//	       Reads result.subdomain and prints
//	       https://{name}.{subdomain}.workers.dev; code 10007 makes it
//	       offer to register one, and fail when it cannot ask.
//	GET    /accounts/{a}/workers/scripts/{name}/settings
//	       versions upload and deploy, before uploading, to provision
//	       KV, D1 and R2 bindings that have no ID: reads result.bindings
//	       and ignores any error.
//	GET|POST /accounts/{a}/workers/scripts/{name}/subdomain
//	       deploy. POST body {"enabled","previews_enabled"}; reads
//	       enabled and previews_enabled from both.
//	POST   /accounts/{a}/workers/scripts/{name}/tails
//	       tail. Body {"filters":[…]} (see TailFilter); reads result.id,
//	       result.url (a ws:// or wss:// URL it opens without the API
//	       token, with subprotocol trace-v1 and "User-Agent: wrangler/…")
//	       and result.expires_at. On open it sends {"debug":false}; it
//	       pings every 10 s and gives up when a ping has no pong by the
//	       next one. Each text or binary message is one JSON trace event.
//	       That first message comes in an unmasked frame, which RFC 6455
//	       has servers refuse; Cloudflare takes it, and so does ServeTail.
//	DELETE /accounts/{a}/workers/scripts/{name}/tails/{id}
//	       tail, on exit; on Ctrl-C the process may end before it is
//	       sent, so a tail must also end when its WebSocket closes.
//
// What an upload's metadata may hold, and what the gradual_api handler
// does with it: bindings plain_text and secret_text (env vars; secrets
// shown by name only), json (wrangler sends a [vars] value that is a table
// or an array as {"type":"json","name","json":<value>}; env.NAME is that
// value), version_metadata named CF_VERSION_METADATA, and ratelimit and
// service like the gradual block's (its bindings are every version's, so
// an upload can ask for them but not add one); compatibility_flags may
// hold nodejs_compat, whose bundle imports node:events and node:stream and
// asks process.getBuiltinModule("node:process") for workerd's process, all
// of which the host has. Refused, by name: every other binding type,
// service bindings with an entrypoint, props or a non-production
// environment, several modules, Durable Object migrations, static assets
// and containers.
//
// wrangler also sends GET …/workers/scripts/{name}/secrets only in
// interactive sessions (its check that vars do not shadow secrets), and
// zone, route, queue and workflow requests only when wrangler.toml
// configures those. After an answer with code 10000 (authentication) it
// runs its whoami: GET /user/tokens/verify, /user and /memberships, which
// the same missing token makes fail too.
//
// Every list wrangler reads (items, deployments, a deployment's versions,
// a version's bindings) must be [] when empty, never null: wrangler calls
// array methods on them unchecked, so the shapes' MarshalJSON write nil
// slices as [].
//
// Responses are JSON in Cloudflare's envelope
// {"success","errors":[{"code","message"}],"messages","result"}; wrangler
// reads result when success is true and otherwise prints every error as
// "message [code: N]" under "A request to the Cloudflare API (path)
// failed.". A 204 or 205 with no body counts as success.
//
// # Keeping wrangler on loopback
//
// Besides CLOUDFLARE_API_BASE_URL, wrangler reaches the network for usage
// metrics (off with WRANGLER_SEND_METRICS=false), error reports
// (WRANGLER_SEND_ERROR_REPORTS=false) and an npm update check, made when
// it prints its banner and after an unexpected error
// (WRANGLER_HIDE_BANNER=true skips the first; the npm registry it asks is
// npm's, so npm_config_registry can point it elsewhere).
package cfapi
