package slab

// An object's state word, kept per object in the Go-side slab (never in the
// mmap'd memory).
//
//	bits 0-1   kind: free, cached, active, quarantined
//	bits 2-63  generation: how many times the object has been allocated
//
// Who may change it:
//
//   - free -> cached, cached -> free: the depot, under Cache.mu, for objects
//     it moves between a slab's freelist and a front cache (or a caller).
//   - cached -> active: the goroutine that popped the object from a front
//     cache (or took it from the depot). An object in a front cache belongs
//     to that cache's P alone (Reap and Shrink freeze a front cache before
//     they empty it, see front.go), so this is a plain store: no one else
//     may write the word meanwhile, and a concurrent bad Free only reads it.
//   - active -> cached: Free, by compare-and-swap, so that of two racing
//     frees of one object exactly one wins and the other is reported.
//   - cached -> quarantined: Alloc in debug mode, in place of cached ->
//     active, for an object that failed its poison check.
//
// Summing the generations gives the exact number of Allocs without a shared
// counter on the hot path.
const (
	stateFree        uint64 = iota // on its slab's freelist
	stateCached                    // parked in (or on its way to) a front cache
	stateActive                    // handed out by Alloc
	stateQuarantined               // failed its poison check; never reused

	kindMask = 1<<2 - 1
	genShift = 2
)

func kindOf(w uint64) uint64 { return w & kindMask }
func genOf(w uint64) uint64  { return w >> genShift }

// with returns w with a new kind, generation kept.
func with(w, kind uint64) uint64 { return w&^kindMask | kind }

// allocated returns w as handed out: active, generation bumped.
func allocated(w uint64) uint64 { return with(w+1<<genShift, stateActive) }
