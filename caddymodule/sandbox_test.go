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
	ctx, err := caddy.ProvisionContext(&caddy.Config{Admin: &caddy.AdminConfig{
		Listen: "127.0.0.1:7777",
		Remote: &caddy.RemoteAdmin{Listen: ":7778"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := adminAddresses(ctx)
	for _, want := range []string{caddy.DefaultAdminListen, "127.0.0.1:7777", ":7778"} {
		if !slices.Contains(got, want) {
			t.Errorf("adminAddresses = %q, missing %q", got, want)
		}
	}
}
