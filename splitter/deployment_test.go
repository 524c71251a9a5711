package splitter

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// numKeys is the number of keys the share properties are checked over.
const numKeys = 100_000

func TestNew(t *testing.T) {
	invalid := []struct {
		name    string
		entries []Entry
		wantErr string
	}{
		{"nil", nil, "a deployment needs at least one version"},
		{"empty", []Entry{}, "a deployment needs at least one version"},
		{"sum below", []Entry{{"a", 9000}, {"b", 500}}, "percentages add up to 95%, not 100%"},
		{"sum above", []Entry{{"a", 9000}, {"b", 1050}}, "percentages add up to 100.5%, not 100%"},
		{"all zero", []Entry{{"a", 0}, {"b", 0}}, "percentages add up to 0%, not 100%"},
		{"sum overflows a Weight", []Entry{{"a", math.MaxUint32}, {"b", 10001}}, "percentages add up to 42949772.96%, not 100%"},
		{"single below", []Entry{{"a", 9999}}, "percentages add up to 99.99%, not 100%"},
		{"duplicate", []Entry{{"a", 5000}, {"b", 0}, {"a", 5000}}, `version ID "a" appears more than once`},
		{"duplicate at 0%", []Entry{{"a", Total}, {"b", 0}, {"b", 0}}, `version ID "b" appears more than once`},
		{"empty ID", []Entry{{"", Total}}, `invalid version ID "": empty`},
		{"invalid ID", []Entry{{"a", 5000}, {"b c", 5000}}, `invalid version ID "b c"`},
		{"invalid ID at 0%", []Entry{{"a", Total}, {"b/c", 0}}, `invalid version ID "b/c"`},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(tc.entries)
			if err == nil {
				t.Fatalf("New(%v) = %v, want error", tc.entries, d)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New(%v) error %q, want it to contain %q", tc.entries, err, tc.wantErr)
			}
		})
	}

	valid := []struct {
		name    string
		entries []Entry
		want    []Entry
	}{
		{"single", []Entry{{"v1", Total}}, []Entry{{"v1", Total}}},
		{
			"sorted by ID",
			[]Entry{{"c", 2000}, {"a", 5000}, {"b", 3000}},
			[]Entry{{"a", 5000}, {"b", 3000}, {"c", 2000}},
		},
		{
			"0% kept",
			[]Entry{{"new", 0}, {"old", Total}},
			[]Entry{{"new", 0}, {"old", Total}},
		},
		{
			"byte order",
			[]Entry{{"b", 2500}, {"B", 2500}, {"a", 2500}, {"_", 2500}},
			[]Entry{{"B", 2500}, {"_", 2500}, {"a", 2500}, {"b", 2500}},
		},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.entries)
			d := mustNew(t, in)
			if !slices.Equal(in, tc.entries) {
				t.Errorf("New modified its argument: %v, was %v", in, tc.entries)
			}
			if d.Len() != len(tc.want) {
				t.Fatalf("Len() = %d, want %d", d.Len(), len(tc.want))
			}
			for i, want := range tc.want {
				if got := d.Entry(i); got != want {
					t.Errorf("Entry(%d) = %v, want %v", i, got, want)
				}
				if got := d.Index(want.ID); got != i {
					t.Errorf("Index(%q) = %d, want %d", want.ID, got, i)
				}
			}
			for _, id := range []string{"", "missing", "A", "zzz"} {
				if slices.ContainsFunc(tc.want, func(e Entry) bool { return e.ID == id }) {
					continue
				}
				if got := d.Index(id); got != -1 {
					t.Errorf("Index(%q) = %d, want -1", id, got)
				}
			}
		})
	}

	t.Run("later changes to the argument", func(t *testing.T) {
		in := []Entry{{"a", 5000}, {"b", 5000}}
		d := mustNew(t, in)
		in[0] = Entry{"z", 0}
		if got := d.Entry(0); got != (Entry{"a", 5000}) {
			t.Errorf("Entry(0) = %v after the argument changed, want {a 5000}", got)
		}
	})
}

// countPicks returns how many of keys each entry of d gets.
func countPicks(d *Deployment, keys []string) []int {
	counts := make([]int, d.Len())
	for _, k := range keys {
		counts[d.PickKey(k)]++
	}
	return counts
}

