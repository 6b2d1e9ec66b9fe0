// Package cache is xstack's data cache translator, in the role of
// GlusterFS's performance/io-cache: it keeps the pages of the files it
// reads in memory and serves later reads from them without copying.
//
// # Pages
//
// A file is cached in pages of page-size bytes (a power of two, 4KiB to
// 1MiB). A page is a range of an iobuf on which the cache holds one
// reference. A read that misses asks the child for the whole run of
// missing pages in one readv and keeps the reply by reference: each page
// points into the reply's iobuf when one segment holds all its bytes, and
// only a page that straddles two segments is copied, once, into a fresh
// page-size iobuf from the graph's pool (counted as copied-pages). A read
// served from the cache returns an iobref of ranges over the cached
// iobufs: no copy, and the iobref's own references keep the data alive if
// the pages are evicted meanwhile.
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
// cache-size bounds the bytes of data in pages (the sum of their lengths)
// across all files. Pages are on one LRU list per priority level; when a
// fill takes the total above cache-size, pages are evicted from the least
// recently used end of the lowest priority's list first. The priority
// option maps globs on a file's base name (as the inode table knows it at
// the file's first read) to priorities, default 1; priority 0 means the
// file is never cached.
//
// Memory held can exceed cache-size: a page's iobuf comes from the
// smallest iobuf class that fits the child's reply (a 4KiB page read alone
// sits in an 8KiB iobuf), and an iobuf of a multi-page reply stays alive
// while any of its pages is cached. The statedump reports both figures:
// bytes-cached (what cache-size bounds) and held-iobufs/held-bytes (the
// distinct iobufs the pages hold and their sizes).
//
// # Consistency
//
// Writes through the stack are never followed by stale reads. writev drops
// the pages it overlaps (all pages for an O_APPEND fd) and the file's short
// last page, after the child's write returns, whether it succeeded or not.
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
// Dump (the statedump section) and Stats report pages, bytes-cached,
// held-iobufs, held-bytes, the options, page hits and misses, bytes served
// from the cache, read-ahead pages, evictions, revalidations, stale drops,
// invalidations, single-flight waits, child readvs, copied pages and
// bypassed reads. Between workloads, the iobufs the cache holds by design
// are exactly held-iobufs (HeldIobufs): with every file closed and nothing
// else holding iobufs, the pool's active count equals it.
package cache
