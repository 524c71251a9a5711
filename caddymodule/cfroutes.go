package caddymodule

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/internal/cfapi"
	"github.com/caddy-gradual/gradual/internal/live"
)

// The /client/v4/ routes map Cloudflare's API, as wrangler uses it (see
// internal/cfapi), onto the same workers, versions and deployments as the
// /gradual/ API: one model underneath, no second store.

const (
	cfPrefix = "/client/v4"
	cfBase   = cfPrefix + "/accounts/{account}/workers"
	// tailPath is where tail WebSockets are served, by one-time secret.
	tailPath = cfPrefix + "/tail-sessions/"
	// tailLifetime is how long a tail may be opened and then lasts.
	tailLifetime = 6 * time.Hour
)

var cfRoutes = newCFRoutes()

func newCFRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(*http.Request, *workerState) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			s := lookupWorker(r.PathValue("name"))
			if s == nil {
				cfapi.WriteError(w, cfapi.Errorf(http.StatusNotFound, cfapi.CodeWorkerNotFound, "no gradual block serves a worker named %q", r.PathValue("name")))
				return
			}
			result, err := h(r, s)
			if err != nil {
				cfapi.WriteError(w, cfErrorOf(err))
				return
			}
			cfapi.WriteResult(w, http.StatusOK, result)
		})
	}
	handle("GET "+cfBase+"/services/{name}", cfService)
	handle("GET "+cfBase+"/scripts/{name}/settings", func(r *http.Request, s *workerState) (any, error) {
		return cfapi.Settings{ScriptSettings: cfapi.NewScriptSettings(), UsageModel: "standard", CompatibilityFlags: []string{}, Bindings: []cfapi.Binding{}}, nil
	})
	handle("PATCH "+cfBase+"/scripts/{name}/script-settings", func(r *http.Request, s *workerState) (any, error) {
		return cfapi.NewScriptSettings(), nil
	})
	handle("GET "+cfBase+"/scripts/{name}/subdomain", cfNoSubdomain)
	handle("POST "+cfBase+"/scripts/{name}/subdomain", cfNoSubdomain)
	handle("POST "+cfBase+"/scripts/{name}/versions", func(r *http.Request, s *workerState) (any, error) {
		u, err := cfUpload(r, s)
		if err != nil {
			return nil, err
		}
		return cfVersionOf(uploadInfo(u), &u, 0, blockBindings(s)), nil
	})
	handle("PUT "+cfBase+"/scripts/{name}", func(r *http.Request, s *workerState) (any, error) {
		u, err := cfUpload(r, s)
		if err != nil {
			return nil, err
		}
		if _, err := s.deploy(r.Context(), live.SourceAPI, "", func(*live.State) ([]live.Entry, error) {
			return []live.Entry{{VersionID: u.ID, Percentage: 100}}, nil
		}); err != nil {
			return nil, err
		}
		at := cfapi.Time(u.CreatedOn)
		return cfapi.ScriptUploaded{ID: s.name, Etag: u.ScriptHash, Handlers: []string{"fetch"}, CreatedOn: at, ModifiedOn: at, DeploymentID: u.ID}, nil
	})
	handle("GET "+cfBase+"/scripts/{name}/versions", func(r *http.Request, s *workerState) (any, error) {
		return cfapi.VersionList{Items: cfVersions(r.Context(), s)}, nil
	})
	handle("GET "+cfBase+"/scripts/{name}/versions/{id}", func(r *http.Request, s *workerState) (any, error) {
		for _, v := range cfVersions(r.Context(), s) {
			if v.ID == r.PathValue("id") {
				return v, nil
			}
		}
		return nil, cfapi.Errorf(http.StatusNotFound, cfapi.CodeNotFound, "worker %s has no version %s", s.name, r.PathValue("id"))
	})
	handle("GET "+cfBase+"/scripts/{name}/deployments", func(r *http.Request, s *workerState) (any, error) {
		return cfapi.DeploymentList{Deployments: cfDeployments(r.Context(), s)}, nil
	})
	handle("POST "+cfBase+"/scripts/{name}/deployments", func(r *http.Request, s *workerState) (any, error) {
		req, err := cfapi.ParseDeploymentRequest(r.Body)
		if err != nil {
			return nil, err
		}
		entries := make([]live.Entry, len(req.Versions))
		for i, v := range req.Versions {
			entries[i] = live.Entry{VersionID: v.VersionID, Percentage: v.Percentage}
		}
		d, err := s.deploy(r.Context(), live.SourceAPI, req.Message(), func(*live.State) ([]live.Entry, error) { return entries, nil })
		if err != nil {
			return nil, err
		}
		return cfDeploymentOf(recordOf(d)), nil
	})
	handle("POST "+cfBase+"/scripts/{name}/tails", func(r *http.Request, s *workerState) (any, error) {
		f, err := cfapi.ParseTailFilter(r.Body)
		if err != nil {
			return nil, err
		}
		return openTail(r, s.name, f)
	})
	handle("DELETE "+cfBase+"/scripts/{name}/tails/{id}", func(r *http.Request, s *workerState) (any, error) {
		closeTail(r.PathValue("id"))
		return nil, nil
	})
	mux.HandleFunc("GET "+cfBase+"/subdomain", func(w http.ResponseWriter, r *http.Request) {
		// Only wrangler deploy with workers_dev on asks; it prints
		// https://<worker>.<subdomain>.workers.dev, which this server does
		// not serve: set workers_dev = false in wrangler.toml.
		cfapi.WriteResult(w, http.StatusOK, cfapi.Subdomain{Subdomain: "no-workers-dev-set-workers_dev-false"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		cfapi.WriteError(w, cfapi.Errorf(http.StatusNotFound, cfapi.CodeNotFound, "gradual_api does not serve %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// cfErrorOf maps an error of the control plane to Cloudflare's shape.
// wrangler retries an upload on any 5xx, so only failures a retry may
// cure are 5xx.
func cfErrorOf(err error) *cfapi.Error {
	var ce *cfapi.Error
	var ae *api.Error
	var inv *live.InvalidError
	var na *live.NotAppliedError
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.As(err, &ae):
		code := cfapi.CodeBadRequest
		if ae.Status == http.StatusRequestEntityTooLarge {
			code = cfapi.CodeTooLarge
		}
		return &cfapi.Error{Status: ae.Status, Code: code, Message: ae.Message}
	case errors.As(err, &inv):
		code := cfapi.CodeBadRequest
		if strings.HasPrefix(inv.Error(), "script does not") {
			code = cfapi.CodeScriptInvalid
		}
		return &cfapi.Error{Status: http.StatusBadRequest, Code: code, Message: inv.Error()}
	case errors.As(err, &na):
		return &cfapi.Error{Status: http.StatusUnprocessableEntity, Code: cfapi.CodeScriptInvalid, Message: na.Error()}
	case errors.Is(err, live.ErrNoHistory):
		return &cfapi.Error{Status: http.StatusConflict, Code: cfapi.CodeBadRequest, Message: err.Error()}
	case errors.Is(err, live.ErrNoStorage), errors.Is(err, live.ErrNotLoaded), errors.Is(err, live.ErrStorage):
		return &cfapi.Error{Status: http.StatusServiceUnavailable, Code: cfapi.CodeInternal, Message: err.Error()}
	}
	return &cfapi.Error{Status: http.StatusInternalServerError, Code: cfapi.CodeInternal, Message: err.Error()}
}

func cfNoSubdomain(*http.Request, *workerState) (any, error) { return cfapi.ScriptSubdomain{}, nil }

func cfService(r *http.Request, s *workerState) (any, error) {
	created, modified := now(), time.Time{}
	for _, v := range s.describe(r.Context()).Versions {
		if !v.CreatedOn.IsZero() && v.CreatedOn.Before(created) {
			created = v.CreatedOn
		}
		if v.CreatedOn.After(modified) {
			modified = v.CreatedOn
		}
	}
	if modified.Before(created) {
		modified = created
	}
	return cfapi.NewService(s.name, created, modified), nil
}

// cfUpload stores a version uploaded by wrangler. What a version of this
// server cannot hold is refused, by name, before anything is stored.
func cfUpload(r *http.Request, s *workerState) (live.Upload, error) {
	u, err := cfapi.ParseUpload(r.Body, r.Header.Get("Content-Type"), cfapi.Limits{MaxPartBytes: api.MaxScriptBytes})
	if err != nil {
		return live.Upload{}, err
	}
	refuse := func(what string, names []string) error {
		sort.Strings(names)
		return cfapi.Errorf(http.StatusBadRequest, cfapi.CodeUnsupported, "%s (%s): not supported by this server yet", what, strings.Join(names, ", "))
	}
	switch {
	case u.VersionMetadata != "" && u.VersionMetadata != "CF_VERSION_METADATA":
		return live.Upload{}, refuse("a version_metadata binding not named CF_VERSION_METADATA", []string{u.VersionMetadata})
	case len(u.Modules) > 1:
		var names []string
		for _, m := range u.Modules[1:] {
			names = append(names, m.Name)
		}
		return live.Upload{}, refuse("more than one module (wrangler bundles into one unless no_bundle or find_additional_modules is set)", names)
	}
	if err := cfRateLimits(s, u.RateLimits); err != nil {
		return live.Upload{}, err
	}
	if err := cfServices(s, u.Services); err != nil {
		return live.Upload{}, err
	}
	req := api.UploadRequest{Script: withSourceMap(string(u.Module(u.MainModule).Content), u.SourceMaps[u.MainModule+".map"]), Tag: u.Tag, Message: u.Message, Vars: u.Vars, JSON: u.JSON}
	if !u.ServiceWorker {
		req.MainModule = u.MainModule
	}
	// The same rules as the /gradual/ API's uploads.
	body, err := json.Marshal(req)
	if err != nil {
		return live.Upload{}, err
	}
	checked, err := api.DecodeUpload(bytes.NewReader(body))
	if err != nil {
		return live.Upload{}, err
	}
	secrets, err := cfSecrets(r.Context(), s, u)
	if err != nil {
		return live.Upload{}, err
	}
	if n := len(checked.Vars) + len(checked.JSON) + len(secrets); n > api.MaxVars {
		return live.Upload{}, cfapi.Errorf(http.StatusBadRequest, cfapi.CodeBadRequest, "%d vars, json bindings and secrets; the limit is %d", n, api.MaxVars)
	}
	return s.addUpload(r.Context(), live.Upload{Tag: checked.Tag, Message: checked.Message, Script: checked.Script, MainModule: checked.MainModule,
		Vars: checked.Vars, JSON: checked.JSON, Secrets: secrets})
}

// cfRateLimits accepts an upload's ratelimit bindings that the gradual
// block declares alike: the block's rate limits are bindings of every
// version (their counters shared), so an upload can only ask for them.
func cfRateLimits(s *workerState, limits []cfapi.RateLimit) error {
	if len(limits) == 0 {
		return nil
	}
	g := s.latest()
	if g == nil {
		return live.ErrNotLoaded
	}
	for _, want := range limits {
		i := slices.IndexFunc(g.RateLimits, func(rl *RateLimit) bool { return rl.Name == want.Name })
		if i < 0 {
			return cfapi.Errorf(http.StatusBadRequest, cfapi.CodeUnsupported, "ratelimit binding %q: the gradual block declares no such rate limit (ratelimit %s limit %d period %ds)", want.Name, want.Name, want.Limit, want.Period)
		}
		rl := g.RateLimits[i]
		period := cmp.Or(time.Duration(rl.Period), time.Minute)
		if rl.Limit != int64(want.Limit) || period != time.Duration(want.Period)*time.Second {
			return cfapi.Errorf(http.StatusBadRequest, cfapi.CodeUnsupported, "ratelimit binding %q asks %d per %ds; the gradual block declares %d per %v", want.Name, want.Limit, want.Period, rl.Limit, period)
		}
	}
	return nil
}

// withSourceMap inlines wrangler's source map of the script as a data URL,
// which the host's bundler chains with its own, so that exception stacks
// name the original files and lines (src/index.ts:12) rather than
// wrangler's bundle. A script with the map over the script size limit
// goes without it.
func withSourceMap(script string, sourceMap []byte) string {
	if len(sourceMap) == 0 {
		return script
	}
	// wrangler's bundle ends with a comment naming index.js.map, which
	// the host cannot read; the data URL replaces it.
	if i := strings.LastIndex(script, "\n//# sourceMappingURL="); i >= 0 {
		rest := script[i+1:]
		if end := strings.IndexByte(rest, '\n'); end < 0 || strings.TrimSpace(rest[end:]) == "" {
			script = script[:i+1]
		}
	}
	inlined := script + "\n//# sourceMappingURL=data:application/json;base64," + base64.StdEncoding.EncodeToString(sourceMap) + "\n"
	if len(inlined) > api.MaxScriptBytes {
		return script
	}
	return inlined
}

// cfSecrets returns the upload's secrets, checked like vars. When the
// upload keeps secret_text bindings (wrangler versions upload always
// does), the newest upload's secrets that it does not set (nor make a
// var or json binding) carry over, as on Cloudflare, where secrets
// outlive the versions they came with.
func cfSecrets(ctx context.Context, s *workerState, u *cfapi.Upload) (map[string]string, error) {
	secrets := maps.Clone(u.Secrets)
	if slices.Contains(u.KeepBindings, "secret_text") {
		st, err := s.live.Load(ctx)
		if err != nil && !errors.Is(err, live.ErrNoStorage) {
			return nil, err
		}
		if st != nil && len(st.Uploads) > 0 {
			for name, value := range st.Uploads[len(st.Uploads)-1].Secrets {
				// A var or json binding of the upload takes the name over.
				_, set := secrets[name]
				_, isVar := u.Vars[name]
				if _, isJSON := u.JSON[name]; !set && !isVar && !isJSON {
					if secrets == nil {
						secrets = map[string]string{}
					}
					secrets[name] = value
				}
			}
		}
	}
	for name, value := range secrets {
		if err := api.CheckVar(name, value); err != nil {
			return nil, cfapi.Errorf(http.StatusBadRequest, cfapi.CodeBadRequest, "secret: %v", err)
		}
	}
	return secrets, nil
}

// cfVersions lists the worker's versions, oldest first, as wrangler reads
// them; uploads show their vars.
func cfVersions(ctx context.Context, s *workerState) []cfapi.Version {
	uploads := map[string]*live.Upload{}
	if st, err := s.live.Load(ctx); err == nil {
		for i := range st.Uploads {
			uploads[st.Uploads[i].ID] = &st.Uploads[i]
		}
	}
	block := blockBindings(s)
	var out []cfapi.Version
	for _, v := range slices.Backward(s.describe(ctx).Versions) {
		if v.Status != "" {
			continue
		}
		out = append(out, cfVersionOf(v, uploads[v.ID], len(out)+1, block))
	}
	return out
}

// blockBindings returns the bindings the gradual block gives every script
// version, its rate limits and service bindings, in an Upload's fields.
func blockBindings(s *workerState) cfapi.Upload {
	g := s.latest()
	if g == nil {
		return cfapi.Upload{}
	}
	var out cfapi.Upload
	for _, rl := range g.RateLimits {
		period := cmp.Or(time.Duration(rl.Period), time.Minute)
		out.RateLimits = append(out.RateLimits, cfapi.RateLimit{Name: rl.Name, NamespaceID: rl.NamespaceID, Limit: int(rl.Limit), Period: int(period / time.Second)})
	}
	for _, svc := range g.Services {
		out.Services = append(out.Services, cfapi.ServiceBinding{Name: svc.Name, Service: svc.Worker})
	}
	return out
}

// cfVersionOf is one version in Cloudflare's shape; u is its upload, if
// it was uploaded, and block the gradual block's bindings (see
// blockBindings), which a script version has too.
func cfVersionOf(v api.Version, u *live.Upload, number int, block cfapi.Upload) cfapi.Version {
	at := cfapi.Time(v.CreatedOn)
	out := cfapi.Version{
		ID:          v.ID,
		Number:      number,
		Metadata:    cfapi.VersionMetadata{CreatedOn: at, ModifiedOn: at, Source: "caddyfile"},
		Annotations: map[string]string{},
		Resources: cfapi.Resources{
			Script:        cfapi.Script{Handlers: []string{"fetch"}},
			ScriptRuntime: cfapi.ScriptRuntime{UsageModel: "standard"},
		},
	}
	for _, k := range []string{cfapi.AnnotationTag, cfapi.AnnotationMessage} {
		if v.Annotations[k] != "" {
			out.Annotations[k] = v.Annotations[k]
		}
	}
	if v.Source == "upload" {
		out.Metadata.Source = "api"
		out.Annotations[cfapi.AnnotationTriggeredBy] = "upload"
	}
	if u != nil {
		out.Resources.Script.Etag = u.ScriptHash
		out.Resources.Bindings = (&cfapi.Upload{Vars: u.Vars, Secrets: u.Secrets, JSON: u.JSON, RateLimits: block.RateLimits, Services: block.Services}).Bindings()
	} else if v.Kind == "script" {
		out.Resources.Bindings = block.Bindings()
	}
	return out
}

// cfDeployments lists the deployment history, newest first, or, with none
// recorded, the deployment the config makes.
func cfDeployments(ctx context.Context, s *workerState) []cfapi.Deployment {
	var out []cfapi.Deployment
	for _, d := range s.history(ctx) {
		out = append(out, cfDeploymentOf(d))
	}
	if len(out) == 0 {
		if d := s.describe(ctx).Deployment; d != nil {
			out = append(out, cfDeploymentOf(d))
		}
	}
	return out
}

// cfDeploymentOf is a deployment in Cloudflare's shape. wrangler names the
// sources it knows ("api"; triggered_by "rollback"); the config's
// deployments show as "Other (caddyfile)".
func cfDeploymentOf(d *api.Deployment) cfapi.Deployment {
	out := cfapi.Deployment{ID: d.ID, Source: d.Source, Strategy: "percentage", CreatedOn: cfapi.Time(d.CreatedOn), Annotations: map[string]string{}}
	if out.ID == "" {
		out.ID = "config"
	}
	for _, v := range d.Versions {
		out.Versions = append(out.Versions, cfapi.VersionShare{VersionID: v.VersionID, Percentage: v.Percentage})
	}
	if m := d.Annotations[cfapi.AnnotationMessage]; m != "" {
		out.Annotations[cfapi.AnnotationMessage] = m
	}
	switch t := d.Annotations[cfapi.AnnotationTriggeredBy]; t {
	case "", live.SourceAPI, live.SourceConfig:
	default:
		out.Annotations[cfapi.AnnotationTriggeredBy] = t
	}
	switch d.Source {
	case live.SourceConfig:
		out.Source = "caddyfile"
	case live.SourceRollback:
		out.Source = "api"
	}
	return out
}

// A tail is opened by POST …/tails and then by one WebSocket connection to
// its URL, which carries an unguessable secret: wrangler connects without
// its token. The secret works once, until the tail expires.
type cfTail struct {
	id, worker string
	filter     cfapi.TailFilter
	expires    time.Time
}

var (
	tailsMu sync.Mutex
	tails   = map[string]*cfTail{} // by secret
)

// maxPendingTails bounds the tails created and not yet connected to.
const maxPendingTails = 256

func openTail(r *http.Request, worker string, f cfapi.TailFilter) (*cfapi.TailCreated, error) {
	secret := make([]byte, 32)
	rand.Read(secret)
	t := &cfTail{id: hex.EncodeToString(secret[:8]), worker: worker, filter: f, expires: now().Add(tailLifetime)}
	key := hex.EncodeToString(secret)
	tailsMu.Lock()
	for k, old := range tails {
		if now().After(old.expires) {
			delete(tails, k)
		}
	}
	if len(tails) >= maxPendingTails {
		tailsMu.Unlock()
		return nil, cfapi.Errorf(http.StatusTooManyRequests, cfapi.CodeTooLarge, "%d tails are waiting for their WebSocket; connect or delete some first", maxPendingTails)
	}
	tails[key] = t
	tailsMu.Unlock()

	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	// The tail URL is under the same mount as this request: the prefix
	// that handle_path stripped is the original path minus this one.
	prefix := ""
	if orig, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok {
		prefix = strings.TrimSuffix(orig.URL.Path, r.URL.Path)
	}
	return &cfapi.TailCreated{ID: t.id, URL: scheme + "://" + r.Host + prefix + tailPath + key, ExpiresAt: cfapi.Time(t.expires)}, nil
}

func closeTail(id string) {
	tailsMu.Lock()
	defer tailsMu.Unlock()
	for k, t := range tails {
		if t.id == id {
			delete(tails, k)
		}
	}
}

// serveCFTail serves the WebSocket of the tail with that secret, once.
func serveCFTail(w http.ResponseWriter, r *http.Request, secret string, logger *zap.Logger) {
	tailsMu.Lock()
	t := tails[secret]
	delete(tails, secret)
	tailsMu.Unlock()
	if t == nil || now().After(t.expires) {
		cfapi.WriteError(w, cfapi.Errorf(http.StatusNotFound, cfapi.CodeNotFound, "no such tail, or it was used or expired"))
		return
	}
	s := lookupWorker(t.worker)
	if s == nil {
		cfapi.WriteError(w, cfapi.Errorf(http.StatusNotFound, cfapi.CodeWorkerNotFound, "no gradual block serves a worker named %q", t.worker))
		return
	}
	sub := s.tail.Subscribe(t.filter.VersionID)
	defer s.tail.Unsubscribe(sub)
	ctx, cancel := context.WithDeadline(r.Context(), t.expires)
	defer cancel()
	err := cfapi.ServeTail(w, r.WithContext(ctx), cfapi.TailSource{Events: sub.Events(), Done: sub.Done(), Dropped: sub.Dropped}, t.filter)
	logger.Debug("tail session ended", zap.String("worker", t.worker), zap.String("tail", t.id), zap.Error(err))
}
