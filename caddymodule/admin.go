package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/internal/rollout"
	"github.com/caddy-gradual/gradual/internal/stats"
	"github.com/caddy-gradual/gradual/workerhost"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves /gradual/ on Caddy's admin endpoint: the workers, their
// versions, deployments, nodes and live stats, and live tails, in JSON
// shaped like Cloudflare's Workers API. The routes are thin: changes go
// through the worker's live.Worker, which answers only once this node
// serves them.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.gradual",
		New: func() caddy.Module { return adminAPI{} },
	}
}

// Provision protects the admin endpoint being started from workers'
// fetch(): Caddy provisions this module before it opens the listener.
func (adminAPI) Provision(ctx caddy.Context) error {
	protectAdmin(ctx, ctx.Logger())
	return nil
}

// Routes implements caddy.AdminRouter.
func (a adminAPI) Routes() []caddy.AdminRoute {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request, *workerState) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s := lookupWorker(r.PathValue("name"))
			if s == nil {
				writeError(w, errorf(http.StatusNotFound, "no worker named "+strconv.Quote(r.PathValue("name"))))
				return
			}
			if err := h(w, r, s); err != nil {
				writeError(w, err)
			}
		})
	}
	mux.HandleFunc("GET /gradual/workers", func(w http.ResponseWriter, r *http.Request) {
		writeResult(w, http.StatusOK, listWorkers(r.Context()))
	})
	handle("GET /gradual/workers/{name}", func(w http.ResponseWriter, r *http.Request, s *workerState) error {
		return writeResult(w, http.StatusOK, s.describe(r.Context()))
	})
	handle("GET /gradual/workers/{name}/versions", func(w http.ResponseWriter, r *http.Request, s *workerState) error {
		return writeResult(w, http.StatusOK, s.describe(r.Context()).Versions)
	})
	handle("POST /gradual/workers/{name}/versions", uploadVersion)
	handle("GET /gradual/workers/{name}/deployments", func(w http.ResponseWriter, r *http.Request, s *workerState) error {
		return writeResult(w, http.StatusOK, api.Deployments{Deployments: s.history(r.Context())})
	})
	handle("POST /gradual/workers/{name}/deployments", deploy)
	handle("POST /gradual/workers/{name}/rollback", rollback)
	handle("GET /gradual/workers/{name}/tail", serveTail)
	handle("GET /gradual/workers/{name}/rollout", getRollout)
	handle("POST /gradual/workers/{name}/rollout", startRollout)
	handle("POST /gradual/workers/{name}/rollout/{command}", rolloutCommand)
	return []caddy.AdminRoute{{Pattern: "/gradual/", Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		serveEnveloped(mux, w, r)
		return nil
	})}}
}

// serveEnveloped serves r through mux, with the mux's own 404 and 405
// answers in the envelope too.
func serveEnveloped(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	r.URL.Path = "/" + trimSlashes(r.URL.Path)
	h, pattern := mux.Handler(r)
	if pattern != "" {
		mux.ServeHTTP(w, r) // sets the path values
		return
	}
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	switch rec.status {
	case http.StatusMethodNotAllowed:
		writeError(w, errorf(rec.status, "method not allowed: "+r.Method+" "+r.URL.Path))
	default:
		writeError(w, errorf(http.StatusNotFound, "no such endpoint: "+r.URL.Path))
	}
}

