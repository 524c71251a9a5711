package live

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/caddy-gradual/gradual/splitter"
)

// Bounds of what a worker keeps.
const (
	// MaxDeployments bounds the deployment history kept per worker.
	MaxDeployments = 100
	// MaxUploads bounds the uploaded versions kept per worker: past it the
	// oldest upload that the active deployment does not name is evicted,
	// in the same change that adds the new one, never the new one itself.
	MaxUploads = 20
)

// Deployment sources, also in the "workers/triggered_by" annotation.
const (
	SourceConfig   = "config"
	SourceAPI      = "api"
	SourceRollback = "rollback"
)

// State is what a worker persists: its uploads and its deployment history.
// It is a plain value; the rules below change it and Worker stores it.
type State struct {
	// Change identifies this stored document: a fresh random ID with
	// every write. Nodes apply a document whose Change differs from the
	// one they applied; they never compare counters, so deleting,
	// replacing or restoring the storage cannot make a later change look
	// older than what a node already applied.
	Change string `json:"change"`
	// ConfigDeploy is the config's deploy (in Key form) that was last
	// recorded. When a node's config deploy differs from it, the operator
	// edited the config, and the config's deployment wins.
	ConfigDeploy string `json:"config_deploy"`
	// Uploads are the versions uploaded through the admin API, oldest
	// first. The JSON name predates the split of scripts from the state.
	Uploads []Upload `json:"versions"`
	// Deployments is the history, oldest first; the last is active.
	Deployments []Deployment `json:"deployments"`
	// Rollout is the worker's automatic rollout, running or the last one
	// ended, which internal/rollout reads and writes: the control plane
	// only stores it with the rest, so a rollout's every step is one
	// change of the state.
	Rollout json.RawMessage `json:"rollout,omitempty"`

	// Seq orders, within this process, the states a Worker hands to its
	// Appliers: a state read or written later has a higher Seq. An
	// Applier ignores a state whose Seq is not above the one it applied.
	Seq uint64 `json:"-"`
	// scripts fetches a script by hash when an Applier needs it.
	scripts func(hash string) (string, error)
}

// Upload is a version uploaded through the admin API. Its script is stored
// apart from the state, by content hash, so that reading the state stays
// cheap however large the scripts are.
type Upload struct {
	ID         string            `json:"id"`
	CreatedOn  time.Time         `json:"created_on"`
	Tag        string            `json:"tag,omitempty"`
	Message    string            `json:"message,omitempty"`
	ScriptHash string            `json:"script_sha256,omitempty"`
	ScriptSize int               `json:"script_size,omitempty"`
	MainModule string            `json:"main_module,omitempty"`
	Upstreams  []string          `json:"upstreams,omitempty"`
	Vars       map[string]string `json:"vars,omitempty"`
	// Secrets reach env like Vars, but the APIs show only their names.
	// They are stored as Vars are, in the storage's clear.
	Secrets map[string]string `json:"secrets,omitempty"`
	// JSON are json bindings: env.NAME is the value. api.CheckJSONBinding
	// bounds each.
	JSON map[string]json.RawMessage `json:"json,omitempty"`
	// Script is the source of a new upload until it is stored (and of
	// documents written before scripts were stored apart); State.Script
	// fetches it otherwise.
	Script string `json:"script,omitempty"`
}

// NewUpload returns an upload with a fresh ID, stamped now, whose script
// (if any) is identified by its hash.
func NewUpload(u Upload, now time.Time) Upload {
	u.ID = uuid.NewString()
	u.CreatedOn = now.UTC()
	if u.Script != "" {
		u.ScriptHash = hashScript(u.Script)
		u.ScriptSize = len(u.Script)
	}
	return u
}

