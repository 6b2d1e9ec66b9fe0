package xlator

import "github.com/xstack/xstack/runtime/iobuf"

// Lookup records the hop and the statistics around the translator's Lookup.
func (w *wrapper) Lookup(c *Call, loc *Loc) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Lookup(c, loc)
	w.done(c, FopLookup, t, err, 0)
	return r, err
}

// Stat records the hop and the statistics around the translator's Stat.
func (w *wrapper) Stat(c *Call, loc *Loc) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Stat(c, loc)
	w.done(c, FopStat, t, err, 0)
	return r, err
}

// Fstat records the hop and the statistics around the translator's Fstat.
func (w *wrapper) Fstat(c *Call, fd *FD) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Fstat(c, fd)
	w.done(c, FopFstat, t, err, 0)
	return r, err
}

// Setattr records the hop and the statistics around the translator's Setattr.
func (w *wrapper) Setattr(c *Call, loc *Loc, in *SetattrIn) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Setattr(c, loc, in)
	w.done(c, FopSetattr, t, err, 0)
	return r, err
}

// Fsetattr records the hop and the statistics around the translator's Fsetattr.
func (w *wrapper) Fsetattr(c *Call, fd *FD, in *SetattrIn) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Fsetattr(c, fd, in)
	w.done(c, FopFsetattr, t, err, 0)
	return r, err
}

// Access records the hop and the statistics around the translator's Access.
func (w *wrapper) Access(c *Call, loc *Loc, mask uint32) error {
	t := c.enter(w.idx)
	err := w.x.Access(c, loc, mask)
	w.done(c, FopAccess, t, err, 0)
	return err
}

// Readlink records the hop and the statistics around the translator's Readlink.
func (w *wrapper) Readlink(c *Call, loc *Loc) (string, error) {
	t := c.enter(w.idx)
	r, err := w.x.Readlink(c, loc)
	w.done(c, FopReadlink, t, err, 0)
	return r, err
}

// Mknod records the hop and the statistics around the translator's Mknod.
func (w *wrapper) Mknod(c *Call, loc *Loc, mode, rdev, umask uint32) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Mknod(c, loc, mode, rdev, umask)
	w.done(c, FopMknod, t, err, 0)
	return r, err
}

// Mkdir records the hop and the statistics around the translator's Mkdir.
func (w *wrapper) Mkdir(c *Call, loc *Loc, mode, umask uint32) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Mkdir(c, loc, mode, umask)
	w.done(c, FopMkdir, t, err, 0)
	return r, err
}

// Unlink records the hop and the statistics around the translator's Unlink.
func (w *wrapper) Unlink(c *Call, loc *Loc) error {
	t := c.enter(w.idx)
	err := w.x.Unlink(c, loc)
	w.done(c, FopUnlink, t, err, 0)
	return err
}

// Rmdir records the hop and the statistics around the translator's Rmdir.
func (w *wrapper) Rmdir(c *Call, loc *Loc) error {
	t := c.enter(w.idx)
	err := w.x.Rmdir(c, loc)
	w.done(c, FopRmdir, t, err, 0)
	return err
}

// Symlink records the hop and the statistics around the translator's Symlink.
func (w *wrapper) Symlink(c *Call, target string, loc *Loc, umask uint32) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Symlink(c, target, loc, umask)
	w.done(c, FopSymlink, t, err, 0)
	return r, err
}

// Rename records the hop and the statistics around the translator's Rename.
func (w *wrapper) Rename(c *Call, from, to *Loc, flags uint32) error {
	t := c.enter(w.idx)
	err := w.x.Rename(c, from, to, flags)
	w.done(c, FopRename, t, err, 0)
	return err
}

// Link records the hop and the statistics around the translator's Link.
func (w *wrapper) Link(c *Call, from, to *Loc) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Link(c, from, to)
	w.done(c, FopLink, t, err, 0)
	return r, err
}

// Create records the hop and the statistics around the translator's Create.
func (w *wrapper) Create(c *Call, loc *Loc, flags uint32, mode, umask uint32, fd *FD) (Iatt, error) {
	t := c.enter(w.idx)
	r, err := w.x.Create(c, loc, flags, mode, umask, fd)
	w.done(c, FopCreate, t, err, 0)
	return r, err
}

// Open records the hop and the statistics around the translator's Open.
func (w *wrapper) Open(c *Call, loc *Loc, flags uint32, fd *FD) error {
	t := c.enter(w.idx)
	err := w.x.Open(c, loc, flags, fd)
	w.done(c, FopOpen, t, err, 0)
	return err
}

// Readv records the hop and the statistics around the translator's Readv,
// and enforces its contract (contract.go).
func (w *wrapper) Readv(c *Call, fd *FD, size int, off int64) (*iobuf.Iobref, error) {
	t := c.enter(w.idx)
	var r *iobuf.Iobref
	err := readRange(size, off)
	if err == nil {
		r, err = w.x.Readv(c, fd, size, off)
		r, err = w.checkRead(r, err, size)
	}
	var n int64
	if r != nil {
		n = int64(r.Size())
	}
	w.done(c, FopReadv, t, err, n)
	return r, err
}

