package mempool

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/internal/pin"

	"go.uber.org/zap"
)

// MaxCount is the largest number of objects a pool preallocates; New
// clamps a larger count to it. Indices are 32-bit.
const MaxCount = 1 << 30

// Object states, kept in entry.state.
const (
	stateCold uint32 = iota // free: in a shard cache or the shared stack
	stateHot                // handed out by Get, not yet put back
)

// entry is one preallocated object with its state word, the Go counterpart
// of GlusterFS's pooled-object header. Keeping the state beside the object
// puts it on a line the caller touches anyway, and no two Ps share a state
// line unless they use neighbouring objects.
type entry[T any] struct {
	state uint32 // written by markHot, else only by CAS
	v     T
}

// markHot records that Get handed e out. The caller has just taken e's
// index from a free list, so it is the only goroutine entitled to change
// the state; a plain store is enough (it is ordered before any later
// legitimate Put by whatever hands the object to the putting goroutine),
// and it keeps a second locked instruction off the fast path. A buggy Put
// racing with this store reads either state, and both outcomes keep every
// index in the free lists at most once, because only the CAS in Put adds
// an index to them. Under the race detector the store is atomic so that
// it sees the same happens-before edges.
func (e *entry[T]) markHot() {
	if raceEnabled {
		atomic.StoreUint32(&e.state, stateHot)
		return
	}
	e.state = stateHot
}

// Pool is a named pool of *T: count objects preallocated in one chunk, a
// per-P cache of free ones in front, and the Go heap behind it when the
// chunk runs out. Every method is safe for concurrent use, and an object
// may be put back by a goroutine other than the one that got it.
//
// Pool is the mem_pool of GlusterFS: an xlator creates its pools in Init
// under its volume name and releases them in Fini (Destroy, or
// Registry.Close for all of them), and the statedump lists them by owner.
type Pool[T any] struct {
	// Fixed after New.
	owner, name, full string
	reg               *Registry
	log               *zap.Logger
	now               func() time.Time
	entries           []entry[T]
	lo, span          uintptr // address of entries[0].v; len(entries)*esize
	esize             uintptr // padded size of one entry
	magic             uint64  // ceil(2^64/esize) when span < 2^32, else 0
	sizeofT           uintptr
	cacheCap, batch   int32 // per-P cache capacity and refill/spill size

	// shards holds a shard for each P New expects: four per CPU, as a
	// mounting daemon runs (fuse.SpareProcs), or GOMAXPROCS if higher.
	// A P past them (GOMAXPROCS raised further) has its shard in extra,
	// which grows by making a longer slice that keeps every existing
	// shard where it is, so a P that loaded the old slice still uses its
	// own shard.
	shards []shard
	extra  pin.Extra[shard]

	free freeStack

	// Gets and Puts that went straight to the shared stack (getSlow, and
	// Puts while the pool has no per-P caches: count 0).
	ovfGets, ovfPuts atomic.Int64
	maxAlloc         atomic.Int64

	std stdalloc[T]

	putErrors, doublePuts, foreignPuts atomic.Int64
	lastWarn, suppressed               atomic.Int64
	destroyed                          atomic.Bool
}

// New returns a pool of *T named owner:name with count objects
// preallocated, registered in reg. owner is the volume name of the xlator
// that owns the pool, name says what the pool holds ("v:locals").
//
// New never fails. If reg already holds a pool named owner:name, the new
// pool is named owner:name#2 (then #3, ...) and a warning is logged: a
// duplicate is a naming slip, not a reason to refuse to start a volume. A
// count below 0 is taken as 0 (every Get goes to the heap) and one above
// MaxCount as MaxCount. reg may be nil for a pool that no registry lists.
func New[T any](reg *Registry, owner, name string, count int) *Pool[T] {
	count = max(0, min(count, MaxCount))
	if nopools.On {
		count = 0 // nothing is preallocated: Get is new(T)
	}
	p := &Pool[T]{owner: owner, name: name, reg: reg, now: time.Now, log: zap.NewNop()}
	if reg != nil {
		p.now = reg.now
	}
	var zero T
	p.sizeofT = unsafe.Sizeof(zero)
	p.esize = unsafe.Sizeof(entry[T]{})
	p.entries = make([]entry[T], count)
	if count > 0 {
		p.lo = uintptr(unsafe.Pointer(&p.entries[0].v))
	}
	p.span = uintptr(count) * p.esize
	if uint64(p.span) < 1<<32 {
		// Lemire's division by multiplication: exact for 32-bit dividends.
		p.magic = ^uint64(0)/uint64(p.esize) + 1
	}
	p.free.init(count)

	nshards := max(runtime.GOMAXPROCS(0), 4*runtime.NumCPU())
	p.shards = make([]shard, nshards)
	// Let at most half the objects sit in per-P caches, so that most of the
	// chunk stays reachable from every P, but give every P a cache of at
	// least minCache (or count) however many Ps there are: without one,
	// every Get and Put of a small pool on a many-P machine went to the
	// shared stack and summed every shard's counters (16 times slower).
	p.cacheCap = int32(min(shardCache, count, max(minCache, count/(2*nshards))))
	p.batch = max(1, p.cacheCap/2)
	p.std.init(count)

	if reg != nil {
		reg.add(p)
	} else {
		p.full = owner + ":" + name
	}
	return p
}

