package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// asNobody runs name with args as uid and gid 65534 and returns its
// combined output and error.
func asNobody(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mountOptions returns the mount and super-block options of the mount at
// mnt in /proc/self/mountinfo, "" when nothing is mounted there.
func mountOptions(mnt string) string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) > 4 && f[4] == mnt {
			return l
		}
	}
	return ""
}

// TestAllowOther: a stack root mounts is every user's (allow_other), with
// the kernel checking each one's permissions (default_permissions), as a
// GlusterFS mount is; a mount block that says allow-other = false keeps
// it to root.
func TestAllowOther(t *testing.T) {
	needFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("allow_other is the default for root only; run as root")
	}
	dir := t.TempDir()
	// Let uid 65534 reach the mount point through the test's directories.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mnt := filepath.Join(dir, "_xstack", "mnt")
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	code, out, errs := xstackIn(t, dir, "run", "--daemon")
	if code != 0 {
		t.Fatalf("run --daemon: exit %d\n%s%s", code, out, errs)
	}
	pid := daemonPid(t, out, mnt)
	opts := mountOptions(mnt)
	if !strings.Contains(opts, "allow_other") || !strings.Contains(opts, "default_permissions") {
		t.Errorf("root's mount lacks allow_other or default_permissions:\n%s", opts)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(mnt, "public"), []byte("for all"), 0o644))
	must(os.WriteFile(filepath.Join(mnt, "secret"), []byte("root's"), 0o600))
	must(os.Mkdir(filepath.Join(mnt, "d"), 0o755))
	must(os.Chmod(mnt, 0o755))
	if out, err := asNobody("cat", filepath.Join(mnt, "public")); err != nil || out != "for all" {
		t.Errorf("another user reads a 0644 file on root's mount: %v, %q", err, out)
	}
	if out, err := asNobody("cat", filepath.Join(mnt, "secret")); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("another user reads root's 0600 file: %v, %q; want Permission denied", err, out)
	}
	if out, err := asNobody("touch", filepath.Join(mnt, "d", "new")); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("another user creates a file in root's 0755 directory: %v, %q; want Permission denied", err, out)
	}
	if code, out, errs := xstackIn(t, dir, "umount", mnt); code != 0 {
		t.Fatalf("umount: exit %d\n%s%s", code, out, errs)
	}
	waitExit(t, pid)

	// allow-other = false: root's alone.
	vol := filepath.Join(dir, "private.hcl")
	must(os.WriteFile(vol, []byte(`volume "brick" {
  type      = "posix"
  directory = "`+filepath.Join(dir, "brick")+`"
}

mount {
  path        = "`+mnt+`"
  allow-other = false
}
`), 0o644))
	code, out, errs = xstackIn(t, dir, "run", "--daemon", vol)
	if code != 0 {
		t.Fatalf("run --daemon %s: exit %d\n%s%s", vol, code, out, errs)
	}
	daemonPid(t, out, mnt)
	if opts := mountOptions(mnt); opts == "" || strings.Contains(opts, "allow_other") {
		t.Errorf("a mount with allow-other = false: %q", opts)
	}
	if out, err := asNobody("ls", mnt); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("another user lists a mount with allow-other = false: %v, %q; want Permission denied", err, out)
	}
}
