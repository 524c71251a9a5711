package splitter

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// tenVersions is an uneven deployment with a version at 0% and one at 0.5%.
var tenVersions = []Entry{
	{"v00", 0},
	{"v01", 50},
	{"v02", 150},
	{"v03", 300},
	{"v04", 500},
	{"v05", 800},
	{"v06", 1200},
	{"v07", 1500},
	{"v08", 2000},
	{"v09", 3500},
}

func mustNew(tb testing.TB, entries []Entry) *Deployment {
	tb.Helper()
	d, err := New(entries)
	if err != nil {
		tb.Fatalf("New(%v): %v", entries, err)
	}
	return d
}

// fakeUUID returns a 36-byte key shaped like a UUID, the usual size of a
// session or version key.
func fakeUUID(r *rand.Rand) string {
	var raw [16]byte
	for i := range raw {
		raw[i] = byte(r.Uint32())
	}
	var b [36]byte
	hex.Encode(b[0:8], raw[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], raw[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], raw[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], raw[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], raw[10:16])
	return string(b[:])
}

// testKeys returns n reproducible random keys.
func testKeys(n int) []string {
	r := rand.New(rand.NewPCG(0x5eed, 0xcafe))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fakeUUID(r)
	}
	return keys
}
