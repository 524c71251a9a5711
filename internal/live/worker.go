package live

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

const (
	// DefaultPollInterval is how often a node reads the stored state.
	DefaultPollInterval = 2 * time.Second
	// maxBackoff bounds the wait between retries of a failing storage.
	maxBackoff = 30 * time.Second
	// goneAfter is how many poll intervals without a heartbeat make a
	// node gone in the fleet view.
	goneAfter = 3
	// forgetAfter is how long a gone node stays in the fleet view.
	forgetAfter = time.Hour
	// storageTimeout bounds one storage operation.
	storageTimeout = 10 * time.Second
)

// now is the Worker's clock; tests replace it.
var now = time.Now

// Applier is a provisioned handler serving the worker. The Worker never
// holds a lock of its own while it calls one.
type Applier interface {
	// ConfigDeploy is the deployment of the handler's config.
	ConfigDeploy() []Entry
	// Prepare loads what st's active deployment needs and fails when a
	// version in it does not load on this node. Apply reuses what it
	// loaded.
	Prepare(ctx context.Context, st *State) error
	// Apply installs st, unless the Applier already applied a state of a
	// higher Seq. It returns the ID of the deployment it serves
	// afterwards; when it fails it keeps serving what it served before.
	Apply(ctx context.Context, st *State) (serving string, err error)
}

// Worker is the control plane of one worker on this node: it validates,
// stores and applies changes, polls for those other nodes make, and
// records this node's heartbeat. caddymodule keeps one per worker name in
// a caddy.UsagePool.
type Worker struct {
	name   string
	node   string
	logger *zap.Logger

	// mu guards the fields below. It is never held during storage I/O,
	// loading or Apply, so it orders nothing but these fields.
	mu         sync.Mutex
	storage    Storage
	interval   time.Duration
	appliers   []Applier // in attach order: the last is the newest config's
	unrecorded Applier   // an attached Applier whose config is not recorded yet
	seq        uint64    // local order of reads and writes; one per storage round trip, so it cannot wrap
	appliedSeq uint64
	applied    string // Change last applied by the newest Applier
	serving    string
	since      time.Time
	lastErr    string
	failures   int // consecutive failed polls
	failedOn   string
	retryAt    time.Time
	cancel     context.CancelFunc
	done       chan struct{}
}

// NewWorker returns the control plane of the named worker for this node.
func NewWorker(name, node string, logger *zap.Logger) *Worker {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Worker{name: name, node: node, logger: logger.With(zap.String("worker", name)), interval: DefaultPollInterval}
}

func (w *Worker) store() (store, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return store{s: w.storage, name: w.name}, w.storage != nil
}

func (w *Worker) newest() Applier {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.appliers) == 0 {
		return nil
	}
	return w.appliers[len(w.appliers)-1]
}

// Newest returns the Applier of the most recently attached config.
func (w *Worker) Newest() Applier { return w.newest() }

func (w *Worker) nextSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return w.seq
}

// Attach registers a, then reads the state and applies it: a change made
// after the read reaches a with a higher Seq, so none can fall between the
// two. a must serve its config's deployment before it is attached. storage
// and interval (0 for the default) become the Worker's: the newest
// config's win. The poller starts with the first Attach. An error means
// the stored state could not be read or applied: a serves its config, the
// failure is in the fleet view, and the poller keeps trying.
func (w *Worker) Attach(ctx context.Context, a Applier, storage Storage, interval time.Duration) (detach func(), err error) {
	w.mu.Lock()
	w.appliers = append(w.appliers, a)
	w.unrecorded = a
	w.storage = storage
	w.interval = cmpOr(interval, DefaultPollInterval)
	if w.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		w.cancel, w.done = cancel, make(chan struct{})
		go w.run(ctx)
	}
	w.seq++
	seq := w.seq
	w.mu.Unlock()
	detach = func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.appliers = slices.DeleteFunc(w.appliers, func(o Applier) bool { return o == a })
		if w.unrecorded == a {
			w.unrecorded = nil
		}
	}
	if storage == nil {
		return detach, ErrNoStorage
	}
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	st, err := store{s: storage, name: w.name}.load(ctx)
	if err != nil {
		w.report(err)
		return detach, err
	}
	st.Seq = seq
	return detach, w.apply(ctx, st)
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Close stops the poller and waits for it; the Worker is gone.
func (w *Worker) Close() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.cancel = nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Load reads the stored state.
func (w *Worker) Load(ctx context.Context) (*State, error) {
	s, ok := w.store()
	if !ok {
		return nil, ErrNoStorage
	}
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	return s.load(ctx)
}

