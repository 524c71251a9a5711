package caddymodule

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// maxLoggedCalls bounds the calls one access-log entry lists; those past
// it are counted.
const maxLoggedCalls = 32

// callLog is what the access-log entry of a client's request says of the
// calls through service bindings that its workers made, along the whole
// chain: each call's binding, callee, version and status, as
// worker_calls. The calls end on other goroutines than the one that
// writes the entry, hence the lock; a call still running then (one of
// ctx.waitUntil) is left out.
type callLog struct {
	mu      sync.Mutex
	calls   []loggedCall
	dropped int
}

type loggedCall struct {
	binding, worker string
	v               *version
	sel             selection
	status          int
	took            time.Duration
}

type callLogKey struct{}

// withCallLog gives r, a client's request to a worker with service
// bindings, a call log in its access-log entry and its context, where the
// calls of its chain find it. A request without an entry gets none; one
// that has a log (a worker passed its exception through to another) keeps
// it.
func withCallLog(r *http.Request) *http.Request {
	if callLogOf(r) != nil {
		return r
	}
	extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields)
	if !ok {
		return r
	}
	l := new(callLog)
	// An inline field: worker_calls goes to the entry's top level, beside
	// worker_version.
	extra.Set(zap.Field{Key: "gradual_calls", Type: zapcore.InlineMarshalerType, Interface: l})
	return r.WithContext(context.WithValue(r.Context(), callLogKey{}, l))
}

// callLogOf returns the call log of the client's request r descends from,
// or nil.
func callLogOf(r *http.Request) *callLog {
	l, _ := r.Context().Value(callLogKey{}).(*callLog)
	return l
}

// add records a call; l may be nil.
func (l *callLog) add(c loggedCall) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if len(l.calls) < maxLoggedCalls {
		l.calls = append(l.calls, c)
	} else {
		l.dropped++
	}
	l.mu.Unlock()
}

// MarshalLogObject implements zapcore.ObjectMarshaler: worker_calls, and
// worker_calls_dropped, when there were calls.
func (l *callLog) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 0 {
		return nil
	}
	if err := enc.AddArray("worker_calls", zapcore.ArrayMarshalerFunc(func(ae zapcore.ArrayEncoder) error {
		for i := range l.calls {
			if err := ae.AppendObject(&l.calls[i]); err != nil {
				return err
			}
		}
		return nil
	})); err != nil {
		return err
	}
	if l.dropped > 0 {
		enc.AddInt("worker_calls_dropped", l.dropped)
	}
	return nil
}

// MarshalLogObject implements zapcore.ObjectMarshaler.
func (c *loggedCall) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("binding", c.binding)
	enc.AddString("worker", c.worker)
	enc.AddString("worker_version", c.v.id)
	enc.AddString("worker_version_tag", c.v.tag)
	enc.AddString("selection", selectionNames[c.sel])
	enc.AddInt("status", c.status)
	enc.AddFloat64("duration", c.took.Seconds())
	return nil
}
