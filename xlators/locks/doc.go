// Package locks is xstack's lock translator, in the role of GlusterFS's
// features/locks: it keeps the fcntl(2) and flock(2) locks of the files
// below it, so that every front end of the stack (the FUSE mount, the Go
// API, a plugin's callers) sees the same locks. It sits above a brick, as
// features/locks does in every GlusterFS brick graph; the shipped volfiles
// put one above each posix volume.
//
// # What it keeps
//
// Per file (inode), two lists of granted locks and the requests waiting
// for them:
//
//   - fcntl locks (Lk without Flock.Whole): byte ranges, shared or
//     exclusive, held by a lock owner (xlator.Call.LkOwner). Locks of one
//     owner never conflict with each other: a new lock replaces, splits
//     or merges the owner's locks it overlaps or touches, as POSIX says,
//     so that an owner's locks of one type never overlap or touch. A lock
//     of another owner conflicts when the ranges overlap and either is
//     exclusive. Classic POSIX locks (owner: a process) and OFD locks
//     (owner: an open file) differ only in their owner, which the front
//     end gives.
//   - flock locks (Flock.Whole): the whole file, shared or exclusive, in
//     a namespace of their own: a flock lock never conflicts with an
//     fcntl lock, as on Linux. Converting a flock lock drops the old one
//     first, as flock(2) does, so a failed conversion leaves none.
//
// A request that conflicts fails with EAGAIN (LkSet) or waits (LkSetWait)
// until the conflicting locks go, and fails with EINTR when its call's
// context is done first: a FUSE request the kernel interrupts (a signal,
// the caller killed) or an API call whose context ends. Deadlocks between
// waiting owners are not detected (fcntl's EDEADLK): the front end cannot
// tell a process's locks from an open file's, for which Linux does not
// detect them either.
//
// # When locks go
//
//   - Flush (close(2) of a descriptor) drops the fcntl locks its caller's
//     owner holds on the file, as POSIX's "closing any descriptor of a
//     file releases the process's locks on it".
//   - Release (the last close of an open file) drops every lock taken
//     through that fd: its OFD and flock locks, and any fcntl lock whose
//     Flush never came.
//
// A process killed while it holds locks closes its files, so its locks
// go; a blocked request of a killed process is interrupted.
//
// # Statedump
//
// The translator's section lists every file with locks in GlusterFS's
// format: the file's path, then one posixlk line per fcntl lock, granted
// (ACTIVE) or waiting (BLOCKED), with its type, range (start and len,
// len 0 meaning to the end of the file), pid and owner, and flock lines
// in the same shape. Counters: locks granted, requests refused for a
// conflict, requests that waited, waits interrupted, locks released by
// flush and release.
package locks
