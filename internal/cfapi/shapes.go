package cfapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The shapes below are the results wrangler reads (see the package doc for
// which command reads which field). Fields wrangler never reads are kept
// where Cloudflare always sends them, so `--json` output looks familiar.

// Version is a Worker version: GET …/versions/{id}, the items of GET
// …/versions, and the answer to an upload (POST …/versions).
type Version struct {
	ID          string            `json:"id"`
	Number      int               `json:"number"`
	Metadata    VersionMetadata   `json:"metadata"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Resources   Resources         `json:"resources"`
	// StartupTimeMs is what wrangler prints as "Worker Startup Time"
	// after an upload.
	StartupTimeMs int `json:"startup_time_ms"`
}

// VersionMetadata is a version's provenance. Source is "wrangler", "api",
// "dash" or "terraform" for wrangler to name; any other value prints as
// "Other (value)".
type VersionMetadata struct {
	CreatedOn   string `json:"created_on"`
	ModifiedOn  string `json:"modified_on"`
	Source      string `json:"source"`
	AuthorID    string `json:"author_id"`
	AuthorEmail string `json:"author_email"`
	// HasPreview must stay false: true makes wrangler look up and print a
	// workers.dev preview URL.
	HasPreview bool `json:"has_preview"`
}

// Annotations of a version or a deployment.
const (
	AnnotationMessage     = "workers/message"
	AnnotationTag         = "workers/tag"
	AnnotationTriggeredBy = "workers/triggered_by"
)

// Resources is what a version runs with.
type Resources struct {
	Bindings      []Binding     `json:"bindings"`
	Script        Script        `json:"script"`
	ScriptRuntime ScriptRuntime `json:"script_runtime"`
}

// Script describes a version's code.
type Script struct {
	Etag             string   `json:"etag"`
	Handlers         []string `json:"handlers"`
	LastDeployedFrom string   `json:"last_deployed_from,omitempty"`
}

// ScriptRuntime is a version's compatibility settings.
type ScriptRuntime struct {
	CompatibilityDate  string   `json:"compatibility_date,omitempty"`
	CompatibilityFlags []string `json:"compatibility_flags,omitempty"`
	UsageModel         string   `json:"usage_model"`
	Limits             struct{} `json:"limits"`
}

// Binding is one binding of a version as Cloudflare lists it. Secret
// texts are never listed, only their names.
type Binding struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Text        string          `json:"text,omitempty"`
	JSON        json.RawMessage `json:"json,omitempty"`
	NamespaceID string          `json:"namespace_id,omitempty"`
	Simple      *SimpleLimit    `json:"simple,omitempty"`
	Service     string          `json:"service,omitempty"`
}

// SimpleLimit is a ratelimit binding's rule.
type SimpleLimit struct {
	Limit  int `json:"limit"`
	Period int `json:"period"`
}

// Bindings lists u's bindings as a version shows them: sorted by name,
// secrets without their text.
func (u *Upload) Bindings() []Binding {
	var bs []Binding
	for name, text := range u.Vars {
		bs = append(bs, Binding{Name: name, Type: "plain_text", Text: text})
	}
	for name := range u.Secrets {
		bs = append(bs, Binding{Name: name, Type: "secret_text"})
	}
	for name, j := range u.JSON {
		bs = append(bs, Binding{Name: name, Type: "json", JSON: j})
	}
	if u.VersionMetadata != "" {
		bs = append(bs, Binding{Name: u.VersionMetadata, Type: "version_metadata"})
	}
	for _, r := range u.RateLimits {
		bs = append(bs, Binding{Name: r.Name, Type: "ratelimit", NamespaceID: r.NamespaceID, Simple: &SimpleLimit{Limit: r.Limit, Period: r.Period}})
	}
	for _, s := range u.Services {
		bs = append(bs, Binding{Name: s.Name, Type: "service", Service: s.Service})
	}
	slices.SortFunc(bs, func(a, b Binding) int { return strings.Compare(a.Name, b.Name) })
	return bs
}

// VersionList is the result of GET …/versions.
type VersionList struct {
	Items []Version `json:"items"`
}

// Deployment is one deployment: which versions serve which share.
type Deployment struct {
	ID          string            `json:"id"`
	Source      string            `json:"source"`
	Strategy    string            `json:"strategy"`
	AuthorEmail string            `json:"author_email"`
	Annotations map[string]string `json:"annotations,omitempty"`
	CreatedOn   string            `json:"created_on"`
	Versions    []VersionShare    `json:"versions"`
}

// VersionShare is a version's percentage of a deployment.
type VersionShare struct {
	VersionID  string  `json:"version_id"`
	Percentage float64 `json:"percentage"`
}

// DeploymentList is the result of GET …/deployments. Deployments are
// newest first: wrangler takes the first as the current one.
type DeploymentList struct {
	Deployments []Deployment `json:"deployments"`
}

// DeploymentRequest is the body of POST …/deployments.
type DeploymentRequest struct {
	Strategy    string            `json:"strategy"`
	Versions    []VersionShare    `json:"versions"`
	Annotations map[string]string `json:"annotations"`
}

// Message is the deployment's workers/message annotation.
func (d *DeploymentRequest) Message() string { return d.Annotations[AnnotationMessage] }

// maxDeploymentBytes bounds a deployment body.
const maxDeploymentBytes = 64 << 10

// ParseDeploymentRequest decodes a POST …/deployments body. It checks the
// shape only (a percentage strategy, at least one version, each with an ID
// and a percentage between 0 and 100); whether the deployment is valid is
// for the control plane to say. Errors are *Error.
func ParseDeploymentRequest(body io.Reader) (*DeploymentRequest, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxDeploymentBytes+1))
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "reading the deployment: %v", err)
	}
	if len(data) > maxDeploymentBytes {
		return nil, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "a deployment is at most %d bytes", maxDeploymentBytes)
	}
	var d DeploymentRequest
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "the deployment is not valid JSON: %v", err)
	}
	if d.Strategy != "percentage" {
		return nil, Errorf(http.StatusBadRequest, CodeUnsupported, "deployment strategy %q is not supported (only percentage)", d.Strategy)
	}
	if len(d.Versions) == 0 {
		return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "a deployment names at least one version")
	}
	for _, v := range d.Versions {
		if v.VersionID == "" {
			return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "a deployment's version has no version_id")
		}
		if math.IsNaN(v.Percentage) || v.Percentage < 0 || v.Percentage > 100 {
			return nil, Errorf(http.StatusBadRequest, CodeBadRequest, "version %s: percentage %v is not between 0 and 100", v.VersionID, v.Percentage)
		}
	}
	if len(d.Message()) > maxAnnotationBytes {
		return nil, Errorf(http.StatusBadRequest, CodeTooLarge, "the deployment message is over %d bytes", maxAnnotationBytes)
	}
	return &d, nil
}

// Service is the result of GET …/workers/services/{name}.
type Service struct {
	ID                 string             `json:"id"`
	DefaultEnvironment ServiceEnvironment `json:"default_environment"`
	CreatedOn          string             `json:"created_on"`
	ModifiedOn         string             `json:"modified_on"`
}

// ServiceEnvironment is a service's production environment.
type ServiceEnvironment struct {
	Environment string        `json:"environment"`
	Script      ServiceScript `json:"script"`
	CreatedOn   string        `json:"created_on"`
	ModifiedOn  string        `json:"modified_on"`
}

// ServiceScript is the script of a service environment.
type ServiceScript struct {
	ID       string   `json:"id"`
	Tag      string   `json:"tag"`
	Tags     []string `json:"tags"`
	Etag     string   `json:"etag"`
	Handlers []string `json:"handlers"`
	// LastDeployedFrom must not be "dash" or "api": wrangler then warns
	// that local code will override remote edits and asks to go on.
	LastDeployedFrom string `json:"last_deployed_from"`
	CreatedOn        string `json:"created_on"`
	ModifiedOn       string `json:"modified_on"`
}

// NewService describes the Worker name, created and last changed at the
// given times.
func NewService(name string, created, modified time.Time) Service {
	c, m := Time(created), Time(modified)
	return Service{
		ID:         name,
		CreatedOn:  c,
		ModifiedOn: m,
		DefaultEnvironment: ServiceEnvironment{
			Environment: "production",
			CreatedOn:   c,
			ModifiedOn:  m,
			Script: ServiceScript{
				ID:               name,
				Tag:              WorkerTag(name),
				Tags:             []string{},
				Handlers:         []string{"fetch"},
				LastDeployedFrom: "wrangler",
				CreatedOn:        c,
				ModifiedOn:       m,
			},
		},
	}
}

// ScriptSettings is the answer to PATCH …/script-settings, and the part of
// GET …/settings that is not per version. This server has no logpush,
// observability or tail consumers, so it says so whatever was asked.
type ScriptSettings struct {
	Logpush       bool          `json:"logpush"`
	Observability Observability `json:"observability"`
	TailConsumers []struct{}    `json:"tail_consumers"`
	Tags          []string      `json:"tags"`
}

// Observability is Workers Logs' switch.
type Observability struct {
	Enabled bool `json:"enabled"`
}

// NewScriptSettings returns the settings this server has for any Worker.
func NewScriptSettings() ScriptSettings {
	return ScriptSettings{TailConsumers: []struct{}{}, Tags: []string{}}
}

// Settings is the result of GET …/settings: the script settings and the
// deployed version's bindings and compatibility.
type Settings struct {
	ScriptSettings
	Bindings           []Binding `json:"bindings"`
	CompatibilityDate  string    `json:"compatibility_date,omitempty"`
	CompatibilityFlags []string  `json:"compatibility_flags"`
	UsageModel         string    `json:"usage_model"`
}

// ScriptUploaded is the answer to PUT …/workers/scripts/{name} (wrangler
// deploy of a Worker it did not find, or in service-worker syntax).
type ScriptUploaded struct {
	ID            string   `json:"id"`
	Etag          string   `json:"etag"`
	Handlers      []string `json:"handlers"`
	CreatedOn     string   `json:"created_on"`
	ModifiedOn    string   `json:"modified_on"`
	DeploymentID  string   `json:"deployment_id"` // the new version's ID
	StartupTimeMs int      `json:"startup_time_ms"`
}

// Subdomain is the result of GET …/workers/subdomain.
type Subdomain struct {
	Subdomain string `json:"subdomain"`
}

// ScriptSubdomain is the result of GET|POST …/scripts/{name}/subdomain.
// This server has no workers.dev routes, so both stay false.
type ScriptSubdomain struct {
	Enabled         bool `json:"enabled"`
	PreviewsEnabled bool `json:"previews_enabled"`
}

// TailCreated is the result of POST …/tails.
type TailCreated struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expires_at"`
}

// Time formats t as Cloudflare does (UTC, microseconds), so that
// wrangler's string comparisons of created_on order correctly.
func Time(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// WorkerTag is the stable tag of the Worker name, 32 hex digits like
// Cloudflare's script tags.
func WorkerTag(name string) string {
	sum := sha256.Sum256([]byte("worker:" + name))
	return hex.EncodeToString(sum[:16])
}

// wrangler calls array methods on these lists without checking them, so
// an empty one must be [] and never null: a nil slice is written as [].

// MarshalJSON writes l with Items never null.
func (l VersionList) MarshalJSON() ([]byte, error) {
	type plain VersionList
	l.Items = nonNil(l.Items)
	return json.Marshal(plain(l))
}

// MarshalJSON writes l with Deployments never null.
func (l DeploymentList) MarshalJSON() ([]byte, error) {
	type plain DeploymentList
	l.Deployments = nonNil(l.Deployments)
	return json.Marshal(plain(l))
}

// MarshalJSON writes d with Versions never null.
func (d Deployment) MarshalJSON() ([]byte, error) {
	type plain Deployment
	d.Versions = nonNil(d.Versions)
	return json.Marshal(plain(d))
}

// MarshalJSON writes r with Bindings and Script.Handlers never null.
func (r Resources) MarshalJSON() ([]byte, error) {
	type plain Resources
	r.Bindings = nonNil(r.Bindings)
	r.Script.Handlers = nonNil(r.Script.Handlers)
	return json.Marshal(plain(r))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
