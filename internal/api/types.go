package api

import (
	"encoding/json"
	"time"
)

// Envelope is Cloudflare's response shape, which every answer of the API
// has: Result on success, Errors otherwise.
type Envelope struct {
	Success  bool      `json:"success"`
	Errors   []Message `json:"errors"`
	Messages []Message `json:"messages"`
	Result   any       `json:"result"`
}

// Message is an error or a message of an Envelope. Code is the HTTP status
// for errors.
type Message struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Worker describes a worker: GET /gradual/workers/{name}, and each item of
// GET /gradual/workers.
type Worker struct {
	Name string `json:"name"`
	// Versions are newest first.
	Versions []Version `json:"versions"`
	// Deployment is the one that serves; nil when none does.
	Deployment *Deployment `json:"deployment"`
	// Stats are the live stats of each version, by version ID.
	Stats map[string]*Stats `json:"stats"`
	// Nodes are every Caddy serving the worker from the same storage.
	Nodes []Node `json:"nodes"`
}

// Node is one Caddy of the fleet that shares a storage, as its heartbeat
// tells: the deployment it serves, since when, its last failure, when it
// was last seen.
type Node struct {
	ID string `json:"id"`
	// Deployment is the ID of the deployment the node serves, "" for a
	// config's deployment that was never recorded.
	Deployment string    `json:"deployment"`
	Since      time.Time `json:"since"`
	// LastError is the node's last failure to read the storage or to
	// apply a change, "" once it recovered.
	LastError string    `json:"last_error"`
	LastSeen  time.Time `json:"last_seen"`
	// Gone is set when the node has not been seen for 3 poll intervals.
	Gone bool `json:"gone"`
}

// Version describes a version: GET …/versions, and the answer of an upload.
type Version struct {
	ID string `json:"id"`
	// Source is "config" or "upload".
	Source string `json:"source"`
	// Kind is "script" or "upstream".
	Kind      string    `json:"kind"`
	CreatedOn time.Time `json:"created_on"`
	// Annotations are "workers/tag" and "workers/message".
	Annotations map[string]string `json:"annotations"`
	// Upstreams are the addresses of an upstream version.
	Upstreams []string `json:"upstreams,omitempty"`
	// Status is set for an upload that the answering node failed to
	// load: "failed: " and why.
	Status string `json:"status,omitempty"`
}

// Stats are a version's live stats: counts since Caddy started, and rates
// and latencies over the last WindowSeconds.
type Stats struct {
	Requests       uint64  `json:"requests"`
	Errors         uint64  `json:"errors"`
	WindowSeconds  int     `json:"window_seconds"`
	WindowRequests uint64  `json:"window_requests"`
	WindowErrors   uint64  `json:"window_errors"`
	ErrorRate      float64 `json:"error_rate"`
	P50Ms          float64 `json:"p50_ms"`
	P99Ms          float64 `json:"p99_ms"`
}

// Deployment is one entry of a worker's deployment history, and the
// answer of a deploy or a rollback.
type Deployment struct {
	// ID is empty for a deployment that is not in the history (the
	// config's, when there is no storage).
	ID        string    `json:"id"`
	CreatedOn time.Time `json:"created_on"`
	// Source is "config", "api" or "rollback".
	Source   string              `json:"source"`
	Strategy string              `json:"strategy"`
	Versions []DeploymentVersion `json:"versions"`
	// Annotations are "workers/message" and "workers/triggered_by".
	Annotations map[string]string `json:"annotations"`
}

// DeploymentVersion gives one version its share of traffic.
type DeploymentVersion struct {
	VersionID string `json:"version_id"`
	// Percentage is from 0 to 100 with at most two decimals.
	Percentage float64 `json:"percentage"`
}

// Deployments is the answer of GET …/deployments: the history, newest
// first.
type Deployments struct {
	Deployments []*Deployment `json:"deployments"`
}

// UploadRequest is the body of POST /gradual/workers/{name}/versions:
// exactly one of Script and Upstreams. The CLI sends it too, hence
// omitempty.
type UploadRequest struct {
	Script string `json:"script,omitempty"`
	// MainModule names the script, as Cloudflare's upload metadata does:
	// its extension picks JavaScript or TypeScript, and stacks show it.
	// Default worker.js.
	MainModule string            `json:"main_module,omitempty"`
	Upstreams  []string          `json:"upstreams,omitempty"`
	Tag        string            `json:"tag,omitempty"`
	Message    string            `json:"message,omitempty"`
	Vars       map[string]string `json:"vars,omitempty"`
	// JSON are json bindings, as Cloudflare has them: env.NAME is the
	// value, any JSON. Their names are not those of Vars; each value is
	// at most MaxVarBytes, compacted, and they count towards MaxVars.
	JSON map[string]json.RawMessage `json:"json,omitempty"`
}

// DeployRequest is the body of POST /gradual/workers/{name}/deployments,
// in the shape of Cloudflare's deployments API.
type DeployRequest struct {
	// Strategy is "percentage", the only one; empty means it.
	Strategy string              `json:"strategy"`
	Versions []DeploymentVersion `json:"versions"`
	// Annotations may hold "workers/message".
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RollbackRequest is the body of POST /gradual/workers/{name}/rollback;
// every field is optional, and so is the body.
type RollbackRequest struct {
	VersionID string `json:"version_id,omitempty"`
	Message   string `json:"message,omitempty"`
}
