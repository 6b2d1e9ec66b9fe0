package mempool

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// rec is a 16-byte T, so an entry (state word + T) is 24 bytes: not a
// power of two, which exercises the division in Put.
type rec struct {
	a, b int64
}

// onOneP runs the test with GOMAXPROCS=1. max-alloc is exact only while
// Gets stay on one P (see Pool.noteGet); with more Ps the runtime may move
// the test goroutine between them and a scripted max-alloc could be short
// by one.
func onOneP(t *testing.T) {
	old := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// script drives a pool through a sequence of ';'-separated steps and keeps
// the objects it holds in held, failing if Get ever hands out an object
// that is already held. Steps:
//
//	get N      N Gets, appended to held
//	put I...   Put(held[I]), must succeed
//	putall     Put every held object not yet put
//	double I   Put(held[I]) again, must fail with ErrDoublePut
//	foreign    Put(new(rec)), must fail with ErrForeignPut
//	nil        Put(nil), likewise
//	other      Put of another pool's object, likewise
//	interior   Put of a pointer into the middle of a preallocated entry
type script struct {
	t     *testing.T
	p     *Pool[rec]
	held  []*rec
	out   map[*rec]bool // held and not yet put
	other *Pool[rec]
}

func (s *script) run(steps string) {
	s.t.Helper()
	for _, step := range strings.Split(steps, ";") {
		f := strings.Fields(step)
		if len(f) == 0 {
			continue
		}
		args := make([]int, len(f)-1)
		for i, a := range f[1:] {
			n, err := strconv.Atoi(a)
			if err != nil {
				s.t.Fatalf("step %q: %v", step, err)
			}
			args[i] = n
		}
		switch f[0] {
		case "get":
			for range args[0] {
				x := s.p.Get()
				if s.out[x] {
					s.t.Fatalf("step %q: Get returned %p, which is still out", step, x)
				}
				s.out[x] = true
				s.held = append(s.held, x)
			}
		case "put":
			for _, i := range args {
				s.put(step, s.held[i], nil)
				delete(s.out, s.held[i])
			}
		case "putall":
			for _, x := range s.held {
				if s.out[x] {
					s.put(step, x, nil)
					delete(s.out, x)
				}
			}
		case "double":
			s.put(step, s.held[args[0]], ErrDoublePut)
		case "foreign":
			s.put(step, new(rec), ErrForeignPut)
		case "nil":
			s.put(step, nil, ErrForeignPut)
		case "other":
			s.put(step, s.other.Get(), ErrForeignPut)
		case "interior":
			x := &s.p.entries[0].v
			s.put(step, (*rec)(unsafe.Add(unsafe.Pointer(x), 8)), ErrForeignPut)
		default:
			s.t.Fatalf("unknown step %q", step)
		}
	}
}

func (s *script) put(step string, x *rec, want error) {
	s.t.Helper()
	err := s.p.Put(x)
	if !errors.Is(err, want) || (want == nil) != (err == nil) {
		s.t.Fatalf("step %q: Put = %v, want %v", step, err, want)
	}
	if err != nil && !strings.Contains(err.Error(), s.p.Name()) {
		s.t.Errorf("step %q: error %q does not name the pool", step, err)
	}
}

// counters is the part of Stats a script determines.
type counters struct {
	hot, cold, alloc, maxAlloc, misses, curStd, maxStd, double, foreign int64
}

func countersOf(s Stats) counters {
	return counters{s.Hot, s.Cold, s.AllocCount, s.MaxAlloc, s.Misses,
		s.CurStdalloc, s.MaxStdalloc, s.DoublePuts, s.ForeignPuts}
}

func TestScriptedStats(t *testing.T) {
	skipNoPools(t)
	onOneP(t)
	tests := []struct {
		name    string
		count   int
		nomagic bool // force the plain-division path of Put
		steps   string
		want    counters
	}{
		{"empty", 4, false, "", counters{cold: 4}},
		{"get-put", 4, false, "get 3; put 0 1",
			counters{hot: 1, cold: 3, alloc: 3, maxAlloc: 3}},
		{"peak-then-lower", 4, false, "get 3; put 0 1 2; get 2",
			counters{hot: 2, cold: 2, alloc: 5, maxAlloc: 3}},
		{"exhaust", 4, false, "get 6",
			counters{hot: 6, alloc: 6, maxAlloc: 6, misses: 2, curStd: 2, maxStd: 2}},
		{"heap-back-cold", 4, false, "get 6; put 5 4",
			counters{hot: 4, cold: 2, alloc: 6, maxAlloc: 6, misses: 2, curStd: 2, maxStd: 2}},
		{"heap-reuse", 4, false, "get 6; put 5 4; get 1",
			counters{hot: 5, cold: 1, alloc: 7, maxAlloc: 6, misses: 3, curStd: 2, maxStd: 2}},
		{"prealloc-back-first", 4, false, "get 6; put 0; get 1",
			counters{hot: 6, alloc: 7, maxAlloc: 6, misses: 2, curStd: 2, maxStd: 2}},
		{"no-prealloc", 0, false, "get 2; put 0 1",
			counters{cold: 2, alloc: 2, maxAlloc: 2, misses: 2, curStd: 2, maxStd: 2}},
		{"double-prealloc", 4, false, "get 2; put 0; double 0; get 2",
			counters{hot: 3, cold: 1, alloc: 4, maxAlloc: 3, double: 1}},
		{"double-heap", 1, false, "get 2; put 1; double 1; double 1",
			counters{hot: 1, cold: 1, alloc: 2, maxAlloc: 2, misses: 1, curStd: 1, maxStd: 1, double: 2}},
		{"foreign", 4, false, "get 1; foreign; nil; other; interior",
			counters{hot: 1, cold: 3, alloc: 1, maxAlloc: 1, foreign: 4}},
		{"big-through-shards", 256, false, "get 200; putall; get 50",
			counters{hot: 50, cold: 206, alloc: 250, maxAlloc: 200}},
		{"big-exhaust", 256, false, "get 300; putall",
			counters{cold: 300, alloc: 300, maxAlloc: 300, misses: 44, curStd: 44, maxStd: 44}},
		{"nomagic", 64, true, "get 10; put 3; double 3; interior; putall",
			counters{cold: 64, alloc: 10, maxAlloc: 10, double: 1, foreign: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := NewRegistry(nil)
			p := New[rec](reg, "v", tc.name, tc.count)
			if tc.nomagic {
				p.magic = 0
			}
			s := &script{t: t, p: p, out: map[*rec]bool{}, other: New[rec](reg, "v", "other", 4)}
			s.run(tc.steps)
			st := p.Stats()
			if got := countersOf(st); got != tc.want {
				t.Errorf("after %q:\n got %+v\nwant %+v", tc.steps, got, tc.want)
			}
			if st.PutErrors != st.DoublePuts+st.ForeignPuts {
				t.Errorf("put-errors %d != double %d + foreign %d", st.PutErrors, st.DoublePuts, st.ForeignPuts)
			}
			if st.Active != st.Hot || st.Size != st.Hot*st.PaddedSizeof {
				t.Errorf("active %d, size %d, hot %d, padded %d", st.Active, st.Size, st.Hot, st.PaddedSizeof)
			}

			// Whatever happened, the pool must still be whole: returning
			// everything leaves nothing out and every object free.
			s.run("putall")
			st = p.Stats()
			if st.Hot != 0 || st.Cold != st.Prealloc+st.CurStdalloc {
				t.Errorf("after putall: hot %d, cold %d, prealloc %d, cur-stdalloc %d",
					st.Hot, st.Cold, st.Prealloc, st.CurStdalloc)
			}
			// And it hands each preallocated object out once.
			s.run("get " + strconv.Itoa(tc.count) + "; putall")
		})
	}
}

func TestSizes(t *testing.T) {
	skipNoPools(t)
	p := New[rec](nil, "v", "rec", 2)
	st := p.Stats()
	if st.SizeofType != 16 || st.PaddedSizeof != 24 || st.Prealloc != 2 {
		t.Errorf("sizeof-type %d padded-sizeof %d prealloc %d, want 16 24 2",
			st.SizeofType, st.PaddedSizeof, st.Prealloc)
	}
	if p.Name() != "v:rec" || st.Name != "v:rec" || st.Owner != "v" {
		t.Errorf("names %q %q %q", p.Name(), st.Name, st.Owner)
	}
	// A zero-size T still gets distinct objects, also from the heap.
	z := New[struct{}](nil, "v", "empty", 1)
	a, b := z.Get(), z.Get()
	if a == b {
		t.Fatal("zero-size objects share an address")
	}
	if err := errors.Join(z.Put(a), z.Put(b)); err != nil {
		t.Fatal(err)
	}
	if z.Put(b) == nil {
		t.Fatal("double put of a zero-size heap object accepted")
	}
}

func TestGet0(t *testing.T) {
	skipNoPools(t)
	for _, count := range []int{0, 1, 64} {
		t.Run("count="+strconv.Itoa(count), func(t *testing.T) {
			p := New[rec](nil, "v", "rec", count)
			for range 3 {
				x := p.Get0()
				if *x != (rec{}) {
					t.Fatalf("Get0 returned %+v", *x)
				}
				*x = rec{1, 2}
				if err := p.Put(x); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// Get does not zero: with one object and one P the same one comes back.
	onOneP(t)
	p := New[rec](nil, "v", "one", 1)
	x := p.Get()
	*x = rec{7, 8}
	_ = p.Put(x)
	if y := p.Get(); y != x || *y != (rec{7, 8}) {
		t.Errorf("Get after Put = %p %+v, want %p {7 8}", y, *y, x)
	}
}

// fakeClock is the registry clock in tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClockRegistry() (*Registry, *fakeClock) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	r := NewRegistry(nil)
	r.now = c.now
	return r, c
}

func TestSweep(t *testing.T) {
	skipNoPools(t)
	reg, clock := newClockRegistry()
	p := New[rec](reg, "v", "rec", 2)
	var xs []*rec
	for range 5 {
		xs = append(xs, p.Get())
	}
	for _, x := range xs[:4] { // two preallocated, two heap objects back at t0
		if err := p.Put(x); err != nil {
			t.Fatal(err)
		}
	}
	clock.add(10 * time.Second)
	if err := p.Put(xs[4]); err != nil { // the third heap object at t0+10s
		t.Fatal(err)
	}
	st := p.Stats()
	if st.CurStdalloc != 3 || st.Cold != 5 {
		t.Fatalf("before sweep: cur-stdalloc %d cold %d, want 3 5", st.CurStdalloc, st.Cold)
	}
	const idle = 30 * time.Second
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at              time.Time
		released        int
		curStd, coldCnt int64
	}{
		{t0.Add(idle - time.Nanosecond), 0, 3, 5},
		{t0.Add(idle), 2, 1, 3},
		{t0.Add(idle + 10*time.Second), 1, 0, 2},
		{t0.Add(time.Hour), 0, 0, 2},
	}
	for _, s := range steps {
		if n := reg.Sweep(s.at, idle); n != s.released {
			t.Errorf("Sweep(t0+%v) released %d, want %d", s.at.Sub(t0), n, s.released)
		}
		st := p.Stats()
		if st.CurStdalloc != s.curStd || st.Cold != s.coldCnt || st.MaxStdalloc != 3 || st.Hot != 0 {
			t.Errorf("after Sweep(t0+%v): cur-stdalloc %d cold %d max-stdalloc %d hot %d, want %d %d 3 0",
				s.at.Sub(t0), st.CurStdalloc, st.Cold, st.MaxStdalloc, st.Hot, s.curStd, s.coldCnt)
		}
	}
	// A swept object is no longer the pool's.
	if err := p.Put(xs[4]); !errors.Is(err, ErrForeignPut) {
		t.Errorf("Put of a swept object = %v, want ErrForeignPut", err)
	}
}

func TestColdHeapBound(t *testing.T) {
	skipNoPools(t)
	p := New[rec](nil, "v", "rec", 0)
	var xs []*rec
	for range minColdMax + 4 {
		xs = append(xs, p.Get())
	}
	for _, x := range xs {
		if err := p.Put(x); err != nil {
			t.Fatal(err)
		}
	}
	st := p.Stats()
	if st.CurStdalloc != minColdMax || st.Cold != minColdMax || st.MaxStdalloc != minColdMax+4 {
		t.Errorf("cur-stdalloc %d cold %d max-stdalloc %d, want %d %d %d",
			st.CurStdalloc, st.Cold, st.MaxStdalloc, minColdMax, minColdMax, minColdMax+4)
	}
}

func TestSweeperGoroutine(t *testing.T) {
	reg := NewRegistry(nil)
	p := New[rec](reg, "v", "rec", 0)
	x, y := p.Get(), p.Get()
	_ = p.Put(x)
	_ = p.Put(y)
	reg.StartSweeper(time.Millisecond, 0)
	reg.StartSweeper(time.Millisecond, 0) // replaces the first
	defer reg.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().CurStdalloc != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sweeper did not release heap objects: %+v", p.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	reg.Stop()
	reg.Stop() // idempotent
}

// TestShardLayout checks that shardHot matches the fields, so the padding
// really spaces the shards shardAlign apart.
func TestShardLayout(t *testing.T) {
	var s shard
	if got := unsafe.Offsetof(s.free) + unsafe.Sizeof(s.free); got != shardHot {
		t.Errorf("shard fields end at %d, shardHot is %d", got, shardHot)
	}
	if size := unsafe.Sizeof(s); size%shardAlign != 0 {
		t.Errorf("sizeof(shard) = %d, not a multiple of %d", size, shardAlign)
	}
}

// TestEveryPHasACache: a small pool made for many Ps still gives each P a
// cache (a pool of 64 on 64 Ps had none: every Get and Put went to the
// shared stack), and the caches together hold at most what their bound
// says.
func TestEveryPHasACache(t *testing.T) {
	skipNoPools(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(64))
	p := New[int](NewRegistry(nil), "v", "small", 64)
	if p.cacheCap < minCache {
		t.Fatalf("per-P cache of %d objects for a pool of 64 on 64 Ps", p.cacheCap)
	}
	x := p.Get()
	if err := p.Put(x); err != nil {
		t.Fatal(err)
	}
	if p.ovfGets.Load() != 0 || p.ovfPuts.Load() != 0 {
		t.Fatalf("a Get+Put went to the shared stack: gets %d puts %d", p.ovfGets.Load(), p.ovfPuts.Load())
	}
	if tiny := New[int](NewRegistry(nil), "v", "tiny", 2); tiny.cacheCap != 2 {
		t.Fatalf("a pool of 2 caches %d per P", tiny.cacheCap)
	}
}
