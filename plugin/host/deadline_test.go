package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/mount/fuse"
	"github.com/xstack/xstack/plugin/host"
	"github.com/xstack/xstack/xlator"
)

func hangBin(tb testing.TB) string { return build(tb, "plugin/internal/testplugin/hang") }

// hanging is a volume whose top is the hang test plugin over a mem brick
// in the host: its fops on names that start with hang-lookup, hang-read
// and hang-write wait in the plugin until release is called; a lookup of
// a name that starts with freeze stops the plugin process.
type hanging struct {
	v       *api.Volume
	h       *host.Plugin
	release func()
}

// openHanging starts the hang plugin; extra is more of its volume's
// attributes. Held fops are released when the test ends.
func openHanging(t *testing.T, extra string) *hanging {
	t.Helper()
	gate := filepath.Join(t.TempDir(), "release")
	v := open(t, hcl(`
volume "brick" {
  type = "mem"
}
volume "hang" {
  type            = "plugin"
  path            = %q
  subvolumes      = ["brick"]
  release         = %q
  restart-backoff = "50ms"
  %s
}
`, hangBin(t), gate, extra), registry(nil), nil)
	var once sync.Once
	release := func() {
		once.Do(func() {
			if err := os.WriteFile(gate, nil, 0o644); err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(release) // runs before the volume closes: registered after it
	return &hanging{v: v, h: hostOf(t, v, "hang"), release: release}
}

// dump returns the value of key in the plugin volume's statedump, "" if
// it has none.
func (hg *hanging) dump(key string) string {
	for _, kv := range hg.h.Dump() {
		if kv.Key == key {
			return fmt.Sprint(kv.Value)
		}
	}
	return ""
}

// waitDump waits until key's value in the statedump is want.
func (hg *hanging) waitDump(t *testing.T, key, want string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%s = %s (now %q)", key, want, hg.dump(key)), func() bool { return hg.dump(key) == want })
}

// write creates name with data through the volume.
func (hg *hanging) write(t *testing.T, name string, data []byte) {
	t.Helper()
	f, err := hg.v.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

// TestDeadlineThroughAPI: through the Go API with a context deadline, a
// lookup, a readv and a writev that hang in the plugin return an error
// that is both ETIMEDOUT and context.DeadlineExceeded at the deadline,
// while other paths keep working. The calls given up stay the plugin's
// until it finishes them: their ring slots, and the host memory the
// writev lent it, are reclaimed once the plugin completes them, not
// before.
func TestDeadlineThroughAPI(t *testing.T) {
	hg := openHanging(t, "")
	data := bytes.Repeat([]byte("deadline"), 8<<10) // 64 KiB: one host iobuf, lent in place
	hg.write(t, "/hang-read-f", data)
	hg.write(t, "/hang-write-f", nil)
	hg.write(t, "/other", data)
	rf, err := hg.v.Open("/hang-read-f")
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	wf, err := hg.v.OpenFile("/hang-write-f", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer wf.Close()

	const deadline = 300 * time.Millisecond
	for i, tc := range []struct {
		fop string
		do  func(ctx context.Context) error
	}{
		{"lookup", func(ctx context.Context) error { _, err := hg.v.WithContext(ctx).Stat("/hang-lookup"); return err }},
		{"readv", func(ctx context.Context) error {
			_, err := rf.WithContext(ctx).ReadAt(make([]byte, 4096), 0)
			return err
		}},
		{"writev", func(ctx context.Context) error { _, err := wf.WithContext(ctx).WriteAt(data, 0); return err }},
	} {
		t.Run(tc.fop, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			errc := make(chan error, 1)
			go func() { errc <- tc.do(ctx) }()
			hg.waitDump(t, "plugin.xlator.waiting", fmt.Sprint(i+1))
			// Other paths keep working meanwhile.
			got := make([]byte, len(data))
			if f, err := hg.v.Open("/other"); err != nil {
				t.Errorf("open beside a hung %s: %v", tc.fop, err)
			} else if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
				t.Errorf("read beside a hung %s: %v", tc.fop, err)
			} else {
				f.Close()
			}
			select {
			case err := <-errc:
				took := time.Since(start)
				t.Logf("%s gave up after %v: %v", tc.fop, took, err)
				if !errors.Is(err, syscall.ETIMEDOUT) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("err = %v, want ETIMEDOUT and context.DeadlineExceeded", err)
				}
				if took > deadline+time.Second {
					t.Errorf("the %s gave up %v after the deadline", tc.fop, took-deadline)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the %s did not give up at its deadline", tc.fop)
			}
		})
	}
	// The plugin still runs the three: their calls are not free, and the
	// host still holds the memory the writev lent.
	if got := hg.dump("ring-calls-in-use"); got != "3" {
		t.Errorf("ring calls in use while the plugin holds three: %s", got)
	}
	if got := hg.dump("host-iobufs-kept-by-plugin"); got != "1" {
		t.Errorf("host iobufs kept while the plugin reads the writev's: %s", got)
	}
	hg.release()
	hg.waitDump(t, "plugin.xlator.waiting", "0")
	hg.waitDump(t, "ring-calls-in-use", "0")
	hg.waitDump(t, "host-iobufs-kept-by-plugin", "0")
	hg.waitDump(t, "shm-slots-in-use", "0")
	if got := hg.dump("restarts"); got != "0" {
		t.Errorf("restarts: %s", got)
	}
	// And IO works after.
	got := make([]byte, len(data))
	if _, err := rf.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the release: %v", err)
	}
}

// TestCallTimeout: with call-timeout = "2s", a call that hangs in the
// plugin fails with ETIMEDOUT after about 2 s, and the host pings the
// plugin. A plugin that does not answer (its process stopped) is killed:
// the calls still in flight fail with ENOTCONN, it is restarted, and IO
// works again. A plugin that answers (one fop stuck, the process sound)
// keeps running, and its other fops work. The same with shm-size = 0,
// where every fop goes by gRPC.
func TestCallTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		answers bool
		extra   string
	}{
		{"stopped process", "/freeze", false, ""},
		{"stuck fop", "/hang-lookup", true, ""},
		{"stopped process, no shared memory", "/freeze", false, "shm-size = 0"},
		{"stuck fop, no shared memory", "/hang-lookup", true, "shm-size = 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hg := openHanging(t, `call-timeout = "2s"`+"\n"+tc.extra)
			data := []byte("before")
			hg.write(t, "/other", data)
			pid := hg.h.Pid()
			start := time.Now()
			_, err := hg.v.Stat(tc.file)
			took := time.Since(start)
			t.Logf("stat of %s failed after %v: %v", tc.file, took, err)
			if !errors.Is(err, syscall.ETIMEDOUT) {
				t.Fatalf("err = %v, want ETIMEDOUT", err)
			}
			if took < 2*time.Second || took > 3500*time.Millisecond {
				t.Errorf("the call gave up after %v, call-timeout is 2s", took)
			}
			if !tc.answers {
				// In flight when the plugin is killed (a second after
				// the first call's timeout, the ping's wait): ENOTCONN.
				_, err := hg.v.Stat("/other")
				t.Logf("a stat in flight at the kill: %v after %v", err, time.Since(start))
				if !errors.Is(err, syscall.ENOTCONN) {
					t.Errorf("a stat in flight when the plugin was killed: %v, want ENOTCONN", err)
				}
				waitFor(t, 10*time.Second, "the restart", func() bool { return hg.h.Restarts() == 1 && hg.h.Up() })
				if hg.h.Pid() == pid {
					t.Errorf("same pid %d after the restart", pid)
				}
				if got := hg.dump("pings-unanswered"); got != "1" {
					t.Errorf("pings unanswered: %s", got)
				}
				if got := hg.dump("last-exit"); !strings.Contains(got, "did not answer a ping") {
					t.Errorf("last-exit: %q", got)
				}
			} else {
				hg.waitDump(t, "pings", "1")
				if got := hg.dump("pings-unanswered"); got != "0" {
					t.Errorf("pings unanswered: %s", got)
				}
				if hg.h.Restarts() != 0 || hg.h.Pid() != pid {
					t.Errorf("a plugin that answers its ping was restarted (%d restarts, pid %d, was %d)", hg.h.Restarts(), hg.h.Pid(), pid)
				}
			}
			if got := hg.dump("calls-timed-out"); got != "1" {
				t.Errorf("calls timed out: %s", got)
			}
			// IO works (again).
			hg.write(t, "/after", []byte("after"))
			f, err := hg.v.Open("/other")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got := make([]byte, len(data))
			if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read after: %q, %v", got, err)
			}
			if tc.answers && tc.extra == "" {
				hg.release()
				hg.waitDump(t, "ring-calls-in-use", "0")
			}
		})
	}
}

