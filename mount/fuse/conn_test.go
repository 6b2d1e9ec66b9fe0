package fuse

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// gate holds every FSYNC, and every READ while gateReads is set, until
// its test opens it: a slow request.
type gate struct {
	xlator.Base
}

var (
	gateOpen    chan struct{} // closed: requests pass
	gateWaiting atomic.Int32  // requests held now
	gateReads   atomic.Bool   // hold READs too
)

func (g *gate) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if gateReads.Load() {
		gateWaiting.Add(1)
		<-gateOpen
		gateWaiting.Add(-1)
	}
	return g.Base.Readv(c, fd, size, off)
}

var gateType = xlator.Type{Name: "gate", MinChildren: 1, MaxChildren: 1, New: func() xlator.Xlator { return &gate{} }}

// boom panics on every READ: the loop answers READ itself, outside the
// ProtocolServer's recovery.
type boom struct {
	xlator.Base
}

var boomType = xlator.Type{Name: "boom", MinChildren: 1, MaxChildren: 1, New: func() xlator.Xlator { return &boom{} }}

func (b *boom) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	panic("boom: a translator's bug")
}

// Writev panics on data that starts with "boom".
func (b *boom) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	head := make([]byte, 4)
	if data.Size() >= 4 {
		data.CopyTo(head)
		if string(head) == "boom" {
			panic("boom: a translator's bug")
		}
	}
	return b.Base.Writev(c, fd, data, off)
}

func (g *gate) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	gateWaiting.Add(1)
	<-gateOpen
	gateWaiting.Add(-1)
	return g.Base.Fsync(c, fd, datasync)
}

// mountLoop mounts types with xstack's own reader loop, skipping where it
// is not used (not root).
func mountLoop(t *testing.T, edit func(*Config), types ...string) *mounted {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: xstack's own FUSE loop serves root mounts only (others go through fusermount and go-fuse)")
	}
	reg := xlatortest.Registry()
	reg.MustRegister(gateType)
	reg.MustRegister(boomType)
	m := mountWith(t, reg, edit, types...)
	if m.srv.c == nil {
		t.Fatal("a root mount is not served by conn's loop")
	}
	return m
}

