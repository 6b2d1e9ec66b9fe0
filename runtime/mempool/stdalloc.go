package mempool

import (
	"sync"
	"sync/atomic"
	"time"
)

// stdalloc is a pool's heap fallback, GlusterFS's "stdalloc": objects
// allocated with new when the preallocated chunk is exhausted. They are
// tracked in a map so that Put can tell them from foreign pointers and
// catch a double Put of them too. A returned heap object is kept cold for
// reuse by the next miss (up to coldMax of them, most recently used first)
// until the sweeper finds it idle and drops it, so that memory taken by a
// burst goes back to the Go heap.
//
// Everything here is on the miss path and takes mu; Stats reads the
// atomic mirrors without it.
type stdalloc[T any] struct {
	mu sync.Mutex
	// objs maps every live heap object to its state.
	objs map[*T]stdObj
	// coldList holds the cold objects, least recently used first, so
	// lastUsed ascends along it and the sweeper trims a prefix.
	coldList []*T
	coldMax  int

	misses atomic.Int64 // Gets served here: pool-misses
	puts   atomic.Int64 // successful Puts of heap objects
	cur    atomic.Int64 // len(objs): cur-stdalloc
	max    atomic.Int64 // high-water of cur: max-stdalloc
	cold   atomic.Int64 // len(coldList)
}

type stdObj struct {
	hot      bool
	lastUsed time.Time // when it went cold
}

// minColdMax is the fewest heap objects a pool keeps for reuse.
const minColdMax = 16

func (a *stdalloc[T]) init(count int) {
	a.objs = make(map[*T]stdObj)
	a.coldMax = max(count, minColdMax)
}

// get returns a cold heap object, or a new one.
func (a *stdalloc[T]) get() *T {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.misses.Add(1)
	if n := len(a.coldList); n > 0 {
		x := a.coldList[n-1]
		a.coldList[n-1] = nil
		a.coldList = a.coldList[:n-1]
		a.cold.Add(-1)
		a.objs[x] = stdObj{hot: true}
		return x
	}
	// Allocated inside an entry so that objects of a zero-size T still have
	// distinct addresses, which the map needs.
	x := &new(entry[T]).v
	a.objs[x] = stdObj{hot: true}
	if c := a.cur.Add(1); c > a.max.Load() {
		a.max.Store(c) // under mu: no lost update
	}
	return x
}

// put takes back x at time now, or returns ErrForeignPut or ErrDoublePut.
func (a *stdalloc[T]) put(x *T, now time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	o, ok := a.objs[x]
	switch {
	case !ok:
		return ErrForeignPut
	case !o.hot:
		return ErrDoublePut
	}
	a.puts.Add(1)
	if len(a.coldList) >= a.coldMax {
		// Full: let the least recently used one go now.
		a.drop(1)
	}
	a.objs[x] = stdObj{lastUsed: now}
	a.coldList = append(a.coldList, x)
	a.cold.Add(1)
	return nil
}

// drop forgets the k least recently used cold objects. Caller holds mu.
func (a *stdalloc[T]) drop(k int) {
	for _, x := range a.coldList[:k] {
		delete(a.objs, x)
	}
	n := copy(a.coldList, a.coldList[k:])
	clear(a.coldList[n:]) // let the GC have them
	a.coldList = a.coldList[:n]
	a.cold.Add(int64(-k))
	a.cur.Add(int64(-k))
}

// sweep drops the cold objects that went cold at least idle before now.
func (a *stdalloc[T]) sweep(now time.Time, idle time.Duration) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := 0
	for k < len(a.coldList) && now.Sub(a.objs[a.coldList[k]].lastUsed) >= idle {
		k++
	}
	if k > 0 {
		a.drop(k)
	}
	return k
}

// putHeap is Put for a pointer outside the preallocated chunk.
func (p *Pool[T]) putHeap(x *T, u uintptr) error {
	if x == nil {
		return p.badPut(ErrForeignPut, u)
	}
	if err := p.std.put(x, p.now()); err != nil {
		return p.badPut(err, u)
	}
	return nil
}
