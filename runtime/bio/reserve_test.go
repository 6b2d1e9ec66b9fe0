package bio

import (
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReserve makes every bvec slab allocation fail and shows the reserve
// at work: minNr bios get tables at once, the rest wait, and each freed bio
// lets exactly one more through.
func TestReserve(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	minNr := e.set.Stats().ReserveSize
	e.set.setVecAllocFailure(func(int) bool { return true })
	defer e.set.setVecAllocFailure(nil)

	const n = 10
	got := make(chan *Bio, n)
	for range n {
		go func() { got <- e.set.Alloc(64) }()
	}
	var held []*Bio
	for range minNr {
		held = append(held, <-got)
	}
	waitFor(t, "the other allocations to wait", func() bool { return e.set.Stats().Waiting == n-int64(minNr) })
	select {
	case <-got:
		t.Fatal("more bios with tables than the reserve holds")
	case <-time.After(20 * time.Millisecond):
	}
	for received := minNr; received < n; received++ {
		held[0].Put()
		held = held[1:]
		b := <-got
		if b.MaxVecs() != MaxVecs {
			t.Fatalf("a reserve table has %d vecs, want %d", b.MaxVecs(), MaxVecs)
		}
		held = append(held, b)
		if w := e.set.Stats().Waiting; w != int64(n-received-1) {
			t.Fatalf("one Put let %d allocations through", int64(n-received)-w)
		}
	}
	for _, b := range held {
		b.Put()
	}
	st := e.set.Stats()
	if st.ReserveVecs != n || st.ReserveWaits != n-uint64(minNr) || st.SlabVecs != 0 ||
		st.ReserveFree != minNr || st.ReserveInUse != 0 || st.Waiting != 0 {
		t.Errorf("stats %+v", st)
	}

	// A waiter also wakes when the slab recovers.
	held = held[:0]
	for range minNr {
		held = append(held, e.set.Alloc(20))
	}
	go func() { got <- e.set.Alloc(20) }()
	waitFor(t, "an allocation to wait", func() bool { return e.set.Stats().Waiting == 1 })
	e.set.setVecAllocFailure(nil)
	b := <-got
	if b.MaxVecs() != 64 {
		t.Errorf("after recovery: a %d-vec table, want 64 from the slab", b.MaxVecs())
	}
	b.Put()
	for _, b := range held {
		b.Put()
	}
}

// TestReserveIO runs writers that each allocate a large bio, write it and
// free it, with the slab failing throughout: more writers than the reserve,
// and all of them finish.
func TestReserveIO(t *testing.T) {
	slow := func(op Op, off int64, n int) (int, error) {
		time.Sleep(time.Millisecond) // hold the tables long enough to run out
		return n, nil
	}
	e := newEnv(t, DeviceConfig{Inject: slow, Workers: 8})
	e.set.setVecAllocFailure(func(int) bool { return true })
	defer e.set.setVecAllocFailure(nil)
	buf := e.page(4096, 7)
	defer buf.Unref()
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for i := range 5 {
				b := e.set.Alloc(32)
				b.Op, b.Offset = OpWrite, int64(g*5+i)*32*100
				for j := range 32 {
					b.AddPage(buf, j*101, 100)
				}
				if err := e.dev.SubmitWait(b); err != nil {
					t.Error(err)
				}
				b.Put()
			}
		})
	}
	wg.Wait()
	if st := e.set.Stats(); st.ReserveVecs != 60 || st.SlabVecs != 0 || st.ReserveWaits == 0 {
		t.Errorf("reserve served %d, slab %d, waits %d; want 60, 0, > 0", st.ReserveVecs, st.SlabVecs, st.ReserveWaits)
	}
}
