package fuse

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// nonRootDirEnv tells TestNonRootMount's child where to mount.
const nonRootDirEnv = "XSTACK_TEST_NONROOT_MOUNT"

// TestNonRootMount mounts as an ordinary user, as anyone but root does:
// through fusermount3 and go-fuse's loop. Run as root (as CI runs), it
// runs this test binary again as nobody to do the mount; run as another
// user, it mounts itself. The child writes a file through its mount,
// reads it back and unmounts.
func TestNonRootMount(t *testing.T) {
	if dir := os.Getenv(nonRootDirEnv); dir != "" {
		nonRootChild(t, dir)
		return
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		if _, err2 := exec.LookPath("fusermount"); err2 != nil {
			t.Skipf("skipping: no fusermount3 or fusermount to mount as an ordinary user (Debian: apt install fuse3): %v", err)
		}
	}
	if os.Geteuid() != 0 {
		nonRootChild(t, t.TempDir())
		return
	}
	requireFuse(t)
	// fusermount3 opens /dev/fuse as the user: distributions make it
	// 0666 (a udev rule of the fuse3 package); where it is not, open it
	// up for the test and put the mode back.
	if fi, err := os.Stat("/dev/fuse"); err == nil && fi.Mode().Perm()&0o006 != 0o006 {
		if err := os.Chmod("/dev/fuse", fi.Mode().Perm()|0o666); err != nil {
			t.Skipf("skipping: /dev/fuse is %v and cannot be opened to other users: %v", fi.Mode().Perm(), err)
		}
		t.Logf("/dev/fuse was %v; 0666 for this test, as the fuse3 package's udev rule sets it", fi.Mode().Perm())
		t.Cleanup(func() { _ = os.Chmod("/dev/fuse", fi.Mode().Perm()) })
	}
	// A copy of this test binary nobody can run, in a directory nobody
	// can enter, and a mount point nobody owns.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	top := t.TempDir()
	if err := os.Chmod(filepath.Dir(top), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(top, "fuse.test")
	copyFile(t, self, bin, 0o755)
	mnt := filepath.Join(top, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(mnt, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestNonRootMount$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), nonRootDirEnv+"="+mnt, "HOME=/", "XDG_RUNTIME_DIR=")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	done := make(chan struct{})
	var out []byte
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		t.Fatalf("the non-root mount did not finish:\n%s", out)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) }) // if the child left it
	if err != nil {
		t.Fatalf("mounting as nobody: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("non-root mount served")) {
		t.Fatalf("the child did not mount:\n%s", out)
	}
}

// nonRootChild mounts a mem graph at dir as the current (non-root) user,
// through fusermount, and checks a file goes through it.
func nonRootChild(t *testing.T, dir string) {
	if os.Geteuid() == 0 {
		t.Fatal("the child runs as root")
	}
	g := xlatortest.Start(t, xlatortest.Chain("mem"), xlatortest.Registry(), nil)
	// The user's own volume, as a posix brick in their directory is.
	call := g.Calls().Begin(context.Background(), xlator.FopSetattr, xlator.Creds{}, 0)
	_, err := g.Top().Setattr(call, &xlator.Loc{Inode: g.Inodes().Root()},
		&xlator.SetattrIn{Valid: xlator.SetUid | xlator.SetGid, Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())})
	call.Done()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(dir)
	srv, err := Mount(g, cfg)
	if err != nil {
		t.Skipf("skipping: an ordinary user cannot mount here: %v", err)
	}
	t.Cleanup(func() { forceUnmount(t, srv, dir) })
	if srv.c != nil {
		t.Fatal("a non-root mount uses xstack's own loop, which needs mount(2)")
	}
	data := []byte("written by an ordinary user")
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %q, %v", got, err)
	}
	if err := srv.Unmount(); err != nil {
		t.Fatal(err)
	}
	t.Log("non-root mount served")
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
