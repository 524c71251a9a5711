package splitter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Entry is one version of a deployment and its share of traffic.
type Entry struct {
	ID     string
	Weight Weight
}

// Deployment is an immutable split of traffic between versions; it is safe
// for concurrent use. Create it with New.
type Deployment struct {
	// entries holds every version, including those at 0%, sorted by ID.
	entries []Entry
	// live holds the versions with a non-zero weight, in ID order, so that
	// picks never consider a version at 0%.
	live []candidate
	// cum holds the cumulative weights of live: cum[j] is the sum of the
	// weights of live[0] to live[j], and the last element is Total.
	cum []uint32
}

// candidate is what PickHash needs of a version, precomputed in New.
type candidate struct {
	// seed is the xxhash64 of the ID: it depends on nothing but the ID, so
	// a key's score for a version is the same in every process.
	seed uint64
	// weight is the version's weight, widened for scoring.
	weight uint64
	// index is the position of the version in entries.
	index int
}

// New validates entries and builds a deployment from them. There must be at
// least one entry, every ID must be valid (see ValidateID) and appear once,
// and the weights must add up to exactly Total. Entries at 0% are kept: they
// can be looked up with Index but are never picked. New does not modify or
// keep entries.
func New(entries []Entry) (*Deployment, error) {
	if len(entries) == 0 {
		return nil, errors.New("a deployment needs at least one version")
	}
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b Entry) int { return strings.Compare(a.ID, b.ID) })
	// A uint64 sum cannot overflow, so a sum far above 100% is reported as
	// it is rather than wrapped around.
	var sum uint64
	for i, e := range sorted {
		if err := ValidateID(e.ID); err != nil {
			return nil, err
		}
		if i > 0 && sorted[i-1].ID == e.ID {
			return nil, fmt.Errorf("version ID %q appears more than once", e.ID)
		}
		sum += uint64(e.Weight)
	}
	if sum != uint64(Total) {
		return nil, fmt.Errorf("percentages add up to %s, not 100%%", formatHundredths(sum))
	}

	d := &Deployment{entries: sorted}
	var cum uint32
	for i, e := range sorted {
		if e.Weight == 0 {
			continue
		}
		cum += uint32(e.Weight)
		d.live = append(d.live, candidate{
			seed:   xxhash.Sum64String(e.ID),
			weight: uint64(e.Weight),
			index:  i,
		})
		d.cum = append(d.cum, cum)
	}
	return d, nil
}

// Len returns the number of versions in d, including those at 0%.
func (d *Deployment) Len() int {
	return len(d.entries)
}

// Entry returns the i-th version of d in ID order. It panics if i is out of
// range, like a slice index.
func (d *Deployment) Entry(i int) Entry {
	return d.entries[i]
}

// Index returns the position of the version id in ID order, or -1 when d has
// no such version.
func (d *Deployment) Index(id string) int {
	i, found := slices.BinarySearchFunc(d.entries, id, func(e Entry, id string) int {
		return strings.Compare(e.ID, id)
	})
	if !found {
		return -1
	}
	return i
}

// PickKey returns the index of the version that serves key: PickHash of the
// xxhash64 of key. The same key always gets the same version of the same
// deployment.
func (d *Deployment) PickKey(key string) int {
	if len(d.live) == 1 {
		// Nothing to choose from, so skip hashing the key.
		return d.live[0].index
	}
	return d.PickHash(xxhash.Sum64String(key))
}

// PickHash returns the index of the version that serves a key whose xxhash64
// is h, chosen with weighted rendezvous hashing: the version with the lowest
// score -log2(u)/weight wins, where u in (0, 1) is a mix of h and the hash of
// the version's ID. An exact tie goes to the lowest ID. Versions at 0% are
// never picked.
func (d *Deployment) PickHash(h uint64) int {
	live := d.live
	best := live[0]
	bestScore := expScore(fmix64(h ^ best.seed))
	for _, c := range live[1:] {
		s := expScore(fmix64(h ^ c.seed))
		// s/c.weight < bestScore/best.weight, exactly and without
		// division; the products stay under 2^60.
		if s*best.weight < bestScore*c.weight {
			best, bestScore = c, s
		}
	}
	return best.index
}

// PickRandom returns the index of a version drawn at random in proportion to
// the weights, for requests without a key. It uses the lock-free global
// generator of math/rand/v2, so concurrent calls do not contend.
func (d *Deployment) PickRandom() int {
	return d.PickUniform(rand.Uint32N(uint32(Total)))
}

// PickUniform maps r in [0, Total) to a version through the cumulative
// weights in ID order: the first version covers [0, w0), the next [w0,
// w0+w1), and so on, so versions at 0% cover nothing. Larger r is taken
// modulo Total. A uniformly random r picks each version with the probability
// of its percentage.
func (d *Deployment) PickUniform(r uint32) int {
	r %= uint32(Total)
	// A linear scan beats a binary search for the handful of versions a
	// deployment has. The last live version covers everything up to Total,
	// so it needs no comparison.
	last := len(d.cum) - 1
	for j, c := range d.cum[:last] {
		if r < c {
			return d.live[j].index
		}
	}
	return d.live[last].index
}
