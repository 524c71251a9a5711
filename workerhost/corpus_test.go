package workerhost

import (
	"cmp"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-gradual/gradual/workerhost/workertest"
)

// newUpstream starts the origin the corpus scripts fetch from.
func newUpstream(t *testing.T) *workertest.Origin {
	o := workertest.NewOrigin(nil)
	t.Cleanup(o.Close)
	return o
}

func TestCorpus(t *testing.T) {
	up := newUpstream(t)
	scripts, err := workertest.Load("testdata/corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scripts {
		t.Run(s.File, func(t *testing.T) {
			t.Parallel()
			w, err := New(Config{
				Worker: "corpus", VersionID: "v-123", Tag: "canary", Entry: filepath.Join("testdata", s.File),
				Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
				Vars:      s.VarsWith(up.URL), PoolSize: 1, CPULimit: 200 * time.Millisecond, Fetch: loopbackOK,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			for _, c := range s.Cases {
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
					for _, p := range c.Check(resp.StatusCode, resp.Header, body) {
						t.Errorf("%s: %s", c.Name, p)
					}
				}
				if want := cmp.Or(c.Outcome, OutcomeOK); res.Outcome != want {
					t.Errorf("%s: outcome %q, want %q (%+v)", c.Name, res.Outcome, want, res.Exceptions)
				}
				if c.UpstreamLog != "" {
					if err := up.WaitLogged(0, c.UpstreamLog); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
}

func TestCorpusWaitUntil(t *testing.T) {
	up := newUpstream(t)
	w, err := New(Config{Entry: "testdata/wait-until.js", Vars: map[string]string{"UPSTREAM": up.URL}, PoolSize: 1, Fetch: loopbackOK})
	if err != nil {
		t.Fatal(err)
	}
	_, body, res, err := do(t, w, "GET", "http://example.com/page", "")
	if err != nil || body != "logged later" || res.Outcome != OutcomeOK {
		t.Fatalf("body %q, result %+v, err %v", body, res, err)
	}
	// The script waits 200 ms before it reports: long enough that even a
	// loaded machine running the race detector reads the origin first.
	if got := up.Logged(); len(got) != 0 {
		t.Fatalf("logged before the response: %q", got)
	}
	// Close waits for the ctx.waitUntil work.
	w.Close()
	got := up.Logged()
	if len(got) != 1 || !strings.Contains(got[0], `"path":"/page"`) {
		t.Fatalf("logged %q", got)
	}
}