// checkShares fails t unless each entry's share of counts is within one
// percentage point of its weight, and entries at 0% got nothing.
func checkShares(t *testing.T, d *Deployment, counts []int) {
	t.Helper()
	total := 0
	for _, c := range counts {
		total += c
	}
	for i, c := range counts {
		e := d.Entry(i)
		share := 100 * float64(c) / float64(total)
		if math.Abs(share-e.Weight.Percent()) > 1 {
			t.Errorf("version %q got %.3f%% of picks, want %v ± 1 point", e.ID, share, e.Weight)
		}
		if e.Weight == 0 && c != 0 {
			t.Errorf("version %q at 0%% got %d picks", e.ID, c)
		}
	}
}

func TestPickKeyShares(t *testing.T) {
	random := testKeys(numKeys)
	sequential := make([]string, numKeys)
	for i := range sequential {
		sequential[i] = "user-" + strconv.Itoa(i)
	}
	deployments := []struct {
		name    string
		entries []Entry
	}{
		{"2 versions 90-10", []Entry{{"1f0e3c7a-v1", 9000}, {"9b2d44e1-v2", 1000}}},
		{"2 versions 50-50", []Entry{{"blue", 5000}, {"green", 5000}}},
		{"2 versions 99.5-0.5", []Entry{{"stable", 9950}, {"canary", 50}}},
		{"3 versions 50-30-20", []Entry{{"a", 5000}, {"b", 3000}, {"c", 2000}}},
		{"10 versions", tenVersions},
	}
	for _, dep := range deployments {
		d := mustNew(t, dep.entries)
		t.Run(dep.name+"/random keys", func(t *testing.T) {
			checkShares(t, d, countPicks(d, random))
		})
		t.Run(dep.name+"/sequential keys", func(t *testing.T) {
			checkShares(t, d, countPicks(d, sequential))
		})
	}
}

// pickIDs returns the ID that d picks for each key.
func pickIDs(d *Deployment, keys []string) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = d.Entry(d.PickKey(k)).ID
	}
	return ids
}

// TestPickKeyMoves checks which keys move when a deployment changes: only
// those that must.
func TestPickKeyMoves(t *testing.T) {
	keys := testKeys(numKeys)
	tests := []struct {
		name          string
		before, after []Entry
		// allowed reports whether a key may move from one version to
		// another.
		allowed func(from, to string) bool
		// movedPercent is the share of keys that must move: no more than
		// the change in percentages requires.
		movedPercent float64
	}{
		{
			name:         "raise canary 10% to 30%",
			before:       []Entry{{"stable", 9000}, {"canary", 1000}},
			after:        []Entry{{"stable", 7000}, {"canary", 3000}},
			allowed:      func(_, to string) bool { return to == "canary" },
			movedPercent: 20,
		},
		{
			name:         "raise canary among three 10% to 40%",
			before:       []Entry{{"a", 6000}, {"b", 3000}, {"canary", 1000}},
			after:        []Entry{{"a", 4000}, {"b", 2000}, {"canary", 4000}},
			allowed:      func(_, to string) bool { return to == "canary" },
			movedPercent: 30,
		},
		{
			name:         "raise canary 0% to 1%",
			before:       []Entry{{"stable", Total}, {"canary", 0}},
			after:        []Entry{{"stable", 9900}, {"canary", 100}},
			allowed:      func(_, to string) bool { return to == "canary" },
			movedPercent: 1,
		},
		{
			name:         "lower canary 30% to 10%",
			before:       []Entry{{"stable", 7000}, {"canary", 3000}},
			after:        []Entry{{"stable", 9000}, {"canary", 1000}},
			allowed:      func(from, _ string) bool { return from == "canary" },
			movedPercent: 20,
		},
		{
			name:         "add a version",
			before:       []Entry{{"a", 6000}, {"b", 4000}},
			after:        []Entry{{"a", 4500}, {"b", 3000}, {"new", 2500}},
			allowed:      func(_, to string) bool { return to == "new" },
			movedPercent: 25,
		},
		{
			name:         "add a version to ten",
			before:       tenVersions,
			after:        append(scaled(tenVersions, 1, 2), Entry{"new", 5000}),
			allowed:      func(_, to string) bool { return to == "new" },
			movedPercent: 50,
		},
		{
			name:         "remove a version",
			before:       []Entry{{"a", 4500}, {"b", 3000}, {"old", 2500}},
			after:        []Entry{{"a", 6000}, {"b", 4000}},
			allowed:      func(from, _ string) bool { return from == "old" },
			movedPercent: 25,
		},
		{
			name:         "remove a version at 0%",
			before:       []Entry{{"a", 6000}, {"b", 4000}, {"old", 0}},
			after:        []Entry{{"a", 6000}, {"b", 4000}},
			allowed:      func(_, _ string) bool { return false },
			movedPercent: 0,
		},
		{
			name:         "add a version at 0%",
			before:       tenVersions,
			after:        append(slices.Clone(tenVersions), Entry{"new", 0}),
			allowed:      func(_, _ string) bool { return false },
			movedPercent: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := pickIDs(mustNew(t, tc.before), keys)
			after := pickIDs(mustNew(t, tc.after), keys)
			moved, bad := 0, 0
			for i := range keys {
				if before[i] == after[i] {
					continue
				}
				moved++
				if !tc.allowed(before[i], after[i]) {
					if bad++; bad <= 5 {
						t.Errorf("key %q moved from %q to %q", keys[i], before[i], after[i])
					}
				}
			}
			if bad > 5 {
				t.Errorf("and %d more keys moved where they should not", bad-5)
			}
			if got := 100 * float64(moved) / float64(len(keys)); math.Abs(got-tc.movedPercent) > 1 {
				t.Errorf("%.3f%% of keys moved, want %v%% ± 1 point", got, tc.movedPercent)
			}
		})
	}
}

