package checksum

import (
	"encoding/binary"
	"errors"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// pathOf names a file in the log: its path when the inode table knows it,
// else its gfid.
func pathOf(in *xlator.Inode, t *table) string {
	if in != nil {
		return in.Path()
	}
	return "<gfid:" + t.gfid.String() + ">"
}

// verify checks bytes [from, from+n) of ref, which hold block b, against
// the block's entry: nil when they match or the entry is unknown, EIO
// (logged, counted) when they differ or the entry cannot be read. t.mu is
// held, either way.
func (x *Checksum) verify(c *xlator.Call, t *table, in *xlator.Inode, ref *iobuf.Iobref, from, n, b int64) error {
	e, err := x.entryOf(c, t, b)
	if err != nil {
		x.tableErrors.Add(1)
		x.Logger().Error("cannot read the checksum table: the block cannot be checked",
			zap.String("path", pathOf(in, t)), zap.Int64("block", b), zap.Error(err))
		return syscall.EIO
	}
	if e == unknown {
		return nil
	}
	if got := entry(sumRange(ref, from, n, t.bs), t.zero); got != e {
		x.mismatches.Add(1)
		x.Logger().Error("checksum mismatch: the data changed behind the stack",
			zap.String("path", pathOf(in, t)), zap.String("gfid", t.gfid.String()),
			zap.Int64("block", b), zap.Int64("offset", b*t.bs),
			zap.Uint32("stored", e^t.zero), zap.Uint32("computed", got^t.zero))
		return syscall.EIO
	}
	x.verified.Add(1)
	return nil
}

// Readv reads whole blocks from the child, checks them, and returns the
// bytes asked for. A file without a table is read unchecked.
func (x *Checksum) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	in, held, t, err := x.fileTable(c, fd, "the read fails")
	if err != nil {
		return nil, err
	}
	if held {
		defer in.Unref()
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.fd == nil {
		return x.FirstChild().Readv(c, fd, size, off)
	}
	bs := t.bs
	start := off / bs * bs
	end := (off + int64(size) + bs - 1) / bs * bs
	ref, err := x.FirstChild().Readv(c, fd, int(end-start), start)
	if err != nil {
		return nil, err
	}
	got := int64(ref.Size())
	for b := start / bs; b*bs < start+got; b++ {
		from := b*bs - start
		if err := x.verify(c, t, in, ref, from, min(bs, got-from), b); err != nil {
			ref.Unref()
			return nil, err
		}
	}
	return slice(x.Iobufs(), ref, off-start, int64(size)), nil
}

// slice returns bytes [from, from+n) of ref (fewer at its end) as an
// iobref over the same iobufs, and drops the caller's reference on ref.
func slice(pool *iobuf.Pool, ref *iobuf.Iobref, from, n int64) *iobuf.Iobref {
	size := int64(ref.Size())
	if from == 0 {
		if n < size {
			ref.Truncate(int(n))
		}
		return ref
	}
	out := pool.NewIobref()
	pos := int64(0)
	for i := 0; i < ref.Len() && n > 0; i++ {
		b, o, l := ref.Entry(i)
		seg := int64(l)
		if pos+seg <= from {
			pos += seg
			continue
		}
		s := max(from-pos, 0)
		e := min(seg, s+n)
		out.AddRange(b, o+int(s), int(e-s))
		n -= e - s
		pos += seg
	}
	ref.Unref()
	return out
}

// errnoOr returns err's errno, or e when it carries none.
func errnoOr(err error, e syscall.Errno) error {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return e
}

// covered reports whether bytes [off, off+n) cover block b of size bs.
func covered(b, off, n, bs int64) bool { return b*bs >= off && (b+1)*bs <= off+n }

// oldBlock is a block's content before a fop changes part of it.
type oldBlock struct {
	b   int64
	ref *iobuf.Iobref // nil: not read
}

// readOld reads block b of the file as it is now and checks it against
// its entry, through fd if it can read, else through a read-only fd kept
// in t, opened on in. t.mu is held exclusively.
func (x *Checksum) readOld(c *xlator.Call, t *table, fd *xlator.FD, in *xlator.Inode, b int64) (oldBlock, error) {
	rfd := fd
	if fd == nil || fd.Flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		if t.rfd == nil {
			if in == nil {
				return oldBlock{}, syscall.EIO
			}
			nfd := x.Graph().NewFD(in, syscall.O_RDONLY, c.Pid, false)
			if err := x.FirstChild().Open(c, &xlator.Loc{Inode: in}, syscall.O_RDONLY, nfd); err != nil {
				nfd.Unref()
				return oldBlock{}, err
			}
			t.rfd = nfd
		}
		rfd = t.rfd
	}
	ref, err := x.FirstChild().Readv(c, rfd, int(t.bs), b*t.bs)
	if err != nil {
		return oldBlock{}, err
	}
	if err := x.verify(c, t, in, ref, 0, int64(ref.Size()), b); err != nil {
		ref.Unref()
		return oldBlock{}, err
	}
	return oldBlock{b: b, ref: ref}, nil
}

