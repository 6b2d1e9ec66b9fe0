package mempool

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentStress has workers get objects, stamp them with their id,
// and return half themselves and hand half to another worker to put. A
// stamp that changes while held means two holders: a broken pool. The pool
// is smaller than the peak demand, so heap fallback and reuse are
// exercised too. At the end nothing may be out and every Get counted.
func TestConcurrentStress(t *testing.T) {
	skipNoPools(t)
	stress(t, New[rec](NewRegistry(nil), "v", "stress", 32))
}

// TestMoreProcsThanShards raises GOMAXPROCS past the number of shards the
// pool was built with, so Ps without a shard grow the shard slice while
// others use it.
func TestMoreProcsThanShards(t *testing.T) {
	skipNoPools(t)
	built := len(New[rec](NewRegistry(nil), "v", "probe", 0).shards)
	old := runtime.GOMAXPROCS(built * 3)
	defer runtime.GOMAXPROCS(old)
	// A pool made for fewer Ps than now run, stressed until a Get or Put
	// ran on a P past its shards (the scheduler may keep the workers on
	// the first Ps for a while): a new pool each round, so that each
	// round's counts are checked on their own.
	grew, rounds := false, 0
	for ; !grew && rounds < 20; rounds++ {
		runtime.GOMAXPROCS(built)
		p := New[rec](NewRegistry(nil), "v", "stress", 256)
		runtime.GOMAXPROCS(built * 3)
		stress(t, p)
		grew = len(p.extra.All()) > 0
	}
	if !grew {
		t.Errorf("no shard made for the Ps past the %d New made, after %d rounds on %d Ps", built, rounds, built*3)
	}
}

func stress(t *testing.T, p *Pool[rec]) {
	const (
		workers = 8
		rounds  = 2000
		hold    = 8
	)
	var gets atomic.Int64
	handoff := make(chan *rec, workers*hold)

	var putters sync.WaitGroup
	for range workers / 2 {
		putters.Add(1)
		go func() {
			defer putters.Done()
			for x := range handoff {
				x.a = 0
				if err := p.Put(x); err != nil {
					t.Error(err)
				}
			}
		}()
	}

	var getters sync.WaitGroup
	for w := range workers {
		getters.Add(1)
		go func() {
			defer getters.Done()
			id := int64(w + 1)
			var held [hold]*rec
			for r := range rounds {
				n := 1 + r%hold
				for i := range n {
					x := p.Get()
					if x.a != 0 {
						t.Errorf("worker %d got an object stamped %d: handed out twice", id, x.a)
						return
					}
					x.a, x.b = id, int64(i)
					held[i] = x
				}
				gets.Add(int64(n))
				for i := range n {
					x := held[i]
					if x.a != id || x.b != int64(i) {
						t.Errorf("worker %d: object changed while held: %+v", id, *x)
						return
					}
					if i%2 == 0 {
						handoff <- x
						continue
					}
					x.a = 0
					if err := p.Put(x); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	getters.Wait()
	close(handoff)
	putters.Wait()

	st := p.Stats()
	if st.Hot != 0 || st.AllocCount != gets.Load() || st.PutErrors != 0 {
		t.Errorf("hot-count %d alloc-count %d (want 0 %d), put-errors %d",
			st.Hot, st.AllocCount, gets.Load(), st.PutErrors)
	}
	if st.Cold != st.Prealloc+st.CurStdalloc || st.MaxAlloc < hold {
		t.Errorf("cold-count %d, prealloc %d, cur-stdalloc %d, max-alloc %d",
			st.Cold, st.Prealloc, st.CurStdalloc, st.MaxAlloc)
	}
	t.Logf("%+v", st)
}

// TestConcurrentDoublePut races several Puts of the same object: exactly
// one may win, for preallocated and heap objects alike.
func TestConcurrentDoublePut(t *testing.T) {
	skipNoPools(t)
	const racers = 4
	for _, count := range []int{64, 0} {
		p := New[rec](nil, "v", "race", count)
		for range 200 {
			x := p.Get()
			var ok, double atomic.Int64
			var wg sync.WaitGroup
			for range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					switch err := p.Put(x); {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, ErrDoublePut):
						double.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 1 || double.Load() != racers-1 {
				t.Fatalf("count %d: %d Puts won, %d refused as double", count, ok.Load(), double.Load())
			}
		}
		if st := p.Stats(); st.Hot != 0 || st.DoublePuts != 200*(racers-1) {
			t.Errorf("count %d: hot-count %d double-puts %d", count, st.Hot, st.DoublePuts)
		}
	}
}
