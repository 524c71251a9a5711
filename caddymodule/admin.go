package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/google/uuid"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves /gradual/ on Caddy's admin endpoint: the workers, their
// versions, deployments and live stats, and live tails, in JSON shaped like
// Cloudflare's Workers API.
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.gradual",
		New: func() caddy.Module { return adminAPI{} },
	}
}

// Routes implements caddy.AdminRouter.
func (a adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/gradual/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// apiError is an error with the HTTP status to answer it with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, msg string) error { return &apiError{status: status, msg: msg} }

// envelope is Cloudflare's response shape.
type envelope struct {
	Success  bool         `json:"success"`
	Errors   []apiMessage `json:"errors"`
	Messages []apiMessage `json:"messages"`
	Result   any          `json:"result"`
}

type apiMessage struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeResult(w http.ResponseWriter, status int, result any) error {
	return writeJSON(w, status, envelope{Success: true, Errors: []apiMessage{}, Messages: []apiMessage{}, Result: result})
}

func writeError(w http.ResponseWriter, err error) error {
	status := http.StatusInternalServerError
	var ae *apiError
	if errors.As(err, &ae) {
		status = ae.status
	}
	return writeJSON(w, status, envelope{Errors: []apiMessage{{Code: status, Message: err.Error()}}, Messages: []apiMessage{}})
}

// serve routes /gradual/... requests.
func (a adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	if err := a.route(w, r); err != nil {
		return writeError(w, err)
	}
	return nil
}

func (a adminAPI) route(w http.ResponseWriter, r *http.Request) error {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/gradual/"), "/"), "/")
	if len(parts) == 0 || parts[0] != "workers" || len(parts) > 3 {
		return errorf(http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	}
	if len(parts) == 1 {
		if r.Method != http.MethodGet {
			return errMethod(r)
		}
		return writeResult(w, http.StatusOK, listWorkers())
	}
	s := lookupWorker(parts[1])
	if s == nil {
		return errorf(http.StatusNotFound, "no worker named "+strconvQuote(parts[1]))
	}
	sub := ""
	if len(parts) == 3 {
		sub = parts[2]
	}
	switch sub {
	case "":
		if r.Method != http.MethodGet {
			return errMethod(r)
		}
		return writeResult(w, http.StatusOK, s.describe())
	case "tail":
		if r.Method != http.MethodGet {
			return errMethod(r)
		}
		return s.serveTail(w, r)
	case "versions":
		switch r.Method {
		case http.MethodGet:
			return writeResult(w, http.StatusOK, s.describe().Versions)
		case http.MethodPost:
			v, err := s.upload(r)
			if err != nil {
				return err
			}
			return writeResult(w, http.StatusCreated, v)
		}
		return errMethod(r)
	case "deployments":
		switch r.Method {
		case http.MethodGet:
			return writeResult(w, http.StatusOK, map[string]any{"deployments": s.history()})
		case http.MethodPost:
			d, err := s.deploy(r)
			if err != nil {
				return err
			}
			return writeResult(w, http.StatusCreated, d)
		}
		return errMethod(r)
	case "rollback":
		if r.Method != http.MethodPost {
			return errMethod(r)
		}
		d, err := s.rollback(r)
		if err != nil {
			return err
		}
		return writeResult(w, http.StatusCreated, d)
	}
	return errorf(http.StatusNotFound, "no such endpoint: "+r.URL.Path)
}

func errMethod(r *http.Request) error {
	return errorf(http.StatusMethodNotAllowed, "method not allowed: "+r.Method+" "+r.URL.Path)
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// workerInfo describes a worker in API answers.
type workerInfo struct {
	Name       string            `json:"name"`
	Versions   []versionInfo     `json:"versions"`
	Deployment *deploymentRecord `json:"deployment"`
	Stats      map[string]*stats `json:"stats"`
}

type versionInfo struct {
	ID          string            `json:"id"`
	Source      string            `json:"source"`
	Kind        string            `json:"kind"`
	CreatedOn   time.Time         `json:"created_on"`
	Annotations map[string]string `json:"annotations"`
	Upstreams   []string          `json:"upstreams,omitempty"`
}

// stats are a version's live stats in API answers.
type stats struct {
	Requests       uint64  `json:"requests"`
	Errors         uint64  `json:"errors"`
	WindowSeconds  int     `json:"window_seconds"`
	WindowRequests uint64  `json:"window_requests"`
	WindowErrors   uint64  `json:"window_errors"`
	ErrorRate      float64 `json:"error_rate"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
}

func listWorkers() []workerInfo {
	out := []workerInfo{}
	workers.Range(func(_, value any) bool {
		if s, ok := value.(*workerState); ok {
			out = append(out, s.describe())
		}
		return true
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func versionInfoOf(v *version) versionInfo {
	source := "config"
	if v.uploaded {
		source = "upload"
	}
	return versionInfo{ID: v.id, Source: source, Kind: v.kind, CreatedOn: v.createdOn, Upstreams: v.upstreams,
		Annotations: map[string]string{"workers/tag": v.tag, "workers/message": v.message}}
}

// describe reports the worker as its most recently provisioned handler
// serves it: versions newest first, the active deployment, live stats.
func (s *workerState) describe() workerInfo {
	info := workerInfo{Name: s.name, Versions: []versionInfo{}, Stats: map[string]*stats{}}
	g := s.latest()
	if g == nil {
		return info
	}
	set := g.set.Load()
	t := now()
	for _, v := range set.byID {
		info.Versions = append(info.Versions, versionInfoOf(v))
		win := v.stats.window(t)
		st := &stats{
			Requests: v.stats.requests.Load(), Errors: v.stats.errors.Load(),
			WindowSeconds:  int(statsSlots * statsSlotLen / time.Second),
			WindowRequests: win.Requests, WindowErrors: win.Errors,
			P50Ms: durationMs(win.P50), P99Ms: durationMs(win.P99),
		}
		if win.Requests > 0 {
			st.ErrorRate = float64(win.Errors) / float64(win.Requests)
		}
		info.Stats[v.id] = st
	}
	sort.Slice(info.Versions, func(i, j int) bool {
		a, b := info.Versions[i], info.Versions[j]
		if !a.CreatedOn.Equal(b.CreatedOn) {
			return a.CreatedOn.After(b.CreatedOn)
		}
		return a.ID < b.ID
	})
	info.Deployment = s.active(set.dep)
	return info
}

// active describes the installed deployment dep: the newest history entry
// when it is the one installed, else (no storage, or a fallback) the split
// itself.
func (s *workerState) active(dep *deployment) *deploymentRecord {
	entries := make([]DeployEntry, dep.split.Len())
	for i := range entries {
		e := dep.split.Entry(i)
		entries[i] = DeployEntry{VersionID: e.ID, Percentage: e.Weight.Percent()}
	}
	if h := s.history(); len(h) > 0 && sameSplit(h[0].Versions, entries) {
		return h[0]
	}
	return &deploymentRecord{Source: sourceConfig, Strategy: "percentage", Versions: entries,
		Annotations: map[string]string{"workers/triggered_by": sourceConfig}}
}

// sameSplit reports whether two deployments give the same versions the
// same shares; versions at 0% do not count.
func sameSplit(a, b []DeployEntry) bool {
	served := func(es []DeployEntry) []DeployEntry {
		return slices.DeleteFunc(slices.Clone(es), func(e DeployEntry) bool { return e.Percentage == 0 })
	}
	return deployKey(served(a)) == deployKey(served(b))
}

// history returns the stored deployment history, newest first.
func (s *workerState) history() []*deploymentRecord {
	st, err := s.stored()
	if err != nil || st == nil {
		return []*deploymentRecord{}
	}
	out := slices.Clone(st.Deployments)
	slices.Reverse(out)
	return out
}

// stored reads the worker's stored state.
func (s *workerState) stored() (*storedState, error) {
	storage, err := s.storageOf()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	return loadState(ctx, storage, s.name)
}

func durationMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// storageOf returns the storage the worker's state lives in.
func (s *workerState) storageOf() (certmagic.Storage, error) {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if s.live.storage == nil {
		return nil, errorf(http.StatusServiceUnavailable, "live deployments are unavailable: no storage")
	}
	return s.live.storage, nil
}

// upload accepts a new version: it is checked (a script is bundled and
// compiled) before anything is stored.
func (s *workerState) upload(r *http.Request) (versionInfo, error) {
	req, err := decodeUpload(r.Body)
	if err != nil {
		return versionInfo{}, err
	}
	g := s.latest()
	if g == nil {
		return versionInfo{}, errorf(http.StatusServiceUnavailable, "worker "+s.name+" is not loaded")
	}
	sv := &storedVersion{ID: uuid.NewString(), CreatedOn: now().UTC(), Tag: req.Tag, Message: req.Message,
		Script: req.Script, MainModule: req.MainModule, Upstreams: req.Upstreams, Vars: req.Vars}
	if err := g.checkUpload(sv); err != nil {
		return versionInfo{}, err
	}
	storage, err := s.storageOf()
	if err != nil {
		return versionInfo{}, err
	}
	if _, err := s.change(storage, func(st *storedState) error {
		g.recordConfig(st)
		active := map[string]bool{}
		if n := len(st.Deployments); n > 0 {
			for _, e := range st.Deployments[n-1].Versions {
				active[e.VersionID] = true
			}
		}
		st.Versions = append(st.Versions, sv)
		for len(st.Versions) > maxUploads {
			i := slices.IndexFunc(st.Versions, func(v *storedVersion) bool { return !active[v.ID] })
			if i < 0 {
				break
			}
			st.Versions = slices.Delete(st.Versions, i, i+1)
		}
		return nil
	}); err != nil {
		return versionInfo{}, err
	}
	info := versionInfo{ID: sv.ID, Source: "upload", Kind: "upstream", CreatedOn: sv.CreatedOn, Upstreams: sv.Upstreams,
		Annotations: map[string]string{"workers/tag": sv.Tag, "workers/message": sv.Message}}
	if sv.Script != "" {
		info.Kind = "script"
	}
	return info, nil
}

// deploy makes a new deployment from an API request.
func (s *workerState) deploy(r *http.Request) (*deploymentRecord, error) {
	req, err := decodeDeployment(r.Body)
	if err != nil {
		return nil, err
	}
	return s.newDeployment(sourceAPI, req.Annotations["workers/message"], func(*storedState) ([]DeployEntry, error) {
		return req.Versions, nil
	})
}

// newDeployment records the deployment that pick chooses from the stored
// state (under the storage lock) as the active one, once it is validated
// against the known versions.
func (s *workerState) newDeployment(source, message string, pick func(*storedState) ([]DeployEntry, error)) (*deploymentRecord, error) {
	g := s.latest()
	if g == nil {
		return nil, errorf(http.StatusServiceUnavailable, "worker "+s.name+" is not loaded")
	}
	storage, err := s.storageOf()
	if err != nil {
		return nil, err
	}
	var rec *deploymentRecord
	_, err = s.change(storage, func(st *storedState) error {
		g.recordConfig(st)
		entries, err := pick(st)
		if err != nil {
			return err
		}
		if _, err := buildSplit(g.knownVersions(st), entries); err != nil {
			return badRequest("%v", err)
		}
		if message == "" && source == sourceRollback {
			message = "rollback to " + entries[0].VersionID
		}
		rec = newDeploymentRecord(source, entries, message)
		st.Deployments = appendDeployment(st.Deployments, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// rollback deploys one version at 100%: the one named, or else the newest
// earlier version that served 100%.
func (s *workerState) rollback(r *http.Request) (*deploymentRecord, error) {
	req, err := decodeRollback(r.Body)
	if err != nil {
		return nil, err
	}
	return s.newDeployment(sourceRollback, req.Message, func(st *storedState) ([]DeployEntry, error) {
		target := req.VersionID
		if target == "" {
			if target, err = rollbackTarget(st.Deployments); err != nil {
				return nil, err
			}
		}
		return []DeployEntry{{VersionID: target, Percentage: 100}}, nil
	})
}

// rollbackTarget finds, in history (oldest first, the last active), the
// newest earlier deployment that gave one version 100%, other than the
// version the active deployment gives 100% to.
func rollbackTarget(history []*deploymentRecord) (string, error) {
	if len(history) == 0 {
		return "", errorf(http.StatusConflict, "no deployment history to roll back in")
	}
	current := fullVersion(history[len(history)-1])
	for i := len(history) - 2; i >= 0; i-- {
		if id := fullVersion(history[i]); id != "" && id != current {
			return id, nil
		}
	}
	return "", errorf(http.StatusConflict, "no earlier version served 100%; name the version to roll back to")
}

// fullVersion returns the version a deployment gives 100%, or "".
func fullVersion(d *deploymentRecord) string {
	for _, e := range d.Versions {
		if e.Percentage == 100 {
			return e.VersionID
		}
	}
	return ""
}

// tailHeartbeat keeps idle tail connections alive through proxies and
// lets the server notice clients that went away.
const tailHeartbeat = 15 * time.Second

// serveTail streams the worker's trace events as NDJSON until the client
// goes away, optionally only those of ?version_id=.
func (s *workerState) serveTail(w http.ResponseWriter, r *http.Request) error {
	versionID := r.URL.Query().Get("version_id")
	if versionID != "" {
		if g := s.latest(); g != nil && g.set.Load().byID[versionID] == nil {
			return errorf(http.StatusNotFound, "worker "+s.name+" has no version "+strconvQuote(versionID))
		}
	}
	rc := http.NewResponseController(w)
	sub := s.tail.subscribe(versionID)
	defer s.tail.unsubscribe(sub)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil
	}
	heartbeat := time.NewTicker(tailHeartbeat)
	defer heartbeat.Stop()
	var reported uint64
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-sub.done:
			return nil
		case <-heartbeat.C:
			if _, err := w.Write([]byte("\n")); err != nil {
				return nil
			}
		case ev := <-sub.events:
			sub.delivered(ev)
			if d := sub.dropped.Load(); d > reported {
				line, _ := json.Marshal(tailDropped{Type: "dropped", Dropped: d - reported, EventTimestamp: now().UnixMilli()})
				reported = d
				if _, err := w.Write(append(line, '\n')); err != nil {
					return nil
				}
			}
			if _, err := w.Write(ev); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// Interface guards
var (
	_ caddy.Module      = adminAPI{}
	_ caddy.AdminRouter = adminAPI{}
)
