package caddymodule

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// now is the clock of the live stats; tests replace it.
var now = time.Now

// workers holds each worker's process-wide state, keyed by worker name. It
// is a UsagePool so that the state outlives config reloads: the new
// config's handlers take their reference before the old config's handlers
// let go of theirs.
var workers = caddy.NewUsagePool()

// workerState is what a worker keeps across config reloads: live stats per
// version, the tail subscribers, and which versions have metric series.
type workerState struct {
	name string
	tail tailHub

	// liveMu guards live, the worker's stored live deployments.
	liveMu sync.Mutex
	live   liveState

	mu    sync.Mutex
	stats map[string]*versionStats
	// refs counts, per version ID, the provisioned handlers that define
	// it; a version's metric series are dropped when it reaches zero.
	refs map[string]int
	// seen records when each config version was first loaded.
	seen map[string]time.Time
	// handlers are the provisioned handlers serving the worker, oldest
	// first; during a reload the old config's and the new one's.
	handlers []*Gradual
}

// attach adds a provisioned handler.
func (s *workerState) attach(g *Gradual) {
	s.mu.Lock()
	s.handlers = append(s.handlers, g)
	s.mu.Unlock()
}

// detach removes a handler that is being cleaned up.
func (s *workerState) detach(g *Gradual) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, h := range s.handlers {
		if h == g {
			s.handlers = append(s.handlers[:i], s.handlers[i+1:]...)
			return
		}
	}
}

// latest returns the most recently provisioned handler, whose config is
// the one the admin API describes.
func (s *workerState) latest() *Gradual {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.handlers) == 0 {
		return nil
	}
	return s.handlers[len(s.handlers)-1]
}

// acquireWorker returns the state of the named worker, creating it on first
// use. Each call must be paired with releaseWorker.
func acquireWorker(name string) *workerState {
	v, _, _ := workers.LoadOrNew(name, func() (caddy.Destructor, error) {
		return &workerState{name: name, stats: make(map[string]*versionStats), refs: make(map[string]int), seen: make(map[string]time.Time)}, nil
	})
	return v.(*workerState)
}

func releaseWorker(name string) {
	_, _ = workers.Delete(name)
}

// lookupWorker returns the state of a worker that some loaded config
// serves, or nil.
func lookupWorker(name string) *workerState {
	var found *workerState
	workers.Range(func(key, value any) bool {
		if key == name {
			found, _ = value.(*workerState)
			return false
		}
		return true
	})
	return found
}

// Destruct implements caddy.Destructor: the last config that served the
// worker is gone.
func (s *workerState) Destruct() error {
	s.stopPolling()
	s.tail.closeAll()
	return nil
}

// retainVersion notes that a loaded version of a handler is id, and
// returns its stats.
func (s *workerState) retainVersion(id string) *versionStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs[id]++
	st := s.stats[id]
	if st == nil {
		st = new(versionStats)
		s.stats[id] = st
	}
	return st
}

// releaseVersion undoes retainVersion; a version no handler has any more
// loses its stats and metric series.
func (s *workerState) releaseVersion(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs[id]--
	if s.refs[id] <= 0 {
		delete(s.refs, id)
		delete(s.stats, id)
		delete(s.seen, id)
		deleteVersionMetrics(s.name, id)
	}
}

// firstSeen returns when this process first loaded the config version id:
// its CF_VERSION_METADATA timestamp and its created_on in the API.
func (s *workerState) firstSeen(id string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.seen[id]
	if !ok {
		t = now().UTC()
		s.seen[id] = t
	}
	return t
}

// Live stats cover the last statsSlots×statsSlotLen.
const (
	statsSlotLen = 10 * time.Second
	statsSlots   = 6
	// Latency buckets: four per power of two of microseconds, from 1µs
	// to about 18 minutes, so a quantile is off by at most 19%.
	latencySubBuckets = 4
	latencyBuckets    = 31 * latencySubBuckets
)

// versionStats are one version's live stats: totals since the process
// started serving it, and a sliding window for rates and latency quantiles.
// Recording is a few atomic adds; no lock on the request path.
type versionStats struct {
	requests, errors atomic.Uint64
	slots            [statsSlots]statsSlot
}

type statsSlot struct {
	epoch            atomic.Int64
	requests, errors atomic.Uint64
	latency          [latencyBuckets]atomic.Uint32
}

// record adds one request. An error is a 5xx response or an exception.
func (s *versionStats) record(t time.Time, d time.Duration, isErr bool) {
	s.requests.Add(1)
	if isErr {
		s.errors.Add(1)
	}
	epoch := t.UnixNano() / int64(statsSlotLen)
	slot := &s.slots[epoch%statsSlots]
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
	slot.latency[latencyBucket(d)].Add(1)
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

// windowStats summarises the sliding window.
type windowStats struct {
	Requests uint64
	Errors   uint64
	P50, P99 time.Duration
}

// window returns the stats of the last statsSlots slots up to t.
func (s *versionStats) window(t time.Time) windowStats {
	var out windowStats
	var hist [latencyBuckets]uint64
	cur := t.UnixNano() / int64(statsSlotLen)
	for i := range s.slots {
		slot := &s.slots[i]
		if e := slot.epoch.Load(); e > cur || e <= cur-statsSlots {
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
