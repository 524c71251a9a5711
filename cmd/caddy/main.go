// Command caddy is Caddy with the standard modules and caddy-gradual, for
// development: `go run ./cmd/caddy run --config caddyfiles/demo.Caddyfile`.
// Users build their own Caddy with xcaddy (see the README).
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/caddy-gradual/gradual"
)

func main() {
	caddycmd.Main()
}
