package workerhost

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-gradual/gradual/workerhost/workertest"
)

// TestConformance runs the conformance suite (testdata/conformance) in the
// host and requires, case by case, workerd's recorded answer or the
// documented difference.
func TestConformance(t *testing.T) {
	c, err := workertest.LoadConformance(workertest.ConformanceDir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{
		Worker: "conformance", Entry: filepath.Join(workertest.ConformanceDir, "conformance.js"),
		PoolSize: 1, CPULimit: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var tally workertest.Tally
	for _, family := range workertest.ConformanceFamilies {
		t.Run(family, func(t *testing.T) {
			resp, body, res, err := do(t, w, "GET", "http://example.com/"+family, "")
			var got map[string]string
			if err != nil || resp.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
				t.Fatalf("status %d, err %v, body %.300q, exceptions %+v", resp.StatusCode, err, body, res.Exceptions)
			}
			for _, p := range c.Check(family, got, &tally) {
				t.Error(p)
			}
		})
	}
	t.Logf("%d cases: %d identical to workerd, %d documented differences", tally.Cases, tally.Identical, tally.Documented)
}

// TestIncomingGetHasNoBody checks that an incoming GET or HEAD request has
// a null body even when the server hands it one (Caddy wraps bodies), so
// that the Workers idiom new Request(url, request) works.
func TestIncomingGetHasNoBody(t *testing.T) {
	w := newInline(t, `export default { fetch(request) {
		const r = new Request("http://example.com/other", request);
		return new Response(String(request.body) + " " + r.method);
	} };`)
	for _, method := range []string{"GET", "HEAD"} {
		_, body, res, err := do(t, w, method, "http://example.com/", "ignored")
		want := "null " + method // the recorder keeps a HEAD response's body
		if err != nil || body != want || res.Outcome != OutcomeOK {
			t.Errorf("%s: body %q, outcome %s, err %v %+v; want %q", method, body, res.Outcome, err, res.Exceptions, want)
		}
	}
}
