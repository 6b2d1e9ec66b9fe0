package api

import (
	"errors"
	"io"
	"syscall"

	"github.com/xstack/xstack/xlator"
)

// ReadFrom writes everything r yields at the file's offset, reading
// straight into pooled iobufs that then travel down the stack: io.Copy
// into a File copies each byte once. It implements io.ReaderFrom.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
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
// once. It implements io.WriterTo.
func (f *File) WriteTo(w io.Writer) (int64, error) {
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
