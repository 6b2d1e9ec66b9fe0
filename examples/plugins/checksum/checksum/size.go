package checksum

import (
	"encoding/binary"
	"errors"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/xlator"
)

// errOtherFile is returned by a resize's op when the fop reached another
// file than the one whose table the caller holds: the table is left alone.
var errOtherFile = errors.New("checksum: the fop reached another file")

// resize runs op, which sets the file's size to size, with the table kept
// in step: entries past the new end go, entries added stand for blocks of
// zeroes, and the block the end falls in, when it shrinks, is summed again
// from its content before the truncate. That content is checked first, so
// a truncate never blesses a corrupted block: one that fails the check
// (or cannot be read) keeps its old entry, and reads of it keep failing.
// fd may be nil (a truncate by path). An error storing the table is
// returned (the size has changed).
func (x *Checksum) resize(c *xlator.Call, t *table, fd *xlator.FD, in *xlator.Inode, size int64, op func() error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd == nil {
		return op()
	}
	bs := t.bs
	var old oldBlock
	if size%bs != 0 {
		var err error
		if old, err = x.readOld(c, t, fd, in, size/bs); err != nil {
			x.Logger().Warn("truncating inside a block that cannot be read or fails its check: it keeps its old checksum",
				zap.String("path", pathOf(in, t)), zap.Int64("block", size/bs), zap.Error(err))
		} else {
			defer old.ref.Unref()
		}
	}
	if err := op(); err != nil {
		if errors.Is(err, errOtherFile) {
			return nil
		}
		return err
	}
	err := x.setLen(c, t, (size+bs-1)/bs)
	if err == nil && old.ref != nil && int64(old.ref.Size()) > size%bs {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], entry(sumRange(old.ref, 0, size%bs, bs), t.zero))
		_, err = x.put(c, t, old.b, b[:])
	}
	if err != nil {
		x.Logger().Error("cannot keep the checksum table in step with a truncate",
			zap.String("path", pathOf(in, t)), zap.Int64("size", size), zap.Error(err))
		return x.tableErr(err)
	}
	return nil
}

// holdLoc returns the loaded state of the file loc names, the inode that
// stands for it and a function that lets go of them. A loc without a
// linked inode is looked up and linked, as a front end links what it
// finds, so that the state is the file's and a truncate can open it.
func (x *Checksum) holdLoc(c *xlator.Call, loc *xlator.Loc) (*table, *xlator.Inode, func(), error) {
	if in := loc.Inode; in != nil && !in.GFID().IsZero() {
		t, err := x.stateOf(c, in)
		return t, in, func() {}, err
	}
	ia, err := x.FirstChild().Stat(c, loc)
	if err != nil {
		return nil, nil, nil, err
	}
	var in *xlator.Inode
	if loc.Parent != nil {
		in = x.Graph().Inodes().Link(nil, loc.Parent, loc.Name, &ia)
	} else {
		in = x.Graph().Inodes().Link(nil, nil, "", &ia)
	}
	t, err := x.stateOf(c, in)
	if err != nil {
		in.Unref()
		return nil, nil, nil, err
	}
	return t, in, in.Unref, nil
}

// Setattr keeps the table in step with a truncate.
func (x *Checksum) Setattr(c *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	child := x.FirstChild()
	if in.Valid&xlator.SetSize == 0 {
		return child.Setattr(c, loc, in)
	}
	t, ino, release, err := x.holdLoc(c, loc)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESTALE) {
			return xlator.Iatt{}, err
		}
		return xlator.Iatt{}, x.tableErr(err)
	}
	defer release()
	var ia xlator.Iatt
	err = x.resize(c, t, nil, ino, in.Size, func() error {
		var err error
		ia, err = child.Setattr(c, loc, in)
		return err
	})
	return ia, err
}

// Fsetattr keeps the table in step with an ftruncate.
func (x *Checksum) Fsetattr(c *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	child := x.FirstChild()
	if in.Valid&xlator.SetSize == 0 {
		return child.Fsetattr(c, fd, in)
	}
	ino, held, t, err := x.fileTable(c, fd, "")
	if err != nil {
		return xlator.Iatt{}, err
	}
	if held {
		defer ino.Unref()
	}
	var ia xlator.Iatt
	err = x.resize(c, t, fd, ino, in.Size, func() error {
		var err error
		ia, err = child.Fsetattr(c, fd, in)
		return err
	})
	return ia, err
}

