package fuse

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/locks"
)

// setEnableURing sets the fuse module's enable_uring parameter to v for
// the test and puts the old value back when it ends. It holds an
// exclusive flock on the parameter meanwhile, so that tests of other
// packages (e2e) that set it do not put it back under this one. It skips
// the test where the kernel has no FUSE over io_uring or the caller is
// not root.
func setEnableURing(t testing.TB, v string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: FUSE over io_uring serves root mounts only (xstack's own loop)")
	}
	f, err := os.OpenFile(enableURingParam, os.O_RDWR, 0)
	if err != nil {
		t.Skipf("skipping: this kernel has no FUSE over io_uring: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("flock %s: %v", enableURingParam, err)
	}
	old, err := os.ReadFile(enableURingParam)
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(enableURingParam, old, 0); err != nil {
			t.Errorf("restoring %s to %s: %v", enableURingParam, strings.TrimSpace(string(old)), err)
		}
		f.Close() // drops the flock
	})
	if err := os.WriteFile(enableURingParam, []byte(v), 0); err != nil {
		t.Fatalf("setting %s to %s: %v", enableURingParam, v, err)
	}
}

// mountRing mounts types (test types, gate and boom included) over the
// io-uring transport, with enable_uring set for the test, and checks that
// the rings serve it.
func mountRing(t *testing.T, types ...string) *mounted {
	t.Helper()
	setEnableURing(t, "Y")
	m := mountLoop(t, func(c *Config) { c.Transport = TransportIOUring }, types...)
	if st := m.srv.Stats(); st.Transport != TransportIOUring || st.Ring == nil {
		t.Fatalf("asked for io-uring, served by %q (%s)", st.Transport, st.TransportNote)
	}
	return m
}

// TestRingServes: over io-uring the requests travel through the rings
// (their counter grows, /dev/fuse's does not), and the statedump says
// which transport serves the mount.
func TestRingServes(t *testing.T) {
	m := mountRing(t, "mem")
	before := m.srv.Stats()
	for i := range 50 {
		p := m.path(fmt.Sprintf("f%d", i))
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != p {
			t.Fatalf("read back %q, %v", b, err)
		}
	}
	d := m.srv.Stats().Sub(before)
	if d.Ring.Requests < d.Requests/2 || d.Count("WRITE") < 50 {
		t.Errorf("%d of %d requests came through the rings (%d WRITEs)", d.Ring.Requests, d.Requests, d.Count("WRITE"))
	}
	// /dev/fuse carries FORGETs and INTERRUPTs only.
	if ls := m.srv.Stats().Loop; ls.Requests > before.Loop.Requests+d.Count("FORGET") {
		t.Errorf("/dev/fuse carried %d requests beside the rings", ls.Requests-before.Loop.Requests)
	}
	kv := map[string]any{}
	for _, e := range m.srv.dumpKVs() {
		kv[e.Key] = e.Value
	}
	if kv["transport"] != TransportIOUring || kv["ring.queues"] != possibleCPUs() || kv["ring.requests"] == uint64(0) {
		t.Errorf("statedump: transport %v, ring.queues %v, ring.requests %v", kv["transport"], kv["ring.queues"], kv["ring.requests"])
	}
}

// TestRingLargeIO: writes and reads of up to MaxWrite and beyond (split
// by the kernel), buffered and O_DIRECT, at unaligned offsets, come back
// byte for byte through the rings' payload buffers.
func TestRingLargeIO(t *testing.T) {
	m := mountRing(t, "mem")
	rnd := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 5<<20+123)
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	before := m.srv.Stats()
	// Buffered: the kernel sends 1 MiB WRITEs and, with the readahead,
	// 1 MiB READs.
	p := m.path("big")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("buffered read back %d bytes (want %d), equal %v, %v", len(got), len(data), bytes.Equal(got, data), err)
	}
	// O_DIRECT: each call is its own READ or WRITE of up to MaxWrite.
	fd, err := unix.Open(m.path("direct"), unix.O_RDWR|unix.O_CREAT|unix.O_DIRECT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := alignedBuf(2 << 20)
	off := int64(0)
	for _, n := range []int{4096, 1 << 20, 2 << 20, 8192, 1<<20 + 4096} {
		copy(buf, data[off:off+int64(n)])
		if w, err := unix.Pwrite(fd, buf[:n], off); err != nil || w != n {
			t.Fatalf("pwrite of %d at %d: %d, %v", n, off, w, err)
		}
		off += int64(n)
	}
	back := make([]byte, off)
	for r := int64(0); r < off; {
		n := min(int64(len(buf)), off-r)
		k, err := unix.Pread(fd, buf[:n], r)
		if err != nil || k == 0 {
			t.Fatalf("pread at %d: %d, %v", r, k, err)
		}
		copy(back[r:], buf[:k])
		r += int64(k)
	}
	if !bytes.Equal(back, data[:off]) {
		t.Fatal("O_DIRECT data read back differs")
	}
	d := m.srv.Stats().Sub(before)
	if d.BytesWritten < uint64(len(data))+uint64(off) || d.Ring.Requests < d.Count("WRITE")+d.Count("READ") {
		t.Errorf("%d bytes written, %d ring requests for %d WRITEs and %d READs", d.BytesWritten, d.Ring.Requests, d.Count("WRITE"), d.Count("READ"))
	}
}

