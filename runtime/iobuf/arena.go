package iobuf

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// osPageSize is the unit of mmap and the alignment O_DIRECT needs.
var osPageSize = unix.Getpagesize()

// arena is one mapping of a class: numPages pages of pageSize bytes, and the
// Iobuf headers describing them, allocated once with the arena. The mapping
// holds bytes only; the headers live on the Go heap. All fields are guarded
// by the class lock.
type arena struct {
	id   int    // sequence number within the class, GlusterFS's arena index
	mem  []byte // the mapping, OS-page-aligned
	bufs []Iobuf
	free []*Iobuf // pages not out of the arena (LIFO keeps hot pages hot)

	taken     int       // pages out of the arena: held by callers or parked in CPU caches
	allocCnt  uint64    // pages handed out of the arena, ever
	maxActive int       // high-water mark of taken
	idleSince time.Time // when taken last dropped to 0; zero while taken > 0
}

// class is the shared back end of one page-size class: its arenas and the
// lock that guards them. The per-CPU caches in front of it (shard.go) make
// most Gets and Puts skip this lock.
type class struct {
	mu sync.Mutex

	pool     *Pool
	index    int
	pageSize int
	numPages int
	mapLen   int // bytes per arena mapping, rounded up to the OS page
	cacheCap int // pages a shard may park for this class (cacheSize)
	batch    int // pages moved between a shard and the class at once

	arenas    []*arena // oldest first; Get drains the oldest so younger ones can go idle
	nextID    int
	purged    uint64
	out       int           // pages out of all arenas
	gets      atomic.Uint64 // Gets counted outside the shards (Config.NoCPUCache)
	fallbacks atomic.Uint64 // Gets served from the heap because mmap failed
	maxOut    int           // high-water mark of out

	_ [64]byte // keep neighbouring classes' locks off this cache line
}

// takeLocked moves up to len(dst) free pages out of the arenas into dst,
// oldest arena first, and returns how many it moved.
func (c *class) takeLocked(dst []*Iobuf) int {
	n := 0
	for _, a := range c.arenas {
		for n < len(dst) && len(a.free) > 0 {
			k := len(a.free) - 1
			dst[n] = a.free[k]
			a.free[k] = nil
			a.free = a.free[:k]
			n++
			a.taken++
			a.allocCnt++
		}
		if a.taken > a.maxActive {
			a.maxActive = a.taken
		}
		if a.taken > 0 {
			a.idleSince = time.Time{}
		}
		if n == len(dst) {
			break
		}
	}
	c.out += n
	c.maxOut = max(c.maxOut, c.out)
	return n
}

