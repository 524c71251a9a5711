package caddymodule

import (
	"reflect"
	"unsafe"

	"github.com/caddyserver/caddy/v2"
)

// adminAddresses returns the addresses Caddy's admin endpoints listen on
// under the config being provisioned, which a worker's fetch() must never
// reach: the default (localhost:2019, or the CADDY_ADMIN environment
// variable), the config's admin.listen and its remote admin's listen.
//
// Caddy exposes a module no accessor for the config it is provisioned
// under, so the address is read from the context's unexported config
// field; TestAdminAddresses pins that this keeps working with the Caddy
// version in go.mod. Should a later Caddy rename the field, the default
// address is still protected.
func adminAddresses(ctx caddy.Context) []string {
	addrs := []string{caddy.DefaultAdminListen}
	cfg := contextConfig(ctx)
	if cfg == nil || cfg.Admin == nil {
		return addrs
	}
	if cfg.Admin.Listen != "" {
		addrs = append(addrs, cfg.Admin.Listen)
	}
	if cfg.Admin.Remote != nil && cfg.Admin.Remote.Listen != "" {
		addrs = append(addrs, cfg.Admin.Remote.Listen)
	}
	return addrs
}

// contextConfig returns the config ctx provisions, or nil.
func contextConfig(ctx caddy.Context) *caddy.Config {
	f := reflect.ValueOf(&ctx).Elem().FieldByName("cfg")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*caddy.Config]() {
		return nil
	}
	return *(**caddy.Config)(unsafe.Pointer(f.UnsafeAddr()))
}
