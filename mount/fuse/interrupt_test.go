package fuse

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// waiter holds a LOOKUP of a name that starts with "wait-lookup", and a
// READ or WRITE of a file whose name starts with "wait-read" or
// "wait-write", until the call's context is done, as a translator that
// honours cancellation does (a plugin's transport, say): then it gives
// up, the LOOKUP with the context's error, READ and WRITE with
// ECANCELED. waiterRelease ends every wait at the end of a test.
type waiter struct{ xlator.Base }

var waiterType = xlator.Type{Name: "waiter", MinChildren: 1, MaxChildren: 1, New: func() xlator.Xlator { return &waiter{} }}

var (
	waiterRelease   chan struct{}
	waitersNow      atomic.Int32 // fops waiting now
	waitersCanceled atomic.Int32 // fops that ended because their context did
)

// wait holds the call until its context is done or the test ends, and
// reports whether the context ended it.
func (w *waiter) wait(c *xlator.Call) bool {
	waitersNow.Add(1)
	defer waitersNow.Add(-1)
	select {
	case <-c.Ctx.Done():
		waitersCanceled.Add(1)
		return true
	case <-waiterRelease:
		return false
	}
}

func named(fd *xlator.FD, prefix string) bool {
	_, name, ok := fd.Inode.Dentry()
	return ok && strings.HasPrefix(name, prefix)
}

func (w *waiter) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if strings.HasPrefix(loc.Name, "wait-lookup") && w.wait(c) {
		return xlator.Iatt{}, c.Ctx.Err()
	}
	return w.Base.Lookup(c, loc)
}

func (w *waiter) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if named(fd, "wait-read") && w.wait(c) {
		return nil, syscall.ECANCELED
	}
	return w.Base.Readv(c, fd, size, off)
}

func (w *waiter) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	if named(fd, "wait-write") && w.wait(c) {
		return 0, syscall.ECANCELED
	}
	return w.Base.Writev(c, fd, data, off)
}

// loop is a way a mount is served.
type loop struct {
	name      string
	goFuse    bool   // go-fuse's reader loop instead of xstack's own
	transport string // Config.Transport
}

// loops are the ways a mount is served: xstack's own reader loop (root
// mounts), the same over io_uring, and go-fuse's.
var loops = []loop{{"own-loop", false, TransportDevFuse}, {"io-uring", false, TransportIOUring}, {"go-fuse-loop", true, TransportDevFuse}}

// mountWaiter mounts waiter over mem with the given loop; the waits end
// when the test does.
func mountWaiter(t *testing.T, l loop) *mounted {
	t.Helper()
	if !l.goFuse && os.Geteuid() != 0 {
		t.Skip("skipping: xstack's own FUSE loop serves root mounts only")
	}
	if l.transport == TransportIOUring {
		setEnableURing(t, "Y")
	}
	waiterRelease = make(chan struct{})
	reg := xlatortest.Registry()
	reg.MustRegister(waiterType)
	m := mountWith(t, reg, func(c *Config) { c.GoFuseLoop, c.Transport = l.goFuse, l.transport }, "waiter", "mem")
	release := waiterRelease
	t.Cleanup(func() { close(release) }) // runs before the unmount, registered earlier
	if (m.srv.c != nil) == l.goFuse {
		t.Fatalf("go-fuse loop %v asked, own loop %v", l.goFuse, m.srv.c != nil)
	}
	if got := m.srv.Stats().Transport; got != l.transport {
		t.Fatalf("transport %q asked, %q serves (%s)", l.transport, got, m.srv.Stats().TransportNote)
	}
	return m
}

// heldCPU and otherCPU: with io_uring, a request held in a translator
// holds the queue of the CPU its caller ran on (uring.go), so a test
// holds its request on heldCPU and checks that the mount serves others
// from otherCPU.
const heldCPU, otherCPU = 0, 1

// onCPU runs f on a thread pinned to cpu (where the machine has it) and
// returns what f returns. Processes f starts inherit the pinning.
func onCPU(cpu int, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread ends with the goroutine, pinning and all
		var set unix.CPUSet
		set.Set(cpu)
		_ = unix.SchedSetaffinity(0, &set) // a missing CPU: run anywhere
		errc <- f()
	}()
	return <-errc
}

