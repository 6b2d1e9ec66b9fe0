package posix

import (
	"github.com/xstack/xstack/runtime/bio"
	"math/bits"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// dataPath moves file data between iobufs and the brick. It exists so the
// data fops can run over runtime/bio (bios over iobuf pages submitted to a
// device) instead of plain system calls without touching the fops.
type dataPath interface {
	// name identifies the path in the statedump.
	name() string
	// read fills the first size bytes of buf from off as far as the file
	// goes: fewer bytes than size means end of file.
	read(fc *fileCtx, buf *iobuf.Iobuf, size int, off int64) (int, error)
	// write writes all of data at off (at the end with O_APPEND) and
	// returns the bytes written; a short count comes with an error.
	write(fc *fileCtx, data *iobuf.Iobref, off int64) (int, error)
	// close releases what the path holds (Fini).
	close()
}

// iovMax is IOV_MAX on Linux: the most iovecs one pwritev takes.
const iovMax = 1024

// dioAlign is the alignment O_DIRECT is assumed to need of offsets,
// lengths and buffer addresses where the file system does not say
// (statx's STATX_DIOALIGN): the logical block size of most devices.
const dioAlign = 512

// dioAlignment returns the memory and the offset/length alignment O_DIRECT
// IO on the file fd needs, as statx reports them (a 4Kn disk asks 4096),
// or dioAlign for both.
func dioAlignment(fd int) (mem, off int) {
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st); err == nil &&
		st.Mask&unix.STATX_DIOALIGN != 0 && st.Dio_offset_align > 0 && st.Dio_mem_align > 0 {
		return int(st.Dio_mem_align), int(st.Dio_offset_align)
	}
	return dioAlign, dioAlign
}

// iovScratch is the per-call iovec array of a write, pooled (the "iovec"
// pool) so that a steady stream of writes allocates nothing.
type iovScratch struct {
	iov []unix.Iovec
}

// directPath is the data path over pread(2) and pwritev(2).
type directPath struct{ p *Posix }

func (directPath) name() string { return "direct" }

func (directPath) close() {}

// aligned reports whether b at off can go to the O_DIRECT fd.
func (fc *fileCtx) aligned(b []byte, off int64) bool {
	return off%int64(fc.offAlign) == 0 && len(b)%fc.offAlign == 0 &&
		(len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%uintptr(fc.memAlign) == 0)
}

// alignedIov is aligned for an iovec that continues at off.
func (fc *fileCtx) alignedIov(v unix.Iovec, off int64) bool {
	return off%int64(fc.offAlign) == 0 && v.Len%uint64(fc.offAlign) == 0 &&
		uintptr(unsafe.Pointer(v.Base))%uintptr(fc.memAlign) == 0
}

func (d directPath) read(fc *fileCtx, buf *iobuf.Iobuf, size int, off int64) (int, error) {
	return preadFull(fc, buf.Bytes()[:size], off)
}

