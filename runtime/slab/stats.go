package slab

import "github.com/xstack/xstack/internal/nopools"

// Stats is a snapshot of one cache. Gauges (slab counts, active and cached
// objects, mapped bytes) describe the moment of the snapshot; counters count
// from the cache's creation and only grow. Under concurrent use the fields
// are read one by one, so they need not be mutually consistent; they are
// exact when the cache is quiescent.
type Stats struct {
	Name           string
	ObjectSize     int // Config.Size
	AlignedSize    int // distance between objects: ObjectSize rounded up to the alignment
	ObjectsPerSlab int
	PagesPerSlab   int

	Slabs        int // FullSlabs + PartialSlabs + FreeSlabs
	FullSlabs    int // no free object
	PartialSlabs int // some objects free
	FreeSlabs    int // every object free; candidates for Reap
	MappedBytes  int64

	ActiveObjects int64 // allocated and not yet freed
	FrontObjects  int   // free objects parked in front caches (or being moved to one)

	Allocs      uint64 // successful Allocs
	Frees       uint64 // successful Frees: Allocs - ActiveObjects
	FrontHits   uint64 // Allocs served by a front cache: Allocs - FrontMisses
	FrontMisses uint64 // Allocs that had to refill a front cache from the slabs
	Grows       uint64 // slabs mapped
	Reaped      uint64 // slabs unmapped (Reap, Shrink, Close)
	Errors      uint64 // bad frees: foreign, not an object start, double free
	Corruptions uint64 // debug mode: free objects found modified, now quarantined
}

// Sub returns the counters of s minus those of an earlier snapshot prev, for
// the activity over an interval. Identity fields and gauges are those of s.
func (s Stats) Sub(prev Stats) Stats {
	d := s
	d.Allocs -= prev.Allocs
	d.Frees -= prev.Frees
	d.FrontHits -= prev.FrontHits
	d.FrontMisses -= prev.FrontMisses
	d.Grows -= prev.Grows
	d.Reaped -= prev.Reaped
	d.Errors -= prev.Errors
	d.Corruptions -= prev.Corruptions
	return d
}

// Stats returns a snapshot of the cache. It reads every object's state word
// under the cache lock (that is where Allocs, ActiveObjects and FrontObjects
// come from, so the alloc and free paths share no counter), so its cost grows
// with the cache: it is meant for statedumps and tests, not hot paths.
func (c *Cache) Stats() Stats {
	st := Stats{
		Name:           c.name,
		ObjectSize:     c.g.size,
		AlignedSize:    c.g.asize,
		ObjectsPerSlab: c.g.perSlab,
		PagesPerSlab:   c.g.pages,
		FrontMisses:    c.misses.Load(),
		Grows:          c.grows.Load(),
		Reaped:         c.reaped.Load(),
		Errors:         c.errors.Load(),
		Corruptions:    c.corrupt.Load(),
	}
	c.mu.Lock()
	st.FullSlabs = c.full.n
	st.PartialSlabs = c.partial.n
	st.FreeSlabs = c.free.n
	st.MappedBytes = c.mapped
	st.Allocs = c.deadAllocs
	for _, l := range []*slabList{&c.full, &c.partial, &c.free} {
		for s := l.head; s != nil; s = s.next {
			for i := range s.state {
				w := s.state[i].Load()
				st.Allocs += genOf(w)
				switch kindOf(w) {
				case stateActive:
					st.ActiveObjects++
				case stateCached:
					st.FrontObjects++
				}
			}
		}
	}
	c.mu.Unlock()
	if nopools.On {
		st.Allocs = c.heap.allocs.Load()
		st.ActiveObjects = int64(st.Allocs - min(c.heap.frees.Load(), st.Allocs))
	}
	st.Slabs = st.FullSlabs + st.PartialSlabs + st.FreeSlabs
	st.Frees = st.Allocs - uint64(st.ActiveObjects)
	st.FrontHits = st.Allocs - min(st.FrontMisses, st.Allocs)
	return st
}
