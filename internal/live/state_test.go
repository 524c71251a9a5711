package live

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func dep(id string, entries ...Entry) Deployment {
	return Deployment{ID: id, Versions: entries}
}

func TestRollbackTarget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		history []Deployment
		want    string
		wantErr bool
	}{
		{"empty", nil, "", true},
		{"one", []Deployment{dep("d1", Entry{"a", 100})}, "", true},
		{"previous full", []Deployment{dep("d1", Entry{"a", 100}), dep("d2", Entry{"b", 100})}, "a", false},
		{"skips splits", []Deployment{dep("d1", Entry{"a", 100}), dep("d2", Entry{"a", 90}, Entry{"b", 10}), dep("d3", Entry{"b", 100})}, "a", false},
		{"skips the current version", []Deployment{dep("d1", Entry{"a", 100}), dep("d2", Entry{"b", 100}), dep("d3", Entry{"b", 100})}, "a", false},
		{"from a split", []Deployment{dep("d1", Entry{"a", 100}), dep("d2", Entry{"a", 50}, Entry{"b", 50})}, "a", false},
		{"only splits", []Deployment{dep("d1", Entry{"a", 50}, Entry{"b", 50}), dep("d2", Entry{"b", 100})}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &State{Deployments: tc.history}
			got, err := st.RollbackTarget()
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNoHistory) {
				t.Errorf("error %v is not ErrNoHistory", err)
			}
		})
	}
}

func uploads(n int) []Upload {
	out := make([]Upload, n)
	for i := range out {
		out[i] = Upload{ID: fmt.Sprintf("u%d", i)}
	}
	return out
}

func ids(us []Upload) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.ID
	}
	return out
}

func TestAddUploadEviction(t *testing.T) {
	for _, tc := range []struct {
		name        string
		have        int
		active      []Entry
		wantEvicted []string
		wantErr     bool
	}{
		{"room left", 3, nil, nil, false},
		{"full: the oldest goes", MaxUploads, nil, []string{"u0"}, false},
		{"the active ones stay", MaxUploads, []Entry{{"u0", 50}, {"u1", 50}}, []string{"u2"}, false},
		{"over the bound after a config change", MaxUploads + 2, nil, []string{"u0", "u1", "u2"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &State{Uploads: uploads(tc.have)}
			if tc.active != nil {
				st.Deploy(dep("d", tc.active...))
			}
			evicted, err := st.AddUpload(Upload{ID: "new"})
			if (err != nil) != tc.wantErr || !slices.Equal(ids(evicted), tc.wantEvicted) {
				t.Fatalf("evicted %v, %v; want %v", ids(evicted), err, tc.wantEvicted)
			}
			if len(st.Uploads) > MaxUploads || st.Uploads[len(st.Uploads)-1].ID != "new" {
				t.Errorf("uploads %v", ids(st.Uploads))
			}
		})
	}
	t.Run("all active", func(t *testing.T) {
		st := &State{Uploads: uploads(MaxUploads)}
		var entries []Entry
		for _, u := range st.Uploads {
			entries = append(entries, Entry{u.ID, 5})
		}
		st.Deploy(dep("d", entries...))
		var inv *InvalidError
		if _, err := st.AddUpload(Upload{ID: "new"}); !errors.As(err, &inv) {
			t.Errorf("got %v, want an *InvalidError", err)
		}
	})
}

func TestActiveConfigWins(t *testing.T) {
	cfg := []Entry{{"v1", 100}}
	st := &State{}
	if _, ok := st.Active(Key(cfg)); ok {
		t.Error("an empty state has an active deployment")
	}
	if !st.RecordConfig(cfg, t0) || st.RecordConfig(cfg, t0) {
		t.Error("RecordConfig records once per config deploy")
	}
	st.Deploy(dep("api", Entry{"v2", 100}))
	for _, tc := range []struct {
		name   string
		config []Entry
		wantOK bool
	}{
		{"same config: the history wins", cfg, true},
		{"same config in another order and form", []Entry{{"v1", 100.00}}, true},
		{"edited config: the config wins", []Entry{{"v1", 50}, {"v2", 50}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := st.Active(Key(tc.config))
			if ok != tc.wantOK || ok && d.ID != "api" {
				t.Errorf("Active = %v, %v", d.ID, ok)
			}
		})
	}
	if Key([]Entry{{"b", 10}, {"a", 90}}) != "a@90% b@10%" {
		t.Errorf("Key %q", Key([]Entry{{"b", 10}, {"a", 90}}))
	}
}

func TestSplitValidation(t *testing.T) {
	known := []string{"v1", "v2"}
	for _, tc := range []struct {
		name    string
		entries []Entry
		ok      bool
	}{
		{"whole", []Entry{{"v1", 100}}, true},
		{"split", []Entry{{"v1", 90}, {"v2", 10}}, true},
		{"zero share", []Entry{{"v1", 100}, {"v2", 0}}, true},
		{"empty", nil, false},
		{"unknown", []Entry{{"v3", 100}}, false},
		{"not 100", []Entry{{"v1", 90}}, false},
		{"three decimals", []Entry{{"v1", 99.999}, {"v2", 0.001}}, false},
		{"twice", []Entry{{"v1", 50}, {"v1", 50}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Split(known, tc.entries)
			var inv *InvalidError
			if (err == nil) != tc.ok || err != nil && !errors.As(err, &inv) {
				t.Errorf("Split: %v", err)
			}
		})
	}
}

func TestHistoryBound(t *testing.T) {
	st := &State{}
	for i := range MaxDeployments + 5 {
		st.Deploy(dep(fmt.Sprint(i), Entry{"v1", 100}))
	}
	if len(st.Deployments) != MaxDeployments || st.Deployments[0].ID != "5" {
		t.Errorf("history of %d from %s", len(st.Deployments), st.Deployments[0].ID)
	}
}

// TestLegacyDocument: a document from before scripts were stored apart, or
// with a revision counter at its limit, is read and replaced normally.
func TestLegacyDocument(t *testing.T) {
	m, a := newMem(), newApplier("v1")
	key := store{name: "shop"}.stateKey()
	m.data[key] = []byte(`{"revision":9223372036854775807,"config_deploy":"v1@100%","versions":[{"id":"u1","script":"x"}],"deployments":[{"id":"d1","versions":[{"version_id":"v1","percentage":100}]}]}`)
	w := attach(t, m, a)
	mustServe(t, a, "d1")
	if _, err := deploy(t, w, a, Entry{"u1", 100}); err != nil {
		t.Fatal(err)
	}
	st, _ := w.Load(t.Context())
	if s, err := st.Script(st.Uploads[0]); err != nil || s != "x" || st.Uploads[0].ScriptHash == "" {
		t.Errorf("legacy script %q %v %+v", s, err, st.Uploads[0])
	}
}

func TestUploadEnv(t *testing.T) {
	vars := map[string]string{"A": "1"}
	if u := (Upload{Vars: vars}); !maps.Equal(u.Env(), vars) {
		t.Errorf("vars only: %v", u.Env())
	}
	u := Upload{Vars: vars, Secrets: map[string]string{"KEY": "s"}}
	if env := u.Env(); !maps.Equal(env, map[string]string{"A": "1", "KEY": "s"}) || len(vars) != 1 {
		t.Errorf("vars and secrets: %v (vars now %v)", env, vars)
	}
	u = Upload{Secrets: map[string]string{"KEY": "s"}}
	if env := u.Env(); env["KEY"] != "s" {
		t.Errorf("secrets only: %v", env)
	}
}
