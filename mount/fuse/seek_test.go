package fuse

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLseekHole: SEEK_DATA and SEEK_HOLE on a mount of a posix brick
// reach the daemon (LSEEK) and find the file's hole and its end, as
// lseek(2) on the brick file does.
func TestLseekHole(t *testing.T) {
	spec, reg, brick := posixSpec(t, "0")
	m := mountSpec(t, spec, reg, nil)
	const k = 64 << 10
	f, err := os.Create(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, k)
	for i := range data {
		data[i] = 1
	}
	for _, off := range []int64{0, 16 * k} { // a hole of 15*k between
		if _, err := f.WriteAt(data, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	onBrick, err := os.Open(filepath.Join(brick, "f"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := unix.Seek(int(onBrick.Fd()), 0, unix.SEEK_HOLE)
	onBrick.Close()
	if err != nil || h != k {
		t.Skipf("skipping: the brick's file system does not report the hole (SEEK_HOLE at 0: %d, %v)", h, err)
	}

	f, err = os.Open(m.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := m.srv.Stats()
	fd := int(f.Fd())
	for _, tc := range []struct {
		what   string
		off    int64
		whence int
		want   int64
		err    syscall.Errno
	}{
		{"first hole", 0, unix.SEEK_HOLE, k, 0},
		{"data after the hole", k, unix.SEEK_DATA, 16 * k, 0},
		{"the end is a hole", 16 * k, unix.SEEK_HOLE, 17 * k, 0},
		{"no data at the end", 17 * k, unix.SEEK_DATA, 0, syscall.ENXIO},
	} {
		got, err := unix.Seek(fd, tc.off, tc.whence)
		if tc.err != 0 {
			if err != tc.err {
				t.Errorf("%s: lseek(%d, %d) = %d, %v; want %v", tc.what, tc.off, tc.whence, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: lseek(%d, %d) = %d, %v; want %d", tc.what, tc.off, tc.whence, got, err, tc.want)
		}
	}
	if n := m.srv.Stats().Sub(before).Count("LSEEK"); n == 0 {
		t.Errorf("no LSEEK reached the daemon: the kernel answered by itself")
	}
}