// scaled returns a copy of entries with every weight multiplied by num/den.
func scaled(entries []Entry, num, den Weight) []Entry {
	out := slices.Clone(entries)
	for i := range out {
		out[i].Weight = out[i].Weight * num / den
	}
	return out
}

func TestPickKeyOrderIndependent(t *testing.T) {
	keys := testKeys(numKeys)
	want := pickIDs(mustNew(t, tenVersions), keys)
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 5 {
		entries := slices.Clone(tenVersions)
		r.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			got := pickIDs(mustNew(t, entries), keys)
			for i := range keys {
				if got[i] != want[i] {
					t.Fatalf("with entries in order %v, key %q got %q, want %q", entries, keys[i], got[i], want[i])
				}
			}
		})
	}
}

func TestPickKeySingleVersion(t *testing.T) {
	d := mustNew(t, []Entry{{"a", 0}, {"only", Total}, {"z", 0}})
	for _, k := range append(testKeys(1000), "") {
		if got := d.PickKey(k); got != 1 {
			t.Fatalf("PickKey(%q) = %d, want 1", k, got)
		}
	}
}

// TestPickKeyGolden pins the mapping from keys to versions. Users rely on a
// key staying on its version across processes, machines and releases, so a
// failure here means a change to the hash that would move their users: undo
// it rather than update the expectations.
func TestPickKeyGolden(t *testing.T) {
	d := mustNew(t, []Entry{{"1f0e3c7a-v1", 5000}, {"9b2d44e1-v2", 3000}, {"c3d4e5f6-v3", 2000}})
	golden := []struct{ key, id string }{
		{"", "c3d4e5f6-v3"},
		{"a", "1f0e3c7a-v1"},
		{"alice", "1f0e3c7a-v1"},
		{"bob", "1f0e3c7a-v1"},
		{"carol", "1f0e3c7a-v1"},
		{"dave", "1f0e3c7a-v1"},
		{"erin", "c3d4e5f6-v3"},
		{"user-1", "9b2d44e1-v2"},
		{"user-2", "c3d4e5f6-v3"},
		{"user-42", "1f0e3c7a-v1"},
		{"session-abc", "1f0e3c7a-v1"},
		{"9b2d44e1-7c3f-4a55-b5a9-0e1f2d3c4b5a", "9b2d44e1-v2"},
		{"0f8fad5b-d9cb-469f-a165-70867728950e", "1f0e3c7a-v1"},
		{"7c9e6679-7425-40de-944e-e07fc1f90ae7", "1f0e3c7a-v1"},
	}
	for _, g := range golden {
		if got := d.Entry(d.PickKey(g.key)).ID; got != g.id {
			t.Errorf("PickKey(%q) picked %q, want %q", g.key, got, g.id)
		}
	}

	// A digest of many picks catches changes that the few keys above miss.
	h := fnv.New64a()
	for _, id := range pickIDs(mustNew(t, tenVersions), testKeys(10_000)) {
		h.Write([]byte(id))
	}
	if got, want := h.Sum64(), uint64(0xd64434d1c2677f0d); got != want {
		t.Errorf("digest of 10,000 picks = %#x, want %#x", got, want)
	}
}

