package cache

import (
	"syscall"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// The fops below change file data or attributes: each passes the fop to
// the child and then, whether it succeeded or not (a failed fop may have
// changed part of the file), invalidates the pages it may have changed.
// The state is looked up after the child returns, so a state a concurrent
// reader created meanwhile is invalidated too; invalidation bumps the
// file's generation, so a fill that read the old data concurrently is not
// cached.

// Writev writes through and drops the pages the write overlaps (every page
// of the file for an O_APPEND fd, whose offset the child chooses).
func (c *Cache) Writev(call *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	n, err := c.FirstChild().Writev(call, fd, data, off)
	if st := c.stateOf(fd.Inode); st != nil {
		if fd.Flags&syscall.O_APPEND != 0 {
			c.invalidate(st, 0, -1)
		} else {
			c.invalidate(st, off, off+int64(data.Size()))
		}
	}
	return n, err
}

// Setattr passes through and drops the file's pages (a truncate changes
// data; any other change moves the ctime and mtime revalidation keys on).
func (c *Cache) Setattr(call *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	ia, err := c.FirstChild().Setattr(call, loc, in)
	c.invalidateInode(loc.Inode)
	return ia, err
}

// Fsetattr is Setattr through an open file.
func (c *Cache) Fsetattr(call *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	ia, err := c.FirstChild().Fsetattr(call, fd, in)
	c.invalidateInode(fd.Inode)
	return ia, err
}

// Unlink passes through and drops the file's pages.
func (c *Cache) Unlink(call *xlator.Call, loc *xlator.Loc) error {
	in := c.resolve(loc)
	err := c.FirstChild().Unlink(call, loc)
	c.invalidateInode(in)
	c.unref(loc, in)
	return err
}

// Rename passes through and drops the pages of the file renamed and of the
// file it replaces.
func (c *Cache) Rename(call *xlator.Call, from, to *xlator.Loc, flags uint32) error {
	src, dst := c.resolve(from), c.resolve(to)
	err := c.FirstChild().Rename(call, from, to, flags)
	c.invalidateInode(src)
	c.invalidateInode(dst)
	c.unref(from, src)
	c.unref(to, dst)
	return err
}

// Link passes through and drops the pages of the file linked.
func (c *Cache) Link(call *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	ia, err := c.FirstChild().Link(call, from, to)
	c.invalidateInode(from.Inode)
	return ia, err
}

// Open passes through; O_TRUNC drops the file's pages.
func (c *Cache) Open(call *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	err := c.FirstChild().Open(call, loc, flags, fd)
	if flags&syscall.O_TRUNC != 0 {
		c.invalidateInode(loc.Inode)
		if fd.Inode != loc.Inode {
			c.invalidateInode(fd.Inode)
		}
	}
	return err
}

// Create passes through; with O_TRUNC an existing file of that name is
// truncated, so the pages of the inode the table knows under the returned
// GFID are dropped.
func (c *Cache) Create(call *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	ia, err := c.FirstChild().Create(call, loc, flags, mode, umask, fd)
	if flags&syscall.O_TRUNC != 0 {
		c.invalidateInode(loc.Inode)
		if err == nil && !ia.Gfid.IsZero() {
			if in := c.Graph().Inodes().Find(ia.Gfid); in != nil {
				c.invalidateInode(in)
				in.Unref()
			}
		}
	}
	return ia, err
}

// Fallocate passes through and drops the file's pages.
func (c *Cache) Fallocate(call *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	err := c.FirstChild().Fallocate(call, fd, mode, off, length)
	c.invalidateInode(fd.Inode)
	return err
}

// Discard passes through and drops the file's pages.
func (c *Cache) Discard(call *xlator.Call, fd *xlator.FD, off, length int64) error {
	err := c.FirstChild().Discard(call, fd, off, length)
	c.invalidateInode(fd.Inode)
	return err
}

// Zerofill passes through and drops the file's pages.
func (c *Cache) Zerofill(call *xlator.Call, fd *xlator.FD, off, length int64) error {
	err := c.FirstChild().Zerofill(call, fd, off, length)
	c.invalidateInode(fd.Inode)
	return err
}

// CopyFileRange passes through and drops the destination's pages the
// copy may have changed, as a write of the range would: the pages of the
// range asked for and the short last page. The source's pages stay: the
// copy only reads it.
func (c *Cache) CopyFileRange(call *xlator.Call, src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64, flags uint32) (int64, error) {
	n, err := c.FirstChild().CopyFileRange(call, src, srcOff, dst, dstOff, length, flags)
	if st := c.stateOf(dst.Inode); st != nil {
		c.invalidate(st, dstOff, dstOff+length)
	}
	return n, err
}

// invalidateInode drops every page of in, if the cache has state on it.
func (c *Cache) invalidateInode(in *xlator.Inode) {
	if st := c.stateOf(in); st != nil {
		c.invalidate(st, 0, -1)
	}
}

// resolve returns loc's inode: loc.Inode, or the inode the table links
// under loc's name (with a reference that unref drops), or nil.
func (c *Cache) resolve(loc *xlator.Loc) *xlator.Inode {
	if loc.Inode != nil || loc.Parent == nil {
		return loc.Inode
	}
	return c.Graph().Inodes().Child(loc.Parent, loc.Name)
}

// unref drops the reference resolve took, if it took one.
func (c *Cache) unref(loc *xlator.Loc, in *xlator.Inode) {
	if in != nil && in != loc.Inode {
		in.Unref()
	}
}

// The fops below return a file's attributes. The cache compares each
// regular file's mtime and size with those its pages were revalidated
// against and drops the pages when they differ (a stale drop, as a
// revalidation that found a change), recording the new ones: whoever asks
// for attributes learns of a change behind the cache no earlier than the
// cache does. This is what keeps a kernel's page cache above the stack
// coherent: the FUSE kernel drops its pages of a file when the attributes
// it gets show a new mtime (auto_inval_data) and reads again; those reads
// must not be served from this cache's old pages.

// Lookup passes through and checks the attributes it returns.
func (c *Cache) Lookup(call *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	ia, err := c.FirstChild().Lookup(call, loc)
	if err == nil {
		c.observeLoc(loc.Inode, &ia)
	}
	return ia, err
}

// Stat passes through and checks the attributes it returns.
func (c *Cache) Stat(call *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	ia, err := c.FirstChild().Stat(call, loc)
	if err == nil {
		c.observeLoc(loc.Inode, &ia)
	}
	return ia, err
}

// Fstat passes through and checks the attributes it returns.
func (c *Cache) Fstat(call *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	ia, err := c.FirstChild().Fstat(call, fd)
	if err == nil {
		c.observe(c.stateOf(fd.Inode), &ia)
	}
	return ia, err
}

// Readdir passes through and checks the attributes of a readdirplus.
func (c *Cache) Readdir(call *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	ents, err := c.FirstChild().Readdir(call, fd, off, count, plus)
	if plus && c.nStates.Load() > 0 {
		for i := range ents {
			c.observeLoc(nil, &ents[i].Attr)
		}
	}
	return ents, err
}

// observeLoc checks ia against the state of in, or of the inode the table
// knows under ia's GFID when in is nil.
func (c *Cache) observeLoc(in *xlator.Inode, ia *xlator.Iatt) {
	if !ia.IsRegular() || c.nStates.Load() == 0 {
		return
	}
	if in != nil && in.GFID() == ia.Gfid {
		c.observe(c.stateOf(in), ia)
		return
	}
	if ia.Gfid.IsZero() {
		return
	}
	if found := c.Graph().Inodes().Find(ia.Gfid); found != nil {
		c.observe(c.stateOf(found), ia)
		found.Unref()
	}
}

// observe drops st's pages when ia shows the file changed since they were
// revalidated, and records ia as the new baseline. Nothing is recorded
// while the baseline is unknown (after a change through the stack): the
// next read revalidates.
func (c *Cache) observe(st *inodeState, ia *xlator.Iatt) {
	if st == nil || !ia.IsRegular() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || !st.attrKnown || st.checking {
		return
	}
	if ia.Mtime == st.mtime && ia.Size == st.size {
		return
	}
	c.recordLocked(st, ia)
}
