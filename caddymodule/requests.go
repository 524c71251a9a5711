package caddymodule

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
	// maxScriptBytes bounds an uploaded script, like Workers' 10 MB.
	maxScriptBytes = 10 << 20
	// maxRequestBytes bounds any admin request body.
	maxRequestBytes = maxScriptBytes + 1<<20
	maxTagLen       = 256
	maxMessageLen   = 4096
	maxVars         = 128
	maxVarBytes     = 5 << 10
	maxUpstreams    = 64
)

// uploadRequest is the body of POST /gradual/workers/{name}/versions.
// The CLI sends it too, hence omitempty.
type uploadRequest struct {
	Script string `json:"script,omitempty"`
	// MainModule names the script, as Cloudflare's upload metadata does:
	// its extension picks JavaScript or TypeScript, and stacks show it.
	// Default worker.js.
	MainModule string            `json:"main_module,omitempty"`
	Upstreams  []string          `json:"upstreams,omitempty"`
	Tag        string            `json:"tag,omitempty"`
	Message    string            `json:"message,omitempty"`
	Vars       map[string]string `json:"vars,omitempty"`
}

// deploymentRequest is the body of POST /gradual/workers/{name}/deployments,
// in the shape of Cloudflare's deployments API.
type deploymentRequest struct {
	Strategy    string            `json:"strategy"`
	Versions    []DeployEntry     `json:"versions"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// rollbackRequest is the body of POST /gradual/workers/{name}/rollback.
type rollbackRequest struct {
	VersionID string `json:"version_id,omitempty"`
	Message   string `json:"message,omitempty"`
}

// decodeJSON reads one JSON object from body into v: no unknown fields, no
// trailing data, at most maxRequestBytes.
func decodeJSON(body io.Reader, v any) error {
	raw, err := io.ReadAll(io.LimitReader(body, maxRequestBytes+1))
	if err != nil {
		return badRequest("reading the request body: %v", err)
	}
	if len(raw) > maxRequestBytes {
		return errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", maxRequestBytes))
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

func decodeUpload(body io.Reader) (*uploadRequest, error) {
	var req uploadRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	switch {
	case req.Script == "" && len(req.Upstreams) == 0:
		return nil, badRequest(`a version needs "script" (the source) or "upstreams" (addresses)`)
	case req.Script != "" && len(req.Upstreams) > 0:
		return nil, badRequest(`a version has "script" or "upstreams", not both`)
	case len(req.Script) > maxScriptBytes:
		return nil, errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("script is %d bytes; the limit is %d", len(req.Script), maxScriptBytes))
	case len(req.Upstreams) > maxUpstreams:
		return nil, badRequest("%d upstreams; the limit is %d", len(req.Upstreams), maxUpstreams)
	case len(req.Tag) > maxTagLen || !utf8.ValidString(req.Tag):
		return nil, badRequest("tag must be valid UTF-8 of at most %d bytes", maxTagLen)
	case len(req.Message) > maxMessageLen || !utf8.ValidString(req.Message):
		return nil, badRequest("message must be valid UTF-8 of at most %d bytes", maxMessageLen)
	case len(req.Vars) > maxVars:
		return nil, badRequest("%d vars; the limit is %d", len(req.Vars), maxVars)
	case req.Script != "" && !utf8.ValidString(req.Script):
		return nil, badRequest("script is not valid UTF-8")
	case req.MainModule != "" && req.Script == "":
		return nil, badRequest(`"main_module" names a script`)
	case req.MainModule != "" && !validModuleName(req.MainModule):
		return nil, badRequest(`main_module %q: want a file name such as worker.js or worker.ts (letters, digits, ".", "_", "-")`, req.MainModule)
	}
	for _, u := range req.Upstreams {
		if err := checkDialAddress(u); err != nil {
			return nil, badRequest("upstream %q: %v", u, err)
		}
	}
	if len(req.Upstreams) > 0 && len(req.Vars) > 0 {
		return nil, badRequest(`"vars" are for script versions`)
	}
	for name, value := range req.Vars {
		if err := checkVar(name, value); err != nil {
			return nil, badRequest("%v", err)
		}
	}
	return &req, nil
}

// validModuleName accepts a plain file name with a script extension.
func validModuleName(name string) bool {
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

// checkVar checks an env binding: a JavaScript identifier-like name and a
// bounded value.
func checkVar(name, value string) error {
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
	if len(value) > maxVarBytes || !utf8.ValidString(value) {
		return fmt.Errorf("var %s: value must be valid UTF-8 of at most %d bytes", name, maxVarBytes)
	}
	return nil
}

func decodeDeployment(body io.Reader) (*deploymentRequest, error) {
	var req deploymentRequest
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
		if len(v) > maxMessageLen || !utf8.ValidString(v) {
			return nil, badRequest("workers/message must be valid UTF-8 of at most %d bytes", maxMessageLen)
		}
	}
	return &req, nil
}

func decodeRollback(body io.Reader) (*rollbackRequest, error) {
	var req rollbackRequest
	raw, err := io.ReadAll(io.LimitReader(body, maxRequestBytes))
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &req, nil // every field is optional
	}
	if err := decodeJSON(bytes.NewReader(raw), &req); err != nil {
		return nil, err
	}
	if len(req.Message) > maxMessageLen || !utf8.ValidString(req.Message) {
		return nil, badRequest("message must be valid UTF-8 of at most %d bytes", maxMessageLen)
	}
	return &req, nil
}
