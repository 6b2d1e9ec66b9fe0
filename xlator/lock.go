package xlator

import (
	"math"
	"syscall"
)

// Lk's commands, as fcntl(2)'s F_GETLK, F_SETLK and F_SETLKW.
const (
	// LkGet asks whether the lock could be placed: the result is the
	// first lock of another owner that conflicts, or the request with
	// Type LockUnlock when none does.
	LkGet uint32 = 1
	// LkSet places or removes the lock, or fails with EAGAIN when
	// another owner's lock conflicts.
	LkSet uint32 = 2
	// LkSetWait is LkSet that waits for conflicting locks to go, until
	// the call's context is done (the fop then fails with EINTR).
	LkSetWait uint32 = 3
)

// Lock types, with Linux's values of F_RDLCK, F_WRLCK and F_UNLCK.
const (
	LockRead   uint32 = 0
	LockWrite  uint32 = 1
	LockUnlock uint32 = 2
)

// LockToEOF is Flock.End for a lock that reaches the end of the file,
// however far the file grows (fcntl's l_len of 0).
const LockToEOF = math.MaxInt64

// Flock is one lock of the Lk fop (GlusterFS's gf_flock): a byte range of
// a file, shared (LockRead) or exclusive (LockWrite). Its owner is the
// call's LkOwner.
type Flock struct {
	// Type is LockRead, LockWrite or LockUnlock.
	Type uint32
	// Start and End are the first and last byte of the range, End
	// inclusive; End is LockToEOF for a range to the end of the file.
	Start, End int64
	// Pid is the process asking; in LkGet's result, the process of the
	// conflicting lock's holder.
	Pid uint32
	// Whole marks a flock(2) lock: it covers the whole file and lives in
	// a namespace of its own, so that flock and fcntl locks on one file
	// never conflict with each other (as on Linux). LkGet is only for
	// fcntl locks.
	Whole bool
}

// lockArgs checks an Lk's arguments, as fcntl(2) does: a known command
// and type, a range inside the file's offsets, LkGet only for fcntl locks
// and never with LockUnlock.
func lockArgs(cmd uint32, l *Flock) error {
	switch {
	case l == nil:
		return syscall.EINVAL
	case cmd != LkGet && cmd != LkSet && cmd != LkSetWait:
		return syscall.EINVAL
	case l.Type != LockRead && l.Type != LockWrite && l.Type != LockUnlock:
		return syscall.EINVAL
	case l.Start < 0 || l.End < l.Start:
		return syscall.EINVAL
	case cmd == LkGet && (l.Whole || l.Type == LockUnlock):
		return syscall.EINVAL
	}
	return nil
}
