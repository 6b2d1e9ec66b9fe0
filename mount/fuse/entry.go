package fuse

import (
	"errors"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xstack/xstack/xlator"
)

// Lookup resolves parent/name. The inode the table already has for the
// name (or a new one) goes down in the loc so translators can attach
// context to it; the reply links whatever GFID the brick answered.
func (b *bridge) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if st := checkName(name); !st.Ok() {
		return b.refuse(opLookup, st)
	}
	p := b.node(h.NodeId)
	if p == nil {
		return b.refuse(opLookup, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opLookup, xlator.FopLookup, h, cancel)
	defer c.Done()
	in := b.tab.Child(p.in, name)
	if in == nil {
		in = b.tab.New()
	}
	defer in.Unref()
	ia, err := b.top.Lookup(c, &xlator.Loc{Parent: p.in, Name: name, Inode: in})
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			b.tab.Unlink(p.in, name)
			b.stats.ops[opLookup].errors.Add(1)
			return b.negative(out)
		}
		return b.fail(opLookup, err)
	}
	if ia.Gfid.IsZero() {
		return b.fail(opLookup, syscall.EIO)
	}
	b.entry(in, p.in, name, &ia, out)
	return fuse.OK
}

// Forget drops kernel lookups (FORGET, and each entry of BATCH_FORGET).
func (b *bridge) Forget(nodeid, nlookup uint64) {
	b.stats.ops[opForget].count.Add(1)
	b.nodes.forget(nodeid, nlookup)
}

// GetAttr is Fstat when the kernel names an open file, else Stat.
func (b *bridge) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	n, ia, st := b.getattr(cancel, opGetattr, &in.InHeader, in.Flags(), in.Fh())
	if st.Ok() {
		b.fillAttrOut(out, &ia, n.id)
	}
	return st
}

// getattr serves GETATTR and STATX: Fstat of the open file the kernel
// names (getattrFlags has FUSE_GETATTR_FH), or of one the node has open
// (Fstat sees what a cache on the open file holds), else Stat.
func (b *bridge) getattr(cancel <-chan struct{}, o op, h *fuse.InHeader, getattrFlags uint32, fh uint64) (*node, xlator.Iatt, fuse.Status) {
	n := b.node(h.NodeId)
	if n == nil {
		return nil, xlator.Iatt{}, b.refuse(o, fuse.Status(syscall.ESTALE))
	}
	var hd *handle
	if getattrFlags&fuse.FUSE_GETATTR_FH != 0 {
		hd = b.handles.get(fh)
	}
	var fd *xlator.FD
	if hd != nil {
		fd = hd.fd
	} else if fd = n.openFD(); fd != nil {
		defer fd.Unref()
	}
	var ia xlator.Iatt
	var err error
	if fd != nil {
		c := b.begin(o, xlator.FopFstat, h, cancel)
		defer c.Done() // deferred, so a translator's panic ends the call too
		ia, err = b.top.Fstat(c, fd)
	} else {
		c := b.begin(o, xlator.FopStat, h, cancel)
		defer c.Done()
		ia, err = b.top.Stat(c, &xlator.Loc{Inode: n.in})
	}
	if err != nil {
		return nil, xlator.Iatt{}, b.fail(o, err)
	}
	n.privClean.Store(false) // fresh attributes: check again, as the kernel clears S_NOSEC
	return n, ia, fuse.OK
}

