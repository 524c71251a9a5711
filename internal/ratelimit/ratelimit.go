// Package ratelimit counts calls per key in fixed windows aligned to the
// clock, the model of Cloudflare's rate-limiting binding
// (env.NAME.limit({key})).
//
// A window of period p starts at every multiple of p since the Unix epoch
// (10:00:00, 10:00:10, ... for 10 seconds), so every process on every
// machine agrees on where windows begin, and a key's count starts again
// from zero at each boundary. A call that would exceed the limit is
// refused and not counted.
//
// Counters live in memory, in a bounded LRU: a Limiter keeps at most
// about MaxKeys keys (rounded up to a multiple of its shard count), and
// when it is full the key used least recently (within its shard) is
// forgotten. An evicted key starts a fresh window the next time it is
// seen, so under a flood of distinct keys a client may get more than its
// limit; the bound caps the memory instead. Keys longer than MaxKeyBytes
// are kept as their SHA-256, which bounds each key's memory too. The
// package imports nothing of Caddy.
package ratelimit

import (
	"crypto/sha256"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Period is the length of a window. Cloudflare offers exactly two.
type Period int

// The periods a limiter supports.
const (
	TenSeconds Period = 10
	Minute     Period = 60
)

// Valid reports whether p is TenSeconds or Minute.
func (p Period) Valid() bool { return p == TenSeconds || p == Minute }

// Duration returns p as a time.Duration.
func (p Period) Duration() time.Duration { return time.Duration(p) * time.Second }

// PeriodOf returns the Period of d, if d is 10s or 60s.
func PeriodOf(d time.Duration) (Period, bool) {
	p := Period(d / time.Second)
	return p, p.Valid() && p.Duration() == d
}

// slot is where a counter keeps the window of p.
func (p Period) slot() int {
	if p == Minute {
		return 1
	}
	return 0
}

// DefaultMaxKeys is the bound on the keys a Limiter remembers when
// Options.MaxKeys is 0: 65,536 keys, a few MiB at most.
const DefaultMaxKeys = 1 << 16

// shards splits the keys so that concurrent calls for different keys
// rarely wait on the same lock.
const shards = 16

// Options configures a Limiter.
type Options struct {
	// MaxKeys bounds the keys remembered (see the package doc).
	// Default DefaultMaxKeys.
	MaxKeys int
	// Now is the clock. Default: the system clock (see Limiter.unixNano).
	Now func() time.Time
}

// Limiter counts calls per key. It is safe for concurrent use. Each key
// has one window per Period, so calls with different periods for one key
// count apart, as they do on Cloudflare's edge.
type Limiter struct {
	now func() time.Time // nil: the system clock
	// base is a reading of the system clock, wall and monotonic, taken
	// at most resync ago.
	base    atomic.Pointer[time.Time]
	seed    maphash.Seed
	maxKeys int
	shards  [shards]shard
}

type shard struct {
	mu  sync.Mutex
	lru *simplelru.LRU[string, *counter]
	// The padding keeps two shards' locks off one cache line.
	_ [64 - 16]byte
}

// counter is a key's current window and count, per period slot.
type counter struct {
	window [2]int64
	count  [2]int64
}

// New returns a Limiter.
func New(o Options) *Limiter {
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	per := (o.MaxKeys + shards - 1) / shards
	l := &Limiter{now: o.Now, seed: maphash.MakeSeed(), maxKeys: per * shards}
	base := time.Now()
	l.base.Store(&base)
	for i := range l.shards {
		lru, err := simplelru.NewLRU[string, *counter](per, nil)
		if err != nil {
			panic(err) // per is positive
		}
		l.shards[i].lru = lru
	}
	return l
}

// MaxKeys returns the most keys l remembers at once.
func (l *Limiter) MaxKeys() int { return l.maxKeys }

// Allow counts a call for key in the current window of period p and
// reports whether it is within limit: the first limit calls of a window
// are allowed, and later ones are refused and not counted. A limit of 0
// or less allows nothing. p must be Valid; Allow panics otherwise.
func (l *Limiter) Allow(key string, limit int64, p Period) bool {
	if !p.Valid() {
		panic("ratelimit: period must be 10 or 60 seconds")
	}
	key = storedKey(key)
	window := l.unixNano() / int64(p.Duration())
	slot := p.slot()
	s := &l.shards[maphash.String(l.seed, key)%shards]
	s.mu.Lock()
	c, ok := s.lru.Get(key)
	if !ok {
		c = new(counter)
		s.lru.Add(key, c)
	}
	if c.window[slot] != window {
		c.window[slot], c.count[slot] = window, 0
	}
	allowed := c.count[slot] < limit
	if allowed {
		c.count[slot]++
	}
	s.mu.Unlock()
	return allowed
}

// MaxKeyBytes is the longest key a Limiter keeps as it is; a longer one
// is kept as its SHA-256, so that a bound on the number of keys is also one
// on their memory (about 20 MiB at DefaultMaxKeys).
const MaxKeyBytes = 128

// storedKey returns the form in which key is kept: key itself, or for a
// long key its digest padded past MaxKeyBytes, so that no short key and
// no digest are ever the same string.
func storedKey(key string) string {
	if len(key) <= MaxKeyBytes {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	var b [MaxKeyBytes + 1]byte
	copy(b[:], sum[:])
	return string(b[:])
}

// resync bounds how long the system clock's wall time is derived from the
// monotonic clock alone.
const resync = 10 * time.Second

// unixNano returns the current time. From the system clock it costs one
// monotonic reading, not time.Now's wall and monotonic pair: the wall time
// is the last full reading plus the monotonic time since, and a full
// reading is taken again every resync, so that a step of the wall clock
// moves the windows within 10 seconds.
func (l *Limiter) unixNano() int64 {
	if l.now != nil {
		return l.now().UnixNano()
	}
	base := l.base.Load()
	since := time.Since(*base)
	if since < resync && since >= 0 {
		return base.UnixNano() + int64(since)
	}
	now := time.Now()
	l.base.Store(&now)
	return now.UnixNano()
}

// Limit is Allow with the period in seconds, the shape of the worker
// host's RateLimiter; a period other than 10 or 60 allows nothing.
func (l *Limiter) Limit(key string, limit int64, periodSeconds int) bool {
	p := Period(periodSeconds)
	return p.Valid() && l.Allow(key, limit, p)
}

// Len returns the number of keys l remembers.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}
