package slab

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"go.uber.org/zap"
)

// The depot: everything behind Cache.mu. Slabs move between the full,
// partial and free lists as objects leave and return; front caches refill
// from and drain to it in batches.

// refill serves an Alloc that found its front cache sh empty: it takes a
// batch of objects from the slabs (growing by one slab if none is free),
// parks all but one in sh and hands out that one. sh is acquired and
// refill releases it before taking the lock. With sh nil (no front cache)
// it takes a single object.
func (c *Cache) refill(sh *shard) ([]byte, error) {
	batch := 1
	if sh != nil {
		batch = c.g.batch
		c.release(sh)
	}
	var buf [maxBatch]objRef
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil, fmt.Errorf("cache %q: %w", c.name, ErrClosed)
	}
	n, err := c.takeLocked(buf[:batch])
	c.mu.Unlock()
	if n == 0 {
		return nil, err
	}
	c.misses.Add(1)

	rest := buf[1:n]
	if len(rest) > 0 {
		if sh, _ := c.acquire(); sh != nil { // maybe another P's by now
			sh.touch()
			k := copy(sh.objs[sh.n:c.g.limit], rest)
			sh.n += k
			c.release(sh)
			rest = rest[k:]
		}
		if len(rest) > 0 {
			c.drain(rest) // the shard filled up or was frozen meanwhile
		}
	}
	return c.claim(buf[0])
}

// takeLocked moves up to len(dst) objects from the slabs into dst, cached
// and owned by the caller, partial slabs first. It grows the cache only if
// it found nothing.
func (c *Cache) takeLocked(dst []objRef) (int, error) {
	n := 0
	for n < len(dst) {
		s := c.partial.head
		if s == nil {
			s = c.free.head
		}
		if s == nil {
			if n > 0 {
				break // enough to go on with; grow on the next miss
			}
			var err error
			if s, err = c.growLocked(); err != nil {
				return 0, err
			}
		}
		for len(s.free) > 0 && n < len(dst) {
			idx := s.free[len(s.free)-1]
			s.free = s.free[:len(s.free)-1]
			s.inuse++
			st := s.stateOf(idx, &c.g)
			st.Store(with(st.Load(), stateCached))
			dst[n] = objRef{s, idx}
			n++
		}
		c.relistLocked(s)
	}
	return n, nil
}

// drain returns cached objects the caller owns to their slabs.
func (c *Cache) drain(refs []objRef) {
	c.mu.Lock()
	for _, r := range refs {
		c.putLocked(r)
	}
	var victims []*slab
	if c.closed.Load() {
		victims = c.detachFreeLocked(0)
	}
	c.mu.Unlock()
	c.unmap(victims)
}

// putLocked returns one cached object the caller owns to its slab.
func (c *Cache) putLocked(r objRef) {
	st := r.s.stateOf(r.idx, &c.g)
	w := st.Load()
	if kindOf(w) != stateCached {
		// An object in a front cache changed state under its owner: the
		// ownership rules in state.go were broken. Putting it on the
		// freelist could hand it out twice.
		panic(fmt.Sprintf("slab: cache %q: draining object %d of slab %#x in state %d", c.name, r.idx, r.s.base, kindOf(w)))
	}
	st.Store(with(w, stateFree))
	r.s.free = append(r.s.free, r.idx)
	r.s.inuse--
	c.relistLocked(r.s)
}

// relistLocked moves s to the list its fill level calls for.
func (c *Cache) relistLocked(s *slab) {
	want := &c.partial
	switch s.inuse {
	case 0:
		want = &c.free
	case c.g.perSlab:
		want = &c.full
	}
	if s.list != want {
		s.list.remove(s)
		want.push(s)
	}
}

