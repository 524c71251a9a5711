package caddymodule

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/workerhost"
)

// tailBuffer is how many events a tail client may fall behind before
// further events are dropped for it (and counted).
const tailBuffer = 256

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
	dropped   atomic.Uint64
	done      chan struct{}
	closeOnce sync.Once
}

func (s *tailSub) close() { s.closeOnce.Do(func() { close(s.done) }) }

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
		select {
		case s.events <- event:
		default:
			s.dropped.Add(1)
		}
	}
}

// redacted reports whether a header's value must not leave the process in
// a tail event: credentials, session cookies and anything named like a
// key, secret or token.
func redacted(name string) bool {
	n := strings.ToLower(name)
	for _, s := range [...]string{"cookie", "authorization", "key", "secret", "token", "password", "session"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// newTailEvent builds the event for one served request.
func newTailEvent(worker string, v *version, sel selection, r *http.Request, start time.Time, res workerhost.Result) []byte {
	headers := make(map[string]string, len(r.Header))
	for name, values := range r.Header {
		if redacted(name) {
			headers[strings.ToLower(name)] = "REDACTED"
		} else {
			headers[strings.ToLower(name)] = strings.Join(values, ", ")
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ev := api.TailEvent{
		ScriptName:     worker,
		ScriptVersion:  api.TailVersion{ID: v.id, Tag: v.tag, Message: v.message},
		Outcome:        res.Outcome,
		EventTimestamp: start.UnixMilli(),
		Event: api.TailFetchEvent{
			Request: api.TailRequest{Method: r.Method, URL: scheme + "://" + r.Host + r.URL.RequestURI(), Headers: headers},
		},
		Logs:       make([]api.TailLog, 0, len(res.Logs)),
		Exceptions: make([]api.TailException, 0, len(res.Exceptions)),
		Selection:  selectionNames[sel],
		CPUTime:    res.CPUTime.Milliseconds(),
		WallTime:   res.WallTime.Milliseconds(),
	}
	if res.Status != 0 {
		ev.Event.Response = &api.TailResponse{Status: res.Status}
	}
	for _, l := range res.Logs {
		ev.Logs = append(ev.Logs, api.TailLog{Level: l.Level, Message: []string{l.Message}, Timestamp: l.Time.UnixMilli()})
	}
	for _, e := range res.Exceptions {
		ev.Exceptions = append(ev.Exceptions, api.TailException{Name: e.Name, Message: e.Message, Stack: e.Stack, Timestamp: e.Time.UnixMilli()})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	return append(b, '\n')
}
