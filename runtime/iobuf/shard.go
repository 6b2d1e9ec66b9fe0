package iobuf

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/xstack/xstack/internal/pin"
)

// The per-CPU front end. Each P (the runtime's per-CPU scheduling context)
// owns a shard; each shard keeps, per class:
//
//   - a private slot of one free page, touched only by a goroutine pinned to
//     the P (procPin), so a Get that finds it full and an Unref that finds it
//     empty need neither a lock nor an atomic read-modify-write, as in
//     sync.Pool;
//   - a short stack of free pages under the shard's mutex, uncontended because
//     the shard belongs to one P, which other goroutines can reclaim (Purge,
//     Stats, a class that ran dry);
//   - the count of Gets served there, written only by the owner.
//
// Only when the stack is empty (or full) does a call take the class lock, and
// then for a batch of pages. The private slot is out of reach of other
// goroutines, so each P may keep one free page per class that Purge cannot
// unmap until that P uses the class again; classes of fewer than four pages
// per arena (1 MiB ×2 by default) have no CPU cache at all.

// maxBatch bounds the pages moved between a shard and its class at once.
const maxBatch = 16

type shard struct {
	mu  sync.Mutex
	cls []shardClass

	iobrefsNew  int64 // owner-only; read atomically
	iobrefsFree int64 // owner-only; read atomically

	_ [64]byte // shards are allocated side by side; keep them on separate lines
}

type shardClass struct {
	private unsafe.Pointer // *Iobuf; owner-only (see ldPrivate)
	gets    int64          // Gets served by this class on this shard; owner-only
	stack   []*Iobuf       // free pages; guarded by shard.mu; cap is the class's cacheCap
	_       [24]byte
}

// The accessors below are for a goroutine pinned to the shard's P. Normal
// builds use plain loads and stores: the owner is the only writer, and on the
// 64-bit platforms Go supports an aligned word store is never torn, so a
// reader's atomic load sees the old or the new value. Under the race detector
// they are atomic, which gives the detector the happens-before edges that
// procPin gives the real program.

func ld64(p *int64) int64 {
	if raceEnabled {
		return atomic.LoadInt64(p)
	}
	return *p
}

func st64(p *int64, v int64) {
	if raceEnabled {
		atomic.StoreInt64(p, v)
		return
	}
	*p = v
}

func (sc *shardClass) ldPrivate() *Iobuf {
	if raceEnabled {
		return (*Iobuf)(atomic.LoadPointer(&sc.private))
	}
	return (*Iobuf)(sc.private)
}

func (sc *shardClass) stPrivate(b *Iobuf) {
	if raceEnabled {
		atomic.StorePointer(&sc.private, unsafe.Pointer(b))
		return
	}
	sc.private = unsafe.Pointer(b)
}

// cacheSize returns how many pages a shard's stack may hold for a class and
// how many pages move per refill: a quarter of an arena, at most 32 pages
// and at most 1 MiB, so that CPU caches never pin much memory. A class
// whose arenas are too small for a stack (the 1 MiB class: two pages an
// arena) still has each P's private slot, so that a steady get and put on
// one P (a FUSE WRITE's 1 MiB iobuf) never takes the class lock.
func cacheSize(pageSize, numPages int) (capacity, batch int) {
	capacity = min(2*maxBatch, numPages/4, max(1, (1<<20)/pageSize))
	batch = max(1, capacity/2)
	return capacity, batch
}

