package workerhost

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// slowClientServer serves w on a loopback server, with a pool of one
// runtime, so that a runtime held by a slow client would stall the next
// request.
func slowClientServer(t *testing.T, src string) *httptest.Server {
	t.Helper()
	w := newInline(t, src, func(c *Config) {
		c.BodyTimeout = 200 * time.Millisecond
		c.QueueTimeout = 10 * time.Second
	})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if _, err := w.Serve(rw, r); err == ErrResponseAborted {
			panic(http.ErrAbortHandler)
		}
	}))
	srv.Config.ErrorLog = nil
	t.Cleanup(srv.Close)
	return srv
}

// TestSlowRequestBody is issue 9's item 5 for request bodies: a client
// that sends its body at a trickle fails after BodyTimeout instead of
// holding the runtime.
func TestSlowRequestBody(t *testing.T) {
	srv := slowClientServer(t, `export default { async fetch(req) {
		if (req.method === "GET") return new Response("ok");
		try { await req.text(); } catch (e) { return new Response(String(e), { status: 408 }); }
		return new Response("read");
	} };`)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\na")
	start := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 408 || time.Since(start) > 3*time.Second {
		t.Fatalf("after %v: %d %q", time.Since(start), resp.StatusCode, body)
	}
	if r, err := http.Get(srv.URL); err != nil || r.StatusCode != 200 {
		t.Fatalf("next request: %v %v", r, err)
	} else {
		r.Body.Close()
	}
}

// TestSlowResponseReader is issue 9's item 5 for streamed responses: a
// client that does not read fails the response after BodyTimeout and the
// runtime serves the next request.
func TestSlowResponseReader(t *testing.T) {
	srv := slowClientServer(t, `export default { fetch(req) {
		if (new URL(req.url).pathname === "/ok") return new Response("ok");
		const chunk = new TextEncoder().encode("x".repeat(65536));
		let n = 0;
		return new Response(new ReadableStream({ pull(c) { if (n++ < 4096) c.enqueue(chunk); else c.close(); } }));
	} };`)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	// The client never reads. The next request must still be served.
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	r, err := http.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || strings.TrimSpace(string(b)) != "ok" || time.Since(start) > 5*time.Second {
		t.Fatalf("after %v: %d %q", time.Since(start), r.StatusCode, b)
	}
}