// TestRingHandOff: an FSYNC held in a translator is served off its
// queue's thread, so requests from the same CPU (the same queue) are
// served meanwhile.
func TestRingHandOff(t *testing.T) {
	gateOpen = make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gateOpen) }) }
	defer open() // a failed test must still unmount
	m := mountRing(t, "gate", "mem")
	const syncs = ringDepth / 2
	errs := make(chan error, syncs)
	for i := range syncs {
		f, err := os.Create(m.path(fmt.Sprintf("f%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		go func() { errs <- onCPU(heldCPU, f.Sync) }()
	}
	if !eventually(func() bool { return gateWaiting.Load() == syncs }) {
		t.Fatalf("%d of %d FSYNCs reached the gate", gateWaiting.Load(), syncs)
	}
	err := onCPU(heldCPU, func() error {
		for i := range 20 {
			if got, err := directIO(m.path(fmt.Sprintf("g%d", i)), "same queue"); err != nil || got != "same queue" {
				return fmt.Errorf("IO beside held FSYNCs: %q, %v", got, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := m.srv.Stats().Ring; r.HandOffs < syncs {
		t.Errorf("%d hand-offs for %d held FSYNCs", r.HandOffs, syncs)
	}
	open()
	for range syncs {
		if err := <-errs; err != nil {
			t.Errorf("fsync: %v", err)
		}
	}
}

// TestRingSetlkwHandOff: a flock(1) that waits for a lock this process
// holds sends a SETLKW, which its queue hands off; requests from the same
// CPU are served meanwhile, the unlock among them, which an inline wait
// would never let through.
func TestRingSetlkwHandOff(t *testing.T) {
	flockBin, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("skipping: no flock(1)")
	}
	setEnableURing(t, "Y")
	reg := xlatortest.Registry()
	locks.Register(reg)
	m := mountWith(t, reg, func(c *Config) { c.Transport = TransportIOUring }, "locks", "mem")
	if m.srv.Stats().Ring == nil {
		t.Fatalf("not served over io_uring: %s", m.srv.Stats().TransportNote)
	}
	p := m.path("lk")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := onCPU(heldCPU, func() error { return unix.Flock(int(f.Fd()), unix.LOCK_EX) }); err != nil {
		t.Fatal(err)
	}
	handOffs := m.srv.Stats().Ring.HandOffs
	cmd := exec.Command(flockBin, "-x", p, "true")
	if err := onCPU(heldCPU, cmd.Start); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill() // a failed test must still unmount
	if !eventually(func() bool { return m.srv.Stats().Ring.HandOffs > handOffs }) {
		t.Fatal("flock(1)'s SETLKW was not handed off")
	}
	select {
	case err := <-exited:
		t.Fatalf("flock(1) got a lock this process holds: %v", err)
	default:
	}
	err = onCPU(heldCPU, func() error {
		if got, err := directIO(m.path("other"), "same queue"); err != nil || got != "same queue" {
			return fmt.Errorf("IO beside a waiting SETLKW: %q, %v", got, err)
		}
		return unix.Flock(int(f.Fd()), unix.LOCK_UN)
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("flock(1) after the unlock: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("flock(1) did not get the lock after the unlock")
	}
}

// TestRingPluginHandsOffAll: in a graph with a plugin every request is
// handed off, so a LOOKUP the plugin holds does not hold the requests
// from the same CPU behind it. (The stand-in is the waiter translator in
// a type that says it is out of process, as the plugin type does.)
func TestRingPluginHandsOffAll(t *testing.T) {
	setEnableURing(t, "Y")
	waiterRelease = make(chan struct{})
	release := waiterRelease
	reg := xlatortest.Registry()
	reg.MustRegister(xlator.Type{Name: "remote-waiter", MinChildren: 1, MaxChildren: 1, SharedIobufs: true,
		New: func() xlator.Xlator { return &waiter{} }})
	m := mountWith(t, reg, func(c *Config) { c.Transport = TransportIOUring }, "remote-waiter", "mem")
	t.Cleanup(func() { close(release) }) // before the unmount, registered earlier
	if m.srv.Stats().Ring == nil {
		t.Fatalf("not served over io_uring: %s", m.srv.Stats().TransportNote)
	}
	// The held LOOKUP holds its directory's lock (the kernel's, not the
	// queue's): the other requests go to another directory.
	if err := os.Mkdir(m.path("held"), 0o755); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = onCPU(heldCPU, func() error { _, err := os.Stat(m.path("held/wait-lookup")); return err })
	}()
	if !eventually(func() bool { return waitersNow.Load() == 1 }) {
		t.Fatal("the LOOKUP never reached the plugin")
	}
	served := make(chan error, 1)
	go func() {
		served <- onCPU(heldCPU, func() error {
			if got, err := directIO(m.path("other"), "same queue"); err != nil || got != "same queue" {
				return fmt.Errorf("IO beside a held LOOKUP: %q, %v", got, err)
			}
			return nil
		})
	}()
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("IO from the held LOOKUP's CPU waits behind it") // the cleanup releases it
	}
	if r := m.srv.Stats().Ring; r.HandOffs < 3 || r.HandOffs != r.Requests {
		t.Errorf("%d of %d ring requests handed off, want all", r.HandOffs, r.Requests)
	}
}

// TestRingFallback: with enable_uring off, a mount that asks for io-uring
// is served through /dev/fuse, says so in one log line and in its
// statistics, and works.
func TestRingFallback(t *testing.T) {
	setEnableURing(t, "N")
	core, logs := observer.New(zapcore.InfoLevel)
	m := mountLoop(t, func(c *Config) { c.Transport, c.Logger = TransportIOUring, zap.New(core) }, "mem")
	st := m.srv.Stats()
	if st.Transport != TransportDevFuse || st.Ring != nil || !strings.Contains(st.TransportNote, "enable_uring") {
		t.Errorf("transport %q, ring %v, note %q: want dev-fuse and a note naming enable_uring", st.Transport, st.Ring, st.TransportNote)
	}
	if got, err := directIO(m.path("f"), "fallback"); err != nil || got != "fallback" {
		t.Fatalf("IO on the fallback mount: %q, %v", got, err)
	}
	lines := logs.FilterMessageSnippet("io_uring").All()
	if len(lines) != 1 || !strings.Contains(fmt.Sprint(lines[0].ContextMap()), "enable_uring") {
		t.Errorf("log lines about io_uring: %v, want one naming enable_uring", lines)
	}
}

// TestRingGoFuseLoopFallback: go-fuse's loop has no io_uring: a mount
// that asks for both is served through /dev/fuse and says why.
func TestRingGoFuseLoopFallback(t *testing.T) {
	setEnableURing(t, "Y")
	core, logs := observer.New(zapcore.InfoLevel)
	m := mountWith(t, xlatortest.Registry(), func(c *Config) {
		c.Transport, c.GoFuseLoop, c.Logger = TransportIOUring, true, zap.New(core)
	}, "mem")
	if st := m.srv.Stats(); st.Transport != TransportDevFuse || !strings.Contains(st.TransportNote, "own loop") {
		t.Errorf("transport %q, note %q: want dev-fuse and a note naming the own loop", st.Transport, st.TransportNote)
	}
	if n := logs.FilterMessageSnippet("io_uring").Len(); n != 1 {
		t.Errorf("%d log lines about io_uring, want 1", n)
	}
	if got, err := directIO(m.path("f"), "go-fuse"); err != nil || got != "go-fuse" {
		t.Fatalf("IO: %q, %v", got, err)
	}
}

// TestRingUnmountInFlight: unmounting while callers keep issuing requests
// (lazily, as umount -l does, since a plain unmount of a busy mount
// fails) ends the queues, closes their rings and threads and frees their
// buffers: the goroutines and file descriptors go back to what they were
// before the mount.
func TestRingUnmountInFlight(t *testing.T) {
	setEnableURing(t, "Y")
	fds0, gs0 := countFDs(t), runtime.NumGoroutine()
	m := mountLoop(t, func(c *Config) { c.Transport = TransportIOUring }, "mem")
	if m.srv.Stats().Ring == nil {
		t.Fatalf("not served over io_uring: %s", m.srv.Stats().TransportNote)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			p := m.path(fmt.Sprintf("f%d", i))
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = os.WriteFile(p, []byte("in flight"), 0o644) // fails once unmounted
				_, _ = os.Stat(p)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	// A lazy unmount (umount -l) under load: the callers' requests in
	// flight finish or fail, and the connection ends once the last of
	// them lets the mount go.
	if err := unix.Unmount(m.dir, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	done := make(chan struct{})
	go func() { m.srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not end after the unmount")
	}
	if !eventually(func() bool { return runtime.NumGoroutine() <= gs0 && countFDs(t) <= fds0 }) {
		buf := make([]byte, 1<<20)
		t.Errorf("after the unmount: %d goroutines (%d before), %d fds (%d before)\n%s",
			runtime.NumGoroutine(), gs0, countFDs(t), fds0, buf[:runtime.Stack(buf, true)])
	}
}

// countFDs counts this process's open file descriptors.
func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
