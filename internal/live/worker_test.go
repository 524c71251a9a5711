package live

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func attach(t *testing.T, m *memStorage, a *fakeApplier) *Worker {
	t.Helper()
	w := NewWorker("shop", "node-a", nil)
	t.Cleanup(w.Close)
	// An hour: the test calls Poll itself.
	detach, err := w.Attach(context.Background(), a, m, time.Hour)
	t.Cleanup(detach)
	if err != nil && !errors.Is(err, errDown) {
		t.Fatal(err)
	}
	return w
}

// TestPollCannotUndoUpdate injects the ordering that used to lose a
// change: a poll reads change N, an Update stores and applies N+1, then
// the poll goes on with N. N must not replace N+1, and the next poll must
// not re-apply anything.
func TestPollCannotUndoUpdate(t *testing.T) {
	m, a := newMem(), newApplier("v1", "v2")
	w := attach(t, m, a)
	d1, err := deploy(t, w, a, Entry{"v1", 100})
	if err != nil {
		t.Fatal(err)
	}

	read, resume := make(chan struct{}), make(chan struct{})
	m.mu.Lock()
	m.onLoadKey = store{name: "shop"}.stateKey()
	m.onLoad = func() { close(read); <-resume }
	m.mu.Unlock()
	polled := make(chan struct{})
	go func() { w.Poll(context.Background()); close(polled) }()
	<-read // the poll holds change N (d1)

	d2, err := deploy(t, w, a, Entry{"v2", 100})
	if err != nil {
		t.Fatal(err)
	}
	close(resume)
	<-polled
	mustServe(t, a, d2.ID)

	_, before := a.state()
	w.Poll(context.Background())
	if _, after := a.state(); after != before {
		t.Errorf("an unchanged state was applied again")
	}
	mustServe(t, a, d2.ID)
	if d1.ID == d2.ID {
		t.Fatal("same deployment IDs")
	}
}

// TestStorageLifecycle runs a node through a storage that fails, recovers,
// loses its data and is restored from a stale copy: the node converges each
// time, and Update never answers success for a change it does not serve.
func TestStorageLifecycle(t *testing.T) {
	ctx := context.Background()
	m, a := newMem(), newApplier("v1", "v2", "v3")
	m.setDown(errDown)
	w := attach(t, m, a)
	mustServe(t, a, "config")
	if _, err := deploy(t, w, a, Entry{"v2", 100}); !errors.Is(err, errDown) {
		t.Fatalf("Update on a failing storage: %v", err)
	}
	if d := w.Poll(ctx); d < time.Hour {
		t.Errorf("a failed poll retries sooner than the interval: %v", d)
	}
	if _, lastErr := w.Serving(); !strings.Contains(lastErr, "storage down") {
		t.Errorf("last error %q", lastErr)
	}

	// Recovery: the first poll records the config's deployment.
	m.setDown(nil)
	if d := w.Poll(ctx); d != time.Hour {
		t.Errorf("interval after recovery: %v", d)
	}
	st, err := w.Load(ctx)
	if err != nil || len(st.Deployments) != 1 || st.Deployments[0].Source != SourceConfig {
		t.Fatalf("after recovery: %+v %v", st, err)
	}
	mustServe(t, a, st.Deployments[0].ID)
	if _, lastErr := w.Serving(); lastErr != "" {
		t.Errorf("last error after recovery %q", lastErr)
	}
	d2, err := deploy(t, w, a, Entry{"v2", 100})
	if err != nil {
		t.Fatal(err)
	}
	stale := m.snapshot()

	// The data is lost: the node serves the config, and a later change
	// takes effect.
	m.restore(nil)
	w.Poll(ctx)
	mustServe(t, a, "config")
	if _, err := deploy(t, w, a, Entry{"v3", 100}); err != nil {
		t.Fatal(err)
	}

	// A stale copy comes back: the node follows it, and a later change
	// takes effect.
	m.restore(stale)
	w.Poll(ctx)
	mustServe(t, a, d2.ID)
	if _, err := deploy(t, w, a, Entry{"v3", 100}); err != nil {
		t.Fatal(err)
	}

	// A corrupt document: reported, served as before, repaired by the
	// next change.
	serving, _ := a.state()
	m.Store(ctx, store{name: "shop"}.stateKey(), []byte("{not json"))
	w.Poll(ctx)
	mustServe(t, a, serving)
	if _, lastErr := w.Serving(); !strings.Contains(lastErr, "corrupt") {
		t.Errorf("last error %q", lastErr)
	}
	if _, err := deploy(t, w, a, Entry{"v1", 100}); err != nil {
		t.Fatal(err)
	}
	if _, lastErr := w.Serving(); lastErr != "" {
		t.Errorf("last error after repair %q", lastErr)
	}
}

// TestRefusedChanges: a deployment this node cannot load, or that names an
// unknown version, is refused and nothing is stored.
func TestRefusedChanges(t *testing.T) {
	m, a := newMem(), newApplier("v1", "v2")
	w := attach(t, m, a)
	d1, err := deploy(t, w, a, Entry{"v1", 100})
	if err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.fail["v2"] = true
	a.mu.Unlock()
	for _, entries := range [][]Entry{{{"v2", 100}}, {{"nope", 100}}, {{"v1", 50}}} {
		_, err := deploy(t, w, a, entries...)
		var inv *InvalidError
		if !errors.As(err, &inv) {
			t.Errorf("%v: %v, want an *InvalidError", entries, err)
		}
	}
	st, _ := w.Load(context.Background())
	if got := st.Deployments[len(st.Deployments)-1].ID; got != d1.ID {
		t.Errorf("a refused change was stored: active %s", got)
	}
	mustServe(t, a, d1.ID)
}

