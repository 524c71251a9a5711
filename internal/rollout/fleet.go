package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-gradual/gradual/internal/live"
	"github.com/caddy-gradual/gradual/internal/stats"
)

// Control is what a Runner needs of a worker's control plane;
// *live.Worker has it.
type Control interface {
	Load(ctx context.Context) (*live.State, error)
	Update(ctx context.Context, fn func(*live.State) (bool, error)) (*live.State, error)
	Storage() (live.Storage, time.Duration)
}

// Runner drives a worker's rollout on one node. Every node records, each
// poll interval, its own figures of the current step — one small document
// per node per step — and one node at a time, the holder of a lease kept
// in the storage, sums every node's figures and judges the step when it is
// due. If the holder dies its lease runs out after three poll intervals
// and another node takes over. The judgement and its deployment are one
// live.Worker.Update, which re-reads the rollout under the storage's lock
// and changes nothing when the step is no longer the one judged: even two
// nodes that both believe they hold the lease cannot take a step twice.
//
// The documents, beside the worker's state:
//
//	gradual/workers/<name>/rollout/lease.json                   {node, expires}
//	gradual/workers/<name>/rollout/<id>/<window>/<node>.json    a node's figures
type Runner struct {
	Worker string
	Node   string
	Ctl    Control
	// Totals returns this node's figures of a version since it started
	// serving it.
	Totals func(versionID string) stats.Totals
	Logger *zap.Logger
	// Observe, if set, is called with the rollout after each tick (nil
	// when the worker has none); RolledBack when this node rolled one
	// back.
	Observe    func(*State)
	RolledBack func(*State)

	mu   sync.Mutex
	base baseline
}

// baseline is this node's totals when it first saw a step.
type baseline struct {
	id             string
	window         int
	canary, stable stats.Totals
}

// record is one node's figures of one step.
type record struct {
	Node    string       `json:"node"`
	Canary  stats.Totals `json:"canary"`
	Stable  stats.Totals `json:"stable"`
	Updated time.Time    `json:"updated"`
}

type lease struct {
	Node    string    `json:"node"`
	Expires time.Time `json:"expires"`
}

const storageTimeout = 10 * time.Second

func (r *Runner) prefix() string { return "gradual/workers/" + r.Worker + "/rollout" }

func (r *Runner) windowKey(s *State) string {
	return path.Join(r.prefix(), s.ID, strconv.Itoa(s.Window))
}

// Run ticks every poll interval until ctx is done.
func (r *Runner) Run(ctx context.Context) {
	for {
		_, interval := r.Ctl.Storage()
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		r.Tick(ctx, time.Now())
	}
}

// Tick records this node's figures of the current step and, on the lease
// holder, judges the step when it is due or ends a rollout whose
// deployment was replaced by hand.
func (r *Runner) Tick(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	storage, interval := r.Ctl.Storage()
	if storage == nil {
		return
	}
	st, err := r.Ctl.Load(ctx)
	if err != nil {
		return // the control plane's poller reports storage failures
	}
	ro, err := Get(st)
	if r.Observe != nil && err == nil {
		r.Observe(ro)
	}
	if err != nil || ro == nil || ro.Status.Ended() {
		return
	}
	r.recordFigures(ctx, storage, ro, now)
	if !r.lead(ctx, storage, now, interval) {
		return
	}
	if following(st, ro) && !ro.Due(now) {
		return
	}
	canary, stable, fresh, err := r.sum(ctx, storage, ro, now, interval)
	if err != nil {
		r.Logger.Error("rollout: cannot read the fleet's figures", zap.Error(err))
		return
	}
	if following(st, ro) && !fresh {
		return // a node has not reported the end of the step yet
	}
	var decided *State
	_, err = r.Ctl.Update(ctx, func(st *live.State) (bool, error) {
		cur, err := Get(st)
		if err != nil || cur == nil || cur.ID != ro.ID || cur.Window != ro.Window || cur.Status != ro.Status {
			return false, err // another node decided meanwhile
		}
		if !following(st, cur) {
			cur.Superseded("the active deployment was changed outside the rollout")
			put(st, cur)
			decided = cur
			return true, nil
		}
		if !cur.Due(now) {
			return false, nil
		}
		c, ok := cur.Decide(now, canary.counts(), stable.counts())
		if ok {
			deploy(st, c, now)
		}
		put(st, cur)
		decided = cur
		return true, nil
	})
	if err != nil {
		r.Logger.Error("rollout: cannot record the step's decision", zap.Error(err))
		return
	}
	if decided == nil {
		return
	}
	switch decided.Status {
	case RolledBack:
		r.Logger.Warn("rollout: canary rolled back", zap.String("canary", decided.Canary),
			zap.String("stable", decided.Stable), zap.String("reason", decided.Reason))
		if r.RolledBack != nil {
			r.RolledBack(decided)
		}
	case Aborted:
		r.Logger.Warn("rollout ended", zap.String("canary", decided.Canary), zap.String("reason", decided.Reason))
	default:
		r.Logger.Info("rollout step", zap.String("canary", decided.Canary), zap.String("status", string(decided.Status)),
			zap.String("share", decided.Share().String()), zap.String("reason", decided.Last.Reason))
	}
	if decided.Window != ro.Window || decided.Status.Ended() {
		// The judged step's figures are no longer needed.
		_ = storage.Delete(ctx, r.windowKey(ro))
	}
}

