package caddymodule

import (
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestAdminAddresses pins that the admin endpoints of the config being
// provisioned are found, so that fetch() can never reach them: it breaks
// if a Caddy upgrade moves the config out of the context.
func TestAdminAddresses(t *testing.T) {
	tests := []struct {
		admin *caddy.AdminConfig
		want  []string
	}{
		{nil, []string{caddy.DefaultAdminListen}},
		{&caddy.AdminConfig{Listen: "127.0.0.1:7777", Remote: &caddy.RemoteAdmin{Listen: ":7778"}},
			[]string{caddy.DefaultAdminListen, "127.0.0.1:7777", ":7778"}},
		{&caddy.AdminConfig{Remote: &caddy.RemoteAdmin{}}, []string{caddy.DefaultAdminListen, caddy.DefaultRemoteAdminListen}},
		{&caddy.AdminConfig{Disabled: true, Listen: "127.0.0.1:7777"}, []string{caddy.DefaultAdminListen}},
	}
	for _, tt := range tests {
		ctx, err := caddy.ProvisionContext(&caddy.Config{Admin: tt.admin})
		if err != nil {
			t.Fatal(err)
		}
		if got := adminAddresses(ctx); !slices.Equal(got, tt.want) {
			t.Errorf("admin %+v: %q, want %q", tt.admin, got, tt.want)
		}
	}
}

// TestAdminPort parses admin addresses exactly as Caddy does; a port that
// cannot be known is an error, so that the caller fails closed.
func TestAdminPort(t *testing.T) {
	t.Setenv("GRADUAL_TEST_ADMIN", "127.0.0.1:2999")
	tests := []struct {
		listen   string
		port     uint16
		dialable bool
		err      bool
	}{
		{"localhost:2019", 2019, true, false},
		{":2019", 2019, true, false},
		{"{env.GRADUAL_TEST_ADMIN}", 2999, true, false},
		{"tcp/[::1]:2998", 2998, true, false},
		{"tcp6/[::ffff:127.0.0.1]:2997", 2997, true, false},
		{"tcp4/127.0.0.1:2996", 2996, true, false},
		{"unix//run/caddy-admin.sock", 0, false, false},
		{"127.0.0.1:0", 0, true, true},
		{"fd/3", 0, true, true},
		{"127.0.0.1:2019-2020", 0, true, true},
		{"not an address:x", 0, true, true},
	}
	for _, tt := range tests {
		port, dialable, err := adminPort(tt.listen)
		if port != tt.port || dialable != tt.dialable || (err != nil) != tt.err {
			t.Errorf("adminPort(%q) = %d, %v, %v; want %d, %v, error %v", tt.listen, port, dialable, err, tt.port, tt.dialable, tt.err)
		}
	}
}
