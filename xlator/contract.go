package xlator

import (
	"math"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/iobuf"
)

// The graph's wrapper enforces the data fops' contract once, at every hop,
// so that no front end and no translator has to trust what the one below
// it returns, and a translator never sees a range it would have to check:
//
//   - Ranges: a negative offset or size, or an offset+length past the
//     largest file offset, is refused before the translator is called
//     (EINVAL for readv and writev, as pread/pwrite; EINVAL or EFBIG for
//     fallocate, discard and zerofill, as fallocate(2)); an lseek's
//     whence other than SEEK_DATA or SEEK_HOLE is EINVAL, a negative
//     offset ENXIO, as lseek(2).
//   - Tmpfile: loc names a directory (Parent) and no entry (Name ""),
//     and flags can write; EINVAL otherwise, as open(2) with O_TMPFILE.
//   - Readv: on error the iobref is nil (one a translator returned anyway
//     is released); on success it is not nil and holds at most size bytes.
//   - Writev: on success n is the whole of data; on error n < data.Size()
//     is how many bytes at the start of data reached the file. A
//     translator that returns an error with the full count (it wrote the
//     data but failed at something else) has the count cut to 0, so that
//     every front end reports the error instead of a complete write; a
//     short count without an error becomes EIO.
//   - CopyFileRange: its arguments are checked as copy_file_range(2)
//     checks them, and its count is 0 with an error and at most the
//     length without one (copy.go).
//
// Each breach of the contract by a translator is logged (the first few,
// then every 1024th) and counted: fop-contract-breaches in its private
// statedump section.

// maxOffset is the largest file offset a range may reach.
const maxOffset = math.MaxInt64

// readRange checks a readv's range.
func readRange(size int, off int64) error {
	if size < 0 || off < 0 || int64(size) > maxOffset-off {
		return syscall.EINVAL
	}
	return nil
}

// writeRange checks a writev's range.
func writeRange(data *iobuf.Iobref, off int64) error {
	if off < 0 || data == nil || int64(data.Size()) > maxOffset-off {
		return syscall.EINVAL
	}
	return nil
}

// fallocRange checks the range of fallocate, discard and zerofill.
func fallocRange(off, length int64) error {
	switch {
	case off < 0 || length <= 0:
		return syscall.EINVAL
	case length > maxOffset-off:
		return syscall.EFBIG
	}
	return nil
}

// seekArgs checks an lseek's arguments: SEEK_DATA or SEEK_HOLE, and an
// offset lseek(2) answers ENXIO for when it is negative.
func seekArgs(off int64, whence uint32) error {
	switch {
	case whence != SeekData && whence != SeekHole:
		return syscall.EINVAL
	case off < 0:
		return syscall.ENXIO
	}
	return nil
}

// tmpfileArgs checks a tmpfile's arguments: a directory and no name in
// loc, and write access in flags (open(2) with O_TMPFILE gives EINVAL
// without it).
func tmpfileArgs(loc *Loc, flags uint32) error {
	if loc == nil || loc.Parent == nil || loc.Name != "" || flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		return syscall.EINVAL
	}
	return nil
}

// violations counts one translator's breaches of the contract.
type violations struct{ n atomic.Uint64 }

// breach logs and counts a breach of the fop contract by w's translator.
func (w *wrapper) breach(f Fop, what string, fields ...zap.Field) {
	n := w.violations.n.Add(1)
	if n <= 8 || n%1024 == 0 {
		w.x.base().Logger().Error("translator broke the fop contract: "+what,
			append(fields, zap.Stringer("fop", f), zap.Uint64("breaches", n))...)
	}
}

// checkRead enforces Readv's results.
func (w *wrapper) checkRead(r *iobuf.Iobref, err error, size int) (*iobuf.Iobref, error) {
	switch {
	case err != nil && r != nil:
		w.breach(FopReadv, "an iobref returned with an error", zap.Error(err))
		r.Unref()
		return nil, err
	case err == nil && r == nil:
		w.breach(FopReadv, "no iobref and no error")
		return nil, syscall.EIO
	case err == nil && r.Size() > size:
		w.breach(FopReadv, "more bytes than asked", zap.Int("size", size), zap.Int("returned", r.Size()))
		r.Truncate(size)
	}
	return r, err
}

// checkWrite enforces Writev's results.
func (w *wrapper) checkWrite(n int, err error, size int) (int, error) {
	switch {
	case err != nil && n >= size:
		w.breach(FopWritev, "an error with the full count (reported as nothing written)", zap.Error(err), zap.Int("count", n))
		return 0, err
	case err != nil && n < 0:
		w.breach(FopWritev, "a negative count", zap.Error(err), zap.Int("count", n))
		return 0, err
	case err == nil && n != size:
		w.breach(FopWritev, "a short or long count without an error (reported as EIO)", zap.Int("size", size), zap.Int("count", n))
		return max(0, min(n, size-1)), syscall.EIO
	}
	return n, err
}
