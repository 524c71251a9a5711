package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rolloutJSON is the part of GET …/rollout the tests read.
type rolloutJSON struct {
	Canary string  `json:"canary"`
	Stable string  `json:"stable"`
	Status string  `json:"status"`
	Step   int     `json:"step"`
	Share  float64 `json:"share"`
	Reason string  `json:"reason"`
	Last   *struct {
		Verdict string `json:"verdict"`
		Reason  string `json:"reason"`
		Figures struct {
			Canary struct {
				Requests uint64 `json:"requests"`
			} `json:"canary"`
		} `json:"figures"`
	} `json:"last"`
}

func getRollout(t *testing.T, admin string) rolloutJSON {
	t.Helper()
	var r rolloutJSON
	apiGet(t, admin, "/gradual/workers/shop/rollout", &r)
	return r
}

// waitRollout polls the rollout until ok, failing after timeout.
func waitRollout(t *testing.T, admin string, timeout time.Duration, ok func(rolloutJSON) bool) rolloutJSON {
	t.Helper()
	var r rolloutJSON
	waitFor(t, timeout, func() bool { r = getRollout(t, admin); return ok(r) },
		func() string { return fmt.Sprintf("rollout stuck at %+v", r) })
	return r
}

// autoHistory is the history's automatic entries: "triggered_by split".
func autoHistory(t *testing.T, admin string) []string {
	t.Helper()
	var out []string
	deps := deployments(t, admin, "shop")
	for i := len(deps) - 1; i >= 0; i-- { // oldest first
		d := deps[i]
		if by := d.Annotations["workers/triggered_by"]; strings.HasPrefix(by, "auto_") {
			var parts []string
			for _, v := range d.Versions {
				parts = append(parts, fmt.Sprintf("%s@%g%%", v.VersionID, v.Percentage))
			}
			out = append(out, by+" "+strings.Join(parts, " "))
		}
	}
	return out
}

// flakyUpstream answers with its name, and with a 500 for the share of
// requests set with fail (0 to 1).
type flakyUpstream struct {
	srv  *httptest.Server
	fail atomic.Uint64 // math.Float64bits
}

func newFlakyUpstream(t *testing.T, name string) *flakyUpstream {
	u := &flakyUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rand.Float64() < float64(u.fail.Load())/1e6 {
			http.Error(w, "canary failure", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *flakyUpstream) setFail(share float64) { u.fail.Store(uint64(share * 1e6)) }
func (u *flakyUpstream) addr() string          { return strings.TrimPrefix(u.srv.URL, "http://") }

// rolloutSite is a worker with a stable version v1 at 100% and a canary v2
// not deployed, whose rollout policy has 2 s steps.
func rolloutSite(addr, stable, canary string, extra string) string {
	return site(addr, fmt.Sprintf(`		version v1 {
			upstream %s
		}
		version v2 {
			upstream %s
		}
		deploy v1
		poll_interval 500ms
		rollout {
			steps 10%% 50%% 100%%
			interval 2s
			max_error_rate 5%%
			min_requests 20
			margin 1%%
		}
%s`, stable, canary, extra))
}

// startSteadyLoad sends keyless requests from a few goroutines until the
// test ends, not failing on errors (a failing canary is the point).
func startSteadyLoad(t *testing.T, url string) {
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			tryGet(url, nil)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { stop.Store(true); <-done })
}

// TestRolloutHealthy: a healthy canary goes 10% → 50% → 100% in 2 s steps,
// each step an auto_rollout deployment in the history, in order; sticky
// keys only ever move to the canary.
func TestRolloutHealthy(t *testing.T) {
	stable, canary := newUpstream(t, "stable"), newUpstream(t, "canary")
	addr := freeAddr()
	loadCaddyfile(t, rolloutSite(addr, stable.addr(), canary.addr(), ""))
	startSteadyLoad(t, "http://"+addr+"/")

	status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/rollout", map[string]any{"version_id": "v2"})
	if status != http.StatusCreated {
		t.Fatalf("start: %d %s", status, msg)
	}
	if status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/rollout", map[string]any{"version_id": "v2"}); status != http.StatusConflict {
		t.Fatalf("a second start: %d %s, want 409", status, msg)
	}

	// Sticky users: 1,000 keys, checked at every share the canary reaches
	// and once it succeeded.
	const keys = 1000
	onCanary := make([]bool, keys)
	checkKeys := func(share float64) {
		for i := range keys {
			resp, _ := get(t, "http://"+addr+"/", http.Header{"Cloudflare-Workers-Version-Key": {fmt.Sprintf("user-%d", i)}})
			now := resp.Header.Get("X-Worker-Version") == "v2"
			if onCanary[i] && !now {
				t.Fatalf("key user-%d moved from the canary back to stable at %g%%", i, share)
			}
			onCanary[i] = now
		}
	}
	seen := map[float64]bool{}
	var r rolloutJSON
	waitFor(t, 40*time.Second, func() bool {
		r = getRollout(t, adminAddr)
		if !seen[r.Share] && r.Status == "running" {
			seen[r.Share] = true
			checkKeys(r.Share)
		}
		return r.Status == "succeeded"
	}, func() string { return fmt.Sprintf("rollout stuck at %+v", r) })
	checkKeys(100)

	want := []string{"auto_rollout v2@10% v1@90%", "auto_rollout v2@50% v1@50%", "auto_rollout v2@100%"}
	if got := autoHistory(t, adminAddr); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("history %q, want %q", got, want)
	}
	if r.Last == nil || r.Last.Verdict != "healthy" || r.Last.Figures.Canary.Requests < 20 {
		t.Fatalf("last judgement %+v", r.Last)
	}
	if m := scrape(t); m[`caddy_gradual_rollout_step{worker="shop"}`] != 100 {
		t.Fatalf("rollout_step gauge %v", m[`caddy_gradual_rollout_step{worker="shop"}`])
	}
	for i, c := range onCanary {
		if !c {
			t.Fatalf("key user-%d is not on the canary at 100%%", i)
		}
	}
}

