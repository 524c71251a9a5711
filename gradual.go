// Package gradual plugs caddy-gradual into Caddy. Importing it registers the
// http.handlers.gradual module, the gradual Caddyfile directive, the admin
// API and the `caddy gradual` command, so that
//
//	xcaddy build --with github.com/caddy-gradual/gradual
//
// builds a Caddy with the plugin. The implementation is in the caddymodule
// (the module) and gradualcmd (the command) packages, over splitter,
// affinity, workerhost and internal/api.
package gradual

import (
	_ "github.com/caddy-gradual/gradual/caddymodule"
	_ "github.com/caddy-gradual/gradual/gradualcmd"
)
