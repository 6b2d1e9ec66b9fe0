package xlator_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"syscall"
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// xform stores each byte XORed with the low byte of its file offset: a
// translator that changes data and has no copy of its own. A copy passed
// by it to its child would move stored bytes to another offset, where
// they read back wrong.
type xform struct{ xlator.Base }

var xformType = xlator.Type{Name: "xform", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &xform{} }}

func (x *xform) mix(r *iobuf.Iobref, off int64) *iobuf.Iobref {
	b := make([]byte, r.Size())
	r.CopyTo(b)
	for i := range b {
		b[i] ^= byte(off + int64(i))
	}
	return x.Iobufs().FromBytes(b)
}

func (x *xform) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	r, err := x.FirstChild().Readv(c, fd, size, off)
	if err != nil {
		return nil, err
	}
	defer r.Unref()
	return x.mix(r, off), nil
}

func (x *xform) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	m := x.mix(data, off)
	defer m.Unref()
	return x.FirstChild().Writev(c, fd, m, off)
}

// copyLiar implements CopyFileRange by passing it to its child, counts the
// calls that reach it, and breaks the result's contract as mode says.
type copyLiar struct {
	xlator.Base
	mode  string
	calls int
}

var copyLiarType = xlator.Type{Name: "copyliar", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &copyLiar{mode: liarMode} }}

func (l *copyLiar) CopyFileRange(c *xlator.Call, src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64, flags uint32) (int64, error) {
	l.calls++
	n, err := l.FirstChild().CopyFileRange(c, src, srcOff, dst, dstOff, length, flags)
	switch l.mode {
	case "count-and-error":
		return n, syscall.EIO
	case "too-many":
		return length + 1, nil
	case "negative":
		return -1, nil
	case "enosys":
		return 0, syscall.ENOSYS
	}
	return n, err
}

func copyRegistry() *xlator.Registry {
	reg := xlatortest.Registry()
	reg.MustRegister(xformType)
	reg.MustRegister(copyLiarType)
	return reg
}

// pattern returns n bytes that differ at every offset of a 251-byte cycle.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%251) ^ seed
	}
	return b
}

// create creates name and returns its fd, both released when the test
// ends.
func create(t *testing.T, g *xlator.Graph, name string) *xlator.FD {
	in, fd := xlatortest.Create(t, g, name)
	t.Cleanup(in.Unref)
	t.Cleanup(fd.Unref)
	return fd
}

func writeAll(t *testing.T, g *xlator.Graph, fd *xlator.FD, b []byte, off int64) {
	t.Helper()
	c := xlatortest.Begin(g, xlator.FopWritev)
	defer c.Done()
	data := g.Env().Iobufs.FromBytes(b)
	defer data.Unref()
	if n, err := g.Top().Writev(c, fd, data, off); err != nil || n != len(b) {
		t.Fatalf("writev %d bytes at %d: %d, %v", len(b), off, n, err)
	}
}

func readAll(t *testing.T, g *xlator.Graph, fd *xlator.FD) []byte {
	t.Helper()
	c := xlatortest.Begin(g, xlator.FopReadv)
	defer c.Done()
	var out []byte
	for {
		r, err := g.Top().Readv(c, fd, 1<<20, int64(len(out)))
		if err != nil {
			t.Fatalf("readv: %v", err)
		}
		b := make([]byte, r.Size())
		r.CopyTo(b)
		r.Unref()
		out = append(out, b...)
		if len(b) < 1<<20 {
			return out
		}
	}
}

func copyRange(g *xlator.Graph, src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64) (int64, error) {
	c := xlatortest.Begin(g, xlator.FopCopyFileRange)
	defer c.Done()
	return g.Top().CopyFileRange(c, src, srcOff, dst, dstOff, length, 0)
}

// model applies a copy to the expected contents of dst.
func model(dst, src []byte, srcOff, dstOff, length int64) ([]byte, int64) {
	n := max(0, min(length, int64(len(src))-srcOff))
	if n == 0 {
		return dst, 0
	}
	if end := dstOff + n; end > int64(len(dst)) {
		dst = append(dst, make([]byte, end-int64(len(dst)))...)
	}
	copy(dst[dstOff:], src[srcOff:srcOff+n])
	return dst, n
}

