package caddymodule

import (
	"net/http"
	"time"

	"github.com/caddy-gradual/gradual/internal/api"
	"github.com/caddy-gradual/gradual/internal/tail"
	"github.com/caddy-gradual/gradual/workerhost"
)

// newTailEvent builds the event for one served request.
func newTailEvent(worker string, v *version, sel selection, r *http.Request, start time.Time, res workerhost.Result) []byte {
	ev := api.TailEvent{
		ScriptName:     worker,
		ScriptVersion:  api.TailVersion{ID: v.id, Tag: v.tag, Message: v.message},
		Outcome:        res.Outcome,
		EventTimestamp: start.UnixMilli(),
		Event:          api.TailFetchEvent{Request: tail.RequestOf(r)},
		Logs:           make([]api.TailLog, 0, len(res.Logs)),
		Exceptions:     make([]api.TailException, 0, len(res.Exceptions)),
		Selection:      selectionNames[sel],
		CPUTime:        res.CPUTime.Milliseconds(),
		WallTime:       res.WallTime.Milliseconds(),
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
	return tail.Encode(&ev)
}