func trimSlashes(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// statusRecorder keeps the status and headers of the mux's 404 or 405.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(status int)      { s.status = status }

// apiError is an error of a request, with the status to answer it with.
type apiError struct {
	status int
	err    error
}

func (e *apiError) Error() string { return e.err.Error() }
func (e *apiError) Unwrap() error { return e.err }

func errorf(status int, msg string) error { return &apiError{status: status, err: errors.New(msg)} }

// statusOf maps an error to its HTTP status: the one place where the
// control plane's errors meet HTTP.
func statusOf(err error) int {
	var ae *apiError
	var re *api.Error
	var inv *live.InvalidError
	switch {
	case errors.As(err, &ae):
		return ae.status
	case errors.As(err, &re):
		return re.Status
	case errors.As(err, &inv):
		return http.StatusBadRequest
	case errors.Is(err, live.ErrNoStorage), errors.Is(err, live.ErrNotLoaded), errors.Is(err, live.ErrStorage):
		return http.StatusServiceUnavailable
	case errors.Is(err, live.ErrNoHistory), errors.Is(err, rollout.ErrRunning), errors.Is(err, rollout.ErrNotRunning),
		errors.Is(err, rollout.ErrNotPaused), errors.Is(err, rollout.ErrEnded):
		return http.StatusConflict
	case errors.Is(err, rollout.ErrNone):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeResult(w http.ResponseWriter, status int, result any) error {
	return writeJSON(w, status, api.Envelope{Success: true, Errors: []api.Message{}, Messages: []api.Message{}, Result: result})
}

func writeError(w http.ResponseWriter, err error) {
	status := statusOf(err)
	_ = writeJSON(w, status, api.Envelope{Errors: []api.Message{{Code: status, Message: err.Error()}}, Messages: []api.Message{}})
}

// uploadVersion accepts a new version: a script is compiled and its top
// level run once under the limits before anything is stored, and the
// answer comes once this node has the version.
func uploadVersion(w http.ResponseWriter, r *http.Request, s *workerState) error {
	req, err := api.DecodeUpload(r.Body)
	if err != nil {
		return err
	}
	u, err := s.addUpload(r.Context(), live.Upload{Tag: req.Tag, Message: req.Message, Script: req.Script, MainModule: req.MainModule,
		Upstreams: req.Upstreams, Vars: req.Vars, JSON: req.JSON})
	if err != nil {
		return err
	}
	return writeResult(w, http.StatusCreated, uploadInfo(u))
}

// addUpload stores a new version made of u's fields, once its script (if
// any) has compiled and run its top level, and returns it when this node
// has it.
func (s *workerState) addUpload(ctx context.Context, u live.Upload) (live.Upload, error) {
	g := s.latest()
	if g == nil {
		return live.Upload{}, live.ErrNotLoaded
	}
	// An uploaded upstream is reached by any client through the override
	// header, so it may reach no more than the worker's scripts may fetch.
	for _, a := range u.Upstreams {
		if err := g.fetchPolicy.CheckHost(ctx, a); err != nil {
			return live.Upload{}, live.Invalidf("upstream %v", err)
		}
	}
	// The gradual block's bindings are every script version's.
	for name := range u.JSON {
		if _, taken := g.bindings[name]; taken {
			return live.Upload{}, live.Invalidf("json binding %s: the gradual block has a binding of that name", name)
		}
	}
	u = live.NewUpload(u, now())
	if u.Script != "" {
		v := &Version{ID: u.ID, Tag: u.Tag, Vars: u.Env(), json: u.JSON, source: u.Script, mainModule: u.MainModule}
		if err := workerhost.Check(g.scriptConfig(v, u.CreatedOn)); err != nil {
			if _, ok := errors.AsType[*workerhost.CompileError](err); ok {
				return live.Upload{}, live.Invalidf("script does not compile: %v", err)
			}
			return live.Upload{}, live.Invalidf("script does not load: %v", err)
		}
	}
	if _, err := s.live.Update(ctx, func(st *live.State) (bool, error) {
		_, err := st.AddUpload(u)
		return true, err
	}); err != nil {
		return live.Upload{}, err
	}
	g.mu.Lock()
	why, failed := g.failed[u.ID]
	g.mu.Unlock()
	if failed {
		return live.Upload{}, &live.NotAppliedError{Err: fmt.Errorf("version %s: %s", u.ID, why)}
	}
	return u, nil
}

func uploadInfo(u live.Upload) api.Version {
	info := api.Version{ID: u.ID, Source: "upload", Kind: "upstream", CreatedOn: u.CreatedOn, Upstreams: u.Upstreams,
		Annotations: map[string]string{"workers/tag": u.Tag, "workers/message": u.Message}}
	if u.IsScript() {
		info.Kind = "script"
	}
	return info
}

// deploy makes a new deployment from an API request.
func deploy(w http.ResponseWriter, r *http.Request, s *workerState) error {
	req, err := api.DecodeDeploy(r.Body)
	if err != nil {
		return err
	}
	return s.newDeployment(w, r.Context(), live.SourceAPI, req.Annotations["workers/message"], func(*live.State) ([]live.Entry, error) {
		return entriesOfAPI(req.Versions), nil
	})
}

// rollback deploys one version at 100%: the one named, or else the newest
// earlier version that served 100%.
func rollback(w http.ResponseWriter, r *http.Request, s *workerState) error {
	req, err := api.DecodeRollback(r.Body)
	if err != nil {
		return err
	}
	message := req.Message
	return s.newDeployment(w, r.Context(), live.SourceRollback, message, func(st *live.State) ([]live.Entry, error) {
		target := req.VersionID
		if target == "" {
			if target, err = st.RollbackTarget(); err != nil {
				return nil, err
			}
		}
		if message == "" {
			message = "rollback to " + target
		}
		return []live.Entry{{VersionID: target, Percentage: 100}}, nil
	})
}

// newDeployment records the deployment that pick chooses from the stored
// state as the active one; the newest handler validates it by loading it.
func (s *workerState) newDeployment(w http.ResponseWriter, ctx context.Context, source, message string, pick func(*live.State) ([]live.Entry, error)) error {
	d, err := s.deploy(ctx, source, message, pick)
	if err != nil {
		return err
	}
	return writeResult(w, http.StatusCreated, recordOf(d))
}

// deploy records the deployment that pick chooses from the stored state
// as the active one, and returns it once this node serves it.
func (s *workerState) deploy(ctx context.Context, source, message string, pick func(*live.State) ([]live.Entry, error)) (live.Deployment, error) {
	var d live.Deployment
	_, err := s.live.Update(ctx, func(st *live.State) (bool, error) {
		entries, err := pick(st)
		if err != nil {
			return false, err
		}
		d = live.NewDeployment(source, entries, message, now())
		st.Deploy(d)
		rollout.Supersede(st, "a deployment was made by hand ("+source+")")
		return true, nil
	})
	return d, err
}

// serveTail streams the worker's trace events as NDJSON until the client
// goes away, optionally only those of ?version_id=.
func serveTail(w http.ResponseWriter, r *http.Request, s *workerState) error {
	versionID := r.URL.Query().Get("version_id")
	if versionID != "" {
		if g := s.latest(); g != nil && g.set.Load().byID[versionID] == nil {
			return errorf(http.StatusNotFound, "worker "+s.name+" has no version "+strconv.Quote(versionID))
		}
	}
	s.tail.Serve(w, r, versionID)
	return nil
}

// recordOf is a deployment in API answers.
func recordOf(d live.Deployment) *api.Deployment {
	return &api.Deployment{ID: d.ID, CreatedOn: d.CreatedOn, Source: d.Source, Strategy: d.Strategy,
		Versions: versionsOf(d.Versions), Annotations: d.Annotations}
}

// versionsOf converts the control plane's entries to the API's.
func versionsOf(entries []live.Entry) []api.DeploymentVersion {
	out := make([]api.DeploymentVersion, len(entries))
	for i, e := range entries {
		out[i] = api.DeploymentVersion{VersionID: e.VersionID, Percentage: e.Percentage}
	}
	return out
}

// entriesOfAPI converts the API's deployment versions to the control
// plane's entries.
func entriesOfAPI(versions []api.DeploymentVersion) []live.Entry {
	out := make([]live.Entry, len(versions))
	for i, v := range versions {
		out[i] = live.Entry{VersionID: v.VersionID, Percentage: v.Percentage}
	}
	return out
}

func listWorkers(ctx context.Context) []api.Worker {
	out := []api.Worker{}
	workers.Range(func(_, value any) bool {
		if s, ok := value.(*workerState); ok {
			out = append(out, s.describe(ctx))
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func versionInfoOf(v *version) api.Version {
	source := "config"
	if v.uploaded {
		source = "upload"
	}
	return api.Version{ID: v.id, Source: source, Kind: v.kind, CreatedOn: v.createdOn, Upstreams: v.upstreams,
		Annotations: map[string]string{"workers/tag": v.tag, "workers/message": v.message}}
}

// describe reports the worker as its most recently provisioned handler
// serves it: versions newest first, the deployment served, live stats, and
// the fleet view.
func (s *workerState) describe(ctx context.Context) api.Worker {
	info := api.Worker{Name: s.name, Versions: []api.Version{}, Stats: map[string]*api.Stats{}, Nodes: []api.Node{}}
	if nodes, err := s.live.Nodes(ctx); err == nil && nodes != nil {
		info.Nodes = nodes
	}
	g := s.latest()
	if g == nil {
		return info
	}
	set := g.set.Load()
	t := now()
	for _, v := range set.byID {
		info.Versions = append(info.Versions, versionInfoOf(v))
		win := v.stats.Window(t)
		requests, errs := v.stats.Totals()
		st := &api.Stats{
			Requests: requests, Errors: errs,
			WindowSeconds:  int(stats.Slots * stats.SlotLen / time.Second),
			WindowRequests: win.Requests, WindowErrors: win.Errors,
			P50Ms: durationMs(win.P50), P99Ms: durationMs(win.P99),
		}
		if win.Requests > 0 {
			st.ErrorRate = float64(win.Errors) / float64(win.Requests)
		}
		info.Stats[v.id] = st
	}
	g.mu.Lock()
	serving := g.serving
	for id, why := range g.failed {
		info.Versions = append(info.Versions, api.Version{ID: id, Source: "upload", Status: "failed: " + why})
	}
	g.mu.Unlock()
	sort.Slice(info.Versions, func(i, j int) bool {
		a, b := info.Versions[i], info.Versions[j]
		if !a.CreatedOn.Equal(b.CreatedOn) {
			return a.CreatedOn.After(b.CreatedOn)
		}
		return a.ID < b.ID
	})
	info.Deployment = s.served(ctx, serving, set.dep)
	return info
}

// served describes the deployment installed: its history entry, or, for
// the config's deployment never recorded (or no storage), the split
// itself.
func (s *workerState) served(ctx context.Context, id string, dep *deployment) *api.Deployment {
	if id != "" {
		for _, d := range s.history(ctx) {
			if d.ID == id {
				return d
			}
		}
	}
	entries := make([]api.DeploymentVersion, dep.split.Len())
	for i := range entries {
		e := dep.split.Entry(i)
		entries[i] = api.DeploymentVersion{VersionID: e.ID, Percentage: e.Weight.Percent()}
	}
	return &api.Deployment{ID: id, Source: live.SourceConfig, Strategy: "percentage", Versions: entries,
		Annotations: map[string]string{"workers/triggered_by": live.SourceConfig}}
}

// history returns the stored deployment history, newest first.
func (s *workerState) history(ctx context.Context) []*api.Deployment {
	st, err := s.live.Load(ctx)
	if err != nil {
		return []*api.Deployment{}
	}
	out := make([]*api.Deployment, 0, len(st.Deployments))
	for _, d := range slices.Backward(st.Deployments) {
		out = append(out, recordOf(d))
	}
	return out
}

func durationMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Interface guards
var (
	_ caddy.Module      = adminAPI{}
	_ caddy.AdminRouter = adminAPI{}
	_ caddy.Provisioner = adminAPI{}
)
