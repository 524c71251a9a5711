package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

func statusOf(err error) int {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

func TestDecodeUpload(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"script", `{"script":"export default {}","tag":"t","message":"m","vars":{"A":"b"}}`, 0, ""},
		{"upstreams", `{"upstreams":["127.0.0.1:9000","[::1]:80","example.com:443"]}`, 0, ""},
		{"empty object", `{}`, 400, `"script"`},
		{"both", `{"script":"x","upstreams":["a:1"]}`, 400, "not both"},
		{"not JSON", `{"script":`, 400, "invalid JSON"},
		{"trailing data", `{"script":"x"} {}`, 400, "data after"},
		{"unknown field", `{"scripts":"x"}`, 400, "unknown field"},
		{"array", `[]`, 400, "invalid JSON"},
		{"bad port", `{"upstreams":["a:99999"]}`, 400, "port"},
		{"no port", `{"upstreams":["a"]}`, 400, "host:port"},
		{"no host", `{"upstreams":[":80"]}`, 400, "missing host"},
		{"vars on upstream", `{"upstreams":["a:1"],"vars":{"A":"b"}}`, 400, "script versions"},
		{"bad var name", `{"script":"x","vars":{"1a":"b"}}`, 400, "var name"},
		{"reserved var", `{"script":"x","vars":{"CF_VERSION_METADATA":"b"}}`, 400, "reserved"},
		{"json", `{"script":"x","vars":{"A":"b"},"json":{"J":{"a":[1, 2]},"N":null}}`, 0, ""},
		{"json on upstream", `{"upstreams":["a:1"],"json":{"J":1}}`, 400, "script versions"},
		{"json and var alike", `{"script":"x","vars":{"J":"b"},"json":{"J":1}}`, 400, "both a var and a json binding"},
		{"bad json name", `{"script":"x","json":{"a-b":1}}`, 400, `json binding name "a-b"`},
		{"reserved json name", `{"script":"x","json":{"CF_VERSION_METADATA":1}}`, 400, "reserved"},
		{"json over limit", `{"script":"x","json":{"J":"` + strings.Repeat("j", MaxVarBytes) + `"}}`, 400, "the limit is 5120"},
		{"too many bindings", `{"script":"x","vars":{"A":"b"},"json":{` + manyJSON(MaxVars) + `}}`, 400, "vars and json bindings"},
		{"long tag", `{"script":"x","tag":"` + strings.Repeat("t", MaxTagLen+1) + `"}`, 400, "tag"},
		{"too big", `{"script":"` + strings.Repeat("x", MaxRequestBytes) + `"}`, 413, "over"},
		{"script over limit", `{"script":"` + strings.Repeat("x", MaxScriptBytes+1) + `"}`, 413, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeUpload(strings.NewReader(tt.body))
			if tt.status == 0 {
				if err != nil || req == nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if statusOf(err) != tt.status || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v (status %d), want %d containing %q", err, statusOf(err), tt.status, tt.msg)
			}
		})
	}
}

func manyJSON(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"J` + strconv.Itoa(i) + `":1`
	}
	return strings.Join(parts, ",")
}

// TestDecodeUploadJSON checks that json bindings are kept compacted.
func TestDecodeUploadJSON(t *testing.T) {
	req, err := DecodeUpload(strings.NewReader(`{"script":"x","json":{"J":{ "a" : [1, 2] }}}`))
	if err != nil || string(req.JSON["J"]) != `{"a":[1,2]}` {
		t.Fatalf("%s, %v", req.JSON["J"], err)
	}
}

func TestDecodeDeploy(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
		msg        string
	}{
		{"cloudflare shape", `{"strategy":"percentage","versions":[{"version_id":"a","percentage":10},{"version_id":"b","percentage":90}],"annotations":{"workers/message":"hi"}}`, true, ""},
		{"no strategy", `{"versions":[{"version_id":"a","percentage":100}]}`, true, ""},
		{"other strategy", `{"strategy":"blue-green","versions":[{"version_id":"a","percentage":100}]}`, false, "strategy"},
		{"no versions", `{"strategy":"percentage","versions":[]}`, false, "at least one"},
		{"bad annotation", `{"versions":[{"version_id":"a","percentage":100}],"annotations":{"workers/triggered_by":"me"}}`, false, "annotation"},
		{"string percentage", `{"versions":[{"version_id":"a","percentage":"100"}]}`, false, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeDeploy(strings.NewReader(tt.body))
			if tt.ok != (err == nil) || (err != nil && (statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tt.msg))) {
				t.Fatalf("error %v, want ok=%v with %q", err, tt.ok, tt.msg)
			}
		})
	}
}

func TestDecodeRollback(t *testing.T) {
	for body, want := range map[string]string{
		``:                      "",
		`  `:                    "",
		`{}`:                    "",
		`{"version_id":"v1"}`:   "v1",
		`{"message":"because"}`: "",
	} {
		req, err := DecodeRollback(strings.NewReader(body))
		if err != nil || req.VersionID != want {
			t.Errorf("%q: %+v %v", body, req, err)
		}
	}
	for _, body := range []string{`{"version":"v1"}`, `nope`, `{"message":"` + strings.Repeat("m", MaxMessageLen+1) + `"}`} {
		if _, err := DecodeRollback(strings.NewReader(body)); statusOf(err) != http.StatusBadRequest {
			t.Errorf("%.40q: error %v, want 400", body, err)
		}
	}
}

// FuzzRequests decodes arbitrary bodies as every admin request. It
// must never panic, every error must carry a 4xx status, and what is
// accepted must satisfy the documented limits.
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{
		`{"script":"export default {}","vars":{"A":"b"}}`,
		`{"upstreams":["127.0.0.1:1"],"tag":"x"}`,
		`{"strategy":"percentage","versions":[{"version_id":"a","percentage":12.5}],"annotations":{"workers/message":"m"}}`,
		`{"version_id":"v1","message":"m"}`,
		``, `null`, `[]`, `{"script":1}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		check := func(kind string, err error) {
			if err != nil {
				if s := statusOf(err); s < 400 || s > 499 {
					t.Fatalf("%s: error %v has status %d, want 4xx", kind, err, s)
				}
			}
		}
		up, err := DecodeUpload(strings.NewReader(body))
		check("upload", err)
		if err == nil {
			if (up.Script == "") == (len(up.Upstreams) == 0) || len(up.Script) > MaxScriptBytes || len(up.Tag) > MaxTagLen {
				t.Fatalf("accepted an upload outside the limits: %+v", up)
			}
		}
		dep, err := DecodeDeploy(strings.NewReader(body))
		check("deployment", err)
		if err == nil && len(dep.Versions) == 0 {
			t.Fatal("accepted a deployment with no versions")
		}
		_, err = DecodeRollback(strings.NewReader(body))
		check("rollback", err)
	})
}