// TestCopyByReadWrite: a bottom without a copy of its own (mem) copies
// through its Readv and Writev, in chunks, with the bytes, counts and
// short copies copy_file_range(2) gives: unaligned ranges crossing chunk
// boundaries, the end of the source, a source offset past it, a
// destination past its end (a hole before it).
func TestCopyByReadWrite(t *testing.T) {
	for _, chain := range [][]string{{"mem"}, {"pass", "mem"}} {
		t.Run(chain[0], func(t *testing.T) {
			g := xlatortest.Start(t, xlatortest.Chain(chain...), copyRegistry(), nil)
			src := create(t, g, "src")
			dst := create(t, g, "dst")
			srcData := pattern(3<<20+4321, 0)
			writeAll(t, g, src, srcData, 0)
			dstData := pattern(5000, 0x5a)
			writeAll(t, g, dst, dstData, 0)
			for _, tc := range []struct {
				srcOff, dstOff, length int64
			}{
				{0, 0, 100},
				{7, 4093, 2<<20 + 12345},      // crosses two chunk boundaries
				{3<<20 + 4000, 9000, 1 << 20}, // short: the source ends
				{3<<20 + 4321, 0, 10},         // at the end: 0
				{1 << 30, 0, 10},              // past the end: 0
				{100, 8 << 20, 3},             // past dst's end: a hole first
			} {
				want, wantN := model(dstData, srcData, tc.srcOff, tc.dstOff, tc.length)
				n, err := copyRange(g, src, tc.srcOff, dst, tc.dstOff, tc.length)
				if err != nil || n != wantN {
					t.Fatalf("copy %+v: %d, %v; want %d", tc, n, err, wantN)
				}
				dstData = want
				if got := readAll(t, g, dst); !bytes.Equal(got, dstData) {
					t.Fatalf("copy %+v: dst differs from the model (len %d, want %d)", tc, len(got), len(dstData))
				}
			}
			st := g.Xlators()[0].Stats
			if st.Count(xlator.FopCopyFileRange) != 6 {
				t.Fatalf("top's COPY_FILE_RANGE count = %d, want 6", st.Count(xlator.FopCopyFileRange))
			}
		})
	}
}

// TestCopyTransparentPassesOn: a DataTransparent translator (pass) gives
// the copy to its child, which copies; one that is not gets its own reads
// and writes (xform's offset-dependent bytes come out right only so).
func TestCopyTransparentPassesOn(t *testing.T) {
	g := xlatortest.Start(t, xlatortest.Chain("pass", "xform", "mem"), copyRegistry(), nil)
	src := create(t, g, "src")
	dst := create(t, g, "dst")
	data := pattern(10000, 0)
	writeAll(t, g, src, data, 0)
	old := pattern(10000, 0x33)
	writeAll(t, g, dst, old, 0)
	if n, err := copyRange(g, src, 3, dst, 11, 9000); err != nil || n != 9000 {
		t.Fatalf("copy: %d, %v", n, err)
	}
	want, _ := model(old, data, 3, 11, 9000)
	if got := readAll(t, g, dst); !bytes.Equal(got, want) {
		t.Fatal("dst differs: the copy went past xform")
	}
	stats := map[string]xlator.XlatorStats{}
	for _, x := range g.Xlators() {
		stats[x.Name] = x.Stats
	}
	// pass (l0) passed the copy on: no reads of its own for it. xform
	// (l1) copied by reading and writing; mem (l2) saw only those.
	if s := stats["l0"]; s.Count(xlator.FopCopyFileRange) != 1 || s.Count(xlator.FopReadv) != 1 {
		t.Fatalf("pass: %d copies, %d reads; want 1 and 1 (readAll's)", s.Count(xlator.FopCopyFileRange), s.Count(xlator.FopReadv))
	}
	if s := stats["l1"]; s.Count(xlator.FopCopyFileRange) != 1 || s.Count(xlator.FopReadv) != 2 || s.Count(xlator.FopWritev) != 3 {
		t.Fatalf("xform: %d copies, %d reads, %d writes; want 1, 2, 3 (two by the test)", s.Count(xlator.FopCopyFileRange), s.Count(xlator.FopReadv), s.Count(xlator.FopWritev))
	}
	if s := stats["l2"]; s.Count(xlator.FopCopyFileRange) != 0 {
		t.Fatalf("mem saw %d copies, want 0", s.Count(xlator.FopCopyFileRange))
	}
	for _, f := range stats["l1"].Fops {
		if f.Fop == "COPY_FILE_RANGE" && f.Bytes != 9000 {
			t.Fatalf("xform's COPY_FILE_RANGE bytes = %d, want 9000", f.Bytes)
		}
	}
}

