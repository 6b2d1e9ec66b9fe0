package e2e

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// checksumVolfile is posix under the checksum plugin (64 KiB blocks, its
// default), mounted.
const checksumVolfile = `
variable "data" {}
variable "mount" {}
variable "plugin" {}

volume "brick" {
  type      = "posix"
  directory = var.data
}

volume "checksum" {
  type       = "plugin"
  path       = var.plugin
  subvolumes = ["brick"]
}

mount {
  path = var.mount
}
`

// TestChecksumPluginBigFile: dd writes a 72 MiB file with conv=fsync
// through FUSE to posix under the checksum plugin (at 64 KiB a sum, past
// the 63 MiB whose sums one ext4 xattr held) and exits 0. A second stack
// mounted on the same brick once the first is gone (a brick has one
// owner), which has only what is on disk, reads the file back, and a byte changed in the brick file past 64 MiB makes its
// read of that block fail with EIO while the others still read. The table
// holds a sum for every block, and the mount does not list its directory.
func TestChecksumPluginBigFile(t *testing.T) {
	need(t, "dd")
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "checksum")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/plugins/checksum").CombinedOutput(); err != nil {
		t.Fatalf("build the checksum plugin: %v\n%s", err, out)
	}
	vol := filepath.Join(tmp, "checksum.hcl")
	if err := os.WriteFile(vol, []byte(checksumVolfile), 0o644); err != nil {
		t.Fatal(err)
	}
	m := mountFile(t, vol, map[string]string{"plugin": bin})

	const size = 72 << 20
	src := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(src)
	srcPath := filepath.Join(tmp, "src")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(m.mnt, "f")
	run(t, tmp, "dd", "if="+srcPath, "of="+name, "bs=1M", "count=72", "conv=fsync", "status=none")

	// A second stack on the same brick knows the file only from what the
	// first left on disk.
	brick := filepath.Join(m.dir, "data")
	m.unmount(t)
	m2 := mountFile(t, vol, map[string]string{"plugin": bin, "data": brick})
	f, err := os.Open(filepath.Join(m2.mnt, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Drop what the kernel cached of the file, so reads reach the stack.
	dropCache := func() {
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			t.Fatal(err)
		}
	}
	dropCache()
	got := make([]byte, size)
	if n, err := f.ReadAt(got, 0); n != size || !bytes.Equal(got, src) {
		t.Fatalf("read back %d bytes (%v), equal %v", n, err, bytes.Equal(got, src))
	}

	const bad = 70<<20 + 12345
	bf, err := os.OpenFile(filepath.Join(brick, "f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bf.WriteAt([]byte{^src[bad]}, bad); err != nil {
		t.Fatal(err)
	}
	bf.Close()
	dropCache()
	buf := make([]byte, 4096)
	if _, err := f.ReadAt(buf, bad-100); !errorIs(err, syscall.EIO) {
		t.Fatalf("read at %d after a byte changed in the brick: %v, want EIO", bad-100, err)
	}
	if _, err := f.ReadAt(buf, 10<<20); err != nil {
		t.Fatalf("read of an unchanged block: %v", err)
	}

	tables, err := os.ReadDir(filepath.Join(brick, ".xstack-checksum"))
	if err != nil || len(tables) != 1 {
		t.Fatalf("tables in the brick: %v, %v", tables, err)
	}
	if fi, err := tables[0].Info(); err != nil || fi.Size() != 8+4*size/(64<<10) {
		t.Fatalf("table: %v, %v; want %d bytes", fi, err, 8+4*size/(64<<10))
	}
	if ents, err := os.ReadDir(m2.mnt); err != nil || len(ents) != 1 || ents[0].Name() != "f" {
		t.Fatalf("mount lists %v (%v), want f alone", ents, err)
	}
}

func errorIs(err error, e syscall.Errno) bool {
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	return err == e
}
