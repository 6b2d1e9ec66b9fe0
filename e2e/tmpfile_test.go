package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// brickFile is where name (at the volume's root) lives on the first brick
// of a shipped volfile: posix.hcl's brick is var.data itself, the striped
// ones' first brick is var.data/brick0 (stripe reports its birth time).
func (m *mounted) brickFile(volfile, name string) string {
	if volfile == "posix.hcl" {
		return filepath.Join(m.dir, "data", name)
	}
	return filepath.Join(m.dir, "data", "brick0", name)
}

// TestTmpfileLinkat: on every shipped volfile, open(2) with O_TMPFILE,
// writes over several stripe blocks, linkat(2) with AT_EMPTY_PATH, and
// the file reads back by its new name.
func TestTmpfileLinkat(t *testing.T) {
	for _, vf := range volfilesUnderTest(t) {
		t.Run(vf, func(t *testing.T) {
			m := mount(t, vf)
			fd, err := unix.Open(m.mnt, unix.O_TMPFILE|unix.O_RDWR, 0o640)
			if err != nil {
				t.Fatalf("open O_TMPFILE: %v", err)
			}
			data := bytes.Repeat([]byte("tmpfile\n"), 64<<10) // 512 KiB: every brick
			if n, err := unix.Write(fd, data); err != nil || n != len(data) {
				t.Fatalf("write: %d, %v", n, err)
			}
			if err := unix.Linkat(fd, "", unix.AT_FDCWD, filepath.Join(m.mnt, "named"), unix.AT_EMPTY_PATH); err != nil {
				t.Fatalf("linkat AT_EMPTY_PATH: %v", err)
			}
			if err := unix.Close(fd); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(m.mnt, "named"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back by name: %d bytes, %v; want %d", len(got), err, len(data))
			}
			if st, err := os.Stat(filepath.Join(m.mnt, "named")); err != nil || st.Mode().Perm() != 0o640 {
				t.Errorf("stat named: %v, %v; want mode 0640", st, err)
			}
			checkQuiescent(t, m)
		})
	}
}

// TestBirthTime: on every shipped volfile, `stat -c %W` and statx(2) on
// the mount report the birth time of the file on the (first) brick.
func TestBirthTime(t *testing.T) {
	for _, vf := range volfilesUnderTest(t) {
		t.Run(vf, func(t *testing.T) {
			m := mount(t, vf)
			f := filepath.Join(m.mnt, "f")
			if err := os.WriteFile(f, []byte("born"), 0o644); err != nil {
				t.Fatal(err)
			}
			var want unix.Statx_t
			if err := unix.Statx(unix.AT_FDCWD, m.brickFile(vf, "f"), 0, unix.STATX_BTIME, &want); err != nil {
				t.Fatal(err)
			}
			if want.Mask&unix.STATX_BTIME == 0 || want.Btime.Sec == 0 {
				t.Skip("skipping: the brick's file system keeps no birth time")
			}
			var got unix.Statx_t
			if err := unix.Statx(unix.AT_FDCWD, f, 0, unix.STATX_BTIME, &got); err != nil {
				t.Fatal(err)
			}
			if got.Mask&unix.STATX_BTIME == 0 || got.Btime != want.Btime {
				t.Errorf("statx: mask %#x btime %+v; the brick file's is %+v", got.Mask, got.Btime, want.Btime)
			}
			out, err := exec.Command("stat", "-c", "%W", f).CombinedOutput()
			if err != nil {
				t.Fatalf("stat -c %%W: %v: %s", err, out)
			}
			if w, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err != nil || w != want.Btime.Sec {
				t.Errorf("stat -c %%W printed %q, want %d (the brick file's birth time)", out, want.Btime.Sec)
			}
		})
	}
}

// TestIoctlENOTTY: on every shipped volfile, an ioctl no file system
// knows fails with ENOTTY through the mount.
func TestIoctlENOTTY(t *testing.T) {
	const unknown = 2<<30 | 4<<16 | 'X'<<8 | 0xf0 // _IOR('X', 0xf0, uint32)
	for _, vf := range volfilesUnderTest(t) {
		t.Run(vf, func(t *testing.T) {
			m := mount(t, vf)
			f, err := os.Create(filepath.Join(m.mnt, "f"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var arg uint32
			if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), unknown, uintptr(unsafe.Pointer(&arg))); errno != syscall.ENOTTY {
				t.Errorf("ioctl: %v, want ENOTTY", errno)
			}
		})
	}
}