// getSlow serves a Get the private slot could not: from shard s's stack (s
// is nil when the P has no shard), else a batch from the class, the extra
// pages going to the stack. It returns nil only when the class cannot grow
// (mmap failed). The caller is not pinned.
func (p *Pool) getSlow(s *shard, ci int) *Iobuf {
	c := p.classes[ci]
	if s == nil || c.cacheCap == 0 {
		var one [1]*Iobuf
		if c.take(one[:]) == 0 {
			return nil
		}
		return one[0]
	}
	sc := &s.cls[ci]
	s.mu.Lock()
	if k := len(sc.stack) - 1; k >= 0 {
		b := sc.stack[k]
		sc.stack[k] = nil
		sc.stack = sc.stack[:k]
		s.mu.Unlock()
		return b
	}
	s.mu.Unlock()
	var buf [maxBatch]*Iobuf
	n := c.take(buf[:c.batch])
	if n == 0 {
		return nil
	}
	if n > 1 {
		// Another goroutine that ran on this P may have filled the stack
		// meanwhile; whatever does not fit goes back.
		s.mu.Lock()
		room := min(n-1, cap(sc.stack)-len(sc.stack))
		sc.stack = append(sc.stack, buf[1:1+room]...)
		s.mu.Unlock()
		c.give(buf[1+room : n])
	}
	return buf[0]
}

// put parks a free page in the current P's shard, or returns it to its
// class.
func (p *Pool) put(b *Iobuf) {
	c := p.classes[b.class]
	if !p.cacheOn {
		p.give1(c, b)
		return
	}
	pid := pin.Pin()
	var s *shard
	if pid < len(p.shards) {
		s = &p.shards[pid]
	} else {
		s = p.shardSlow(pid)
	}
	sc := &s.cls[b.class]
	if sc.ldPrivate() == nil {
		sc.stPrivate(b)
		pin.Unpin()
		return
	}
	pin.Unpin() // the mutex may block; s stays a fine home if we migrate
	if c.cacheCap == 0 {
		p.give1(c, b)
		return
	}
	var spill [maxBatch]*Iobuf
	n := 0
	s.mu.Lock()
	if len(sc.stack) == cap(sc.stack) {
		// Full: hand back the older half, keep the recently used pages.
		n = copy(spill[:c.batch], sc.stack)
		rest := copy(sc.stack, sc.stack[n:])
		clear(sc.stack[rest:])
		sc.stack = sc.stack[:rest]
	}
	sc.stack = append(sc.stack, b)
	s.mu.Unlock()
	c.give(spill[:n])
}

func (p *Pool) give1(c *class, b *Iobuf) {
	one := [1]*Iobuf{b}
	c.give(one[:])
}

// flushClass returns every page parked in the shards' stacks for class ci
// to its arenas. Private slots are out of its reach.
func (p *Pool) flushClass(ci int) {
	c := p.classes[ci]
	var spill [2 * maxBatch]*Iobuf
	p.eachShard(func(s *shard) {
		sc := &s.cls[ci]
		s.mu.Lock()
		n := copy(spill[:], sc.stack)
		clear(sc.stack)
		sc.stack = sc.stack[:0]
		s.mu.Unlock()
		c.give(spill[:n])
	})
}

// flush returns every page parked in the shards' stacks to its arena.
func (p *Pool) flush() {
	if !p.cacheOn {
		return
	}
	for ci := range p.classes {
		p.flushClass(ci)
	}
}

// initShard makes s's per-class stacks.
func (p *Pool) initShard(s *shard) {
	s.cls = make([]shardClass, len(p.classes))
	for ci, c := range p.classes {
		s.cls[ci].stack = make([]*Iobuf, 0, c.cacheCap)
	}
}

// shardSlow returns the shard of a P past p.shards, making it first if
// needed; the goroutine is pinned on entry and on return, but may have
// moved to another P in between.
func (p *Pool) shardSlow(pid int) *shard {
	for {
		if pid < len(p.shards) {
			return &p.shards[pid]
		}
		if s := p.extra.Lookup(pid - len(p.shards)); s != nil {
			return s
		}
		pin.Unpin()
		p.extra.Grow(max(pid+1, runtime.GOMAXPROCS(0))-len(p.shards), func() *shard {
			s := new(shard)
			p.initShard(s)
			return s
		})
		pid = pin.Pin()
	}
}

// eachShard calls fn for every shard, those of the Ps past p.shards too.
func (p *Pool) eachShard(fn func(*shard)) {
	for i := range p.shards {
		fn(&p.shards[i])
	}
	for _, s := range p.extra.All() {
		fn(s)
	}
}
