// Package tail fans a worker's trace events out to live tail clients, in
// the shape of Cloudflare's Tail Worker events, with credentials redacted.
package tail

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-gradual/gradual/internal/api"
)

// Buffer is how many events a tail client may fall behind before
// further events are dropped for it (and counted).
const Buffer = 256

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
		select {
		case s.events <- event:
		default:
			s.dropped.Add(1)
		}
	}
}

// Redacted reports whether a header's value must not leave the process in
// a tail event: credentials, session cookies and anything named like a
// key, secret or token.
func Redacted(name string) bool {
	n := strings.ToLower(name)
	for _, s := range [...]string{"cookie", "authorization", "key", "secret", "token", "password", "session"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// RequestOf describes r for an event, with sensitive headers redacted.
func RequestOf(r *http.Request) api.TailRequest {
	headers := make(map[string]string, len(r.Header))
	for name, values := range r.Header {
		if Redacted(name) {
			headers[strings.ToLower(name)] = "REDACTED"
		} else {
			headers[strings.ToLower(name)] = strings.Join(values, ", ")
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return api.TailRequest{Method: r.Method, URL: scheme + "://" + r.Host + r.URL.RequestURI(), Headers: headers}
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
