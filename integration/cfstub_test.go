package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/caddy-gradual/gradual/internal/cfapi"
)

// cfStub stands in for Cloudflare's API: it keeps one Worker's versions
// and deployments in memory, answers wrangler with internal/cfapi's shapes
// and decoders, and records every request, so a test can check both what
// real wrangler sends and that it accepts what it gets back.
type cfStub struct {
	srv    *httptest.Server
	token  string
	worker string

	mu          sync.Mutex
	now         time.Time
	requests    []string // "METHOD /path?query", in order
	unexpected  []string
	uploads     []*cfapi.Upload
	versions    []cfapi.Version    // oldest first
	deployments []cfapi.Deployment // newest first
	tails       map[string]cfapi.TailFilter
	tailOpen    chan struct{} // a value per tail session opened
	events      chan []byte   // tail lines for the open session
}

const stubBase = "/client/v4/accounts/{account}/workers"

func newCFStub(t *testing.T, worker, token string) *cfStub {
	s := &cfStub{
		token:    token,
		worker:   worker,
		now:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		tails:    map[string]cfapi.TailFilter{},
		tailOpen: make(chan struct{}, 8),
		events:   make(chan []byte, 64),
	}
	mux := http.NewServeMux()
	api := func(pattern string, h func(w http.ResponseWriter, r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+s.token {
				cfapi.WriteError(w, cfapi.Errorf(http.StatusUnauthorized, cfapi.CodeAuth, "Authentication error"))
				return
			}
			if name := r.PathValue("name"); name != "" && name != s.worker {
				cfapi.WriteError(w, cfapi.Errorf(http.StatusNotFound, cfapi.CodeWorkerNotFound, "no gradual block serves the Worker %q", name))
				return
			}
			s.mu.Lock()
			result, err := h(w, r)
			s.mu.Unlock()
			if err != nil {
				cfapi.WriteError(w, err.(*cfapi.Error))
				return
			}
			cfapi.WriteResult(w, http.StatusOK, result)
		})
	}
	api("GET "+stubBase+"/services/{name}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return cfapi.NewService(s.worker, s.now, s.now), nil
	})
	upload := func(w http.ResponseWriter, r *http.Request) (*cfapi.Version, error) {
		u, err := cfapi.ParseUpload(r.Body, r.Header.Get("Content-Type"), cfapi.Limits{})
		if err != nil {
			return nil, err
		}
		s.uploads = append(s.uploads, u)
		v := s.addVersion(u)
		return &v, nil
	}
	api("POST "+stubBase+"/scripts/{name}/versions", func(w http.ResponseWriter, r *http.Request) (any, error) {
		v, err := upload(w, r)
		if err != nil {
			return nil, err
		}
		return v, nil
	})
	api("PUT "+stubBase+"/scripts/{name}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		v, err := upload(w, r)
		if err != nil {
			return nil, err
		}
		s.deploy(cfapi.DeploymentRequest{Versions: []cfapi.VersionShare{{VersionID: v.ID, Percentage: 100}}})
		return cfapi.ScriptUploaded{ID: s.worker, Etag: v.Resources.Script.Etag, Handlers: []string{"fetch"}, CreatedOn: v.Metadata.CreatedOn, ModifiedOn: v.Metadata.CreatedOn, DeploymentID: v.ID}, nil
	})
	api("GET "+stubBase+"/scripts/{name}/versions", func(w http.ResponseWriter, r *http.Request) (any, error) {
		list := cfapi.VersionList{Items: slices.Clone(s.versions)}
		slices.Reverse(list.Items)
		return list, nil
	})
	api("GET "+stubBase+"/scripts/{name}/versions/{id}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		if v := s.version(r.PathValue("id")); v != nil {
			return v, nil
		}
		return nil, cfapi.Errorf(http.StatusNotFound, cfapi.CodeNotFound, "no version %s", r.PathValue("id"))
	})
	api("GET "+stubBase+"/scripts/{name}/deployments", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return cfapi.DeploymentList{Deployments: slices.Clone(s.deployments)}, nil
	})
	api("POST "+stubBase+"/scripts/{name}/deployments", func(w http.ResponseWriter, r *http.Request) (any, error) {
		d, err := cfapi.ParseDeploymentRequest(r.Body)
		if err != nil {
			return nil, err
		}
		for _, v := range d.Versions {
			if s.version(v.VersionID) == nil {
				return nil, cfapi.Errorf(http.StatusBadRequest, cfapi.CodeNotFound, "no version %s", v.VersionID)
			}
		}
		return s.deploy(*d), nil
	})
	api("PATCH "+stubBase+"/scripts/{name}/script-settings", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return cfapi.NewScriptSettings(), nil
	})
	api("GET "+stubBase+"/scripts/{name}/settings", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return cfapi.Settings{ScriptSettings: cfapi.NewScriptSettings(), Bindings: []cfapi.Binding{}, CompatibilityFlags: []string{}, UsageModel: "standard"}, nil
	})
	api("GET "+stubBase+"/scripts/{name}/subdomain", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return cfapi.ScriptSubdomain{}, nil
	})
	api("POST "+stubBase+"/scripts/{name}/subdomain", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return cfapi.ScriptSubdomain{}, nil
	})
	api("GET "+stubBase+"/subdomain", func(w http.ResponseWriter, r *http.Request) (any, error) {
		return cfapi.Subdomain{Subdomain: "local"}, nil
	})
	api("POST "+stubBase+"/scripts/{name}/tails", func(w http.ResponseWriter, r *http.Request) (any, error) {
		f, err := cfapi.ParseTailFilter(r.Body)
		if err != nil {
			return nil, err
		}
		id := uuid.NewString()
		s.tails[id] = f
		return cfapi.TailCreated{ID: id, URL: "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/tail/" + id, ExpiresAt: cfapi.Time(s.now.Add(time.Hour))}, nil
	})
	api("DELETE "+stubBase+"/scripts/{name}/tails/{id}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		delete(s.tails, r.PathValue("id"))
		return nil, nil
	})
	mux.HandleFunc("GET /tail/{id}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f, ok := s.tails[r.PathValue("id")]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.tailOpen <- struct{}{}
		cfapi.ServeTail(w, r, cfapi.TailSource{Events: s.events}, f)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			cfapi.WriteError(w, cfapi.Errorf(http.StatusUnauthorized, cfapi.CodeAuth, "Authentication error"))
			return
		}
		s.mu.Lock()
		s.unexpected = append(s.unexpected, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		cfapi.WriteError(w, cfapi.Errorf(http.StatusNotFound, cfapi.CodeNotFound, "the stub has no %s %s", r.Method, r.URL.Path))
	})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// tick advances the stub's clock, so that created_on values differ.
