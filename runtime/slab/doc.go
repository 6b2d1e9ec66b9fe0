// Package slab is a kmem_cache-style object cache: named caches of
// fixed-size byte objects carved from slabs of 2^n pages mapped with mmap,
// outside the Go heap, so that hot, long-lived buffers cost the garbage
// collector nothing.
//
// # Model
//
// A Cache hands out objects of one size ([]byte of exactly Config.Size bytes,
// capacity included). Objects come from slabs: runs of 2^n pages, mapped
// anonymously and aligned to their own size. Each slab sits on one of three
// lists — full, partial or free — by how many of its objects are out. The
// mapped memory holds object bytes only, never Go pointers; all bookkeeping
// (freelists, per-object state, lists) lives in ordinary Go structs, so the
// caller must not store Go pointers in an object either.
//
// In front of the slabs each P (GOMAXPROCS slot) has a front cache, the
// kernel's array_cache: a small LIFO stack of free objects, refilled from the
// slabs and drained back to them BatchCount objects at a time, never holding
// more than FrontLimit. The common Alloc and Free touch only the calling P's
// stack, pinned to the P as sync.Pool does, and take no lock; the cache lock
// is taken once per batch. Alignment (Config.Align, e.g. CacheLine) spaces
// objects; colouring (Config.Colour) shifts the first object of successive
// slabs by a cache line so equal indices in different slabs do not collide
// in the CPU cache.
//
// Every object has a state word (free, cached in a front cache, active,
// quarantined) with an allocation generation. Free finds the slab of an
// address with a lock-free radix lookup (slabs are size-aligned, so the slab
// number is the address shifted right) and moves the object from active to
// cached with a compare-and-swap. So a foreign slice, an interior pointer or
// a double free is caught wherever the object sits — even in a front cache,
// even racing another free — and reported as an error (ErrForeign,
// ErrNotObjectStart, ErrDoubleFree) and counted, never corrupting the cache.
// That compare-and-swap is the only atomic read-modify-write on the fast
// path: objects in a front cache belong to its P, so Alloc marks the one it
// pops active with a plain store.
//
// Reap, Shrink and Close still empty other Ps' front caches, as the
// kernel's drain_cpu_caches does with an interrupt on each CPU. They freeze
// the caches they take, issue membarrier(2) so that every thread of the
// process passes a full memory barrier, and wait until no owner is inside
// its front cache; an owner that finds its cache frozen goes to the slabs
// for that call. The owner only marks itself inside with a plain store and
// checks the frozen flag with a plain load. Where membarrier is missing
// (before Linux 4.14, some seccomp policies, other systems) the owner's
// mark is a fenced store instead, as costly as the compare-and-swap it
// replaced.
//
// # Memory return
//
// Reap takes back objects parked in front caches unused since the last Reap
// and unmaps completely free slabs, keeping Config.ReapKeep of them (by
// default the kernel's 20%) for the next burst. Registry.StartReaper runs
// it periodically for every cache of a registry. Shrink returns everything
// free at once; Close does that, retires the front caches (a Free after
// Close goes straight to its slab) and refuses new allocations.
//
// # Debugging
//
// With Config.Debug, or in binaries built with the "invariants" tag, freed
// objects are filled with 0x6b (the kernel's POISON_FREE) and checked when
// handed out again. A write after free makes Alloc return ErrCorrupt, logs
// through Config.Logger, counts in Stats.Corruptions, and quarantines the
// object: it is never reused and its slab never unmapped, so the stray writer
// cannot hurt anyone else.
//
// # Statistics
//
// Cache.Stats and Registry.Stats return value snapshots (Stats.Sub gives
// interval deltas): geometry, slab counts per list, active and parked
// objects, mapped bytes, and counters for allocs, frees, front-cache hits and
// misses, grows, reaped slabs, bad frees and corruptions. Allocs, frees and
// hits are derived from the per-object state words rather than counted on
// the hot path, which is why Stats walks the cache.
//
// # Building without pools
//
// In a binary built with the "nopools" tag, Alloc is make([]byte, Size)
// and Free forgets the object; Stats counts allocations and active
// objects and nothing else (see internal/nopools).
package slab
