package caddymodule

import (
	"context"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/internal/rollout"
	"github.com/caddy-gradual/gradual/internal/stats"
	"github.com/caddy-gradual/gradual/internal/tail"
)

// now is the clock of the live stats and of uploads; tests replace it.
var now = time.Now

// workers holds each worker's process-wide state, keyed by worker name. It
// is a UsagePool so that the state outlives config reloads: the new
// config's handlers take their reference before the old config's handlers
// let go of theirs.
var workers = caddy.NewUsagePool()

// workerState is what a worker keeps across config reloads: its control
// plane, live stats per version, the tail subscribers, and which versions
// have metric series.
type workerState struct {
	name string
	tail tail.Hub
	live *live.Worker
	// stopRollouts stops the worker's rollout runner.
	stopRollouts context.CancelFunc
	rollouts     chan struct{} // closed when the runner returned

	// Lock order: Gradual.mu, then mu; the control plane's locks are
	// never held while it calls a handler (see live.Worker).
	mu    sync.Mutex
	stats map[string]*stats.Version
	// refs counts, per version ID, the provisioned handlers that define
	// it; a version's metric series are dropped when it reaches zero.
	refs map[string]int
	// seen records when each config version was first loaded.
	seen map[string]time.Time
}

// latest returns the most recently provisioned handler, whose config is
// the one the admin API describes.
func (s *workerState) latest() *Gradual {
	g, _ := s.live.Newest().(*Gradual)
	return g
}

// acquireWorker returns the state of the named worker, creating it on first
// use. Each call must be paired with releaseWorker.
func acquireWorker(name string, logger *zap.Logger) *workerState {
	v, _, _ := workers.LoadOrNew(name, func() (caddy.Destructor, error) {
		s := &workerState{name: name, live: live.NewWorker(name, nodeID(), logger),
			stats: make(map[string]*stats.Version), refs: make(map[string]int), seen: make(map[string]time.Time)}
		s.startRollouts(logger)
		return s, nil
	})
	return v.(*workerState)
}

// startRollouts runs the worker's rollout runner until Destruct.
func (s *workerState) startRollouts(logger *zap.Logger) {
	if logger == nil {
		logger = zap.NewNop()
	}
	r := &rollout.Runner{
		Worker: s.name, Node: nodeID(), Ctl: s.live, Totals: s.totals,
		Logger:  logger.With(zap.String("worker", s.name)),
		Observe: func(ro *rollout.State) { observeRollout(s.name, ro) },
		RolledBack: func(*rollout.State) {
			gradualMetrics.once.Do(initMetrics)
			gradualMetrics.rollbacks.WithLabelValues(s.name).Inc()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopRollouts, s.rollouts = cancel, make(chan struct{})
	go func() {
		defer close(s.rollouts)
		r.Run(ctx)
	}()
}

// totals returns this process's figures of a version, zero for one it
// does not serve.
func (s *workerState) totals(id string) stats.Totals {
	s.mu.Lock()
	st := s.stats[id]
	s.mu.Unlock()
	if st == nil {
		return stats.Totals{}
	}
	return st.Snapshot()
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
	s.stopRollouts()
	<-s.rollouts
	s.live.Close()
	s.tail.CloseAll()
	return nil
}

// retainVersion notes that a loaded version of a handler is id, and
// returns its stats.
func (s *workerState) retainVersion(id string) *stats.Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs[id]++
	st := s.stats[id]
	if st == nil {
		st = new(stats.Version)
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
