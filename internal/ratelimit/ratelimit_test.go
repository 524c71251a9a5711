package ratelimit

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable time for tests.
type clock struct{ t atomic.Int64 }

func newClock(t time.Time) *clock {
	c := new(clock)
	c.set(t)
	return c
}

func (c *clock) set(t time.Time)     { c.t.Store(t.UnixNano()) }
func (c *clock) now() time.Time      { return time.Unix(0, c.t.Load()) }
func (c *clock) add(d time.Duration) { c.t.Add(int64(d)) }
func at(s string) time.Time          { t, _ := time.Parse(time.RFC3339Nano, s); return t }
func allowN(l *Limiter, key string, limit int64, p Period, n int) (ok int) {
	for range n {
		if l.Allow(key, limit, p) {
			ok++
		}
	}
	return ok
}

func TestWindowsAlignToTheClock(t *testing.T) {
	for _, tc := range []struct {
		name   string
		period Period
		start  string
		// turn is how long after start the next window begins.
		turn time.Duration
	}{
		{"10s at a boundary", TenSeconds, "2026-12-03T08:00:00Z", 10 * time.Second},
		{"10s mid-window", TenSeconds, "2026-12-03T08:00:07.5Z", 2500 * time.Millisecond},
		{"10s last nanosecond", TenSeconds, "2026-12-03T08:00:09.999999999Z", time.Nanosecond},
		{"60s at a boundary", Minute, "2026-12-03T08:01:00Z", time.Minute},
		{"60s mid-window", Minute, "2026-12-03T08:01:45Z", 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock(at(tc.start))
			l := New(Options{Now: c.now})
			if got := allowN(l, "k", 5, tc.period, 8); got != 5 {
				t.Fatalf("first window: %d of 8 allowed, want 5", got)
			}
			c.add(tc.turn - time.Nanosecond)
			if l.Allow("k", 5, tc.period) {
				t.Fatal("allowed in the last nanosecond of a full window")
			}
			c.add(time.Nanosecond)
			if got := allowN(l, "k", 5, tc.period, 8); got != 5 {
				t.Fatalf("next window: %d of 8 allowed, want 5", got)
			}
			// A window later than the next one starts afresh too.
			c.add(3 * tc.period.Duration())
			if got := allowN(l, "k", 5, tc.period, 6); got != 5 {
				t.Fatalf("later window: %d of 6 allowed, want 5", got)
			}
		})
	}
}

func TestKeysAndPeriodsCountApart(t *testing.T) {
	c := newClock(at("2026-12-03T08:00:01Z"))
	l := New(Options{Now: c.now})
	if got := allowN(l, "a", 3, TenSeconds, 5); got != 3 {
		t.Fatalf("a: %d allowed, want 3", got)
	}
	if got := allowN(l, "b", 3, TenSeconds, 5); got != 3 {
		t.Fatalf("b: %d allowed, want 3", got)
	}
	if got := allowN(l, "a", 3, Minute, 5); got != 3 {
		t.Fatalf("a per minute: %d allowed, want 3", got)
	}
	// Refused calls are not counted: a higher limit lets exactly the
	// difference through.
	if got := allowN(l, "a", 5, TenSeconds, 5); got != 2 {
		t.Fatalf("a with limit 5 after 3: %d allowed, want 2", got)
	}
	// The 10s window turned, the minute did not.
	c.add(10 * time.Second)
	if got := allowN(l, "a", 3, TenSeconds, 5); got != 3 {
		t.Fatalf("a in the next 10s window: %d allowed, want 3", got)
	}
	if got := allowN(l, "a", 3, Minute, 1); got != 0 {
		t.Fatalf("a in the same minute: %d allowed, want 0", got)
	}
}

// TestLongKeys checks that keys past MaxKeyBytes are kept small and still
// count apart, and apart from any short key.
func TestLongKeys(t *testing.T) {
	l := New(Options{})
	long := strings.Repeat("k", 1<<20)
	other := long[:len(long)-1] + "j"
	if allowN(l, long, 2, Minute, 3) != 2 || allowN(l, other, 2, Minute, 3) != 2 {
		t.Error("long keys do not count apart")
	}
	// The short key that spells a long key's stored form is another key.
	if got := allowN(l, storedKey(long)[:MaxKeyBytes], 2, Minute, 3); got != 2 {
		t.Errorf("a short key shares a long key's count: %d allowed", got)
	}
	for i := range l.shards {
		for _, k := range l.shards[i].lru.Keys() {
			if len(k) > MaxKeyBytes+1 {
				t.Errorf("a key of %d bytes is kept", len(k))
			}
		}
	}
	if got := storedKey(strings.Repeat("x", MaxKeyBytes)); len(got) != MaxKeyBytes {
		t.Errorf("a key of MaxKeyBytes is not kept as it is")
	}
}

func TestLimitZeroOrLessAllowsNothing(t *testing.T) {
	l := New(Options{})
	for _, limit := range []int64{0, -1, -1 << 62} {
		if l.Allow("k", limit, Minute) {
			t.Errorf("limit %d allowed a call", limit)
		}
	}
	if !l.Allow("", 1, Minute) {
		t.Error("the empty key is a key like any other")
	}
}

func TestInvalidPeriodPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Allow with a 30s period did not panic")
		}
	}()
	New(Options{}).Allow("k", 1, 30)
}

func TestLimitTakesSeconds(t *testing.T) {
	l := New(Options{})
	if !l.Limit("k", 1, 10) || l.Limit("k", 1, 10) || !l.Limit("k", 1, 60) {
		t.Error("Limit does not count per period like Allow")
	}
	if l.Limit("j", 1, 30) {
		t.Error("Limit with a 30s period allowed a call")
	}
}

func TestPeriodOf(t *testing.T) {
	for d, want := range map[time.Duration]Period{10 * time.Second: TenSeconds, time.Minute: Minute} {
		if p, ok := PeriodOf(d); !ok || p != want {
			t.Errorf("PeriodOf(%v) = %v, %v", d, p, ok)
		}
	}
	for _, d := range []time.Duration{0, time.Second, 10*time.Second + 1, 30 * time.Second, time.Hour, -10 * time.Second} {
		if p, ok := PeriodOf(d); ok {
			t.Errorf("PeriodOf(%v) = %v, true", d, p)
		}
	}
}

// TestConcurrentCallsCountExactly runs many goroutines on a few keys
// (run it with -race): each key admits exactly its limit per window.
func TestConcurrentCallsCountExactly(t *testing.T) {
	c := newClock(at("2026-12-03T08:00:00Z"))
	l := New(Options{Now: c.now})
	const keys, goroutines, calls, limit = 4, 16, 200, 150
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				k := (g + i) % keys
				if l.Allow("key"+strconv.Itoa(k), limit, TenSeconds) {
					allowed[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		if got := allowed[k].Load(); got != limit {
			t.Errorf("key%d: %d allowed, want %d", k, got, limit)
		}
	}
}

// TestLRUBound checks that the limiter remembers at most MaxKeys keys,
// that the keys it forgets are the least recently used, and that a
// forgotten key starts a fresh window.
func TestLRUBound(t *testing.T) {
	c := newClock(at("2026-12-03T08:00:00Z"))
	l := New(Options{MaxKeys: 160, Now: c.now})
	if l.MaxKeys() != 160 {
		t.Fatalf("MaxKeys = %d, want 160", l.MaxKeys())
	}
	if got := allowN(l, "hot", 2, Minute, 3); got != 2 {
		t.Fatalf("hot: %d allowed, want 2", got)
	}
	if !l.Allow("cold", 1, Minute) || l.Allow("cold", 1, Minute) {
		t.Fatal("cold: want exactly one call allowed")
	}
	for i := range 10 * l.MaxKeys() {
		l.Allow("flood"+strconv.Itoa(i), 1, Minute)
		// Using hot keeps it recent, even when the call is refused.
		if l.Allow("hot", 2, Minute) {
			t.Fatalf("hot allowed again after %d flood keys", i)
		}
		if n := l.Len(); n > l.MaxKeys() {
			t.Fatalf("%d keys remembered, bound %d", n, l.MaxKeys())
		}
	}
	if n := l.Len(); n < l.MaxKeys()-shards {
		t.Errorf("%d keys remembered after a flood, want close to %d", n, l.MaxKeys())
	}
	// cold was evicted: same window, yet a fresh count.
	if !l.Allow("cold", 1, Minute) {
		t.Error("cold was not forgotten: an evicted key must start a fresh window")
	}
}

func TestDefaults(t *testing.T) {
	l := New(Options{})
	if l.MaxKeys() != DefaultMaxKeys {
		t.Errorf("MaxKeys = %d, want %d", l.MaxKeys(), DefaultMaxKeys)
	}
	if l2 := New(Options{MaxKeys: 1}); l2.MaxKeys() != shards {
		t.Errorf("MaxKeys(1) = %d, want one key per shard", l2.MaxKeys())
	}
}

// BenchmarkAllowHit measures a call for a key the limiter knows, the
// common case: it must stay under 200ns with no allocation.
func BenchmarkAllowHit(b *testing.B) {
	l := New(Options{})
	l.Allow("client-203.0.113.7", 1<<62, Minute)
	b.ReportAllocs()
	for b.Loop() {
		l.Allow("client-203.0.113.7", 1<<62, Minute)
	}
}

// BenchmarkAllowHitParallel spreads hits over many keys and goroutines.
func BenchmarkAllowHitParallel(b *testing.B) {
	l := New(Options{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
		l.Allow(keys[i], 1<<62, Minute)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(keys[i%len(keys)], 1<<62, Minute)
			i++
		}
	})
}

// TestSystemClock checks the default clock against time.Now, also after a
// reading older than resync.
func TestSystemClock(t *testing.T) {
	l := New(Options{})
	near := func() {
		t.Helper()
		before := time.Now().UnixNano()
		got := l.unixNano()
		after := time.Now().UnixNano()
		if got < before-int64(time.Millisecond) || got > after+int64(time.Millisecond) {
			t.Errorf("unixNano = %d, want within [%d, %d]", got, before, after)
		}
	}
	near()
	old := time.Now().Add(-time.Hour)
	l.base.Store(&old)
	near()
	if b := l.base.Load(); time.Since(*b) > time.Second {
		t.Errorf("the clock reading was not renewed: %v old", time.Since(*b))
	}
}