// TestRolloutRollsBack: a canary that starts failing 30% of its requests
// after the first step is rolled back within the step's interval plus the
// time to notice, with its figures in the history.
func TestRolloutRollsBack(t *testing.T) {
	stable, canary := newUpstream(t, "stable"), newFlakyUpstream(t, "canary")
	addr := freeAddr()
	loadCaddyfile(t, rolloutSite(addr, stable.addr(), canary.addr(), ""))
	startSteadyLoad(t, "http://"+addr+"/")
	before := scrape(t)[`caddy_gradual_rollbacks_total{worker="shop"}`]

	if status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/rollout", map[string]any{"version_id": "v2"}); status != http.StatusCreated {
		t.Fatalf("start: %d %s", status, msg)
	}
	waitRollout(t, adminAddr, 20*time.Second, func(r rolloutJSON) bool { return r.Step >= 2 })
	canary.setFail(0.3)
	failing := time.Now()
	r := waitRollout(t, adminAddr, 20*time.Second, func(r rolloutJSON) bool { return r.Status != "running" })
	took := time.Since(failing)
	if r.Status != "rolled_back" {
		t.Fatalf("status %s (%s), want rolled_back", r.Status, r.Reason)
	}
	// The step under way when the failures begin is judged at its end (at
	// most one 2 s interval later) on figures that may still be mostly
	// good if the failures began just before it ended; the next step then
	// catches them after another interval. Add up to two poll intervals
	// for every node's figures and a tick to notice, and some room for a
	// loaded machine.
	t.Logf("rolled back %v after the canary started failing", took)
	if took > 7*time.Second {
		t.Fatalf("rolled back %v after the canary started failing", took)
	}
	got := autoHistory(t, adminAddr)
	if last := got[len(got)-1]; last != "auto_rollback v1@100%" {
		t.Fatalf("history %q", got)
	}
	deps := deployments(t, adminAddr, "shop")
	if msg := deps[0].Annotations["workers/message"]; !strings.Contains(msg, "canary error rate") || !strings.Contains(msg, "> 5%; stable 0%") {
		t.Fatalf("rollback message %q", msg)
	}
	if after := scrape(t)[`caddy_gradual_rollbacks_total{worker="shop"}`]; after != before+1 {
		t.Fatalf("rollbacks_total %v → %v", before, after)
	}
	// Everyone is back on stable.
	for range 50 {
		if _, body := get(t, "http://"+addr+"/", nil); body != "stable" {
			t.Fatalf("after the rollback %q answered", body)
		}
	}
}

