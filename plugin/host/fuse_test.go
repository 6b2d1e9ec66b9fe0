package host_test

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/mount/fuse"
)

// TestFUSE mounts the checksum plugin over posix and works on the mount
// with ordinary system calls: files written through the mount read back,
// the checksums land in a table file in the brick, hidden from the mount,
// and a byte changed in the brick file behind the stack's back makes reads
// of its block fail with EIO while the other blocks still read.
func TestFUSE(t *testing.T) {
	if err := fuse.Available(); err != nil {
		t.Skipf("FUSE is not available: %v", err)
	}
	brick, mnt := filepath.Join(t.TempDir(), "brick"), filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	v := open(t, hcl(`
volume "brick" {
  type                  = "posix"
  directory             = %q
  health-check-interval = "0s"
}
volume "cks" {
  type       = "plugin"
  path       = %q
  subvolumes = ["brick"]
}
`, brick, checksumBin(t)), registry(nil), nil)
	srv, err := fuse.Mount(v.Stack().Graph, fuse.DefaultConfig(mnt))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})

	data := make([]byte, 200<<10+17)
	rand.New(rand.NewSource(2)).Read(data)
	if err := os.MkdirAll(filepath.Join(mnt, "d", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(mnt, "d", "e", "f")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(name, name+"2"); err != nil {
		t.Fatal(err)
	}
	name += "2"
	got, err := os.ReadFile(name)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), wrote %d", len(got), err, len(data))
	}
	ents, err := os.ReadDir(filepath.Join(mnt, "d", "e"))
	if err != nil || len(ents) != 1 || ents[0].Name() != "f2" {
		t.Fatalf("readdir: %v %v", ents, err)
	}
	under := filepath.Join(brick, "d", "e", "f2")
	tables, err := os.ReadDir(filepath.Join(brick, ".xstack-checksum"))
	if err != nil || len(tables) != 1 {
		t.Fatalf("checksum tables in the brick: %v, %v", tables, err)
	}
	if fi, err := tables[0].Info(); err != nil || fi.Size() != 8+4*4 {
		t.Fatalf("checksum table of the brick file: %v, %v", fi, err)
	}
	if ents, err := os.ReadDir(mnt); err != nil || len(ents) != 1 || ents[0].Name() != "d" {
		t.Fatalf("mount root lists %v (%v), want d alone", ents, err)
	}

	// Change one byte of block 1 in the brick, behind the stack.
	bf, err := os.OpenFile(under, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bf.WriteAt([]byte{data[70000] ^ 0xff}, 70000); err != nil {
		t.Fatal(err)
	}
	bf.Close()

	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Drop what the kernel cached of the file, so reads reach the stack.
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, 0); err != nil {
		t.Fatalf("block 0: %v", err)
	}
	if _, err := f.ReadAt(buf, 68<<10); !errorsIs(err, syscall.EIO) {
		t.Fatalf("read of the changed block: %v, want EIO", err)
	}
	if _, err := f.ReadAt(buf, 150<<10); err != nil {
		t.Fatalf("block 2: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(mnt, "d")); err != nil {
		t.Fatal(err)
	}
}

func errorsIs(err error, e syscall.Errno) bool {
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	return err == e
}
