// Package cache is xstack's data cache translator, in the role of
// GlusterFS's performance/io-cache: it keeps the pages of the files it
// reads in memory and serves later reads from them without copying.
//
// # Pages
//
// A file is cached in pages of page-size bytes (a power of two, 4KiB to
// 1MiB). A page is a range of an iobuf on which the cache holds one
// reference. A read that misses asks the child for the whole run of
// missing pages in one readv. The pages that lie wholly inside one segment
// of the reply keep that segment's iobuf by reference (no copy) when it is
// worth pinning: when iobufs of the smallest classes that hold them would
// take more than half of it. Otherwise each page is copied, once, into an
// iobuf of the smallest class that holds it: a 1KiB file read as a 128KiB
// page comes back in a 128KiB iobuf, and its page is kept in a 2KiB one.
// A page that straddles two segments is copied the same way, and so is
// memory the child only lends (iobuf.Iobuf.Borrowed: a plugin's
// shared-memory slot) or an iobuf larger than cache-size; all of these
// count as copied-pages. A read served from the cache returns an iobref of
// ranges over the cached iobufs: no copy, and the iobref's own references
// keep the data alive if the pages are evicted meanwhile.
//
// A page shorter than page-size is the file's last page. Pages past the end
// of the file are not kept, and a file has at most one short page.
//
// Several readers missing the same page make one child readv: the first
// claims the page (state filling) and the others wait for its fill, then
// take their bytes from the reply (single flight, counted as
// single-flight-waits).
//
// With read-ahead N > 0, a read that starts where the previous read of the
// same file ended (per inode, not per fd) and misses also reads up to N
// pages after the ones asked for, in the same child readv: read-ahead is
// inline, there is no background goroutine, so nothing is in flight when
// the graph stops.
//
// # Eviction
//
// cache-size bounds the memory the cache holds: held-bytes, the total size
// of the distinct iobufs its pages hold a reference on, counted as whole
// iobufs (what the pool handed out), not as the bytes of file data in them
// (bytes-cached). After every fill, pages are evicted until held-bytes is
// at most cache-size again, under the lock the fill inserted its pages
// with, so held-bytes never exceeds cache-size. Pages are on one LRU list
// per priority level, and are evicted from the least recently used end of
// the lowest priority's list first; evicting a page whose iobuf other
// pages still hold frees nothing, and eviction goes on. The priority
// option maps globs on a file's base name (as the inode table knows it at
// the file's first read) to priorities, default 1; priority 0 means the
// file is never cached.
//
// A full page pins at least an iobuf of the smallest class that holds
// page-size bytes (the default classes have no 4KiB class: a 4KiB page
// read alone pins 8KiB), and cache-size must be at least that. Memory outside held-bytes is
// not the cache's: a read in flight holds its child's reply until its
// readers have taken their bytes, an iobref a read returned keeps its
// iobufs alive until its holder drops it, and the iobuf pool keeps the
// pages the cache frees mapped for reuse until a whole arena has stayed
// unused for the pool's purge delay (see runtime/iobuf).
//
// # Consistency
//
// Writes through the stack are never followed by stale reads. writev drops
// the pages it overlaps (all pages for an O_APPEND fd) and the file's short
// last page, after the child's write returns, whether it succeeded or not;
// copy_file_range drops the destination's pages the same way.
// setattr/fsetattr (truncate or not), unlink, rename (both files), link,
// fallocate, discard, zerofill and opens with O_TRUNC drop all the file's
// pages. Every such invalidation bumps the file's generation and detaches
// the fills in flight: a fill whose generation moved while the child was
// reading serves the readers that were waiting for it (reads concurrent
// with the write) but is not cached, and readers arriving after the
// invalidation start fills of their own.
//
// Changes made behind the cache (by another client of the child) are
// found by revalidation: the first read of a file, and a read more than
// cache-timeout after the last revalidation, ask the child for the file's
// attributes (fstat), and a changed mtime or size drops the file's pages
// (counted as stale-drops). Such changes are therefore seen at most
// cache-timeout late; one made in the window between a write through the
// stack and the next revalidation is not detected (writev returns no
// attributes, so the stack's own write resets the baseline). The
// revalidation also applies min-file-size and max-file-size to the size it
// sees.
//
// Attributes passing through are a revalidation too: lookup, stat, fstat
// and readdirplus compare each regular file's mtime and size they return
// with those the file's pages were revalidated against, and a difference
// drops the pages at once (a stale drop) whatever cache-timeout says. So
// whoever learns of a change from attributes the cache returned reads the
// new data: the FUSE kernel, which drops its own pages of a file whose
// mtime moved, never refills them from this cache's old pages
// (mount/fuse's coherence rule). Every stale drop is also reported to the
// graph's front ends (xlator.Graph.Invalidate): the FUSE bridge then has
// the kernel drop its pages and attributes of the file at once.
//
// Reads through an O_DIRECT fd, reads of non-regular files and reads larger
// than cache-size go to the child unchanged.
//
// # State and pools
//
// Per-file state lives in the inode's context slot ("<volume>:inodes"
// pool) and is freed, with the file's pages, by Forget. Page descriptors
// come from "<volume>:pages" and fills (one child readv and its waiters)
// from "<volume>:fills"; each goes back to its pool when the page is
// evicted or invalidated, or the fill's last reader leaves. Fini drops
// every page: after the graph stops, the iobuf pool's active counts are
// back to where they were.
//
// # Statistics
//
// Dump (the statedump section) and Stats report pages, bytes-cached (the
// file data in them), held-iobufs and held-bytes (the distinct iobufs the
// pages hold and their total size: what cache-size bounds), the options,
// page hits and misses, bytes served from the cache, read-ahead pages,
// evictions, revalidations, stale drops, invalidations, single-flight
// waits, child readvs, copied pages and bypassed reads. Between workloads,
// the iobufs the cache holds by design are exactly held-iobufs
// (HeldIobufs): with every file closed and nothing else holding iobufs,
// the pool's active count equals held-iobufs and the total size of the
// active iobufs equals held-bytes.
package cache
