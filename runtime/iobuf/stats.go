package iobuf

import (
	"fmt"
	"sync/atomic"
)

// Stats is a snapshot of a pool, named after the keys of GlusterFS's iobuf
// statedump so that its readers feel at home. Counters (AllocCnt,
// RequestMisses, RefUnderflows, UseAfterFree, Purged) only grow; Sub gives the
// change over an interval. The rest are gauges.
//
// The leak signal is the one GlusterFS's docs use: once a workload is done,
// every class is back to ActiveCnt 0 (and StdallocActive, IobrefActive to 0).
type Stats struct {
	DefaultPageSize int    `json:"default_page_size"`
	ArenaSize       int64  `json:"arena_size"` // bytes of one arena of every class: 12976128 for the default table
	ArenaCnt        int    `json:"arena_cnt"`  // arenas currently mapped
	RequestMisses   uint64 `json:"request_misses"`
	MappedBytes     int64  `json:"mapped_bytes"` // bytes of arenas currently mapped
	StdallocActive  int64  `json:"stdalloc_active"`
	StdallocBytes   int64  `json:"stdalloc_bytes"`
	IobrefActive    int64  `json:"iobref_active"`
	RefUnderflows   uint64 `json:"ref_underflows"`
	UseAfterFree    uint64 `json:"use_after_free"`
	Purged          uint64 `json:"purged_arenas"`
	// SharedFileBytes is the memory a Shared pool's file holds (its
	// allocated blocks, whichever process made it allocate them) and
	// SharedIdleBytes the part of the file no arena uses now: ranges of
	// unmapped arenas, kept for the next ones since the file's seals
	// forbid giving them back. SharedFileBytes well above MappedBytes +
	// SharedIdleBytes means another process made the file allocate
	// memory of its own. Both are 0 without Config.Shared.
	SharedFileBytes int64 `json:"shared_file_bytes"`
	SharedIdleBytes int64 `json:"shared_idle_bytes"`

	Classes []ClassStats `json:"classes"`
}

// ClassStats describes one page-size class and its arenas.
type ClassStats struct {
	PageSize   int   `json:"page_size"`
	NumPages   int   `json:"num_pages"`   // pages per arena
	ActiveCnt  int64 `json:"active_cnt"`  // iobufs held by callers
	PassiveCnt int64 `json:"passive_cnt"` // free pages in mapped arenas
	// AllocCnt counts Gets served by the class.
	AllocCnt uint64 `json:"alloc_cnt"`
	// MaxActive is the high-water mark of ActiveCnt. With per-CPU caches
	// it also counts pages that were parked in them at the time, so it
	// bounds the true peak from above; with Config.NoCPUCache it is exact.
	MaxActive int64 `json:"max_active"`

	Arenas []ArenaStats `json:"arenas"`
}

// Arena states, GlusterFS's list names: an arena with free and used pages, a
// full one, and an unused one (a purge candidate).
const (
	StateArena  = "arena"
	StateFilled = "filled"
	StatePurge  = "purge"
)

// ArenaStats describes one mapped arena.
type ArenaStats struct {
	Index      int     `json:"index"`    // sequence number within the class, from 1
	MemBase    uintptr `json:"mem_base"` // address of the mapping
	State      string  `json:"state"`    // StateArena, StateFilled or StatePurge
	PageSize   int     `json:"page_size"`
	ActiveCnt  int64   `json:"active_cnt"`
	PassiveCnt int64   `json:"passive_cnt"`
	AllocCnt   uint64  `json:"alloc_cnt"` // pages handed out of this arena
	MaxActive  int64   `json:"max_active"`
}

