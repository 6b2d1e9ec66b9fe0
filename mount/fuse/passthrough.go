package fuse

import (
	"errors"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// Passthrough (Config.Passthrough, kernel 6.9+, root). When every
// translator between the bridge and a file's backing file lets its data
// pass (xlator.Graph.BackingFile: each DataTransparent, the bottom a
// BackingFiler such as posix without a reserve), OPEN and CREATE hand the
// kernel that backing file (FOPEN_PASSTHROUGH with a backing id), and the
// kernel reads and writes it itself: no READ or WRITE reaches the daemon,
// and those bytes bypass the fop statistics. Metadata still goes through
// the graph.
//
// A node has one backing id, registered at its first passthrough open and
// closed at the last passthrough handle's RELEASE. The kernel does not mix
// the two paths on one inode, so neither does the bridge: a node with
// files open the normal way gets no passthrough open until they are
// closed, and the opens of a node that has a backing id take it too. When
// the kernel refuses passthrough (not negotiated at INIT, or the backing
// registration fails), the mount goes on without it, saying so once.

// FUSE device ioctls (include/uapi/linux/fuse.h).
const (
	devIocBackingOpen  = 0x4010e501 // _IOW(229, 1, struct fuse_backing_map)
	devIocBackingClose = 0x4004e502 // _IOW(229, 2, uint32_t)
)

func (c *conn) openBacking(fd int) (int32, error) {
	m := fuse.BackingMap{Fd: int32(fd)}
	id, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), devIocBackingOpen, uintptr(unsafe.Pointer(&m)))
	if errno != 0 {
		return 0, errno
	}
	return int32(id), nil
}

func (c *conn) closeBacking(id int32) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(c.fd), devIocBackingClose, uintptr(unsafe.Pointer(&id)))
	if errno != 0 {
		return errno
	}
	return nil
}

func (g goFuseKernel) openBacking(fd int) (int32, error) {
	id, errno := g.srv.RegisterBackingFd(&fuse.BackingMap{Fd: int32(fd)})
	if errno != 0 {
		return 0, errno
	}
	return id, nil
}

func (g goFuseKernel) closeBacking(id int32) error {
	if errno := g.srv.UnregisterBackingFd(id); errno != 0 {
		return errno
	}
	return nil
}

// passthrough is a mount's passthrough state.
type passthrough struct {
	on     atomic.Bool            // asked for, negotiated and not given up
	kernel atomic.Pointer[kernel] // set before on
	warned atomic.Bool            // the one log line about the graph refusing

	opens, refused atomic.Uint64 // handles opened with passthrough; opens the graph or the kernel kept on the normal path
	files          atomic.Int64  // nodes with a backing id now
}

// startPassthrough turns passthrough on once the mount is up, if asked
// and negotiated.
func (b *bridge) startPassthrough(k kernel) {
	if !b.cfg.Passthrough {
		return
	}
	if !b.ptNegotiated {
		b.log.Warn("passthrough: the kernel did not agree to FUSE_PASSTHROUGH (kernel 6.9 or later, root); every read and write goes through the daemon")
		return
	}
	b.pt.kernel.Store(&k)
	b.pt.on.Store(true)
}

// passthroughOpen gives the open of n through fd a backing id, if the
// mount passes data through and the graph and the kernel agree, and
// reports it.
func (b *bridge) passthroughOpen(n *node, fd *xlator.FD) (int32, bool) {
	if !b.pt.on.Load() || fd.Inode.Type() != syscall.S_IFREG {
		return 0, false
	}
	n.openMu.Lock()
	defer n.openMu.Unlock()
	if n.ptRefs > 0 {
		n.ptRefs++
		b.pt.opens.Add(1)
		return n.ptID, true
	}
	if len(n.handles) > 0 {
		b.pt.refused.Add(1) // open the normal way: the kernel does not mix them
		return 0, false
	}
	osfd, err := b.g.BackingFile(fd)
	if err != nil {
		b.pt.refused.Add(1)
		if b.pt.warned.CompareAndSwap(false, true) {
			b.log.Info("passthrough: this graph keeps file data on the normal path", zap.Error(err))
		}
		return 0, false
	}
	k := *b.pt.kernel.Load()
	id, err := k.openBacking(osfd)
	if err != nil {
		b.pt.refused.Add(1)
		if b.pt.on.CompareAndSwap(true, false) {
			b.log.Warn("passthrough: the kernel refused a backing file; every read and write goes through the daemon from now on", zap.Error(err))
		}
		return 0, false
	}
	n.ptID, n.ptRefs = id, 1
	b.pt.opens.Add(1)
	b.pt.files.Add(1)
	return id, true
}

// passthroughRelease drops a passthrough handle of n, and n's backing id
// with its last one.
func (b *bridge) passthroughRelease(n *node) {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	if n.ptRefs == 0 {
		return
	}
	n.ptRefs--
	if n.ptRefs > 0 {
		return
	}
	b.pt.files.Add(-1)
	if k := b.pt.kernel.Load(); k != nil {
		if err := (*k).closeBacking(n.ptID); err != nil && !errors.Is(err, syscall.ENODEV) && !errors.Is(err, syscall.ENOTCONN) {
			b.log.Warn("passthrough: closing a backing file", zap.Int32("id", n.ptID), zap.Error(err))
		}
	}
	n.ptID = 0
}
