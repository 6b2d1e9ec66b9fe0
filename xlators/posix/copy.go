package posix

import (
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// copier is posix's state for CopyFileRange: the system call and the
// counters the statedump shows.
type copier struct {
	// call is copy_file_range(2) (unix.CopyFileRange when nil); tests
	// replace it to make the kernel refuse or copy short.
	call func(rfd int, roff *int64, wfd int, woff *int64, n int, flags int) (int, error)

	kernel    atomic.Uint64 // copies the kernel did (all or a part)
	fallbacks atomic.Uint64 // copies the kernel refused, done by readv and writev
	bytes     atomic.Uint64 // bytes the kernel copied
}

// copyStep bounds one copy_file_range(2): the kernel copies at most
// about 2 GiB a call anyway, and a caller's interruption is looked at
// between calls.
const copyStep = 1 << 30

func (cp *copier) run(rfd int, roff *int64, wfd int, woff *int64, n int) (int, error) {
	if cp.call != nil {
		return cp.call(rfd, roff, wfd, woff, n, 0)
	}
	return unix.CopyFileRange(rfd, roff, wfd, woff, n, 0)
}

func (cp *copier) dump() []xlator.KV {
	return []xlator.KV{
		{Key: "copy.kernel", Value: cp.kernel.Load()},
		{Key: "copy.fallbacks", Value: cp.fallbacks.Load()},
		{Key: "copy.kernel-bytes", Value: cp.bytes.Load()},
	}
}

// refused reports whether copy_file_range(2) failed with err because it
// cannot copy between these files at all, as opposed to failing at it:
// another file system below the brick (EXDEV), a file system or kernel
// without it (EOPNOTSUPP, ENOSYS), a file it does not copy, such as a
// special file (EINVAL, unless both are one file: then the kernel saw the
// ranges overlap, which a read and write must not be asked to do either).
func refused(err error, sameFile bool) bool {
	switch err {
	case syscall.EXDEV, syscall.EOPNOTSUPP, syscall.ENOSYS:
		return true
	case syscall.EINVAL:
		return !sameFile
	}
	return false
}

// CopyFileRange copies inside the brick with copy_file_range(2) on the two
// brick files: the kernel shares the blocks where the file system can
// (reflinks on btrfs and XFS) and copies in the kernel elsewhere (ext4),
// so no byte comes up to the process. Short copies are continued until
// length or the end of src. Files opened O_DIRECT are copied through
// their buffered fds (the kernel keeps the page cache coherent with the
// direct IO that follows). A kernel that refuses before copying anything
// (see refused) leaves the copy to readv and writev through the graph
// (xlator.CopyByReadWrite on posix itself, counted in copy.fallbacks);
// one that refuses or fails after a part returns the part. The read-ahead
// of dst is invalidated as by a write, and with a reserve the copy is
// charged for the holes of the destination range, as fallocate is.
func (p *Posix) CopyFileRange(c *xlator.Call, src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64, flags uint32) (int64, error) {
	sfc, err := p.file(src)
	if err != nil {
		return 0, err
	}
	dfc, err := p.writableFile(dst)
	if err != nil {
		return 0, err
	}
	if flags != 0 || srcOff < 0 || dstOff < 0 || length < 0 {
		return 0, syscall.EINVAL // the graph checks too; posix may be called directly
	}
	sfd, err := sfc.buffered()
	if err != nil {
		return 0, err
	}
	dfd, err := dfc.buffered()
	if err != nil {
		return 0, err
	}
	var done int64
	copyAll := func() error {
		var err error
		for done < length && err == nil {
			if done > 0 && c.GaveUp() {
				break
			}
			so, do := srcOff+done, dstOff+done
			var n int
			n, err = p.copy.run(sfd, &so, dfd, &do, int(min(length-done, copyStep)))
			if err == syscall.EINTR {
				err = nil
				continue
			}
			if err == nil && n == 0 {
				break // the end of src
			}
			done += int64(n)
		}
		return err
	}
	if p.reserve > 0 {
		// What the copy can allocate: dst's holes under the bytes src has.
		var st unix.Stat_t
		if err := unix.Fstat(sfd, &st); err != nil {
			return 0, err
		}
		if length = min(length, max(0, st.Size-srcOff)); length == 0 {
			return 0, nil
		}
		err = p.allocating(dfd, dstOff, length, copyAll)
	} else {
		err = copyAll()
	}
	if done > 0 {
		p.ra.changed(dfc)
		p.copy.kernel.Add(1)
		p.copy.bytes.Add(uint64(done))
		return done, nil // an error after a part: the next call meets it
	}
	if err != nil && refused(err, src.Inode == dst.Inode) {
		p.copy.fallbacks.Add(1)
		return xlator.CopyByReadWrite(c, p.Self(), src, srcOff, dst, dstOff, length)
	}
	return 0, err
}
