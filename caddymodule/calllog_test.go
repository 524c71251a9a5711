package caddymodule

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// TestCallLog checks the worker_calls of an access-log entry: none without
// calls, each call's fields, and at most maxLoggedCalls, the others
// counted, when calls end on many goroutines at once.
func TestCallLog(t *testing.T) {
	v := &version{id: "b2", tag: "two"}
	for _, n := range []int{0, 1, maxLoggedCalls + 8} {
		l := new(callLog)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				l.add(loggedCall{binding: "BACK", worker: "back", v: v, sel: selectedOverride, status: 200 + i%2, took: 1500 * time.Microsecond})
			})
		}
		wg.Wait()
		enc := zapcore.NewMapObjectEncoder()
		if err := l.MarshalLogObject(enc); err != nil {
			t.Fatal(err)
		}
		calls, _ := enc.Fields["worker_calls"].([]any)
		if want := min(n, maxLoggedCalls); len(calls) != want {
			t.Errorf("%d calls: worker_calls has %d, want %d", n, len(calls), want)
		}
		if dropped, want := enc.Fields["worker_calls_dropped"], max(n-maxLoggedCalls, 0); want > 0 && dropped != want || want == 0 && dropped != nil {
			t.Errorf("%d calls: worker_calls_dropped %v, want %d", n, dropped, want)
		}
		if n == 1 {
			got := calls[0].(map[string]any)
			want := map[string]any{"binding": "BACK", "worker": "back", "worker_version": "b2", "worker_version_tag": "two",
				"selection": "override", "status": 200, "duration": 0.0015}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
		}
	}
	// A request of a worker that calls nothing has no log to add to.
	var none *callLog
	none.add(loggedCall{v: v})
}