// TestRolloutControl: pause holds the step, resume continues, abort sends
// everyone back to stable; a deployment by hand ends a running rollout.
func TestRolloutControl(t *testing.T) {
	stable, canary := newUpstream(t, "stable"), newUpstream(t, "canary")
	addr := freeAddr()
	loadCaddyfile(t, rolloutSite(addr, stable.addr(), canary.addr(), ""))
	post := func(path string, body any) (int, string) {
		status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/rollout"+path, body)
		return status, msg
	}
	if status, msg := post("", map[string]any{"version_id": "v2", "interval": "1h"}); status != http.StatusCreated {
		t.Fatalf("start: %d %s", status, msg)
	}
	if status, _ := post("/pause", nil); status != http.StatusOK || getRollout(t, adminAddr).Status != "paused" {
		t.Fatalf("pause: %d", status)
	}
	if status, _ := post("/pause", nil); status != http.StatusConflict {
		t.Fatalf("pause twice: %d, want 409", status)
	}
	if status, _ := post("/resume", nil); status != http.StatusOK || getRollout(t, adminAddr).Status != "running" {
		t.Fatalf("resume: %d", status)
	}
	if status, _ := post("/jump", nil); status != http.StatusNotFound {
		t.Fatalf("unknown command: %d, want 404", status)
	}
	if status, _ := post("/abort", map[string]any{"message": "not today"}); status != http.StatusOK {
		t.Fatalf("abort: %d", status)
	}
	if r := getRollout(t, adminAddr); r.Status != "aborted" || r.Reason != "aborted: not today" {
		t.Fatalf("after abort: %+v", r)
	}
	if _, body := get(t, "http://"+addr+"/", nil); body != "stable" {
		t.Fatalf("after abort %q answered", body)
	}

	if status, msg := post("", map[string]any{"version_id": "v2", "interval": "1h"}); status != http.StatusCreated {
		t.Fatalf("start again: %d %s", status, msg)
	}
	status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/rollback", map[string]any{"version_id": "v1"})
	if status != http.StatusCreated {
		t.Fatalf("rollback by hand: %d %s", status, msg)
	}
	if r := getRollout(t, adminAddr); r.Status != "aborted" || !strings.Contains(r.Reason, "by hand (rollback)") {
		t.Fatalf("after a rollback by hand: %+v", r)
	}
	if status, msg := post("", map[string]any{"version_id": "v2", "steps": []float64{50, 10, 100}}); status != http.StatusBadRequest || !strings.Contains(msg, "steps must increase") {
		t.Fatalf("bad steps: %d %s", status, msg)
	}
	if status, msg := post("", map[string]any{"version_id": "v9"}); status != http.StatusBadRequest {
		t.Fatalf("unknown version: %d %s", status, msg)
	}
}

