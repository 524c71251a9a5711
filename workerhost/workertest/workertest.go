// Package workertest holds what the worker corpus tests share: the cases
// of workerhost/testdata/corpus.json (whose "about" describes the fields),
// checking a response against a case, and the origin the corpus scripts
// fetch from. The worker host's own tests, the tests through Caddy and the
// differential test against workerd all use it, so the three run the same
// cases the same way.
package workertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Case is one case of the corpus: a request to a script and what the
// response must be.
type Case struct {
	Name          string            `json:"name"`
	Script        string            `json:"script"`
	Vars          map[string]string `json:"vars"`
	NeedsUpstream bool              `json:"needs_upstream"`
	Request       struct {
		Method  string            `json:"method"`
		Host    string            `json:"host"`
		Path    string            `json:"path"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	} `json:"request"`
	Status            int               `json:"status"`
	Headers           map[string]string `json:"headers"`
	Body              *string           `json:"body"`
	BodyRegexp        string            `json:"body_regexp"`
	BodyJSON          map[string]any    `json:"body_json"`
	UpstreamLog       string            `json:"upstream_log"`
	Outcome           string            `json:"outcome"`
	PassThrough       bool              `json:"pass_through"`
	Workerd           *bool             `json:"workerd"`
	WorkerdStatusOnly bool              `json:"workerd_status_only"`
	WorkerdNote       string            `json:"workerd_note"`
	WorkerdBody       *string           `json:"workerd_body"`
	WorkerdRandom     bool              `json:"workerd_random"`
}

// Script is the cases of one corpus script, in file order, and the
// settings they share.
type Script struct {
	// File is the script's path relative to the corpus file.
	File          string
	Vars          map[string]string
	NeedsUpstream bool
	Cases         []Case
}

// VarsWith returns the script's vars, plus UPSTREAM (the origin's URL) if
// it fetches.
func (s *Script) VarsWith(upstreamURL string) map[string]string {
	vars := maps.Clone(s.Vars)
	if s.NeedsUpstream {
		if vars == nil {
			vars = map[string]string{}
		}
		vars["UPSTREAM"] = upstreamURL
	}
	return vars
}

// Load reads a corpus file and groups its cases by script, in file order.
func Load(path string) ([]*Script, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file struct {
		About []string `json:"about"`
		Cases []Case   `json:"cases"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var scripts []*Script
	byName := map[string]*Script{}
	for _, c := range file.Cases {
		s := byName[c.Script]
		if s == nil {
			s = &Script{File: c.Script, Vars: c.Vars, NeedsUpstream: c.NeedsUpstream}
			byName[c.Script] = s
			scripts = append(scripts, s)
		}
		if !maps.Equal(s.Vars, c.Vars) || s.NeedsUpstream != c.NeedsUpstream {
			return nil, fmt.Errorf("corpus case %s %q: vars and needs_upstream differ from the script's first case", c.Script, c.Name)
		}
		if c.BodyRegexp != "" {
			if _, err := regexp.Compile(c.BodyRegexp); err != nil {
				return nil, fmt.Errorf("corpus case %s %q: %w", c.Script, c.Name, err)
			}
		}
		s.Cases = append(s.Cases, c)
	}
	return scripts, nil
}

// Check returns what is wrong with a response to c; nothing when it is
// right.
func (c *Case) Check(status int, h http.Header, body string) []string {
	var bad []string
	if status != c.Status {
		bad = append(bad, fmt.Sprintf("status %d, want %d", status, c.Status))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Headers)) {
		if got := strings.Join(h.Values(k), ", "); got != c.Headers[k] {
			bad = append(bad, fmt.Sprintf("header %s %q, want %q", k, got, c.Headers[k]))
		}
	}
	if c.Body != nil && body != *c.Body {
		bad = append(bad, fmt.Sprintf("body %q, want %q", body, *c.Body))
	}
	if c.BodyRegexp != "" && !regexp.MustCompile(c.BodyRegexp).MatchString(body) {
		bad = append(bad, fmt.Sprintf("body %q does not match %s", body, c.BodyRegexp))
	}
	if c.BodyJSON != nil {
		var got any
		if err := json.Unmarshal([]byte(body), &got); err != nil || !jsonContains(got, c.BodyJSON) {
			bad = append(bad, fmt.Sprintf("body %q does not contain the JSON %v", body, c.BodyJSON))
		}
	}
	return bad
}

// jsonContains reports whether got has every member of want, recursively.
func jsonContains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !jsonContains(gv, v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !jsonContains(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return got == want
	}
}

// Origin is the HTTP server corpus scripts fetch from (their UPSTREAM).
type Origin struct {
	*httptest.Server
	mu   sync.Mutex
	logs []string
}

// NewOrigin starts an origin on loopback; other answers requests to paths
// the corpus does not use (nil: 404). Close it when done.
func NewOrigin(other http.Handler) *Origin {
	o := &Origin{}
	mux := http.NewServeMux()
	mux.HandleFunc("/item/{name}", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"name": r.PathValue("name")})
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "yes")
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "ua": r.Header.Values("User-Agent"), "body": string(b), "query": r.URL.RawQuery, "accept": r.Header.Get("Accept")})
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	mux.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		o.logs = append(o.logs, string(b))
		o.mu.Unlock()
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "streamed from upstream, ünïcode")
	})
	if other != nil {
		mux.Handle("/", other)
	}
	o.Server = httptest.NewServer(mux)
	return o
}

// Logged returns the bodies /log received so far.
func (o *Origin) Logged() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.logs)
}

// WaitLogged waits until /log received, after the first skip bodies, one
// that contains s: ctx.waitUntil work runs after the response.
func (o *Origin) WaitLogged(skip int, s string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs := o.Logged()[skip:]
		if slices.ContainsFunc(logs, func(l string) bool { return strings.Contains(l, s) }) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the origin's /log got %q, nothing containing %q", logs, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
