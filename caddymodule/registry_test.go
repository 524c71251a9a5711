package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

// TestProvisionWritesNothing checks that provisioning alone, as `caddy
// validate` does, leaves the stored live state alone, and that the first
// request records the config's deployment.
func TestProvisionWritesNothing(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	old := configStorage
	configStorage = func(caddy.Context) certmagic.Storage { return storage }
	t.Cleanup(func() { configStorage = old })

	g := &Gradual{Worker: "validated", Versions: []*Version{staticVersion("v1", "")}}
	provision(t, g)
	key := storageKey("validated")
	if storage.Exists(context.Background(), key) {
		t.Fatal("provisioning wrote the live state")
	}
	serve(t, g, nil, "")
	deadline := time.Now().Add(5 * time.Second)
	for !storage.Exists(context.Background(), key) {
		if time.Now().After(deadline) {
			t.Fatal("the first request did not record the config's deployment")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := loadState(context.Background(), storage, "validated")
	if err != nil || len(st.Deployments) != 1 || st.Deployments[0].Source != sourceConfig || st.ConfigDeploy != "v1@100%" {
		t.Fatalf("stored state %+v, %v", st, err)
	}
}
