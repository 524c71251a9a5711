package cfapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEnvelope(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteResult(rec, http.StatusOK, VersionList{Items: []Version{}})
	if got := strings.TrimSpace(rec.Body.String()); got != `{"success":true,"errors":[],"messages":[],"result":{"items":[]}}` {
		t.Errorf("result: %s", got)
	}
	if rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
	}
	rec = httptest.NewRecorder()
	WriteError(rec, Errorf(http.StatusNotFound, CodeWorkerNotFound, "no gradual block serves the Worker %q", "nope"))
	if got := strings.TrimSpace(rec.Body.String()); rec.Code != 404 || got != `{"success":false,"errors":[{"code":10007,"message":"no gradual block serves the Worker \"nope\""}],"messages":[],"result":null}` {
		t.Errorf("error: %d %s", rec.Code, got)
	}
	rec = httptest.NewRecorder()
	WriteError(rec, &Error{Code: CodeInternal, Message: "x"})
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("an error without a status answered %d", rec.Code)
	}
}

func TestParseDeploymentRequest(t *testing.T) {
	d, err := ParseDeploymentRequest(strings.NewReader(`{"strategy":"percentage","versions":[{"version_id":"a","percentage":90},{"version_id":"b","percentage":10}],"annotations":{"workers/message":"canary"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Versions) != 2 || d.Versions[1] != (VersionShare{"b", 10}) || d.Message() != "canary" {
		t.Errorf("got %+v", d)
	}
	// wrangler sends no message when none was given.
	if d, err := ParseDeploymentRequest(strings.NewReader(`{"strategy":"percentage","versions":[{"version_id":"a","percentage":100}],"annotations":{}}`)); err != nil || d.Message() != "" {
		t.Errorf("got %+v, %v", d, err)
	}
	for body, says := range map[string]string{
		`{"versions":[{"version_id":"a","percentage":100}]}`:                                                                                               "strategy",
		`{"strategy":"immediate","versions":[{"version_id":"a","percentage":100}]}`:                                                                        `"immediate"`,
		`{"strategy":"percentage","versions":[]}`:                                                                                                          "at least one version",
		`{"strategy":"percentage","versions":[{"percentage":100}]}`:                                                                                        "no version_id",
		`{"strategy":"percentage","versions":[{"version_id":"a","percentage":101}]}`:                                                                       "between 0 and 100",
		`{"strategy":"percentage","versions":[{"version_id":"a","percentage":-1}]}`:                                                                        "between 0 and 100",
		`{"strategy":"percentage","versions":[{"version_id":"a","percentage":"50"}]}`:                                                                      "not valid JSON",
		`{"strategy":"percentage","versions":[{"version_id":"a","percentage":100}],"annotations":{"workers/message":"` + strings.Repeat("m", 5000) + `"}}`: "message",
		strings.Repeat(" ", maxDeploymentBytes+1):                                                                                                          "at most",
	} {
		_, err := ParseDeploymentRequest(strings.NewReader(body))
		var e *Error
		if !errors.As(err, &e) || e.Status/100 != 4 || !strings.Contains(e.Message, says) {
			t.Errorf("%.80s: got %v, want a 4xx naming %q", body, err, says)
		}
	}
}

func TestUploadBindings(t *testing.T) {
	u := &Upload{
		Vars:            map[string]string{"B_VAR": "b"},
		Secrets:         map[string]string{"A_SECRET": "hidden"},
		JSON:            map[string]json.RawMessage{"C_JSON": json.RawMessage(`{"x":1}`)},
		VersionMetadata: "D_META",
		RateLimits:      []RateLimit{{Name: "E_LIMIT", NamespaceID: "1", Limit: 5, Period: 10}},
		Services:        []ServiceBinding{{Name: "F_AUTH", Service: "auth"}},
	}
	got, _ := json.Marshal(u.Bindings())
	want := `[{"name":"A_SECRET","type":"secret_text"},{"name":"B_VAR","type":"plain_text","text":"b"},{"name":"C_JSON","type":"json","json":{"x":1}},{"name":"D_META","type":"version_metadata"},{"name":"E_LIMIT","type":"ratelimit","namespace_id":"1","simple":{"limit":5,"period":10}},{"name":"F_AUTH","type":"service","service":"auth"}]`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestTimeAndService(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 4, 5, 123456789, time.FixedZone("x", 3600))
	if got := Time(at); got != "2026-12-03T08:04:05.123456Z" {
		t.Errorf("Time = %s", got)
	}
	s := NewService("shop", at, at)
	if s.DefaultEnvironment.Script.Tag != WorkerTag("shop") || len(WorkerTag("shop")) != 32 || WorkerTag("shop") == WorkerTag("shop2") {
		t.Errorf("tag %q", s.DefaultEnvironment.Script.Tag)
	}
	if s.DefaultEnvironment.Script.LastDeployedFrom == "dash" || s.DefaultEnvironment.Script.LastDeployedFrom == "api" {
		t.Error("last_deployed_from makes wrangler ask")
	}
}

// wrangler crashes on a null list ("Cannot read properties of null
// (reading 'at')" from deployments list with no deployments yet).
func TestEmptyListsAreArrays(t *testing.T) {
	for _, v := range []any{DeploymentList{}, VersionList{}, Deployment{}, Version{}} {
		b, err := json.Marshal(v)
		if err != nil || strings.Contains(string(b), "null") {
			t.Errorf("%T: %s, %v", v, b, err)
		}
	}
}