func (s *cfStub) tick() time.Time {
	s.now = s.now.Add(time.Second)
	return s.now
}

func (s *cfStub) addVersion(u *cfapi.Upload) cfapi.Version {
	at := cfapi.Time(s.tick())
	sum := sha256.Sum256(u.Module(u.MainModule).Content)
	annotations := map[string]string{cfapi.AnnotationTriggeredBy: "upload"}
	if u.Tag != "" {
		annotations[cfapi.AnnotationTag] = u.Tag
	}
	if u.Message != "" {
		annotations[cfapi.AnnotationMessage] = u.Message
	}
	v := cfapi.Version{
		ID:          uuid.NewString(),
		Number:      len(s.versions) + 1,
		Metadata:    cfapi.VersionMetadata{CreatedOn: at, ModifiedOn: at, Source: "wrangler", AuthorEmail: "ci@example.com"},
		Annotations: annotations,
		Resources: cfapi.Resources{
			Bindings:      u.Bindings(),
			Script:        cfapi.Script{Etag: hex.EncodeToString(sum[:]), Handlers: []string{"fetch"}},
			ScriptRuntime: cfapi.ScriptRuntime{CompatibilityDate: u.CompatibilityDate, CompatibilityFlags: u.CompatibilityFlags, UsageModel: "standard"},
		},
		StartupTimeMs: 1,
	}
	s.versions = append(s.versions, v)
	return v
}

func (s *cfStub) version(id string) *cfapi.Version {
	for i := range s.versions {
		if s.versions[i].ID == id {
			return &s.versions[i]
		}
	}
	return nil
}

func (s *cfStub) deploy(req cfapi.DeploymentRequest) cfapi.Deployment {
	d := cfapi.Deployment{ID: uuid.NewString(), Source: "wrangler", Strategy: "percentage", AuthorEmail: "ci@example.com", CreatedOn: cfapi.Time(s.tick()), Versions: req.Versions}
	if m := req.Message(); m != "" {
		d.Annotations = map[string]string{cfapi.AnnotationMessage: m}
	}
	s.deployments = append([]cfapi.Deployment{d}, s.deployments...)
	return d
}

// seen returns the requests recorded since the mark, with IDs replaced by
// {id}, so a test can compare them with the routes wrangler is known to
// use.
func (s *cfStub) seen(mark int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests[mark:] {
		out = append(out, uuidRE.ReplaceAllString(r, "{id}"))
	}
	return out
}

func (s *cfStub) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// versionIDRE finds the ID wrangler prints after an upload.
var versionIDRE = regexp.MustCompile(`Worker Version ID: (` + uuidRE.String() + `)`)

// stubState is a copy of what the stub holds, for a test to read while
// the stub serves (wrangler's requests come from another process, so the
// race detector sees no order between them and the test).
type stubState struct {
	uploads     []*cfapi.Upload
	versions    []cfapi.Version
	deployments []cfapi.Deployment
	unexpected  []string
}

func (s *cfStub) state() stubState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return stubState{slices.Clone(s.uploads), slices.Clone(s.versions), slices.Clone(s.deployments), slices.Clone(s.unexpected)}
}