// minCache is the least capacity of a P's cache (for a pool of at least
// that many objects).
const minCache = 4

// shardSlow returns the shard of a P past p.shards, making it first if
// needed; the goroutine is pinned on entry and on return, but may have
// moved to another P in between.
func (p *Pool[T]) shardSlow(pid int) *shard {
	for {
		if pid < len(p.shards) {
			return &p.shards[pid]
		}
		if s := p.extra.Lookup(pid - len(p.shards)); s != nil {
			return s
		}
		pin.Unpin()
		p.extra.Grow(max(pid+1, runtime.GOMAXPROCS(0))-len(p.shards), newShard)
		pid = pin.Pin()
	}
}

func newShard() *shard { return new(shard) }

// Name returns the pool's name as the statedump shows it, "owner:name",
// including any "#n" suffix New added.
func (p *Pool[T]) Name() string { return p.full }

// Get returns an object from the pool. It never fails: when the
// preallocated objects are all in use it returns one from the heap and
// counts a miss. The object is not zeroed; it holds whatever its previous
// user left in it (see Get0). The caller owns the object until it passes it
// to Put, after which it must not touch it.
func (p *Pool[T]) Get() *T {
	if nopools.On {
		return new(T)
	}
	if p.cacheCap > 0 {
		// The P's shard, written out here: the compiler does not inline
		// a generic helper into Get, and the call showed in
		// BenchmarkGetPut.
		pid := pin.Pin()
		var s *shard
		if pid < len(p.shards) {
			s = &p.shards[pid]
		} else {
			s = p.shardSlow(pid)
		}
		n := ld32(&s.n)
		if n == 0 {
			n = p.refill(s)
		}
		if n > 0 {
			n--
			i := s.free[n]
			st32(&s.n, n)
			g := ld64(&s.gets) + 1
			st64(&s.gets, g)
			if d := g - ld64(&s.puts); d > ld64(&s.hwm) {
				p.noteGet(s, d)
			}
			pin.Unpin()
			e := &p.entries[i]
			e.markHot()
			return &e.v
		}
		pin.Unpin()
	}
	return p.getSlow()
}

// Get0 is Get with the object set to the zero value of T.
func (p *Pool[T]) Get0() *T {
	x := p.Get()
	var zero T
	*x = zero
	return x
}

