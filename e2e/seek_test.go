package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSeekSparseThroughStripe: SEEK_DATA and SEEK_HOLE on a sparse file
// through each shipped volfile (stripe's blocks over two bricks among
// them) answer as lseek(2) on the same file written to the test's own
// file system: data and holes 128 KiB-aligned, stripe's block size, so
// every file system reports them alike.
func TestSeekSparseThroughStripe(t *testing.T) {
	const blk = 128 << 10
	extents := []int64{0, 8, 9, 20} // blocks written; the rest are holes
	write := func(path string) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		data := make([]byte, blk)
		for i := range data {
			data[i] = 'd'
		}
		for _, b := range extents {
			if _, err := f.WriteAt(data, b*blk); err != nil {
				t.Fatal(err)
			}
		}
	}
	seeks := func(path string) string {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out string
		for _, off := range []int64{0, 1, blk, 3 * blk, 8*blk + 5, 10 * blk, 20 * blk, 21 * blk} {
			for _, whence := range []int{unix.SEEK_DATA, unix.SEEK_HOLE} {
				got, err := unix.Seek(int(f.Fd()), off, whence)
				out += fmt.Sprintf("%d/%d=%d,%v ", off, whence, got, err)
			}
		}
		return out
	}
	native := filepath.Join(t.TempDir(), "sparse")
	write(native)
	want := seeks(native)
	for _, vf := range volfilesUnderTest(t) {
		t.Run(vf, func(t *testing.T) {
			m := mount(t, vf)
			p := filepath.Join(m.mnt, "sparse")
			write(p)
			if got := seeks(p); got != want {
				t.Errorf("through the mount:\n%s\nthe kernel's own file system:\n%s", got, want)
			}
			if n := m.srv.Stats().Count("LSEEK"); n == 0 {
				t.Error("no LSEEK reached the daemon: the kernel answered by itself")
			}
		})
	}
}