func TestPickRandomShares(t *testing.T) {
	for _, entries := range [][]Entry{
		{{"stable", 9000}, {"canary", 1000}},
		{{"a", 5000}, {"b", 3000}, {"c", 2000}},
		tenVersions,
	} {
		d := mustNew(t, entries)
		t.Run(fmt.Sprint(d.Len()), func(t *testing.T) {
			counts := make([]int, d.Len())
			for range numKeys {
				counts[d.PickRandom()]++
			}
			checkShares(t, d, counts)
		})
	}
}

func TestPickUniform(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		r       uint32
		want    string
	}{
		{"first", []Entry{{"a", 0}, {"b", 2500}, {"c", 0}, {"d", 7500}}, 0, "b"},
		{"end of first", []Entry{{"a", 0}, {"b", 2500}, {"c", 0}, {"d", 7500}}, 2499, "b"},
		{"start of last", []Entry{{"a", 0}, {"b", 2500}, {"c", 0}, {"d", 7500}}, 2500, "d"},
		{"last", []Entry{{"a", 0}, {"b", 2500}, {"c", 0}, {"d", 7500}}, uint32(Total) - 1, "d"},
		{"Total wraps", []Entry{{"a", 0}, {"b", 2500}, {"c", 0}, {"d", 7500}}, uint32(Total), "b"},
		{"max wraps", []Entry{{"a", 0}, {"b", 2500}, {"c", 0}, {"d", 7500}}, math.MaxUint32, "d"}, // 4294967295 % 10000 = 7295
		{"0.01% first", []Entry{{"a", 1}, {"b", 9999}}, 0, "a"},
		{"0.01% after", []Entry{{"a", 1}, {"b", 9999}}, 1, "b"},
		{"0.01% last", []Entry{{"a", 9999}, {"b", 1}}, uint32(Total) - 1, "b"},
		{"before 0.01% last", []Entry{{"a", 9999}, {"b", 1}}, uint32(Total) - 2, "a"},
		{"middle start", []Entry{{"a", 1000}, {"b", 2000}, {"c", 7000}}, 1000, "b"},
		{"middle end", []Entry{{"a", 1000}, {"b", 2000}, {"c", 7000}}, 2999, "b"},
		{"after middle", []Entry{{"a", 1000}, {"b", 2000}, {"c", 7000}}, 3000, "c"},
		{"trailing 0%", []Entry{{"a", Total}, {"z", 0}}, uint32(Total) - 1, "a"},
		{"leading 0%", []Entry{{"a", 0}, {"z", Total}}, 0, "z"},
		{"input order ignored", []Entry{{"c", 7000}, {"b", 2000}, {"a", 1000}}, 999, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustNew(t, tc.entries)
			if got := d.Entry(d.PickUniform(tc.r)).ID; got != tc.want {
				t.Errorf("PickUniform(%d) = %q, want %q", tc.r, got, tc.want)
			}
		})
	}

	t.Run("every r", func(t *testing.T) {
		d := mustNew(t, tenVersions)
		counts := make([]int, d.Len())
		for r := range uint32(Total) {
			counts[d.PickUniform(r)]++
		}
		for i, c := range counts {
			if e := d.Entry(i); c != int(e.Weight) {
				t.Errorf("version %q got %d of %d values of r, want %d", e.ID, c, Total, e.Weight)
			}
		}
	})
}

func FuzzPickHash(f *testing.F) {
	f.Add(uint64(0), uint32(0), uint16(0), uint16(0))
	f.Add(uint64(math.MaxUint64), uint32(math.MaxUint32), uint16(9000), uint16(1000))
	f.Add(uint64(0x9e3779b97f4a7c15), uint32(9999), uint16(1), uint16(0))
	f.Fuzz(func(t *testing.T, h uint64, r uint32, a, b uint16) {
		// Spread Total over three versions, any of them possibly at 0%,
		// next to one that is always at 0%.
		wa := Weight(a) % (Total + 1)
		wb := Weight(b) % (Total + 1 - wa)
		d := mustNew(t, []Entry{{"a", wa}, {"b", wb}, {"c", Total - wa - wb}, {"zero", 0}})
		for name, i := range map[string]int{
			"PickHash":    d.PickHash(h),
			"PickUniform": d.PickUniform(r),
			"PickKey":     d.PickKey(strconv.FormatUint(h, 16)),
			"PickRandom":  d.PickRandom(),
		} {
			if i < 0 || i >= d.Len() {
				t.Fatalf("%s = %d, out of range", name, i)
			}
			if e := d.Entry(i); e.Weight == 0 {
				t.Fatalf("%s picked %q at 0%% in %v", name, e.ID, d.entries)
			}
		}
	})
}
