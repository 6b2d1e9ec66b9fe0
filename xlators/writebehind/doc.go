// Package writebehind is xstack's write-behind translator, in the role of
// GlusterFS's performance/write-behind: it acknowledges a write as soon as
// it holds a reference on the data, and writes held writes to its child
// later, adjacent ones merged into one writev.
//
// # The window
//
// Writes are held per file (the inode: every fd of the file shares one
// list, so that a flush through any of them keeps the order of all). A
// file holds at most window-size bytes of payload: a write that would go
// past it first writes the file's held writes, on the writer's goroutine,
// then is held itself. All files together hold at most total-window-size
// bytes: a write that would go past it writes its own file's held writes
// and then goes straight through. The bytes counted are the writes'
// payload; the iobufs they pin may be larger (a 4KiB write from FUSE sits
// in an iobuf of the pool's smallest class that holds it).
//
// Holding takes a reference on the caller's iobref (Iobref.Ref), so no
// byte is copied; a write with segments of borrowed memory
// (iobuf.Iobuf.Borrowed: a plugin's shared-memory slot) is copied into
// pool iobufs instead, counted as copied, so that held writes never keep
// a lender's slots from going back to it.
//
// Not held, but written after the file's held writes: writes through fds
// opened O_SYNC or O_DSYNC, O_APPEND (the child chooses the offset) and,
// with strict-o-direct (the default), O_DIRECT; empty writes; writes of
// window-size or more.
//
// # Flushing and aggregation
//
// A flush writes all of a file's held writes while holding the file's
// lock, so that a fop that must see them waits for it. Runs of writes
// through one fd where each starts where the previous ended go down as one
// writev carrying all their segments (at most bio.MaxIovecs), which posix
// issues as one pwritev; runs are issued in the order the writes came or,
// unless strict-write-ordering, sorted by offset when no two held writes
// overlap (writes that came out of order then merge too). Overlapping
// writes always go down in the order they came.
//
// The file's held writes are flushed before: a read of a range a held
// write reaches (one ends past the read's offset: it overlaps the read or
// moves the end of file the read sees), fstat, stat, lookup and link of
// the file (their replies carry its size), lseek, setattr and fsetattr (a truncate must cut held data; a later write
// would move an mtime or drop set-ID bits set now), fallocate, discard,
// zerofill, copy_file_range (both files), open and create with O_TRUNC,
// fsync, and flush (close) unless
// flush-behind. A readdirplus flushes every file (its entries carry
// sizes). Release flushes before the child releases the fd, and Fini
// flushes what fds left open still hold. There is no timer: a file
// written and then left open and idle keeps its last writes (at most
// window-size) in memory until one of these comes.
//
// # Errors
//
// Errors are never lost nor turned into success. A held write's writev
// error is recorded on the fd the write came through; the next write,
// fsync or flush (close) on that fd returns it, once: that write fails
// with a count of 0 and is not done; fsync and flush still pass to the
// child but return the held error. Writes after the failed one in the same
// flush still go down. An error found when nothing can report it any
// more (at release, or after flush-behind let close return) is logged and
// counted as unreported. A fop that waits for a flush gives up with
// ECANCELED when its caller's context ends and the caller is an API
// caller or dying (xlator.CallerDying); a FUSE caller only interrupted by
// a signal waits on (TestFlushWaitCancel). The flush itself runs in a
// call of its own that is never cancelled, since its writes were
// acknowledged to other callers.
//
// # Statistics
//
// Dump (the statedump section) and Stats report the options, held bytes,
// held writes and files holding writes (gauges), and writes received,
// held, bypassed and copied, flushes, writevs sent down, writes
// aggregated into them, failed held writes, errors reported late,
// unreported errors and cancelled waits.
package writebehind
