package api

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// LockType is the kind of a byte-range lock.
type LockType uint32

// The lock types.
const (
	ReadLock  LockType = LockType(xlator.LockRead)  // shared
	WriteLock LockType = LockType(xlator.LockWrite) // exclusive
)

// String names the lock type as fcntl(2) does.
func (t LockType) String() string {
	switch t {
	case ReadLock:
		return "F_RDLCK"
	case WriteLock:
		return "F_WRLCK"
	}
	return fmt.Sprintf("LockType(%d)", uint32(t))
}

// LockInfo describes a lock another owner holds (File.TestLock).
type LockInfo struct {
	Type   LockType
	Start  int64
	Length int64 // 0: to the end of the file
	Pid    int   // the process of the holder (a FUSE mount's caller, or an API program)
}

// ErrNoLocks is wrapped by the lock methods' errors when the volume has
// no lock translator to keep locks (a volume of type "locks" above its
// bricks).
var ErrNoLocks = errors.New("the volume keeps no locks: add a volume of type \"locks\" above its bricks")

// ownerBase makes the API's lock owners unlike any a FUSE mount of the
// same stack gives (the kernel's are scrambled pointers): a random base,
// then one owner per open File.
var ownerBase, ownerNext = func() (uint64, *atomic.Uint64) {
	var b [8]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		panic(err)
	}
	return binary.LittleEndian.Uint64(b[:]), new(atomic.Uint64)
}()

func newLockOwner() uint64 { return ownerBase + ownerNext.Add(1) }

// Locks. The lock methods place the locks of the volume's lock translator,
// the ones a FUSE mount of the same stack places for fcntl(2) and
// flock(2): a lock taken here keeps a process on the mount from taking a
// conflicting one, and the other way round. A File's locks are the File's
// own, as Linux's open file description locks (F_OFD_SETLK) are: two
// Files conflict even within one program, one File's locks never conflict
// with each other (a new lock over a range it holds replaces it), and
// closing the File releases them all.

// Lock places a lock of type t on length bytes from off (length 0: to the
// end of the file, however far it grows). With wait false a conflicting
// lock makes it fail with EAGAIN at once; with wait true it waits for the
// conflicting locks to go, until the File's context ends (the error then
// wraps the context's). A read lock needs a File open for reading, a
// write lock one open for writing (EBADF).
func (f *File) Lock(t LockType, off, length int64, wait bool) error {
	if t != ReadLock && t != WriteLock {
		return f.v.pathErr("lock", f.name, syscall.EINVAL)
	}
	cmd := xlator.LkSet
	if wait {
		cmd = xlator.LkSetWait
	}
	_, err := f.lk("lock", cmd, uint32(t), off, length, false)
	return err
}

// Unlock releases the File's locks on length bytes from off (length 0: to
// the end of the file); a lock that covers more keeps the rest.
func (f *File) Unlock(off, length int64) error {
	_, err := f.lk("unlock", xlator.LkSet, xlator.LockUnlock, off, length, false)
	return err
}

// TestLock reports the first lock of another owner that would keep a lock
// of type t on the range from being placed (fcntl's F_GETLK), or nil.
func (f *File) TestLock(t LockType, off, length int64) (*LockInfo, error) {
	if t != ReadLock && t != WriteLock {
		return nil, f.v.pathErr("testlock", f.name, syscall.EINVAL)
	}
	got, err := f.lk("testlock", xlator.LkGet, uint32(t), off, length, false)
	if err != nil || got.Type == xlator.LockUnlock {
		return nil, err
	}
	info := &LockInfo{Type: LockType(got.Type), Start: got.Start, Pid: int(got.Pid)}
	if got.End != xlator.LockToEOF {
		info.Length = got.End - got.Start + 1
	}
	return info, nil
}

// Flock places a whole-file lock as flock(2) does (syscall.LOCK_SH,
// LOCK_EX or LOCK_UN, with LOCK_NB for EAGAIN instead of waiting). flock
// locks and the range locks of Lock never conflict with each other.
func (f *File) Flock(how int) error {
	typ, cmd := xlator.LockUnlock, xlator.LkSetWait
	if how&syscall.LOCK_NB != 0 {
		cmd = xlator.LkSet
	}
	switch how &^ syscall.LOCK_NB {
	case syscall.LOCK_SH:
		typ = xlator.LockRead
	case syscall.LOCK_EX:
		typ = xlator.LockWrite
	case syscall.LOCK_UN:
	default:
		return f.v.pathErr("flock", f.name, syscall.EINVAL)
	}
	_, err := f.lk("flock", cmd, typ, 0, 0, true)
	return err
}

// lk converts a range (length 0: to the end of the file) and winds Lk.
func (f *File) lk(op string, cmd, typ uint32, off, length int64, whole bool) (xlator.Flock, error) {
	if off < 0 || length < 0 || length > 0 && off > xlator.LockToEOF-(length-1) {
		return xlator.Flock{}, f.v.pathErr(op, f.name, syscall.EINVAL)
	}
	l := xlator.Flock{Type: typ, Start: off, End: xlator.LockToEOF, Pid: f.v.creds.Pid, Whole: whole}
	if length > 0 {
		l.End = off + length - 1
	}
	c := f.v.begin(xlator.FopLk)
	defer c.Done()
	c.LkOwner = f.owner
	got, err := f.v.g.Top().Lk(c, f.fd, cmd, &l)
	if errors.Is(err, syscall.ENOSYS) {
		err = fmt.Errorf("%w: %w", err, ErrNoLocks)
	}
	return got, f.v.pathErr(op, f.name, err)
}
