package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/splitter"
	"github.com/caddy-gradual/gradual/workerhost"
)

// Live deployments: versions uploaded and deployments made through the
// admin API are kept per worker in Caddy's storage (the file system by
// default), so that they survive restarts, and so that every Caddy sharing
// the storage converges on them: each one polls the storage every
// livePollInterval.
const (
	livePollInterval = 2 * time.Second
	// maxDeployments bounds the deployment history kept per worker.
	maxDeployments = 100
	// maxUploads bounds the uploaded versions kept per worker; the oldest
	// one not in the active deployment goes first.
	maxUploads = 20
	// storageTimeout bounds one storage operation.
	storageTimeout = 10 * time.Second
)

// Deployment sources, also in the "workers/triggered_by" annotation.
const (
	sourceConfig       = "config"
	sourceAPI          = "api"
	sourceRollback     = "rollback"
	sourceAutoRollback = "auto_rollback"
)

// storedState is what a worker persists.
type storedState struct {
	// Revision grows by one with every change, so pollers can tell.
	Revision int64 `json:"revision"`
	// ConfigDeploy is the config's deploy that was last applied, in
	// canonical form. When the config's deploy differs from it, the
	// operator changed the config and it becomes the active deployment.
	ConfigDeploy string `json:"config_deploy"`
	// Versions are the uploaded versions, oldest first.
	Versions []*storedVersion `json:"versions"`
	// Deployments is the history, oldest first; the last is active.
	Deployments []*deploymentRecord `json:"deployments"`
}

// storedVersion is a version uploaded through the admin API.
type storedVersion struct {
	ID         string            `json:"id"`
	CreatedOn  time.Time         `json:"created_on"`
	Tag        string            `json:"tag,omitempty"`
	Message    string            `json:"message,omitempty"`
	Script     string            `json:"script,omitempty"`
	MainModule string            `json:"main_module,omitempty"`
	Upstreams  []string          `json:"upstreams,omitempty"`
	Vars       map[string]string `json:"vars,omitempty"`
}

// deploymentRecord is one entry of the deployment history.
type deploymentRecord struct {
	ID          string            `json:"id"`
	CreatedOn   time.Time         `json:"created_on"`
	Source      string            `json:"source"`
	Strategy    string            `json:"strategy"`
	Versions    []DeployEntry     `json:"versions"`
	Annotations map[string]string `json:"annotations"`
}

// configStorage returns the storage of the config being provisioned; unit
// tests, whose contexts have no config, replace it.
var configStorage = func(ctx caddy.Context) certmagic.Storage { return ctx.Storage() }

func storageKey(worker string) string { return "gradual/workers/" + worker + "/state.json" }

// deployKey is a deployment in a form that does not depend on order or
// float formatting, to compare deployments.
func deployKey(entries []DeployEntry) string {
	return splitter.FormatDeploy(splitEntries(entries))
}

// liveState is a worker's view of its stored state.
type liveState struct {
	storage certmagic.Storage
	applied int64 // revision last applied to the handlers
	cancel  context.CancelFunc
}

func loadState(ctx context.Context, storage certmagic.Storage, worker string) (*storedState, error) {
	st := new(storedState)
	raw, err := storage.Load(ctx, storageKey(worker))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading the live state of worker %s: %w", worker, err)
	}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("decoding the live state of worker %s: %w", worker, err)
	}
	return st, nil
}

// change loads the stored state under the storage's lock, lets fn change
// it, stores it with the next revision, and applies it to the handlers.
// When fn fails nothing is stored.
func (s *workerState) change(storage certmagic.Storage, fn func(*storedState) error) (*storedState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	lock := "gradual_" + s.name
	if err := storage.Lock(ctx, lock); err != nil {
		return nil, fmt.Errorf("locking the live state: %w", err)
	}
	defer func() { _ = storage.Unlock(context.Background(), lock) }()
	st, err := loadState(ctx, storage, s.name)
	if err != nil {
		return nil, err
	}
	if err := fn(st); err != nil {
		return nil, err
	}
	st.Revision++
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	if err := storage.Store(ctx, storageKey(s.name), raw); err != nil {
		return nil, fmt.Errorf("storing the live state: %w", err)
	}
	s.applyAll(st)
	return st, nil
}

// loadLive runs when a handler is provisioned: it reads the stored state
// the handler starts from, and starts polling for changes. It writes
// nothing, so that `caddy validate` on a machine sharing the storage cannot
// change what the running Caddy serves; the config's deployment is
// recorded when the handler serves its first request (recordConfig).
// Storage failures are logged and leave the config's deployment active:
// serving traffic matters more than the history.
func (s *workerState) loadLive(storage certmagic.Storage, g *Gradual) *storedState {
	s.liveMu.Lock()
	// The new config may name another storage, whose revisions are not
	// comparable with what was applied from the old one.
	s.live.storage = storage
	s.live.applied = 0
	s.liveMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), storageTimeout)
	defer cancel()
	st, err := loadState(ctx, storage, s.name)
	if err != nil {
		g.logger.Error("live deployments unavailable; serving the config's deployment", zap.Error(err))
		return nil
	}
	s.startPolling()
	return st
}