func copyGraph(t *testing.T, mode string) (*xlator.Graph, *copyLiar) {
	t.Helper()
	liarMode = mode
	g := xlatortest.Start(t, xlatortest.Chain("pass", "copyliar", "mem"), copyRegistry(), nil)
	return g, xlator.Unwrap(g.Xlator("l1")).(*copyLiar)
}

// TestCopyArgs: the graph refuses what copy_file_range(2) refuses before
// the translator sees it, and answers a length of 0 itself.
func TestCopyArgs(t *testing.T) {
	g, l := copyGraph(t, "")
	in, rw := xlatortest.Create(t, g, "f")
	defer in.Unref()
	defer rw.Unref()
	other := create(t, g, "g")
	writeAll(t, g, rw, pattern(1000, 0), 0)
	mk := func(flags uint32, dir bool) *xlator.FD {
		fd := g.NewFD(in, flags, 1, dir)
		t.Cleanup(fd.Unref)
		return fd
	}
	ro, wo, app, dir := mk(syscall.O_RDONLY, false), mk(syscall.O_WRONLY, false), mk(syscall.O_RDWR|syscall.O_APPEND, false), mk(syscall.O_RDONLY, true)
	c := xlatortest.Begin(g, xlator.FopCopyFileRange)
	defer c.Done()
	top := g.Top()
	for _, tc := range []struct {
		what                   string
		src, dst               *xlator.FD
		srcOff, dstOff, length int64
		flags                  uint32
		errno                  syscall.Errno
	}{
		{"flags", rw, other, 0, 0, 10, 1, syscall.EINVAL},
		{"src a directory", dir, other, 0, 0, 10, 0, syscall.EISDIR},
		{"dst a directory", rw, dir, 0, 0, 10, 0, syscall.EISDIR},
		{"src write-only", wo, other, 0, 0, 10, 0, syscall.EBADF},
		{"dst read-only", other, ro, 0, 0, 10, 0, syscall.EBADF},
		{"dst O_APPEND", other, app, 0, 0, 10, 0, syscall.EBADF},
		{"negative src offset", rw, other, -1, 0, 10, 0, syscall.EINVAL},
		{"negative dst offset", rw, other, 0, -1, 10, 0, syscall.EINVAL},
		{"negative length", rw, other, 0, 0, -1, 0, syscall.EINVAL},
		{"src range overflows", rw, other, math.MaxInt64 - 5, 0, 10, 0, syscall.EOVERFLOW},
		{"dst range overflows", rw, other, 0, math.MaxInt64 - 5, 10, 0, syscall.EOVERFLOW},
		{"same file, length 0", ro, rw, 0, 0, 0, 0, 0}, // nothing to refuse, nothing to do
		{"same file, dst inside src", rw, rw, 0, 500, 600, 0, syscall.EINVAL},
		{"same file, src after dst", rw, rw, 300, 0, 600, 0, syscall.EINVAL},
		{"same file through two fds", ro, rw, 100, 150, 100, 0, syscall.EINVAL},
	} {
		n, err := top.CopyFileRange(c, tc.src, tc.srcOff, tc.dst, tc.dstOff, tc.length, tc.flags)
		if tc.errno == 0 {
			if err != nil || n != 0 {
				t.Errorf("%s: %d, %v; want 0, nil", tc.what, n, err)
			}
			continue
		}
		if n != 0 || !errors.Is(err, tc.errno) {
			t.Errorf("%s: %d, %v; want 0, %v", tc.what, n, err, tc.errno)
		}
	}
	if l.calls != 0 {
		t.Fatalf("%d refused copies reached the translator", l.calls)
	}
	// The source range is cut at the end of the file before it is
	// compared: [900, 1000) to [1000, 1100) does not overlap, whatever
	// length asked, and a source past the end copies nothing.
	if n, err := top.CopyFileRange(c, rw, 900, rw, 1000, 1<<20, 0); err != nil || n != 100 {
		t.Fatalf("same file, source cut at the end: %d, %v; want 100, nil", n, err)
	}
	if n, err := top.CopyFileRange(c, rw, 5000, rw, 4000, 2000, 0); err != nil || n != 0 {
		t.Fatalf("same file, source past the end: %d, %v; want 0, nil", n, err)
	}
	want, _ := model(pattern(1000, 0), pattern(1000, 0), 900, 1000, 100)
	if got := readAll(t, g, rw); !bytes.Equal(got, want) {
		t.Fatal("same-file copy: wrong bytes")
	}
}

