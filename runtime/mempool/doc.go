// Package mempool provides named, typed object pools in the manner of
// GlusterFS's mem-pool: each translator (xlator) keeps the small objects it
// allocates per fop (call frames, locals, lock records) in pools of its
// own, named "<volume>:<what>", so that a statedump shows which volume
// holds how many of what.
//
// # Model
//
// A Pool[T] preallocates count objects of type T in one chunk when it is
// created. Get hands one out, Put takes it back. When every preallocated
// object is out, Get falls back to the Go heap and never fails; that is a
// miss (pool-misses) and a "stdalloc" object (cur-stdalloc). A heap object
// that is put back is kept for the next miss, and the sweeper releases it
// to the garbage collector once it has been idle for a while, so the memory
// a burst took is returned, as GlusterFS's pool sweeper does.
//
// Put checks what it is given. Every preallocated object has a state word
// beside it (hot: out, cold: free) that Put flips with a compare-and-swap,
// so a second Put of the same object fails (ErrDoublePut), even when two
// goroutines race to put it. A pointer outside the chunk that the pool
// does not know as one of its heap objects (nil, another pool's object, a
// new(T)) fails with ErrForeignPut. A refused Put leaves the pool as it
// was, counts put-errors and logs a rate-limited warning.
//
// Objects are not zeroed between uses: Get returns whatever the previous
// user left, Get0 returns a zeroed object.
//
// # Concurrency and cost
//
// Every method is safe for concurrent use, and an object may be put back
// by a goroutine other than the one that got it. The fast path is built
// like sync.Pool's: each P (the runtime's per-CPU scheduling slot) has a
// small cache of free object indices and its own counters, used with
// preemption disabled and without locks. A P refills from and spills to a
// lock-free stack shared by all Ps, in batches. Only misses, heap objects
// and the sweeper take the pool's mutex. The counters are always on;
// Stats sums them. Every P has a cache, however small the pool and however
// many Ps run: New makes shards for four Ps per CPU (what a mounting
// daemon runs) or GOMAXPROCS if higher, and a P beyond them gets one when
// it first uses the pool. The cost of the per-P design is that a P's
// cache can hold free objects other Ps cannot see: up to 32, and no more
// than half of count across the Ps New expects, but at least 4 (or count)
// per P; so a busy pool can miss while cold-count is not zero.
//
// # Statistics
//
// Stats returns a snapshot with the names GlusterFS users know from
// statedumps, both the current ones (active-count, sizeof-type,
// padded-sizeof, size) and the 3.x ones (hot-count, cold-count,
// alloc-count, max-alloc, pool-misses, cur-stdalloc, max-stdalloc), plus
// put-errors, double-puts and foreign-puts. Stats.Fields lists them in
// statedump order under those keys, and the JSON encoding uses the same
// keys.
//
// # Ownership and lifetime
//
// Pools are listed in a Registry, which the process (or the graph) creates
// and passes down: there is no global registry. An xlator creates its pools
// in Init with its volume name as owner and releases them in Fini with
// Registry.Close(owner) or Pool.Destroy, which unregister them and report
// objects still out as a leak. A destroyed pool still accepts Puts of
// objects that were in flight. Registry.StartSweeper runs the sweeper for
// all registered pools.
//
// # Building without pools
//
// In a binary built with the "nopools" tag, Get is new(T), Put forgets
// the object and nothing is preallocated (see internal/nopools): the
// baseline bench/pools.sh measures the pools against.
package mempool
