package workerhost

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is the origin the corpus scripts fetch from.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	logs []string
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
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
		u.mu.Lock()
		u.logs = append(u.logs, string(b))
		u.mu.Unlock()
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "streamed from upstream, ünïcode")
	})
	u.Server = httptest.NewServer(mux)
	t.Cleanup(u.Close)
	return u
}

// waitLogged waits until the upstream's /log received a body containing s.
func (u *upstream) waitLogged(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.ContainsFunc(u.logged(), func(l string) bool { return strings.Contains(l, s) }) {
		if time.Now().After(deadline) {
			t.Errorf("the upstream's /log got %q, nothing containing %q", u.logged(), s)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (u *upstream) logged() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.logs...)
}

// corpusCase is one case of testdata/corpus.json, whose "about" describes
// the fields. The integration tests read the same file.
type corpusCase struct {
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

// corpusScript is the cases of one script, in file order.
type corpusScript struct {
	script        string
	vars          map[string]string
	needsUpstream bool
	cases         []corpusCase
}

// loadCorpus reads testdata/corpus.json and groups its cases by script.
func loadCorpus(t *testing.T) []*corpusScript {
	t.Helper()
	data, err := os.ReadFile("testdata/corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		About []string     `json:"about"`
		Cases []corpusCase `json:"cases"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("testdata/corpus.json: %v", err)
	}
	var scripts []*corpusScript
	byName := map[string]*corpusScript{}
	for _, c := range file.Cases {
		s := byName[c.Script]
		if s == nil {
			s = &corpusScript{script: c.Script, vars: c.Vars, needsUpstream: c.NeedsUpstream}
			byName[c.Script] = s
			scripts = append(scripts, s)
		}
		if !maps.Equal(s.vars, c.Vars) || s.needsUpstream != c.NeedsUpstream {
			t.Fatalf("corpus case %s %q: vars and needs_upstream differ from the script's first case", c.Script, c.Name)
		}
		if c.BodyRegexp != "" {
			if _, err := regexp.Compile(c.BodyRegexp); err != nil {
				t.Fatalf("corpus case %s %q: %v", c.Script, c.Name, err)
			}
		}
		s.cases = append(s.cases, c)
	}
	return scripts
}

// check returns what is wrong with a response to c.
func (c *corpusCase) check(status int, h http.Header, body string) []string {
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

func TestCorpus(t *testing.T) {
	up := newUpstream(t)
	for _, s := range loadCorpus(t) {
		t.Run(s.script, func(t *testing.T) {
			t.Parallel()
			vars := maps.Clone(s.vars)
			if s.needsUpstream {
				vars = map[string]string{"UPSTREAM": up.URL}
				maps.Copy(vars, s.vars)
			}
			w, err := New(Config{
				Worker: "corpus", VersionID: "v-123", Tag: "canary", Entry: filepath.Join("testdata", s.script),
				Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
				Vars:      vars, PoolSize: 1, CPULimit: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for _, c := range s.cases {
				method, host := cmp.Or(c.Request.Method, "GET"), cmp.Or(c.Request.Host, "example.com")
				var hdr []string
				for k, v := range c.Request.Headers {
					hdr = append(hdr, k, v)
				}
				resp, body, res, err := do(t, w, method, "http://"+host+c.Request.Path, c.Request.Body, hdr...)
				if c.PassThrough {
					// Serve writes nothing and leaves the answer to the next handler.
					if err != ErrPassThrough || body != "" || len(resp.Header) != 0 {
						t.Errorf("%s: err %v, body %q, headers %v; want ErrPassThrough and nothing written", c.Name, err, body, resp.Header)
					}
				} else {
					if err != nil {
						t.Errorf("%s: err %v", c.Name, err)
					}
					for _, p := range c.check(resp.StatusCode, resp.Header, body) {
						t.Errorf("%s: %s", c.Name, p)
					}
				}
				if want := cmp.Or(c.Outcome, OutcomeOK); res.Outcome != want {
					t.Errorf("%s: outcome %q, want %q (%+v)", c.Name, res.Outcome, want, res.Exceptions)
				}
				if c.UpstreamLog != "" {
					up.waitLogged(t, c.UpstreamLog)
				}
			}
		})
	}
}

func TestCorpusWaitUntil(t *testing.T) {
	up := newUpstream(t)
	w, err := New(Config{Entry: "testdata/wait-until.js", Vars: map[string]string{"UPSTREAM": up.URL}, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, body, res, err := do(t, w, "GET", "http://example.com/page", "")
	if err != nil || body != "logged later" || res.Outcome != OutcomeOK {
		t.Fatalf("body %q, result %+v, err %v", body, res, err)
	}
	if got := up.logged(); len(got) != 0 {
		t.Fatalf("logged before the response: %q", got)
	}
	// Close waits for the ctx.waitUntil work.
	w.Close()
	got := up.logged()
	if len(got) != 1 || !strings.Contains(got[0], `"path":"/page"`) {
		t.Fatalf("logged %q", got)
	}
}
