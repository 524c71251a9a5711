// Package gradual plugs caddy-gradual into Caddy. Importing it registers the
// http.handlers.gradual module and the gradual Caddyfile directive, so that
//
//	xcaddy build --with github.com/caddy-gradual/gradual
//
// builds a Caddy with the plugin. The implementation is in the caddymodule,
// splitter, affinity and workerhost packages.
package gradual

import (
	_ "github.com/caddy-gradual/gradual/caddymodule"
)