// take fills dst with free pages, and returns how many: it tries the arenas,
// then pages parked in other CPUs' caches, then maps a new arena. It returns
// 0 only when mmap fails.
func (c *class) take(dst []*Iobuf) int {
	c.mu.Lock()
	n := c.takeLocked(dst)
	c.mu.Unlock()
	if n > 0 {
		return n
	}
	// Free pages may be parked in other CPUs' caches; reclaim them before
	// growing, so a class grows only when its pages really are in use.
	if c.pool.cacheOn {
		c.pool.flushClass(c.index)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n = c.takeLocked(dst); n > 0 {
		return n
	}
	if c.pool.closed.Load() {
		panic(ErrClosed)
	}
	if !c.mapArenaLocked() {
		return 0
	}
	return c.takeLocked(dst)
}

// give returns pages to their arenas.
func (c *class) give(bufs []*Iobuf) {
	if len(bufs) == 0 {
		return
	}
	var now time.Time
	c.mu.Lock()
	c.out -= len(bufs)
	for _, b := range bufs {
		a := b.arena
		a.free = append(a.free, b)
		a.taken--
		if a.taken == 0 {
			if now.IsZero() {
				now = time.Now()
			}
			a.idleSince = now
		}
	}
	c.mu.Unlock()
}

// mapArenaLocked maps a new arena and appends it to c.arenas.
func (c *class) mapArenaLocked() bool {
	mem, err := c.pool.mapMem(c.mapLen)
	if err != nil {
		c.pool.log.Error("iobuf: mmap of a new arena failed; serving from the heap",
			zap.Int("page_size", c.pageSize), zap.Int("bytes", c.mapLen), zap.Error(err))
		return false
	}
	c.nextID++
	a := &arena{
		id:   c.nextID,
		mem:  mem,
		bufs: make([]Iobuf, c.numPages),
		free: make([]*Iobuf, c.numPages),
	}
	for i := range a.bufs {
		b := &a.bufs[i]
		off := i * c.pageSize
		b.data = mem[off : off+c.pageSize : off+c.pageSize]
		b.class = int32(c.index)
		b.pool = c.pool
		b.arena = a
		// Reversed so that the first Get takes page 0.
		a.free[c.numPages-1-i] = b
	}
	if c.pool.debug {
		poison(mem)
	}
	a.idleSince = time.Now()
	c.arenas = append(c.arenas, a)
	if c.pool.shared.contains(mem) {
		c.pool.shared.register(a, c.pageSize)
	}
	c.pool.mappedBytes.Add(int64(c.mapLen))
	return true
}

// purgeLocked unmaps arenas that have been fully unused since before cutoff,
// keeping at least one arena mapped unless keepNone, and returns the bytes
// unmapped.
func (c *class) purgeLocked(cutoff time.Time, keepNone bool) int64 {
	idle := func(a *arena) bool {
		return a.taken == 0 && !a.idleSince.IsZero() && !a.idleSince.After(cutoff)
	}
	// Keep one arena so that a trickle of requests does not map and unmap
	// an arena every round: the oldest, which Get drains first.
	exempt := -1
	if !keepNone && !slices.ContainsFunc(c.arenas, func(a *arena) bool { return !idle(a) }) {
		exempt = 0
	}
	var freed int64
	kept := c.arenas[:0]
	for i, a := range c.arenas {
		if i == exempt || !idle(a) || c.unmap(a) != nil {
			kept = append(kept, a)
			continue
		}
		freed += int64(c.mapLen)
	}
	clear(c.arenas[len(kept):])
	c.arenas = kept
	return freed
}

// unmap releases a's mapping. Its headers lose their data so that a stale
// pointer to one of them fails with a Go panic rather than a fault.
func (c *class) unmap(a *arena) error {
	if err := c.pool.unmapMem(a.mem); err != nil {
		c.pool.log.Error("iobuf: munmap of an idle arena failed; keeping it",
			zap.Int("page_size", c.pageSize), zap.Int("arena", a.id), zap.Error(err))
		return err
	}
	for i := range a.bufs {
		a.bufs[i].data = nil
	}
	a.mem = nil
	a.free = nil
	c.purged++
	c.pool.mappedBytes.Add(-int64(c.mapLen))
	return nil
}

// held counts a's pages that callers hold (a positive reference count),
// leaving out those parked free in CPU caches. The caller holds the class
// lock, which keeps a mapped.
func (a *arena) held() int {
	n := 0
	for i := range a.bufs {
		if atomic.LoadInt32(&a.bufs[i].refs) > 0 {
			n++
		}
	}
	return n
}

// base returns the address of a's mapping, for stats.
func (a *arena) base() uintptr {
	if len(a.mem) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(a.mem)))
}

// mapMem maps n bytes for an arena: from the shared file when the pool
// has one and it has room, else anonymous memory.
func (p *Pool) mapMem(n int) ([]byte, error) {
	if p.shared != nil {
		if mem := p.shared.alloc(n); mem != nil {
			return mem, nil
		}
	}
	return mapArena(n)
}

// unmapMem undoes mapMem.
func (p *Pool) unmapMem(mem []byte) error {
	if p.shared.contains(mem) {
		return p.shared.release(mem)
	}
	return unmapArena(mem)
}

// hugePage is the size of a transparent huge page on amd64 and arm64.
const hugePage = 2 << 20

// mapArena maps n bytes for an arena. Arenas of a huge page or more are
// aligned to 2 MiB and advised MADV_HUGEPAGE: the kernel can then back
// them with huge pages, which makes pinning them for O_DIRECT IO (256
// small pages per 1 MiB otherwise) and the TLB cheaper. Where the kernel
// says no to the advice, the arena works on small pages as before. The
// mappings are made and unmade with the raw calls (unix.MmapPtr), since
// an aligned arena is a part of a larger mapping.
func mapArena(n int) ([]byte, error) {
	const prot, flags = unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	huge := n >= hugePage && n%hugePage == 0
	length := uintptr(n)
	if huge {
		length += hugePage
	}
	p, err := unix.MmapPtr(-1, 0, nil, length, prot, flags)
	if err != nil {
		return nil, err
	}
	base := uintptr(p)
	if huge {
		head := (hugePage - base%hugePage) % hugePage
		if head > 0 {
			if err := unix.MunmapPtr(p, head); err != nil {
				return nil, err
			}
		}
		if tail := length - head - uintptr(n); tail > 0 {
			if err := unix.MunmapPtr(unsafe.Add(p, head+uintptr(n)), tail); err != nil {
				return nil, err
			}
		}
		p = unsafe.Add(p, head)
	}
	mem := unsafe.Slice((*byte)(p), n)
	if huge {
		_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	}
	return mem, nil
}

// unmapArena unmaps an arena mapArena made.
func unmapArena(mem []byte) error {
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(mem)), uintptr(len(mem)))
}