// TestDeadlineFUSE: through a FUSE mount over the hang plugin, a stat(1)
// whose LOOKUP hangs in the plugin exits at once when it is killed with
// SIGKILL (the kernel's INTERRUPT of a dying caller cancels the host's
// call, which stops waiting for the plugin), and a READ and a WRITE
// hanging in the plugin whose threads get a signal they handle go on
// waiting and succeed once the plugin lets them go (xlator.CallerDying);
// other paths keep working. Both loops: xstack's own and go-fuse's.
func TestDeadlineFUSE(t *testing.T) {
	if err := fuse.Available(); err != nil {
		t.Skipf("FUSE is not available: %v", err)
	}
	statBin, err := exec.LookPath("stat")
	if err != nil {
		t.Skip("no stat(1)")
	}
	for _, loop := range []struct {
		name   string
		goFuse bool
	}{{"own-loop", false}, {"go-fuse-loop", true}} {
		t.Run(loop.name, func(t *testing.T) {
			if !loop.goFuse && os.Geteuid() != 0 {
				t.Skip("xstack's own loop serves root mounts only")
			}
			hg := openHanging(t, "")
			data := []byte("hanging read")
			hg.write(t, "/hang-read-f", data)
			hg.write(t, "/other", data)
			mnt := t.TempDir()
			cfg := fuse.DefaultConfig(mnt)
			cfg.GoFuseLoop = loop.goFuse
			srv, err := fuse.Mount(hg.v.Stack().Graph, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				hg.release() // the mount must be idle to unmount
				waitFor(t, 10*time.Second, "the unmount", func() bool { return srv.Unmount() == nil })
			})

			// A stat(1) whose LOOKUP hangs, killed.
			cmd := exec.Command(statBin, filepath.Join(mnt, "hang-lookup"))
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			hg.waitDump(t, "plugin.xlator.waiting", "1")
			if b, err := os.ReadFile(filepath.Join(mnt, "other")); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("read of another file beside a hung LOOKUP: %q, %v", b, err)
			}
			start := time.Now()
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				t.Logf("killed stat(1) exited after %v: %v", time.Since(start), err)
				if time.Since(start) > time.Second {
					t.Errorf("killed stat(1) took %v to exit", time.Since(start))
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("killed stat(1) did not exit: its LOOKUP still waits for the plugin")
			}

			// A READ and a WRITE that hang in the plugin, their threads
			// interrupted by a signal they handle (Go's preemption
			// signal): the callers live on, so the host goes on waiting
			// for the plugin instead of answering EINTR, which a read(2)
			// or a write(2) of a regular file is not expected to give
			// (and the WRITE may be done); once the plugin lets them go,
			// the READ returns the data and the WRITE its full count.
			// (A killed caller is let go at once: the stat(1) above.)
			held := func(name string, flags int, io func(fd int) error) (int, chan error) {
				tids := make(chan int, 1)
				res := make(chan error, 1)
				go func() {
					runtime.LockOSThread() // the signal must reach this thread
					defer runtime.UnlockOSThread()
					fd, err := unix.Open(filepath.Join(mnt, name), flags|unix.O_DIRECT, 0o644)
					if err != nil {
						tids <- 0
						res <- err
						return
					}
					defer unix.Close(fd)
					tids <- unix.Gettid()
					res <- io(fd)
				}()
				tid := <-tids
				if tid == 0 {
					t.Fatal(<-res)
				}
				return tid, res
			}
			rtid, rres := held("hang-read-f", unix.O_RDONLY, func(fd int) error {
				buf := alignedBuf(4096)
				n, err := unix.Pread(fd, buf, 0)
				if err == nil && string(buf[:n]) != string(data) {
					err = fmt.Errorf("read %q", buf[:n])
				}
				return err
			})
			hg.waitDump(t, "plugin.xlator.waiting", "2") // the killed LOOKUP is still held
			wtid, wres := held("hang-write-f", unix.O_WRONLY|unix.O_CREAT, func(fd int) error {
				buf := alignedBuf(4096)
				copy(buf, "interrupted but done")
				n, err := unix.Pwrite(fd, buf, 0)
				if err == nil && n != len(buf) {
					err = fmt.Errorf("short write: %d", n)
				}
				return err
			})
			hg.waitDump(t, "plugin.xlator.waiting", "3")
			for _, tid := range []int{rtid, wtid} {
				if err := unix.Tgkill(unix.Getpid(), tid, unix.SIGURG); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-rres:
				t.Fatalf("the interrupted READ returned before the plugin let it go: %v", err)
			case err := <-wres:
				t.Fatalf("the interrupted WRITE returned before the plugin let it go: %v", err)
			case <-time.After(300 * time.Millisecond):
			}
			if _, err := os.Stat(filepath.Join(mnt, "other")); err != nil {
				t.Fatalf("stat beside the held READ and WRITE: %v", err)
			}
			hg.release()
			for what, res := range map[string]chan error{"READ": rres, "WRITE": wres} {
				select {
				case err := <-res:
					if err != nil {
						t.Errorf("interrupted %s the plugin did: %v", what, err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("the %s did not end after the plugin let it go", what)
				}
			}
			if b, err := os.ReadFile(filepath.Join(mnt, "hang-write-f")); err != nil || !bytes.HasPrefix(b, []byte("interrupted but done")) {
				t.Errorf("the written file: %.20q, %v", b, err)
			}
			hg.waitDump(t, "plugin.xlator.waiting", "0")
			hg.waitDump(t, "ring-calls-in-use", "0")
		})
	}
}

