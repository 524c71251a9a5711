package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-gradual/gradual/workerhost"
)

// tailBuffer and tailBufferBytes are how far a tail client may fall
// behind, in events and in bytes, before further events are dropped for it
// (and counted). An event holds at most 256 log lines of 16 KiB, so the
// byte bound is what keeps a slow client from pinning a gigabyte.
const (
	tailBuffer      = 256
	tailBufferBytes = 8 << 20
)

// tailHub fans a worker's trace events out to its live tail clients. A slow
// client never slows requests down: events are sent without blocking and
// dropped for a client whose buffer is full.
type tailHub struct {
	n    atomic.Int32 // subscribers, read on every request
	mu   sync.Mutex
	subs map[*tailSub]struct{}
}

type tailSub struct {
	versionID string // "" for all versions
	events    chan []byte
	queued    atomic.Int64 // bytes in events
	dropped   atomic.Uint64
	done      chan struct{}
	closeOnce sync.Once
}

func (s *tailSub) close() { s.closeOnce.Do(func() { close(s.done) }) }

// delivered is called by the reader of events for each event it took.
func (s *tailSub) delivered(event []byte) { s.queued.Add(-int64(len(event))) }

// active reports whether anyone is listening, so requests can skip building
// events when nobody is.
func (h *tailHub) active() bool { return h.n.Load() > 0 }

func (h *tailHub) subscribe(versionID string) *tailSub {
	s := &tailSub{versionID: versionID, events: make(chan []byte, tailBuffer), done: make(chan struct{})}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[*tailSub]struct{})
	}
	h.subs[s] = struct{}{}
	h.n.Store(int32(len(h.subs)))
	h.mu.Unlock()
	return s
}

func (h *tailHub) unsubscribe(s *tailSub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.n.Store(int32(len(h.subs)))
	h.mu.Unlock()
	s.close()
}

// closeAll ends every tail stream; the worker is gone.
func (h *tailHub) closeAll() {
	h.mu.Lock()
	for s := range h.subs {
		s.close()
	}
	h.subs = nil
	h.n.Store(0)
	h.mu.Unlock()
}

// publish sends an event of versionID to the matching subscribers.
func (h *tailHub) publish(versionID string, event []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.versionID != "" && s.versionID != versionID {
			continue
		}
		if s.queued.Load()+int64(len(event)) > tailBufferBytes {
			s.dropped.Add(1)
			continue
		}
		select {
		case s.events <- event:
			s.queued.Add(int64(len(event)))
		default:
			s.dropped.Add(1)
		}
	}
}

// tailEvent is one request as a tail client sees it, shaped like
// Cloudflare's Tail Worker trace events.
type tailEvent struct {
	ScriptName     string          `json:"scriptName"`
	ScriptVersion  tailVersion     `json:"scriptVersion"`
	Outcome        string          `json:"outcome"`
	EventTimestamp int64           `json:"eventTimestamp"`
	Event          tailFetchEvent  `json:"event"`
	Logs           []tailLog       `json:"logs"`
	Exceptions     []tailException `json:"exceptions"`
	Selection      string          `json:"selection"`
	CPUTime        int64           `json:"cpuTime"`
	WallTime       int64           `json:"wallTime"`
}

type tailVersion struct {
	ID      string `json:"id"`
	Tag     string `json:"tag,omitempty"`
	Message string `json:"message,omitempty"`
}

type tailFetchEvent struct {
	Request  tailRequest   `json:"request"`
	Response *tailResponse `json:"response,omitempty"`
}

type tailRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
}

type tailResponse struct {
	Status int `json:"status"`
}

type tailLog struct {
	Level     string   `json:"level"`
	Message   []string `json:"message"`
	Timestamp int64    `json:"timestamp"`
}

type tailException struct {
	Name      string `json:"name"`
	Message   string `json:"message"`
	Stack     string `json:"stack,omitempty"`
	Timestamp int64  `json:"timestamp"`
}

// tailDropped tells a client how many events it missed by reading slowly.
type tailDropped struct {
	Type           string `json:"type"`
	Dropped        uint64 `json:"dropped"`
	EventTimestamp int64  `json:"eventTimestamp"`
}

