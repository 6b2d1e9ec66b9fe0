package fuse

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// onLoops runs a test on both request loops (loops): both hand TMPFILE,
// STATX and IOCTL to the bridge.
func onLoops(t *testing.T, run func(t *testing.T, goFuse bool)) {
	for _, l := range loops {
		t.Run(l.name, func(t *testing.T) {
			if !l.goFuse && os.Geteuid() != 0 {
				t.Skip("skipping: xstack's own FUSE loop serves root mounts only")
			}
			run(t, l.goFuse)
		})
	}
}

// brickEntries lists a brick directory without its private directory.
func brickEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != ".xstack" {
			out = append(out, e.Name())
		}
	}
	return out
}

// fopCount sums fop f's count over every translator of the mount's graph.
func (m *mounted) fopCount(f xlator.Fop) uint64 {
	var n uint64
	for _, x := range m.g.Xlators() {
		n += x.Stats.Count(f)
	}
	return n
}

// TestTmpfile: open(2) with O_TMPFILE on a mount of a posix brick makes
// an unnamed file that holds data and is in no directory, linkat(2) with
// AT_EMPTY_PATH gives it a name that reads back, through the mount and in
// the brick; one never linked leaves nothing, and one opened O_EXCL
// cannot be linked.
func TestTmpfile(t *testing.T) {
	onLoops(t, func(t *testing.T, goFuse bool) {
		spec, reg, brick := posixSpec(t, "0")
		m := mountSpec(t, spec, reg, func(c *Config) { c.GoFuseLoop = goFuse })
		before := m.srv.Stats()
		fd, err := unix.Open(m.dir, unix.O_TMPFILE|unix.O_RDWR, 0o600)
		if err != nil {
			t.Fatalf("open O_TMPFILE: %v", err)
		}
		data := bytes.Repeat([]byte("unnamed "), 40000)
		if n, err := unix.Pwrite(fd, data, 0); err != nil || n != len(data) {
			t.Fatalf("pwrite: %d, %v", n, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Nlink != 0 || st.Size != int64(len(data)) {
			t.Fatalf("fstat: nlink %d size %d, %v; want 0, %d", st.Nlink, st.Size, err, len(data))
		}
		if got := brickEntries(t, brick); len(got) != 0 {
			t.Fatalf("the unnamed file shows in the brick: %v", got)
		}
		if err := unix.Linkat(fd, "", unix.AT_FDCWD, m.path("named"), unix.AT_EMPTY_PATH); err != nil {
			t.Fatalf("linkat AT_EMPTY_PATH: %v", err)
		}
		if err := unix.Close(fd); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(m.path("named")); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back by name: %d bytes, %v; want %d", len(got), err, len(data))
		}
		if got, err := os.ReadFile(filepath.Join(brick, "named")); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the brick file: %d bytes, %v; want %d", len(got), err, len(data))
		}

		// Never linked: gone with its close.
		fd, err = unix.Open(m.dir, unix.O_TMPFILE|unix.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Pwrite(fd, data, 0); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		// O_EXCL: never linkable.
		fd, err = unix.Open(m.dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Linkat(fd, "", unix.AT_FDCWD, m.path("excl"), unix.AT_EMPTY_PATH); err != unix.ENOENT {
			t.Errorf("linkat of an O_EXCL tmpfile: %v, want ENOENT", err)
		}
		unix.Close(fd)
		if !eventually(func() bool { return m.g.FDs().Open == 0 }) {
			t.Fatalf("%d fds still open", m.g.FDs().Open)
		}
		if got := brickEntries(t, brick); len(got) != 1 || got[0] != "named" {
			t.Errorf("the brick holds %v, want only named", got)
		}
		if n := m.srv.Stats().Sub(before).Count("TMPFILE"); n != 3 {
			t.Errorf("TMPFILE count %d, want 3", n)
		}
		if n := m.fopCount(xlator.FopTmpfile); n != 3 {
			t.Errorf("the graph counted %d tmpfile fops, want 3", n)
		}
	})
}

// TestStatxBirthTime: statx(2) of a file on a mount of a posix brick
// reports the brick file's birth time (the kernel asks STATX), by name
// and through an open file.
func TestStatxBirthTime(t *testing.T) {
	onLoops(t, func(t *testing.T, goFuse bool) {
		spec, reg, brick := posixSpec(t, "0")
		m := mountSpec(t, spec, reg, func(c *Config) { c.GoFuseLoop = goFuse })
		if err := os.WriteFile(m.path("f"), []byte("born"), 0o644); err != nil {
			t.Fatal(err)
		}
		var want unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, filepath.Join(brick, "f"), 0, unix.STATX_BTIME, &want); err != nil {
			t.Fatal(err)
		}
		if want.Mask&unix.STATX_BTIME == 0 {
			t.Skip("skipping: the brick's file system keeps no birth time")
		}
		before := m.srv.Stats()
		var got unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, m.path("f"), 0, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &got); err != nil {
			t.Fatal(err)
		}
		if got.Mask&unix.STATX_BTIME == 0 || got.Btime != want.Btime {
			t.Errorf("statx by name: mask %#x btime %+v; the brick file's is %+v", got.Mask, got.Btime, want.Btime)
		}
		if got.Mask&unix.STATX_BASIC_STATS != unix.STATX_BASIC_STATS || got.Size != 4 {
			t.Errorf("statx by name: mask %#x size %d; want the basic stats and size 4", got.Mask, got.Size)
		}
		f, err := os.Open(m.path("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got = unix.Statx_t{}
		if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &got); err != nil {
			t.Fatal(err)
		}
		if got.Mask&unix.STATX_BTIME == 0 || got.Btime != want.Btime {
			t.Errorf("statx of the open file: mask %#x btime %+v; the brick file's is %+v", got.Mask, got.Btime, want.Btime)
		}
		if n := m.srv.Stats().Sub(before).Count("STATX"); n == 0 {
			t.Errorf("no STATX reached the daemon")
		}
	})
}

// ioctlUnknown is _IOR('X', 0xf0, uint32): an ioctl no file system knows.
const ioctlUnknown = 2<<30 | 4<<16 | 'X'<<8 | 0xf0

// TestIoctlENOTTY: an unknown ioctl, and the flags ioctls chattr and
// lsattr use, fail with ENOTTY through the mount, answered by the bridge
// without a fop.
func TestIoctlENOTTY(t *testing.T) {
	onLoops(t, func(t *testing.T, goFuse bool) {
		spec, reg, _ := posixSpec(t, "0")
		m := mountSpec(t, spec, reg, func(c *Config) { c.GoFuseLoop = goFuse })
		f, err := os.Create(m.path("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fops := func() (n uint64) {
			for op := xlator.Fop(0); op < xlator.NumFops; op++ {
				n += m.fopCount(op)
			}
			return n
		}
		before, fopsBefore := m.srv.Stats(), fops()
		var arg uint32
		ioctl := func(cmd uint) syscall.Errno {
			_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(cmd), uintptr(unsafe.Pointer(&arg)))
			return errno
		}
		if errno := ioctl(ioctlUnknown); errno != syscall.ENOTTY {
			t.Errorf("unknown ioctl: %v, want ENOTTY", errno)
		}
		if n := fops(); n != fopsBefore {
			t.Errorf("the ioctl made %d fops", n-fopsBefore)
		}
		// The kernel sends these with an open and release of its own (the
		// fops that go down), then the IOCTL.
		for _, cmd := range []uint{unix.FS_IOC_GETFLAGS, unix.FS_IOC_SETFLAGS} {
			if errno := ioctl(cmd); errno != syscall.ENOTTY {
				t.Errorf("ioctl %#x: %v, want ENOTTY", cmd, errno)
			}
		}
		if n := m.srv.Stats().Sub(before).Count("IOCTL"); n != 3 {
			t.Errorf("IOCTL count %d, want 3 (the kernel answered some itself?)", n)
		}
	})
}
