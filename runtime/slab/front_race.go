//go:build race

package slab

// acquire, in race builds, locks the shard instead of relying on the pin for
// exclusion: the race detector does not know that two goroutines pinned to
// one P in turn are ordered. The logic is otherwise the same, so -race tests
// cover it.
func (c *Cache) acquire() (*shard, int) {
	pid := runtime_procPin()
	runtime_procUnpin()
	if pid >= len(c.shards) {
		return nil, pid
	}
	sh := &c.shards[pid]
	sh.mu.Lock()
	return sh, pid
}

func (c *Cache) release(sh *shard) { sh.mu.Unlock() }