// readEnds reads (and checks) the blocks at the ends of [off, off+n) that
// the range covers only in part, for a fop that is about to change the
// range; the caller drops them with dropOld.
func (x *Checksum) readEnds(c *xlator.Call, t *table, fd *xlator.FD, in *xlator.Inode, off, n int64) ([2]oldBlock, error) {
	var olds [2]oldBlock
	first, last := off/t.bs, (off+n-1)/t.bs
	for i, b := range [2]int64{first, last} {
		if (i == 1 && b == first) || covered(b, off, n, t.bs) {
			continue
		}
		o, err := x.readOld(c, t, fd, in, b)
		if err != nil {
			dropOld(olds)
			return olds, err
		}
		olds[i] = o
	}
	return olds, nil
}

func dropOld(olds [2]oldBlock) {
	for _, o := range olds {
		if o.ref != nil {
			o.ref.Unref()
		}
	}
}

// oldOf returns the old content of block b among olds, or nil.
func oldOf(olds [2]oldBlock, b int64) *iobuf.Iobref {
	for _, o := range olds {
		if o.ref != nil && o.b == b {
			return o.ref
		}
	}
	return nil
}

// Writev writes through and records the sums of the blocks written. It
// never reports as written a byte it could not protect: when the file's
// table cannot be made, or a block the write covers in part cannot be
// read (or fails its check), nothing is written; when the sums cannot be
// stored, the count returned, with an error, covers only the blocks whose
// sums were.
func (x *Checksum) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	size := int64(data.Size())
	child := x.FirstChild()
	if size == 0 {
		return child.Writev(c, fd, data, off)
	}
	in, held, t, err := x.fileTable(c, fd, "the write is refused")
	if err != nil {
		return 0, err
	}
	if held {
		defer in.Unref()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd == nil || fd.Flags&syscall.O_APPEND != 0 {
		ia, err := child.Fstat(c, fd)
		if err != nil {
			return 0, err
		}
		if fd.Flags&syscall.O_APPEND != 0 {
			off = ia.Size
		}
		if t.fd == nil {
			if err := x.create(c, t, &ia); err != nil {
				x.Logger().Error("cannot make the checksum table: the write is refused",
					zap.String("path", in.Path()), zap.Error(err))
				return 0, x.tableErr(err)
			}
		}
	}
	olds, err := x.readEnds(c, t, fd, in, off, size)
	if err != nil {
		x.Logger().Error("cannot read a block the write covers in part: the write is refused",
			zap.String("path", in.Path()), zap.Int64("offset", off), zap.Error(err))
		return 0, errnoOr(err, syscall.EIO)
	}
	defer dropOld(olds)
	n, werr := child.Writev(c, fd, data, off)
	if n <= 0 {
		return n, werr
	}
	x.writes.Add(1)
	prot, serr := x.record(c, t, data, off, int64(n), olds)
	if prot == int64(n) {
		return n, werr
	}
	err = werr
	if serr != nil {
		x.Logger().Error("cannot store checksums: the write reports only the bytes it protects",
			zap.String("path", in.Path()), zap.Int64("offset", off), zap.Int("written", n),
			zap.Int64("protected", prot), zap.Error(serr))
		err = x.tableErr(serr)
	}
	if err == nil {
		err = syscall.EIO
	}
	return int(prot), err
}

// record stores the entries of the blocks that bytes [off, off+n) of the
// file, the first n bytes of data, now fill, and returns how many bytes
// at the start of data are protected: written, with their blocks' entries
// stored. olds hold the blocks the write covers in part, as they were. A
// block a short write left half-written whose old content was not read
// becomes unknown, and ends the protected bytes. t.mu is held
// exclusively.
func (x *Checksum) record(c *xlator.Call, t *table, data *iobuf.Iobref, off, n int64, olds [2]oldBlock) (int64, error) {
	bs := t.bs
	first, last := off/bs, (off+n-1)/bs
	cnt := last - first + 1
	var small [256]byte
	b := small[:0]
	if 4*cnt > int64(len(small)) {
		b = make([]byte, 0, 4*cnt)
	}
	good := cnt // blocks before the first one left unknown
	for i := range cnt {
		blk := first + i
		start := blk * bs
		ws, we := max(off, start), min(off+n, start+bs)
		e := unknown
		if old := oldOf(olds, blk); ws == start && we == start+bs {
			e = entry(sumRange(data, ws-off, bs, bs), t.zero)
		} else if old != nil {
			e = entry(splice(old, data, ws-off, ws-start, we-start, bs), t.zero)
		} else {
			good = min(good, i)
			x.unknown.Add(1)
		}
		b = binary.LittleEndian.AppendUint32(b, e)
	}
	stored, err := x.put(c, t, first, b)
	good = min(good, stored)
	if good == cnt {
		return n, err
	}
	return min(max((first+good)*bs-off, 0), n), err
}

// Fsync makes the file's data durable, then its table, so that after a
// crash a synced block's sum is there to check it.
func (x *Checksum) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	if err := x.FirstChild().Fsync(c, fd, datasync); err != nil {
		return err
	}
	in, held, t, err := x.fileTable(c, fd, "")
	if err != nil {
		return err
	}
	if held {
		defer in.Unref()
	}
	t.mu.RLock()
	tfd := t.fd
	if tfd != nil {
		tfd.Ref()
	}
	t.mu.RUnlock()
	if tfd == nil {
		return nil
	}
	defer tfd.Unref()
	if err := x.FirstChild().Fsync(c, tfd, datasync); err != nil {
		x.Logger().Error("cannot sync the checksum table", zap.String("path", in.Path()), zap.Error(err))
		return x.tableErr(err)
	}
	return nil
}
