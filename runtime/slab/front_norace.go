//go:build !race

package slab

// acquire gives the calling goroutine exclusive use of its P's shard by
// pinning it to the P; it returns nil (and does not pin) if the P has no
// shard. Between acquire and release the goroutine must not block, allocate
// or take locks.
func (c *Cache) acquire() (*shard, int) {
	pid := runtime_procPin()
	if pid >= len(c.shards) {
		runtime_procUnpin()
		return nil, pid
	}
	return &c.shards[pid], pid
}

func (c *Cache) release(*shard) { runtime_procUnpin() }
