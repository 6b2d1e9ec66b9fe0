package slab

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"go.uber.org/zap"
)

// Cache is a named cache of fixed-size objects carved from mmap'd slabs.
// All methods are safe for concurrent use.
type Cache struct {
	name string
	g    geometry
	log  *zap.Logger
	reg  *Registry // nil for a cache made by New

	shards []shard // one per P
	index  index   // slab number -> slab, for Free

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
	c := &Cache{name: name, g: g, log: log, reg: reg}
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
	for {
		if c.closed.Load() {
			return nil, fmt.Errorf("cache %q: %w", c.name, ErrClosed)
		}
		sh, pid := c.acquire()
		if sh == nil || sh.n == 0 {
			if sh != nil {
				sh.touch()
				c.release(sh)
			}
			b, ok, err := c.refill(pid)
			if ok || err != nil {
				return b, err
			}
			continue
		}
		sh.n--
		r := sh.objs[sh.n]
		sh.objs[sh.n] = objRef{}
		sh.touch()
		c.release(sh)
		if b, ok, err := c.claim(r); ok {
			return b, err
		}
		// A stale ticket: Reap took the object back meanwhile.
	}
}

// claim takes ownership of a ticketed object. It reports false if the ticket
// is stale. In debug mode it checks the poison and quarantines a corrupt
// object, returning ok with ErrCorrupt.
func (c *Cache) claim(r objRef) (b []byte, ok bool, err error) {
	st := &r.s.state[r.idx]
	w := st.Load()
	if kindOf(w) != stateCached || !st.CompareAndSwap(w, allocated(w)) {
		return nil, false, nil
	}
	b = r.s.object(r.idx, &c.g)
	if c.g.debug {
		if err := c.checkPoison(r, b); err != nil {
			st.Store(with(w, stateQuarantined, 0)) // generation kept: not an alloc
			return nil, true, err
		}
	}
	return b, true, nil
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
	s, idx, err := c.lookup(b)
	if err != nil {
		return c.badFree(b, err)
	}
	st := &s.state[idx]
	w := st.Load()
	if kindOf(w) != stateActive {
		return c.badFree(b, ErrDoubleFree)
	}
	if c.g.debug {
		poison(s.object(idx, &c.g)) // while we still own it
	}
	sh, pid := c.acquire()
	// Of two racing frees of one object exactly one wins the CAS.
	if !st.CompareAndSwap(w, with(w, stateCached, pid)) {
		if sh != nil {
			c.release(sh)
		}
		return c.badFree(b, ErrDoubleFree)
	}
	if sh == nil {
		c.drain([]objRef{{s, idx}})
	} else {
		sh.objs[sh.n] = objRef{s, idx}
		sh.n++
		sh.touch()
		if sh.n <= c.g.limit {
			c.release(sh)
		} else {
			var buf [maxBatch]objRef
			n := sh.popOldest(buf[:c.g.batch])
			c.release(sh)
			c.drain(buf[:n])
		}
	}
	// Checked after the object is published as cached, so that either
	// Close's sweep sees it or we see closed (both CAS; one wins).
	if c.closed.Load() {
		c.drain([]objRef{{s, idx}})
	}
	return nil
}

// lookup finds the slab and object index b points at.
func (c *Cache) lookup(b []byte) (*slab, uint32, error) {
	p := unsafe.SliceData(b)
	if p == nil {
		return nil, 0, ErrForeign
	}
	addr := uintptr(unsafe.Pointer(p))
	s := c.index.find(addr >> c.g.slabShift)
	if s == nil {
		return nil, 0, ErrForeign
	}
	off := int(addr-s.base) - s.colour
	if off < 0 || cap(b) == 0 {
		return nil, 0, ErrNotObjectStart
	}
	var idx int
	if c.g.asizeShift >= 0 {
		idx = off >> c.g.asizeShift
	} else {
		idx = int(uint32(off) / uint32(c.g.asize))
	}
	if idx*c.g.asize != off || idx >= c.g.perSlab {
		return nil, 0, ErrNotObjectStart
	}
	return s, uint32(idx), nil
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
	c.closed.Store(true)
	c.Shrink()
	if active := c.Stats().ActiveObjects; active > 0 {
		return fmt.Errorf("cache %q: %d objects: %w", c.name, active, ErrActive)
	}
	if c.reg != nil {
		c.reg.remove(c)
	}
	return nil
}