// redactedWords mark header and query parameter names whose values must
// not leave the process in a tail event: credentials, session cookies,
// keys, secrets, tokens and signatures, as Cloudflare redacts them.
var redactedWords = [...]string{"cookie", "auth", "key", "secret", "token", "password", "passwd", "session",
	"signature", "credential", "dpop", "jwt", "csrf", "xsrf", "bearer"}

// redactedParams are further query parameter names, matched whole, that
// carry one-time secrets (OAuth codes and the like).
var redactedParams = [...]string{"code", "sig", "pwd", "pass", "otp", "access_token", "id_token", "client_secret"}

// redacted reports whether a header's value must not leave the process in
// a tail event, by its name.
func redacted(name string) bool {
	n := strings.ToLower(name)
	for _, s := range redactedWords {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// redactedParam reports whether a query parameter's value must not leave
// the process in a tail event, by its name.
func redactedParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range redactedParams {
		if n == s {
			return true
		}
	}
	return redacted(n)
}

// looksLikeJWT reports whether a value holds a JSON Web Token (three
// base64url segments, the first a JSON object: "eyJ…"), bare or after a
// scheme such as "Bearer ".
func looksLikeJWT(v string) bool {
	for _, f := range strings.Fields(v) {
		f = strings.TrimRight(f, ",;")
		if !strings.HasPrefix(f, "eyJ") || strings.Count(f, ".") != 2 {
			continue
		}
		ok := true
		for _, c := range f {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '=') {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// redactQuery returns the query string with the values of secret-looking
// parameters (by name, or a JWT by value) replaced by REDACTED; the rest,
// and the order, are kept as they came.
func redactQuery(raw string) string {
	if raw == "" {
		return raw
	}
	var b strings.Builder
	changed := false
	for i, part := range strings.Split(raw, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		name, value, hasValue := strings.Cut(part, "=")
		dn, err := url.QueryUnescape(name)
		if err != nil {
			dn = name
		}
		dv, err := url.QueryUnescape(value)
		if err != nil {
			dv = value
		}
		if hasValue && value != "" && (redactedParam(dn) || looksLikeJWT(dv)) {
			b.WriteString(name)
			b.WriteString("=REDACTED")
			changed = true
			continue
		}
		b.WriteString(part)
	}
	if !changed {
		return raw
	}
	return b.String()
}

// newTailEvent builds the event for one served request.
func newTailEvent(worker string, v *version, sel selection, r *http.Request, start time.Time, res workerhost.Result) []byte {
	headers := make(map[string]string, len(r.Header))
	for name, values := range r.Header {
		v := strings.Join(values, ", ")
		if redacted(name) || looksLikeJWT(v) {
			v = "REDACTED"
		}
		headers[strings.ToLower(name)] = v
	}
	target := r.URL.EscapedPath()
	if target == "" {
		target = "/"
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		target += "?" + redactQuery(r.URL.RawQuery)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ev := tailEvent{
		ScriptName:     worker,
		ScriptVersion:  tailVersion{ID: v.id, Tag: v.tag, Message: v.message},
		Outcome:        res.Outcome,
		EventTimestamp: start.UnixMilli(),
		Event: tailFetchEvent{
			Request: tailRequest{Method: r.Method, URL: scheme + "://" + r.Host + target, Headers: headers},
		},
		Logs:       make([]tailLog, 0, len(res.Logs)),
		Exceptions: make([]tailException, 0, len(res.Exceptions)),
		Selection:  selectionNames[sel],
		CPUTime:    res.CPUTime.Milliseconds(),
		WallTime:   res.WallTime.Milliseconds(),
	}
	if res.Status != 0 {
		ev.Event.Response = &tailResponse{Status: res.Status}
	}
	for _, l := range res.Logs {
		ev.Logs = append(ev.Logs, tailLog{Level: l.Level, Message: []string{l.Message}, Timestamp: l.Time.UnixMilli()})
	}
	for _, e := range res.Exceptions {
		ev.Exceptions = append(ev.Exceptions, tailException{Name: e.Name, Message: e.Message, Stack: e.Stack, Timestamp: e.Time.UnixMilli()})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	return append(b, '\n')
}
