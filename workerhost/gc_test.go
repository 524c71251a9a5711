package workerhost

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	for _, c := range []struct {
		base           int
		live, headroom int64
		want           int
	}{
		{100, 0, 32 << 20, 100},         // no collection yet
		{100, 10 << 20, 32 << 20, 320},  // small heap: grows by the headroom
		{100, 32 << 20, 32 << 20, 100},  // as large as the headroom
		{100, 200 << 20, 32 << 20, 100}, // large heap: GOGC as it was
		{300, 20 << 20, 32 << 20, 300},  // never below the base
		{100, 1, 32 << 20, 100_000},     // bounded
		{100, 10 << 20, 0, 100},
	} {
		if got := gcPercent(c.base, c.live, c.headroom); got != c.want {
			t.Errorf("gcPercent(%d, %d, %d) = %d, want %d", c.base, c.live, c.headroom, got, c.want)
		}
	}
}

// TestGCTuning checks that loading a worker raises GOGC for a small live
// heap after a collection, and that closing the last worker restores it.
func TestGCTuning(t *testing.T) {
	gcTune.mu.Lock()
	loaded := gcTune.workers
	gcTune.mu.Unlock()
	if loaded != 0 {
		t.Skip("workers of other tests are loaded")
	}
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	// Other tests' small memory limits make the headroom small; this one
	// has the default's, far above the live heap of a test binary.
	limit := minMemoryLimit.Swap(DefaultMemoryLimit)
	defer minMemoryLimit.Store(limit)
	w := newInline(t, `export default { fetch() { return new Response("x") } }`)
	p := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		// The retuning runs after a collection, on the cleanup goroutine.
		runtime.GC()
		gcTune.mu.Lock()
		p = gcTune.percent
		gcTune.mu.Unlock()
		if p > before {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p <= before {
		t.Errorf("GOGC %d with a worker loaded, want above %d", p, before)
	}
	w.Close()
	if got := debug.SetGCPercent(before); got != before {
		t.Errorf("GOGC %d after the last worker closed, want %d", got, before)
	}
}
