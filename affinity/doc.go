// Package affinity decides which key a request is routed by and which
// version a tester has asked for. It knows nothing about Caddy: the gradual
// handler feeds it requests and configuration and acts on its answers.
//
// # Overrides
//
// A tester reaches a particular version by sending an RFC 8941 Dictionary in
// the [DefaultOverrideHeader] request header, keyed by worker name:
//
//	Cloudflare-Workers-Version-Overrides: shop="9b2d44e1-v2"
//	Cloudflare-Workers-Version-Overrides: auth="v7", shop="9b2d44e1-v2"
//
// [Override] extracts the version ID for one worker. Values must be quoted
// strings; parameters on a member are ignored and, as RFC 8941 requires, the
// last of several entries for the same worker wins. Because dictionary keys
// are lowercase, worker names must be too: [ValidateWorkerName] checks a name
// when the configuration is loaded, so that every configured worker can be
// addressed. [Prefixes] restricts who may send overrides.
//
// # Affinity keys
//
// A request that carries a key is routed by that key, so the same user keeps
// seeing the same version. [Source.Key] looks for it, in this order:
//
//  1. the [KeyHeader] request header, for clients that manage their own key;
//  2. a configured expression, such as a session cookie or a user ID header;
//  3. the affinity cookie, which the handler mints with [NewKey] and
//     [Cookie.SetCookie] when a request has no key at all.
//
// Keys are opaque: the handler only hashes them. Keys read from the affinity
// cookie must satisfy [ValidKey]; a client that sends a malformed cookie is
// simply treated as a new visitor and gets a fresh one.
package affinity