// Writev records the hop and the statistics around the translator's
// Writev, and enforces its contract (contract.go).
func (w *wrapper) Writev(c *Call, fd *FD, data *iobuf.Iobref, off int64) (int, error) {
	t := c.enter(w.idx)
	var r int
	err := writeRange(data, off)
	if err == nil {
		r, err = w.x.Writev(c, fd, data, off)
		r, err = w.checkWrite(r, err, data.Size())
	}
	w.done(c, FopWritev, t, err, int64(r))
	return r, err
}

// Flush records the hop and the statistics around the translator's Flush.
func (w *wrapper) Flush(c *Call, fd *FD) error {
	t := c.enter(w.idx)
	err := w.x.Flush(c, fd)
	w.done(c, FopFlush, t, err, 0)
	return err
}

// Fsync records the hop and the statistics around the translator's Fsync.
func (w *wrapper) Fsync(c *Call, fd *FD, datasync bool) error {
	t := c.enter(w.idx)
	err := w.x.Fsync(c, fd, datasync)
	w.done(c, FopFsync, t, err, 0)
	return err
}

// Opendir records the hop and the statistics around the translator's Opendir.
func (w *wrapper) Opendir(c *Call, loc *Loc, fd *FD) error {
	t := c.enter(w.idx)
	err := w.x.Opendir(c, loc, fd)
	w.done(c, FopOpendir, t, err, 0)
	return err
}

// Readdir records the hop and the statistics around the translator's Readdir.
func (w *wrapper) Readdir(c *Call, fd *FD, off int64, count int, plus bool) ([]Dirent, error) {
	t := c.enter(w.idx)
	r, err := w.x.Readdir(c, fd, off, count, plus)
	w.done(c, FopReaddir, t, err, 0)
	return r, err
}

// Fsyncdir records the hop and the statistics around the translator's Fsyncdir.
func (w *wrapper) Fsyncdir(c *Call, fd *FD, datasync bool) error {
	t := c.enter(w.idx)
	err := w.x.Fsyncdir(c, fd, datasync)
	w.done(c, FopFsyncdir, t, err, 0)
	return err
}

// Statfs records the hop and the statistics around the translator's Statfs.
func (w *wrapper) Statfs(c *Call, loc *Loc) (Statvfs, error) {
	t := c.enter(w.idx)
	r, err := w.x.Statfs(c, loc)
	w.done(c, FopStatfs, t, err, 0)
	return r, err
}

// Setxattr records the hop and the statistics around the translator's Setxattr.
func (w *wrapper) Setxattr(c *Call, loc *Loc, name string, value []byte, flags uint32) error {
	t := c.enter(w.idx)
	err := w.x.Setxattr(c, loc, name, value, flags)
	w.done(c, FopSetxattr, t, err, 0)
	return err
}

// Getxattr records the hop and the statistics around the translator's Getxattr.
func (w *wrapper) Getxattr(c *Call, loc *Loc, name string) ([]byte, error) {
	t := c.enter(w.idx)
	r, err := w.x.Getxattr(c, loc, name)
	w.done(c, FopGetxattr, t, err, 0)
	return r, err
}

// Listxattr records the hop and the statistics around the translator's Listxattr.
func (w *wrapper) Listxattr(c *Call, loc *Loc) ([]string, error) {
	t := c.enter(w.idx)
	r, err := w.x.Listxattr(c, loc)
	w.done(c, FopListxattr, t, err, 0)
	return r, err
}

// Removexattr records the hop and the statistics around the translator's Removexattr.
func (w *wrapper) Removexattr(c *Call, loc *Loc, name string) error {
	t := c.enter(w.idx)
	err := w.x.Removexattr(c, loc, name)
	w.done(c, FopRemovexattr, t, err, 0)
	return err
}

// Fallocate records the hop and the statistics around the translator's Fallocate,
// after checking its range (contract.go).
func (w *wrapper) Fallocate(c *Call, fd *FD, mode uint32, off, length int64) error {
	t := c.enter(w.idx)
	err := fallocRange(off, length)
	if err == nil {
		err = w.x.Fallocate(c, fd, mode, off, length)
	}
	w.done(c, FopFallocate, t, err, 0)
	return err
}

// Discard records the hop and the statistics around the translator's Discard,
// after checking its range (contract.go).
func (w *wrapper) Discard(c *Call, fd *FD, off, length int64) error {
	t := c.enter(w.idx)
	err := fallocRange(off, length)
	if err == nil {
		err = w.x.Discard(c, fd, off, length)
	}
	w.done(c, FopDiscard, t, err, 0)
	return err
}

// Zerofill records the hop and the statistics around the translator's Zerofill,
// after checking its range (contract.go).
func (w *wrapper) Zerofill(c *Call, fd *FD, off, length int64) error {
	t := c.enter(w.idx)
	err := fallocRange(off, length)
	if err == nil {
		err = w.x.Zerofill(c, fd, off, length)
	}
	w.done(c, FopZerofill, t, err, 0)
	return err
}
