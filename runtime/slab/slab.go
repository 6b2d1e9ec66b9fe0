package slab

import (
	"fmt"
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
	state []atomic.Uint64 // per-object state word, see state.go

	list       *slabList
	prev, next *slab
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
// table: a copy-on-write map from slab number >> leafBits to a leaf of atomic
// slots. Slabs of one cache cluster in few leaves, so the map stays small and
// copying it on the rare new leaf is cheap, while adding or removing a slab
// in an existing leaf is a single atomic store.
type index struct {
	top atomic.Pointer[map[uintptr]*leaf]
}

func (x *index) init() {
	m := map[uintptr]*leaf{}
	x.top.Store(&m)
}

func (x *index) find(key uintptr) *slab {
	l := (*x.top.Load())[key>>leafBits]
	if l == nil {
		return nil
	}
	return l.slots[key&(1<<leafBits-1)].Load()
}

// insert and remove must be called with Cache.mu held.
func (x *index) insert(key uintptr, s *slab) {
	old := *x.top.Load()
	l := old[key>>leafBits]
	if l == nil {
		l = new(leaf)
		m := make(map[uintptr]*leaf, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		m[key>>leafBits] = l
		x.top.Store(&m)
	}
	l.slots[key&(1<<leafBits-1)].Store(s)
	l.n++
}

func (x *index) remove(key uintptr) {
	old := *x.top.Load()
	l := old[key>>leafBits]
	l.slots[key&(1<<leafBits-1)].Store(nil)
	l.n--
	if l.n == 0 {
		m := make(map[uintptr]*leaf, len(old))
		for k, v := range old {
			if k != key>>leafBits {
				m[k] = v
			}
		}
		x.top.Store(&m)
	}
}
