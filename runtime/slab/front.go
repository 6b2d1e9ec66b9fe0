package slab

import (
	"runtime"
	"sync"
	"sync/atomic"
	_ "unsafe" // for go:linkname
)

// runtime_procPin returns the id of the P the goroutine runs on and keeps it
// there, not preemptible, until runtime_procUnpin. It is what sync.Pool uses;
// the runtime keeps it linkable for outside packages (go.dev/issue/67401).
//
//go:linkname runtime_procPin runtime.procPin
func runtime_procPin() int

//go:linkname runtime_procUnpin runtime.procUnpin
func runtime_procUnpin()

// maxBatch bounds BatchCount so that refill and drain can stage a batch in
// an array on the goroutine stack instead of allocating.
const maxBatch = 128

// objRef names one object: its slab and index. In a front cache it is a
// claim ticket, see state.go.
type objRef struct {
	s   *slab
	idx uint32
}

// shard is a per-P front cache, the kernel's array_cache: a LIFO stack (the
// most recently freed object is the warmest) refilled from and drained to
// the slabs in batches. Only the goroutine that has acquired it touches objs
// and n: in normal builds that is the goroutine pinned to the shard's P (as
// in sync.Pool), so the fast path takes no lock at all; in race builds it is
// whoever holds mu, so the race detector can see the ordering.
type shard struct {
	mu      sync.Mutex // race builds only, see front_race.go
	objs    []objRef   // limit+1 slots; objs[:n] are tickets, oldest first
	n       int
	touched atomic.Bool // used since the last Reap; idle shards are drained

	_ [64]byte // keep neighbouring shards off each other's cache lines
}

// newShards returns one shard per P. A P whose id is beyond them (GOMAXPROCS
// raised above the CPU count after the cache was made) bypasses the front
// caches.
func newShards(limit int) []shard {
	shards := make([]shard, max(runtime.GOMAXPROCS(0), runtime.NumCPU()))
	for i := range shards {
		shards[i].objs = make([]objRef, limit+1)
	}
	return shards
}

// touch marks sh as in use; it writes only once per Reap interval.
func (sh *shard) touch() {
	if !sh.touched.Load() {
		sh.touched.Store(true)
	}
}

// popOldest removes the n oldest tickets of an acquired shard into dst.
func (sh *shard) popOldest(dst []objRef) int {
	n := copy(dst, sh.objs[:sh.n])
	copy(sh.objs, sh.objs[n:sh.n])
	clear(sh.objs[sh.n-n : sh.n])
	sh.n -= n
	return n
}
