package slab

// An object's state word, kept per object in the Go-side slab (never in the
// mmap'd memory). All transitions are compare-and-swap, which is what lets a
// front cache be a plain per-P stack: a reference in a stack is only a claim
// ticket, and whoever wins the CAS from stateCached owns the object. Stale
// tickets (the object was drained by Reap meanwhile) just lose.
//
//	bits 0-1   kind: free, cached, active, quarantined
//	bits 2-17  shard hint: the front cache the object was parked in, for Reap
//	bits 18-63 generation: how many times the object has been allocated
//
// Summing the generations gives the exact number of Allocs without a shared
// counter on the hot path.
const (
	stateFree        uint64 = iota // on its slab's freelist
	stateCached                    // parked in (or on its way to) a front cache
	stateActive                    // handed out by Alloc
	stateQuarantined               // failed its poison check; never reused

	kindMask  = 1<<2 - 1
	hintShift = 2
	hintMask  = 1<<16 - 1
	genShift  = 18
)

func kindOf(w uint64) uint64 { return w & kindMask }
func hintOf(w uint64) int    { return int(w >> hintShift & hintMask) }
func genOf(w uint64) uint64  { return w >> genShift }

// with returns w with a new kind and shard hint, generation kept.
func with(w, kind uint64, hint int) uint64 {
	return w&^(1<<genShift-1) | uint64(hint&hintMask)<<hintShift | kind
}

// allocated returns w as handed out: active, generation bumped.
func allocated(w uint64) uint64 { return with(w+1<<genShift, stateActive, 0) }
