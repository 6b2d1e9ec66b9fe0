package xlator

import (
	"errors"
	"syscall"

	"go.uber.org/zap"
)

// Copying a range (CopyFileRange). Where the copy is done: a translator
// that knows how (posix asks the kernel, which may share the blocks;
// stripe gives each child the blocks that meet on it; caching ones drop
// what the copy overwrites and pass it on) implements the fop. One that
// does not inherits Base's, which answers ENOSYS (the copy would pass it
// by, and a translator that changes, keeps or accounts for data must see
// every byte that reaches the file through it), unless its type is
// DataTransparent: one that lets readv and writev pass unchanged lets the
// copy pass too. The graph's wrapper turns that ENOSYS into a copy
// through the translator's own Readv and Writev (CopyByReadWrite), so
// every translator that does not care gets the bytes its reads and writes
// would have moved, and no translator writes the fallback again. Doing it
// in the wrapper rather than in Base also covers translators whose
// ENOSYS does not come from Base: a plugin's (the protocol does not carry
// the fop yet) and a bottom without the fop. A front end never sees
// ENOSYS from a graph that can read and write, which matters for FUSE: an
// ENOSYS reply turns copy_file_range off for the whole mount.
//
// The fallback's reads and writes are counted in the translator's READ and
// WRITE statistics too, since they are fops it served; COPY_FILE_RANGE
// counts the copy once, with the bytes copied.

// copyChunk is the most one Readv and one Writev of CopyByReadWrite
// carry: the largest iobuf class, so a chunk is one pooled iobuf at the
// bottom.
const copyChunk = 1 << 20

// CopyFileRange answers ENOSYS, so that the graph copies through the
// translator's own Readv and Writev; a DataTransparent type's copy goes
// to its child instead (see the top of this file).
func (b *Base) CopyFileRange(c *Call, src *FD, srcOff int64, dst *FD, dstOff, length int64, flags uint32) (int64, error) {
	if b.transparent && len(b.children) > 0 {
		return b.children[0].CopyFileRange(c, src, srcOff, dst, dstOff, length, flags)
	}
	return 0, syscall.ENOSYS
}

// CopyByReadWrite copies up to length bytes of src at srcOff to dst at
// dstOff through x's Readv and Writev, in chunks of at most 1 MiB: each
// chunk's iobref, as Readv returned it, is the data of the Writev (no
// copy in between) and is released before the next chunk. It stops at
// src's end (a short read) and returns the count copied. An error after
// some progress returns the progress without the error (the next call
// meets it), as CopyFileRange's contract says; so does a caller that gave
// up (Call.GaveUp), checked between chunks (ECANCELED when nothing was
// copied).
// Translators call it with their Self() for the parts they do not copy
// themselves.
func CopyByReadWrite(c *Call, x Fops, src *FD, srcOff int64, dst *FD, dstOff, length int64) (int64, error) {
	var done int64
	for done < length {
		if c.GaveUp() {
			return progress(done, syscall.ECANCELED)
		}
		want := int(min(length-done, copyChunk))
		data, err := x.Readv(c, src, want, srcOff+done)
		if err != nil {
			return progress(done, err)
		}
		got, n := data.Size(), 0
		if got > 0 {
			n, err = x.Writev(c, dst, data, dstOff+done)
		}
		data.Unref()
		done += int64(n)
		if err != nil {
			return progress(done, err)
		}
		if got < want {
			break
		}
	}
	return done, nil
}

// progress is the result of a copy that failed after done bytes.
func progress(done int64, err error) (int64, error) {
	if done > 0 {
		return done, nil
	}
	return 0, err
}

// copyArgs checks a copy's arguments in the order copy_file_range(2)
// does.
func copyArgs(src *FD, srcOff int64, dst *FD, dstOff, length int64, flags uint32) error {
	switch {
	case flags != 0:
		return syscall.EINVAL
	case src.IsDir() || dst.IsDir():
		return syscall.EISDIR
	case src.Flags&syscall.O_ACCMODE == syscall.O_WRONLY,
		dst.Flags&syscall.O_ACCMODE == syscall.O_RDONLY,
		dst.Flags&syscall.O_APPEND != 0:
		return syscall.EBADF
	case srcOff < 0 || dstOff < 0 || length < 0:
		return syscall.EINVAL
	case length > maxOffset-srcOff || length > maxOffset-dstOff:
		return syscall.EOVERFLOW
	}
	return nil
}

// overlap reports whether [a, a+n) and [b, b+n) share a byte.
func overlap(a, b, n int64) bool { return n > 0 && a < b+n && b < a+n }

// CopyFileRange records the hop and the statistics (with the bytes
// copied) around the translator's CopyFileRange, after checking its
// arguments; it copies through the translator's Readv and Writev when
// the translator answers ENOSYS, and enforces the result's contract.
func (w *wrapper) CopyFileRange(c *Call, src *FD, srcOff int64, dst *FD, dstOff, length int64, flags uint32) (int64, error) {
	t := c.enter(w.idx)
	n, err := w.copyRange(c, src, srcOff, dst, dstOff, length, flags)
	w.done(c, FopCopyFileRange, t, err, n)
	return n, err
}

func (w *wrapper) copyRange(c *Call, src *FD, srcOff int64, dst *FD, dstOff, length int64, flags uint32) (int64, error) {
	if err := copyArgs(src, srcOff, dst, dstOff, length, flags); err != nil {
		return 0, err
	}
	if src.Inode == dst.Inode && overlap(srcOff, dstOff, length) {
		// As the kernel, cut the source range at the end of the file
		// before refusing: only the bytes that would be copied count.
		ia, err := w.Fstat(c, src)
		if err != nil {
			return 0, err
		}
		if srcOff >= ia.Size {
			return 0, nil
		}
		length = min(length, ia.Size-srcOff)
		if overlap(srcOff, dstOff, length) {
			return 0, syscall.EINVAL
		}
	}
	if length == 0 {
		return 0, nil
	}
	n, err := w.x.CopyFileRange(c, src, srcOff, dst, dstOff, length, flags)
	if n == 0 && errors.Is(err, syscall.ENOSYS) {
		return CopyByReadWrite(c, w, src, srcOff, dst, dstOff, length)
	}
	return w.checkCopy(n, err, length)
}

// checkCopy enforces CopyFileRange's result: 0 with an error, at most
// length without one.
func (w *wrapper) checkCopy(n int64, err error, length int64) (int64, error) {
	switch {
	case err != nil && n != 0:
		w.breach(FopCopyFileRange, "a count with an error (reported as nothing copied)", zap.Error(err), zap.Int64("count", n))
		return 0, err
	case err == nil && (n < 0 || n > length):
		w.breach(FopCopyFileRange, "a count outside [0, length] (reported as EIO)", zap.Int64("length", length), zap.Int64("count", n))
		return 0, syscall.EIO
	}
	return n, err
}
