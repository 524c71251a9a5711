package rollout

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/internal/stats"
	"github.com/caddy-gradual/gradual/splitter"
)

// applier stands for a handler: it serves whatever the state makes active.
type applier struct{ config []live.Entry }

func (a *applier) ConfigDeploy() []live.Entry                 { return a.config }
func (a *applier) Prepare(context.Context, *live.State) error { return nil }
func (a *applier) Apply(_ context.Context, st *live.State) (string, error) {
	d, _ := st.Active(live.Key(a.config))
	return d.ID, nil
}

// node is one Caddy of the fleet: its control plane, its rollout runner
// and the figures its handlers recorded, which the test sets.
type node struct {
	w   *live.Worker
	r   *Runner
	mu  sync.Mutex
	tot map[string]stats.Totals
	// rolledBack counts the rollbacks this node decided.
	rolledBack int
}

func (n *node) serve(version string, requests, errors uint64, latency time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.tot[version]
	var v stats.Version
	for i := range requests {
		v.Record(time.Unix(0, 0), latency, i < errors)
	}
	t.Add(v.Snapshot())
	n.tot[version] = t
}

func newNode(t *testing.T, name string, storage live.Storage) *node {
	n := &node{w: live.NewWorker("shop", name, nil), tot: map[string]stats.Totals{}}
	detach, err := n.w.Attach(t.Context(), &applier{config: []live.Entry{{VersionID: "v1", Percentage: 100}}}, storage, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { detach(); n.w.Close() })
	n.r = &Runner{Worker: "shop", Node: name, Ctl: n.w, Logger: zap.NewNop(),
		Totals: func(id string) stats.Totals {
			n.mu.Lock()
			defer n.mu.Unlock()
			return n.tot[id]
		},
		RolledBack: func(*State) { n.rolledBack++ },
	}
	return n
}

func history(t *testing.T, w *live.Worker) []string {
	st, err := w.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range st.Deployments {
		out = append(out, d.Annotations["workers/triggered_by"]+" "+live.Key(d.Versions))
	}
	return out
}

func rolloutOf(t *testing.T, w *live.Worker) *State {
	st, err := w.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Get(st)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fleet starts three nodes on one file_system storage, records the
// config's deployment, and starts a rollout of v2 with min_requests above
// what any one node sees.
func fleet(t *testing.T, t0 time.Time) (a, b, c *node) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	a, b, c = newNode(t, "a", storage), newNode(t, "b", storage), newNode(t, "c", storage)
	p := Policy{Steps: []splitter.Weight{1000, 5000, 10000}, Interval: time.Minute, MaxErrorRate: 0.05, MinRequests: 150, Margin: 0.01}
	if _, err := a.w.Update(t.Context(), func(st *live.State) (bool, error) {
		_, err := Begin(st, "v2", p, "", t0)
		return true, err
	}); err != nil {
		t.Fatal(err)
	}
	return a, b, c
}

func tickAll(at time.Time, nodes ...*node) {
	for _, n := range nodes {
		n.r.Tick(context.Background(), at)
	}
}

// TestFleetRollout: three nodes each see a third of the traffic, fewer
// requests than min_requests; the step is judged on their sum, once, by
// the lease holder; when it dies another node takes over; a failing canary
// is rolled back with its figures in the history.
func TestFleetRollout(t *testing.T) {
	t0 := time.Now()
	a, b, c := fleet(t, t0)
	if got := history(t, a.w); len(got) != 2 || got[1] != "auto_rollout v1@90% v2@10%" {
		t.Fatalf("history after the start: %q", got)
	}
	// Every node sees the step, then serves a third of its traffic.
	tickAll(t0.Add(time.Second), a, b, c)
	for _, n := range []*node{a, b, c} {
		n.serve("v2", 60, 1, 5*time.Millisecond)
		n.serve("v1", 540, 3, 5*time.Millisecond)
	}
	// Due: a, the lease holder, waits until every node has reported the
	// end of the step, then judges 180 canary requests over the fleet.
	tickAll(t0.Add(time.Minute+time.Second), a, b, c)
	if r := rolloutOf(t, a.w); r.Last != nil {
		t.Fatalf("judged before b and c reported the step's end: %+v", r.Last)
	}
	tickAll(t0.Add(time.Minute+2*time.Second), a, b, c)
	r := rolloutOf(t, a.w)
	if r.Status != Running || r.Step != 1 || r.Last == nil || r.Last.Canary.Requests != 180 || r.Last.Stable.Requests != 1620 {
		t.Fatalf("after the first judgement: %+v, last %+v", r, r.Last)
	}
	// Ticking again takes no second step.
	tickAll(t0.Add(time.Minute+3*time.Second), a, b, c)
	want := []string{"config v1@100%", "auto_rollout v1@90% v2@10%", "auto_rollout v1@50% v2@50%"}
	if got := history(t, b.w); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("history %q, want %q", got, want)
	}

	// a dies. Its lease runs out after three poll intervals (an hour
	// here); until then nobody judges, then b or c does.
	for _, n := range []*node{b, c} {
		n.serve("v2", 100, 20, 5*time.Millisecond)
		n.serve("v1", 100, 0, 5*time.Millisecond)
	}
	tickAll(t0.Add(2*time.Minute+3*time.Second), b, c)
	if r := rolloutOf(t, b.w); r.Step != 1 || r.Status != Running {
		t.Fatalf("judged while a still held the lease: %+v", r)
	}
	// Past the lease, b or c takes over; a's figures, silent since, count
	// once it is taken as gone.
	tickAll(t0.Add(4*time.Hour), b, c)
	r = rolloutOf(t, c.w)
	if r.Status != RolledBack || b.rolledBack+c.rolledBack != 1 {
		t.Fatalf("after the canary failed: %s (%q), rollbacks %d+%d", r.Status, r.Reason, b.rolledBack, c.rolledBack)
	}
	got := history(t, c.w)
	if last := got[len(got)-1]; last != "auto_rollback v1@100%" {
		t.Fatalf("last deployment %q", last)
	}
	st, _ := c.w.Load(t.Context())
	msg := st.Deployments[len(st.Deployments)-1].Annotations["workers/message"]
	if !strings.Contains(msg, "canary error rate 20% (40/200) > 5%; stable 0% (0/200)") {
		t.Fatalf("rollback message %q", msg)
	}
}

