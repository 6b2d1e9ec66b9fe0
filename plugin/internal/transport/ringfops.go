package transport

import (
	"syscall"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// The fops whose data the rings carry in arena slots or host memory:
// readv and writev, made through a ring by the side calling it (a host's
// Plugin, a plugin's proxies). Every other fop goes through the rings as
// its gRPC messages (ringconn.go). Each function reports ok false when
// the ring cannot carry the call (no ring, no free call, no room for the
// reply): the caller then makes it by gRPC.

// FD is an fd as the far side knows it, in plain values: the ring
// path copies it into a call without allocating; pb makes the message
// gRPC carries.
type FD struct {
	Handle, Inode    uint64 // inode: inode handle for an fd whose inode has no gfid yet
	Gfid             xlator.GFID
	Type, Flags, Pid uint32
	Dir              bool
}

// ringClaim claims a call on the ring this side calls through and fills
// in its header (the caller's credentials and fd), or returns nil: no
// ring, more groups than a call carries, or no free call.
func (a *Arena) ringClaim(c *xlator.Call, dir int, child uint32, d *FD) (*ring, *ringCall) {
	rg := a.caller(dir)
	if rg == nil || len(c.Groups) > ringGroups {
		return nil, nil
	}
	rc := rg.claim()
	if rc == nil {
		return nil, nil
	}
	rc.fill(c, child, d)
	rg.join(c.Ctx, rc)
	return rg, rc
}

// RingReadv makes a readv through the ring; ok false: it could not (no
// ring, no free call, no slot for the reply), use gRPC.
func (a *Arena) RingReadv(c *xlator.Call, dir int, child uint32, d *FD, pool *iobuf.Pool, size int, off int64) (ref *iobuf.Iobref, err error, ok bool) {
	if size > a.slotSize {
		return nil, nil, false
	}
	rg, rc := a.ringClaim(c, dir, child, d)
	if rc == nil {
		return nil, nil, false
	}
	rc.op, rc.size, rc.off = opReadv, int64(size), off
	rg.post(rc)
	if err := rg.wait(c.Ctx, rc, true); err != nil {
		return nil, err, true
	}
	errno, n, slot := rc.errno, rc.rlen, rc.rslot
	rg.free(rc)
	if err := checkRead(a, n, size, errno); err != nil {
		return nil, err, true
	}
	switch {
	case errno != 0:
		return nil, ErrOf(errno), true
	case n == 0:
		return pool.NewIobref(), nil, true
	case slot == noSlot:
		a.ringRetries[rg.dir].Add(1)
		return nil, nil, false
	}
	// The worker handed over its reference on the slot.
	if ref, ok = a.Borrow(pool, slot, n, false); !ok {
		return nil, syscall.EIO, true
	}
	return ref, nil, true
}

// RingWritevHost makes a writev through the ring of data in the host's
// iobuf memory, which the far side reads in place; ok false: it could not
// (no ring or no free call), use another way. A caller that gives up
// before the reply (its context, call-timeout) leaves data referenced
// until the far side, which may still be reading it, releases it.
func (a *Arena) RingWritevHost(c *xlator.Call, dir int, child uint32, d *FD, data *iobuf.Iobref, hoff uint64, off int64) (int, error, bool) {
	rg, rc := a.ringClaim(c, dir, child, d)
	if rc == nil {
		return 0, nil, false
	}
	n := data.Size()
	token, ok := a.lend(hoff, n, data)
	if !ok {
		rg.free(rc) // the plugin keeps too much of the host's memory already
		return 0, nil, false
	}
	rc.op, rc.dkind, rc.doff, rc.dlen, rc.dtoken, rc.off = opWritev, dataHost, hoff, uint32(n), token, off
	rg.lends(rc, token)
	rg.post(rc)
	if err := rg.wait(c.Ctx, rc, true); err != nil {
		// Given up on: the lend ends here, unless the plugin had taken
		// the call (abandon kept the data until the plugin's release).
		a.settle(token, false)
		return 0, err, true
	}
	written, errno, flags := rc.n, rc.errno, rc.rflags
	rg.free(rc)
	if err := checkWritten(a, written, n, errno, flags); err != nil {
		a.settle(token, false)
		return 0, err, true
	}
	a.settle(token, flags&replyKept != 0)
	return int(written), ErrOf(errno), true
}

// checkRead checks a ring readv's reply of n bytes for size (breach.go).
func checkRead(a *Arena, n uint32, size int, errno uint32) error {
	if errno > maxErrno || int64(n) > int64(size) {
		a.breach("ring readv reply: %d bytes for %d, errno %d", n, size, errno)
		return syscall.EIO
	}
	return nil
}

// checkWritten checks a ring writev's reply, written of n bytes (breach.go).
func checkWritten(a *Arena, written int64, n int, errno, flags uint32) error {
	if written < 0 || written > int64(n) || errno > maxErrno || flags&^replyKept != 0 {
		a.breach("ring writev reply: %d of %d bytes written, errno %d, flags %#x", written, n, errno, flags)
		return syscall.EIO
	}
	return nil
}

// RingWritev makes a writev of the n bytes in slot through the ring; ok
// false: it could not (no ring or no free call), use gRPC. When ok, the
// caller's reference on slot is gone.
func (a *Arena) RingWritev(c *xlator.Call, dir int, child uint32, d *FD, slot uint32, n int, off int64) (int, error, bool) {
	rg, rc := a.ringClaim(c, dir, child, d)
	if rc == nil {
		return 0, nil, false
	}
	rc.op, rc.dslot, rc.dlen, rc.off = opWritev, slot, uint32(n), off
	rg.holdsSlot(rc, slot)
	rg.post(rc)
	if err := rg.wait(c.Ctx, rc, true); err != nil {
		// The slot is the worker's to drop now, or went with the
		// arena.
		return 0, err, true
	}
	written, errno, flags := rc.n, rc.errno, rc.rflags
	rg.free(rc)
	a.Drop(slot) // the worker holds its own if the data was kept
	if err := checkWritten(a, written, n, errno, flags); err != nil {
		return 0, err, true
	}
	return int(written), ErrOf(errno), true
}
