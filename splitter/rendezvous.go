package splitter

import "math/bits"

// Scores are -log2(u) for a number u in (0, 1), in unsigned fixed point with
// fracBits fractional bits. Base 2 instead of e changes every score by the
// same factor, so it picks the same versions. Integers instead of floats make
// every pick bit-for-bit identical on every architecture: math.Log may differ
// in the last bit between platforms, and compilers may fuse floating-point
// operations differently, which would flip the rare near-ties.
const (
	// fracBits keeps scores (at most 64) times weights (at most Total, under
	// 2^14) within a uint64: 2^(6+40+14) = 2^60.
	fracBits = 40
	// tableBits is how many leading bits of the mantissa index log2Table.
	// Linear interpolation between 2^8 points is off by less than 3e-6,
	// which shifts any version's share of keys by far less than a
	// thousandth of a percentage point, and the table fits in 2 KiB.
	tableBits = 8
	// interpBits is how many of the following mantissa bits interpolate
	// between two table entries; entries differ by less than 2^33, so the
	// product stays under 2^57.
	interpBits = 24
)

// log2Table holds log2(1 + i/2^tableBits) in fixed point, for i from 0 to
// 2^tableBits inclusive.
var log2Table = makeLog2Table()

func makeLog2Table() *[1<<tableBits + 1]uint64 {
	var t [1<<tableBits + 1]uint64
	for i := range 1 << tableBits {
		t[i] = log2Mantissa(uint64(1<<tableBits+i) << (63 - tableBits))
	}
	t[1<<tableBits] = 1 << fracBits
	return &t
}

// log2Mantissa returns log2(m / 2^63) in fixed point for m in [2^63, 2^64),
// that is the logarithm of a mantissa f in [1, 2). It squares f once per
// bit: when f² reaches 2, the next bit of log2(f) is 1 and f² is halved.
// Integer arithmetic makes the table the same on every platform.
func log2Mantissa(m uint64) uint64 {
	var r uint64
	for bit := uint64(1) << (fracBits - 1); bit != 0; bit >>= 1 {
		// m² = f²·2^126, so hi = f²·2^62: f²/2 in the scale of m.
		hi, lo := bits.Mul64(m, m)
		if hi>>63 != 0 {
			r |= bit
			m = hi
		} else {
			m = hi<<1 | lo>>63
		}
	}
	return r
}

// expScore returns -log2(u) in fixed point for u = (x|1) / 2^64, a number
// in (0, 1). For a uniformly random x it is exponentially distributed (with
// rate ln 2), which is what makes weighted rendezvous hashing split keys by
// weight. Setting the lowest bit keeps u away from 0 and costs nothing
// measurable in uniformity. The result is always at least 1.
func expScore(x uint64) uint64 {
	x |= 1
	n := bits.LeadingZeros64(x)
	// x = 2^(63-n)·f with f in [1, 2), so -log2(u) = n + 1 - log2(f).
	// Shifting out the leading one leaves the fraction of f.
	m := x << n << 1
	i := m >> (64 - tableBits)
	t := m << tableBits >> (64 - interpBits)
	lo, hi := log2Table[i], log2Table[i+1]
	return uint64(n+1)<<fracBits - (lo + (hi-lo)*t>>interpBits)
}

// fmix64 is the 64-bit finaliser of MurmurHash3: a bijection in which every
// input bit affects every output bit. It is part of the pinned hash, so
// changing it moves keys between versions across releases.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb93fe53a87ad
	k ^= k >> 33
	return k
}
