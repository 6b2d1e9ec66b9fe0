package bio

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
)

// vecClasses are the bvec table sizes above InlineVecs, the kernel's
// biovec-16/64/128/max slabs.
var vecClasses = [...]int{16, 64, 128, MaxVecs}

const bvecSize = int(unsafe.Sizeof(bvec{}))

// BioSet allocates bios, the kernel's bio_set: the Bio structs come from a
// mempool named "<name>:bio", vec tables of more than InlineVecs entries
// from four slab caches "<name>:bvec-16", "-64", "-128" and "-256", and a
// reserve of minNr tables of MaxVecs entries guarantees forward progress
// when the slabs cannot grow. Every method is safe for concurrent use.
type BioSet struct {
	name   string
	pool   *mempool.Pool[Bio]
	caches [len(vecClasses)]*slab.Cache
	minNr  int

	// mu guards reserve and gen; cond waits on them.
	mu      sync.Mutex
	cond    sync.Cond
	reserve [][]byte // free reserve tables
	gen     uint64   // bumped whenever a table may have become available
	waiters atomic.Int32

	// failVecs, when set, makes a slab allocation for n vecs fail as if the
	// cache could not grow (tests).
	failVecs atomic.Pointer[func(nvecs int) bool]

	allocs, frees, inline, slabVecs, reserveVecs, clones atomic.Uint64
	vecFailures, reserveWaits                            atomic.Uint64
	reserveOut                                           atomic.Int64
}

// NewBioSet creates a bio set. Its slab caches are registered in slabs, its
// Bio pool in pools under owner name; minNr is the reserve (at least 1: a
// set without a reserve could not promise forward progress). It fails when
// a cache name is taken in slabs (one set per name) or the reserve cannot
// be allocated.
func NewBioSet(name string, slabs *slab.Registry, pools *mempool.Registry, minNr int) (*BioSet, error) {
	minNr = max(minNr, 1)
	s := &BioSet{name: name, minNr: minNr}
	s.cond.L = &s.mu
	for i, n := range vecClasses {
		c, err := slabs.NewCache(fmt.Sprintf("%s:bvec-%d", name, n), slab.Config{Size: n * bvecSize, Align: slab.CacheLine})
		if err != nil {
			s.closeCaches()
			return nil, fmt.Errorf("bio set %q: %w", name, err)
		}
		s.caches[i] = c
	}
	last := s.caches[len(s.caches)-1]
	for range minNr {
		mem, err := last.Alloc()
		if err != nil {
			s.closeCaches()
			return nil, fmt.Errorf("bio set %q: reserve of %d bvec tables: %w", name, minNr, err)
		}
		s.reserve = append(s.reserve, mem)
	}
	s.pool = mempool.New[Bio](pools, name, "bio", max(64, minNr))
	return s, nil
}

// Name returns the set's name.
func (s *BioSet) Name() string { return s.name }

// Alloc returns a bio with room for nvecs vecs (clamped to [0, MaxVecs]),
// holding one reference owned by the caller. Op, Flags, Offset, EndIO and
// Private are zero, the status nil, the iterator empty.
//
// Alloc never fails. Up to InlineVecs the table is inside the bio; beyond,
// it comes from the smallest bvec cache that fits. When that cache cannot
// grow, Alloc takes a table from the reserve, and when the reserve is empty
// it waits until a bio with a table is freed. So a caller that allocates
// more than one bio with vecs > InlineVecs before submitting any can
// deadlock under memory pressure, as with the kernel's bio_alloc: submit
// (or free) each before allocating the next.
func (s *BioSet) Alloc(nvecs int) *Bio {
	nvecs = min(max(nvecs, 0), MaxVecs)
	b := s.get()
	if nvecs <= InlineVecs {
		b.kind = vecsInline
		b.vecs = b.inlineVecs[:0]
		s.inline.Add(1)
		return b
	}
	ci := 0
	for vecClasses[ci] < nvecs {
		ci++
	}
	if mem := s.trySlab(ci); mem != nil {
		b.setVecs(mem, vecsSlab, ci)
		s.slabVecs.Add(1)
		return b
	}
	s.allocSlow(b, ci)
	return b
}

// get takes a Bio struct from the pool and resets it.
func (s *BioSet) get() *Bio {
	b := s.pool.Get()
	b.Op, b.Flags, b.Offset = OpRead, 0, 0
	b.EndIO, b.Private = nil, nil
	b.it = Iter{}
	b.vecMem = nil
	b.class = -1
	if b.pages == nil {
		b.pages = b.inlinePages[:0]
		b.iobrefs = b.inlineRefs[:0]
	}
	b.set, b.dev, b.source, b.parent, b.next, b.waiter = s, nil, nil, nil, nil, nil
	b.done = 0
	b.status = nil
	b.refs.Store(1)
	b.remaining.Store(1)
	s.allocs.Add(1)
	return b
}

func (b *Bio) setVecs(mem []byte, kind vecKind, class int) {
	b.kind = kind
	b.class = int8(class)
	b.vecMem = mem
	b.vecs = unsafe.Slice((*bvec)(unsafe.Pointer(unsafe.SliceData(mem))), len(mem)/bvecSize)[:0]
}