// TestLoopOneCaller: requests that come one at a time from one thread are
// served by one worker, not handed from thread to thread (what go-fuse's
// loop does, and what cost QD1 reads about 10 %).
func TestLoopOneCaller(t *testing.T) {
	m := mountLoop(t, func(c *Config) { c.EntryTimeout, c.AttrTimeout = 0, 0 }, "mem")
	p := m.path("f")
	if err := os.WriteFile(p, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	before := m.srv.Stats().Loop
	const n = 500
	errc := make(chan error, 1)
	go func() {
		// One thread: the kernel names it as every request's caller.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		buf := make([]byte, 4096)
		for i := range n {
			if err := unix.Stat(p, &st); err != nil { // LOOKUP and GETATTR: no caching
				errc <- err
				return
			}
			if _, err := unix.Pread(fd, buf, int64(i%16)*4096); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	after := m.srv.Stats().Loop
	reqs, handoffs := after.Requests-before.Requests, after.Handoffs-before.Handoffs
	t.Logf("%d requests, %d handoffs, %d workers (spawned %d, parks %d)", reqs, handoffs, after.Workers, after.Spawned, after.Parks)
	if reqs < n {
		t.Fatalf("only %d requests read for %d stats", reqs, n)
	}
	// The page cache may answer some reads; the kernel sends FORGETs and
	// the like on its own. Most requests must stay on one worker.
	if handoffs > reqs/10 {
		t.Errorf("%d of %d requests changed worker", handoffs, reqs)
	}
}

// TestLoopSlowRequest: a request that does not finish (an FSYNC held by
// the gate) must not hold up the others: the watchdog adds a reader
// beside it, the overlap rule more, and held FSYNCs are served side by
// side; afterwards the extra workers park.
func TestLoopSlowRequest(t *testing.T) {
	gateOpen = make(chan struct{})
	opened := false
	open := func() {
		if !opened {
			opened = true
			close(gateOpen)
		}
	}
	defer open() // a failed test must still unmount
	m := mountLoop(t, func(c *Config) { c.EntryTimeout, c.AttrTimeout = 0, 0 }, "gate", "mem")
	const syncs = 4
	files := make([]*os.File, syncs)
	for i := range files {
		f, err := os.Create(m.path("f" + string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	var wg sync.WaitGroup
	errs := make(chan error, syncs)
	hold := func(f *os.File) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.Sync()
		}()
	}
	// One FSYNC, read by the only worker after a pause (no overlap): no
	// worker is left reading, and only the watchdog can add one.
	time.Sleep(50 * time.Millisecond)
	hold(files[0])
	if !eventually(func() bool { return gateWaiting.Load() == 1 }) {
		t.Fatal("the FSYNC did not reach the gate")
	}
	start := time.Now()
	if _, err := os.Stat(m.path("fb")); err != nil {
		t.Fatal(err)
	}
	t.Logf("a stat beside a held FSYNC took %v", time.Since(start))
	if ls := m.srv.Stats().Loop; ls.Stalls == 0 {
		t.Errorf("the stat was served but the watchdog added no reader: %+v", *ls)
	}
	// More FSYNCs: each is read while others are served (overlap), so
	// each adds a reader and all are held side by side.
	for _, f := range files[1:] {
		hold(f)
	}
	if !eventually(func() bool { return gateWaiting.Load() == syncs }) {
		t.Fatalf("%d of %d FSYNCs reached the gate: requests queued behind a held one were not read", gateWaiting.Load(), syncs)
	}
	// Everything else still works meanwhile.
	start = time.Now()
	for i := range 20 {
		if _, err := os.Stat(m.path("f" + string(rune('a'+i%syncs)))); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("20 stats beside held FSYNCs took %v", d)
	}
	ls := m.srv.Stats().Loop
	t.Logf("loop: %+v", *ls)
	if ls.Serving < syncs || ls.Workers < syncs+1 {
		t.Errorf("loop serves %d requests with %d workers, want ≥ %d and ≥ %d", ls.Serving, ls.Workers, syncs, syncs+1)
	}
	open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("fsync: %v", err)
		}
	}
	// Back to one request at a time (stats uncached: a LOOKUP each):
	// the extra workers park.
	parked := func() bool {
		ls := m.srv.Stats().Loop
		return ls.Parked > 0 && ls.Serving == 0 && ls.Reading >= 1
	}
	for i := 0; i < 1000 && !parked(); i++ {
		if _, err := os.Stat(m.path("fa")); err != nil {
			t.Fatal(err)
		}
	}
	if ls := m.srv.Stats().Loop; !parked() {
		t.Errorf("after the burst: %+v, want parked workers and one reading", *ls)
	}
}

// TestLoopPanic: a panic while serving a READ or a WRITE (both served
// outside the ProtocolServer) answers EIO, and the mount goes on serving.
func TestLoopPanic(t *testing.T) {
	m := mountLoop(t, nil, "boom", "mem")
	p := m.path("f")
	if err := os.WriteFile(p, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	_, err = unix.Pread(fd, make([]byte, 4096), 0)
	if errnoOf(err) != unix.EIO {
		t.Fatalf("read through a panicking translator: %v, want EIO", err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the mount stopped serving after the panic: %v", err)
	}
	wfd, err := unix.Open(p, unix.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(wfd)
	if _, err := unix.Pwrite(wfd, []byte("boom!"), 0); errnoOf(err) != unix.EIO {
		t.Fatalf("write through a panicking translator: %v, want EIO", err)
	}
	if _, err := unix.Pwrite(wfd, []byte("calm"), 0); err != nil {
		t.Fatalf("the mount stopped serving after the panic: %v", err)
	}
	// The panicking calls ended: none is left in flight for statedumps.
	if n, _ := m.g.Calls().Count(); n != 0 {
		t.Fatalf("%d calls in flight after the panics: %+v", n, m.g.Calls().InFlight())
	}
}

// TestLoopInterruptRead: a signal to a thread waiting for a READ makes the
// kernel send an INTERRUPT. The loop serves READs itself, so the
// ProtocolServer would not know the request and answer EAGAIN, and the
// kernel would resend the INTERRUPT at once, for as long as the READ runs.
// The loop cancels the READ's context instead and answers the INTERRUPT
// nothing; the gate ignores the context, so the READ completes, with its
// data, when the gate opens (a translator that honours the context gives
// EINTR: TestInterruptedReadWrite).
func TestLoopInterruptRead(t *testing.T) {
	gateOpen = make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { gateReads.Store(false); close(gateOpen) }) }
	defer open()
	m := mountLoop(t, nil, "gate", "mem")
	p := m.path("f")
	want := []byte("interrupted data")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	gateReads.Store(true)
	tids := make(chan int, 1)
	res := make(chan error, 1)
	got := make([]byte, 4096)
	go func() {
		runtime.LockOSThread() // the signal must reach this thread
		defer runtime.UnlockOSThread()
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECT, 0)
		if err != nil {
			tids <- 0
			res <- err
			return
		}
		defer unix.Close(fd)
		tids <- unix.Gettid()
		n, err := unix.Pread(fd, got, 0)
		got = got[:max(n, 0)]
		res <- err
	}()
	tid := <-tids
	if tid == 0 {
		t.Fatal(<-res)
	}
	if !eventually(func() bool { return gateWaiting.Load() == 1 }) {
		t.Fatal("the READ never reached the gate")
	}
	before := m.srv.Stats().Loop
	// SIGURG: the Go runtime handles it (it preempts with it), so the
	// test process lives on; the kernel sees a signal all the same.
	if err := unix.Tgkill(unix.Getpid(), tid, unix.SIGURG); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return m.srv.Stats().Loop.Interrupts > before.Interrupts }) {
		t.Fatal("no INTERRUPT reached the loop")
	}
	time.Sleep(50 * time.Millisecond)
	after := m.srv.Stats().Loop
	if d := after.Requests - before.Requests; d > 5 {
		t.Errorf("%d requests while one READ was held and interrupted: the INTERRUPT came back (answered EAGAIN?)", d)
	}
	open()
	if err := <-res; err != nil {
		t.Fatalf("interrupted read: %v", err)
	}
	if string(got) != string(want) {
		t.Fatalf("interrupted read got %q, want %q", got, want)
	}
}

