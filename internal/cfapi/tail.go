package cfapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// TraceProtocol is the WebSocket subprotocol of Cloudflare's tail
// sessions, which wrangler requires.
const TraceProtocol = "trace-v1"

// TailFilter is what `wrangler tail` asks to see: the filters of the POST
// …/tails body, all of which an event must pass. The zero value passes
// everything.
type TailFilter struct {
	VersionID    string   // --version-id
	Outcomes     []string // --status, as Cloudflare outcomes
	Methods      []string // --method
	Header       string   // --header KEY[:QUERY]: the header's name
	HeaderQuery  string   // and text its value must contain, if any
	Query        string   // --search: text in a console message or exception
	SamplingRate float64  // --sampling-rate, in (0, 1); 0 for all
}

// maxTailFilterBytes bounds a POST …/tails body.
const maxTailFilterBytes = 16 << 10

// ParseTailFilter decodes a POST …/tails body, {"filters":[…]} with one
// key per filter as wrangler sends them. An empty body passes everything.
// Errors are *Error.
func ParseTailFilter(body io.Reader) (TailFilter, error) {
	var f TailFilter
	data, err := io.ReadAll(io.LimitReader(body, maxTailFilterBytes+1))
	if err != nil {
		return f, Errorf(http.StatusBadRequest, CodeBadRequest, "reading the tail filters: %v", err)
	}
	if len(data) > maxTailFilterBytes {
		return f, Errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "tail filters are at most %d bytes", maxTailFilterBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return f, nil
	}
	var req struct {
		Filters []map[string]json.RawMessage `json:"filters"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return f, Errorf(http.StatusBadRequest, CodeBadRequest, "tail filters are not valid: %v", err)
	}
	for _, filter := range req.Filters {
		for key, raw := range filter {
			if err := f.add(key, raw); err != nil {
				return f, err
			}
		}
	}
	return f, nil
}

func (f *TailFilter) add(key string, raw json.RawMessage) error {
	bad := func(err error) error {
		return Errorf(http.StatusBadRequest, CodeBadRequest, "tail filter %s is not valid: %v", key, err)
	}
	switch key {
	case "scriptVersion":
		if err := json.Unmarshal(raw, &f.VersionID); err != nil {
			return bad(err)
		}
	case "outcome":
		if err := json.Unmarshal(raw, &f.Outcomes); err != nil {
			return bad(err)
		}
	case "method":
		if err := json.Unmarshal(raw, &f.Methods); err != nil {
			return bad(err)
		}
	case "header":
		var h struct{ Key, Query string }
		if err := json.Unmarshal(raw, &h); err != nil {
			return bad(err)
		}
		f.Header, f.HeaderQuery = h.Key, h.Query
	case "query":
		if err := json.Unmarshal(raw, &f.Query); err != nil {
			return bad(err)
		}
	case "sampling_rate":
		if err := json.Unmarshal(raw, &f.SamplingRate); err != nil {
			return bad(err)
		}
		if f.SamplingRate <= 0 || f.SamplingRate > 1 {
			return bad(fmt.Errorf("%v is not in (0, 1]", f.SamplingRate))
		}
	case "client_ip":
		return Errorf(http.StatusBadRequest, CodeUnsupported, "tail filter client_ip (--ip) is not supported: tail events carry no client address")
	default:
		return Errorf(http.StatusBadRequest, CodeUnsupported, "tail filter %q is not supported", key)
	}
	return nil
}

// traceEvent holds the fields of a tail event (internal/tail's Event, one
// JSON object) that filters look at, and of a dropped-events notice.
type traceEvent struct {
	Type           string `json:"type"`
	Dropped        uint64 `json:"dropped"`
	ScriptName     string `json:"scriptName"`
	EventTimestamp int64  `json:"eventTimestamp"`
	Outcome        string `json:"outcome"`
	ScriptVersion  struct {
		ID string `json:"id"`
	} `json:"scriptVersion"`
	Event struct {
		Request struct {
			Method  string            `json:"method"`
			Headers map[string]string `json:"headers"`
		} `json:"request"`
	} `json:"event"`
	Logs []struct {
		Message []json.RawMessage `json:"message"`
	} `json:"logs"`
	Exceptions []struct {
		Message json.RawMessage `json:"message"`
	} `json:"exceptions"`
}

// cloudflareOutcomes are the outcomes wrangler names; the host's others
// (noResponse, overloaded) count as "unknown", an error to `--status`.
var cloudflareOutcomes = []string{"ok", "canceled", "exception", "exceededCpu", "exceededMemory"}

func (f *TailFilter) match(ev *traceEvent) bool {
	if f.VersionID != "" && ev.ScriptVersion.ID != f.VersionID {
		return false
	}
	if len(f.Outcomes) > 0 {
		outcome := ev.Outcome
		if !slices.Contains(cloudflareOutcomes, outcome) {
			outcome = "unknown"
		}
		if !slices.Contains(f.Outcomes, outcome) {
			return false
		}
	}
	if len(f.Methods) > 0 && !slices.ContainsFunc(f.Methods, func(m string) bool { return strings.EqualFold(m, ev.Event.Request.Method) }) {
		return false
	}
	if f.Header != "" {
		value, ok := ev.Event.Request.Headers[strings.ToLower(f.Header)]
		if !ok || !strings.Contains(value, f.HeaderQuery) {
			return false
		}
	}
	if f.Query != "" && !ev.mentions(f.Query) {
		return false
	}
	return f.SamplingRate == 0 || rand.Float64() < f.SamplingRate
}

// mentions reports whether a console message or an exception message
// contains s.
func (ev *traceEvent) mentions(s string) bool {
	has := func(raw json.RawMessage) bool {
		var text string
		if json.Unmarshal(raw, &text) == nil {
			return strings.Contains(text, s)
		}
		return bytes.Contains(raw, []byte(s))
	}
	for _, l := range ev.Logs {
		if slices.ContainsFunc(l.Message, has) {
			return true
		}
	}
	return slices.ContainsFunc(ev.Exceptions, func(e struct {
		Message json.RawMessage `json:"message"`
	}) bool {
		return has(e.Message)
	})
}

// TraceMessage turns one tail line (an event or a dropped-events notice,
// as internal/tail encodes them) into the trace-v1 message wrangler reads,
// or reports false when f filters it out or it is not an event. Events
// already have the shape wrangler's printers read (outcome, scriptName,
// eventTimestamp, event.request.{method,url,headers},
// event.response.status, logs[{level,message[],timestamp}],
// exceptions[{name,message,stack,timestamp}], scriptVersion) and pass
// through unchanged; a dropped notice becomes an overload message, which
// wrangler prints as a warning line.
func TraceMessage(line []byte, f TailFilter) ([]byte, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil, false
	}
	var ev traceEvent
	if err := json.Unmarshal(line, &ev); err != nil {
		return nil, false
	}
	if ev.Type == "dropped" {
		return overloadMessage(ev.ScriptName, ev.Dropped, ev.EventTimestamp), true
	}
	if !f.match(&ev) {
		return nil, false
	}
	return line, true
}

// overloadMessage tells a tail client that n events were not sent to it.
func overloadMessage(script string, n uint64, at int64) []byte {
	msg, _ := json.Marshal(map[string]any{
		"outcome":        "ok",
		"scriptName":     script,
		"eventTimestamp": at,
		"event":          map[string]string{"type": "overload", "message": fmt.Sprintf("%d events were dropped: this tail read them too slowly", n)},
		"logs":           []any{},
		"exceptions":     []any{},
	})
	return msg
}

// TailSource is a live subscription to a Worker's tail events.
type TailSource struct {
	// Events delivers one JSON event per value (trailing newline allowed).
	Events <-chan []byte
	// Done is closed when the Worker goes away; the session then ends.
	Done <-chan struct{}
	// Dropped, if set, returns how many events were dropped for this
	// subscriber so far, to be told to the client.
	Dropped func() uint64
}

// tailWriteTimeout bounds how long one message may take to reach a
// client before the session is given up.
const tailWriteTimeout = 10 * time.Second

// maxTailClientMessage bounds what the client may send ({"debug":…}).
const maxTailClientMessage = 4 << 10

// ServeTail upgrades r to a trace-v1 WebSocket and streams src's events
// that pass f, one JSON text message each, until the client leaves, r's
// context ends (the tail expires) or src is done. The client's messages
// ({"debug":false}) are read and ignored; reading them also answers
// wrangler's pings. It returns why the session ended; a refused upgrade
// has been answered already.
func ServeTail(w http.ResponseWriter, r *http.Request, src TailSource, f TailFilter) error {
	if !slices.ContainsFunc(strings.Split(r.Header.Get("Sec-WebSocket-Protocol"), ","), func(p string) bool {
		return strings.TrimSpace(p) == TraceProtocol
	}) {
		http.Error(w, "a tail session speaks the WebSocket subprotocol "+TraceProtocol, http.StatusBadRequest)
		return errors.New("the client did not offer " + TraceProtocol)
	}
	c, err := websocket.Accept(maskingWriter{w}, r, &websocket.AcceptOptions{Subprotocols: []string{TraceProtocol}})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	c.SetReadLimit(maxTailClientMessage)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		defer cancel()
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()

	send := func(msg []byte) error {
		wctx, wcancel := context.WithTimeout(ctx, tailWriteTimeout)
		defer wcancel()
		return c.Write(wctx, websocket.MessageText, msg)
	}
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusNormalClosure, "tail ended")
			return ctx.Err()
		case <-src.Done:
			c.Close(websocket.StatusGoingAway, "the worker is gone")
			return nil
		case line := <-src.Events:
			if src.Dropped != nil {
				if d := src.Dropped(); d > reported {
					if err := send(overloadMessage("", d-reported, time.Now().UnixMilli())); err != nil {
						return err
					}
					reported = d
				}
			}
			if msg, ok := TraceMessage(line, f); ok {
				if err := send(msg); err != nil {
					return err
				}
			}
		}
	}
}
