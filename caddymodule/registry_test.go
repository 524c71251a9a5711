package caddymodule

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
)

func TestTailHubDropsForSlowClients(t *testing.T) {
	var h tailHub
	if h.active() {
		t.Fatal("empty hub is active")
	}
	slow := h.subscribe("")
	v2 := h.subscribe("v2")
	if !h.active() {
		t.Fatal("hub with subscribers is not active")
	}
	for i := range tailBuffer + 10 {
		h.publish("v1", []byte(fmt.Sprint(i)))
	}
	if got := slow.dropped.Load(); got != 10 {
		t.Errorf("slow client dropped %d, want 10", got)
	}
	if len(v2.events) != 0 || v2.dropped.Load() != 0 {
		t.Errorf("v2-only client got %d events, %d dropped", len(v2.events), v2.dropped.Load())
	}
	h.publish("v2", []byte("x"))
	if len(v2.events) != 1 {
		t.Errorf("v2-only client got %d events, want 1", len(v2.events))
	}
	h.unsubscribe(slow)
	select {
	case <-slow.done:
	default:
		t.Error("unsubscribed client not told it is done")
	}
	h.closeAll()
	if h.active() {
		t.Error("hub still active after closeAll")
	}
	select {
	case <-v2.done:
	default:
		t.Error("closeAll did not end the stream")
	}
}

func TestRedacted(t *testing.T) {
	for name, want := range map[string]bool{
		"Cookie": true, "Set-Cookie": true, "Authorization": true, "Proxy-Authorization": true,
		"X-Api-Key": true, "X-Secret-Thing": true, "X-Auth-Token": true, "Cloudflare-Workers-Version-Key": true,
		"Accept": false, "User-Agent": false, "X-Forwarded-For": false,
	} {
		if got := redacted(name); got != want {
			t.Errorf("redacted(%q) = %v, want %v", name, got, want)
		}
	}
}

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
