package splitter

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fixedOne is 1.0 in the fixed point of scores.
const fixedOne = 1 << fracBits

func TestLog2Table(t *testing.T) {
	for i, got := range log2Table {
		want := math.Log2(1+float64(i)/(1<<tableBits)) * fixedOne
		// A few units in the last place: the squaring method truncates.
		if math.Abs(float64(got)-want) > 4 {
			t.Errorf("log2Table[%d] = %d, want %.1f", i, got, want)
		}
		if i > 0 && got <= log2Table[i-1] {
			t.Errorf("log2Table[%d] = %d, not above log2Table[%d] = %d", i, got, i-1, log2Table[i-1])
		}
	}
}

func TestExpScore(t *testing.T) {
	xs := []uint64{0, 1, 2, 3, 1 << 32, 1<<63 - 1, 1 << 63, 1<<63 + 1, 3 << 62, math.MaxUint64 - 1, math.MaxUint64}
	r := rand.New(rand.NewPCG(5, 6))
	for range 100_000 {
		xs = append(xs, r.Uint64(), r.Uint64()>>r.UintN(64))
	}
	for _, x := range xs {
		got := expScore(x)
		u := float64(x|1) / (1 << 64)
		want := -math.Log2(u) * fixedOne
		// Linear interpolation between table entries is off by less
		// than 3e-6.
		if math.Abs(float64(got)-want) > 3e-6*fixedOne {
			t.Fatalf("expScore(%#x) = %d (%.9f), want %.9f", x, got, float64(got)/fixedOne, want/fixedOne)
		}
		if got < 1 || got > 64*fixedOne {
			t.Fatalf("expScore(%#x) = %d, outside [1, 64<<%d]", x, got, fracBits)
		}
	}
	// Scores must not rise with u, or a larger u could win. These runs
	// cross powers of two and boundaries between table entries.
	for _, x := range []uint64{1 << 10, 1<<63 - 1<<19, 1<<63 + 1<<55 - 1<<19, 1<<64 - 1<<20} {
		prev := expScore(x)
		for d := range uint64(1 << 16) {
			s := expScore(x + d<<4)
			if s > prev {
				t.Fatalf("expScore(%#x) = %d, above expScore of a smaller value, %d", x+d<<4, s, prev)
			}
			prev = s
		}
	}
}

func TestFmix64(t *testing.T) {
	// Pinned, because picks depend on it across releases.
	tests := []struct{ in, want uint64 }{
		{0, 0},
		{1, 0xff0e577beb648913},
		{0x9e3779b97f4a7c15, 0x7670a104ebb94aec},
	}
	for _, tc := range tests {
		if got := fmix64(tc.in); got != tc.want {
			t.Errorf("fmix64(%#x) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}
