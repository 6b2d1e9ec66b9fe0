// Package bio is the block layer under the posix translator: the Linux
// bio, bio_set and request queue, in Go, over a file descriptor.
//
// # Bios
//
// A Bio is one IO: an Op (read, write, flush, discard, write-zeroes) with
// Flags (Preflush, FUA), a byte Offset on a Device, a table of bio_vecs
// (page ranges), an iterator (Iter: bytes left, current vec, bytes done in
// it) that Advance moves, a completion callback (EndIO), a Status, a
// Private field for its owner, a reference count, and chaining. Offsets are
// in bytes because our devices are files and FUSE writes at any offset;
// Sector gives the block layer's 512-byte view. Bios are built with
// AddPage and AddIobref, read with Vec and Segments.
//
// # Memory: why a bio_vec holds no Go pointer
//
// Off-heap (mmap'd) memory may hold bytes only: the garbage collector does
// not scan it, so a Go pointer stored there would not keep its target alive.
// A bio holds up to InlineVecs vecs inside itself; larger tables (16, 64,
// 128 or 256 entries; MaxVecs is the kernel's BIO_MAX_VECS) come from
// runtime/slab caches, which are mmap'd. (The small tables stay inside the
// bio on purpose: the bio itself comes from a preallocated mem-pool, so a
// slab table would add an Alloc and a Free to every bio and save nothing;
// bench/README.md has the measurement.) So a bio_vec is plain data: the
// page's address as a uintptr, an offset and a length. The bio keeps the
// pages alive by holding references on their iobufs (AddPage) or iobrefs
// (AddIobref) in ordinary Go slices, and drops them when it is freed (its
// last Put), not when it completes, so a read's data stays valid until the
// owner is done with it. The addresses stay valid because iobuf pages never
// move: arena pages are mmap'd, and the few heap pages (iobufs larger than
// every class) are Go objects, which the collector does not move. Users see
// the vecs as []byte built from the addresses.
//
// # Sets and forward progress
//
// A BioSet allocates bios: structs from a runtime/mempool pool owned by the
// set's name, vec tables inline or from its bvec caches. It keeps a reserve
// of minNr tables of MaxVecs entries (mempool_t semantics): when a cache
// cannot grow, Alloc takes a table from the reserve, and when the reserve is
// empty it waits for a bio to be freed. Alloc therefore never fails, and IO
// keeps making progress under memory pressure as long as every caller
// submits what it allocated before allocating more. (Bio structs never run
// out: the mempool falls back to the Go heap, so the reserve is about the
// tables.)
//
// # Chaining and splitting
//
// Chain makes one bio a child of another (bio_chain): the parent completes
// only when its own IO and every child's have, with the first error among
// them. Split cuts a bio at a byte offset into a new front bio, chained to
// the original, that borrows the original's vecs (bio_split).
//
// # Devices
//
// A Device queues bios for a file descriptor. Submit is asynchronous: the
// device owns the bio until its EndIO runs, exactly once, on a worker
// goroutine; SubmitWait waits for it. At most QueueDepth requests are in
// flight; Submit blocks when the queue is full. A Plug holds bios, then
// sorts them and back-merges adjacent reads or writes into one request, up
// to MaxIovecs iovecs; each bio still completes with its own status.
//
// An Engine turns requests into system calls. The only one implemented is
// the portable NewSyncEngine: blocking preadv/pwritev straight from the
// bios' pages (no copy, and no allocation: iovec arrays are reused), issued
// on the caller's goroutine for SubmitWait (Inliner) and by worker
// goroutines, started on first use, for Submit; fdatasync for flushes
// (before the data for Preflush, after it for FUA), fallocate PUNCH_HOLE
// for discard and ZERO_RANGE for write-zeroes (writing zeroes where
// unsupported).
//
// io_uring would fit the same interface, but did not measure faster for
// how xstack issues IO (one synchronous request per fop, queue depth 1):
// fio on this project's machines, 4 KiB at iodepth 1 against psync, gave
// +2 % (O_DIRECT writes) to +11 % (O_DIRECT reads), within the run-to-run
// noise, and a third of psync's rate for buffered writes (io_uring hands
// them to its worker threads). So the portable engine is the only one.
//
// # Errors
//
// Errors never come back from Submit; they land in the bio's Status: the
// syscall.Errno of a failed system call (EIO, ENOSPC, ...), an *AlignError
// (matching ErrMisaligned and EINVAL) for IO a Direct device cannot issue,
// ErrInvalid, or ErrClosed. Short transfers are continued until done; a read
// that reaches end of file completes without error and Done tells how many
// bytes it got (nothing is zero-filled). A Direct device does not bounce
// misaligned IO through an aligned copy: it fails it, and the posix xlator
// above retries such requests with buffered IO.
//
// # Concurrency
//
// BioSet and Device are safe for concurrent use. A bio is built by one
// goroutine, owned by the device while in flight, and handed back by EndIO;
// only its reference counting is concurrent. Stats of both are snapshots
// for the statedump. DeviceConfig.Inject injects faults into the system
// calls for tests.
package bio