// trySlab allocates a table from cache ci, or returns nil when it cannot.
func (s *BioSet) trySlab(ci int) []byte {
	if f := s.failVecs.Load(); f != nil && (*f)(vecClasses[ci]) {
		s.vecFailures.Add(1)
		return nil
	}
	mem, err := s.caches[ci].Alloc()
	if err != nil {
		s.vecFailures.Add(1)
		return nil
	}
	return mem
}

// allocSlow is mempool_alloc after the allocator failed: take from the
// reserve, else retry the slab whenever a table may have been freed.
func (s *BioSet) allocSlow(b *Bio, ci int) {
	// Registered before reading gen, so that any free after our failed
	// attempt sees a waiter and bumps gen.
	s.waiters.Add(1)
	defer s.waiters.Add(-1)
	waited := false
	for {
		s.mu.Lock()
		if n := len(s.reserve); n > 0 {
			mem := s.reserve[n-1]
			s.reserve[n-1] = nil
			s.reserve = s.reserve[:n-1]
			s.mu.Unlock()
			b.setVecs(mem, vecsReserve, len(vecClasses)-1)
			s.reserveVecs.Add(1)
			s.reserveOut.Add(1)
			return
		}
		gen := s.gen
		s.mu.Unlock()

		if mem := s.trySlab(ci); mem != nil {
			b.setVecs(mem, vecsSlab, ci)
			s.slabVecs.Add(1)
			return
		}

		s.mu.Lock()
		if s.gen == gen && len(s.reserve) == 0 {
			if !waited {
				waited = true
				s.reserveWaits.Add(1)
			}
			for s.gen == gen {
				s.cond.Wait()
			}
		}
		s.mu.Unlock()
	}
}

// clone returns a bio sharing src's vecs and iterator, holding a reference
// on src (bio_alloc_clone).
func (s *BioSet) clone(src *Bio) *Bio {
	b := s.get()
	b.kind = vecsClone
	b.vecs = src.vecs
	b.Op, b.Flags, b.Offset = src.Op, src.Flags, src.Offset
	b.it = src.it
	src.Get()
	b.source = src
	s.clones.Add(1)
	return b
}

// free releases a bio whose last reference was dropped.
func (s *BioSet) free(b *Bio) {
	for i, p := range b.pages {
		p.Unref()
		b.pages[i] = nil
	}
	b.pages = b.pages[:0]
	for i, r := range b.iobrefs {
		r.Unref()
		b.iobrefs[i] = nil
	}
	b.iobrefs = b.iobrefs[:0]

	switch b.kind {
	case vecsSlab:
		if err := s.caches[b.class].Free(b.vecMem); err != nil {
			panic(fmt.Sprintf("bio set %q: freeing a bvec table: %v", s.name, err))
		}
		if s.waiters.Load() > 0 {
			s.wake()
		}
	case vecsReserve:
		s.mu.Lock()
		s.reserve = append(s.reserve, b.vecMem)
		s.gen++
		s.cond.Broadcast()
		s.mu.Unlock()
		s.reserveOut.Add(-1)
	}
	b.vecs, b.vecMem = nil, nil

	src, parent := b.source, b.parent
	b.EndIO, b.Private, b.source, b.parent, b.next, b.dev, b.waiter = nil, nil, nil, nil, nil, nil, nil
	b.status = nil
	s.frees.Add(1)
	if err := s.pool.Put(b); err != nil {
		panic(fmt.Sprintf("bio set %q: %v", s.name, err))
	}
	if src != nil {
		src.Put()
	}
	if parent != nil {
		// Freed while chained, without completing: the parent will never
		// complete either, but at least its memory is not leaked.
		parent.Put()
	}
}

// wake tells waiting allocators that a slab table was freed.
func (s *BioSet) wake() {
	s.mu.Lock()
	s.gen++
	s.cond.Broadcast()
	s.mu.Unlock()
}

// setVecAllocFailure installs (or with nil removes) a hook that makes slab
// allocations of bvec tables fail, to simulate memory pressure in tests.
func (s *BioSet) setVecAllocFailure(f func(nvecs int) bool) {
	if f == nil {
		s.failVecs.Store(nil)
	} else {
		s.failVecs.Store(&f)
	}
	if s.waiters.Load() > 0 {
		s.wake()
	}
}

// Close releases the reserve and the set's caches and pool. While bios of
// the set are allocated it returns an error wrapping ErrActive and releases
// nothing.
func (s *BioSet) Close() error {
	if a := s.active(); a > 0 {
		return fmt.Errorf("bio set %q: %d bios: %w", s.name, a, ErrActive)
	}
	s.mu.Lock()
	last := s.caches[len(s.caches)-1]
	for _, mem := range s.reserve {
		_ = last.Free(mem)
	}
	s.reserve = nil
	s.mu.Unlock()
	s.pool.Destroy()
	return s.closeCaches()
}

func (s *BioSet) closeCaches() error {
	var first error
	for i, c := range s.caches {
		if c == nil {
			continue
		}
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
		s.caches[i] = nil
	}
	return first
}

func (s *BioSet) active() int64 {
	f := s.frees.Load() // frees first: never negative under concurrency
	return int64(s.allocs.Load() - f)
}