// Update changes the stored state: it locks the storage, loads the state,
// records the newest config's deployment when it changed, lets fn change
// the state (fn reports whether it did), validates the result by having
// the newest Applier load its active deployment, stores it, unlocks, and
// only then applies it to every Applier. It returns once this node serves
// the change, or an error: nothing is stored when fn or the validation
// fails, and a *NotAppliedError tells a stored change this node failed to
// apply. fn may run twice: the first run, before the lock, lets Prepare
// compile what the change needs outside the lock.
func (w *Worker) Update(ctx context.Context, fn func(*State) (bool, error)) (*State, error) {
	s, ok := w.store()
	if !ok {
		return nil, ErrNoStorage
	}
	a := w.newest()
	if a == nil {
		return nil, ErrNotLoaded
	}
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	if cur, err := s.load(ctx); err == nil {
		next := cur.Clone()
		next.RecordConfig(a.ConfigDeploy(), now())
		if _, err := fn(next); err == nil {
			_ = a.Prepare(ctx, next)
		}
	}

	if err := s.s.Lock(ctx, s.lockName()); err != nil {
		return nil, fmt.Errorf("%w: locking the live state: %w", ErrStorage, err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			if err := s.s.Unlock(context.WithoutCancel(ctx), s.lockName()); err != nil {
				w.logger.Error("unlocking the live state", zap.Error(err))
			}
		}
	}
	defer unlock()
	cur, err := s.load(ctx)
	if errors.Is(err, ErrCorrupt) {
		w.logger.Warn("replacing the corrupt live state", zap.Error(err))
		cur = s.bind(new(State))
	} else if err != nil {
		return nil, err
	}
	next := cur.Clone()
	recorded := next.RecordConfig(a.ConfigDeploy(), now())
	changed, err := fn(next)
	if err != nil {
		return nil, err
	}
	if !recorded && !changed {
		w.markRecorded(a)
		return cur, nil
	}
	if err := a.Prepare(ctx, next); err != nil {
		var inv *InvalidError
		if !errors.As(err, &inv) {
			err = &InvalidError{err}
		}
		return nil, err
	}
	next.Change = uuid.NewString()
	if err := s.save(ctx, cur, next); err != nil {
		return nil, err
	}
	unlock()
	w.markRecorded(a)
	next.Seq = w.nextSeq()
	if err := w.apply(ctx, next); err != nil {
		return next, &NotAppliedError{err}
	}
	return next, nil
}

// markRecorded notes that a's config deployment is in the stored state.
func (w *Worker) markRecorded(a Applier) {
	w.mu.Lock()
	if w.unrecorded == a {
		w.unrecorded = nil
	}
	w.mu.Unlock()
}

// apply hands st to every Applier and records what the newest one serves.
// It returns the newest Applier's error.
func (w *Worker) apply(ctx context.Context, st *State) error {
	w.mu.Lock()
	appliers := slices.Clone(w.appliers)
	w.mu.Unlock()
	var newestErr error
	var serving string
	for i, a := range appliers {
		id, err := a.Apply(ctx, st)
		if i == len(appliers)-1 {
			serving, newestErr = id, err
		}
		if err != nil {
			w.logger.Error("cannot apply the live state; serving what was served before",
				zap.String("change", st.Change), zap.Error(err))
		}
	}
	if len(appliers) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if st.Seq < w.appliedSeq {
		return newestErr // a later state was applied meanwhile
	}
	w.appliedSeq = st.Seq
	if serving != w.serving || w.since.IsZero() {
		w.serving, w.since = serving, now().UTC()
	}
	if newestErr != nil {
		w.lastErr = newestErr.Error()
		w.failedOn = st.Change
		return newestErr
	}
	w.applied, w.failedOn, w.lastErr = st.Change, "", ""
	return nil
}

// report records a failure for the fleet view.
func (w *Worker) report(err error) {
	w.mu.Lock()
	w.lastErr = err.Error()
	w.mu.Unlock()
}

// run polls until ctx is done. It starts even when the first read failed,
// and waits longer between tries while the storage keeps failing.
func (w *Worker) run(ctx context.Context) {
	defer close(w.done)
	w.mu.Lock()
	t := time.NewTimer(w.interval)
	w.mu.Unlock()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(w.Poll(ctx))
	}
}

