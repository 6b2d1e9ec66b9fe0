// Package nopools tells the runtime's allocators whether the binary was
// built with the "nopools" tag. With it every pool and cache of the
// runtime hands out plain Go allocations instead: mem-pools (and with them
// the inode, fd, iobref and bio pools) return new(T) and forget what is
// put back, slab caches return make([]byte, Size), and the iobuf pool
// serves every buffer from the Go heap (except a Shared pool's, whose
// memory other processes map). It is the baseline that decides whether a
// pool earns its place: bench/pools.sh runs the same workloads both ways.
// Go's own sync.Pools stay, as they cooperate with the garbage collector.
package nopools