// SetAttr maps chmod, chown, truncate and utimes onto Setattr, or
// Fsetattr when the kernel names an open file (ftruncate, futimens).
func (b *bridge) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	n := b.node(in.NodeId)
	if n == nil {
		return b.refuse(opSetattr, fuse.Status(syscall.ESTALE))
	}
	var sa xlator.SetattrIn
	if m, ok := in.GetMode(); ok {
		sa.Valid |= xlator.SetMode
		sa.Mode = m
	}
	if uid, ok := in.GetUID(); ok {
		sa.Valid |= xlator.SetUid
		sa.Uid = uid
	}
	if gid, ok := in.GetGID(); ok {
		sa.Valid |= xlator.SetGid
		sa.Gid = gid
	}
	if size, ok := in.GetSize(); ok {
		if size > 1<<63-1 {
			return b.refuse(opSetattr, fuse.Status(syscall.EFBIG))
		}
		sa.Valid |= xlator.SetSize
		sa.Size = int64(size)
	}
	switch {
	case in.Valid&fuse.FATTR_ATIME_NOW != 0:
		sa.Valid |= xlator.SetAtimeNow
	case in.Valid&fuse.FATTR_ATIME != 0:
		sa.Valid |= xlator.SetAtime
		sa.Atime = timespecOf(in.Atime, in.Atimensec)
	}
	switch {
	case in.Valid&fuse.FATTR_MTIME_NOW != 0:
		sa.Valid |= xlator.SetMtimeNow
	case in.Valid&fuse.FATTR_MTIME != 0:
		sa.Valid |= xlator.SetMtime
		sa.Mtime = timespecOf(in.Mtime, in.Mtimensec)
	}
	var hd *handle
	if fh, ok := in.GetFh(); ok {
		hd = b.handles.get(fh)
	}
	if sa.Valid&(xlator.SetMode|xlator.SetUid|xlator.SetGid) != 0 {
		n.privClean.Store(false)
	}
	// A truncate or a chown drops privileges first, as the kernel's
	// notify_change does in the same step (privs.go); the reply then
	// shows the mode without them.
	if sa.Valid&(xlator.SetUid|xlator.SetGid|xlator.SetSize) != 0 {
		var fd *xlator.FD
		if hd != nil {
			fd = hd.fd
		}
		chown := sa.Valid&(xlator.SetUid|xlator.SetGid) != 0 && sa.Valid&xlator.SetMode == 0
		b.dropPrivs(&in.InHeader, n, fd, chown || in.Valid&fuse.FATTR_KILL_SUIDGID != 0)
	}
	var ia xlator.Iatt
	var err error
	if hd != nil {
		c := b.begin(opSetattr, xlator.FopFsetattr, &in.InHeader, cancel)
		defer c.Done()
		ia, err = b.top.Fsetattr(c, hd.fd, &sa)
	} else {
		c := b.begin(opSetattr, xlator.FopSetattr, &in.InHeader, cancel)
		defer c.Done()
		ia, err = b.top.Setattr(c, &xlator.Loc{Inode: n.in}, &sa)
	}
	if err != nil {
		return b.fail(opSetattr, err)
	}
	if sa.Valid&xlator.SetSize != 0 {
		n.dirty.Store(true)
	}
	b.fillAttrOut(out, &ia, n.id)
	return fuse.OK
}

// Access checks permissions for access(2) (sent only without
// default_permissions).
func (b *bridge) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	n := b.node(in.NodeId)
	if n == nil {
		return b.refuse(opAccess, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opAccess, xlator.FopAccess, &in.InHeader, cancel)
	defer c.Done()
	if err := b.top.Access(c, &xlator.Loc{Inode: n.in}, in.Mask); err != nil {
		return b.fail(opAccess, err)
	}
	return fuse.OK
}

// Readlink returns a symlink's target.
func (b *bridge) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	n := b.node(h.NodeId)
	if n == nil {
		return nil, b.refuse(opReadlink, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opReadlink, xlator.FopReadlink, h, cancel)
	defer c.Done()
	target, err := b.top.Readlink(c, &xlator.Loc{Inode: n.in})
	if err != nil {
		return nil, b.fail(opReadlink, err)
	}
	return []byte(target), fuse.OK
}

// newEntry runs a fop that creates parent/name (mknod, mkdir, symlink)
// with a fresh inode in its loc, and replies with the linked entry.
func (b *bridge) newEntry(cancel <-chan struct{}, o op, fop xlator.Fop, h *fuse.InHeader, name string, out *fuse.EntryOut,
	run func(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error)) fuse.Status {
	if st := checkName(name); !st.Ok() {
		return b.refuse(o, st)
	}
	p := b.node(h.NodeId)
	if p == nil {
		return b.refuse(o, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(o, fop, h, cancel)
	defer c.Done()
	in := b.tab.New()
	defer in.Unref()
	ia, err := run(c, &xlator.Loc{Parent: p.in, Name: name, Inode: in})
	if err != nil {
		return b.fail(o, err)
	}
	if ia.Gfid.IsZero() {
		return b.fail(o, syscall.EIO)
	}
	b.entry(in, p.in, name, &ia, out)
	return fuse.OK
}

// Mknod creates a special or regular file.
func (b *bridge) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	return b.newEntry(cancel, opMknod, xlator.FopMknod, &in.InHeader, name, out, func(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
		return b.top.Mknod(c, loc, in.Mode, in.Rdev, in.Umask)
	})
}

// Mkdir creates a directory.
func (b *bridge) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	return b.newEntry(cancel, opMkdir, xlator.FopMkdir, &in.InHeader, name, out, func(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
		return b.top.Mkdir(c, loc, in.Mode, in.Umask)
	})
}