// Open empties the table of a file opened with O_TRUNC.
func (x *Checksum) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	child := x.FirstChild()
	if flags&syscall.O_TRUNC == 0 {
		return child.Open(c, loc, flags, fd)
	}
	t, in, release, err := x.holdLoc(c, loc)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESTALE) {
			return err
		}
		return x.tableErr(err)
	}
	defer release()
	return x.resize(c, t, nil, in, 0, func() error { return child.Open(c, loc, flags, fd) })
}

// Create refuses the table directory's name at the root, and empties the
// table of an existing file it truncates (O_TRUNC without O_EXCL).
func (x *Checksum) Create(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	if x.hidden(loc) {
		return xlator.Iatt{}, syscall.EPERM
	}
	child := x.FirstChild()
	if flags&syscall.O_TRUNC == 0 || flags&syscall.O_EXCL != 0 {
		return child.Create(c, loc, flags, mode, umask, fd)
	}
	old, err := child.Lookup(c, &xlator.Loc{Parent: loc.Parent, Name: loc.Name})
	if err != nil || old.Type() != syscall.S_IFREG || old.Size == 0 {
		return child.Create(c, loc, flags, mode, umask, fd)
	}
	t, in, release, err := x.hold(c, old.Gfid)
	if err != nil {
		return xlator.Iatt{}, x.tableErr(err)
	}
	defer release()
	var ia xlator.Iatt
	err = x.resize(c, t, nil, in, 0, func() error {
		var err error
		if ia, err = child.Create(c, loc, flags, mode, umask, fd); err == nil && ia.Gfid != old.Gfid {
			return errOtherFile
		}
		return err
	})
	return ia, err
}

// zeroRange runs op, which makes bytes [off, off+length) of the file read as
// zeroes, with the table kept in step: whole blocks become blocks of
// zeroes, and the blocks at the ends are summed again from their content
// before. That content is checked first: a block that fails the check, or
// cannot be read, refuses the fop, as it does a write.
func (x *Checksum) zeroRange(c *xlator.Call, fd *xlator.FD, off, length int64, op func() error) error {
	if length <= 0 {
		return op()
	}
	in, held, t, err := x.fileTable(c, fd, "")
	if err != nil {
		return err
	}
	if held {
		defer in.Unref()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd == nil {
		return op()
	}
	olds, err := x.readEnds(c, t, fd, in, off, length)
	if err != nil {
		x.Logger().Error("cannot read a block the fop covers in part: it is refused",
			zap.String("path", in.Path()), zap.Int64("offset", off), zap.Error(err))
		return errnoOr(err, syscall.EIO)
	}
	defer dropOld(olds)
	if err := op(); err != nil {
		return err
	}
	bs := t.bs
	first, last := off/bs, (off+length-1)/bs
	for _, o := range olds {
		if o.ref == nil {
			continue
		}
		start := o.b * bs
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], entry(splice(o.ref, nil, 0, max(off, start)-start, min(off+length, start+bs)-start, bs), t.zero))
		if _, err = x.put(c, t, o.b, b[:]); err != nil {
			break
		}
		if o.b == first {
			first++
		} else {
			last--
		}
	}
	if err == nil {
		err = x.zeroEntries(c, t, first, last-first+1)
	}
	if err != nil {
		x.Logger().Error("cannot keep the checksum table in step with zeroed data",
			zap.String("path", in.Path()), zap.Int64("offset", off), zap.Int64("length", length), zap.Error(err))
		return x.tableErr(err)
	}
	return nil
}

// Discard keeps the table in step.
func (x *Checksum) Discard(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	return x.zeroRange(c, fd, off, length, func() error { return x.FirstChild().Discard(c, fd, off, length) })
}

// Zerofill keeps the table in step.
func (x *Checksum) Zerofill(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	return x.zeroRange(c, fd, off, length, func() error { return x.FirstChild().Zerofill(c, fd, off, length) })
}

// fallocUnshare is FALLOC_FL_UNSHARE_RANGE, which changes no data.
const fallocUnshare = 0x40

// Fallocate keeps the table in step with punched and zeroed ranges; the
// modes that move data (collapse and insert range) are refused
// (EOPNOTSUPP).
func (x *Checksum) Fallocate(c *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	if mode&^(xlator.FallocKeepSize|xlator.FallocPunchHole|xlator.FallocZeroRange|fallocUnshare) != 0 {
		return syscall.EOPNOTSUPP
	}
	op := func() error { return x.FirstChild().Fallocate(c, fd, mode, off, length) }
	if mode&(xlator.FallocPunchHole|xlator.FallocZeroRange) == 0 {
		return op()
	}
	return x.zeroRange(c, fd, off, length, op)
}