// Put returns x to the pool. x must come from Get or Get0 on this pool.
//
// A Put that would corrupt the pool is refused and reported instead: a
// second Put of the same object returns an error wrapping ErrDoublePut, and
// nil or any pointer this pool did not hand out returns one wrapping
// ErrForeignPut. Either way the pool is unchanged apart from its
// put-errors, double-puts and foreign-puts counters, and a rate-limited
// warning is logged. Detection is exact when the bad Put does not race
// with a Get of the same object; if it does, the object may end up owned
// twice, and the later legitimate Put is then the one reported.
//
// Put does not clear x: a T holding pointers keeps their targets alive
// until the object is reused or (for heap objects) swept.
func (p *Pool[T]) Put(x *T) error {
	if nopools.On {
		return nil // the garbage collector takes it
	}
	u := uintptr(unsafe.Pointer(x))
	off := u - p.lo // wraps for u < lo, which the range check then rejects
	if off < p.span {
		var i uintptr
		if p.magic != 0 {
			if p.magic*uint64(off) > p.magic-1 {
				return p.badPut(ErrForeignPut, u) // points inside an entry
			}
			hi, _ := bits.Mul64(p.magic, uint64(off))
			i = uintptr(hi)
		} else {
			if off%p.esize != 0 {
				return p.badPut(ErrForeignPut, u)
			}
			i = off / p.esize
		}
		if !atomic.CompareAndSwapUint32(&p.entries[i].state, stateHot, stateCold) {
			return p.badPut(ErrDoublePut, u)
		}
		if p.cacheCap > 0 {
			pid := pin.Pin()
			var s *shard
			if pid < len(p.shards) {
				s = &p.shards[pid]
			} else {
				s = p.shardSlow(pid)
			}
			n := ld32(&s.n)
			if n == p.cacheCap {
				n = p.spill(s)
			}
			s.free[n] = int32(i)
			st32(&s.n, n+1)
			st64(&s.puts, ld64(&s.puts)+1)
			pin.Unpin()
			return nil
		}
		p.ovfPuts.Add(1)
		p.free.push(int32(i))
		return nil
	}
	return p.putHeap(x, u)
}

// refill moves up to batch indices from the shared stack into s and
// returns the new s.n. The caller is pinned to s's P; popN does not block.
func (p *Pool[T]) refill(s *shard) int32 {
	var buf [shardCache]int32
	k := p.free.popN(buf[:p.batch])
	// Reverse, so the P hands out the objects in stack order.
	for j := 0; j < k; j++ {
		s.free[k-1-j] = buf[j]
	}
	st32(&s.n, int32(k))
	return int32(k)
}

// spill moves the top batch indices of a full s to the shared stack as one
// chain and returns the new s.n. The caller is pinned to s's P.
func (p *Pool[T]) spill(s *shard) int32 {
	n := p.cacheCap - p.batch
	top := s.free[p.cacheCap-1]
	for j := p.cacheCap - 1; j > n; j-- {
		p.free.next[s.free[j]].Store(s.free[j-1] + 1)
	}
	p.free.pushChain(top, s.free[n])
	st32(&s.n, n)
	return n
}

// getSlow serves a Get when the P has no shard or its cache and the shared
// stack are both empty: first the shared stack again, then the heap.
func (p *Pool[T]) getSlow() *T {
	var buf [1]int32
	if p.free.popN(buf[:]) == 1 {
		p.ovfGets.Add(1)
		p.noteHot(p.hot())
		e := &p.entries[buf[0]]
		e.markHot()
		return &e.v
	}
	x := p.std.get()
	p.noteHot(p.hot())
	return x
}

// noteGet runs when a Get takes shard s above its high-water mark d: it
// samples the pool-wide hot count into max-alloc. The new mark includes
// the distance between the hot count and max-alloc, because the hot count
// cannot pass max-alloc before this shard's gets-puts grows by that much
// (unless other shards grow, and they sample for themselves). So a steady
// Get/Put loop, or a producer P that only gets while a consumer P puts,
// samples rarely. max-alloc is exact while all Gets run on one P; when
// they run on several, a peak built from Gets on different Ps without any
// of them passing its own mark is missed (Stats samples too, so only a
// peak that came and went between Stats calls). A shared hot counter would
// make it exact at the price of a contended cache line on every Get.
// The caller is pinned to s's P; nothing here blocks.
func (p *Pool[T]) noteGet(s *shard, d int64) {
	h := p.hot()
	m := p.noteHot(h)
	st64(&s.hwm, d+max(0, m-h))
}

// noteHot raises max-alloc to h if h is higher and returns max-alloc.
func (p *Pool[T]) noteHot(h int64) int64 {
	for {
		m := p.maxAlloc.Load()
		if h <= m || p.maxAlloc.CompareAndSwap(m, h) {
			return max(h, m)
		}
	}
}

// hot sums the counters into the number of objects handed out and not put
// back. Puts are read before Gets so that a concurrent Get/Put pair is
// never half seen as a put without its get: the sum can be high by the
// number of Gets in flight, never negative.
func (p *Pool[T]) hot() int64 {
	puts, gets := p.sums()
	return gets - puts
}