// Symlink creates linkName in the directory h.NodeId pointing to target.
func (b *bridge) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, linkName string, out *fuse.EntryOut) fuse.Status {
	return b.newEntry(cancel, opSymlink, xlator.FopSymlink, h, linkName, out, func(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
		return b.top.Symlink(c, target, loc, 0)
	})
}

// remove runs unlink or rmdir and forgets the name in the table.
func (b *bridge) remove(cancel <-chan struct{}, o op, fop xlator.Fop, h *fuse.InHeader, name string) fuse.Status {
	if st := checkName(name); !st.Ok() {
		return b.refuse(o, st)
	}
	p := b.node(h.NodeId)
	if p == nil {
		return b.refuse(o, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(o, fop, h, cancel)
	defer c.Done()
	loc := &xlator.Loc{Parent: p.in, Name: name, Inode: b.tab.Child(p.in, name)}
	if loc.Inode != nil {
		defer loc.Inode.Unref()
	}
	var err error
	if fop == xlator.FopRmdir {
		err = b.top.Rmdir(c, loc)
	} else {
		err = b.top.Unlink(c, loc)
	}
	if err != nil {
		return b.fail(o, err)
	}
	b.tab.Unlink(p.in, name)
	return fuse.OK
}

// Unlink removes a non-directory.
func (b *bridge) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return b.remove(cancel, opUnlink, xlator.FopUnlink, h, name)
}

// Rmdir removes an empty directory.
func (b *bridge) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return b.remove(cancel, opRmdir, xlator.FopRmdir, h, name)
}

// renameWhiteout is RENAME_WHITEOUT, which only overlay file systems use.
const renameWhiteout = 4

// Rename moves oldName in in.NodeId to newName in in.Newdir, with
// renameat2's RENAME_NOREPLACE and RENAME_EXCHANGE passed down.
func (b *bridge) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if st := checkName(oldName); !st.Ok() {
		return b.refuse(opRename, st)
	}
	if st := checkName(newName); !st.Ok() {
		return b.refuse(opRename, st)
	}
	if in.Flags&renameWhiteout != 0 || in.Flags&^uint32(renameWhiteout|xlator.RenameNoReplace|xlator.RenameExchange) != 0 {
		return b.refuse(opRename, fuse.EINVAL)
	}
	if in.Flags&xlator.RenameNoReplace != 0 && in.Flags&xlator.RenameExchange != 0 {
		return b.refuse(opRename, fuse.EINVAL)
	}
	on, nn := b.node(in.NodeId), b.node(in.Newdir)
	if on == nil || nn == nil {
		return b.refuse(opRename, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opRename, xlator.FopRename, &in.InHeader, cancel)
	defer c.Done()
	from := &xlator.Loc{Parent: on.in, Name: oldName, Inode: b.tab.Child(on.in, oldName)}
	to := &xlator.Loc{Parent: nn.in, Name: newName, Inode: b.tab.Child(nn.in, newName)}
	for _, l := range []*xlator.Loc{from, to} {
		if l.Inode != nil {
			defer l.Inode.Unref()
		}
	}
	if err := b.top.Rename(c, from, to, in.Flags); err != nil {
		return b.fail(opRename, err)
	}
	if in.Flags&xlator.RenameExchange != 0 {
		// Both names now point elsewhere; the kernel looks them up again.
		b.tab.Unlink(on.in, oldName)
		b.tab.Unlink(nn.in, newName)
	} else {
		b.tab.Rename(on.in, oldName, nn.in, newName)
	}
	return fuse.OK
}

// Link adds filename in in.NodeId as a hard link to in.Oldnodeid.
func (b *bridge) Link(cancel <-chan struct{}, in *fuse.LinkIn, filename string, out *fuse.EntryOut) fuse.Status {
	if st := checkName(filename); !st.Ok() {
		return b.refuse(opLink, st)
	}
	src, p := b.node(in.Oldnodeid), b.node(in.NodeId)
	if src == nil || p == nil {
		return b.refuse(opLink, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opLink, xlator.FopLink, &in.InHeader, cancel)
	defer c.Done()
	ia, err := b.top.Link(c, &xlator.Loc{Inode: src.in}, &xlator.Loc{Parent: p.in, Name: filename})
	if err != nil {
		return b.fail(opLink, err)
	}
	if ia.Gfid.IsZero() {
		ia.Gfid = src.in.GFID()
	}
	b.entry(src.in, p.in, filename, &ia, out)
	return fuse.OK
}