// alignedBuf returns n bytes aligned for O_DIRECT.
func alignedBuf(n int) []byte {
	b := make([]byte, n+4096)
	off := int(4096 - uintptr(unsafe.Pointer(&b[0]))%4096)
	return b[off%4096 : off%4096+n]
}

// TestRingAllocatesNothing: readv and writev through the rings, made as
// the FUSE bridge makes them (a call whose context is a request's cancel
// channel, under call-timeout), allocate nothing in the host: the
// deadline and the cancellation cost no allocation on the ring path.
func TestRingAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	v := open(t, hcl(`
volume "brick" {
  type = "mem"
}
volume "top" {
  type       = "plugin"
  path       = %q
  subvolumes = ["brick"]
}
`, passthroughBin(t)), registry(nil), nil)
	g := v.Stack().Graph
	top := g.Top()
	in := g.Inodes().New()
	defer in.Unref()
	fd := g.NewFD(in, syscall.O_RDWR, 0, false)
	defer fd.Unref()
	cancel := make(chan struct{})
	begin := func(fop xlator.Fop) *xlator.Call {
		return g.Calls().BeginCancel(cancel, fop, xlator.Creds{}, 0)
	}
	c := begin(xlator.FopCreate)
	ia, err := top.Create(c, &xlator.Loc{Parent: g.Inodes().Root(), Name: "f", Inode: in}, syscall.O_RDWR, 0o644, 0, fd)
	c.Done()
	if err != nil {
		t.Fatal(err)
	}
	g.Inodes().Link(in, g.Inodes().Root(), "f", &ia).Unref()
	data := g.Env().Iobufs.FromBytes(bytes.Repeat([]byte{7}, 64<<10))
	defer data.Unref()
	for _, tc := range []struct {
		fop string
		do  func() error
	}{
		{"writev 64KiB", func() error {
			c := begin(xlator.FopWritev)
			defer c.Done()
			_, err := top.Writev(c, fd, data, 0)
			return err
		}},
		{"readv 4KiB", func() error {
			c := begin(xlator.FopReadv)
			defer c.Done()
			ref, err := top.Readv(c, fd, 4096, 0)
			if err == nil {
				ref.Unref()
			}
			return err
		}},
	} {
		if err := tc.do(); err != nil { // warm the pools
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(500, func() {
			if err := tc.do(); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s through a pass-through plugin: %v allocs/op in the host", tc.fop, n)
		}
	}
	for _, kv := range hostOf(t, v, "top").Dump() {
		if kv.Key == "grpc-fop-calls" && fmt.Sprint(kv.Value) != "0" {
			t.Errorf("%v fops went by gRPC, not through the rings", kv.Value)
		}
	}
}
