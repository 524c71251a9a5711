package caddymodule

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/internal/live"
)

// Live deployments: versions uploaded and deployments made through the
// admin API are kept per worker in Caddy's storage by internal/live, whose
// Worker applies every change to the handlers serving the worker through
// Apply. This file is the handler's side of it.

// retireGrace is how long an upload that left the stored state stays
// loaded, for requests that reached it by override just before.
const retireGrace = time.Minute

// configStorage returns the storage of the config being provisioned; unit
// tests, whose contexts have no config, replace it.
var configStorage = func(ctx caddy.Context) certmagic.Storage { return ctx.Storage() }

// nodeID names this process in the fleet view: the host name, the process
// ID, and a random suffix, as process IDs repeat across restarts and
// containers.
var nodeID = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", cmp.Or(host, "caddy"), os.Getpid(), hex.EncodeToString(b[:]))
})

// upload is an uploaded version loaded by this handler; releasing v
// unloads its modules (loadBackend gives each its own context).
type upload struct {
	v *version
}

// retired is an upload that left the stored state, unloaded after
// retireGrace.
type retired struct {
	up *upload
	at time.Time
}

// ConfigDeploy implements live.Applier.
func (g *Gradual) ConfigDeploy() []live.Entry { return g.configDeploy }

// active is the deployment st makes active for this handler, and its ID
// ("" for the config's deployment when it was never recorded).
func (g *Gradual) active(st *live.State) (string, []live.Entry) {
	if d, ok := st.Active(g.configKey); ok {
		return d.ID, d.Versions
	}
	return "", g.configDeploy
}

// Prepare implements live.Applier: it checks st's active deployment
// against the versions this handler knows and loads the uploads it names,
// so that a deployment is accepted only when it loads on this node.
func (g *Gradual) Prepare(ctx context.Context, st *live.State) error {
	_, entries := g.active(st)
	known := make([]string, 0, len(g.config)+len(st.Uploads))
	for _, v := range g.config {
		known = append(known, v.id)
	}
	for _, u := range st.Uploads {
		known = append(known, u.ID)
	}
	if _, err := live.Split(known, entries); err != nil {
		return err
	}
	var need []live.Upload
	for _, e := range entries {
		if u, ok := st.Upload(e.VersionID); ok && !g.isConfigVersion(u.ID) {
			need = append(need, u)
		}
	}
	failed := g.load(st, need)
	for _, e := range entries {
		if err := failed[e.VersionID]; err != nil {
			return live.Invalidf("version %s does not load on this node: %v", e.VersionID, err)
		}
	}
	return nil
}

func (g *Gradual) isConfigVersion(id string) bool {
	return slices.ContainsFunc(g.config, func(v *version) bool { return v.id == id })
}

// load loads the uploads this handler does not have yet, holding no lock
// while it compiles, and returns the failures.
func (g *Gradual) load(st *live.State, uploads []live.Upload) map[string]error {
	failed := map[string]error{}
	for _, u := range uploads {
		g.mu.Lock()
		have := g.uploads[u.ID] != nil || g.closed
		g.mu.Unlock()
		if have || g.isConfigVersion(u.ID) {
			continue
		}
		up, err := g.loadUpload(st, u)
		if err != nil {
			g.logger.Error("cannot load uploaded version", zap.String("version_id", u.ID), zap.Error(err))
			failed[u.ID] = err
			g.mu.Lock()
			g.failed[u.ID] = err.Error()
			g.mu.Unlock()
			continue
		}
		g.mu.Lock()
		if g.uploads[u.ID] != nil || g.closed {
			g.mu.Unlock()
			g.unload(up) // loaded twice at once, or cleaned up meanwhile
			continue
		}
		g.uploads[u.ID] = up
		delete(g.failed, u.ID)
		g.mu.Unlock()
	}
	return failed
}

func (g *Gradual) loadUpload(st *live.State, u live.Upload) (*upload, error) {
	v := &Version{ID: u.ID, Tag: u.Tag, Message: u.Message, Vars: u.Env(), json: u.JSON, mainModule: u.MainModule, createdOn: u.CreatedOn, uploaded: true}
	if u.IsScript() {
		script, err := st.Script(u)
		if err != nil {
			return nil, err
		}
		v.source = script
	} else {
		raw, err := upstreamConfig(u.Upstreams)
		if err != nil {
			return nil, err
		}
		v.Upstream = raw
	}
	rv, err := g.loadVersion(g.ctx, v)
	if err != nil {
		return nil, err
	}
	return &upload{v: rv}, nil
}

