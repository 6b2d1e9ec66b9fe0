package writebehind

import (
	"syscall"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// Writev holds the write and acknowledges it, or, for writes that must not
// be held, writes the file's held writes and then passes it through. An
// error a flush recorded for fd is returned first, once, with a count of
// 0: that write is not done.
func (w *WriteBehind) Writev(call *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	w.writes.Add(1)
	if err := w.takeErr(fd); err != nil {
		return 0, err
	}
	n := int64(data.Size())
	if n == 0 || n >= w.window || !w.holdable(fd) || w.held.Load()+n > w.total {
		w.bypassed.Add(1)
		if err := w.sync(call, fd.Inode); err != nil {
			return 0, err
		}
		if err := w.takeErr(fd); err != nil {
			return 0, err
		}
		return w.FirstChild().Writev(call, fd, data, off)
	}
	f := w.fileFor(fd.Inode)
	if err := w.lock(call, f); err != nil {
		return 0, err
	}
	if f.bytes+n > w.window {
		w.flushLocked(call, f)
		if err := w.takeErr(fd); err != nil {
			unlock(f)
			return 0, err
		}
	}
	w.hold(f, fd, data, off)
	unlock(f)
	w.behind.Add(1)
	return int(n), nil
}

// holdable reports whether writes through fd may be held: not O_SYNC or
// O_DSYNC (their caller waits for the disk), not O_APPEND (the child picks
// the offset), not O_DIRECT under strict-o-direct.
func (w *WriteBehind) holdable(fd *xlator.FD) bool {
	if fd.Flags&(syscall.O_DSYNC|syscall.O_APPEND) != 0 {
		return false
	}
	return !w.strictODirect || fd.Flags&syscall.O_DIRECT == 0
}

// Readv writes the held writes first when one of them ends past off: it
// overlaps the range read, or moves the end of file the read sees.
func (w *WriteBehind) Readv(call *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if f := w.fileOf(fd.Inode); f != nil && f.end.Load() > off {
		if err := w.sync(call, fd.Inode); err != nil {
			return nil, err
		}
	}
	return w.FirstChild().Readv(call, fd, size, off)
}

// Flush (every close(2)) writes the held writes, unless flush-behind, and
// returns the first error of the fd's held writes not yet reported, or
// the child's.
func (w *WriteBehind) Flush(call *xlator.Call, fd *xlator.FD) error {
	if !w.flushBehind {
		if err := w.sync(call, fd.Inode); err != nil {
			return err
		}
	}
	err := w.FirstChild().Flush(call, fd)
	if herr := w.takeErr(fd); herr != nil {
		return herr
	}
	return err
}

// Fsync writes the held writes, then syncs: the error of a held write wins
// over the child's.
func (w *WriteBehind) Fsync(call *xlator.Call, fd *xlator.FD, datasync bool) error {
	if err := w.sync(call, fd.Inode); err != nil {
		return err
	}
	err := w.FirstChild().Fsync(call, fd, datasync)
	if herr := w.takeErr(fd); herr != nil {
		return herr
	}
	return err
}

// The fops below see or change a file's size, data or times: each writes
// the file's held writes before passing the fop on, so that the child
// answers as if every acknowledged write had been done (a size, an mtime,
// a truncate that must cut the held data too).

// Lookup writes the held writes of the file looked up.
func (w *WriteBehind) Lookup(call *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := w.syncLoc(call, loc); err != nil {
		return xlator.Iatt{}, err
	}
	return w.FirstChild().Lookup(call, loc)
}

// Stat writes the file's held writes first.
func (w *WriteBehind) Stat(call *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := w.syncLoc(call, loc); err != nil {
		return xlator.Iatt{}, err
	}
	return w.FirstChild().Stat(call, loc)
}

// Fstat writes the file's held writes first.
func (w *WriteBehind) Fstat(call *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	if err := w.sync(call, fd.Inode); err != nil {
		return xlator.Iatt{}, err
	}
	return w.FirstChild().Fstat(call, fd)
}

// Link writes the file's held writes first: its reply carries the
// file's attributes, which a front end takes as the size (a kernel that
// links an O_TMPFILE file it just wrote reads up to that size).
func (w *WriteBehind) Link(call *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	if err := w.syncLoc(call, from); err != nil {
		return xlator.Iatt{}, err
	}
	return w.FirstChild().Link(call, from, to)
}

// Lseek writes the file's held writes first: their data is not in the
// child's file yet, so its holes would be answered wrong.
func (w *WriteBehind) Lseek(call *xlator.Call, fd *xlator.FD, off int64, whence uint32) (int64, error) {
	if err := w.sync(call, fd.Inode); err != nil {
		return 0, err
	}
	return w.FirstChild().Lseek(call, fd, off, whence)
}

// Setattr writes the file's held writes first: a truncate must cut them
// too, and a later write would move an mtime set now or drop set-ID bits
// set now.
func (w *WriteBehind) Setattr(call *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	if err := w.syncLoc(call, loc); err != nil {
		return xlator.Iatt{}, err
	}
	return w.FirstChild().Setattr(call, loc, in)
}

// Fsetattr is Setattr through an open file.
func (w *WriteBehind) Fsetattr(call *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	if err := w.sync(call, fd.Inode); err != nil {
		return xlator.Iatt{}, err
	}
	return w.FirstChild().Fsetattr(call, fd, in)
}

// Fallocate writes the file's held writes first.
func (w *WriteBehind) Fallocate(call *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	if err := w.sync(call, fd.Inode); err != nil {
		return err
	}
	return w.FirstChild().Fallocate(call, fd, mode, off, length)
}

// Discard writes the file's held writes first.
func (w *WriteBehind) Discard(call *xlator.Call, fd *xlator.FD, off, length int64) error {
	if err := w.sync(call, fd.Inode); err != nil {
		return err
	}
	return w.FirstChild().Discard(call, fd, off, length)
}

// Zerofill writes the file's held writes first.
func (w *WriteBehind) Zerofill(call *xlator.Call, fd *xlator.FD, off, length int64) error {
	if err := w.sync(call, fd.Inode); err != nil {
		return err
	}
	return w.FirstChild().Zerofill(call, fd, off, length)
}

// CopyFileRange writes the held writes of both files first: the copy
// must read what was acknowledged to src, and a held write of dst
// written after the copy would land over the copied bytes. An error a
// flush recorded for dst is returned first, once, with a count of 0, as
// for a write: the copy is not done.
func (w *WriteBehind) CopyFileRange(call *xlator.Call, src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64, flags uint32) (int64, error) {
	if err := w.takeErr(dst); err != nil {
		return 0, err
	}
	if err := w.sync(call, src.Inode); err != nil {
		return 0, err
	}
	if dst.Inode != src.Inode {
		if err := w.sync(call, dst.Inode); err != nil {
			return 0, err
		}
	}
	if err := w.takeErr(dst); err != nil {
		return 0, err
	}
	return w.FirstChild().CopyFileRange(call, src, srcOff, dst, dstOff, length, flags)
}

// Open with O_TRUNC writes the file's held writes first, so that they do
// not land after the truncate.
func (w *WriteBehind) Open(call *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	if flags&syscall.O_TRUNC != 0 {
		if err := w.syncLoc(call, loc); err != nil {
			return err
		}
	}
	return w.FirstChild().Open(call, loc, flags, fd)
}

// Create with O_TRUNC writes the held writes of the file it may truncate
// first.
func (w *WriteBehind) Create(call *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	if flags&syscall.O_TRUNC != 0 {
		if err := w.syncLoc(call, loc); err != nil {
			return xlator.Iatt{}, err
		}
	}
	return w.FirstChild().Create(call, loc, flags, mode, umask, fd)
}

// Readdir with plus returns attributes: every file's held writes go down
// first (with no map from directory to files, all of them; there is
// nothing to write when no file holds writes).
func (w *WriteBehind) Readdir(call *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	if plus && w.heldWrites.Load() > 0 {
		if err := w.syncAll(call); err != nil {
			return nil, err
		}
	}
	return w.FirstChild().Readdir(call, fd, off, count, plus)
}

// syncLoc writes the held writes of the file loc names: loc.Inode, or the
// inode the table links under loc's name.
func (w *WriteBehind) syncLoc(call *xlator.Call, loc *xlator.Loc) error {
	if w.heldWrites.Load() == 0 {
		return nil
	}
	in := loc.Inode
	if in == nil || w.fileOf(in) == nil {
		if loc.Parent == nil {
			return w.sync(call, in)
		}
		child := w.Graph().Inodes().Child(loc.Parent, loc.Name)
		if child == nil {
			return w.sync(call, in)
		}
		defer child.Unref()
		in = child
	}
	return w.sync(call, in)
}