// unprotected writes every WRITE through, then fails the ones at or past
// 2 MiB with the full count, as the checksum example did when it could
// not store a checksum: the data is on the brick, the promise is not kept.
type unprotected struct{ xlator.Base }

var unprotectedType = xlator.Type{Name: "unprotected", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &unprotected{} }}

func (u *unprotected) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	n, err := u.Base.Writev(c, fd, data, off)
	if err == nil && off+int64(data.Size()) > 2<<20 {
		return n, syscall.EIO
	}
	return n, err
}

// TestWriteErrorReachesCaller: an error a translator returns with a write
// is what the writing program sees, through either loop, even when the
// translator also claims every byte (the graph cuts the count).
func TestWriteErrorReachesCaller(t *testing.T) {
	for _, goFuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("go-fuse-loop=%v", goFuse), func(t *testing.T) {
			reg := xlatortest.Registry()
			reg.MustRegister(unprotectedType)
			m := mountWith(t, reg, func(c *Config) { c.GoFuseLoop = goFuse }, "unprotected", "mem")
			p := m.path("f")
			small := make([]byte, 1<<20)
			if err := os.WriteFile(p, small, 0o644); err != nil {
				t.Fatalf("a write below 2 MiB: %v", err)
			}
			err := os.WriteFile(p, make([]byte, 4<<20), 0o644)
			if errnoOf(err) != syscall.EIO {
				t.Fatalf("a write past 2 MiB through a translator that fails it: %v, want EIO", err)
			}
			cmd := exec.Command("dd", "if=/dev/zero", "of="+p, "bs=1M", "count=3", "conv=fsync")
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("dd conv=fsync through a failing translator exited 0:\n%s", out)
			}
		})
	}
}

// TestLoopAllocatesNothing: a READ and a WRITE served by the own loop
// allocate nothing in the whole process (the bridge, the graph and the
// per-request context included), so IO through the mount puts no load
// on the garbage collector.
func TestLoopAllocatesNothing(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: the loop's pools allocate with new")
	}
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := mountLoop(t, nil, "mem")
	fd, err := unix.Open(m.path("f"), unix.O_RDWR|unix.O_CREAT|unix.O_DIRECT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := alignedBuf(4096)
	if _, err := unix.Pwrite(fd, buf, 0); err != nil {
		t.Fatal(err)
	}
	before := m.srv.Stats()
	for _, tc := range []struct {
		op string
		do func() (int, error)
	}{
		{"READ", func() (int, error) { return unix.Pread(fd, buf, 0) }},
		{"WRITE", func() (int, error) { return unix.Pwrite(fd, buf, 0) }},
	} {
		// AllocsPerRun counts the mallocs of the whole process: the
		// loop's workers are in it.
		n := testing.AllocsPerRun(500, func() {
			if _, err := tc.do(); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s through the own loop: %v allocs/op", tc.op, n)
		}
	}
	if d := m.srv.Stats().Sub(before); d.Count("READ") < 500 || d.Count("WRITE") < 500 {
		t.Fatalf("the kernel sent %d READs and %d WRITEs, want 500 of each", d.Count("READ"), d.Count("WRITE"))
	}
}
