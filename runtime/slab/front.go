package slab

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// maxBatch bounds BatchCount so that refill and drain can stage a batch in
// an array on the goroutine stack instead of allocating.
const maxBatch = 128

// objRef names one object: its slab and index.
type objRef struct {
	s   *slab
	idx uint32
}

// shard is a per-P front cache, the kernel's array_cache: a LIFO stack (the
// most recently freed object is the warmest) refilled from and drained to
// the slabs in batches. The objects on the stack belong to the shard: their
// state words say cached, and only the shard's user may move them on.
//
// The user is the goroutine that has acquired the shard. In normal builds
// that is the goroutine pinned to the shard's P (as in sync.Pool), so the
// fast path takes no lock and no atomic read-modify-write. Reap, Shrink and
// Close empty other Ps' shards the way the kernel's drain_cpu_caches does,
// by a handshake the owner pays almost nothing for: the thief sets frozen,
// makes sure the owner is not inside acquire..release (see freeze in
// front_norace.go), empties the stack and clears frozen. An owner that
// finds its shard frozen bypasses it and goes to the slabs. In race builds
// the user is whoever holds mu, so the race detector can see the ordering;
// frozen works the same way there.
type shard struct {
	objs []objRef // limit+1 slots; objs[:n] are owned objects, oldest first
	n    int
	// busy is 1 while the owner is between acquire and release (normal
	// builds only). The owner writes it; a thief reads it.
	busy    uint32
	frozen  atomic.Uint32 // nonzero: a thief has the stack; see freeze
	touched atomic.Bool   // used since the last Reap; idle shards are drained
	//lint:ignore U1000 used by race builds only (front_race.go)
	mu sync.Mutex
	// drained says that the last reclaim left the stack empty; while
	// touched stays false no one has pushed since, so Reap and Shrink can
	// skip the shard. Guarded by Cache.sweepMu.
	drained bool
}

// Frozen values. A closed cache retires its shards for good, so that Free
// after Close goes straight to the slabs.
const (
	frozenReclaim uint32 = 1
	frozenRetired uint32 = 2
)

// paddedShard keeps neighbouring shards two cache lines apart: CPUs fetch
// lines in adjacent pairs, so 64 bytes of padding is not enough to keep one
// P's writes from invalidating its neighbour's line.
type paddedShard struct {
	shard
	_ [2*CacheLine - unsafe.Sizeof(shard{})%(2*CacheLine)]byte
}

// newShards returns one shard per P. A P whose id is beyond them (GOMAXPROCS
// raised above the CPU count after the cache was made) bypasses the front
// caches.
func newShards(limit int) []paddedShard {
	shards := make([]paddedShard, max(runtime.GOMAXPROCS(0), runtime.NumCPU()))
	for i := range shards {
		shards[i].objs = make([]objRef, limit+1)
	}
	return shards
}

// touch marks sh as in use; it writes only once per Reap interval. The
// owner calls it in every acquire..release that pushes, before pushing.
func (sh *shard) touch() {
	if !sh.touched.Load() {
		sh.touched.Store(true)
	}
}

// popOldest removes the n oldest objects of an acquired shard into dst.
func (sh *shard) popOldest(dst []objRef) int {
	n := copy(dst, sh.objs[:sh.n])
	copy(sh.objs, sh.objs[n:sh.n])
	clear(sh.objs[sh.n-n : sh.n])
	sh.n -= n
	return n
}

// needsReclaim reports whether sh may hold objects: it was pushed to since
// it was last emptied. The caller holds Cache.sweepMu.
func (sh *shard) needsReclaim() bool {
	if sh.touched.Load() {
		sh.drained = false
	}
	return !sh.drained
}

// reclaim empties the front caches of shards, which may belong to other Ps,
// and returns their objects to the slabs. With retire the shards stay
// frozen for good (Close); otherwise their owners get them back, empty.
// The caller holds Cache.sweepMu, so thieves do not meet.
func (c *Cache) reclaim(shards []*shard, retire bool) {
	if len(shards) == 0 {
		return
	}
	c.freeze(shards)
	if retire {
		for _, sh := range shards {
			sh.frozen.Store(frozenRetired)
		}
	}
	var refs []objRef
	for _, sh := range shards {
		refs = append(refs, sh.objs[:sh.n]...)
		clear(sh.objs) // also the slots above n, which pinned old slabs
		sh.n = 0
		sh.drained = true
	}
	if !retire {
		c.thaw(shards)
	}
	c.drain(refs)
}