// preadFull reads b at off until it is full or the file ends, through the
// buffered fd when b or off is not aligned for O_DIRECT.
func preadFull(fc *fileCtx, b []byte, off int64) (int, error) {
	fd := fc.fd
	if fc.direct && !fc.aligned(b, off) {
		var err error
		if fd, err = fc.buffered(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(b) {
		m, err := unix.Pread(fd, b[n:], off+int64(n))
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EINVAL && fd == fc.fd && fc.direct {
			// The device wants more alignment than statx said: go
			// through the page cache, as for any unaligned request.
			if fd, err = fc.buffered(); err != nil {
				return n, err
			}
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
		if fd == fc.fd && fc.direct && n < len(b) {
			// A short O_DIRECT read ends at EOF, or left the rest unaligned.
			if !fc.aligned(b[n:], off+int64(n)) {
				var err error
				if fd, err = fc.buffered(); err != nil {
					return n, err
				}
			}
		}
	}
	return n, nil
}

func (d directPath) write(fc *fileCtx, data *iobuf.Iobref, off int64) (int, error) {
	return pwritevAll(d.p, fc, data, off)
}

// pwritevAll writes all of data at off with pwritev straight from its
// segments, continuing short writes, through the buffered fd when the
// request is not aligned for O_DIRECT.
func pwritevAll(p *Posix, fc *fileCtx, data *iobuf.Iobref, off int64) (int, error) {
	s := p.iovPool.Get()
	iov := s.iov[:0]
	ok := true
	for i := 0; i < data.Len(); i++ {
		seg := data.Seg(i)
		if len(seg) == 0 {
			continue
		}
		v := unix.Iovec{Base: &seg[0], Len: uint64(len(seg))}
		ok = ok && (!fc.direct || fc.alignedIov(v, off))
		iov = append(iov, v)
	}
	fd := fc.fd
	var err error
	if fc.direct && !ok {
		fd, err = fc.buffered()
	}
	total := 0
	rest := iov
	for err == nil && len(rest) > 0 {
		batch := rest[:min(len(rest), iovMax)]
		var n int
		n, err = pwritev(fd, batch, off+int64(total))
		if err == syscall.EINTR {
			err = nil
			continue
		}
		if err == syscall.EINVAL && fd == fc.fd && fc.direct {
			// More alignment needed than statx said: buffered.
			fd, err = fc.buffered()
			continue
		}
		if err != nil {
			break
		}
		if n == 0 {
			err = syscall.EIO
			break
		}
		total += n
		for n > 0 {
			if uint64(n) >= rest[0].Len {
				n -= int(rest[0].Len)
				rest = rest[1:]
				continue
			}
			rest[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(rest[0].Base), n))
			rest[0].Len -= uint64(n)
			n = 0
		}
		if fc.direct && fd == fc.fd && len(rest) > 0 && !fc.alignedIov(rest[0], off+int64(total)) {
			fd, err = fc.buffered()
		}
	}
	clear(iov) // no pointers into iobufs stay behind in the pool
	s.iov = iov[:0]
	_ = p.iovPool.Put(s)
	return total, err
}

// pwritev is pwritev(2) over a prepared iovec array: unix.Pwritev builds
// its own array from [][]byte on every call, which allocates.
func pwritev(fd int, iov []unix.Iovec, off int64) (int, error) {
	lo, hi := uintptr(off), uintptr(uint64(off)>>(bits.UintSize-1)>>1)
	n, _, e := unix.Syscall6(unix.SYS_PWRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)), lo, hi, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Readv reads up to size bytes at off into an iobuf from the graph's pool
// and returns an iobref over the bytes read, holding one reference for the
// caller; at or after end of file the iobref is empty. With read-ahead on
// (buffered files), the bytes may come, without a copy, from iobufs read
// ahead for this fd; see the package documentation.
func (p *Posix) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	fc, err := p.file(fd)
	if err != nil {
		return nil, err
	}
	if off < 0 || size < 0 {
		return nil, syscall.EINVAL
	}
	if size == 0 {
		return p.Iobufs().NewIobref(), nil
	}
	if p.ra != nil && !fc.direct {
		return p.ra.readv(fc, size, off)
	}
	return p.readPlain(fc, size, off)
}

// readPlain reads [off, off+size) through the data path into a new iobref.
func (p *Posix) readPlain(fc *fileCtx, size int, off int64) (*iobuf.Iobref, error) {
	ref := p.Iobufs().NewIobref()
	if _, err := p.readInto(fc, ref, size, off); err != nil {
		ref.Unref()
		return nil, err
	}
	return ref, nil
}

// readInto reads up to size bytes at off into a new iobuf and appends the
// bytes read to ref; fewer than size means end of file.
func (p *Posix) readInto(fc *fileCtx, ref *iobuf.Iobref, size int, off int64) (int, error) {
	b := p.Iobufs().Get(size)
	defer b.Unref()
	n, err := p.data.read(fc, b, size, off)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		ref.AddRange(b, 0, n)
	}
	return n, nil
}

// Writev writes data at off (appending with O_APPEND) without copying it:
// the iobref's segments are the iovecs of pwritev. Short writes are
// continued. With a reserve, a write that would leave less free space than
// the reserve fails with ENOSPC.
func (p *Posix) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	fc, err := p.writableFile(fd)
	if err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, syscall.EINVAL
	}
	size := int64(data.Size())
	if size == 0 {
		return 0, nil
	}
	if err := p.space.take(size); err != nil {
		return 0, err
	}
	n, err := p.data.write(fc, data, off)
	p.ra.changed(fc)
	p.space.done(size, int64(n))
	return n, err
}

// Fallocate is fallocate(2) with the same mode bits: the result is what
// Linux does on the brick's file system. Allocating modes honour the
// reserve, charged for the holes of the range (what they can allocate);
// punching and collapsing ones free space.
func (p *Posix) Fallocate(c *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	fc, err := p.writableFile(fd)
	if err != nil {
		return err
	}
	defer p.ra.changed(fc)
	if mode&(xlator.FallocPunchHole|fallocCollapseRange) != 0 {
		err := fallocate(fc.fd, mode, off, length)
		p.space.freed()
		return err
	}
	return p.allocating(fc.fd, off, length, func() error { return fallocate(fc.fd, mode, off, length) })
}

// fallocCollapseRange is FALLOC_FL_COLLAPSE_RANGE, which removes a range
// and so frees space.
const fallocCollapseRange = 0x08

