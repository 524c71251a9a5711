package cfapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

type testPart struct {
	name, contentType, content string
}

// form builds a multipart body as wrangler does: a metadata part, then
// one file part per module or source map.
func form(meta string, parts ...testPart) (body []byte, contentType string) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if meta != "" {
		w.WriteField("metadata", meta)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.name))
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		pw, _ := w.CreatePart(h)
		pw.Write([]byte(p.content))
	}
	w.Close()
	return buf.Bytes(), w.FormDataContentType()
}

const esm = "application/javascript+module"

var mainPart = testPart{"index.js", esm, "export default { fetch() { return new Response('hi') } }"}

func TestParseUpload(t *testing.T) {
	body, ct := form(`{
		"main_module": "index.js",
		"bindings": [
			{"name": "GREETING", "type": "plain_text", "text": "hello"},
			{"name": "API_KEY", "type": "secret_text", "text": "s3cret"},
			{"name": "CONFIG", "type": "json", "json": {"a": [1, 2]}},
			{"name": "CF_VERSION_METADATA", "type": "version_metadata"},
			{"name": "LIMITER", "type": "ratelimit", "namespace_id": "1001", "simple": {"limit": 100, "period": 60}},
			{"name": "AUTH", "type": "service", "service": "auth"}
		],
		"compatibility_date": "2025-01-02",
		"compatibility_flags": ["nodejs_compat"],
		"keep_bindings": ["secret_text", "secret_key"],
		"annotations": {"workers/message": "second release", "workers/tag": "v2"},
		"observability": {"enabled": true},
		"logpush": false
	}`, mainPart,
		testPart{"lib.js", esm, "export const x = 1"},
		testPart{"index.js.map", "application/source-map", `{"version":3}`},
		testPart{"words.txt", "text/plain", "a b c"},
	)
	u, err := ParseUpload(bytes.NewReader(body), ct, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Upload{
		MainModule: "index.js",
		Modules: []Module{
			{Name: "index.js", Type: ModuleESM, Content: []byte(mainPart.content)},
			{Name: "lib.js", Type: ModuleESM, Content: []byte("export const x = 1")},
			{Name: "words.txt", Type: ModuleText, Content: []byte("a b c")},
		},
		SourceMaps:         map[string][]byte{"index.js.map": []byte(`{"version":3}`)},
		Vars:               map[string]string{"GREETING": "hello"},
		Secrets:            map[string]string{"API_KEY": "s3cret"},
		JSON:               map[string]json.RawMessage{"CONFIG": json.RawMessage(`{"a": [1, 2]}`)},
		VersionMetadata:    "CF_VERSION_METADATA",
		RateLimits:         []RateLimit{{Name: "LIMITER", NamespaceID: "1001", Limit: 100, Period: 60}},
		Services:           []ServiceBinding{{Name: "AUTH", Service: "auth"}},
		CompatibilityDate:  "2025-01-02",
		CompatibilityFlags: []string{"nodejs_compat"},
		KeepBindings:       []string{"secret_text", "secret_key"},
		Message:            "second release",
		Tag:                "v2",
	}
	if !reflect.DeepEqual(u, want) {
		t.Errorf("got\n%+v\nwant\n%+v", u, want)
	}
	if !u.NodejsCompat() {
		t.Error("NodejsCompat() = false")
	}
}

func TestParseUploadServiceWorker(t *testing.T) {
	body, ct := form(`{"body_part": "worker.js", "bindings": []}`,
		testPart{"worker.js", "application/javascript", "addEventListener('fetch', e => e.respondWith(new Response('hi')))"})
	u, err := ParseUpload(bytes.NewReader(body), ct, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if u.MainModule != "worker.js" || !u.ServiceWorker || len(u.Modules) != 1 || u.Modules[0].Type != ModuleCommonJS {
		t.Errorf("got %+v", u)
	}
}

func TestParseUploadRefusals(t *testing.T) {
	small := Limits{MaxParts: 3, MaxPartBytes: 100, MaxTotalBytes: 150}
	big := strings.Repeat("x", 101)
	tests := []struct {
		name   string
		meta   string
		parts  []testPart
		ct     string // request Content-Type; the form's when empty
		lim    Limits
		status int
		code   int
		says   string // the message contains this
	}{
		{name: "not multipart", meta: `{}`, ct: "application/json", status: 415, code: CodeBadRequest, says: "multipart/form-data"},
		{name: "no metadata", parts: []testPart{mainPart}, status: 400, code: CodeBadRequest, says: "no metadata"},
		{name: "metadata not JSON", meta: `{"main_module":`, parts: []testPart{mainPart}, status: 400, code: CodeBadRequest, says: "metadata is not valid"},
		{name: "no main module", meta: `{"bindings":[]}`, parts: []testPart{mainPart}, status: 400, says: "names no main_module"},
		{name: "second main_module", meta: `{"main_module":"index.js","main_module":"other.js"}`, parts: []testPart{mainPart}, status: 400, says: `"main_module" twice`},
		{name: "main_module and body_part", meta: `{"main_module":"index.js","body_part":"index.js"}`, parts: []testPart{mainPart}, status: 400, says: "both main_module and body_part"},
		{name: "main module missing", meta: `{"main_module":"other.js"}`, parts: []testPart{mainPart}, status: 400, says: `main_module "other.js" is not a part`},
		{name: "main module is text", meta: `{"main_module":"a.txt"}`, parts: []testPart{{"a.txt", "text/plain", "x"}}, status: 400, says: "not JavaScript"},
		{name: "body_part is a module", meta: `{"body_part":"index.js"}`, parts: []testPart{mainPart}, status: 400, says: "not a script"},
		{name: "duplicate part", meta: `{"main_module":"index.js"}`, parts: []testPart{mainPart, mainPart}, status: 400, says: `two parts named "index.js"`},
		{name: "kv binding", meta: `{"main_module":"index.js","bindings":[{"name":"CACHE","type":"kv_namespace","namespace_id":"abc"}]}`, parts: []testPart{mainPart}, status: 400, code: CodeUnsupported, says: `binding "CACHE" has type "kv_namespace"`},
		{name: "r2 binding", meta: `{"main_module":"index.js","bindings":[{"name":"B","type":"r2_bucket","bucket_name":"b"}]}`, parts: []testPart{mainPart}, status: 400, code: CodeUnsupported, says: `"r2_bucket"`},
		{name: "d1 binding", meta: `{"main_module":"index.js","bindings":[{"name":"DB","type":"d1","id":"x"}]}`, parts: []testPart{mainPart}, status: 400, code: CodeUnsupported, says: `"d1"`},
		{name: "durable object binding", meta: `{"main_module":"index.js","bindings":[{"name":"DO","type":"durable_object_namespace","class_name":"C"}]}`, parts: []testPart{mainPart}, status: 400, code: CodeUnsupported, says: `"durable_object_namespace"`},
		{name: "inherit binding", meta: `{"main_module":"index.js","bindings":[{"name":"X","type":"inherit"}]}`, parts: []testPart{mainPart}, status: 400, code: CodeUnsupported, says: `"inherit"`},
		{name: "json binding without json", meta: `{"main_module":"index.js","bindings":[{"name":"J","type":"json"}]}`, parts: []testPart{mainPart}, status: 400, code: CodeBadRequest, says: `binding "J" (json) has no json`},
		{name: "json and var alike", meta: `{"main_module":"index.js","bindings":[{"name":"J","type":"json","json":1},{"name":"J","type":"plain_text","text":"x"}]}`, parts: []testPart{mainPart}, status: 400, code: CodeBadRequest, says: `two bindings are named "J"`},
		{name: "binding without type", meta: `{"main_module":"index.js","bindings":[{"name":"X"}]}`, parts: []testPart{mainPart}, status: 400, says: `binding "X" has no type`},
		{name: "binding without name", meta: `{"main_module":"index.js","bindings":[{"type":"plain_text","text":"x"}]}`, parts: []testPart{mainPart}, status: 400, says: "has no name"},
		{name: "two bindings one name", meta: `{"main_module":"index.js","bindings":[{"name":"X","type":"plain_text","text":"a"},{"name":"X","type":"secret_text","text":"b"}]}`, parts: []testPart{mainPart}, status: 400, says: `two bindings are named "X"`},
		{name: "plain_text without text", meta: `{"main_module":"index.js","bindings":[{"name":"X","type":"plain_text"}]}`, parts: []testPart{mainPart}, status: 400, says: "has no text"},
		{name: "ratelimit period", meta: `{"main_module":"index.js","bindings":[{"name":"L","type":"ratelimit","simple":{"limit":5,"period":30}}]}`, parts: []testPart{mainPart}, status: 400, says: "period 10 or 60"},
		{name: "service entrypoint", meta: `{"main_module":"index.js","bindings":[{"name":"S","type":"service","service":"auth","entrypoint":"Admin"}]}`, parts: []testPart{mainPart}, status: 400, code: CodeUnsupported, says: "entrypoints"},
		{name: "migrations", meta: `{"main_module":"index.js","migrations":{"new_tag":"v1"}}`, parts: []testPart{mainPart}, status: 400, code: CodeUnsupported, says: "Durable Object migrations"},
		{name: "assets", meta: `{"main_module":"index.js","assets":{"jwt":"x"}}`, parts: []testPart{mainPart}, status: 400, code: CodeUnsupported, says: "static assets"},
		{name: "bad compatibility date", meta: `{"main_module":"index.js","compatibility_date":"tomorrow"}`, parts: []testPart{mainPart}, status: 400, says: "compatibility_date"},
		{name: "wasm", meta: `{"main_module":"index.js"}`, parts: []testPart{mainPart, {"m.wasm", "application/wasm", "\x00asm"}}, status: 400, code: CodeUnsupported, says: "WebAssembly"},
		{name: "python", meta: `{"main_module":"index.py"}`, parts: []testPart{{"index.py", "text/x-python", "x"}}, status: 400, code: CodeUnsupported, says: "Python"},
		{name: "unknown part type", meta: `{"main_module":"index.js"}`, parts: []testPart{mainPart, {"x", "image/png", "x"}}, status: 400, code: CodeUnsupported, says: `"image/png"`},
		{name: "part without type", meta: `{"main_module":"index.js"}`, parts: []testPart{mainPart, {"x", "", "x"}}, status: 400, says: "no Content-Type"},
		{name: "too many parts", meta: `{"main_module":"index.js"}`, parts: []testPart{mainPart, {"a.js", esm, ""}, {"b.js", esm, ""}}, lim: small, status: 413, code: CodeTooLarge, says: "more than 3 parts"},
		{name: "part too large", meta: `{"main_module":"index.js"}`, parts: []testPart{{"index.js", esm, big}}, lim: small, status: 413, code: CodeTooLarge, says: `part "index.js" is over 100 bytes`},
		{name: "total too large", meta: `{"main_module":"index.js"}`, parts: []testPart{{"index.js", esm, big[:90]}, {"index.js.map", "application/source-map", big[:90]}}, lim: small, status: 413, code: CodeTooLarge, says: "the upload is over 150 bytes"},
		{name: "long message", meta: `{"main_module":"index.js","annotations":{"workers/message":"` + strings.Repeat("m", 5000) + `"}}`, parts: []testPart{mainPart}, status: 400, says: "limited to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, ct := form(tt.meta, tt.parts...)
			if tt.ct != "" {
				ct = tt.ct
			}
			u, err := ParseUpload(bytes.NewReader(body), ct, tt.lim)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %+v, %v; want an *Error", u, err)
			}
			if e.Status != tt.status || (tt.code != 0 && e.Code != tt.code) || !strings.Contains(e.Message, tt.says) {
				t.Errorf("got %d %d %q; want %d %d, a message with %q", e.Status, e.Code, e.Message, tt.status, tt.code, tt.says)
			}
		})
	}
}

