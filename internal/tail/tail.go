// Package tail fans a worker's trace events out to live tail clients, in
// the shape of Cloudflare's Tail Worker events, with credentials redacted.
package tail

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-gradual/gradual/internal/api"
)

// Buffer and BufferBytes are how far a tail client may fall behind, in
// events and in bytes, before further events are dropped for it (and
// counted). An event holds at most 256 log lines of 16 KiB, so the byte
// bound is what keeps a slow client from pinning a gigabyte.
const (
	Buffer      = 256
	BufferBytes = 8 << 20
)

// Hub fans a worker's trace events out to its live tail clients. A slow
// client never slows requests down: events are sent without blocking and
// dropped for a client whose buffer is full.
type Hub struct {
	n    atomic.Int32 // subscribers, read on every request
	mu   sync.Mutex
	subs map[*Sub]struct{}
}

// Sub is one tail client's subscription.
type Sub struct {
	versionID string // "" for all versions
	events    chan []byte
	// sizes are the sizes of the events in events, oldest first, and
	// queued their sum; both are kept by Publish under the hub's lock.
	// events is a FIFO, so the events its reader took are the oldest:
	// Publish forgets as many sizes as events have left the channel, and
	// readers need not report what they took.
	sizes     []int
	queued    int
	dropped   atomic.Uint64
	done      chan struct{}
	closeOnce sync.Once
}

func (s *Sub) close() { s.closeOnce.Do(func() { close(s.done) }) }

// Events delivers the subscriber's events, one JSON line each.
func (s *Sub) Events() <-chan []byte { return s.events }

// Done is closed when the subscription ends (the worker is gone).
func (s *Sub) Done() <-chan struct{} { return s.done }

// Dropped returns how many events were dropped for this subscriber so far.
func (s *Sub) Dropped() uint64 { return s.dropped.Load() }

// Active reports whether anyone is listening, so requests can skip building
// events when nobody is.
func (h *Hub) Active() bool { return h.n.Load() > 0 }

// Subscribe adds a client of versionID's events ("" for all versions).
func (h *Hub) Subscribe(versionID string) *Sub {
	s := &Sub{versionID: versionID, events: make(chan []byte, Buffer), done: make(chan struct{})}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[*Sub]struct{})
	}
	h.subs[s] = struct{}{}
	h.n.Store(int32(len(h.subs)))
	h.mu.Unlock()
	return s
}

// Unsubscribe removes a client.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.n.Store(int32(len(h.subs)))
	h.mu.Unlock()
	s.close()
}

// CloseAll ends every tail stream; the worker is gone.
func (h *Hub) CloseAll() {
	h.mu.Lock()
	for s := range h.subs {
		s.close()
	}
	h.subs = nil
	h.n.Store(0)
	h.mu.Unlock()
}

// Publish sends an event of versionID to the matching subscribers.
func (h *Hub) Publish(versionID string, event []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.versionID != "" && s.versionID != versionID {
			continue
		}
		for len(s.sizes) > len(s.events) {
			s.queued -= s.sizes[0]
			s.sizes = s.sizes[1:]
		}
		if s.queued+len(event) > BufferBytes {
			s.dropped.Add(1)
			continue
		}
		select {
		case s.events <- event:
			s.sizes = append(s.sizes, len(event))
			s.queued += len(event)
		default:
			s.dropped.Add(1)
		}
	}
}

// redactedWords mark header and query parameter names whose values must
// not leave the process in a tail event: credentials, session cookies,
// keys, secrets, tokens and signatures, as Cloudflare redacts them.
var redactedWords = [...]string{"cookie", "auth", "key", "secret", "token", "password", "passwd", "session",
	"signature", "credential", "dpop", "jwt", "csrf", "xsrf", "bearer"}

// redactedParams are further query parameter names, matched whole, that
// carry one-time secrets (OAuth codes and the like).
var redactedParams = [...]string{"code", "sig", "pwd", "pass", "otp", "access_token", "id_token", "client_secret"}

// Redacted reports whether a header's value must not leave the process in
// a tail event, by its name.
func Redacted(name string) bool {
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
	return Redacted(n)
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

// RequestOf describes r for an event, with the values of sensitive
// headers and query parameters redacted.
func RequestOf(r *http.Request) api.TailRequest {
	headers := make(map[string]string, len(r.Header))
	for name, values := range r.Header {
		v := strings.Join(values, ", ")
		if Redacted(name) || looksLikeJWT(v) {
			v = "REDACTED"
		}
		headers[strings.ToLower(name)] = v
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	target := r.URL.EscapedPath()
	if target == "" {
		target = "/"
	}
	if r.URL.RawQuery != "" || r.URL.ForceQuery {
		target += "?" + redactQuery(r.URL.RawQuery)
	}
	return api.TailRequest{Method: r.Method, URL: scheme + "://" + r.Host + target, Headers: headers}
}

// Encode returns the event as one NDJSON line, or nil.
func Encode(ev *api.TailEvent) []byte {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	return append(b, '\n')
}

// Heartbeat keeps idle tail connections alive through proxies and lets
// the server notice clients that went away.
const Heartbeat = 15 * time.Second

// Serve streams the hub's events of versionID ("" for all) to w as NDJSON
// until the client goes away or the hub closes.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, versionID string) {
	rc := http.NewResponseController(w)
	sub := h.Subscribe(versionID)
	defer h.Unsubscribe(sub)

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	heartbeat := time.NewTicker(Heartbeat)
	defer heartbeat.Stop()
	var reported uint64
	for {
		select {
		case <-r.Context().Done():
			return
		case <-sub.done:
			return
		case <-heartbeat.C:
			if _, err := w.Write([]byte("\n")); err != nil {
				return
			}
		case ev := <-sub.events:
			if d := sub.dropped.Load(); d > reported {
				line, _ := json.Marshal(api.TailDropped{Type: api.TailDroppedType, Dropped: d - reported, EventTimestamp: time.Now().UnixMilli()})
				reported = d
				if _, err := w.Write(append(line, '\n')); err != nil {
					return
				}
			}
			if _, err := w.Write(ev); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
