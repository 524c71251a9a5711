// Package stats keeps per-version live stats without locks: totals and a
// sliding window of request counts, errors and latency quantiles.
package stats

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// The window covers the last Slots×SlotLen.
const (
	SlotLen = 10 * time.Second
	Slots   = 6
	// Latency buckets: four per power of two of microseconds, from 1µs
	// to about 18 minutes, so a quantile is off by at most 19%.
	latencySubBuckets = 4
	latencyBuckets    = 31 * latencySubBuckets
)

// Version holds one version's live stats: totals since the process
// started serving it, and a sliding window for rates and latency quantiles.
// Recording is a few atomic adds; no lock on the request path.
type Version struct {
	requests, errors atomic.Uint64
	// latency is the histogram of every request since the start, for
	// Totals: the difference of two Totals is the figures in between.
	latency [latencyBuckets]atomic.Uint64
	slots   [Slots]statsSlot
}

// Totals returns the requests and errors recorded since the process
// started serving the version.
func (s *Version) Totals() (requests, errors uint64) { return s.requests.Load(), s.errors.Load() }

// Totals are a version's figures since the process started serving it.
// Totals taken at two times give, by Sub, the figures in between, and
// Totals of several processes add up (Add), latency quantiles included.
type Totals struct {
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	// Latency is the histogram of request durations.
	Latency Histogram `json:"latency"`
}

// Histogram counts requests by latency bucket (see Quantile).
type Histogram [latencyBuckets]uint64

// Snapshot returns the version's Totals now. The counts are read one by
// one while requests may be recorded: a request may show in one count and
// not yet in another, which rollout judgements can bear.
func (s *Version) Snapshot() Totals {
	t := Totals{Requests: s.requests.Load(), Errors: s.errors.Load()}
	for i := range s.latency {
		t.Latency[i] = s.latency[i].Load()
	}
	return t
}

// Sub returns t less base: the figures recorded after base was taken. A
// count below base's (the version's stats started again) counts from 0.
func (t Totals) Sub(base Totals) Totals {
	sub := func(a, b uint64) uint64 {
		if a < b {
			return a
		}
		return a - b
	}
	out := Totals{Requests: sub(t.Requests, base.Requests), Errors: sub(t.Errors, base.Errors)}
	for i := range t.Latency {
		out.Latency[i] = sub(t.Latency[i], base.Latency[i])
	}
	return out
}

// Add adds o's figures to t's.
func (t *Totals) Add(o Totals) {
	t.Requests += o.Requests
	t.Errors += o.Errors
	for i := range t.Latency {
		t.Latency[i] += o.Latency[i]
	}
}

// Quantile returns the q-quantile (0 < q ≤ 1) of the latencies, off by
// at most 19% (the width of a bucket), or 0 with no request.
func (h *Histogram) Quantile(q float64) time.Duration {
	return quantile((*[latencyBuckets]uint64)(h), q)
}

type statsSlot struct {
	epoch            atomic.Int64
	requests, errors atomic.Uint64
	latency          [latencyBuckets]atomic.Uint32
}

// Record adds one request. An error is a 5xx response or an exception.
func (s *Version) Record(t time.Time, d time.Duration, isErr bool) {
	s.requests.Add(1)
	if isErr {
		s.errors.Add(1)
	}
	epoch := t.UnixNano() / int64(SlotLen)
	slot := &s.slots[epoch%Slots]
	if old := slot.epoch.Load(); old != epoch && slot.epoch.CompareAndSwap(old, epoch) {
		// This slot last held a window ago; start it over. Requests
		// recorded concurrently at the turn may be lost, which the
		// stats can bear.
		slot.requests.Store(0)
		slot.errors.Store(0)
		for i := range slot.latency {
			slot.latency[i].Store(0)
		}
	}
	slot.requests.Add(1)
	if isErr {
		slot.errors.Add(1)
	}
	b := latencyBucket(d)
	s.latency[b].Add(1)
	slot.latency[b].Add(1)
}

func latencyBucket(d time.Duration) int {
	us := uint64(max(d.Microseconds(), 1))
	exp := bits.Len64(us) - 1 // us is in [2^exp, 2^(exp+1))
	sub := 0
	if exp >= 2 {
		sub = int(us>>(exp-2)) & (latencySubBuckets - 1)
	} else {
		sub = int(us<<(2-exp)) & (latencySubBuckets - 1)
	}
	return min(exp*latencySubBuckets+sub, latencyBuckets-1)
}

// latencyBucketMid is a representative latency of bucket i: the middle of
// its range.
func latencyBucketMid(i int) time.Duration {
	exp, sub := i/latencySubBuckets, i%latencySubBuckets
	lo := float64(uint64(1)<<exp) * (1 + float64(sub)/latencySubBuckets)
	width := float64(uint64(1)<<exp) / latencySubBuckets
	return time.Duration((lo + width/2) * float64(time.Microsecond))
}

// Window summarises the sliding window.
type Window struct {
	Requests uint64
	Errors   uint64
	P50, P99 time.Duration
}

// Window returns the stats of the last Slots slots up to t.
func (s *Version) Window(t time.Time) Window {
	var out Window
	var hist [latencyBuckets]uint64
	cur := t.UnixNano() / int64(SlotLen)
	for i := range s.slots {
		slot := &s.slots[i]
		if e := slot.epoch.Load(); e > cur || e <= cur-Slots {
			continue
		}
		out.Requests += slot.requests.Load()
		out.Errors += slot.errors.Load()
		for b := range hist {
			hist[b] += uint64(slot.latency[b].Load())
		}
	}
	out.P50 = quantile(&hist, 0.50)
	out.P99 = quantile(&hist, 0.99)
	return out
}

func quantile(hist *[latencyBuckets]uint64, q float64) time.Duration {
	var total uint64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i, n := range hist {
		seen += n
		if seen >= rank {
			return latencyBucketMid(i)
		}
	}
	return latencyBucketMid(latencyBuckets - 1)
}