// TestRolloutFleet: three Caddy processes on one storage each see a third
// of the traffic, fewer canary requests per step than min_requests: the
// rollout still advances on their sum, no step is taken twice, and when
// the node deciding is killed another finishes the rollout.
func TestRolloutFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts three Caddy processes")
	}
	stable, canary := newUpstream(t, "stable"), newUpstream(t, "canary")
	storage := storageFor(t)
	var procs []*caddyProc
	var addrs []string
	for range 3 {
		addr := freeAddr()
		body := fmt.Sprintf(`		version v1 {
			upstream %s
		}
		version v2 {
			upstream %s
		}
		deploy v1
		poll_interval 300ms
		rollout {
			steps 10%% 50%% 100%%
			interval 2s
			min_requests 30
		}
`, stable.addr(), canary.addr())
		procs = append(procs, startCaddy(t, storage, addr, body))
		addrs = append(addrs, addr)
	}
	// Each node gets the same steady load: about 40 requests a second, so
	// about 8 canary requests per node in a 2 s step at 10%.
	var stop atomic.Bool
	done := make(chan struct{}, len(addrs))
	for _, a := range addrs {
		go func() {
			defer func() { done <- struct{}{} }()
			for !stop.Load() {
				tryGet("http://"+a+"/", nil)
				time.Sleep(25 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(func() {
		stop.Store(true)
		for range addrs {
			<-done
		}
	})
	if status, _, msg := apiAt(t, procs[1].admin, http.MethodPost, "/gradual/workers/shop/rollout", map[string]any{"version_id": "v2"}); status != http.StatusCreated {
		t.Fatalf("start: %d %s", status, msg)
	}
	r := waitRollout(t, procs[0].admin, 30*time.Second, func(r rolloutJSON) bool { return r.Step >= 2 || r.Status != "running" })
	if r.Status != "running" || r.Last == nil || r.Last.Figures.Canary.Requests < 30 {
		t.Fatalf("the first step was judged on %+v", r.Last)
	}

	// Kill the lease holder.
	var l struct {
		Node string `json:"node"`
	}
	raw, err := os.ReadFile(filepath.Join(storage, "gradual", "workers", "shop", "rollout", "lease.json"))
	if err != nil || json.Unmarshal(raw, &l) != nil {
		t.Fatalf("reading the lease: %v %q", err, raw)
	}
	killed := -1
	for i, p := range procs {
		if strings.Contains(l.Node, fmt.Sprintf("-%d-", p.cmd.Process.Pid)) {
			p.cmd.Process.Kill()
			killed = i
		}
	}
	if killed < 0 {
		t.Fatalf("no process holds the lease %q", l.Node)
	}
	other := procs[(killed+1)%3]
	r = waitRollout(t, other.admin, 40*time.Second, func(r rolloutJSON) bool { return r.Status != "running" })
	if r.Status != "succeeded" {
		t.Fatalf("after the leader died: %s %q", r.Status, r.Reason)
	}
	want := []string{"auto_rollout v2@10% v1@90%", "auto_rollout v2@50% v1@50%", "auto_rollout v2@100%"}
	if got := autoHistory(t, other.admin); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("history %q, want %q (each step once)", got, want)
	}
}

// TestRolloutCLI drives a rollout through the caddy binary: start with
// flags over the policy, status, pause, resume, promote, and status
// --watch ending on success; a refused command exits non-zero with the
// server's message.
func TestRolloutCLI(t *testing.T) {
	stable, canary := newUpstream(t, "stable"), newUpstream(t, "canary")
	addr := freeAddr()
	loadCaddyfile(t, rolloutSite(addr, stable.addr(), canary.addr(), ""))

	out := cliMust(t, "rollout", "start", "v2", "--steps", "20%,60%,100%", "--interval", "1h", "-w", "shop")
	for _, want := range []string{"v2", "v1", "running", "20%"} {
		if !strings.Contains(out, want) {
			t.Fatalf("start printed no %q:\n%s", want, out)
		}
	}
	if r := getRollout(t, adminAddr); r.Share != 20 || r.Status != "running" {
		t.Fatalf("after start: %+v", r)
	}
	if _, body := get(t, "http://"+addr+"/", http.Header{"Cloudflare-Workers-Version-Overrides": {`shop="v2"`}}); body != "canary" {
		t.Fatalf("the canary answers %q", body)
	}
	var js struct {
		Status string  `json:"status"`
		Share  float64 `json:"share"`
	}
	cliJSON(t, &js, "rollout", "status", "-w", "shop")
	if js.Status != "running" || js.Share != 20 {
		t.Fatalf("status --json: %+v", js)
	}
	cliMust(t, "rollout", "pause", "-w", "shop", "--message", "looking at the graphs")
	if r := getRollout(t, adminAddr); r.Status != "paused" {
		t.Fatalf("after pause: %+v", r)
	}
	if _, errOut, code := cliGradual(t, "rollout", "pause", "-w", "shop"); code == 0 || !strings.Contains(errOut, "not running") {
		t.Fatalf("pausing twice: exit %d, %q", code, errOut)
	}
	cliMust(t, "rollout", "resume", "-w", "shop")
	cliMust(t, "rollout", "promote", "-w", "shop")
	out, errOut, code := cliGradual(t, "rollout", "status", "--watch", "-w", "shop")
	if code != 0 || !strings.Contains(out, "succeeded") {
		t.Fatalf("status --watch after promote: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, body := get(t, "http://"+addr+"/", nil); body != "canary" {
		t.Fatalf("after promote %q answered", body)
	}
	if _, errOut, code := cliGradual(t, "rollout", "abort", "-w", "shop"); code == 0 || !strings.Contains(errOut, "ended") {
		t.Fatalf("aborting an ended rollout: exit %d, %q", code, errOut)
	}
}

// TestRolloutResumes: with every node gone (here the only one: its config
// replaced by one without the worker), the rollout waits in the storage;
// a node that comes back resumes it where it was and finishes it.
func TestRolloutResumes(t *testing.T) {
	stable, canary := newUpstream(t, "stable"), newUpstream(t, "canary")
	addr := freeAddr()
	config := rolloutSite(addr, stable.addr(), canary.addr(), "")
	loadCaddyfile(t, config)
	startSteadyLoad(t, "http://"+addr+"/")
	if status, _, msg := api(t, http.MethodPost, "/gradual/workers/shop/rollout", map[string]any{"version_id": "v2"}); status != http.StatusCreated {
		t.Fatalf("start: %d %s", status, msg)
	}
	r := waitRollout(t, adminAddr, 20*time.Second, func(r rolloutJSON) bool { return r.Step >= 2 })

	// The worker leaves this Caddy: its rollout runner stops.
	loadCaddyfile(t, fmt.Sprintf("http://%s {\n\trespond \"away\"\n}\n", addr))
	time.Sleep(3 * time.Second)
	loadCaddyfile(t, config)
	if back := getRollout(t, adminAddr); back.Status != "running" || back.Step < r.Step {
		t.Fatalf("after the restart: %+v, before it %+v", back, r)
	}
	r = waitRollout(t, adminAddr, 30*time.Second, func(r rolloutJSON) bool { return r.Status != "running" })
	if r.Status != "succeeded" {
		t.Fatalf("after the restart the rollout ended %s: %s", r.Status, r.Reason)
	}
	want := []string{"auto_rollout v2@10% v1@90%", "auto_rollout v2@50% v1@50%", "auto_rollout v2@100%"}
	if got := autoHistory(t, adminAddr); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("history %q, want %q", got, want)
	}
}
