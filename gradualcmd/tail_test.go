package gradualcmd

import (
	"context"
	"strings"
	"testing"
	"time"
)

// tailFixture is a tail as the admin API streams it: two events, a
// heartbeat and a report of dropped events.
var tailFixture = []string{
	`{"scriptName":"shop","scriptVersion":{"id":"v2","tag":"canary","message":"new"},"outcome":"exception","eventTimestamp":1777629600123,` +
		`"event":{"request":{"method":"POST","url":"http://shop.example/cart?id=1","headers":{"cookie":"REDACTED"}},"response":{"status":500}},` +
		`"logs":[{"level":"log","message":["cart 3 {\"a\":1}"],"timestamp":1777629600120},{"level":"error","message":["two\nlines \u001b[31mred"],"timestamp":1777629600121}],` +
		`"exceptions":[{"name":"TypeError","message":"x is undefined","stack":"TypeError: x is undefined\n\tat fetch (worker.js:3:5)\n\tat main","timestamp":1777629600122}],` +
		`"selection":"random","cpuTime":2,"wallTime":5}`,
	``,
	`{"type":"dropped","dropped":12,"eventTimestamp":1777629601000}`,
	`{"scriptName":"shop","scriptVersion":{"id":"v1"},"outcome":"ok","eventTimestamp":1777629602000,` +
		`"event":{"request":{"method":"GET","url":"http://shop.example/","headers":{}},"response":{"status":200}},"logs":[],"exceptions":[],"selection":"key","cpuTime":0,"wallTime":1}`,
}

const tailText = `2026-05-01 10:00:00.123Z  v2 (canary)  random  POST http://shop.example/cart?id=1  500  exception
  [log] cart 3 {"a":1}
  [error] two
          lines  [31mred
  [exception] TypeError: x is undefined
    at fetch (worker.js:3:5)
    at main
2026-05-01 10:00:01.000Z  (12 events dropped: this tail read too slowly)
2026-05-01 10:00:02.000Z  v1  key  GET http://shop.example/  200  ok
`

func TestTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		path string
		out  string
	}{
		{"text", []string{"tail"}, "/gradual/workers/shop/tail", tailText},
		{"json", []string{"tail", "--json", "--version-id", "v2"}, "/gradual/workers/shop/tail?version_id=v2",
			tailFixture[0] + "\n" + tailFixture[2] + "\n" + tailFixture[3] + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAdmin(t, "shop")
			f.tail = tailFixture
			ctx, cancel := context.WithCancel(t.Context())
			var out, errOut syncBuffer
			done := make(chan error, 1)
			go func() { done <- execute(ctx, "", &out, &errOut, append(tc.args, "--address", f.addr)...) }()
			// The tail follows until it is interrupted, which the context
			// stands in for here.
			deadline := time.Now().Add(5 * time.Second)
			for out.String() != tc.out && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("tail: %v", err)
			}
			if got := out.String(); got != tc.out {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.out)
			}
			if !strings.Contains(errOut.String(), "Tailing worker shop") {
				t.Errorf("stderr %q", errOut.String())
			}
			checkRequests(t, f, []request{{"GET", "/gradual/workers", ""}, {"GET", tc.path, ""}})
		})
	}

	t.Run("ended by the server", func(t *testing.T) {
		f := newFakeAdmin(t, "shop")
		f.tail, f.tailEnds = tailFixture[2:3], true
		out, _, err := runOnce(t, "", "tail", "-w", "shop", "--address", f.addr)
		if err == nil || !strings.Contains(err.Error(), "the admin API ended the tail") {
			t.Errorf("error %v", err)
		}
		if !strings.Contains(out, "12 events dropped") {
			t.Errorf("output %q", out)
		}
	})
}
