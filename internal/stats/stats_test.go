package stats

import (
	"testing"
	"time"
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
	var s Version
	t0 := time.Unix(1_700_000_000, 0)
	// 98 fast requests, 2 slow failures.
	for i := range 100 {
		d, failed := 10*time.Millisecond, false
		if i%50 == 49 {
			d, failed = 2*time.Second, true
		}
		s.Record(t0.Add(time.Duration(i)*100*time.Millisecond), d, failed)
	}
	w := s.Window(t0.Add(10 * time.Second))
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
	w = s.Window(t0.Add(2 * time.Minute))
	if w.Requests != 0 || w.P99 != 0 {
		t.Errorf("old requests still in the window: %+v", w)
	}
	s.Record(t0.Add(2*time.Minute), time.Millisecond, false)
	if w = s.Window(t0.Add(2 * time.Minute)); w.Requests != 1 {
		t.Errorf("reused slot: %d requests, want 1", w.Requests)
	}
	if req, errs := s.Totals(); req != 101 || errs != 2 {
		t.Errorf("totals %d/%d, want 101/2", req, errs)
	}
}

// TestTotals: the figures between two snapshots, summed over processes,
// give the requests, errors and p99 of that span.
func TestTotals(t *testing.T) {
	var a, b Version
	t0 := time.Unix(1000, 0)
	for i := range 50 {
		a.Record(t0, time.Millisecond, i%10 == 0)
	}
	base := a.Snapshot()
	for i := range 100 {
		a.Record(t0, 2*time.Millisecond, i < 3)
		b.Record(t0, 2*time.Millisecond, false)
	}
	b.Record(t0, time.Second, true)
	step := a.Snapshot().Sub(base)
	if step.Requests != 100 || step.Errors != 3 {
		t.Fatalf("step on a: %d requests, %d errors; want 100, 3", step.Requests, step.Errors)
	}
	step.Add(b.Snapshot())
	if step.Requests != 201 || step.Errors != 4 {
		t.Fatalf("summed: %d requests, %d errors; want 201, 4", step.Requests, step.Errors)
	}
	if p99 := step.Latency.Quantile(0.99); p99 < 1500*time.Microsecond || p99 > 2500*time.Microsecond {
		t.Fatalf("p99 %v, want about 2ms", p99)
	}
	if p100 := step.Latency.Quantile(1); p100 < 800*time.Millisecond {
		t.Fatalf("max %v, want about 1s", p100)
	}
	// Stats that started again count from zero rather than underflowing.
	if got := new(Version).Snapshot().Sub(base); got.Requests != 0 || got.Errors != 0 {
		t.Fatalf("after a restart: %+v", got)
	}
}

func BenchmarkRecord(b *testing.B) {
	var v Version
	t0 := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		v.Record(t0, time.Duration(i%1000)*time.Microsecond, i%50 == 0)
	}
}
