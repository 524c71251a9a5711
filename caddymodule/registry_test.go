package caddymodule

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/certmagic"

	"github.com/caddy-gradual/gradual/workerhost"
)

func TestLatencyBuckets(t *testing.T) {
	prev := -1
	for d := time.Microsecond; d < 20*time.Minute; d = d*11/10 + time.Microsecond {
		b := latencyBucket(d)
		if b < prev {
			t.Fatalf("bucket of %v is %d, below the previous %d", d, b, prev)
		}
		prev = b
		mid := latencyBucketMid(b)
		if ratio := float64(mid) / float64(d); ratio < 0.8 || ratio > 1.25 {
			t.Errorf("%v lands in bucket %d whose middle %v is off by %.2f", d, b, mid, ratio)
		}
	}
	if b := latencyBucket(0); b != 0 {
		t.Errorf("bucket of 0 = %d", b)
	}
	if b := latencyBucket(100 * time.Hour); b != latencyBuckets-1 {
		t.Errorf("bucket of 100h = %d, want the last", b)
	}
}

func TestVersionStatsWindow(t *testing.T) {
	var s versionStats
	t0 := time.Unix(1_700_000_000, 0)
	// 98 fast requests, 2 slow failures.
	for i := range 100 {
		d, failed := 10*time.Millisecond, false
		if i%50 == 49 {
			d, failed = 2*time.Second, true
		}
		s.record(t0.Add(time.Duration(i)*100*time.Millisecond), d, failed)
	}
	w := s.window(t0.Add(10 * time.Second))
	if w.Requests != 100 || w.Errors != 2 {
		t.Errorf("window: %d requests, %d errors; want 100, 2", w.Requests, w.Errors)
	}
	if w.P50 < 8*time.Millisecond || w.P50 > 12*time.Millisecond {
		t.Errorf("p50 %v, want about 10ms", w.P50)
	}
	if w.P99 < 1600*time.Millisecond || w.P99 > 2400*time.Millisecond {
		t.Errorf("p99 %v, want about 2s", w.P99)
	}
	// A minute later the window is empty but the totals remain.
	w = s.window(t0.Add(2 * time.Minute))
	if w.Requests != 0 || w.P99 != 0 {
		t.Errorf("old requests still in the window: %+v", w)
	}
	s.record(t0.Add(2*time.Minute), time.Millisecond, false)
	if w = s.window(t0.Add(2 * time.Minute)); w.Requests != 1 {
		t.Errorf("reused slot: %d requests, want 1", w.Requests)
	}
	if s.requests.Load() != 101 || s.errors.Load() != 2 {
		t.Errorf("totals %d/%d, want 101/2", s.requests.Load(), s.errors.Load())
	}
}

func TestTailHubDropsForSlowClients(t *testing.T) {
	var h tailHub
	if h.active() {
		t.Fatal("empty hub is active")
	}
	slow := h.subscribe("")
	v2 := h.subscribe("v2")
	if !h.active() {
		t.Fatal("hub with subscribers is not active")
	}
	for i := range tailBuffer + 10 {
		h.publish("v1", []byte(fmt.Sprint(i)))
	}
	if got := slow.dropped.Load(); got != 10 {
		t.Errorf("slow client dropped %d, want 10", got)
	}
	if len(v2.events) != 0 || v2.dropped.Load() != 0 {
		t.Errorf("v2-only client got %d events, %d dropped", len(v2.events), v2.dropped.Load())
	}
	h.publish("v2", []byte("x"))
	if len(v2.events) != 1 {
		t.Errorf("v2-only client got %d events, want 1", len(v2.events))
	}
	h.unsubscribe(slow)
	select {
	case <-slow.done:
	default:
		t.Error("unsubscribed client not told it is done")
	}
	h.closeAll()
	if h.active() {
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
		if got := redacted(name); got != want {
			t.Errorf("redacted(%q) = %v, want %v", name, got, want)
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
	ev := string(newTailEvent("w", &version{id: "v1"}, 0, r, time.Now(), workerhost.Result{}))
	for _, leak := range []string{jwt, "proof", "secret=s"} {
		if strings.Contains(ev, leak) {
			t.Errorf("tail event leaks %q: %s", leak, ev)
		}
	}
	if !strings.Contains(ev, `"url":"http://example.com/a%2Fb?secret=REDACTED\u0026n=1"`) {
		t.Errorf("tail event URL: %s", ev)
	}
}

func TestTailHubBoundsBytes(t *testing.T) {
	var h tailHub
	s := h.subscribe("")
	defer h.unsubscribe(s)
	big := make([]byte, 1<<20)
	for range 20 {
		h.publish("v1", big)
	}
	if got := len(s.events); got != tailBufferBytes>>20 {
		t.Errorf("%d events of 1 MiB queued, want %d", got, tailBufferBytes>>20)
	}
	if s.dropped.Load() != uint64(20-tailBufferBytes>>20) {
		t.Errorf("dropped %d", s.dropped.Load())
	}
	s.delivered(<-s.events)
	h.publish("v1", big)
	if got := len(s.events); got != tailBufferBytes>>20 {
		t.Errorf("after one was read, %d events queued", got)
	}
}

// TestProvisionWritesNothing checks that provisioning alone, as `caddy
// validate` does, leaves the stored live state alone, and that the first
// request records the config's deployment.
func TestProvisionWritesNothing(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	old := configStorage
	configStorage = func(caddy.Context) certmagic.Storage { return storage }
	t.Cleanup(func() { configStorage = old })

	g := &Gradual{Worker: "validated", Versions: []*Version{staticVersion("v1", "")}}
	provision(t, g)
	key := storageKey("validated")
	if storage.Exists(context.Background(), key) {
		t.Fatal("provisioning wrote the live state")
	}
	serve(t, g, nil, "")
	deadline := time.Now().Add(5 * time.Second)
	for !storage.Exists(context.Background(), key) {
		if time.Now().After(deadline) {
			t.Fatal("the first request did not record the config's deployment")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st, err := loadState(context.Background(), storage, "validated")
	if err != nil || len(st.Deployments) != 1 || st.Deployments[0].Source != sourceConfig || st.ConfigDeploy != "v1@100%" {
		t.Fatalf("stored state %+v, %v", st, err)
	}
}
