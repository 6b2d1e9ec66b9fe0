package reclaim

import (
	"sync/atomic"
	"testing"
	"time"
)

// owner is a fake memory owner: it holds mapped bytes and gives back
// spare ones when shrunk.
type owner struct {
	mapped, spare atomic.Int64
}

func (o *owner) shrinker(name string) Shrinker {
	return Shrinker{
		Name:   name,
		Shrink: func() int64 { n := o.spare.Swap(0); o.mapped.Add(-n); return n },
		Mapped: o.mapped.Load,
	}
}

// TestPollShrinksAtHighMark: Poll shrinks every owner once usage (Go's
// memory plus the owners' mapped bytes) reaches the high mark of the
// limit, not before, and Stats records what each owner returned.
func TestPollShrinksAtHighMark(t *testing.T) {
	var a, b owner
	r, err := New(Config{}, a.shrinker("a"), b.shrinker("b"))
	if err != nil {
		t.Fatal(err)
	}
	goMem := r.Usage()
	if goMem <= 0 {
		t.Fatalf("usage without owners %d", goMem)
	}
	// A limit far above: no shrink.
	r, _ = New(Config{Limit: 1 << 50}, a.shrinker("a"), b.shrinker("b"))
	a.mapped.Store(1 << 20)
	a.spare.Store(1 << 20)
	b.mapped.Store(4 << 20)
	b.spare.Store(3 << 20)
	if r.Poll() {
		t.Fatal("shrank far below the limit")
	}
	// The owners' mapped memory pushes usage over the mark.
	r, _ = New(Config{Limit: goMem + 4<<20, High: 0.9}, a.shrinker("a"), b.shrinker("b"))
	if !r.Poll() {
		t.Fatalf("no shrink at usage %d of limit %d", r.Usage(), goMem+4<<20)
	}
	st := r.Stats()
	if st.Pressure != 1 || st.Demand != 0 || st.Polls != 1 || st.Last.IsZero() || st.Usage <= 0 {
		t.Errorf("stats %+v", st)
	}
	want := []OwnerStats{{"a", 1, 1 << 20, 1 << 20}, {"b", 1, 3 << 20, 3 << 20}}
	for i, o := range st.Owners {
		if o != want[i] {
			t.Errorf("owner %d: %+v, want %+v", i, o, want[i])
		}
	}
	// On demand, with nothing left to give.
	got := r.Reclaim("test")
	if len(got) != 2 || got[0] != 0 || got[1] != 0 {
		t.Errorf("second shrink returned %v", got)
	}
	st = r.Stats()
	if st.Demand != 1 || st.LastWhy != "test" || st.Owners[1].Bytes != 3<<20 || st.Owners[1].LastBytes != 0 || st.Owners[1].Shrinks != 2 {
		t.Errorf("after Reclaim: %+v", st)
	}
}

// TestStartPolls: a started Reclaimer over its limit shrinks by itself
// within a few intervals; Stop ends the polling.
func TestStartPolls(t *testing.T) {
	var a owner
	a.mapped.Store(8 << 20)
	a.spare.Store(8 << 20)
	r, err := New(Config{Limit: 1, Interval: time.Millisecond}, a.shrinker("a"))
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	r.Start() // a second Start does nothing
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Pressure == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r.Stop()
	st := r.Stats()
	if st.Pressure == 0 || st.Owners[0].Bytes != 8<<20 {
		t.Fatalf("no pressure shrink: %+v", st)
	}
	polls := st.Polls
	time.Sleep(10 * time.Millisecond)
	if r.Stats().Polls != polls {
		t.Error("still polling after Stop")
	}
	r.Stop() // a second Stop does nothing
}

// TestNoLimitNoPolling: without a limit Start polls nothing.
func TestNoLimitNoPolling(t *testing.T) {
	r, _ := New(Config{Interval: time.Millisecond})
	r.Start()
	time.Sleep(10 * time.Millisecond)
	r.Stop()
	if p := r.Stats().Polls; p != 0 {
		t.Errorf("%d polls without a limit", p)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{{Limit: -1}, {Interval: -1}, {High: 1.5}, {High: -0.1}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}