// TestInterruptedReadWrite: a signal to a thread whose READ or WRITE waits
// in a translator that honours cancellation makes the kernel send an
// INTERRUPT, which cancels the call's context, and the system call
// returns EINTR; the mount goes on serving, with no call left in flight.
// The own loop serves READ and WRITE itself, outside go-fuse's
// ProtocolServer, so this is its interrupt path; go-fuse's loop is the
// baseline.
func TestInterruptedReadWrite(t *testing.T) {
	for _, loop := range loops {
		for _, op := range []string{"read", "write"} {
			t.Run(loop.name+"/"+op, func(t *testing.T) {
				m := mountWaiter(t, loop)
				p := m.path("wait-" + op)
				data := []byte("data")
				if op == "write" {
					data = nil // a WRITE of it would wait
				}
				if err := os.WriteFile(p, data, 0o644); err != nil {
					t.Fatal(err)
				}
				canceled := waitersCanceled.Load()
				tids := make(chan int, 1)
				res := make(chan error, 1)
				go func() {
					runtime.LockOSThread() // the signal must reach this thread
					var set unix.CPUSet
					set.Set(heldCPU)
					_ = unix.SchedSetaffinity(0, &set) // never unlocked: the pinned thread ends with the goroutine
					fd, err := unix.Open(p, unix.O_RDWR|unix.O_DIRECT, 0)
					if err != nil {
						tids <- 0
						res <- err
						return
					}
					defer unix.Close(fd)
					tids <- unix.Gettid()
					buf := alignedBuf(4096)
					if op == "read" {
						_, err = unix.Pread(fd, buf, 0)
					} else {
						_, err = unix.Pwrite(fd, buf, 0)
					}
					res <- err
				}()
				tid := <-tids
				if tid == 0 {
					t.Fatal(<-res)
				}
				if !eventually(func() bool { return waitersNow.Load() == 1 }) {
					t.Fatalf("the %s never reached the translator", op)
				}
				// Other requests are served meanwhile.
				if err := onCPU(otherCPU, func() error { _, err := os.Stat(m.path("wait-" + op)); return err }); err != nil {
					t.Fatalf("stat beside a held %s: %v", op, err)
				}
				// SIGURG: the Go runtime handles it, so the test process
				// lives on; the kernel sees a signal all the same.
				start := time.Now()
				if err := unix.Tgkill(unix.Getpid(), tid, unix.SIGURG); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-res:
					if errnoOf(err) != unix.EINTR {
						t.Fatalf("interrupted %s: %v, want EINTR", op, err)
					}
					t.Logf("interrupted %s returned EINTR after %v", op, time.Since(start))
				case <-time.After(5 * time.Second):
					t.Fatalf("the %s was not interrupted", op)
				}
				if waitersCanceled.Load() != canceled+1 {
					t.Errorf("the translator did not see its call cancelled")
				}
				if !eventually(func() bool { n, _ := m.g.Calls().Count(); return n == 0 }) {
					t.Errorf("calls in flight after the interrupt: %+v", m.g.Calls().InFlight())
				}
				// The next READ and WRITE are not cancelled.
				if got, err := directIO(m.path("plain"), "after"); err != nil || got != "after" {
					t.Fatalf("IO after the interrupt: %q, %v", got, err)
				}
			})
		}
	}
}