// Stats returns a snapshot of the pool. When no other goroutine is using the
// pool every count is exact: ActiveCnt is exactly the iobufs callers hold
// (pages parked in per-CPU caches count as passive). Under concurrent use
// each figure is a recent value but the set is not one instant's. Stats is
// safe for concurrent use and does not disturb the caches.
func (p *Pool) Stats() Stats {
	s := Stats{
		DefaultPageSize: p.defSize,
		ArenaSize:       p.arenaSize,
		RequestMisses:   p.requestMisses.Load(),
		MappedBytes:     p.mappedBytes.Load(),
		StdallocActive:  p.stdActive.Load(),
		StdallocBytes:   p.stdBytes.Load(),
		IobrefActive:    p.iobrefActive(),
		RefUnderflows:   p.refUnderflows.Load(),
		UseAfterFree:    p.useAfterFree.Load(),
		Classes:         make([]ClassStats, len(p.classes)),
	}
	if p.shared != nil {
		s.SharedFileBytes, s.SharedIdleBytes = p.shared.usage()
	}
	for ci, c := range p.classes {
		cs := &s.Classes[ci]
		cs.PageSize, cs.NumPages = c.pageSize, c.numPages
		gets := int64(c.gets.Load()) - int64(c.fallbacks.Load())
		p.eachShard(func(s *shard) { gets += atomic.LoadInt64(&s.cls[ci].gets) })
		cs.AllocCnt = uint64(max(gets, 0))
		c.mu.Lock()
		s.Purged += c.purged
		cs.MaxActive = int64(c.maxOut)
		cs.Arenas = make([]ArenaStats, len(c.arenas))
		for i, a := range c.arenas {
			held := int64(a.held())
			as := ArenaStats{
				Index:      a.id,
				MemBase:    a.base(),
				PageSize:   c.pageSize,
				ActiveCnt:  held,
				PassiveCnt: int64(c.numPages) - held,
				AllocCnt:   a.allocCnt,
				MaxActive:  int64(a.maxActive),
			}
			switch {
			case held == 0:
				as.State = StatePurge
			case as.PassiveCnt == 0:
				as.State = StateFilled
			default:
				as.State = StateArena
			}
			cs.Arenas[i] = as
			cs.ActiveCnt += as.ActiveCnt
			cs.PassiveCnt += as.PassiveCnt
		}
		c.mu.Unlock()
		s.ArenaCnt += len(cs.Arenas)
	}
	return s
}

// Sub returns the change from prev to s: counters become differences, gauges
// and arena lists stay s's. prev must come from the same pool.
func (s Stats) Sub(prev Stats) Stats {
	d := s
	d.RequestMisses -= prev.RequestMisses
	d.RefUnderflows -= prev.RefUnderflows
	d.UseAfterFree -= prev.UseAfterFree
	d.Purged -= prev.Purged
	d.Classes = make([]ClassStats, len(s.Classes))
	copy(d.Classes, s.Classes)
	for i := range d.Classes {
		if i < len(prev.Classes) {
			d.Classes[i].AllocCnt -= prev.Classes[i].AllocCnt
		}
	}
	return d
}

// Active returns the iobufs held by callers across all classes plus the heap
// (stdalloc) iobufs: zero once a workload has released everything.
func (s Stats) Active() int64 {
	n := s.StdallocActive
	for _, c := range s.Classes {
		n += c.ActiveCnt
	}
	return n
}

// Fields calls emit for every figure under GlusterFS's statedump keys: the
// pool's as "iobuf_pool.<key>", then for every arena of every class, in
// class order and numbered from 1 across the pool as GlusterFS does,
// "<state>.<n>.<key>" where state is arena, filled or purge. A statedump
// writer renders them as "key=value" lines. Pool-wide additions that
// GlusterFS lacks, and per-class totals, use the same scheme
// ("iobuf_pool.mapped_bytes", "class.<page_size>.active_cnt").
func (s Stats) Fields(emit func(key string, value any)) {
	emit("iobuf_pool.default_page_size", s.DefaultPageSize)
	emit("iobuf_pool.arena_size", s.ArenaSize)
	emit("iobuf_pool.arena_cnt", s.ArenaCnt)
	emit("iobuf_pool.request_misses", s.RequestMisses)
	emit("iobuf_pool.mapped_bytes", s.MappedBytes)
	emit("iobuf_pool.stdalloc_active", s.StdallocActive)
	emit("iobuf_pool.stdalloc_bytes", s.StdallocBytes)
	emit("iobuf_pool.iobref_active", s.IobrefActive)
	emit("iobuf_pool.ref_underflows", s.RefUnderflows)
	emit("iobuf_pool.use_after_free", s.UseAfterFree)
	emit("iobuf_pool.purged_arenas", s.Purged)
	if s.SharedFileBytes != 0 || s.SharedIdleBytes != 0 {
		emit("iobuf_pool.shared_file_bytes", s.SharedFileBytes)
		emit("iobuf_pool.shared_idle_bytes", s.SharedIdleBytes)
	}
	for _, c := range s.Classes {
		pre := fmt.Sprintf("class.%d.", c.PageSize)
		emit(pre+"page_size", c.PageSize)
		emit(pre+"active_cnt", c.ActiveCnt)
		emit(pre+"passive_cnt", c.PassiveCnt)
		emit(pre+"alloc_cnt", c.AllocCnt)
		emit(pre+"max_active", c.MaxActive)
	}
	n := 0
	for _, c := range s.Classes {
		for _, a := range c.Arenas {
			n++
			pre := fmt.Sprintf("%s.%d.", a.State, n)
			emit(pre+"mem_base", fmt.Sprintf("%#x", a.MemBase))
			emit(pre+"active_cnt", a.ActiveCnt)
			emit(pre+"passive_cnt", a.PassiveCnt)
			emit(pre+"alloc_cnt", a.AllocCnt)
			emit(pre+"max_active", a.MaxActive)
			emit(pre+"page_size", a.PageSize)
		}
	}
}
