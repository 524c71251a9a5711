package caddymodule

import (
	"errors"
	"reflect"
	"unsafe"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/workerhost"
)

// protectAdmin closes the ports of the admin endpoints of the config ctx
// provisions to every worker's fetch(), for the life of the process (see
// workerhost.ProtectAdminPort): the default endpoint (localhost:2019, or
// the CADDY_ADMIN environment variable), the config's admin.listen and its
// remote admin's. An endpoint whose port cannot be known — a kernel-chosen
// port, an inherited socket, an address that does not parse — closes every
// port of this host: the sandbox fails closed.
//
// Both the gradual handler and the admin.api.gradual module call it: Caddy
// provisions the latter before it opens a new admin listener, so a reload
// that moves the admin endpoint protects the new port before any old
// worker could reach it.
func protectAdmin(ctx caddy.Context, logger *zap.Logger) {
	for _, a := range adminAddresses(ctx) {
		port, dialable, err := adminPort(a)
		if err != nil {
			logger.Warn("cannot tell the admin endpoint's port, so fetch() can reach no port of this host",
				zap.String("admin", a), zap.Error(err))
		}
		if dialable {
			workerhost.ProtectAdminPort(port)
		}
	}
}

var errUnknownPort = errors.New("the port is chosen by the kernel or inherited")

// adminPort parses an admin listen address as Caddy does (placeholders
// replaced, then a network address with one port) and returns its port.
// dialable is false for a unix socket, which fetch() cannot dial. A port
// that cannot be known is returned as 0 with an error: the caller closes
// every port.
func adminPort(listen string) (port uint16, dialable bool, err error) {
	input, err := caddy.NewReplacer().ReplaceOrErr(listen, true, true)
	if err != nil {
		return 0, true, err
	}
	na, err := caddy.ParseNetworkAddress(input)
	if err != nil {
		return 0, true, err
	}
	switch {
	case na.IsUnixNetwork():
		return 0, false, nil
	case na.IsFdNetwork() || na.StartPort == 0 || na.StartPort > 65535 || na.PortRangeSize() != 1:
		return 0, true, errUnknownPort
	}
	return uint16(na.StartPort), true, nil
}

// adminAddresses returns the listen addresses of the admin endpoints under
// the config ctx provisions: the default, the config's admin.listen, and
// its remote admin's (Caddy's default when it names none). With the admin
// endpoint off, only the default is returned: protecting it costs nothing.
//
// Caddy gives a module no accessor for the config it is provisioned under,
// so it is read from the context's unexported config field;
// TestAdminAddresses pins that this keeps working with the Caddy version in
// go.mod. Should a later Caddy rename the field, the default address is
// still protected.
func adminAddresses(ctx caddy.Context) []string {
	addrs := []string{caddy.DefaultAdminListen}
	cfg := contextConfig(ctx)
	if cfg == nil || cfg.Admin == nil || cfg.Admin.Disabled {
		return addrs
	}
	if cfg.Admin.Listen != "" {
		addrs = append(addrs, cfg.Admin.Listen)
	}
	if r := cfg.Admin.Remote; r != nil {
		if r.Listen != "" {
			addrs = append(addrs, r.Listen)
		} else {
			addrs = append(addrs, caddy.DefaultRemoteAdminListen)
		}
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
