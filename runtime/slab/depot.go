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

// refill takes a batch of objects from the slabs (growing by one slab if
// none is free), claims the first for the caller and parks the rest in the
// calling P's front cache. It reports ok=false if the caller's object was
// taken back by a concurrent Reap before it could be claimed; the caller
// retries.
func (c *Cache) refill(hint int) (b []byte, ok bool, err error) {
	var buf [maxBatch]objRef
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil, false, fmt.Errorf("cache %q: %w", c.name, ErrClosed)
	}
	n, err := c.takeLocked(buf[:c.g.batch], hint)
	c.mu.Unlock()
	if n == 0 {
		return nil, false, err
	}

	rest := buf[1:n]
	if sh, _ := c.acquire(); sh != nil {
		k := copy(sh.objs[sh.n:c.g.limit], rest)
		sh.n += k
		c.release(sh)
		rest = rest[k:]
	}
	if len(rest) > 0 {
		c.drain(rest) // the shard filled up meanwhile, or there is none
	}

	b, ok, err = c.claim(buf[0])
	if ok {
		c.misses.Add(1)
	}
	return b, ok, err
}

// takeLocked moves up to len(dst) objects from the slabs into dst as cached
// tickets, partial slabs first. It grows the cache only if it found nothing.
func (c *Cache) takeLocked(dst []objRef, hint int) (int, error) {
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
			st := &s.state[idx]
			st.Store(with(st.Load(), stateCached, hint))
			dst[n] = objRef{s, idx}
			n++
		}
		c.relistLocked(s)
	}
	return n, nil
}

// drain returns ticketed objects to their slabs. Stale tickets are skipped.
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

// putLocked returns one cached object to its slab, if the ticket is still
// good.
func (c *Cache) putLocked(r objRef) bool {
	st := &r.s.state[r.idx]
	w := st.Load()
	if kindOf(w) != stateCached || !st.CompareAndSwap(w, with(w, stateFree, 0)) {
		return false
	}
	r.s.free = append(r.s.free, r.idx)
	r.s.inuse--
	c.relistLocked(r.s)
	return true
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
		state: make([]atomic.Uint64, c.g.perSlab),
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

// sweepLocked takes back every cached object whose shard hint satisfies
// take. Tickets for them left in front caches go stale. This is how Reap
// drains a front cache without touching it: the stack belongs to its P.
func (c *Cache) sweepLocked(take func(hint int) bool) {
	var touched []*slab
	for _, l := range []*slabList{&c.full, &c.partial} {
		for s := l.head; s != nil; s = s.next {
			touched = append(touched, s)
		}
	}
	for _, s := range touched {
		for i := range s.state {
			w := s.state[i].Load()
			if kindOf(w) == stateCached && take(hintOf(w)) {
				c.putLocked(objRef{s, uint32(i)})
			}
		}
	}
}

// Reap gives completely free slabs back to the OS, keeping Config.ReapKeep
// of them (rounded down) for the next burst, and returns how many it
// unmapped. First it takes back the objects parked in front caches that were
// not used since the previous Reap, so they can return to their slabs. Call
// it periodically (see Registry.StartReaper), as the kernel runs cache_reap.
// It walks every object of the non-free slabs, so it costs time in
// proportion to the cache's size.
func (c *Cache) Reap() int {
	idle := make([]bool, len(c.shards))
	for i := range c.shards {
		idle[i] = !c.shards[i].touched.Swap(false)
	}
	c.mu.Lock()
	c.sweepLocked(func(hint int) bool { return hint >= len(idle) || idle[hint] })
	victims := c.detachFreeLocked(int(float64(c.free.n) * c.g.reapKeep))
	c.mu.Unlock()
	c.unmap(victims)
	return len(victims)
}

// Shrink takes back every object parked in a front cache and unmaps every
// completely free slab, like kmem_cache_shrink. It returns the number of
// slabs unmapped.
func (c *Cache) Shrink() int {
	c.mu.Lock()
	c.sweepLocked(func(int) bool { return true })
	victims := c.detachFreeLocked(0)
	c.mu.Unlock()
	c.unmap(victims)
	return len(victims)
}
