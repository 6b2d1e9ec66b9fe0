//go:build race

package slab

import (
	"sync/atomic"

	"github.com/xstack/xstack/internal/pin"
)

// acquire, in race builds, locks the shard instead of relying on the pin for
// exclusion: the race detector does not know that two goroutines pinned to
// one P in turn are ordered, nor about the membarrier handshake. The logic
// is otherwise the same, so -race tests cover it.
func (c *Cache) acquire() (*shard, int) {
	pid := pin.Pin()
	pin.Unpin()
	if pid >= len(c.shards) {
		return nil, pid
	}
	sh := &c.shards[pid].shard
	sh.mu.Lock()
	if sh.frozen.Load() != 0 {
		sh.mu.Unlock()
		return nil, pid
	}
	return sh, pid
}

func (c *Cache) release(sh *shard) { sh.mu.Unlock() }

// freeze sets frozen under each shard's lock: owners that come later see it
// and keep off, and their earlier use is ordered before ours by the lock.
func (c *Cache) freeze(shards []*shard) {
	for _, sh := range shards {
		sh.mu.Lock()
		if sh.frozen.Load() == 0 {
			sh.frozen.Store(frozenReclaim)
		}
		sh.mu.Unlock()
	}
}

func (c *Cache) thaw(shards []*shard) {
	for _, sh := range shards {
		sh.mu.Lock()
		sh.frozen.Store(0)
		sh.mu.Unlock()
	}
}

func loadOwned(st *atomic.Uint64) uint64     { return st.Load() }
func storeOwned(st *atomic.Uint64, w uint64) { st.Store(w) }