// recordConfig makes the config's deployment the active one in the stored
// state when the config's deploy changed since it was last applied (or was
// never applied). It runs once per handler, from its first request, and in
// every API change before the change itself.
func (g *Gradual) recordConfig(st *storedState) bool {
	if st.ConfigDeploy == g.configKey {
		return false
	}
	st.ConfigDeploy = g.configKey
	st.Deployments = appendDeployment(st.Deployments, newDeploymentRecord(sourceConfig, configEntries(g), "from the config"))
	return true
}

// recordConfigOnce runs recordConfig against the storage, once, in the
// background of the handler's first request.
func (g *Gradual) recordConfigOnce() {
	if !g.recorded.CompareAndSwap(false, true) {
		return
	}
	state := g.state
	go func() {
		storage, err := state.storageOf()
		if err != nil {
			return
		}
		_, err = state.change(storage, func(st *storedState) error {
			if !g.recordConfig(st) {
				return errUnchanged
			}
			return nil
		})
		if err != nil && !errors.Is(err, errUnchanged) {
			g.logger.Error("cannot record the config's deployment", zap.Error(err))
		}
	}()
}

// errUnchanged tells change that there is nothing to store.
var errUnchanged = errors.New("unchanged")

// configEntries is the config's deploy, made explicit for a lone version.
func configEntries(g *Gradual) []DeployEntry {
	return slices.Clone(explicitDeploy(g.Versions, g.Deploy))
}

func newDeploymentRecord(source string, entries []DeployEntry, message string) *deploymentRecord {
	return &deploymentRecord{
		ID:        uuid.NewString(),
		CreatedOn: now().UTC(),
		Source:    source,
		Strategy:  "percentage",
		Versions:  entries,
		Annotations: map[string]string{
			"workers/message":      message,
			"workers/triggered_by": source,
		},
	}
}

func appendDeployment(history []*deploymentRecord, d *deploymentRecord) []*deploymentRecord {
	history = append(history, d)
	if len(history) > maxDeployments {
		history = slices.Delete(history, 0, len(history)-maxDeployments)
	}
	return history
}

// startPolling starts the goroutine that picks up changes other Caddy
// instances made to the shared storage.
func (s *workerState) startPolling() {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if s.live.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.live.cancel = cancel
	go func() {
		t := time.NewTicker(livePollInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.poll(ctx)
			}
		}
	}()
}

func (s *workerState) stopPolling() {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if s.live.cancel != nil {
		s.live.cancel()
		s.live.cancel = nil
	}
}

func (s *workerState) poll(ctx context.Context) {
	s.liveMu.Lock()
	storage, applied := s.live.storage, s.live.applied
	s.liveMu.Unlock()
	if storage == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	st, err := loadState(ctx, storage, s.name)
	if err != nil || st.Revision == applied {
		return
	}
	s.applyAll(st)
}

// applyAll brings every handler of the worker up to st.
func (s *workerState) applyAll(st *storedState) {
	s.liveMu.Lock()
	if st.Revision < s.live.applied {
		s.liveMu.Unlock()
		return
	}
	s.live.applied = st.Revision
	s.liveMu.Unlock()
	s.mu.Lock()
	handlers := slices.Clone(s.handlers)
	s.mu.Unlock()
	for _, g := range handlers {
		g.apply(st)
	}
}

// knownVersions are the versions a deployment may name: the config's and
// the uploaded ones.
func (g *Gradual) knownVersions(st *storedState) []*Version {
	out := slices.Clone(g.Versions)
	for _, sv := range st.Versions {
		out = append(out, sv.version())
	}
	return out
}

// version turns an uploaded version into the config form the handler
// loads.
func (sv *storedVersion) version() *Version {
	v := &Version{ID: sv.ID, Tag: sv.Tag, Message: sv.Message, Vars: sv.Vars, source: sv.Script, mainModule: sv.MainModule,
		createdOn: sv.CreatedOn, uploaded: true}
	if len(sv.Upstreams) > 0 {
		ups := make([]map[string]string, len(sv.Upstreams))
		for i, u := range sv.Upstreams {
			ups[i] = map[string]string{"dial": u}
		}
		v.Upstream, _ = json.Marshal(map[string]any{"handler": "reverse_proxy", "upstreams": ups})
	}
	return v
}

// activeEntries is the deployment st makes active for g: the newest one in
// the history, unless the config's deploy changed since the stored state
// last applied it (the edited config wins), or the newest deployment names
// a version g does not know (the config dropped it).
func (g *Gradual) activeEntries(st *storedState) []DeployEntry {
	if st == nil || len(st.Deployments) == 0 || st.ConfigDeploy != g.configKey {
		return configEntries(g)
	}
	last := st.Deployments[len(st.Deployments)-1]
	if _, err := buildSplit(g.knownVersions(st), last.Versions); err != nil {
		g.logger.Warn("the live deployment names versions this config does not have; serving the config's deployment",
			zap.String("deployment", last.ID), zap.Error(err))
		return configEntries(g)
	}
	return last.Versions
}

// errorStatus maps validation errors of API requests to 400.
func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// checkUpload bundles and compiles an uploaded script, so that a version
// that cannot run is refused before it is stored.
func (g *Gradual) checkUpload(sv *storedVersion) error {
	if sv.Script == "" {
		return nil
	}
	if _, err := workerhost.Compile(g.scriptConfig(sv.version(), sv.CreatedOn)); err != nil {
		return badRequest("script does not compile: %v", err)
	}
	return nil
}
