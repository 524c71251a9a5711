package live

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every goroutine stops. certmagic's file lock keeps
// a goroutine per lock that notices the unlock only on its next tick.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.keepLockfileFresh"),
		// Idle task goroutines wait for the next task (workerhost.runTask).
		goleak.IgnoreTopFunction("github.com/caddy-gradual/gradual/workerhost.taskRunner"))
}

// memStorage is a Storage in memory that can fail, lose its data, be
// restored from a copy, and pause a read.
type memStorage struct {
	lock sync.Mutex // the storage lock

	mu    sync.Mutex
	data  map[string][]byte
	down  error
	loads int
	// onLoad, when set, runs once after a read of key and before it
	// returns, to inject an ordering.
	onLoad    func()
	onLoadKey string
}

func newMem() *memStorage { return &memStorage{data: map[string][]byte{}} }

func (m *memStorage) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.down
}

func (m *memStorage) setDown(err error) { m.mu.Lock(); m.down = err; m.mu.Unlock() }

func (m *memStorage) Lock(ctx context.Context, _ string) error {
	if err := m.err(); err != nil {
		return err
	}
	m.lock.Lock()
	return nil
}

func (m *memStorage) Unlock(context.Context, string) error { m.lock.Unlock(); return nil }

func (m *memStorage) Store(_ context.Context, key string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down != nil {
		return m.down
	}
	m.data[key] = slices.Clone(v)
	return nil
}

func (m *memStorage) Load(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	if m.down != nil {
		m.mu.Unlock()
		return nil, m.down
	}
	m.loads++
	v, ok := m.data[key]
	var hook func()
	if m.onLoad != nil && key == m.onLoadKey {
		hook, m.onLoad = m.onLoad, nil
	}
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	if !ok {
		return nil, fs.ErrNotExist
	}
	return v, nil
}

func (m *memStorage) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, key)
	return nil
}

func (m *memStorage) List(_ context.Context, prefix string, _ bool) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.data {
		if strings.HasPrefix(k, prefix+"/") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *memStorage) snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.data)
}

func (m *memStorage) restore(data map[string][]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = maps.Clone(data)
	if m.data == nil {
		m.data = map[string][]byte{}
	}
}

// fakeApplier is a handler: config versions, and versions that fail to
// load on this node.
type fakeApplier struct {
	config []Entry
	known  []string

	mu      sync.Mutex
	fail    map[string]bool
	seq     uint64
	serving string
	applies int
}

func newApplier(known ...string) *fakeApplier {
	return &fakeApplier{config: []Entry{{known[0], 100}}, known: known, fail: map[string]bool{}, serving: "config"}
}

func (f *fakeApplier) ConfigDeploy() []Entry { return f.config }

func (f *fakeApplier) active(st *State) (string, []Entry) {
	if d, ok := st.Active(Key(f.config)); ok {
		return d.ID, d.Versions
	}
	return "config", f.config
}

func (f *fakeApplier) Prepare(_ context.Context, st *State) error {
	known := slices.Clone(f.known)
	for _, u := range st.Uploads {
		known = append(known, u.ID)
	}
	_, entries := f.active(st)
	if _, err := Split(known, entries); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range entries {
		if f.fail[e.VersionID] {
			return fmt.Errorf("version %s does not load", e.VersionID)
		}
	}
	return nil
}

func (f *fakeApplier) Apply(ctx context.Context, st *State) (string, error) {
	err := f.Prepare(ctx, st)
	f.mu.Lock()
	defer f.mu.Unlock()
	if st.Seq <= f.seq {
		return f.serving, nil
	}
	if err != nil {
		return f.serving, err
	}
	f.seq = st.Seq
	f.serving, _ = f.active(st)
	f.applies++
	return f.serving, nil
}

func (f *fakeApplier) state() (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.serving, f.applies
}

// deploy makes a deployment of entries through w and checks that a
// success means a serves it.
func deploy(t *testing.T, w *Worker, a *fakeApplier, entries ...Entry) (Deployment, error) {
	t.Helper()
	var d Deployment
	_, err := w.Update(context.Background(), func(st *State) (bool, error) {
		d = NewDeployment(SourceAPI, entries, "", now())
		st.Deploy(d)
		return true, nil
	})
	if serving, _ := a.state(); err == nil && serving != d.ID {
		t.Fatalf("Update succeeded but the node serves %s, not %s", serving, d.ID)
	}
	return d, err
}

func mustServe(t *testing.T, a *fakeApplier, want string) {
	t.Helper()
	if got, _ := a.state(); got != want {
		t.Fatalf("serving %s, want %s", got, want)
	}
}

var errDown = errors.New("storage down")