// figures are summed totals with their p99.
type figures stats.Totals

func (f figures) counts() Counts {
	return Counts{Requests: f.Requests, Errors: f.Errors, P99: f.Latency.Quantile(0.99)}
}

// recordFigures writes this node's figures of ro's current step.
func (r *Runner) recordFigures(ctx context.Context, storage live.Storage, ro *State, now time.Time) {
	canary, stable := r.Totals(ro.Canary), r.Totals(ro.Stable)
	r.mu.Lock()
	if r.base.id != ro.ID || r.base.window != ro.Window {
		r.base = baseline{id: ro.ID, window: ro.Window, canary: canary, stable: stable}
	}
	b := r.base
	r.mu.Unlock()
	raw, _ := json.Marshal(record{Node: r.Node, Canary: canary.Sub(b.canary), Stable: stable.Sub(b.stable), Updated: now.UTC()})
	if err := storage.Store(ctx, path.Join(r.windowKey(ro), nodeFile(r.Node)), raw); err != nil {
		r.Logger.Debug("rollout: cannot record this node's figures", zap.Error(err))
	}
}

func nodeFile(node string) string {
	return strings.NewReplacer("/", "_", "\\", "_").Replace(node) + ".json"
}

// Figures sums every node's figures of ro's current step so far.
func Figures(ctx context.Context, storage live.Storage, worker string, ro *State, now time.Time) (canary, stable Counts, err error) {
	r := &Runner{Worker: worker}
	c, s, _, err := r.sum(ctx, storage, ro, now, 0)
	return c.counts(), s.counts(), err
}

// sum adds up every node's figures of ro's current step. fresh reports
// that every node which reported lately has reported since the step was
// due, so that the sum covers the whole step; a node silent for two poll
// intervals after that is taken as gone, its last figures counted.
func (r *Runner) sum(ctx context.Context, storage live.Storage, ro *State, now time.Time, interval time.Duration) (canary, stable figures, fresh bool, err error) {
	fresh = true
	keys, err := storage.List(ctx, r.windowKey(ro), false)
	if errors.Is(err, fs.ErrNotExist) {
		return canary, stable, fresh, nil
	}
	if err != nil {
		return canary, stable, false, err
	}
	waitUntil := ro.NextDecision.Add(2 * interval)
	var c, s stats.Totals
	for _, k := range keys {
		raw, err := storage.Load(ctx, k)
		if err != nil {
			continue // a node's record deleted meanwhile
		}
		var rec record
		if json.Unmarshal(raw, &rec) != nil {
			continue
		}
		c.Add(rec.Canary)
		s.Add(rec.Stable)
		if rec.Updated.Before(ro.NextDecision) && now.Before(waitUntil) {
			fresh = false
		}
	}
	return figures(c), figures(s), fresh, nil
}

// lead reports whether this node holds the decision lease, taking it when
// it is free or expired and renewing it when held. The lease lasts three
// poll intervals.
func (r *Runner) lead(ctx context.Context, storage live.Storage, now time.Time, interval time.Duration) bool {
	key := path.Join(r.prefix(), "lease.json")
	read := func() (lease, error) {
		raw, err := storage.Load(ctx, key)
		if errors.Is(err, fs.ErrNotExist) {
			return lease{}, nil
		}
		if err != nil {
			return lease{}, err
		}
		var l lease
		_ = json.Unmarshal(raw, &l) // a corrupt lease is a free one
		return l, nil
	}
	if l, err := read(); err != nil || l.Node != r.Node && now.Before(l.Expires) {
		return false // held by a live node (no need to lock), or no storage
	}
	lock := "gradual_rollout_" + r.Worker
	if err := storage.Lock(ctx, lock); err != nil {
		return false
	}
	defer func() { _ = storage.Unlock(context.WithoutCancel(ctx), lock) }()
	if l, err := read(); err != nil || l.Node != r.Node && now.Before(l.Expires) {
		return false
	}
	raw, _ := json.Marshal(lease{Node: r.Node, Expires: now.Add(3 * interval).UTC()})
	if err := storage.Store(ctx, key, raw); err != nil {
		r.Logger.Debug("rollout: cannot take the decision lease", zap.Error(err))
		return false
	}
	return true
}
