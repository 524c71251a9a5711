// Package api holds what the admin API of caddy-gradual (under /gradual/
// on Caddy's admin endpoint) puts on the wire, in the shapes of
// Cloudflare's Workers API: the answers (Envelope, Worker, Version,
// Deployment, Stats, TailEvent), the request bodies with their decoding
// and limits (UploadRequest, DeployRequest, RollbackRequest), and the Go
// Client that `caddy gradual` uses. The server (caddymodule) and the
// client (gradualcmd) share these types, so that they cannot drift apart.
//
// The package imports Caddy's core (for its network addresses) but none of
// its HTTP modules, and nothing else of the project.
package api
