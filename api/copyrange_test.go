package api_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// openDefault opens the default volfile (cache over stripe over two posix
// bricks) on directories of the test's.
func openDefault(t *testing.T) *api.Volume {
	t.Helper()
	return openVolume(t, "", &api.Options{Vars: map[string]string{"data": t.TempDir(), "mount": t.TempDir()}})
}

func writeFile(t *testing.T, v *api.Volume, name string, data []byte) {
	t.Helper()
	f, err := v.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, f *api.File) []byte {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, fi.Size())
	if n, err := f.ReadAt(b, 0); n != len(b) || (err != nil && err != io.EOF) {
		t.Fatalf("read %s: %d of %d, %v", f.Name(), n, len(b), err)
	}
	return b
}

// fopCount returns the count and bytes of fop at the volume's top in a
// statedump.
func fopCount(t *testing.T, v *api.Volume, fop string) (count, bytes uint64) {
	t.Helper()
	for _, f := range jsonDump(t, v).Xlators[0].Fops {
		if f.Fop == fop {
			return f.Count, f.Bytes
		}
	}
	return 0, 0
}

func randomData(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestCopyFrom copies with File.CopyFrom through the default volfile:
// the destination, read before through the cache, reads the source's
// bytes after; neither offset moves; the copy is short only at the end
// of the source; another volume's file is EXDEV, one file's overlapping
// ranges EINVAL, a read-only destination EBADF; the statedump counts the
// copies at the top with their bytes.
func TestCopyFrom(t *testing.T) {
	v := openDefault(t)
	srcData, old := randomData(3<<20+321, 1), randomData(1<<20, 2)
	writeFile(t, v, "/src", srcData)
	writeFile(t, v, "/dst", old)
	src, err := v.Open("/src")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := v.OpenFile("/dst", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if !bytes.Equal(readFile(t, dst), old) { // now in the cache
		t.Fatal("dst before the copy")
	}
	before, _ := fopCount(t, v, "COPY_FILE_RANGE")

	if n, err := dst.CopyFrom(src, 7, 1000, 2<<20); err != nil || n != 2<<20 {
		t.Fatalf("CopyFrom: %d, %v", n, err)
	}
	want := append(append([]byte(nil), old[:1000]...), srcData[7:7+2<<20]...)
	if got := readFile(t, dst); !bytes.Equal(got, want) {
		t.Fatalf("dst after the copy: %d bytes, want %d, or stale", len(got), len(want))
	}
	for _, f := range []*api.File{src, dst} {
		if off, _ := f.Seek(0, io.SeekCurrent); off != 0 {
			t.Errorf("%s's offset moved to %d", f.Name(), off)
		}
	}
	if n, err := dst.CopyFrom(src, int64(len(srcData)-10), 0, 100); err != nil || n != 10 {
		t.Fatalf("CopyFrom at the end of src: %d, %v; want 10", n, err)
	}
	if n, err := dst.CopyFrom(src, int64(len(srcData)), 0, 100); err != nil || n != 0 {
		t.Fatalf("CopyFrom past the end of src: %d, %v; want 0", n, err)
	}
	count, copied := fopCount(t, v, "COPY_FILE_RANGE")
	if count-before < 2 || copied < 2<<20+10 {
		t.Errorf("statedump: COPY_FILE_RANGE count %d (before %d), bytes %d", count, before, copied)
	}

	other := openMem(t)
	writeFile(t, other, "/x", []byte("other volume"))
	x, err := other.Open("/x")
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := dst.CopyFrom(x, 0, 0, 5); !errors.Is(err, syscall.EXDEV) {
		t.Errorf("CopyFrom another volume: %v, want EXDEV", err)
	}
	dst2, err := v.OpenFile("/dst", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dst2.Close()
	if _, err := dst2.CopyFrom(dst, 0, 100, 1000); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("overlapping CopyFrom within one file: %v, want EINVAL", err)
	}
	if _, err := src.CopyFrom(dst, 0, 0, 10); !errors.Is(err, syscall.EBADF) || !strings.Contains(err.Error(), "/src") {
		t.Errorf("CopyFrom into a read-only file: %v, want EBADF naming /src", err)
	}
}

// TestIOCopyBetweenFiles: io.Copy between two Files of one volume copies
// with the CopyFileRange fop (no READ at the top) from the source's
// offset to its end, whichever of them io.Copy asks, and moves both
// offsets by the count.
func TestIOCopyBetweenFiles(t *testing.T) {
	v := openDefault(t)
	data := randomData(2<<20+77, 3)
	writeFile(t, v, "/src", data)
	for _, name := range []string{"/a", "/b"} {
		src, err := v.Open("/src")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Seek(5, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		dst, err := v.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dst.Write([]byte("head")); err != nil {
			t.Fatal(err)
		}
		reads, _ := fopCount(t, v, "READ")
		copies, _ := fopCount(t, v, "COPY_FILE_RANGE")
		var n int64
		if name == "/a" {
			n, err = io.Copy(dst, src) // src.WriteTo(dst)
		} else {
			n, err = dst.ReadFrom(src)
		}
		if err != nil || n != int64(len(data)-5) {
			t.Fatalf("%s: copy: %d, %v", name, n, err)
		}
		if r, _ := fopCount(t, v, "READ"); r != reads {
			t.Errorf("%s: %d READs at the top during the copy", name, r-reads)
		}
		if c, _ := fopCount(t, v, "COPY_FILE_RANGE"); c == copies {
			t.Errorf("%s: no COPY_FILE_RANGE at the top", name)
		}
		if off, _ := src.Seek(0, io.SeekCurrent); off != int64(len(data)) {
			t.Errorf("%s: src offset %d, want %d", name, off, len(data))
		}
		if off, _ := dst.Seek(0, io.SeekCurrent); off != int64(len(data)-1) {
			t.Errorf("%s: dst offset %d, want %d", name, off, len(data)-1)
		}
		if got := readFile(t, dst); !bytes.Equal(got, append([]byte("head"), data[5:]...)) {
			t.Errorf("%s: the copy differs", name)
		}
		src.Close()
		dst.Close()
	}
}

// halfCopy copies at most 1000 bytes a call (through its child) and fails
// every call after its first with EIO: a copy that fails part-way.
type halfCopy struct {
	xlator.Base
	calls int
}

func (h *halfCopy) CopyFileRange(c *xlator.Call, src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64, flags uint32) (int64, error) {
	if h.calls++; h.calls > 1 {
		return 0, syscall.EIO
	}
	return h.FirstChild().CopyFileRange(c, src, srcOff, dst, dstOff, min(length, 1000), flags)
}

// TestCopyFromFailsPartWay: CopyFrom continues a short copy, and an error
// after part of it comes with the count copied before.
func TestCopyFromFailsPartWay(t *testing.T) {
	reg := xlatortest.Registry()
	reg.MustRegister(xlator.Type{Name: "halfcopy", MinChildren: 1, MaxChildren: 1, New: func() xlator.Xlator { return &halfCopy{} }})
	p := filepath.Join(t.TempDir(), "half.hcl")
	if err := os.WriteFile(p, []byte(strings.Replace(memVolfile, `type       = "pass"`, `type       = "halfcopy"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := api.Open(p, &api.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	data := randomData(5000, 4)
	writeFile(t, v, "/src", data)
	src, err := v.Open("/src")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := v.Create("/dst")
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	n, err := dst.CopyFrom(src, 0, 0, 5000)
	if n != 1000 || !errors.Is(err, syscall.EIO) {
		t.Fatalf("CopyFrom failing after 1000 bytes: %d, %v; want 1000, EIO", n, err)
	}
	if got := readFile(t, dst); !bytes.Equal(got, data[:1000]) {
		t.Fatalf("dst: %d bytes, want the first 1000 of src", len(got))
	}
}
