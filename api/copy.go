package api

import (
	"errors"
	"io"
	"math"
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// CopyFrom copies up to n bytes of src at srcOff to f at off without
// reading them into the program: the stack's CopyFileRange fop, as
// copy_file_range(2) with both offsets given (a posix brick copies in its
// kernel, and shares the blocks where its file system can). Neither
// file's offset moves. Short copies are continued: the count is less than
// n only when src ends first. src must be open for reading and f for
// writing without O_APPEND (EBADF otherwise), and src must be of the same
// volume (EXDEV otherwise, as between two file systems); ranges of one
// file that overlap give EINVAL. An error after part of the copy returns
// the count copied with it.
func (f *File) CopyFrom(src *File, srcOff, off, n int64) (int64, error) {
	if src.v.g != f.v.g {
		return 0, f.v.pathErr("copy", f.name, syscall.EXDEV)
	}
	if src.dir || f.dir {
		return 0, f.v.pathErr("copy", f.name, syscall.EISDIR)
	}
	c := f.v.begin(xlator.FopCopyFileRange)
	defer c.Done()
	var total int64
	for total < n {
		k, err := f.v.g.Top().CopyFileRange(c, src.fd, srcOff+total, f.fd, off+total, n-total, 0)
		total += k
		if err != nil {
			return total, f.v.pathErr("copy", f.name, err)
		}
		if k == 0 {
			break
		}
	}
	return total, nil
}

// copyFile is io.Copy from src to f when both are files of one volume:
// from src's offset to its end, at f's offset, with CopyFrom, moving both
// offsets by the count. It reports false when it does not apply (f
// appends, a directory, another volume, one open file), and io.Copy's
// byte-moving path goes on.
func (f *File) copyFile(src *File) (int64, bool, error) {
	if src.v.g != f.v.g || src.dir || f.dir || src.file == f.file || f.fd.Flags&syscall.O_APPEND != 0 {
		return 0, false, nil
	}
	// One lock at a time: two copies the other way round must not
	// deadlock.
	src.mu.Lock()
	soff := src.off
	src.mu.Unlock()
	f.mu.Lock()
	n, err := f.CopyFrom(src, soff, f.off, math.MaxInt64-max(soff, f.off))
	f.off += n
	f.mu.Unlock()
	src.mu.Lock()
	src.off = soff + n
	src.mu.Unlock()
	return n, true, err
}

// ReadFrom writes everything r yields at the file's offset, reading
// straight into pooled iobufs that then travel down the stack: io.Copy
// into a File copies each byte once. From another File of the same
// volume nothing is read at all: the stack copies (CopyFrom). It
// implements io.ReaderFrom.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	if src, ok := r.(*File); ok {
		if n, done, err := f.copyFile(src); done {
			return n, err
		}
	}
	if f.dir {
		return 0, f.v.pathErr("write", f.name, syscall.EISDIR)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pool := f.v.g.Env().Iobufs
	c := f.v.begin(xlator.FopWritev)
	defer c.Done()
	var total int64
	for {
		buf := pool.Get(maxIO)
		n, rerr := io.ReadFull(r, buf.Bytes()[:maxIO])
		if n > 0 {
			ref := pool.NewIobref()
			ref.AddRange(buf, 0, n)
			w, werr := f.v.g.Top().Writev(c, f.fd, ref, f.off)
			ref.Unref()
			f.off += int64(w)
			total += int64(w)
			if werr == nil && w < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				buf.Unref()
				return total, f.v.pathErr("write", f.name, werr)
			}
		}
		buf.Unref()
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// WriteTo writes the file from its offset to the end into w, handing w
// the iobufs the stack returned: io.Copy from a File copies each byte
// once. Into another File of the same volume nothing is read at all: the
// stack copies (CopyFrom). It implements io.WriterTo.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if dst, ok := w.(*File); ok {
		if n, done, err := dst.copyFile(f); done {
			return n, err
		}
	}
	if f.dir {
		return 0, f.v.pathErr("read", f.name, syscall.EISDIR)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.v.begin(xlator.FopReadv)
	defer c.Done()
	var total int64
	for {
		ref, err := f.v.g.Top().Readv(c, f.fd, maxIO, f.off)
		if err != nil {
			return total, f.v.pathErr("read", f.name, err)
		}
		size := ref.Size()
		for i := 0; i < ref.Len(); i++ {
			n, werr := w.Write(ref.Seg(i))
			f.off += int64(n)
			total += int64(n)
			if werr != nil {
				ref.Unref()
				return total, werr
			}
		}
		ref.Unref()
		if size < maxIO {
			return total, nil
		}
	}
}
