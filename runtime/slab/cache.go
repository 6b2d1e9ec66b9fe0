package slab

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"go.uber.org/zap"

	"github.com/xstack/xstack/internal/nopools"
)

// Cache is a named cache of fixed-size objects carved from mmap'd slabs.
// All methods are safe for concurrent use.
type Cache struct {
	name   string
	g      geometry
	log    *zap.Logger
	reg    *Registry // nil for a cache made by New
	fenced bool      // no membarrier: front-cache owners fence instead, see acquire

	shards []paddedShard // one per P
	index  index         // slab number -> slab, for Free

	// sweepMu serialises Reap, Shrink and Close, the only callers that
	// take other Ps' front caches.
	sweepMu sync.Mutex

	// mu guards the slab lists, every slab's freelist and inuse count,
	// colourNext, mapped and deadAllocs. It is never taken while a shard is
	// acquired.
	mu         sync.Mutex
	full       slabList
	partial    slabList
	free       slabList
	colourNext int
	mapped     int64
	deadAllocs uint64 // generations of unmapped slabs' objects, for Stats.Allocs

	closed atomic.Bool

	misses, grows, reaped, errors, corrupt atomic.Uint64

	heap heapCounts // nopools builds only
}

// New returns a cache that is not listed in any registry. Most callers want
// Registry.NewCache, so that statedump can find the cache.
func New(name string, cfg Config) (*Cache, error) {
	return newCache(name, cfg, nil)
}

func newCache(name string, cfg Config, reg *Registry) (*Cache, error) {
	g, err := resolve(name, cfg)
	if err != nil {
		return nil, err
	}
	log := zap.NewNop()
	if cfg.Logger != nil {
		log = cfg.Logger.Named("slab").With(zap.String("cache", name))
	}
	c := &Cache{name: name, g: g, log: log, reg: reg, fenced: !haveHeavyBarrier()}
	c.shards = newShards(g.limit)
	c.index.init()
	return c, nil
}

// Name returns the name the cache was created with.
func (c *Cache) Name() string { return c.name }

// Alloc returns a free object: a slice of exactly Config.Size bytes (length
// and capacity) pointing into a slab. The caller owns it until it passes it
// to Free; it must not use it afterwards, and must not store Go pointers in
// it (the garbage collector does not scan it). Its contents are unspecified:
// zero on a fresh slab, old bytes (or 0x6b poison in debug mode) on reuse.
//
// Alloc fails only when a new slab cannot be mapped, after Close (ErrClosed),
// or in debug mode when the object it picked was written after being freed
// (ErrCorrupt; the object is quarantined and the next Alloc picks another).
func (c *Cache) Alloc() ([]byte, error) {
	if nopools.On {
		return c.heapAlloc()
	}
	sh, _ := c.acquire()
	if sh == nil {
		return c.refill(nil) // no front cache, or Close retired it
	}
	sh.touch()
	if sh.n == 0 {
		return c.refill(sh)
	}
	sh.n--
	r := sh.objs[sh.n]
	// The slot keeps its stale reference until it is reused or the shard
	// is reclaimed: clearing it would put a write barrier on the fast path,
	// and at most limit slab headers stay reachable a little longer.
	c.release(sh)
	return c.claim(r)
}

// claim hands out an object the caller owns (popped from a front cache or
// taken from the slabs): no one else may change its state word meanwhile,
// see state.go.
func (c *Cache) claim(r objRef) ([]byte, error) {
	if c.g.debug {
		return c.claimChecked(r)
	}
	st := r.s.stateOf(r.idx, &c.g)
	storeOwned(st, allocated(loadOwned(st)))
	return r.s.object(r.idx, &c.g), nil
}

// claimChecked is claim in debug mode: it checks the poison first, and
// quarantines a corrupt object instead, returning ErrCorrupt.
func (c *Cache) claimChecked(r objRef) ([]byte, error) {
	st := r.s.stateOf(r.idx, &c.g)
	w := loadOwned(st)
	b := r.s.object(r.idx, &c.g)
	if err := c.checkPoison(r, b); err != nil {
		st.Store(with(w, stateQuarantined)) // generation kept: not an alloc
		return nil, err
	}
	storeOwned(st, allocated(w))
	return b, nil
}

