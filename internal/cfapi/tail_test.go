package cfapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestParseTailFilter(t *testing.T) {
	tests := []struct {
		body string
		want TailFilter
		err  string
	}{
		{body: ``, want: TailFilter{}},
		{body: `{"filters":[]}`, want: TailFilter{}},
		{body: `{"filters":[{"scriptVersion":"v2"}]}`, want: TailFilter{VersionID: "v2"}},
		{
			body: `{"filters":[{"sampling_rate":0.5},{"outcome":["exception","exceededCpu","exceededMemory","unknown"]},{"method":["GET","post"]},{"header":{"key":"X-Test","query":"yes"}},{"query":"boom"},{"scriptVersion":"v1"}]}`,
			want: TailFilter{VersionID: "v1", Outcomes: []string{"exception", "exceededCpu", "exceededMemory", "unknown"}, Methods: []string{"GET", "post"}, Header: "X-Test", HeaderQuery: "yes", Query: "boom", SamplingRate: 0.5},
		},
		{body: `{"filters":[{"client_ip":["self"]}]}`, err: "client_ip"},
		{body: `{"filters":[{"colo":"AMS"}]}`, err: `"colo" is not supported`},
		{body: `{"filters":[{"sampling_rate":2}]}`, err: "sampling_rate"},
		{body: `{"filters":[{"scriptVersion":1}]}`, err: "scriptVersion"},
		{body: `{"filters":`, err: "not valid"},
	}
	for _, tt := range tests {
		f, err := ParseTailFilter(strings.NewReader(tt.body))
		if tt.err != "" {
			var e *Error
			if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, tt.err) {
				t.Errorf("%s: got %v, want a 400 naming %q", tt.body, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(f, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tt.body, f, err, tt.want)
		}
	}
}

// event is a tail line as internal/tail encodes one.
func event(version, outcome, method string, logs ...string) []byte {
	ev := map[string]any{
		"scriptName":     "shop",
		"scriptVersion":  map[string]string{"id": version, "tag": "t"},
		"outcome":        outcome,
		"eventTimestamp": 1700000000000,
		"event": map[string]any{
			"request":  map[string]any{"method": method, "url": "http://x/", "headers": map[string]string{"x-test": "yes please", "cookie": "REDACTED"}},
			"response": map[string]int{"status": 200},
		},
		"logs":       []map[string]any{},
		"exceptions": []map[string]any{},
		"selection":  "random",
	}
	for _, l := range logs {
		ev["logs"] = append(ev["logs"].([]map[string]any), map[string]any{"level": "log", "message": []string{l}, "timestamp": 1})
	}
	b, _ := json.Marshal(ev)
	return append(b, '\n')
}

func TestTraceMessage(t *testing.T) {
	tests := []struct {
		name string
		line []byte
		f    TailFilter
		pass bool
	}{
		{"no filter", event("v1", "ok", "GET"), TailFilter{}, true},
		{"version", event("v1", "ok", "GET"), TailFilter{VersionID: "v1"}, true},
		{"other version", event("v2", "ok", "GET"), TailFilter{VersionID: "v1"}, false},
		{"status error", event("v1", "exception", "GET"), TailFilter{Outcomes: []string{"exception", "unknown"}}, true},
		{"status error, ok event", event("v1", "ok", "GET"), TailFilter{Outcomes: []string{"exception", "unknown"}}, false},
		{"host outcome is unknown", event("v1", "noResponse", "GET"), TailFilter{Outcomes: []string{"unknown"}}, true},
		{"method", event("v1", "ok", "POST"), TailFilter{Methods: []string{"post"}}, true},
		{"other method", event("v1", "ok", "GET"), TailFilter{Methods: []string{"POST"}}, false},
		{"header", event("v1", "ok", "GET"), TailFilter{Header: "X-Test", HeaderQuery: "yes"}, true},
		{"header value", event("v1", "ok", "GET"), TailFilter{Header: "X-Test", HeaderQuery: "no"}, false},
		{"missing header", event("v1", "ok", "GET"), TailFilter{Header: "X-Other"}, false},
		{"search", event("v1", "ok", "GET", "it went boom"), TailFilter{Query: "boom"}, true},
		{"search misses", event("v1", "ok", "GET", "fine"), TailFilter{Query: "boom"}, false},
		{"not JSON", []byte("{"), TailFilter{}, false},
		{"heartbeat", []byte("\n"), TailFilter{}, false},
	}
	for _, tt := range tests {
		msg, ok := TraceMessage(tt.line, tt.f)
		if ok != tt.pass {
			t.Errorf("%s: passed %v, want %v", tt.name, ok, tt.pass)
			continue
		}
		if ok && string(msg) != strings.TrimSpace(string(tt.line)) {
			t.Errorf("%s: message changed:\n%s", tt.name, msg)
		}
	}
}

func TestTraceMessageDropped(t *testing.T) {
	msg, ok := TraceMessage([]byte(`{"type":"dropped","dropped":7,"eventTimestamp":5}`+"\n"), TailFilter{VersionID: "v1"})
	if !ok {
		t.Fatal("a dropped notice is filtered out")
	}
	var got struct {
		Event      map[string]string `json:"event"`
		Logs       []any             `json:"logs"`
		Exceptions []any             `json:"exceptions"`
	}
	if err := json.Unmarshal(msg, &got); err != nil {
		t.Fatal(err)
	}
	// wrangler's pretty printer shows an event with type and message as a
	// tail notice, and reads logs and exceptions of every message.
	if got.Event["type"] != "overload" || !strings.Contains(got.Event["message"], "7 events") || got.Logs == nil || got.Exceptions == nil {
		t.Errorf("got %s", msg)
	}
}

func TestServeTail(t *testing.T) {
	events := make(chan []byte, 8)
	done := make(chan struct{})
	var dropped atomic.Uint64
	src := TailSource{Events: events, Done: done, Dropped: dropped.Load}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ServeTail(w, r, src, TailFilter{VersionID: "v2"})
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	// Without the subprotocol, no session.
	if _, resp, err := websocket.Dial(ctx, url, nil); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("dial without trace-v1: %v, %v", resp, err)
	}

	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{TraceProtocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != TraceProtocol {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"debug":false}`)); err != nil {
		t.Fatal(err)
	}
	events <- event("v1", "ok", "GET", "not for this tail")
	events <- event("v2", "ok", "GET", "hello")
	typ, msg, err := c.Read(ctx)
	if err != nil || typ != websocket.MessageText || !strings.Contains(string(msg), `"hello"`) {
		t.Fatalf("got %v %s %v", typ, msg, err)
	}
	// wrangler pings every 10 s and gives up without a pong; the pong
	// arrives while the client reads.
	pinged := make(chan error, 1)
	go func() { pinged <- c.Ping(ctx) }()
	dropped.Store(3)
	events <- event("v2", "ok", "GET", "after the drop")
	if _, msg, _ = c.Read(ctx); !strings.Contains(string(msg), "3 events were dropped") {
		t.Fatalf("got %s, want the drop notice", msg)
	}
	if _, msg, _ = c.Read(ctx); !strings.Contains(string(msg), "after the drop") {
		t.Fatalf("got %s", msg)
	}
	// A read in progress takes the pong, then the close.
	closed := make(chan error, 1)
	go func() {
		_, _, err := c.Read(ctx)
		closed <- err
	}()
	if err := <-pinged; err != nil {
		t.Fatalf("ping: %v", err)
	}
	close(done)
	if err := <-closed; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("after the worker went away: %v", err)
	}
}

// TestServeTailUnmasked talks to ServeTail as wrangler does: its first
// message comes in an unmasked frame, which must not end the session.
func TestServeTailUnmasked(t *testing.T) {
	events := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ServeTail(w, r, TailSource{Events: events}, TailFilter{})
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /tail HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: trace-v1\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Protocol") != TraceProtocol {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	// The server handles frames in order: a pong to a ping sent after
	// the unmasked frame means that frame was taken.
	conn.Write(frame(0x1, []byte(`{"debug":false}`), nil))
	conn.Write(frame(0x9, []byte("wrangler tail ping"), []byte{9, 8, 7, 6}))
	h := make([]byte, 2)
	if _, err := io.ReadFull(br, h); err != nil || h[0] != 0x8a {
		t.Fatalf("got frame %x, %v; want a pong (a close means the unmasked frame was refused)", h, err)
	}
	io.CopyN(io.Discard, br, int64(h[1]&0x7f))
	events <- event("v1", "ok", "GET", "after an unmasked frame")
	if _, err := io.ReadFull(br, h); err != nil {
		t.Fatal(err)
	}
	if h[0] != 0x81 {
		t.Fatalf("got frame %x, want a text frame (a close means the unmasked frame was refused)", h)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		io.ReadFull(br, ext[:])
		n = int(ext[0])<<8 | int(ext[1])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil || !strings.Contains(string(payload), "after an unmasked frame") {
		t.Fatalf("got %s, %v", payload, err)
	}
}