// growLocked maps a new slab and puts it on the free list.
func (c *Cache) growLocked() (*slab, error) {
	mem, err := mapSlab(&c.g)
	if err != nil {
		c.log.Error("grow failed", zap.Error(err))
		return nil, fmt.Errorf("cache %q: grow: %w", c.name, err)
	}
	s := &slab{
		mem:   mem,
		base:  uintptr(unsafe.Pointer(unsafe.SliceData(mem))),
		free:  make([]uint32, c.g.perSlab),
		state: make([]atomic.Uint64, stateRows*c.g.stateRow),
	}
	if c.g.colours > 1 {
		s.colour = c.colourNext * c.g.colourStep
		c.colourNext = (c.colourNext + 1) % c.g.colours
	}
	// Popped from the end: objects go out in address order.
	for i := range s.free {
		s.free[i] = uint32(c.g.perSlab - 1 - i)
	}
	if c.g.debug {
		poison(mem[s.colour : s.colour+c.g.perSlab*c.g.asize])
	}
	c.index.insert(s.base>>c.g.slabShift, s)
	c.free.push(s)
	c.mapped += int64(len(mem))
	c.grows.Add(1)
	return s, nil
}

// detachFreeLocked takes all but keep of the free slabs off the lists and
// the index and returns them for unmapping outside the lock.
func (c *Cache) detachFreeLocked(keep int) []*slab {
	var victims []*slab
	for c.free.n > keep {
		s := c.free.head
		c.free.remove(s)
		c.index.remove(s.base >> c.g.slabShift)
		c.mapped -= int64(len(s.mem))
		for i := range s.state {
			c.deadAllocs += genOf(s.state[i].Load())
		}
		victims = append(victims, s)
	}
	return victims
}

// unmap gives detached slabs back to the OS.
func (c *Cache) unmap(victims []*slab) {
	for _, s := range victims {
		if err := s.unmap(); err != nil {
			c.log.Error("munmap failed", zap.Uintptr("slab", s.base), zap.Error(err))
		}
	}
	c.reaped.Add(uint64(len(victims)))
}

// usedShards returns every front cache that may hold objects. The caller
// holds sweepMu.
func (c *Cache) usedShards() []*shard {
	var shards []*shard
	for i := range c.shards {
		if sh := &c.shards[i].shard; sh.needsReclaim() {
			shards = append(shards, sh)
		}
	}
	return shards
}

// Reap gives completely free slabs back to the OS, keeping Config.ReapKeep
// of them (rounded down) for the next burst, and returns how many it
// unmapped. First it takes back the objects parked in front caches that were
// not used since the previous Reap, so they can return to their slabs; a
// busy front cache keeps its objects, as the kernel's cache_reap leaves a
// recently used array_cache alone. Call it periodically (see
// Registry.StartReaper), as the kernel runs cache_reap. It does not touch
// the owners' fast path: see freeze.
func (c *Cache) Reap() int {
	c.sweepMu.Lock()
	if !c.closed.Load() { // Close has emptied and retired the front caches
		var idle []*shard
		for i := range c.shards {
			sh := &c.shards[i].shard
			if sh.touched.Swap(false) {
				sh.drained = false
			} else if !sh.drained {
				idle = append(idle, sh)
			}
		}
		c.reclaim(idle, false)
	}
	c.sweepMu.Unlock()
	c.mu.Lock()
	victims := c.detachFreeLocked(int(float64(c.free.n) * c.g.reapKeep))
	c.mu.Unlock()
	c.unmap(victims)
	return len(victims)
}

// Shrink takes back every object parked in a front cache and unmaps every
// completely free slab, like kmem_cache_shrink. It returns the number of
// slabs unmapped.
func (c *Cache) Shrink() int {
	c.sweepMu.Lock()
	if !c.closed.Load() {
		c.reclaim(c.usedShards(), false)
	}
	c.sweepMu.Unlock()
	c.mu.Lock()
	victims := c.detachFreeLocked(0)
	c.mu.Unlock()
	c.unmap(victims)
	return len(victims)
}
