package cfapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/caddy-gradual/gradual/internal/api"
)

// Error codes in answers. Those wrangler reacts to have Cloudflare's
// meaning; the others are ours, in the same range.
const (
	// CodeAuth is Cloudflare's "Authentication error".
	CodeAuth = 10000
	// CodeBadRequest: the request cannot be decoded.
	CodeBadRequest = 10001
	// CodeUnsupported: the request asks for something this server does
	// not do (a binding type, a metadata feature, a module type).
	CodeUnsupported = 10002
	// CodeNotFound: no such version, deployment or tail.
	CodeNotFound = 10003
	// CodeTooLarge: the request is over a limit.
	CodeTooLarge = 10004
	// CodeWorkerNotFound is Cloudflare's "worker not found": wrangler
	// deploy takes it to mean "create the Worker", versions upload to mean
	// "nothing to warn about".
	CodeWorkerNotFound = 10007
	// CodeScriptInvalid is Cloudflare's "script failed validation"
	// (compile or startup error): wrangler source-maps its message.
	CodeScriptInvalid = 10021
	// CodeInternal: the server failed; wrangler retries uploads on any
	// 5xx, so it is used only for failures a retry may cure.
	CodeInternal = 10013
)

// Error is a refusal: an HTTP status and one Cloudflare error. wrangler
// prints Message with the code, so Message names what was refused.
type Error struct {
	Status  int
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s [code: %d]", e.Message, e.Code) }

// Errorf returns an *Error with a formatted message.
func Errorf(status, code int, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// WriteResult answers status with result in a successful envelope.
func WriteResult(w http.ResponseWriter, status int, result any) {
	write(w, status, api.Envelope{Success: true, Errors: []api.Message{}, Messages: []api.Message{}, Result: result})
}

// WriteError answers e in a failed envelope with a null result.
func WriteError(w http.ResponseWriter, e *Error) {
	status := e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	write(w, status, api.Envelope{Errors: []api.Message{{Code: e.Code, Message: e.Message}}, Messages: []api.Message{}})
}

// write answers env: Cloudflare's envelope, whose Errors and Messages are
// never null.
func write(w http.ResponseWriter, status int, env api.Envelope) {
	body, err := json.Marshal(env)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"success":false,"errors":[{"code":10013,"message":"encoding the answer failed"}],"messages":[],"result":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
