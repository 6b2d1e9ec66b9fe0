package fuse

import (
	"math"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xstack/xstack/xlator"
)

// Locks. When the graph keeps locks (Graph.KeepsLocks: a locks volume),
// the bridge asks the kernel for POSIX_LOCKS and FLOCK_LOCKS at INIT, and
// the kernel sends fcntl, OFD and flock locks as GETLK, SETLK and SETLKW
// instead of keeping them itself: every front end of the stack then sees
// the same locks. Each request becomes an Lk with the kernel's lock owner
// as the call's LkOwner (a process's files for fcntl locks, the open file
// for OFD and flock locks). A SETLKW waits in the graph; a signal to the
// waiting process interrupts it (the request's context), and the caller
// gets EINTR. A FLUSH carries the closing process's owner, so the lock
// translator drops its fcntl locks; a RELEASE drops the fd, and with it
// the locks taken through it. Without a lock translator the kernel keeps
// locks per mount, as before.

// lockOf converts the kernel's lock: its range is inclusive, with
// OFFSET_MAX for "to the end of the file".
func lockOf(in *fuse.LkIn) xlator.Flock {
	l := xlator.Flock{Type: in.Lk.Typ, Start: int64(min(in.Lk.Start, math.MaxInt64)), Pid: in.Lk.Pid,
		End: int64(min(in.Lk.End, math.MaxInt64)), Whole: in.LkFlags&fuse.LK_FLOCK != 0}
	if l.Whole {
		l.Start, l.End = 0, xlator.LockToEOF
	}
	return l
}

// GetLk is fcntl(F_GETLK) (and F_OFD_GETLK).
func (b *bridge) GetLk(cancel <-chan struct{}, in *fuse.LkIn, out *fuse.LkOut) fuse.Status {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return b.refuse(opGetlk, fuse.EBADF)
	}
	c := b.beginLk(opGetlk, in, cancel)
	defer c.Done()
	l := lockOf(in)
	got, err := b.top.Lk(c, hd.fd, xlator.LkGet, &l)
	if err != nil {
		return b.fail(opGetlk, err)
	}
	out.Lk = fuse.FileLock{Start: uint64(got.Start), End: uint64(got.End), Typ: got.Type, Pid: got.Pid}
	return fuse.OK
}

// SetLk is fcntl(F_SETLK), F_OFD_SETLK and flock(LOCK_NB).
func (b *bridge) SetLk(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	return b.setLk(opSetlk, xlator.LkSet, in, cancel)
}

// SetLkw is fcntl(F_SETLKW), F_OFD_SETLKW and a blocking flock.
func (b *bridge) SetLkw(cancel <-chan struct{}, in *fuse.LkIn) fuse.Status {
	return b.setLk(opSetlkw, xlator.LkSetWait, in, cancel)
}

func (b *bridge) setLk(o op, cmd uint32, in *fuse.LkIn, cancel <-chan struct{}) fuse.Status {
	hd := b.handles.get(in.Fh)
	if hd == nil {
		return b.refuse(o, fuse.EBADF)
	}
	c := b.beginLk(o, in, cancel)
	defer c.Done()
	l := lockOf(in)
	if _, err := b.top.Lk(c, hd.fd, cmd, &l); err != nil {
		return b.fail(o, err)
	}
	return fuse.OK
}

// beginLk begins a lock request's call, for the kernel's lock owner.
func (b *bridge) beginLk(o op, in *fuse.LkIn, cancel <-chan struct{}) *xlator.Call {
	c := b.begin(o, xlator.FopLk, &in.InHeader, cancel)
	c.LkOwner = in.Owner
	return c
}
