package caddymodule

import (
	"net/http"
	"time"

	"github.com/caddy-gradual/gradual/internal/tail"
	"github.com/caddy-gradual/gradual/workerhost"
)

// newTailEvent builds the event for one served request.
func newTailEvent(worker string, v *version, sel selection, r *http.Request, start time.Time, res workerhost.Result) []byte {
	ev := tail.Event{
		ScriptName:     worker,
		ScriptVersion:  tail.Version{ID: v.id, Tag: v.tag, Message: v.message},
		Outcome:        res.Outcome,
		EventTimestamp: start.UnixMilli(),
		Event:          tail.FetchEvent{Request: tail.RequestOf(r)},
		Logs:           make([]tail.Log, 0, len(res.Logs)),
		Exceptions:     make([]tail.Exception, 0, len(res.Exceptions)),
		Selection:      selectionNames[sel],
		CPUTime:        res.CPUTime.Milliseconds(),
		WallTime:       res.WallTime.Milliseconds(),
	}
	if res.Status != 0 {
		ev.Event.Response = &tail.Response{Status: res.Status}
	}
	for _, l := range res.Logs {
		ev.Logs = append(ev.Logs, tail.Log{Level: l.Level, Message: []string{l.Message}, Timestamp: l.Time.UnixMilli()})
	}
	for _, e := range res.Exceptions {
		ev.Exceptions = append(ev.Exceptions, tail.Exception{Name: e.Name, Message: e.Message, Stack: e.Stack, Timestamp: e.Time.UnixMilli()})
	}
	return ev.Encode()
}