// TestApplyFailureKeepsServing: a change stored by another node that this
// node cannot load leaves it serving what it served, with the failure in
// the fleet view.
func TestApplyFailureKeepsServing(t *testing.T) {
	ctx := context.Background()
	m := newMem()
	a, b := newApplier("v1", "v2"), newApplier("v1", "v2")
	wa, wb := attach(t, m, a), NewWorker("shop", "node-b", nil)
	t.Cleanup(wb.Close)
	detach, err := wb.Attach(ctx, b, m, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(detach)
	d1, _ := deploy(t, wa, a, Entry{"v1", 100})
	wb.Poll(ctx)
	mustServe(t, b, d1.ID)
	b.mu.Lock()
	b.fail["v2"] = true
	b.mu.Unlock()
	if _, err := deploy(t, wa, a, Entry{"v2", 100}); err != nil {
		t.Fatal(err)
	}
	wb.Poll(ctx)
	mustServe(t, b, d1.ID)
	nodes, err := wa.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].ID != "node-b" || !strings.Contains(nodes[0].LastError, "v2 does not load") {
		t.Fatalf("fleet view %+v %v", nodes, err)
	}
	wa.Poll(ctx)
	if nodes, _ = wa.Nodes(ctx); len(nodes) != 2 || nodes[0].Deployment == nodes[1].Deployment {
		t.Errorf("fleet view %+v", nodes)
	}

	// The node is gone after 3 poll intervals without a heartbeat.
	defer func(old func() time.Time) { now = old }(now)
	t0 := time.Now()
	now = func() time.Time { return t0.Add(3*time.Hour + time.Minute) }
	if nodes, _ = wa.Nodes(ctx); len(nodes) != 0 {
		t.Errorf("nodes not seen for over an hour are still listed: %+v", nodes)
	}
}

func TestGoneNodes(t *testing.T) {
	ctx := context.Background()
	m, a := newMem(), newApplier("v1")
	w := NewWorker("shop", "node-a", nil)
	t.Cleanup(w.Close)
	detach, err := w.Attach(ctx, a, m, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(detach)
	defer func(old func() time.Time) { now = old }(now)
	t0 := time.Now()
	now = func() time.Time { return t0 }
	w.heartbeat(ctx, store{s: m, name: "shop"})
	for _, tc := range []struct {
		after time.Duration
		gone  bool
	}{{time.Second, false}, {3 * time.Second, false}, {3*time.Second + time.Millisecond, true}} {
		now = func() time.Time { return t0.Add(tc.after) }
		nodes, err := w.Nodes(ctx)
		if err != nil || len(nodes) != 1 || nodes[0].Gone != tc.gone {
			t.Errorf("after %v: %+v %v", tc.after, nodes, err)
		}
	}
}

// TestScriptsStoredApart: the state document carries hashes; scripts are
// fetched by hash, checked, and deleted once no upload names them.
func TestScriptsStoredApart(t *testing.T) {
	ctx := context.Background()
	m, a := newMem(), newApplier("v1")
	w := attach(t, m, a)
	script := "export default { fetch() { return new Response('hi') } }"
	u := NewUpload(Upload{Script: script}, now())
	if _, err := w.Update(ctx, func(st *State) (bool, error) { _, err := st.AddUpload(u); return true, err }); err != nil {
		t.Fatal(err)
	}
	s := store{s: m, name: "shop"}
	raw, _ := m.Load(ctx, s.stateKey())
	if strings.Contains(string(raw), "Response") {
		t.Fatalf("the script is in the state document: %s", raw)
	}
	st, _ := w.Load(ctx)
	if got, err := st.Script(st.Uploads[0]); err != nil || got != script {
		t.Fatalf("script %q %v", got, err)
	}
	m.Store(ctx, s.scriptKey(u.ScriptHash), []byte("tampered"))
	if _, err := st.Script(st.Uploads[0]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a tampered script: %v", err)
	}
	for range MaxUploads {
		other := NewUpload(Upload{Upstreams: []string{"127.0.0.1:1"}}, now())
		if _, err := w.Update(ctx, func(st *State) (bool, error) { _, err := st.AddUpload(other); return true, err }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Load(ctx, s.scriptKey(u.ScriptHash)); err == nil {
		t.Error("the script of an evicted upload is still stored")
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		failures int
		want     time.Duration
	}{
		{2 * time.Second, 1, 4 * time.Second},
		{2 * time.Second, 3, 16 * time.Second},
		{2 * time.Second, 4, 30 * time.Second},
		{2 * time.Second, 1000, 30 * time.Second},
		{time.Minute, 5, time.Minute},
	} {
		if got := backoff(tc.interval, tc.failures); got != tc.want {
			t.Errorf("backoff(%v, %d) = %v, want %v", tc.interval, tc.failures, got, tc.want)
		}
	}
}

// TestRunRetriesUntilTheStorageAnswers: the poller starts even though the
// first read failed, keeps trying, and converges once the storage answers,
// recording the config's deployment; Close stops it (goleak checks).
func TestRunRetriesUntilTheStorageAnswers(t *testing.T) {
	m, a := newMem(), newApplier("v1")
	m.setDown(errDown)
	w := NewWorker("shop", "node-a", nil)
	defer w.Close()
	detach, err := w.Attach(context.Background(), a, m, time.Millisecond)
	defer detach()
	if !errors.Is(err, errDown) {
		t.Fatalf("Attach on a failing storage: %v", err)
	}
	mustServe(t, a, "config")
	time.Sleep(20 * time.Millisecond) // a few failed polls
	m.setDown(nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := w.Load(context.Background())
		if err == nil && len(st.Deployments) == 1 {
			if serving, _ := a.state(); serving == st.Deployments[0].ID {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the poller did not converge: %+v %v", st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
