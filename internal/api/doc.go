// Package api holds what the admin API of caddy-gradual (under /gradual/
// on Caddy's admin endpoint) puts on the wire, in the shapes of
// Cloudflare's Workers API: the answers (Envelope, Worker, Version,
// Deployment, Stats, TailEvent), the request bodies with their decoding
// and limits (UploadRequest, DeployRequest, RollbackRequest), and the Go
// Client that `caddy gradual` uses. The server (caddymodule) and the
// client (gradualcmd) share these types, so that they cannot drift apart.
//
// The package imports nothing of Caddy's HTTP modules and nothing of the
// project but splitter.
package api
