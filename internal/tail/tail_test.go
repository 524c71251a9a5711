package tail

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

func TestTailHubDropsForSlowClients(t *testing.T) {
	var h Hub
	if h.Active() {
		t.Fatal("empty hub is active")
	}
	slow := h.Subscribe("")
	v2 := h.Subscribe("v2")
	if !h.Active() {
		t.Fatal("hub with subscribers is not active")
	}
	for i := range Buffer + 10 {
		h.Publish("v1", []byte(fmt.Sprint(i)))
	}
	if got := slow.dropped.Load(); got != 10 {
		t.Errorf("slow client dropped %d, want 10", got)
	}
	if len(v2.events) != 0 || v2.dropped.Load() != 0 {
		t.Errorf("v2-only client got %d events, %d dropped", len(v2.events), v2.dropped.Load())
	}
	h.Publish("v2", []byte("x"))
	if len(v2.events) != 1 {
		t.Errorf("v2-only client got %d events, want 1", len(v2.events))
	}
	h.Unsubscribe(slow)
	select {
	case <-slow.done:
	default:
		t.Error("unsubscribed client not told it is done")
	}
	h.CloseAll()
	if h.Active() {
		t.Error("hub still active after closeAll")
	}
	select {
	case <-v2.done:
	default:
		t.Error("closeAll did not end the stream")
	}
}

func TestRedacted(t *testing.T) {
	for name, want := range map[string]bool{
		"Cookie": true, "Set-Cookie": true, "Authorization": true, "Proxy-Authorization": true,
		"X-Api-Key": true, "X-Secret-Thing": true, "X-Auth-Token": true, "Cloudflare-Workers-Version-Key": true,
		"X-Auth-User": true, "X-Amz-Security-Token": true, "DPoP": true, "X-Jwt-Assertion": true, "X-Hub-Signature-256": true,
		"Accept": false, "User-Agent": false, "X-Forwarded-For": false,
	} {
		if got := Redacted(name); got != want {
			t.Errorf("Redacted(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedactedValues(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
	for v, want := range map[string]bool{
		jwt: true, "Bearer " + jwt: true, "eyJ-not-a-jwt": false, "text/html": false, "a.b.c": false,
	} {
		if got := looksLikeJWT(v); got != want {
			t.Errorf("looksLikeJWT(%q) = %v, want %v", v, got, want)
		}
	}
	for in, want := range map[string]string{
		"":                                "",
		"page=2&sort=asc":                 "page=2&sort=asc",
		"token=abc&page=2":                "token=REDACTED&page=2",
		"api_key=1&code=xyz&x":            "api_key=REDACTED&code=REDACTED&x",
		"X-Amz-Signature=ff&X-Amz-Date=1": "X-Amz-Signature=REDACTED&X-Amz-Date=1",
		"password=&q=a%20b":               "password=&q=a%20b",
		"q=" + jwt:                        "q=REDACTED",
		"Auth%5Fcode=1":                   "Auth%5Fcode=REDACTED",
	} {
		if got := redactQuery(in); got != want {
			t.Errorf("redactQuery(%q) = %q, want %q", in, got, want)
		}
	}
	r := httptest.NewRequest("GET", "http://example.com/a%2Fb?secret=s&n=1", nil)
	r.Header.Set("X-Custom", "Bearer "+jwt)
	r.Header.Set("DPoP", "proof")
	req := RequestOf(r)
	if req.URL != "http://example.com/a%2Fb?secret=REDACTED&n=1" {
		t.Errorf("URL %q", req.URL)
	}
	if req.Headers["x-custom"] != "REDACTED" || req.Headers["dpop"] != "REDACTED" {
		t.Errorf("headers %v", req.Headers)
	}
}

func TestTailHubBoundsBytes(t *testing.T) {
	var h Hub
	s := h.Subscribe("")
	defer h.Unsubscribe(s)
	big := make([]byte, 1<<20)
	for range 20 {
		h.Publish("v1", big)
	}
	if got := len(s.events); got != BufferBytes>>20 {
		t.Errorf("%d events of 1 MiB queued, want %d", got, BufferBytes>>20)
	}
	if s.dropped.Load() != uint64(20-BufferBytes>>20) {
		t.Errorf("dropped %d", s.dropped.Load())
	}
	<-s.events
	h.Publish("v1", big)
	if got := len(s.events); got != BufferBytes>>20 {
		t.Errorf("after one was read, %d events queued", got)
	}
}
