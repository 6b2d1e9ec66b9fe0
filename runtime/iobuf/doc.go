// Package iobuf is xstack's buffer pool: page-sized buffers (iobufs) carved
// from mmap'd arenas, and reference-counted vectors of them (iobrefs) that
// carry data through the translator stack without copying. It is the Go
// counterpart of GlusterFS's libglusterfs/src/iobuf.c, and its statistics use
// the same names, so a statedump reads the same.
//
// # Classes and arenas
//
// A Pool has one class per page size (GlusterFS's table by default: 128 B ×1024
// up to 1 MiB ×2; see DefaultClasses). Get(size) serves the smallest class
// whose page size is ≥ size. A class owns arenas, each one anonymous private
// mapping of NumPages pages: the memory is OS-page-aligned (so a class whose
// page size is a multiple of 4 KiB gives buffers usable with O_DIRECT), lives
// outside the Go heap (the GC neither scans nor moves it) and holds bytes
// only, never Go pointers. Arenas are mapped lazily, on the first Get of a
// class and whenever the class is full; an arena that stays fully unused for
// Config.PurgeAfter is unmapped by Purge, or by the background purger that
// Start runs, keeping one arena per class. Requests larger than the largest
// class (and any request while the kernel refuses a new mapping) are served
// from the Go heap, page-aligned, and counted as request_misses.
//
// The sub-page classes (128 B, 512 B, 2 KiB) stay here rather than in
// runtime/slab caches: an arena already is a slab of fixed-size pages
// outside the Go heap with per-CPU caches in front, and what a page needs
// besides, a reference count and a header that iobrefs and bios point to,
// only the pool has. A slab object would need a second lookup from its
// address to such a header on every Ref and Unref.
//
// # Concurrency
//
// Every method of Pool, and Ref/Unref/Refs of Iobuf and Iobref, is safe for
// concurrent use. There is no pool-wide lock. Each class has its own lock,
// and in front of the classes each P (the Go runtime's per-CPU scheduling
// context) has a cache of free pages per class: a private slot, touched only
// by the goroutine running on that P, and a short mutex-guarded stack that
// other goroutines can reclaim. A Get followed by the Unref of the same
// class on the same P takes no lock and no atomic read-modify-write, like
// sync.Pool; the class lock is taken once per batch of pages. See shard.go.
//
// # Ownership
//
// Get returns an iobuf holding one reference and NewIobref/FromBytes an
// iobref holding one; the caller owns that reference and must drop it with
// Unref. Ref takes another reference, owned by its caller. An iobref holds
// one reference on the iobuf of each of its segments, so a caller may Add a
// buffer to an iobref and then Unref its own reference: the data lives as
// long as the iobref. The last Unref of an iobuf returns its page to the
// pool; slices obtained from Bytes, Seg or AppendIov must not be used after
// the reference they were obtained under is dropped. Across the stack the
// rule is GlusterFS's: a callee that keeps an iobref past the call takes its
// own reference.
//
// # Misuse
//
// A surplus Unref (below zero) is refused without touching the pool, counted
// in Stats.RefUnderflows, logged, and returned as ErrRefUnderflow by UnrefE.
// A Ref on a released buffer is counted as a use after free. In debug mode
// (Config.Debug, the build tag invariants, or -race, with which the test
// command runs every test) every page is poisoned when it is freed and
// checked when it is handed out again, so a write after the last Unref is
// reported (Stats.UseAfterFree) the next time the page is reused, and
// accessors called on released buffers are reported too.
//
// # Statistics
//
// Stats returns a snapshot using GlusterFS's keys (default_page_size,
// arena_size, arena_cnt, request_misses; per class and per arena page_size,
// active_cnt, passive_cnt, alloc_cnt, max_active) plus mapped bytes, heap
// buffers, live iobrefs and misuse counters; Stats.Fields renders them as
// statedump keys. After a workload every class is back to active_cnt 0 and
// iobref_active is 0: anything else is a leak.
//
// # Building without pools
//
// In a binary built with the "nopools" tag, every Get is served from the
// Go heap (page-aligned from a page up, counted as stdalloc) and nothing
// is mapped, except by a Shared pool, whose memory other processes map
// (see internal/nopools).
package iobuf
