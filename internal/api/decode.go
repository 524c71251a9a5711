package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of admin API requests.
const (
	// MaxScriptBytes bounds an uploaded script, like Workers' 10 MB.
	MaxScriptBytes = 10 << 20
	// MaxRequestBytes bounds any admin request body.
	MaxRequestBytes = MaxScriptBytes + 1<<20
	// MaxTagLen bounds a version's tag, and MaxMessageLen a version's or
	// a deployment's message, in bytes.
	MaxTagLen     = 256
	MaxMessageLen = 4096
	// MaxVars bounds the vars of a version, MaxVarBytes each value.
	MaxVars     = 128
	MaxVarBytes = 5 << 10
	// MaxUpstreams bounds the addresses of an upstream version.
	MaxUpstreams = 64
)

// decodeJSON reads one JSON object from body into v: no unknown fields, no
// trailing data, at most MaxRequestBytes.
func decodeJSON(body io.Reader, v any) error {
	raw, err := io.ReadAll(io.LimitReader(body, MaxRequestBytes+1))
	if err != nil {
		return badRequest("reading the request body: %v", err)
	}
	if len(raw) > MaxRequestBytes {
		return errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxRequestBytes))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: data after the object")
	}
	return nil
}

// DecodeUpload reads and checks the body of an upload.
func DecodeUpload(body io.Reader) (*UploadRequest, error) {
	var req UploadRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	switch {
	case req.Script == "" && len(req.Upstreams) == 0:
		return nil, badRequest(`a version needs "script" (the source) or "upstreams" (addresses)`)
	case req.Script != "" && len(req.Upstreams) > 0:
		return nil, badRequest(`a version has "script" or "upstreams", not both`)
	case len(req.Script) > MaxScriptBytes:
		return nil, errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("script is %d bytes; the limit is %d", len(req.Script), MaxScriptBytes))
	case len(req.Upstreams) > MaxUpstreams:
		return nil, badRequest("%d upstreams; the limit is %d", len(req.Upstreams), MaxUpstreams)
	case len(req.Tag) > MaxTagLen || !utf8.ValidString(req.Tag):
		return nil, badRequest("tag must be valid UTF-8 of at most %d bytes", MaxTagLen)
	case len(req.Message) > MaxMessageLen || !utf8.ValidString(req.Message):
		return nil, badRequest("message must be valid UTF-8 of at most %d bytes", MaxMessageLen)
	case len(req.Vars)+len(req.JSON) > MaxVars:
		return nil, badRequest("%d vars and json bindings; the limit is %d", len(req.Vars)+len(req.JSON), MaxVars)
	case req.Script != "" && !utf8.ValidString(req.Script):
		return nil, badRequest("script is not valid UTF-8")
	case req.MainModule != "" && req.Script == "":
		return nil, badRequest(`"main_module" names a script`)
	case req.MainModule != "" && !ValidModuleName(req.MainModule):
		return nil, badRequest(`main_module %q: want a file name such as worker.js or worker.ts (letters, digits, ".", "_", "-")`, req.MainModule)
	}
	for _, u := range req.Upstreams {
		if err := checkDialAddress(u); err != nil {
			return nil, badRequest("upstream %q: %v", u, err)
		}
	}
	if len(req.Upstreams) > 0 && (len(req.Vars) > 0 || len(req.JSON) > 0) {
		return nil, badRequest(`"vars" and "json" are for script versions`)
	}
	for name, value := range req.Vars {
		if err := CheckVar(name, value); err != nil {
			return nil, badRequest("%v", err)
		}
	}
	for name, value := range req.JSON {
		compact, err := CheckJSONBinding(name, value)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		if _, dup := req.Vars[name]; dup {
			return nil, badRequest("%s is both a var and a json binding", name)
		}
		req.JSON[name] = compact
	}
	return &req, nil
}

// ValidModuleName accepts a plain file name with a script extension.
func ValidModuleName(name string) bool {
	if len(name) > 128 || strings.HasPrefix(name, ".") {
		return false
	}
	for _, c := range name {
		if !(c == '.' || c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	for _, ext := range []string{".js", ".mjs", ".cjs", ".ts", ".mts", ".jsx", ".tsx"} {
		if strings.HasSuffix(name, ext) && len(name) > len(ext) {
			return true
		}
	}
	return false
}

// checkDialAddress accepts host:port with a numeric port, as the
// Caddyfile's upstream addresses without a scheme.
func checkDialAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("port must be a number from 1 to 65535")
	}
	return nil
}

// CheckVar checks an env binding: a JavaScript identifier-like name and a
// bounded value.
func CheckVar(name, value string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("var name %q: 1 to 128 characters", name)
	}
	for i, c := range name {
		ok := c == '_' || c == '$' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return fmt.Errorf("var name %q: letters, digits, _ and $ only, not starting with a digit", name)
		}
	}
	if name == "CF_VERSION_METADATA" {
		return fmt.Errorf("var name %q is reserved", name)
	}
	if len(value) > MaxVarBytes || !utf8.ValidString(value) {
		return fmt.Errorf("var %s: value must be valid UTF-8 of at most %d bytes", name, MaxVarBytes)
	}
	return nil
}

// CheckJSONBinding checks a json binding's name as CheckVar does and its
// value, which it returns compacted: valid JSON of at most MaxVarBytes.
func CheckJSONBinding(name string, value json.RawMessage) (json.RawMessage, error) {
	if err := CheckVar(name, ""); err != nil {
		return nil, fmt.Errorf("json binding %s", strings.TrimPrefix(err.Error(), "var "))
	}
	var b bytes.Buffer
	if err := json.Compact(&b, value); err != nil || b.Len() == 0 {
		return nil, fmt.Errorf("json binding %s: not valid JSON", name)
	}
	if b.Len() > MaxVarBytes {
		return nil, fmt.Errorf("json binding %s: %d bytes; the limit is %d", name, b.Len(), MaxVarBytes)
	}
	return b.Bytes(), nil
}

// DecodeDeploy reads and checks the body of a new deployment. The split
// itself is checked by the server against the versions it has.
func DecodeDeploy(body io.Reader) (*DeployRequest, error) {
	var req DeployRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	if req.Strategy != "" && req.Strategy != "percentage" {
		return nil, badRequest(`strategy %q: only "percentage" is supported`, req.Strategy)
	}
	if len(req.Versions) == 0 {
		return nil, badRequest(`"versions" must name at least one version`)
	}
	for k, v := range req.Annotations {
		if k != "workers/message" {
			return nil, badRequest(`annotation %q: only "workers/message" may be set`, k)
		}
		if len(v) > MaxMessageLen || !utf8.ValidString(v) {
			return nil, badRequest("workers/message must be valid UTF-8 of at most %d bytes", MaxMessageLen)
		}
	}
	return &req, nil
}

// DecodeRollback reads and checks the body of a rollback, which may be
// empty.
func DecodeRollback(body io.Reader) (*RollbackRequest, error) {
	var req RollbackRequest
	raw, err := io.ReadAll(io.LimitReader(body, MaxRequestBytes))
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &req, nil // every field is optional
	}
	if err := decodeJSON(bytes.NewReader(raw), &req); err != nil {
		return nil, err
	}
	if len(req.Message) > MaxMessageLen || !utf8.ValidString(req.Message) {
		return nil, badRequest("message must be valid UTF-8 of at most %d bytes", MaxMessageLen)
	}
	return &req, nil
}

// Error is a request the API refuses, with the HTTP status to answer it
// with.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(status int, msg string) error { return &Error{Status: status, Message: msg} }

func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, fmt.Sprintf(format, args...))
}