// allocating runs op, a fop that may allocate the holes of [off,
// off+length) in the file fd, under the reserve: it reserves the holes'
// bytes first and counts what the file's allocation grew by.
func (p *Posix) allocating(fd int, off, length int64, op func() error) error {
	if p.reserve <= 0 {
		return op()
	}
	need := holes(fd, off, length)
	if err := p.space.take(need); err != nil {
		return err
	}
	var before, after unix.Stat_t
	_ = unix.Fstat(fd, &before)
	err := op()
	used := need
	if unix.Fstat(fd, &after) == nil {
		used = max(0, (after.Blocks-before.Blocks)*512)
	}
	p.space.done(need, used)
	return err
}

// holes returns how many bytes of [off, off+length) in the file fd are
// not allocated, from SEEK_DATA/SEEK_HOLE; where the file system cannot
// tell, or the range is too fragmented to walk, it counts the rest as
// holes (on the safe side for the reserve).
func holes(fd int, off, length int64) int64 {
	end := off + length
	var n int64
	pos := off
	for i := 0; pos < end; i++ {
		if i == 256 {
			return n + end - pos
		}
		d, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if err == syscall.ENXIO { // no data after pos
			return n + end - pos
		}
		if err != nil {
			return length
		}
		if d > pos {
			n += min(d, end) - pos
		}
		if d >= end {
			return n
		}
		if pos, err = unix.Seek(fd, d, unix.SEEK_HOLE); err != nil {
			return length
		}
	}
	return n
}

// Lseek is lseek(2)'s SEEK_DATA or SEEK_HOLE on the file: the answer is
// the brick file system's (one that does not track holes says data up to
// the end of the file). It moves the open file's offset, which posix
// never uses: every read and write is positional.
func (p *Posix) Lseek(c *xlator.Call, fd *xlator.FD, off int64, whence uint32) (int64, error) {
	fc, err := p.file(fd)
	if err != nil {
		return 0, err
	}
	if whence != xlator.SeekData && whence != xlator.SeekHole {
		return 0, syscall.EINVAL // the graph checks too; posix may be called directly
	}
	return unix.Seek(fc.fd, off, int(whence))
}

func fallocate(fd int, mode uint32, off, length int64) error {
	for {
		err := unix.Fallocate(fd, mode, off, length)
		if err != syscall.EINTR {
			return err
		}
	}
}

// Discard deallocates [off, off+length) (punch hole, keep size): the range
// then reads as zeroes and the size does not change.
func (p *Posix) Discard(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	fc, err := p.writableFile(fd)
	if err != nil {
		return err
	}
	if off < 0 || length <= 0 {
		return syscall.EINVAL // the graph checks too; posix may be called directly
	}
	defer p.ra.changed(fc)
	defer p.space.freed()
	if bp, ok := p.data.(*bioPath); ok {
		return bp.rangeOp(fc, bio.OpDiscard, off, length)
	}
	return fallocate(fc.fd, xlator.FallocPunchHole|xlator.FallocKeepSize, off, length)
}

// Zerofill makes [off, off+length) read as zeroes, extending the file if
// the range ends past it: fallocate's zero-range, or written zeroes where
// the file system lacks it.
func (p *Posix) Zerofill(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	fc, err := p.writableFile(fd)
	if err != nil {
		return err
	}
	if off < 0 || length <= 0 {
		return syscall.EINVAL
	}
	defer p.ra.changed(fc)
	return p.allocating(fc.fd, off, length, func() error {
		if bp, ok := p.data.(*bioPath); ok && !fc.direct {
			return bp.rangeOp(fc, bio.OpWriteZeroes, off, length)
		}
		err := fallocate(fc.fd, xlator.FallocZeroRange, off, length)
		if err != syscall.EOPNOTSUPP {
			return err
		}
		return p.writeZeroes(fc, off, length)
	})
}

// writeZeroes writes zeroes over a range in chunks of one pooled iobuf.
func (p *Posix) writeZeroes(fc *fileCtx, off, length int64) error {
	pool := p.Iobufs()
	chunk := int(min(length, 1<<20))
	b := pool.Get(chunk)
	defer b.Unref()
	clear(b.Bytes()[:chunk])
	fd, err := fc.buffered()
	if err != nil {
		return err
	}
	return repeatWrite(func(b []byte, off int64) (int, error) { return unix.Pwrite(fd, b, off) }, b.Bytes()[:chunk], off, length)
}

// repeatWrite writes chunk over and over to fill [off, off+length) with
// pwrite, continuing short writes. A write that makes no progress is an
// error (EIO), not a reason to try again forever.
func repeatWrite(pwrite func([]byte, int64) (int, error), chunk []byte, off, length int64) error {
	for length > 0 {
		n := int(min(length, int64(len(chunk))))
		m, err := pwrite(chunk[:n], off)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if m <= 0 {
			return syscall.EIO
		}
		off += int64(m)
		length -= int64(m)
	}
	return nil
}
