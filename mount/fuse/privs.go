package fuse

import (
	"context"
	"errors"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"

	"github.com/xstack/xstack/xlator"
)

// Dropping privileges on write, truncate and chown.
//
// A kernel file system clears a file's set-user-ID bit (and its
// set-group-ID bit when group execute is set) when someone without
// CAP_FSETID writes or truncates it, clears them on chown, and removes its
// security.capability attribute on all three. To know whether there is a
// capability to remove, the FUSE kernel module sends GETXATTR
// security.capability before every WRITE: one more round trip through the
// daemon per write (the benchmarks counted it), unless the inode is marked
// S_NOSEC, which FUSE allows only when the server takes the job over.
//
// The bridge takes it over: it asks for FUSE_HANDLE_KILLPRIV_V2, which
// makes the kernel mark inodes S_NOSEC and flag the requests where suid and
// sgid must go (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID,
// FUSE_OPEN_KILL_SUIDGID: the caller lacked CAP_FSETID), and does what the
// kernel would have done, through the graph, so it holds over any bottom
// (a posix brick run as root would keep the bits itself: root has
// CAP_FSETID). Like the kernel's S_NOSEC, a node remembers that it has
// neither bits nor capability (node.privClean) until its attributes are
// fetched again or something changes its mode, owner or attributes, so a
// stream of writes costs one check, not one per write.
//
// Without KILLPRIV_V2 (kernels before 5.11) the kernel keeps asking
// before every write; the bridge then answers security.capability itself
// (ENODATA) to keep that round trip short, and file capabilities do not
// work on the mount.

const suidSgid = syscall.S_ISUID | syscall.S_ISGID

// internalCall starts a call the bridge makes on its own account, with
// root's credentials: removing a capability or a set-ID bit is the file
// system's duty, not a permission the writer needs.
func (b *bridge) internalCall(fop xlator.Fop, h *fuse.InHeader) *xlator.Call {
	return b.g.Calls().Begin(context.Background(), fop, xlator.Creds{Pid: h.Pid}, h.Unique)
}

// killBits returns the set-ID bits a write or truncate by a caller without
// CAP_FSETID clears from mode: suid always, sgid only with group execute
// (without it sgid marks mandatory locking and stays).
func killBits(mode uint32) uint32 {
	kill := mode & syscall.S_ISUID
	if mode&(syscall.S_ISGID|syscall.S_IXGRP) == syscall.S_ISGID|syscall.S_IXGRP {
		kill |= syscall.S_ISGID
	}
	return kill
}

// dropPrivs does what the kernel leaves to the server under KILLPRIV_V2
// after a write, a truncate (kill: the caller lacked CAP_FSETID) or a chown
// (kill always): clear the set-ID bits and remove security.capability. fd
// may be nil. Failures are logged, not returned: the data operation
// itself succeeded and must be reported as such.
func (b *bridge) dropPrivs(h *fuse.InHeader, n *node, fd *xlator.FD, kill bool) {
	if !b.killPriv || n.privClean.Load() {
		return
	}
	loc := &xlator.Loc{Inode: n.in}
	// One call for the few fops below, ended even if a translator panics.
	c := b.internalCall(xlator.FopSetattr, h)
	defer c.Done()
	var ia xlator.Iatt
	var err error
	if fd != nil {
		ia, err = b.top.Fstat(c, fd)
	} else {
		ia, err = b.top.Stat(c, loc)
	}
	if err != nil {
		b.log.Warn("dropping privileges: stat failed", zap.Uint64("node", n.id), zap.Error(err))
		return
	}
	if ia.Mode&syscall.S_IFMT != syscall.S_IFREG {
		n.privClean.Store(true)
		return
	}
	mode := ia.Mode
	if kill {
		if bits := killBits(mode); bits != 0 {
			sa := xlator.SetattrIn{Valid: xlator.SetMode, Mode: mode &^ bits & 0o7777}
			if fd != nil {
				_, err = b.top.Fsetattr(c, fd, &sa)
			} else {
				_, err = b.top.Setattr(c, loc, &sa)
			}
			if err != nil {
				b.log.Warn("dropping privileges: clearing set-ID bits failed", zap.Uint64("node", n.id), zap.Error(err))
				return
			}
			mode &^= bits
		}
	}
	_, err = b.top.Getxattr(c, loc, capabilityXattr)
	switch {
	case err == nil:
		err = b.top.Removexattr(c, loc, capabilityXattr)
		if err != nil && !errors.Is(err, syscall.ENODATA) {
			b.log.Warn("dropping privileges: removing security.capability failed", zap.Uint64("node", n.id), zap.Error(err))
			return
		}
	case errors.Is(err, syscall.ENODATA), errors.Is(err, syscall.ENOTSUP):
	default:
		b.log.Warn("dropping privileges: reading security.capability failed", zap.Uint64("node", n.id), zap.Error(err))
		return
	}
	// With set-ID bits left (a privileged writer keeps them) the next
	// unprivileged write must look again.
	n.privClean.Store(mode&suidSgid == 0)
}

// Init records what the kernel agreed to at FUSE_INIT.
func (b *bridge) Init(s *fuse.Server) { b.initFlags(s.KernelSettings().Flags64()) }

// initFlags records the capabilities negotiated at FUSE_INIT.
func (b *bridge) initFlags(flags uint64) {
	b.killPriv = flags&fuse.CAP_HANDLE_KILLPRIV_V2 != 0
	b.ptNegotiated = flags&fuse.CAP_PASSTHROUGH != 0
	b.writeback = b.cfg.WritebackCache && flags&fuse.CAP_WRITEBACK_CACHE != 0
}