// TestFleetSuperseded: a deployment by hand ends the rollout, and the
// runner never overrides it.
func TestFleetSuperseded(t *testing.T) {
	t0 := time.Now()
	a, b, _ := fleet(t, t0)
	tickAll(t0.Add(time.Second), a, b)
	if _, err := b.w.Update(t.Context(), func(st *live.State) (bool, error) {
		st.Deploy(live.NewDeployment(live.SourceAPI, []live.Entry{{VersionID: "v1", Percentage: 100}}, "by hand", t0))
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	a.serve("v2", 500, 0, time.Millisecond)
	tickAll(t0.Add(2*time.Second), a, b)
	r := rolloutOf(t, a.w)
	if r.Status != Aborted || !strings.Contains(r.Reason, "changed outside the rollout") {
		t.Fatalf("after a deployment by hand: %s %q", r.Status, r.Reason)
	}
	tickAll(t0.Add(time.Hour), a, b)
	if got := history(t, a.w); got[len(got)-1] != "api v1@100%" {
		t.Fatalf("the rollout overrode the deployment by hand: %q", got)
	}
}

// TestCommands drives pause, resume, promote and abort through the state.
func TestCommands(t *testing.T) {
	t0 := time.Now()
	a, _, _ := fleet(t, t0)
	cmd := func(c string) (*State, error) {
		var out *State
		_, err := a.w.Update(t.Context(), func(st *live.State) (bool, error) {
			r, err := Command(st, c, "", t0)
			out = r
			return err == nil, err
		})
		return out, err
	}
	if r, err := cmd(CommandPause); err != nil || r.Status != Paused {
		t.Fatalf("pause: %v %+v", err, r)
	}
	if _, err := cmd(CommandPause); err == nil {
		t.Fatal("paused twice")
	}
	if r, err := cmd(CommandResume); err != nil || r.Status != Running {
		t.Fatalf("resume: %v %+v", err, r)
	}
	if r, err := cmd(CommandPromote); err != nil || r.Status != Succeeded {
		t.Fatalf("promote: %v %+v", err, r)
	}
	if got := history(t, a.w); got[len(got)-1] != "rollout_promote v2@100%" {
		t.Fatalf("after promote: %q", got)
	}
	if _, err := cmd(CommandAbort); err == nil {
		t.Fatal("aborted an ended rollout")
	}
	// A new rollout may start once the last one ended; v1 is now the canary.
	if _, err := a.w.Update(t.Context(), func(st *live.State) (bool, error) {
		_, err := Begin(st, "v1", DefaultPolicy(), "", t0)
		return true, err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.w.Update(t.Context(), func(st *live.State) (bool, error) {
		_, err := Begin(st, "v1", DefaultPolicy(), "", t0)
		return true, err
	}); err != ErrRunning {
		t.Fatalf("a second rollout: %v", err)
	}
	if r, err := cmd(CommandAbort); err != nil || r.Status != Aborted {
		t.Fatalf("abort: %v %+v", err, r)
	}
	if got := history(t, a.w); got[len(got)-1] != "rollout_abort v2@100%" {
		t.Fatalf("after abort: %q", got)
	}
}
