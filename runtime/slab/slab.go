package slab

import (
	"cmp"
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// slab is one mmap'd run of 2^n pages carved into objects. The mapping holds
// object bytes only; everything else lives here, on the Go heap.
//
// Fields other than state are guarded by Cache.mu.
type slab struct {
	mem    []byte  // the whole mapping, slabSize bytes, aligned to slabSize
	base   uintptr // address of mem[0]
	colour int     // offset of object 0 in mem

	free  []uint32        // stack of free object indices
	inuse int             // objects not on the freelist (cached, active or quarantined)
	state []atomic.Uint64 // per-object state words, see state.go and stateOf

	list       *slabList
	prev, next *slab
}

// stateRows is how many cache lines the state words of neighbouring objects
// are spread over. A refill hands a P a run of neighbouring objects, and as
// soon as one of them is freed on another P (a goroutine moved, or a
// producer hands buffers to a consumer), two Ps work on neighbours. If
// their state words shared a line, every Alloc and Free on one P would
// steal the line from the other, several times slower than the whole
// operation. So object idx's word sits in row idx%stateRows: objects fewer
// than stateRows apart never share a line. It is colouring for the
// bookkeeping; it costs at most stateRows cache lines per slab.
const stateRows = 8

// stateOf returns object idx's state word.
func (s *slab) stateOf(idx uint32, g *geometry) *atomic.Uint64 {
	return &s.state[int(idx%stateRows)*g.stateRow+int(idx/stateRows)]
}

// object returns object idx as a slice of exactly the object size.
func (s *slab) object(idx uint32, g *geometry) []byte {
	off := s.colour + int(idx)*g.asize
	return s.mem[off : off+g.size : off+g.size]
}

// mapSlab maps a slab of g.slabSize bytes aligned to its own size, so that
// the slab of any address is addr &^ (slabSize-1). Larger-than-page slabs are
// over-mapped by one slab and trimmed.
func mapSlab(g *geometry) ([]byte, error) {
	size := uintptr(g.slabSize)
	span := size
	if g.slabSize > pageSize {
		span = 2 * size
	}
	p, err := unix.MmapPtr(-1, 0, nil, span, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap %d bytes: %w", span, err)
	}
	if span != size {
		addr := uintptr(p)
		head := (size - addr&(size-1)) & (size - 1)
		if head > 0 {
			if err := unix.MunmapPtr(p, head); err != nil {
				return nil, fmt.Errorf("munmap slab head: %w", err)
			}
		}
		p = unsafe.Add(p, head)
		if tail := span - head - size; tail > 0 {
			if err := unix.MunmapPtr(unsafe.Add(p, size), tail); err != nil {
				return nil, fmt.Errorf("munmap slab tail: %w", err)
			}
		}
	}
	return unsafe.Slice((*byte)(p), size), nil
}

// unmap gives the slab's pages back to the OS.
func (s *slab) unmap() error {
	err := unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(s.mem)), uintptr(len(s.mem)))
	s.mem = nil
	return err
}

// slabList is an intrusive doubly linked list of slabs: the cache's full,
// partial and free lists. Guarded by Cache.mu.
type slabList struct {
	head *slab
	n    int
}

func (l *slabList) push(s *slab) {
	s.list, s.prev, s.next = l, nil, l.head
	if l.head != nil {
		l.head.prev = s
	}
	l.head = s
	l.n++
}

func (l *slabList) remove(s *slab) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.list, s.prev, s.next = nil, nil, nil
	l.n--
}

// leafBits is the fan-out of the slab index's leaves: one leaf covers 512
// consecutive slab-sized address ranges.
const leafBits = 9

type leaf struct {
	slots [1 << leafBits]atomic.Pointer[slab]
	n     int // used slots; guarded by Cache.mu
}

// index maps a slab number (address >> slabShift) to its slab. Lookups are
// lock-free, for Free; updates happen under Cache.mu. It is a two-level radix
// table: a copy-on-write array of leaves, sorted by slab number >> leafBits,
// each leaf a block of atomic slots. Slabs of one cache cluster in few
// leaves (mmap hands out neighbouring addresses), so the array is short and
// Free finds its leaf in a compare or two, without hashing; copying the
// array on the rare new or emptied leaf is cheap, while adding or removing
// a slab in an existing leaf is a single atomic store.
type index struct {
	top atomic.Pointer[[]leafRef]
}

type leafRef struct {
	key uintptr // slab number >> leafBits
	l   *leaf
}

func (x *index) init() {
	x.top.Store(&[]leafRef{})
}

func (x *index) find(key uintptr) *slab {
	top := *x.top.Load()
	hi := key >> leafBits
	// Binary search, written out so that it inlines.
	lo, n := 0, len(top)
	for n > 0 {
		half := n / 2
		if top[lo+half].key < hi {
			lo += half + 1
			n -= half + 1
		} else {
			n = half
		}
	}
	if lo == len(top) || top[lo].key != hi {
		return nil
	}
	return top[lo].l.slots[key&(1<<leafBits-1)].Load()
}

// first is find for slabs in the first leaf, which is all of them in most
// caches; it returns nil for any other key. Free calls it first because it
// inlines.
func (x *index) first(key uintptr) *slab {
	top := *x.top.Load()
	if len(top) == 0 || top[0].key != key>>leafBits {
		return nil
	}
	return top[0].l.slots[key&(1<<leafBits-1)].Load()
}

// search returns where the leaf for hi is, or would be inserted, in top.
func search(top []leafRef, hi uintptr) (int, bool) {
	return slices.BinarySearchFunc(top, hi, func(e leafRef, hi uintptr) int { return cmp.Compare(e.key, hi) })
}

// insert and remove must be called with Cache.mu held.
func (x *index) insert(key uintptr, s *slab) {
	old := *x.top.Load()
	hi := key >> leafBits
	i, ok := search(old, hi)
	if !ok {
		top := slices.Insert(slices.Clone(old), i, leafRef{hi, new(leaf)})
		x.top.Store(&top)
		old = top
	}
	l := old[i].l
	l.slots[key&(1<<leafBits-1)].Store(s)
	l.n++
}

func (x *index) remove(key uintptr) {
	old := *x.top.Load()
	i, _ := search(old, key>>leafBits)
	l := old[i].l
	l.slots[key&(1<<leafBits-1)].Store(nil)
	l.n--
	if l.n == 0 {
		top := slices.Delete(slices.Clone(old), i, i+1)
		x.top.Store(&top)
	}
}