// Poll reads the stored state once, applies it when it changed, records
// the newest config's deployment the first time, and writes this node's
// heartbeat. It returns how long to wait before the next poll.
func (w *Worker) Poll(ctx context.Context) time.Duration {
	s, ok := w.store()
	w.mu.Lock()
	interval, unrecorded := w.interval, w.unrecorded
	w.mu.Unlock()
	if !ok {
		return interval
	}
	seq := w.nextSeq() // before the read: a change stored after it has a higher Seq
	rctx, cancel := context.WithTimeout(ctx, storageTimeout)
	st, err := s.load(rctx)
	cancel()
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return w.failed(ctx, s, err)
	}
	w.recovered()
	if err == nil && unrecorded != nil && unrecorded == w.newest() {
		// The first poll after a config is loaded records its deployment;
		// provisioning writes nothing, so `caddy validate` cannot change
		// what the fleet serves.
		if _, uerr := w.Update(ctx, func(*State) (bool, error) { return false, nil }); uerr != nil {
			w.logger.Error("cannot record the config's deployment", zap.Error(uerr))
			w.report(uerr)
		}
	}
	if err != nil {
		// The storage answers but the document is unreadable: serve what
		// was served, say so, and let the next change replace it.
		w.logger.Error("cannot read the live state; serving what was served before", zap.Error(err))
		w.report(err)
	} else {
		w.mu.Lock()
		skip := st.Change == w.applied && w.appliedSeq > 0 && w.failedOn == "" ||
			st.Change == w.failedOn && now().Before(w.retryAt)
		w.mu.Unlock()
		if !skip {
			st.Seq = seq
			if err := w.apply(ctx, st); err != nil {
				w.mu.Lock()
				w.retryAt = now().Add(backoff(interval, w.failures+1))
				w.mu.Unlock()
			}
		}
	}
	w.heartbeat(ctx, s)
	return interval
}

func backoff(interval time.Duration, failures int) time.Duration {
	d := interval
	for range min(failures, 16) {
		d *= 2
	}
	return min(d, max(maxBackoff, interval))
}

// failed logs a failed read, once per failure, and backs off.
func (w *Worker) failed(ctx context.Context, s store, err error) time.Duration {
	w.mu.Lock()
	w.failures++
	w.lastErr = err.Error()
	d := backoff(w.interval, w.failures)
	n := w.failures
	w.mu.Unlock()
	w.logger.Error("live deployments: cannot read the storage; serving what was served before",
		zap.Error(err), zap.Int("failures", n), zap.Duration("retry_in", d))
	w.heartbeat(ctx, s)
	return d
}

// recovered logs the end of a run of failed reads.
func (w *Worker) recovered() {
	w.mu.Lock()
	n := w.failures
	w.failures = 0
	if n > 0 {
		w.lastErr = ""
	}
	w.mu.Unlock()
	if n > 0 {
		w.logger.Info("live deployments: the storage answers again", zap.Int("failures", n))
	}
}

// heartbeat records this node in the fleet view.
func (w *Worker) heartbeat(ctx context.Context, s store) {
	w.mu.Lock()
	n := Node{ID: w.node, Deployment: w.serving, Since: w.since, LastError: w.lastErr, LastSeen: now().UTC()}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	if err := s.putNode(ctx, n); err != nil {
		w.logger.Debug("cannot write this node's heartbeat", zap.Error(err))
	}
}

// Nodes returns the fleet view: every node's heartbeat, with those not
// seen for 3 poll intervals marked gone. Nodes gone for an hour are
// forgotten.
func (w *Worker) Nodes(ctx context.Context) ([]Node, error) {
	s, ok := w.store()
	if !ok {
		return nil, ErrNoStorage
	}
	w.mu.Lock()
	interval := w.interval
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, storageTimeout)
	defer cancel()
	nodes, err := s.nodes(ctx)
	if err != nil {
		return nil, err
	}
	t := now()
	out := nodes[:0]
	for _, n := range nodes {
		age := t.Sub(n.LastSeen)
		if age > forgetAfter {
			_ = s.s.Delete(ctx, s.nodeKey(n.ID))
			continue
		}
		n.Gone = age > goneAfter*interval
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Node) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// Storage returns the storage of the newest config (nil when it has none)
// and the poll interval.
func (w *Worker) Storage() (Storage, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.storage, w.interval
}

// Serving returns the deployment this node serves, and its last error.
func (w *Worker) Serving() (deployment, lastErr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.serving, w.lastErr
}
