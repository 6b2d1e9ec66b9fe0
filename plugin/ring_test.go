package plugin

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestRingAbandon: a caller whose context ends withdraws a call no worker
// took (dropping its data slot), and leaves a taken one for the worker,
// which drops the data when it completes it; a dead arena ends a wait.
func TestRingAbandon(t *testing.T) {
	a, err := newArena("test", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	atomic.StoreUint32(&a.rings[toPlugin].head.ready, ringMagic) // nobody serves it
	rg := a.caller(toPlugin)
	if rg == nil {
		t.Fatal("no ring")
	}

	// Not taken: withdrawn, slot freed.
	slot, _, _ := a.alloc(100, 1)
	c := rg.claim()
	c.op, c.dslot, c.dlen = opWritev, uint32(slot), 100
	rg.holdsSlot(c, uint32(slot))
	rg.post(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := rg.wait(ctx, c); err != syscall.ETIMEDOUT {
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
	if err := rg.wait(ctx2, c); err != syscall.ECANCELED {
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
	go func() { done <- rg.wait(context.Background(), c) }()
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

// BenchmarkRingCall is the ring's own cost: a call the server answers at
// once (an empty Stat, which a server whose graph is not running fails
// with ENOTCONN), made and served by two threads of one process, the
// worker polling.
func BenchmarkRingCall(b *testing.B) {
	a, err := newArena("bench", 4)
	if err != nil {
		b.Fatal(err)
	}
	defer a.close()
	a.serve(toHost, &server{ep: &testEndpoint{a: a}})
	rg := a.caller(toHost)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := rg.claim()
		c.op, c.method, c.dkind, c.dlen = opUnary, statMethod, dataInline, 0
		rg.post(c)
		if err := rg.wait(ctx, c); err != nil {
			b.Fatal(err)
		}
		if c.code != 0 || c.rkind != dataInline {
			b.Fatalf("reply code %d, kind %d", c.code, c.rkind)
		}
		rg.free(c)
	}
}
