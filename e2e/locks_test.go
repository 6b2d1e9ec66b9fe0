package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/xlator"
)

// lockHelperEnv makes the test binary a lock holder (lockHelper) instead
// of running tests: "MODE:TYPE:PATH", MODE fcntl, ofd or flock, TYPE r or
// w. It takes the lock waiting for it, prints "locked" and then waits to
// be killed.
const lockHelperEnv = "XSTACK_E2E_LOCK_HELPER"

func init() {
	if spec := os.Getenv(lockHelperEnv); spec != "" {
		if err := lockHelper(spec); err != nil {
			fmt.Fprintln(os.Stderr, "lock helper:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
}

func lockHelper(spec string) error {
	mode, rest, _ := strings.Cut(spec, ":")
	typ, path, _ := strings.Cut(rest, ":")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if typ == "r" {
		lk.Type = unix.F_RDLCK
	}
	switch mode {
	case "fcntl":
		err = unix.FcntlFlock(f.Fd(), unix.F_SETLKW, &lk)
	case "ofd":
		err = unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lk)
	case "flock":
		how := unix.LOCK_EX
		if typ == "r" {
			how = unix.LOCK_SH
		}
		err = unix.Flock(int(f.Fd()), how)
	default:
		err = fmt.Errorf("mode %q", mode)
	}
	if err != nil {
		return err
	}
	fmt.Println("locked")
	select {} // until killed
}

// startLocker runs a lock helper process on path and returns it once it
// holds the lock, or, with wait false, at once (it is then blocked).
func startLocker(t *testing.T, mode, typ, path string, wait bool) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+mode+":"+typ+":"+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	locked := make(chan struct{})
	go func() {
		if line, _ := bufio.NewReader(out).ReadString('\n'); line == "locked\n" {
			close(locked)
		}
		io.Copy(io.Discard, out)
	}()
	if wait {
		select {
		case <-locked:
		case <-time.After(20 * time.Second):
			t.Fatalf("the %s locker never got its lock", mode)
		}
	}
	return cmd, locked
}

// tryLock is a non-blocking lock of the whole file from this process.
func tryLock(f *os.File, mode string, typ int16) error {
	lk := unix.Flock_t{Type: typ}
	switch mode {
	case "fcntl":
		return unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk)
	case "ofd":
		return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
	}
	how := unix.LOCK_EX
	if typ == unix.F_RDLCK {
		how = unix.LOCK_SH
	}
	return unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
}