// sums returns all successful Puts and all Gets.
func (p *Pool[T]) sums() (puts, gets int64) {
	extra := p.extra.All()
	puts = p.ovfPuts.Load() + p.std.puts.Load()
	for i := range p.shards {
		puts += atomic.LoadInt64(&p.shards[i].puts)
	}
	for _, s := range extra {
		puts += atomic.LoadInt64(&s.puts)
	}
	gets = p.ovfGets.Load() + p.std.misses.Load()
	for i := range p.shards {
		gets += atomic.LoadInt64(&p.shards[i].gets)
	}
	for _, s := range extra {
		gets += atomic.LoadInt64(&s.gets)
	}
	return puts, gets
}

// badPut counts and reports a refused Put.
func (p *Pool[T]) badPut(kind error, u uintptr) error {
	p.putErrors.Add(1)
	if kind == ErrDoublePut {
		p.doublePuts.Add(1)
	} else {
		p.foreignPuts.Add(1)
	}
	err := fmt.Errorf("pool %s: %w", p.full, kind)
	p.warn(err, u)
	return err
}

// warnEvery limits bad-Put warnings to one per pool per interval: a buggy
// fop path can put twice on every call, and the counters already say how
// often.
const warnEvery = time.Second

func (p *Pool[T]) warn(err error, u uintptr) {
	now := p.now().UnixNano()
	last := p.lastWarn.Load()
	if now-last < int64(warnEvery) || !p.lastWarn.CompareAndSwap(last, now) {
		p.suppressed.Add(1)
		return
	}
	p.log.Warn("mempool: refused put",
		zap.String("pool", p.full),
		zap.Error(err),
		zap.Uintptr("object", u),
		zap.Int64("suppressed", p.suppressed.Swap(0)))
}

// Destroy unregisters the pool: the registry stops listing it, which is
// what an xlator's Fini does with its pools. It returns the final Stats
// and logs a warning if objects are still out (a leak). The pool itself
// stays usable, so a late Put of an object still in flight is accepted
// rather than reported; its memory is freed by the garbage collector once
// neither the pool nor any of its objects is referenced. Destroy is
// idempotent.
func (p *Pool[T]) Destroy() Stats {
	if p.reg != nil {
		p.reg.remove(p.full, p)
	}
	return p.finish()
}

// finish marks p destroyed and reports a leak once.
func (p *Pool[T]) finish() Stats {
	st := p.Stats()
	if !p.destroyed.Swap(true) && st.Hot > 0 {
		p.log.Warn("mempool: pool destroyed with objects in use",
			zap.String("pool", p.full), zap.Int64("hot-count", st.Hot))
	}
	return st
}

// Stats returns a snapshot of the pool's counters. It takes no lock and
// may be called at any time, also after Destroy. Under concurrent use the
// counters are read one after the other, so hot-count and cold-count can
// be off by the operations in flight; when the pool is quiescent they are
// exact. max-alloc is sampled on the Get path and by Stats, so it can miss
// a short peak that spanned several Ps (see noteGet).
func (p *Pool[T]) Stats() Stats {
	puts, gets := p.sums()
	hot := gets - puts
	maxAlloc := p.noteHot(hot)
	cur, cold := p.std.cur.Load(), p.std.cold.Load()
	count := int64(len(p.entries))
	hotPre := min(max(0, hot-(cur-cold)), count)
	return Stats{
		Name:         p.full,
		Owner:        p.owner,
		Active:       hot,
		SizeofType:   int64(p.sizeofT),
		PaddedSizeof: int64(p.esize),
		Size:         hot * int64(p.esize),
		Hot:          hot,
		Cold:         count - hotPre + cold,
		AllocCount:   gets,
		MaxAlloc:     maxAlloc,
		Misses:       p.std.misses.Load(),
		CurStdalloc:  cur,
		MaxStdalloc:  p.std.max.Load(),
		PutErrors:    p.putErrors.Load(),
		DoublePuts:   p.doublePuts.Load(),
		ForeignPuts:  p.foreignPuts.Load(),
		Prealloc:     count,
	}
}

// Sweep releases the heap fallback objects that have been cold for at
// least idle at time now and returns how many it released. The garbage
// collector frees them once nothing else refers to them; a Put of one of
// them afterwards is reported as foreign. Preallocated objects are never
// released. Registry.StartSweeper calls Sweep periodically.
func (p *Pool[T]) Sweep(now time.Time, idle time.Duration) int {
	return p.std.sweep(now, idle)
}
