package transport

import (
	"context"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// TestRingAbandon: a caller whose context ends withdraws a call no worker
// took (dropping its data slot), and leaves a taken one for the worker,
// which drops the data when it completes it; a dead arena ends a wait.
func TestRingAbandon(t *testing.T) {
	a, rg := unservedRing(t)

	// Not taken: withdrawn, slot freed.
	slot, _, _ := a.alloc(100, 1)
	c := rg.claim()
	c.op, c.dslot, c.dlen = opWritev, uint32(slot), 100
	rg.holdsSlot(c, uint32(slot))
	rg.post(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := rg.wait(ctx, c, false); err != syscall.ETIMEDOUT {
		t.Fatalf("wait = %v, want ETIMEDOUT", err)
	}
	if s := atomic.LoadUint32(rg.st(c)); s != callFree || a.inUse() != 0 {
		t.Fatalf("withdrawn call: state %d, %d slots in use", s, a.inUse())
	}

	// Taken: abandoned; the worker's completion frees the call and the
	// caller's data slot.
	slot, _, _ = a.alloc(100, 1)
	c = rg.claim()
	c.op, c.dslot, c.dlen = opWritev, uint32(slot), 100
	rg.holdsSlot(c, uint32(slot))
	rg.post(c)
	if rg.take() != c {
		t.Fatal("take did not find the posted call")
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := rg.wait(ctx2, c, false); err != syscall.ECANCELED {
		t.Fatalf("wait = %v, want ECANCELED", err)
	}
	if a.inUse() != 1 {
		t.Fatal("the slot went while the worker may still read it")
	}
	rg.complete(c)
	if s := atomic.LoadUint32(rg.st(c)); s != callFree || a.inUse() != 0 {
		t.Fatalf("abandoned call after completion: state %d, %d slots in use", s, a.inUse())
	}

	// A dead arena ends a wait at once.
	c = rg.claim()
	c.op = opReadv
	rg.post(c)
	done := make(chan error, 1)
	go func() { done <- rg.wait(context.Background(), c, false) }()
	time.Sleep(5 * time.Millisecond)
	a.dead.Store(true)
	futexWake(rg.st(c), 1)
	select {
	case err := <-done:
		if err != syscall.ENOTCONN {
			t.Fatalf("wait on a dead arena = %v, want ENOTCONN", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not end when the arena died")
	}
}

// TestRingKeep: a FUSE request's call (keep) whose context ends while
// its caller lives on is waited for, taken or not yet: its caller learns
// the result. The ring's limit still ends that wait, and so does the
// caller's death.
func TestRingKeep(t *testing.T) {
	_, rg := unservedRing(t)
	calls := xlator.NewCallPool(nil)
	defer calls.Close()
	interrupted := make(chan struct{})
	close(interrupted)
	// A FUSE request of this (living) process, interrupted.
	live := calls.BeginCancel(interrupted, xlator.FopRename, xlator.Creds{Pid: uint32(os.Getpid())}, 0)
	defer live.Done()

	for _, takeFirst := range []bool{false, true} {
		c := rg.claim()
		c.op = opUnary
		rg.post(c)
		if takeFirst && rg.take() != c {
			t.Fatal("take did not find the posted call")
		}
		done := make(chan error, 1)
		go func() { done <- rg.wait(live.Ctx, c, true) }()
		select {
		case err := <-done:
			t.Fatalf("taken=%v: the wait ended with its context: %v", takeFirst, err)
		case <-time.After(50 * time.Millisecond):
		}
		if !takeFirst && rg.take() != c {
			t.Fatal("take did not find the posted call")
		}
		rg.complete(c)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("taken=%v: wait after completion = %v, want the reply", takeFirst, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the wait did not end when the call was done")
		}
		rg.free(c)
	}

	// A dying caller (here: one that is gone) is not waited for.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := calls.BeginCancel(interrupted, xlator.FopRename, xlator.Creds{Pid: uint32(gone.Process.Pid)}, 0)
	c := rg.claim()
	c.op = opUnary
	rg.post(c)
	rg.take()
	if err := rg.wait(dead.Ctx, c, true); err != syscall.ECANCELED {
		t.Fatalf("wait for a dead caller = %v, want ECANCELED", err)
	}
	rg.complete(c)
	dead.Done()

	// Never completed: the limit ends the wait.
	rg.limit = &Limit{Timeout: 30 * time.Millisecond, Expired: func() {}}
	c = rg.claim()
	c.op = opUnary
	rg.post(c)
	rg.take()
	if err := rg.wait(live.Ctx, c, true); err != syscall.ETIMEDOUT {
		t.Fatalf("wait past the limit = %v, want ETIMEDOUT", err)
	}
	rg.complete(c)
}

// unservedRing returns an arena, closed when the test ends, whose
// toPlugin ring is ready but served by nobody: the test plays the plugin
// (it maps the arena) by taking and completing calls itself.
func unservedRing(t *testing.T) (*Arena, *ring) {
	t.Helper()
	a, err := NewArena("test", 4)
	if err != nil {
		t.Fatal(err)
	}
	a.peerMaps.Store(true)
	t.Cleanup(func() { a.Close() })
	atomic.StoreUint32(&a.rings[ToPlugin].head.ready, ringMagic)
	rg := a.caller(ToPlugin)
	if rg == nil {
		t.Fatal("no ring")
	}
	return a, rg
}

// BenchmarkRingCall is the ring's own cost: a call the server answers at
// once (an empty Stat, which a server whose graph is not running fails
// with ENOTCONN), made and served by two threads of one process, the
// worker polling.
func BenchmarkRingCall(b *testing.B) {
	a, err := NewArena("bench", 4)
	if err != nil {
		b.Fatal(err)
	}
	a.peerMaps.Store(true) // the test plays the plugin too, which maps it
	defer a.Close()
	a.Serve(ToHost, NewTestServer(nil, a))
	rg := a.caller(ToHost)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := rg.claim()
		c.op, c.method, c.dkind, c.dlen = opUnary, statMethod, dataInline, 0
		rg.post(c)
		if err := rg.wait(ctx, c, false); err != nil {
			b.Fatal(err)
		}
		if c.code != 0 || c.rkind != dataInline {
			b.Fatalf("reply code %d, kind %d", c.code, c.rkind)
		}
		rg.free(c)
	}
}

// TestRingCallLimit: a caller waits at most its ring's limit (the host's
// call-timeout): then it gives up with ETIMEDOUT, withdraws the call and
// reports the expiry, whatever its context.
func TestRingCallLimit(t *testing.T) {
	_, rg := unservedRing(t)
	var expired atomic.Int32
	rg.limit = &Limit{Timeout: 50 * time.Millisecond, Expired: func() { expired.Add(1) }}
	c := rg.claim()
	c.op = opReadv
	rg.post(c)
	start := time.Now()
	if err := rg.wait(context.Background(), c, false); err != syscall.ETIMEDOUT {
		t.Fatalf("wait = %v, want ETIMEDOUT", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 50*time.Millisecond+10*sleepFor {
		t.Errorf("gave up after %v, limit 50ms", d)
	}
	if expired.Load() != 1 {
		t.Errorf("expired ran %d times", expired.Load())
	}
	if rg.inUse() != 0 {
		t.Errorf("%d calls in use after the withdrawal", rg.inUse())
	}
}

// TestRingAbandonHostData: a caller that gives up on a writev of host
// memory keeps the memory referenced when the plugin took the call (it may
// still read it), not when it never did; the plugin, completing the call,
// releases it through the other ring (opRelease), unless it kept the data,
// in which case its own later release does.
func TestRingAbandonHostData(t *testing.T) {
	a, err := NewArena("test", 4)
	if err != nil {
		t.Fatal(err)
	}
	a.peerMaps.Store(true) // the test plays the plugin too, which maps it
	defer a.Close()
	a.Serve(ToHost, nil) // the host's side: opRelease
	atomic.StoreUint32(&a.rings[ToPlugin].head.ready, ringMagic)
	atomic.StoreUint32(&a.rings[ToPlugin].head.hostMem, ringMagic)
	rg := a.caller(ToPlugin)
	pool, err := iobuf.New(iobuf.Config{Shared: true, SharedSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	a.host.pool = pool
	data := pool.FromBytes([]byte("lent to the plugin"))
	off, _ := a.HostOffset(data)
	defer func() {
		data.Unref()
		if err := pool.Close(); err != nil {
			t.Error(err)
		}
	}()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	// post makes the call as ringWritevHost does.
	post := func() (*ringCall, uint64) {
		token, ok := a.lend(off, data.Size(), data)
		if !ok {
			t.Fatal("lend refused")
		}
		c := rg.claim()
		c.op, c.dkind, c.dtoken, c.rflags = opWritev, dataHost, token, 0
		rg.lends(c, token)
		rg.post(c)
		return c, token
	}
	for _, tc := range []struct {
		name      string
		taken     bool
		kept      bool // by the plugin, past the call
		keptAfter int  // by the host once the plugin completed the call
	}{
		{"never taken", false, false, 0},
		{"taken", true, false, 0},
		{"taken and kept by the plugin", true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, token := post()
			if tc.taken && rg.take() != c {
				t.Fatal("take did not find the call")
			}
			if err := rg.wait(canceled, c, false); err != syscall.ECANCELED {
				t.Fatalf("wait = %v, want ECANCELED", err)
			}
			a.settle(token, false) // as the caller does
			want, refs := 0, 1
			if tc.taken {
				want, refs = 1, 2
			}
			if a.keptCount() != want || data.Refs() != refs {
				t.Fatalf("after giving up: %d kept, %d refs; want %d, %d", a.keptCount(), data.Refs(), want, refs)
			}
			if tc.taken { // the plugin completes it
				if tc.kept {
					c.rflags = replyKept
				}
				rg.complete(c)
			}
			if a.keptCount() != tc.keptAfter || rg.inUse() != 0 {
				t.Fatalf("after completion: %d kept, %d calls in use; want %d, 0", a.keptCount(), rg.inUse(), tc.keptAfter)
			}
			if tc.kept {
				a.released(token) // the plugin let go
				if a.keptCount() != 0 {
					t.Fatal("the plugin's release did not drop the data")
				}
			}
			if data.Refs() != 1 {
				t.Fatalf("data has %d refs at the end", data.Refs())
			}
		})
	}
}