// Free returns an object to the cache. b must be a slice returned by Alloc,
// or a reslice b[:n] of it (same first byte); after Free the caller must not
// touch it.
//
// A bad free — a slice not from this cache (ErrForeign), one that does not
// start at an object (ErrNotObjectStart), or an object that is not allocated
// (ErrDoubleFree), even if it sits in a front cache — returns an error
// wrapping one of those, is counted in Stats.Errors, and leaves the cache
// unchanged. Free works after Close: the object goes back to its slab, and
// the slab is unmapped once it is empty.
func (c *Cache) Free(b []byte) error {
	if nopools.On {
		return c.heapFree()
	}
	// lookup's common case, written out: the calls cost a tenth of Free.
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	s := c.index.first(addr >> c.g.slabShift)
	idx := -1
	if s != nil && cap(b) != 0 {
		idx = c.g.objectAt(int(addr-s.base) - s.colour)
	}
	if idx < 0 {
		var err error
		if s, idx, err = c.lookup(b); err != nil {
			return c.badFree(b, err)
		}
	}
	st := s.stateOf(uint32(idx), &c.g)
	w := st.Load()
	if kindOf(w) != stateActive {
		return c.badFree(b, ErrDoubleFree)
	}
	if c.g.debug {
		poison(s.object(uint32(idx), &c.g)) // while we still own it
	}
	// Of two racing frees of one object exactly one wins the CAS.
	if !st.CompareAndSwap(w, with(w, stateCached)) {
		return c.badFree(b, ErrDoubleFree)
	}
	r := objRef{s, uint32(idx)}
	sh, _ := c.acquire()
	if sh == nil {
		// No front cache, or Close retired it: straight to the slab
		// (which drain unmaps once empty if the cache is closed).
		c.drain1(r)
		return nil
	}
	sh.touch()
	sh.objs[sh.n] = r
	sh.n++
	if sh.n > c.g.limit {
		c.overflow(sh) // releases sh
		return nil
	}
	c.release(sh)
	return nil
}

// drain1 returns one object to its slab.
func (c *Cache) drain1(r objRef) {
	one := [1]objRef{r}
	c.drain(one[:])
}

// overflow drains the oldest batch of an acquired shard that went over its
// limit, and releases the shard.
func (c *Cache) overflow(sh *shard) {
	var buf [maxBatch]objRef
	n := sh.popOldest(buf[:c.g.batch])
	c.release(sh)
	c.drain(buf[:n])
}

// lookup finds the slab and object index b points at, or says why b is not
// an object of the cache.
func (c *Cache) lookup(b []byte) (*slab, int, error) {
	p := unsafe.SliceData(b)
	if p == nil {
		return nil, 0, ErrForeign
	}
	addr := uintptr(unsafe.Pointer(p))
	s := c.index.find(addr >> c.g.slabShift)
	if s == nil {
		return nil, 0, ErrForeign
	}
	idx := c.g.objectAt(int(addr-s.base) - s.colour)
	if idx < 0 || cap(b) == 0 {
		return nil, 0, ErrNotObjectStart
	}
	return s, idx, nil
}

func (c *Cache) badFree(b []byte, err error) error {
	c.errors.Add(1)
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	c.log.Warn("bad free", zap.Uintptr("addr", addr), zap.Int("len", len(b)), zap.Error(err))
	return fmt.Errorf("cache %q: free %#x: %w", c.name, addr, err)
}

// Close stops the cache: Alloc fails with ErrClosed from then on, front
// caches are drained and every free slab is unmapped. If objects are still
// allocated it returns an error wrapping ErrActive; their slabs stay mapped
// (so holders do not fault), Free keeps working and unmaps each slab as it
// empties, and a later Close returns nil once all are freed. Objects
// quarantined by debug mode are never unmapped. Close removes the cache from
// its registry when it returns nil.
func (c *Cache) Close() error {
	c.sweepMu.Lock()
	if !c.closed.Swap(true) {
		// Retire the front caches for good: from now on Free goes straight
		// to the slabs, which are unmapped as they empty.
		shards := make([]*shard, len(c.shards))
		for i := range c.shards {
			shards[i] = &c.shards[i].shard
		}
		c.reclaim(shards, true)
	}
	c.sweepMu.Unlock()
	c.Shrink()
	if active := c.Stats().ActiveObjects; active > 0 {
		return fmt.Errorf("cache %q: %d objects: %w", c.name, active, ErrActive)
	}
	if c.reg != nil {
		c.reg.remove(c)
	}
	return nil
}
