package e2e

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/mount/fuse"
	"github.com/xstack/xstack/statedump"
)

// needFUSE skips the test when this machine cannot mount.
func needFUSE(t *testing.T) {
	t.Helper()
	if err := fuse.Available(); err != nil {
		t.Skipf("FUSE is not available here: %v", err)
	}
}

// xstackIn runs the xstack binary with args in dir, its admin sockets in
// dir/run, and returns its exit status and output. It must return within
// a minute: a daemon's parent returns once the child is ready.
func xstackIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xstackBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), statedump.RunDirEnv+"="+filepath.Join(dir, "run"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("xstack %s did not return within a minute\n%s%s", strings.Join(args, " "), out.String(), errb.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

var pidRE = regexp.MustCompile(`\(pid (\d+)\)`)

// daemonPid is the pid a daemon's banner names; the test ends it (and
// unmounts mnt) when it is done.
func daemonPid(t *testing.T, banner, mnt string) int {
	t.Helper()
	m := pidRE.FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no pid in the daemon's banner:\n%s", banner)
	}
	pid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() {
		_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	})
	return pid
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// waitExit waits up to 15 s for pid to end.
func waitExit(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still runs", pid)
		}
	}
}

func isMounted(mnt string) bool {
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	return bytes.Contains(mounts, []byte(" "+mnt+" "))
}

// TestDaemon: `xstack run --daemon` returns once the mount is ready, exit
// 0, with the foreground banner; the daemon runs in a session of its own,
// survives SIGHUP, serves the mount, logs to --log-file, and exits when
// unmounted with xstack umount.
func TestDaemon(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "_xstack", "mnt")
	logFile := filepath.Join(dir, "xstack.log")
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	code, out, errs := xstackIn(t, dir, "run", "--daemon", "-log-file", logFile, "--metrics-addr", "127.0.0.1:0")
	if code != 0 || !strings.Contains(out, "xstack: mounted <embedded default> at "+mnt+" (pid ") || errs != "" {
		t.Fatalf("run --daemon: exit %d\n%s%s", code, out, errs)
	}
	pid := daemonPid(t, out, mnt)
	if !isMounted(mnt) {
		t.Fatalf("run --daemon returned but %s is not mounted", mnt)
	}
	// The mount names its stack (mount(8)'s source), `xstack list` shows
	// it, and --metrics-addr serves Prometheus metrics.
	if src := mountSource(t, mnt); src != "xstack:default" {
		t.Errorf("the mount's source is %q, want xstack:default", src)
	}
	if code, out, errs := xstackIn(t, dir, "list"); code != 0 || !strings.Contains(out, strconv.Itoa(pid)) ||
		!strings.Contains(out, "default") || !strings.Contains(out, "running") || !strings.Contains(out, mnt) {
		t.Errorf("list: exit %d\n%s%s", code, out, errs)
	}
	m := regexp.MustCompile(`metrics at (http://\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("run --daemon --metrics-addr printed no metrics URL:\n%s", out)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "xstack_fop_latency_seconds_bucket") {
		t.Errorf("GET %s: %s\n%.500s", m[1], resp.Status, body)
	}
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("the daemon's session is %d (%v), want its own (%d)", sid, err, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte("after SIGHUP"), 0o644); err != nil {
		t.Fatalf("write on the mount after SIGHUP: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "f")); err != nil || string(b) != "after SIGHUP" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if !alive(pid) {
		t.Fatal("the daemon died of SIGHUP")
	}
	if log, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(log), "mounted") {
		t.Errorf("--log-file has no log of the mount: %v\n%s", err, log)
	}
	if code, out, errs := xstackIn(t, dir, "umount", mnt); code != 0 {
		t.Fatalf("umount: exit %d\n%s%s", code, out, errs)
	}
	waitExit(t, pid)
	if isMounted(mnt) {
		t.Error("still mounted after umount")
	}
}

// TestDaemonFails: a daemon that cannot start says why through its parent,
// which exits with the status a foreground start would have: 1 for a
// failed mount, 2 for a usage error the child finds, each message once.
func TestDaemonFails(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	code, out, errs := xstackIn(t, dir, "mount", "--daemon", "--data", filepath.Join(dir, "data"), "@default", missing)
	if code != 1 || out != "" || !strings.Contains(errs, missing) || strings.Count(errs, "xstack mount:") != 1 {
		t.Errorf("mount --daemon on a missing directory: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	code, out, errs = xstackIn(t, dir, "run", "--daemon", "--log-level", "loud")
	if code != 2 || out != "" || strings.Count(errs, `--log-level "loud"`) != 1 || strings.Count(errs, "for usage") != 1 {
		t.Errorf("run --daemon --log-level loud: exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	if isMounted(filepath.Join(dir, "_xstack", "mnt")) {
		t.Error("a daemon that reported a failure left a mount")
	}
}

// TestDeadMount: a stack killed outright leaves a dead mount; `xstack run`
// then explains it (as mount does) instead of "mkdir: file exists", and
// `xstack umount` clears it.
func TestDeadMount(t *testing.T) {
	needFUSE(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "_xstack", "mnt")
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	code, out, errs := xstackIn(t, dir, "run", "--daemon")
	if code != 0 {
		t.Fatalf("run --daemon: exit %d\n%s%s", code, out, errs)
	}
	pid := daemonPid(t, out, mnt)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitExit(t, pid)
	if _, err := os.Stat(mnt); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat of the killed stack's mount point: %v, want ENOTCONN", err)
	}
	for _, args := range [][]string{{"run"}, {"run", "--daemon"}, {"mount", "@default", mnt}} {
		code, out, errs = xstackIn(t, dir, args...)
		if code != 1 || !strings.Contains(errs, mnt+" is a dead FUSE mount") || !strings.Contains(errs, "umount "+mnt) || strings.Contains(errs, "file exists") {
			t.Errorf("xstack %s on a dead mount: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
	if code, out, errs := xstackIn(t, dir, "umount", mnt); code != 0 {
		t.Fatalf("umount of a dead mount: exit %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(mnt); err != nil {
		t.Errorf("after umount: %v", err)
	}
}

// TestForegroundSIGHUP: closing the terminal of a stack run in the
// foreground (SIGHUP) unmounts it cleanly, leaving no dead mount.
func TestForegroundSIGHUP(t *testing.T) {
	d := startDaemon(t)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Fatalf("xstack run exited with %v on SIGHUP\n%s", err, d.output())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("xstack run did not exit on SIGHUP\n%s", d.output())
	}
	if isMounted(d.mnt) {
		t.Fatal("still mounted after SIGHUP")
	}
}

// mountSource returns the source /proc/mounts shows for the mount at mp.
func mountSource(t *testing.T, mp string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == mp {
			return f[0]
		}
	}
	t.Fatalf("%s is not in /proc/self/mounts", mp)
	return ""
}
