package fuse

import (
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/xstack/xstack/xlator"
)

func internalXattr(name string) bool { return strings.HasPrefix(name, internalXattrPrefix) }

// SetXAttr sets an extended attribute; the internal namespace is refused.
func (b *bridge) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	if internalXattr(attr) {
		return b.refuse(opSetxattr, fuse.EPERM)
	}
	n := b.node(in.NodeId)
	if n == nil {
		return b.refuse(opSetxattr, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opSetxattr, xlator.FopSetxattr, &in.InHeader, cancel)
	defer c.Done()
	// The value lives in go-fuse's request buffer; a translator that keeps
	// it (a metadata cache) must not see it change, so it gets a copy.
	val := append([]byte(nil), data...)
	n.privClean.Store(false)
	if err := b.top.Setxattr(c, &xlator.Loc{Inode: n.in}, attr, val, in.Flags); err != nil {
		return b.fail(opSetxattr, err)
	}
	return fuse.OK
}

// GetXAttr returns an attribute's value, or with a zero-length dest its
// size (go-fuse turns ERANGE with the size into the size probe's reply).
// security.capability and the internal namespace are answered ENODATA
// without winding.
func (b *bridge) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	if attr == capabilityXattr && !b.killPriv && !b.windCapability || internalXattr(attr) {
		b.stats.shortcuts.Add(1)
		return 0, b.refuse(opGetxattr, fuse.ENODATA)
	}
	n := b.node(h.NodeId)
	if n == nil {
		return 0, b.refuse(opGetxattr, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opGetxattr, xlator.FopGetxattr, h, cancel)
	defer c.Done()
	val, err := b.top.Getxattr(c, &xlator.Loc{Inode: n.in}, attr)
	if err != nil {
		return 0, b.fail(opGetxattr, err)
	}
	if len(val) > len(dest) {
		return uint32(len(val)), fuse.ERANGE
	}
	return uint32(copy(dest, val)), fuse.OK
}

// ListXAttr lists attribute names, NUL-terminated, without the internal
// namespace.
func (b *bridge) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	n := b.node(h.NodeId)
	if n == nil {
		return 0, b.refuse(opListxattr, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opListxattr, xlator.FopListxattr, h, cancel)
	defer c.Done()
	names, err := b.top.Listxattr(c, &xlator.Loc{Inode: n.in})
	if err != nil {
		return 0, b.fail(opListxattr, err)
	}
	size := 0
	for _, name := range names {
		if !internalXattr(name) {
			size += len(name) + 1
		}
	}
	if size > len(dest) {
		return uint32(size), fuse.ERANGE
	}
	dest = dest[:0]
	for _, name := range names {
		if !internalXattr(name) {
			dest = append(dest, name...)
			dest = append(dest, 0)
		}
	}
	return uint32(size), fuse.OK
}

// RemoveXAttr removes an attribute; the internal namespace is refused.
func (b *bridge) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	if internalXattr(attr) {
		return b.refuse(opRemovexattr, fuse.EPERM)
	}
	n := b.node(h.NodeId)
	if n == nil {
		return b.refuse(opRemovexattr, fuse.Status(syscall.ESTALE))
	}
	c := b.begin(opRemovexattr, xlator.FopRemovexattr, h, cancel)
	defer c.Done()
	if err := b.top.Removexattr(c, &xlator.Loc{Inode: n.in}, attr); err != nil {
		return b.fail(opRemovexattr, err)
	}
	return fuse.OK
}

// StatFs reports the file system's statistics.
func (b *bridge) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	n := b.node(h.NodeId)
	if n == nil {
		n = b.nodes.root
	}
	c := b.begin(opStatfs, xlator.FopStatfs, h, cancel)
	defer c.Done()
	st, err := b.top.Statfs(c, &xlator.Loc{Inode: n.in})
	if err != nil {
		return b.fail(opStatfs, err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize = uint32(st.Bsize), uint32(st.Frsize)
	out.NameLen = uint32(st.Namemax)
	return fuse.OK
}
