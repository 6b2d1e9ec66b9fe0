package slab

import (
	"fmt"
	"sync/atomic"
)

// heapCounts are a cache's figures in a nopools build (see package
// internal/nopools), where Alloc is make and Free forgets: there are no
// slabs and no state words to derive them from.
type heapCounts struct {
	allocs, frees atomic.Uint64
}

// heapAlloc is Alloc in a nopools build.
func (c *Cache) heapAlloc() ([]byte, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("cache %q: %w", c.name, ErrClosed)
	}
	c.heap.allocs.Add(1)
	return make([]byte, c.g.size), nil
}

// heapFree is Free in a nopools build: it counts, and leaves b to the
// garbage collector.
func (c *Cache) heapFree() error {
	c.heap.frees.Add(1)
	return nil
}