// A body whose part headers are huge is cut off by the overall cap and
// refused as too large, not read without bound.
func TestParseUploadHeaderFlood(t *testing.T) {
	var buf bytes.Buffer
	buf.WriteString("--b\r\nContent-Disposition: form-data; name=\"metadata\"\r\n")
	for range 4000 {
		buf.WriteString("X-Pad: " + strings.Repeat("p", 100) + "\r\n")
	}
	buf.WriteString("\r\n{}\r\n--b--\r\n")
	_, err := ParseUpload(&buf, "multipart/form-data; boundary=b", Limits{MaxParts: 2, MaxTotalBytes: 1000})
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %v, want 413", err)
	}
}

func FuzzParseUpload(f *testing.F) {
	body, ct := form(`{"main_module":"index.js","bindings":[{"name":"A","type":"plain_text","text":"x"},{"name":"J","type":"json","json":[1]}],"annotations":{"workers/tag":"t"}}`,
		mainPart, testPart{"index.js.map", "application/source-map", "{}"})
	f.Add(body, strings.TrimPrefix(ct, "multipart/form-data; boundary="))
	body, ct = form(`{"body_part":"w.js"}`, testPart{"w.js", "application/javascript", "x"})
	f.Add(body, strings.TrimPrefix(ct, "multipart/form-data; boundary="))
	f.Add([]byte("--b\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{\"main_module\":\"a\"}\r\n--b--"), "b")
	lim := Limits{MaxParts: 8, MaxPartBytes: 4 << 10, MaxTotalBytes: 16 << 10}
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		u, err := ParseUpload(bytes.NewReader(body), "multipart/form-data; boundary="+boundary, lim)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Message == "" {
				t.Fatalf("error %v is not a 4xx *Error", err)
			}
			return
		}
		main := u.Module(u.MainModule)
		if main == nil {
			t.Fatalf("main module %q is not among the modules", u.MainModule)
		}
		if len(u.Modules)+len(u.SourceMaps)+1 > lim.MaxParts {
			t.Fatalf("%d parts accepted", len(u.Modules)+len(u.SourceMaps)+1)
		}
		var total int
		for _, m := range u.Modules {
			if len(m.Content) > int(lim.MaxPartBytes) {
				t.Fatalf("module %q has %d bytes", m.Name, len(m.Content))
			}
			total += len(m.Content)
		}
		for _, m := range u.SourceMaps {
			total += len(m)
		}
		if total > int(lim.MaxTotalBytes) {
			t.Fatalf("%d bytes accepted", total)
		}
	})
}
