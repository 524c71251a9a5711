package workertest

import (
	"net/http"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	body := `{"a":{"b":[1,"x"]},"c":true}`
	exact := body
	c := Case{Status: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: &exact,
		BodyRegexp: `^\{"a"`, BodyJSON: map[string]any{"a": map[string]any{"b": []any{1.0, "x"}}}}
	h := http.Header{"Content-Type": {"application/json"}}
	if bad := c.Check(200, h, body); len(bad) != 0 {
		t.Fatalf("a matching response: %v", bad)
	}
	for _, tc := range []struct {
		status int
		h      http.Header
		body   string
		want   string
	}{
		{500, h, body, "status 500"},
		{200, http.Header{}, body, "header Content-Type"},
		{200, h, `{"a":{"b":[1]},"c":true}`, "does not contain the JSON"},
		{200, h, `not json`, "does not match"},
	} {
		bad := c.Check(tc.status, tc.h, tc.body)
		if !strings.Contains(strings.Join(bad, "; "), tc.want) {
			t.Errorf("Check(%d, %v, %q) = %v, want a problem with %q", tc.status, tc.h, tc.body, bad, tc.want)
		}
	}
}

func TestLoadCorpus(t *testing.T) {
	scripts, err := Load("../testdata/corpus.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, s := range scripts {
		cases += len(s.Cases)
		for _, c := range s.Cases {
			if c.Script != s.File || c.Status == 0 && !c.PassThrough {
				t.Errorf("case %s %q: script %q, status %d", s.File, c.Name, c.Script, c.Status)
			}
		}
	}
	if len(scripts) < 25 || cases < len(scripts) {
		t.Errorf("corpus has %d scripts and %d cases", len(scripts), cases)
	}
	if _, err := Load("testdata/nope.json"); err == nil {
		t.Error("loading a missing corpus did not fail")
	}
}