// TestCopyContract: whatever a translator's copy returns, the caller
// above sees 0 with an error, and at most length without one; ENOSYS
// after the fact is the translator's to keep, not a fallback's.
func TestCopyContract(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		n        int64
		errno    syscall.Errno
		breaches any
	}{
		{"count-and-error", 0, syscall.EIO, uint64(1)},
		{"too-many", 0, syscall.EIO, uint64(1)},
		{"negative", 0, syscall.EIO, uint64(1)},
		{"enosys", 100, 0, nil}, // l1's wrapper copies by reading and writing
	} {
		t.Run(tc.mode, func(t *testing.T) {
			g, _ := copyGraph(t, tc.mode)
			src := create(t, g, "src")
			dst := create(t, g, "dst")
			writeAll(t, g, src, pattern(100, 0), 0)
			n, err := copyRange(g, src, 0, dst, 0, 100)
			if n != tc.n || (tc.errno == 0) != (err == nil) || (tc.errno != 0 && !errors.Is(err, tc.errno)) {
				t.Fatalf("copy: %d, %v; want %d, %v", n, err, tc.n, tc.errno)
			}
			if b := breaches(g, "l1"); b != tc.breaches {
				t.Fatalf("fop-contract-breaches = %v, want %v", b, tc.breaches)
			}
		})
	}
}

// TestCopyCancelled: a copy whose caller gave up (Call.GaveUp) stops
// between chunks: with the progress made, or ECANCELED when there is
// none; an interrupted FUSE caller that lives on is not one.
func TestCopyCancelled(t *testing.T) {
	g := xlatortest.Start(t, xlatortest.Chain("mem"), copyRegistry(), nil)
	src := create(t, g, "src")
	dst := create(t, g, "dst")
	writeAll(t, g, src, pattern(3<<20, 0), 0)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := g.Calls().Begin(ctx, xlator.FopCopyFileRange, xlator.Creds{}, 0)
	n, err := g.Top().CopyFileRange(c, src, 0, dst, 0, 3<<20, 0)
	c.Done()
	if n != 0 || !errors.Is(err, syscall.ECANCELED) {
		t.Fatalf("copy with a cancelled context: %d, %v; want 0, ECANCELED", n, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	c = g.Calls().Begin(ctx, xlator.FopCopyFileRange, xlator.Creds{}, 0)
	defer c.Done()
	n, err = xlator.CopyByReadWrite(c, cancelAfterRead{g.Top(), cancel}, src, 0, dst, 0, 3<<20)
	if n != 1<<20 || err != nil {
		t.Fatalf("copy cancelled after the first chunk: %d, %v; want 1 MiB, nil", n, err)
	}

	// A FUSE caller that lives on, interrupted: the copy goes on.
	interrupted := make(chan struct{})
	close(interrupted)
	f := g.Calls().BeginCancel(interrupted, xlator.FopCopyFileRange, xlator.Creds{Pid: uint32(os.Getpid())}, 0)
	defer f.Done()
	if n, err := g.Top().CopyFileRange(f, src, 0, dst, 0, 3<<20, 0); n != 3<<20 || err != nil {
		t.Fatalf("copy of an interrupted FUSE caller that lives on: %d, %v; want all of it", n, err)
	}
}

// cancelAfterRead is the graph's top with a Readv that cancels the
// call's context once it returns: a caller interrupted during a long
// copy.
type cancelAfterRead struct {
	xlator.Xlator
	cancel context.CancelFunc
}

func (r cancelAfterRead) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	defer r.cancel()
	return r.Xlator.Readv(c, fd, size, off)
}
