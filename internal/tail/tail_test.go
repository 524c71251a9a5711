package tail

import (
	"fmt"
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
		"Accept": false, "User-Agent": false, "X-Forwarded-For": false,
	} {
		if got := Redacted(name); got != want {
			t.Errorf("Redacted(%q) = %v, want %v", name, got, want)
		}
	}
}