func hashScript(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Env returns the bindings a script upload's env gets from the upload:
// its vars and its secrets.
func (u *Upload) Env() map[string]string {
	if len(u.Secrets) == 0 {
		return u.Vars
	}
	env := maps.Clone(u.Vars)
	if env == nil {
		env = make(map[string]string, len(u.Secrets))
	}
	maps.Copy(env, u.Secrets)
	return env
}

// IsScript tells a script upload from an upstream one.
func (u *Upload) IsScript() bool { return u.ScriptHash != "" || u.Script != "" }

// Entry gives one version its share of the traffic, in Cloudflare's shape.
type Entry struct {
	VersionID  string  `json:"version_id"`
	Percentage float64 `json:"percentage"`
}

// Deployment is one entry of the deployment history.
type Deployment struct {
	ID          string            `json:"id"`
	CreatedOn   time.Time         `json:"created_on"`
	Source      string            `json:"source"`
	Strategy    string            `json:"strategy"`
	Versions    []Entry           `json:"versions"`
	Annotations map[string]string `json:"annotations"`
}

// NewDeployment returns a history entry with a fresh ID.
func NewDeployment(source string, entries []Entry, message string, now time.Time) Deployment {
	return Deployment{
		ID:        uuid.NewString(),
		CreatedOn: now.UTC(),
		Source:    source,
		Strategy:  "percentage",
		Versions:  slices.Clone(entries),
		Annotations: map[string]string{
			"workers/message":      message,
			"workers/triggered_by": source,
		},
	}
}

// Key is a deployment in splitter.FormatDeploy's canonical form, to
// compare deployments. A percentage that is not valid, which no installed
// or stored deployment has, is rounded to hundredths and clamped to
// 0..100%, so that every deployment has a key.
func Key(entries []Entry) string {
	out := make([]splitter.Entry, len(entries))
	for i, e := range entries {
		w, err := splitter.PercentFromFloat(e.Percentage)
		if err != nil {
			p := e.Percentage
			if !(p >= 0) { // below 0, or NaN
				p = 0
			}
			w = splitter.Weight(math.Round(min(p, 100) * 100))
		}
		out[i] = splitter.Entry{ID: e.VersionID, Weight: w}
	}
	return splitter.FormatDeploy(out)
}

// Clone returns a copy of st that can be changed without changing st.
func (st *State) Clone() *State {
	c := *st
	c.Uploads = slices.Clone(st.Uploads)
	c.Deployments = slices.Clone(st.Deployments)
	return &c
}

// Script returns the source of a script upload, fetching it from the
// storage by hash when the state does not carry it.
func (st *State) Script(u Upload) (string, error) {
	if u.Script != "" || u.ScriptHash == "" {
		return u.Script, nil
	}
	if st.scripts == nil {
		return "", fmt.Errorf("upload %s: script %s is not available", u.ID, u.ScriptHash)
	}
	return st.scripts(u.ScriptHash)
}

// Upload returns the upload of that ID.
func (st *State) Upload(id string) (Upload, bool) {
	i := slices.IndexFunc(st.Uploads, func(u Upload) bool { return u.ID == id })
	if i < 0 {
		return Upload{}, false
	}
	return st.Uploads[i], true
}

// Active is the deployment st makes active for a node whose config's
// deploy is configKey: the newest one in the history, unless the config's
// deploy changed since it was last recorded (the edited config wins) or
// there is no history. ok is false when the config's deployment is active.
func (st *State) Active(configKey string) (d Deployment, ok bool) {
	if st == nil || len(st.Deployments) == 0 || st.ConfigDeploy != configKey {
		return Deployment{}, false
	}
	return st.Deployments[len(st.Deployments)-1], true
}

// RecordConfig makes the config's deployment the active one when the
// config's deploy changed since it was last recorded (or never was). It
// reports whether it changed st.
func (st *State) RecordConfig(entries []Entry, now time.Time) bool {
	key := Key(entries)
	if st.ConfigDeploy == key {
		return false
	}
	st.ConfigDeploy = key
	st.Deploy(NewDeployment(SourceConfig, entries, "from the config", now))
	return true
}

// Deploy appends d to the history, which keeps MaxDeployments entries.
func (st *State) Deploy(d Deployment) {
	st.Deployments = append(st.Deployments, d)
	if n := len(st.Deployments) - MaxDeployments; n > 0 {
		st.Deployments = slices.Delete(st.Deployments, 0, n)
	}
}

// AddUpload appends u and evicts, oldest first, uploads that the active
// deployment does not name until at most MaxUploads remain. u itself is
// never evicted. It returns the evicted uploads.
func (st *State) AddUpload(u Upload) ([]Upload, error) {
	active := map[string]bool{}
	if n := len(st.Deployments); n > 0 {
		for _, e := range st.Deployments[n-1].Versions {
			active[e.VersionID] = true
		}
	}
	var evicted []Upload
	for len(st.Uploads) >= MaxUploads {
		i := slices.IndexFunc(st.Uploads, func(o Upload) bool { return !active[o.ID] })
		if i < 0 {
			return nil, Invalidf("the active deployment names all %d kept uploads; deploy fewer versions before uploading another", len(st.Uploads))
		}
		evicted = append(evicted, st.Uploads[i])
		st.Uploads = slices.Delete(st.Uploads, i, i+1)
	}
	st.Uploads = append(st.Uploads, u)
	return evicted, nil
}

// RollbackTarget finds in the history the newest earlier deployment that
// gave one version 100%, other than the version the active deployment
// gives 100% to.
func (st *State) RollbackTarget() (string, error) {
	history := st.Deployments
	if len(history) == 0 {
		return "", ErrNoHistory
	}
	current := fullVersion(history[len(history)-1])
	for i := len(history) - 2; i >= 0; i-- {
		if id := fullVersion(history[i]); id != "" && id != current {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: no earlier version served 100%%; name the version to roll back to", ErrNoHistory)
}

// fullVersion returns the version a deployment gives 100%, or "".
func fullVersion(d Deployment) string {
	for _, e := range d.Versions {
		if e.Percentage == 100 {
			return e.VersionID
		}
	}
	return ""
}

// Split checks entries against the versions known and builds the split.
func Split(known []string, entries []Entry) (*splitter.Deployment, error) {
	if len(entries) == 0 {
		return nil, Invalidf("deploy: required when there is more than one version (%d defined)", len(known))
	}
	split := make([]splitter.Entry, 0, len(entries))
	for _, e := range entries {
		if !slices.Contains(known, e.VersionID) {
			return nil, Invalidf("deploy: unknown version %q", e.VersionID)
		}
		w, err := splitter.PercentFromFloat(e.Percentage)
		if err != nil {
			return nil, Invalidf("deploy: version %s: %v", e.VersionID, err)
		}
		split = append(split, splitter.Entry{ID: e.VersionID, Weight: w})
	}
	d, err := splitter.New(split)
	if err != nil {
		return nil, Invalidf("deploy: %v", err)
	}
	return d, nil
}