// TestKilledCallerFreed: a process whose stat waits for a LOOKUP held in
// a translator that honours cancellation, and that is then killed with
// SIGKILL, exits at once: the kernel sends an INTERRUPT for the pending
// request of a dying process, the call's context is cancelled, and the
// process does not stay in D state waiting for the reply. Other paths
// work while the LOOKUP is held.
func TestKilledCallerFreed(t *testing.T) {
	statBin, err := exec.LookPath("stat")
	if err != nil {
		t.Skip("skipping: no stat(1)")
	}
	for _, loop := range loops {
		t.Run(loop.name, func(t *testing.T) {
			m := mountWaiter(t, loop)
			if err := os.WriteFile(m.path("other"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			canceled := waitersCanceled.Load()
			cmd := exec.Command(statBin, m.path("wait-lookup"))
			if err := onCPU(heldCPU, cmd.Start); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			if !eventually(func() bool { return waitersNow.Load() == 1 }) {
				cmd.Process.Kill()
				t.Fatal("the LOOKUP never reached the translator")
			}
			if st := procState(cmd.Process.Pid); st != "S" && st != "D" {
				t.Logf("stat(1) is in state %q while its LOOKUP is held", st)
			}
			if err := onCPU(otherCPU, func() error { _, err := os.Stat(m.path("other")); return err }); err != nil {
				t.Fatalf("stat of another file beside a held LOOKUP: %v", err)
			}
			start := time.Now()
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				ee, ok := err.(*exec.ExitError)
				if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("stat(1) ended with %v, want killed", err)
				}
				t.Logf("killed stat(1) exited after %v", time.Since(start))
			case <-time.After(5 * time.Second):
				t.Fatalf("killed stat(1) still alive after 5s, in state %q", procState(cmd.Process.Pid))
			}
			if waitersCanceled.Load() != canceled+1 {
				t.Errorf("the LOOKUP's context was not cancelled")
			}
			if !eventually(func() bool { n, _ := m.g.Calls().Count(); return n == 0 }) {
				t.Errorf("calls in flight after the kill: %+v", m.g.Calls().InFlight())
			}
			if _, err := os.Stat(m.path("other")); err != nil {
				t.Fatalf("the mount stopped serving after the kill: %v", err)
			}
		})
	}
}

// directIO writes s to a new file at p and reads it back with O_DIRECT,
// so that both are FUSE requests.
func directIO(p, s string) (string, error) {
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_DIRECT, 0o644)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if _, err := unix.Pwrite(fd, []byte(s), 0); err != nil {
		return "", err
	}
	buf := alignedBuf(4096)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// procState returns the state letter of process pid (R, S, D, Z, ...).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "?"
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return "?"
}

// TestAbortCancelsAll: when the connection ends under requests being
// served (here aborted through fusectl, as `umount -f` or a dying kernel
// connection does), every call still in the graph is cancelled, so a fop
// waiting on something slow gives up and the mount's end is not held
// until it would return; its caller gets ENOTCONN from the kernel.
func TestAbortCancelsAll(t *testing.T) {
	for _, loop := range loops {
		t.Run(loop.name, func(t *testing.T) {
			m := mountWaiter(t, loop)
			t.Cleanup(func() { _ = unix.Unmount(m.dir, unix.MNT_DETACH) }) // the aborted mount stays in the table
			canceled := waitersCanceled.Load()
			errc := make(chan error, 1)
			go func() {
				_, err := os.Stat(m.path("wait-lookup"))
				errc <- err
			}()
			if !eventually(func() bool { return waitersNow.Load() == 1 }) {
				t.Fatal("the LOOKUP did not reach the waiter")
			}
			abortConnection(t, m.dir)
			select {
			case err := <-errc:
				if !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) {
					t.Errorf("stat after the abort: %v, want ENOTCONN or ECONNABORTED", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the stat did not return after the abort")
			}
			done := make(chan struct{})
			go func() { m.srv.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				buf := make([]byte, 1<<20)
				t.Logf("%s", buf[:runtime.Stack(buf, true)])
				t.Fatal("the server did not end after the abort: a call still waits")
			}
			if waitersCanceled.Load() != canceled+1 || waitersNow.Load() != 0 {
				t.Errorf("waiting calls: %d now, %d cancelled (want 0, 1)", waitersNow.Load(), waitersCanceled.Load()-canceled)
			}
		})
	}
}

// abortConnection aborts the FUSE connection of the mount at dir through
// a fusectl mounted for the test.
func abortConnection(t *testing.T, dir string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	ctl := t.TempDir()
	if err := unix.Mount("fusectl", ctl, "fusectl", 0, ""); err != nil {
		t.Skipf("skipping: cannot mount fusectl: %v", err)
	}
	defer unix.Unmount(ctl, unix.MNT_DETACH)
	abort := fmt.Sprintf("%s/%d/abort", ctl, unix.Minor(st.Dev))
	if err := os.WriteFile(abort, []byte("1"), 0o200); err != nil {
		t.Fatal(err)
	}
}
