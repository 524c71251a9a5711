package caddymodule

import (
	"encoding/json"
	"fmt"
	"net"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestUpstreamVersionsLoadApart provisions several upstream versions whose
// reverse_proxy health checkers start at once and fail at once (nothing
// listens), so each emits an event through its context while the next
// version loads. Under -race this caught versions sharing one context's
// module ancestry.
func TestUpstreamVersionsLoadApart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	var versions []map[string]any
	for i := range 6 {
		versions = append(versions, map[string]any{
			"id": fmt.Sprintf("v%d", i),
			"upstream": map[string]any{
				"handler":   "reverse_proxy",
				"upstreams": []map[string]string{{"dial": closed}},
				"health_checks": map[string]any{"active": map[string]any{
					"uri": "/healthz", "interval": "10ms", "timeout": "50ms",
				}},
			},
		})
	}
	cfg := map[string]any{
		"admin": map[string]any{"disabled": true},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"srv": map[string]any{
			"listen": []string{"127.0.0.1:0"},
			// In a subroute, as the Caddyfile puts it, the handler's
			// ancestry has room to grow in place.
			"routes": []map[string]any{{"handle": []map[string]any{{
				"handler": "subroute",
				"routes": []map[string]any{{"handle": []map[string]any{{
					"handler": "gradual", "worker": "shop", "versions": versions,
					"deploy": []map[string]any{{"version_id": "v0", "percentage": 100}},
				}}}},
			}}}},
		}}}},
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		var c caddy.Config
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		if err := caddy.Validate(&c); err != nil {
			t.Fatal(err)
		}
	}
}
