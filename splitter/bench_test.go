package splitter

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkPick measures a pick per request: keyed picks include hashing a
// UUID-sized key, keyless picks include drawing the random number.
func BenchmarkPick(b *testing.B) {
	// Distinct keys keep the branch predictor from learning one answer.
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fakeUUID(r)
	}
	deployments := []struct {
		name    string
		entries []Entry
	}{
		{"2", []Entry{{"stable", 9000}, {"canary", 1000}}},
		{"10", tenVersions},
	}
	for _, mode := range []string{"keyed", "keyless"} {
		for _, dep := range deployments {
			d := mustNew(b, dep.entries)
			b.Run(fmt.Sprintf("%s/%s", mode, dep.name), func(b *testing.B) {
				b.ReportAllocs()
				var sink int
				if mode == "keyed" {
					for i := 0; b.Loop(); i++ {
						sink += d.PickKey(keys[i%len(keys)])
					}
				} else {
					for b.Loop() {
						sink += d.PickRandom()
					}
				}
				if sink < 0 {
					b.Fatal("negative index")
				}
			})
		}
	}
}