func create(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// lockScenarios are one process's lock calls whose outcomes Linux defines;
// each returns what it saw.
var lockScenarios = []struct {
	name string
	run  func(dir string) string
}{
	{"fcntl locks of one process never conflict", func(dir string) string {
		f1, f2 := openTwo(dir)
		defer f1.Close()
		defer f2.Close()
		return fmt.Sprint(tryLock(f1, "fcntl", unix.F_WRLCK), tryLock(f2, "fcntl", unix.F_RDLCK))
	}},
	{"an OFD getlk sees the process's fcntl lock", func(dir string) string {
		f1, f2 := openTwo(dir)
		defer f1.Close()
		defer f2.Close()
		err := tryLock(f1, "fcntl", unix.F_WRLCK)
		lk := unix.Flock_t{Type: unix.F_WRLCK}
		err2 := unix.FcntlFlock(f2.Fd(), unix.F_OFD_GETLK, &lk)
		return fmt.Sprint(err, err2, lk.Type, lk.Start, lk.Len)
	}},
	{"OFD locks of two opens conflict", func(dir string) string {
		f1, f2 := openTwo(dir)
		defer f1.Close()
		defer f2.Close()
		return fmt.Sprint(tryLock(f1, "ofd", unix.F_WRLCK), tryLock(f2, "ofd", unix.F_RDLCK))
	}},
	{"flock locks of two opens conflict", func(dir string) string {
		f1, f2 := openTwo(dir)
		defer f1.Close()
		defer f2.Close()
		return fmt.Sprint(tryLock(f1, "flock", unix.F_WRLCK), tryLock(f2, "flock", unix.F_RDLCK), tryLock(f1, "flock", unix.F_RDLCK), tryLock(f2, "flock", unix.F_RDLCK))
	}},
	{"flock and fcntl locks never conflict", func(dir string) string {
		f1, f2 := openTwo(dir)
		defer f1.Close()
		defer f2.Close()
		return fmt.Sprint(tryLock(f1, "flock", unix.F_WRLCK), tryLock(f2, "ofd", unix.F_WRLCK))
	}},
	{"closing any descriptor drops the process's fcntl locks", func(dir string) string {
		f1, f2 := openTwo(dir)
		defer f1.Close()
		defer f2.Close()
		err := tryLock(f1, "fcntl", unix.F_WRLCK)
		f3, _ := os.Open(filepath.Join(dir, "f"))
		f3.Close()
		lk := unix.Flock_t{Type: unix.F_WRLCK}
		err2 := unix.FcntlFlock(f2.Fd(), unix.F_OFD_GETLK, &lk)
		return fmt.Sprint(err, err2, lk.Type)
	}},
	{"closing an open drops its OFD lock", func(dir string) string {
		f1, f2 := openTwo(dir)
		defer f2.Close()
		err := tryLock(f1, "ofd", unix.F_WRLCK)
		f1.Close()
		// The mount releases the open asynchronously: poll briefly.
		var err2 error
		for range 200 {
			if err2 = tryLock(f2, "ofd", unix.F_WRLCK); err2 == nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Sprint(err, err2)
	}},
	{"split and getlk of a range", func(dir string) string {
		f1, f2 := openTwo(dir)
		defer f1.Close()
		defer f2.Close()
		lk := unix.Flock_t{Type: unix.F_WRLCK, Start: 100, Len: 100}
		err := unix.FcntlFlock(f1.Fd(), unix.F_OFD_SETLK, &lk)
		un := unix.Flock_t{Type: unix.F_UNLCK, Start: 120, Len: 10}
		err2 := unix.FcntlFlock(f1.Fd(), unix.F_OFD_SETLK, &un)
		q := unix.Flock_t{Type: unix.F_RDLCK, Start: 125, Len: 0}
		err3 := unix.FcntlFlock(f2.Fd(), unix.F_OFD_GETLK, &q)
		return fmt.Sprint(err, err2, err3, q.Type, q.Start, q.Len)
	}},
}

func openTwo(dir string) (*os.File, *os.File) {
	p := filepath.Join(dir, "f")
	f1, _ := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	f2, _ := os.OpenFile(p, os.O_RDWR, 0)
	return f1, f2
}

// TestLocksAsTheKernel: each scenario's outcome through the mount is the
// outcome on the test's own (kernel) file system.
func TestLocksAsTheKernel(t *testing.T) {
	for _, vf := range volfilesUnderTest(t) {
		t.Run(vf, func(t *testing.T) {
			m := mount(t, vf)
			for i, sc := range lockScenarios {
				native := t.TempDir()
				mdir := filepath.Join(m.mnt, fmt.Sprint(i))
				if err := os.Mkdir(mdir, 0o755); err != nil {
					t.Fatal(err)
				}
				want, got := sc.run(native), sc.run(mdir)
				if got != want {
					t.Errorf("%s: mount %q, kernel %q", sc.name, got, want)
				}
			}
			// The kernel's own lock table would pass too: the locks
			// must have been the graph's.
			var granted uint64
			for _, x := range m.st.Graph.Xlators() {
				if x.Type == "locks" {
					granted += x.Stats.Count(xlator.FopLk)
				}
			}
			if granted < uint64(len(lockScenarios)) {
				t.Errorf("the graph saw %d LK fops: the kernel kept the locks itself", granted)
			}
		})
	}
}

// TestLocksAcrossProcesses: a lock another process holds through the
// mount keeps this one out, for each kind of lock, and goes when the
// holder is killed.
func TestLocksAcrossProcesses(t *testing.T) {
	m := mount(t, "default.hcl")
	for _, mode := range []string{"fcntl", "ofd", "flock"} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(m.mnt, mode)
			f := create(t, path)
			holder, _ := startLocker(t, mode, "w", path, true)
			if err := tryLock(f, mode, unix.F_RDLCK); !errors.Is(err, syscall.EAGAIN) {
				t.Fatalf("lock while another process holds one: %v, want EAGAIN", err)
			}
			if mode == "fcntl" {
				lk := unix.Flock_t{Type: unix.F_WRLCK}
				if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil || lk.Type != unix.F_WRLCK || int(lk.Pid) != holder.Process.Pid {
					t.Errorf("F_GETLK = %+v, %v; want the holder's (pid %d) write lock", lk, err, holder.Process.Pid)
				}
			}
			holder.Process.Kill()
			holder.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for {
				err := tryLock(f, mode, unix.F_WRLCK)
				if err == nil {
					break
				}
				if !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
					t.Fatalf("lock after the holder was killed: %v", err)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestLockAPIAndMount: a lock taken through the Go API keeps a process on
// the mount out, and one taken on the mount keeps the API out: one lock
// table for every front end. A process waiting on the mount gets the lock
// when the API lets it go.
func TestLockAPIAndMount(t *testing.T) {
	m := mount(t, "default.hcl")
	v := api.FromStack(m.st) // not closed: the mount's stack
	af, err := v.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	if err := af.Lock(api.WriteLock, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(m.mnt, "f")
	f := create(t, path)
	for _, mode := range []string{"fcntl", "ofd"} {
		if err := tryLock(f, mode, unix.F_RDLCK); !errors.Is(err, syscall.EAGAIN) {
			t.Errorf("%s lock on the mount while the API holds one: %v, want EAGAIN", mode, err)
		}
	}
	// The statedump lists the API's lock on the file, in GlusterFS's
	// format.
	var text bytes.Buffer
	if err := statedump.Write(&text, statedump.Source{Graph: m.st.Graph, Env: m.st.Env}, statedump.Options{}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("inode[0].posixlk.posixlk[0](ACTIVE)=type=WRITE, whence=0, start=0, len=0, pid = %d, owner=", os.Getpid()); !strings.Contains(text.String(), want) ||
		!strings.Contains(text.String(), "inode[0].path=/f") {
		t.Errorf("the statedump does not list the lock (%q):\n%s", want, text.String())
	}
	_, locked := startLocker(t, "fcntl", "w", path, false)
	select {
	case <-locked:
		t.Fatal("the mount's process got the lock the API holds")
	case <-time.After(200 * time.Millisecond):
	}
	if err := af.Unlock(0, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-locked:
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting process did not get the lock the API let go")
	}
	if err := af.Lock(api.ReadLock, 0, 0, false); !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("API lock while a process on the mount holds one: %v, want EAGAIN", err)
	}
}

// TestLockWaitInterrupted: a process waiting for a lock on the mount is
// interrupted by a signal (flock(1)'s timeout, a C program's alarm for
// fcntl) and gets EINTR; the wait leaves nothing behind in the lock
// translator.
func TestLockWaitInterrupted(t *testing.T) {
	need(t, "flock")
	m := mount(t, "posix.hcl")
	path := filepath.Join(m.mnt, "f")
	create(t, path)
	v := api.FromStack(m.st)
	af, err := v.OpenFile("/f", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer af.Close()
	if err := af.Flock(syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := af.Lock(api.WriteLock, 0, 0, false); err != nil {
		t.Fatal(err)
	}
	// flock(1) waits under an alarm; at the timeout it exits with -E's
	// code.
	out, err := exec.Command("flock", "-w", "0.3", "-E", "99", path, "true").CombinedOutput()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 99 {
		t.Fatalf("flock -w 0.3 on a held file: %v %s; want its timeout (exit 99)", err, out)
	}
	if _, err := exec.LookPath("gcc"); err == nil {
		src := filepath.Join(t.TempDir(), "setlkw.c")
		bin := src[:len(src)-2]
		os.WriteFile(src, []byte(setlkwC), 0o644)
		if out, err := exec.Command("gcc", "-o", bin, src).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v %s", err, out)
		}
		out, err := exec.Command(bin, path).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "EINTR" {
			t.Errorf("F_SETLKW interrupted by SIGALRM: %v %q, want EINTR", err, out)
		}
	} else {
		t.Log("gcc not found: the fcntl F_SETLKW interruption is not tested")
	}
	dump := lockDump(t, m, "brick-locks")
	if dump["waits-interrupted"] == "0" || dump["waits"] != dump["waits-interrupted"] {
		t.Errorf("waits %s, interrupted %s: every wait was interrupted", dump["waits"], dump["waits-interrupted"])
	}
	for k := range dump {
		if strings.Contains(k, "BLOCKED") {
			t.Errorf("an interrupted wait is still listed: %s", k)
		}
	}
}

// setlkwC waits for a write lock with F_SETLKW under a one-second alarm
// whose handler is installed without SA_RESTART, and prints how the wait
// ended.
const setlkwC = `#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static void onalarm(int sig) { (void)sig; }
int main(int argc, char **argv) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = onalarm;
	sigaction(SIGALRM, &sa, NULL);
	int fd = open(argv[1], O_RDWR);
	if (fd < 0) { perror("open"); return 1; }
	struct flock fl;
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	alarm(1);
	if (fcntl(fd, F_SETLKW, &fl) == 0) { puts("LOCKED"); return 0; }
	puts(errno == EINTR ? "EINTR" : strerror(errno));
	return 0;
}
`

// lockDump returns the named locks volume's statedump section.
func lockDump(t *testing.T, m *mounted, volume string) map[string]string {
	t.Helper()
	x := m.st.Graph.Xlator(volume)
	if x == nil {
		t.Fatalf("no volume %q", volume)
	}
	out := map[string]string{}
	for _, kv := range xlator.Unwrap(x).Dump() {
		out[kv.Key] = fmt.Sprint(kv.Value)
	}
	return out
}
