package slab

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry lists caches by name, for statedump and for reaping them all. It
// is the only place caches are found by name; there is no global registry.
// All methods are safe for concurrent use.
type Registry struct {
	mu     sync.Mutex
	caches map[string]*Cache

	reaperMu sync.Mutex
	stop     chan struct{} // closed to stop the reaper; nil when not running
	done     chan struct{} // closed by the reaper when it has stopped

	// What Reap and Shrink gave back, for ReapStats.
	reaps, reapedSlabs, shrinks, shrunkSlabs atomic.Uint64
	reapedBytes, shrunkBytes                 atomic.Int64
	lastReap, lastShrink                     atomic.Int64 // unix nanoseconds; 0 for never
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{caches: map[string]*Cache{}}
}

// NewCache creates a cache and lists it under name. It fails with an error
// wrapping ErrDuplicateName if the name is taken, or ErrInvalidConfig. The
// cache leaves the registry when its Close returns nil.
func (r *Registry) NewCache(name string, cfg Config) (*Cache, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.caches[name]; ok {
		return nil, fmt.Errorf("cache %q: %w; pick another name or close the existing cache", name, ErrDuplicateName)
	}
	c, err := newCache(name, cfg, r)
	if err != nil {
		return nil, err
	}
	r.caches[name] = c
	return c, nil
}

func (r *Registry) remove(c *Cache) {
	r.mu.Lock()
	if r.caches[c.name] == c {
		delete(r.caches, c.name)
	}
	r.mu.Unlock()
}

// Caches returns the registered caches sorted by name.
func (r *Registry) Caches() []*Cache {
	r.mu.Lock()
	cs := make([]*Cache, 0, len(r.caches))
	for _, c := range r.caches {
		cs = append(cs, c)
	}
	r.mu.Unlock()
	slices.SortFunc(cs, func(a, b *Cache) int { return strings.Compare(a.name, b.name) })
	return cs
}

// Stats returns a snapshot of every registered cache, sorted by name.
func (r *Registry) Stats() []Stats {
	cs := r.Caches()
	st := make([]Stats, len(cs))
	for i, c := range cs {
		st[i] = c.Stats()
	}
	return st
}

// Reap reaps every registered cache (see Cache.Reap) and returns the total
// number of slabs unmapped. ReapStats counts the call and what it returned.
func (r *Registry) Reap() int {
	n, bytes := r.each((*Cache).Reap)
	r.reaps.Add(1)
	r.reapedSlabs.Add(uint64(n))
	r.reapedBytes.Add(bytes)
	r.lastReap.Store(time.Now().UnixNano())
	return n
}

// Shrink shrinks every registered cache (see Cache.Shrink), the registry's
// answer to memory pressure, and returns the bytes unmapped. ReapStats
// counts the call and what it returned.
func (r *Registry) Shrink() int64 {
	n, bytes := r.each((*Cache).Shrink)
	r.shrinks.Add(1)
	r.shrunkSlabs.Add(uint64(n))
	r.shrunkBytes.Add(bytes)
	r.lastShrink.Store(time.Now().UnixNano())
	return bytes
}

// each calls give on every registered cache and returns the slabs it
// unmapped in all and their bytes.
func (r *Registry) each(give func(*Cache) int) (slabs int, bytes int64) {
	for _, c := range r.Caches() {
		k := give(c)
		slabs += k
		bytes += int64(k) * int64(c.g.slabSize)
	}
	return slabs, bytes
}

// MappedBytes returns the bytes of slabs the registered caches have mapped
// now: their share of the process's memory outside the Go heap. It takes
// each cache's lock briefly and walks no slab, unlike Stats.
func (r *Registry) MappedBytes() int64 {
	var n int64
	for _, c := range r.Caches() {
		c.mu.Lock()
		n += c.mapped
		c.mu.Unlock()
	}
	return n
}

// ReapStats counts what a registry's Reap (the reaper's periodic pass) and
// Shrink (memory pressure) calls gave back to the OS. Counters only grow.
type ReapStats struct {
	Reaps       uint64    `json:"reaps"`
	ReapedSlabs uint64    `json:"reaped-slabs"`
	ReapedBytes int64     `json:"reaped-bytes"`
	LastReap    time.Time `json:"last-reap"` // zero if never
	Shrinks     uint64    `json:"shrinks"`
	ShrunkSlabs uint64    `json:"shrunk-slabs"`
	ShrunkBytes int64     `json:"shrunk-bytes"`
	LastShrink  time.Time `json:"last-shrink"` // zero if never
}

// ReapStats returns a snapshot of what Reap and Shrink returned so far.
func (r *Registry) ReapStats() ReapStats {
	at := func(ns int64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, ns)
	}
	return ReapStats{
		Reaps: r.reaps.Load(), ReapedSlabs: r.reapedSlabs.Load(), ReapedBytes: r.reapedBytes.Load(),
		LastReap: at(r.lastReap.Load()),
		Shrinks:  r.shrinks.Load(), ShrunkSlabs: r.shrunkSlabs.Load(), ShrunkBytes: r.shrunkBytes.Load(),
		LastShrink: at(r.lastShrink.Load()),
	}
}

// StartReaper starts a goroutine that calls Reap every interval until
// StopReaper. It fails with ErrReaperRunning if one is already running.
func (r *Registry) StartReaper(interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("reaper interval %v must be positive: %w", interval, ErrInvalidConfig)
	}
	r.reaperMu.Lock()
	defer r.reaperMu.Unlock()
	if r.stop != nil {
		return ErrReaperRunning
	}
	stop, done := make(chan struct{}), make(chan struct{})
	r.stop, r.done = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.Reap()
			}
		}
	}()
	return nil
}

// StopReaper stops the reaper and waits for its goroutine to end. It does
// nothing if no reaper is running.
func (r *Registry) StopReaper() {
	r.reaperMu.Lock()
	defer r.reaperMu.Unlock()
	if r.stop == nil {
		return
	}
	close(r.stop)
	<-r.done
	r.stop, r.done = nil, nil
}
