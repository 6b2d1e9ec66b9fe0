package mempool

import "sync/atomic"

// cacheLine is the padding unit that keeps the shared free stack head on a
// line of its own (64 bytes on amd64 and most arm64).
const cacheLine = 64

// shardAlign is the spacing of per-P shards: two cache lines, because CPUs
// fetch lines in adjacent pairs (the adjacent-line prefetcher), so one P's
// writes would otherwise keep invalidating its neighbour's pair. sync.Pool
// pads its per-P locals to 128 bytes for the same reason.
const shardAlign = 2 * cacheLine

// shardHot is the size of a shard's fields without padding.
const shardHot = 4 + 4 + 3*8 + 4*shardCache

// shardCache is the most free object indices one P keeps for itself. With
// 32 a P goes to the shared stack once every 16 Gets (or Puts) in the worst
// case, which keeps that CAS off the profile.
const shardCache = 32

// shard is one P's front cache of free preallocated objects plus its event
// counters. Only the goroutine pinned to the P writes a shard (see procPin),
// so the fast path needs neither a lock nor an atomic read-modify-write;
// Stats and other shards only read the counters, with atomic loads.
type shard struct {
	n    int32 // free[:n] are indices of cold preallocated objects
	_    int32
	gets int64 // Gets served by this P from the preallocated chunk
	puts int64 // Puts of preallocated objects returned on this P
	// hwm is the highest gets-puts this shard has seen (plus slack, see
	// Pool.noteGet); a Get that exceeds it samples the pool-wide hot count
	// so max-alloc stays exact without a shared counter on the fast path.
	hwm  int64
	free [shardCache]int32
	// Pad to a multiple of shardAlign, so that neighbouring shards' counts
	// and counters, which sit at the start, are shardAlign apart.
	_ [shardAlign - shardHot%shardAlign]byte
}

// The accessors below are for the owner of a shard. Normal builds use plain
// loads and stores: the owner is the only writer, and on 64-bit platforms
// an aligned word store is never torn, so a reader's atomic load sees
// either the old or the new count. Under the race detector they are
// atomic, which gives the detector the happens-before edges that procPin
// gives the real program; on 32-bit platforms too, where a plain int64
// store is two stores.

// syncShard selects the atomic accessors.
const syncShard = raceEnabled || ^uint(0)>>32 == 0

func ld64(p *int64) int64 {
	if syncShard {
		return atomic.LoadInt64(p)
	}
	return *p
}

func st64(p *int64, v int64) {
	if syncShard {
		atomic.StoreInt64(p, v)
		return
	}
	*p = v
}

func ld32(p *int32) int32 {
	if syncShard {
		return atomic.LoadInt32(p)
	}
	return *p
}

func st32(p *int32, v int32) {
	if syncShard {
		atomic.StoreInt32(p, v)
		return
	}
	*p = v
}

// freeStack is a lock-free LIFO of preallocated object indices shared by
// all Ps (a Treiber stack). It is what per-P caches refill from and spill
// to, and what Get uses directly when the P has no shard.
//
// head packs a 32-bit tag above the top index+1 (0 means empty); every
// successful CAS bumps the tag, so a node that was popped and pushed back
// while another goroutine walked the stack (ABA) makes that goroutine's CAS
// fail. next[i] is index+1 of the node below i.
type freeStack struct {
	_    [cacheLine]byte
	head atomic.Uint64
	_    [cacheLine - 8]byte
	next []atomic.Int32
}

func packHead(top int32, tag uint32) uint64 { return uint64(tag)<<32 | uint64(uint32(top)) }

// init makes the stack hold 0..n-1 with 0 on top, so that refills hand out
// neighbouring objects (and neighbouring state words) to the same P.
func (f *freeStack) init(n int) {
	f.next = make([]atomic.Int32, n)
	for i := 0; i < n-1; i++ {
		f.next[i].Store(int32(i + 2))
	}
	if n > 0 {
		f.head.Store(packHead(1, 0))
	}
}

// pushChain pushes the nodes top..bottom, already linked to each other
// through next, in one CAS.
func (f *freeStack) pushChain(top, bottom int32) {
	for {
		h := f.head.Load()
		f.next[bottom].Store(int32(uint32(h)))
		if f.head.CompareAndSwap(h, packHead(top+1, uint32(h>>32)+1)) {
			return
		}
	}
}

// push pushes one index.
func (f *freeStack) push(i int32) { f.pushChain(i, i) }

// popN pops up to len(dst) indices in one CAS and returns how many.
// Walking next[] is safe without a lock because nodes below the head are
// only changed after being popped, which changes the head's tag and so
// fails our CAS.
func (f *freeStack) popN(dst []int32) int {
	for {
		h := f.head.Load()
		cur := int32(uint32(h))
		n := 0
		for n < len(dst) && cur != 0 {
			dst[n] = cur - 1
			n++
			cur = f.next[cur-1].Load()
		}
		if n == 0 {
			return 0
		}
		if f.head.CompareAndSwap(h, packHead(cur, uint32(h>>32)+1)) {
			return n
		}
	}
}
