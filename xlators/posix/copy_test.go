package posix

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

func (b *brick) copyRange(src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64) (int64, error) {
	c := b.call(xlator.FopCopyFileRange)
	defer c.Done()
	return b.top().CopyFileRange(c, src, srcOff, dst, dstOff, length, 0)
}

// contents reads a whole file through the graph.
func (b *brick) contents(fd *xlator.FD) []byte {
	b.tb.Helper()
	ia, err := b.fstat(fd)
	if err != nil {
		b.tb.Fatal(err)
	}
	return b.mustRead(fd, 0, int(ia.Size)+1)
}

// applyCopy is copy_file_range(2)'s effect on dst's contents.
func applyCopy(dst, src []byte, srcOff, dstOff, length int64) ([]byte, int64) {
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

func (b *brick) stats() xlator.XlatorStats { return b.g.Xlators()[0].Stats }

func (b *brick) dumped(key string) any {
	for _, kv := range b.px.Dump() {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// TestCopyFileRange copies between brick files with copy_file_range(2):
// the bytes and counts of the system call (unaligned ranges, a short copy
// at the end of the source, a source offset past it, a destination past
// its end), done by the kernel (no readv reaches posix), on both data
// paths and with o-direct.
func TestCopyFileRange(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
	}{
		{"data-path=bio", map[string]string{"data-path": "bio"}},
		{"data-path=direct", map[string]string{"data-path": "direct"}},
		{"o-direct", map[string]string{"data-path": "bio", "o-direct": "true"}},
	} {
		set := tc.set
		t.Run(tc.name, func(t *testing.T) {
			set["health-check-interval"] = "0"
			b := newBrick(t, set)
			_, src, _, err := b.create(b.root(), "src", syscall.O_RDWR, 0o644, 0)
			if errors.Is(err, syscall.EINVAL) && set["o-direct"] != "" {
				t.Skipf("the file system refuses O_DIRECT: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Unref()
			_, dst := b.mustCreate(b.root(), "dst")
			defer dst.Unref()
			srcData := pattern(3<<20+777, 1)
			b.mustWrite(src, 0, srcData)
			dstData := pattern(10000, 9)
			b.mustWrite(dst, 0, dstData)
			reads := b.stats().Count(xlator.FopReadv)
			cases := []struct{ srcOff, dstOff, length int64 }{
				{0, 0, 4096},
				{1, 4095, 1<<20 + 3},             // unaligned both sides
				{3<<20 + 700, 20000, 1 << 20},    // short: the source ends after 77
				{3<<20 + 777, 0, 100},            // at the end: 0
				{4 << 20, 0, 100},                // past the end: 0
				{12345, 8<<20 + 1, 2<<20 + 4099}, // past dst's end: a hole first
			}
			for _, tc := range cases {
				want, wantN := applyCopy(dstData, srcData, tc.srcOff, tc.dstOff, tc.length)
				n, err := b.copyRange(src, tc.srcOff, dst, tc.dstOff, tc.length)
				if err != nil || n != wantN {
					t.Fatalf("copy %+v: %d, %v; want %d", tc, n, err, wantN)
				}
				dstData = want
			}
			if got := b.stats().Count(xlator.FopReadv); got != reads {
				t.Errorf("%d readvs reached posix during the copies: the kernel did not copy", got-reads)
			}
			equal(t, "dst after the copies", b.contents(dst), dstData)
			equal(t, "src after the copies", b.contents(src), srcData)
			if k, f := b.dumped("copy.kernel"), b.dumped("copy.fallbacks"); k != uint64(4) || f != uint64(0) {
				t.Errorf("copy.kernel = %v, copy.fallbacks = %v; want 4, 0", k, f)
			}
		})
	}
}

// TestCopySameFile: within one file, ranges that overlap are refused as
// copy_file_range(2) refuses them; others copy.
func TestCopySameFile(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	_, fd := b.mustCreate(b.root(), "f")
	defer fd.Unref()
	data := pattern(100000, 3)
	b.mustWrite(fd, 0, data)
	for _, tc := range []struct{ srcOff, dstOff, length int64 }{
		{0, 1, 10}, {1000, 0, 1001}, {5000, 5000, 1},
	} {
		n, err := b.copyRange(fd, tc.srcOff, fd, tc.dstOff, tc.length)
		if n != 0 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("overlapping copy %+v: %d, %v; want EINVAL", tc, n, err)
		}
	}
	want, _ := applyCopy(append([]byte(nil), data...), data, 0, 60000, 40000)
	if n, err := b.copyRange(fd, 0, fd, 60000, 40000); err != nil || n != 40000 {
		t.Fatalf("copy within the file: %d, %v", n, err)
	}
	// The source cut at the end: [90000, 100000) to [100000, 110000).
	want, _ = applyCopy(want, want, 90000, 100000, 1<<20)
	if n, err := b.copyRange(fd, 90000, fd, 100000, 1<<20); err != nil || n != 10000 {
		t.Fatalf("copy to the end of the file: %d, %v", n, err)
	}
	equal(t, "file after the copies", b.contents(fd), want)
	// The kernel's own EINVAL for one file is not taken for a refusal:
	// no read and write of an overlap behind its back.
	b.px.copy.call = func(int, *int64, int, *int64, int, int) (int, error) { return 0, syscall.EINVAL }
	if n, err := b.copyRange(fd, 0, fd, 200000, 10); n != 0 || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("kernel EINVAL on one file: %d, %v; want EINVAL", n, err)
	}
}

// TestCopyArgsAtPosix: what the fds do not allow is refused, by the graph
// or by posix.
func TestCopyArgsAtPosix(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	f, rw := b.mustCreate(b.root(), "f")
	defer rw.Unref()
	b.mustWrite(rw, 0, pattern(1000, 1))
	ro, err := b.open(&xlator.Loc{Inode: f}, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Unref()
	_, other := b.mustCreate(b.root(), "g")
	defer other.Unref()
	d := b.mustMkdir(b.root(), "d")
	dfd, err := b.opendir(&xlator.Loc{Inode: d})
	if err != nil {
		t.Fatal(err)
	}
	defer dfd.Unref()
	c := b.call(xlator.FopCopyFileRange)
	defer c.Done()
	for _, tc := range []struct {
		what     string
		src, dst *xlator.FD
		flags    uint32
		errno    syscall.Errno
	}{
		{"dst read-only", other, ro, 0, syscall.EBADF},
		{"dst a directory", rw, dfd, 0, syscall.EISDIR},
		{"flags", rw, other, 2, syscall.EINVAL},
	} {
		n, err := b.top().CopyFileRange(c, tc.src, 0, tc.dst, 0, 10, tc.flags)
		if n != 0 || !errors.Is(err, tc.errno) {
			t.Errorf("%s: %d, %v; want %v", tc.what, n, err, tc.errno)
		}
	}
	// Called directly (no graph in between), posix still refuses an fd
	// it never opened and a negative offset.
	stray := b.g.NewFD(f, syscall.O_RDWR, 1, false)
	defer stray.Unref()
	if _, err := b.px.CopyFileRange(c, stray, 0, other, 0, 10, 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("an fd posix never opened: %v, want EBADF", err)
	}
	if _, err := b.px.CopyFileRange(c, rw, -1, other, 0, 10, 0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("negative offset, posix called directly: %v, want EINVAL", err)
	}
}

// TestCopyRefused: when the kernel refuses the copy (another file system
// below the brick, none of it, a special file), posix copies by readv and
// writev; short kernel copies are continued; an error after a part
// returns the part, and the next call the error.
func TestCopyRefused(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	_, src := b.mustCreate(b.root(), "src")
	defer src.Unref()
	_, dst := b.mustCreate(b.root(), "dst")
	defer dst.Unref()
	data := pattern(1<<20+333, 2)
	b.mustWrite(src, 0, data)
	for i, errno := range []syscall.Errno{syscall.EXDEV, syscall.EOPNOTSUPP, syscall.ENOSYS, syscall.EINVAL} {
		b.px.copy.call = func(int, *int64, int, *int64, int, int) (int, error) { return 0, errno }
		reads := b.stats().Count(xlator.FopReadv)
		off := int64(i) << 21
		n, err := b.copyRange(src, 5, dst, off, 1<<20)
		if err != nil || n != 1<<20 {
			t.Fatalf("kernel refuses with %v: %d, %v; want the copy by readv and writev", errno, n, err)
		}
		equal(t, fmt.Sprintf("copied after %v", errno), b.mustRead(dst, off, 1<<20), data[5:5+1<<20])
		if b.stats().Count(xlator.FopReadv) == reads {
			t.Errorf("kernel refuses with %v: no readv reached posix", errno)
		}
	}
	if f := b.dumped("copy.fallbacks"); f != uint64(4) {
		t.Errorf("copy.fallbacks = %v, want 4", f)
	}

	// A kernel that copies at most 1000 bytes a call: continued.
	calls := 0
	b.px.copy.call = shortCopier(1000, &calls, nil)
	if n, err := b.copyRange(src, 0, dst, 0, 5500); err != nil || n != 5500 || calls != 6 {
		t.Fatalf("short kernel copies: %d, %v in %d calls; want 5500 in 6", n, err, calls)
	}
	equal(t, "after short kernel copies", b.mustRead(dst, 0, 5500), data[:5500])

	// A kernel that copies 4096 bytes, then fails with EIO.
	calls = 0
	b.px.copy.call = shortCopier(4096, &calls, syscall.EIO)
	if n, err := b.copyRange(src, 0, dst, 0, 10000); err != nil || n != 4096 {
		t.Fatalf("EIO after a part: %d, %v; want 4096, nil", n, err)
	}
	if n, err := b.copyRange(src, 4096, dst, 4096, 10000); n != 0 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("the call after: %d, %v; want 0, EIO", n, err)
	}
}

// shortCopier returns a copy_file_range(2) over pread and pwrite that
// copies at most max bytes a call and, with fail set, fails every call
// after the first.
func shortCopier(most int, calls *int, fail error) func(int, *int64, int, *int64, int, int) (int, error) {
	return func(rfd int, roff *int64, wfd int, woff *int64, n int, _ int) (int, error) {
		*calls++
		if fail != nil && *calls > 1 {
			return 0, fail
		}
		buf := make([]byte, min(n, most))
		r, err := syscall.Pread(rfd, buf, *roff)
		if err != nil || r == 0 {
			return 0, err
		}
		w, err := syscall.Pwrite(wfd, buf[:r], *woff)
		*roff += int64(w)
		*woff += int64(w)
		return w, err
	}
}

// TestCopyReserve: with a reserve, a copy is charged for the holes of the
// destination range: into holes past the reserve it fails with ENOSPC,
// over allocated blocks it passes.
func TestCopyReserve(t *testing.T) {
	fs := smallFS(t, "64m")
	b := newBrick(t, map[string]string{"directory": filepath.Join(fs, "brick"), "reserve": "48MiB", "health-check-interval": "0"})
	headroom := availBytes(t, fs) - 48<<20
	_, src := b.mustCreate(b.root(), "src")
	defer src.Unref()
	size := int(headroom*2/3) &^ 4095
	b.mustWrite(src, 0, pattern(size, 4))
	_, dst := b.mustCreate(b.root(), "dst")
	defer dst.Unref()
	if n, err := b.copyRange(src, 0, dst, 0, int64(size)); n != 0 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("copy of %d bytes into holes with %d of headroom: %d, %v; want ENOSPC", size, headroom, n, err)
	}
	if n, err := b.copyRange(src, 0, src, int64(size/2), int64(size/2)); err != nil || n != int64(size/2) {
		t.Fatalf("copy over allocated blocks: %d, %v; want %d", n, err, size/2)
	}
}
