package caddymodule

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-gradual/gradual/internal/live"
)

const stateKey = "gradual/workers/validated/state.json"

func withStorage(t *testing.T) *certmagic.FileStorage {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	old := configStorage
	configStorage = func(caddy.Context) certmagic.Storage { return storage }
	t.Cleanup(func() { configStorage = old })
	return storage
}

// TestProvisionWritesNothing checks that provisioning alone, as `caddy
// validate` does, leaves the stored live state alone, and that the first
// poll records the config's deployment.
func TestProvisionWritesNothing(t *testing.T) {
	storage := withStorage(t)
	g := &Gradual{Worker: "validated", Versions: []*Version{staticVersion("v1", "")}}
	provision(t, g)
	if storage.Exists(context.Background(), stateKey) {
		t.Fatal("provisioning wrote the live state")
	}
	g.state.live.Poll(context.Background())
	st, err := g.state.live.Load(context.Background())
	if err != nil || len(st.Deployments) != 1 || st.Deployments[0].Source != live.SourceConfig || st.ConfigDeploy != "v1@100%" {
		t.Fatalf("stored state %+v, %v", st, err)
	}
	if g.serving != st.Deployments[0].ID {
		t.Errorf("serving %q, want the recorded config deployment", g.serving)
	}
}

// TestApplyKeepsServing: a stored deployment that names a version this
// handler cannot load leaves it serving what it served, not the config's
// split.
func TestApplyKeepsServing(t *testing.T) {
	withStorage(t)
	g := &Gradual{Worker: "validated", Versions: []*Version{staticVersion("v1", ""), staticVersion("v2", "")}, Deploy: []DeployEntry{{"v1", 100}}}
	provision(t, g)
	ctx := context.Background()
	deploy := func(entries ...live.Entry) error {
		_, err := g.state.live.Update(ctx, func(st *live.State) (bool, error) {
			st.Deploy(live.NewDeployment(live.SourceAPI, entries, "", now()))
			return true, nil
		})
		return err
	}
	if err := deploy(live.Entry{VersionID: "v2", Percentage: 100}); err != nil {
		t.Fatal(err)
	}
	if w, _ := serve(t, g, nil, ""); w.Body.String() != "v2" {
		t.Fatalf("served %q", w.Body.String())
	}
	var inv *live.InvalidError
	if err := deploy(live.Entry{VersionID: "gone", Percentage: 100}); !errors.As(err, &inv) {
		t.Fatalf("deploying an unknown version: %v", err)
	}
	// Another node stores what this one cannot apply.
	st, _ := g.state.live.Load(ctx)
	st.Deploy(live.NewDeployment(live.SourceAPI, []live.Entry{{VersionID: "gone", Percentage: 100}}, "", now()))
	st.Seq = 1 << 40
	if _, err := g.Apply(ctx, st); err == nil {
		t.Fatal("Apply of an unknown version succeeded")
	}
	if w, _ := serve(t, g, nil, ""); w.Body.String() != "v2" {
		t.Errorf("after a failed apply served %q, want v2", w.Body.String())
	}
}

// TestEvictedUploadsRetire: the upload that makes 21 evicts the oldest
// undeployed one in the same change; the handler stops serving it at once
// and unloads it after retireGrace, on its own timer, which Cleanup stops.
func TestEvictedUploadsRetire(t *testing.T) {
	withStorage(t)
	g := &Gradual{Worker: "validated", Versions: []*Version{staticVersion("v1", "")}}
	provision(t, g)
	ctx := context.Background()
	var first string
	for i := range live.MaxUploads + 1 {
		u := live.NewUpload(live.Upload{Script: "export default { fetch() { return new Response(\"up\") } };"}, now())
		if i == 0 {
			first = u.ID
		}
		if _, err := g.state.live.Update(ctx, func(st *live.State) (bool, error) {
			_, err := st.AddUpload(u)
			return true, err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if g.set.Load().byID[first] != nil {
		t.Error("the evicted upload is still served")
	}
	g.mu.Lock()
	retiredN, reaper := len(g.retired), g.reaper != nil
	g.mu.Unlock()
	if retiredN != 1 || !reaper {
		t.Fatalf("%d retired, reaper %v", retiredN, reaper)
	}
	defer func(old func() time.Time) { now = old }(now)
	later := time.Now().Add(retireGrace + time.Second)
	now = func() time.Time { return later }
	g.reap()
	g.mu.Lock()
	retiredN = len(g.retired)
	g.mu.Unlock()
	if retiredN != 0 {
		t.Errorf("%d still retired after the grace", retiredN)
	}
	if len(g.set.Load().byID) != live.MaxUploads+1 {
		t.Errorf("%d versions served, want the config's and %d uploads", len(g.set.Load().byID), live.MaxUploads)
	}
}