// upstreamConfig is the reverse_proxy handler of an upstream upload.
func upstreamConfig(addrs []string) ([]byte, error) {
	h := reverseproxy.Handler{}
	for _, a := range addrs {
		h.Upstreams = append(h.Upstreams, &reverseproxy.Upstream{Dial: a})
	}
	var warnings []caddyconfig.Warning
	raw := caddyconfig.JSONModuleObject(h, "handler", "reverse_proxy", &warnings)
	if len(warnings) > 0 {
		return nil, fmt.Errorf("upstream config: %s", warnings[0].Message)
	}
	return raw, nil
}

func (g *Gradual) unload(up *upload) { g.releaseVersions([]*version{up.v}) }

// Apply implements live.Applier: it loads the uploads it does not have
// (holding no lock), then installs st's versions and active deployment in
// one swap. A state older than the one installed is ignored. When the
// active deployment cannot be installed, the handler keeps serving what it
// served and says why.
func (g *Gradual) Apply(_ context.Context, st *live.State) (string, error) {
	g.mu.Lock()
	if g.closed || st.Seq <= g.seq {
		defer g.mu.Unlock()
		return g.serving, nil
	}
	g.mu.Unlock()
	g.load(st, st.Uploads)

	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || st.Seq <= g.seq {
		return g.serving, nil
	}
	byID := make(map[string]*version, len(g.config)+len(st.Uploads))
	for _, v := range g.config {
		byID[v.id] = v
	}
	keep := map[string]bool{}
	for _, u := range st.Uploads {
		keep[u.ID] = true
		if up := g.uploads[u.ID]; up != nil && byID[u.ID] == nil {
			byID[u.ID] = up.v
		}
	}
	id, entries := g.active(st)
	dep, err := g.newDeployment(slices.Collect(maps.Values(byID)), entries)
	if err != nil {
		return g.serving, err
	}
	for uid, up := range g.uploads {
		if !keep[uid] {
			delete(g.uploads, uid)
			g.retire(up)
		}
	}
	for uid := range g.failed {
		if !keep[uid] {
			delete(g.failed, uid)
		}
	}
	g.install(byID, dep, id)
	g.seq = st.Seq
	return id, nil
}

// install swaps in what requests read. g.mu is held.
func (g *Gradual) install(byID map[string]*version, dep *deployment, id string) {
	g.set.Store(&versionSet{byID: byID, dep: dep})
	g.serving = id
	for vid := range byID {
		var pct float64
		if i := dep.split.Index(vid); i >= 0 {
			pct = dep.split.Entry(i).Weight.Percent()
		}
		gradualMetrics.percent.WithLabelValues(g.Worker, vid).Set(pct)
	}
}

// retire unloads up after retireGrace, on a timer the handler owns and
// stops in Cleanup. g.mu is held.
func (g *Gradual) retire(up *upload) {
	g.retired = append(g.retired, retired{up: up, at: now()})
	if g.reaper == nil {
		g.reaper = time.AfterFunc(retireGrace, g.reap)
	}
}

// reap unloads the uploads retired for retireGrace. It runs on the
// timer's goroutine, and unloads (which waits for the version's requests)
// without holding g.mu.
func (g *Gradual) reap() {
	g.mu.Lock()
	g.reaper = nil
	if g.closed {
		g.mu.Unlock()
		return
	}
	cut := now().Add(-retireGrace)
	var due []*upload
	g.retired = slices.DeleteFunc(g.retired, func(r retired) bool {
		if r.at.After(cut) {
			return false
		}
		due = append(due, r.up)
		return true
	})
	if len(g.retired) > 0 {
		g.reaper = time.AfterFunc(g.retired[0].at.Sub(cut), g.reap)
	}
	g.mu.Unlock()
	for _, up := range due {
		g.unload(up)
	}
}

// entriesOf converts the config's deploy to the control plane's entries.
func entriesOf(deploy []DeployEntry) []live.Entry {
	out := make([]live.Entry, len(deploy))
	for i, e := range deploy {
		out[i] = live.Entry{VersionID: e.VersionID, Percentage: e.Percentage}
	}
	return out
}
