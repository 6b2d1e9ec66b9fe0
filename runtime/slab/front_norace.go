//go:build !race

package slab

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/xstack/xstack/internal/pin"
)

// acquire gives the calling goroutine exclusive use of its P's shard by
// pinning it to the P. It returns nil (and does not pin) if the P has no
// shard or a thief has frozen it. Between acquire and release the goroutine
// must not block, allocate or take locks.
//
// The handshake with freeze is Dekker's: the owner announces itself in busy,
// then looks at frozen; the thief sets frozen, then looks at busy. Each side
// needs its store ordered before its load. The thief pays for both: after
// setting frozen it runs membarrier(2), which makes every running thread of
// the process execute a full barrier, so the owner's store and load only
// need to stay in program order (the Go compiler does not reorder memory
// operations). Where membarrier is not available (c.fenced) the owner's
// store is a sequentially consistent atomic instead, which costs about what
// a compare-and-swap does.
func (c *Cache) acquire() (*shard, int) {
	pid := pin.Pin()
	if pid < len(c.shards) {
		sh := &c.shards[pid].shard
		if c.fenced {
			atomic.StoreUint32(&sh.busy, 1)
		} else {
			sh.busy = 1
		}
		if sh.frozen.Load() == 0 { // an acquire load: the stack is read after it
			return sh, pid
		}
		leave(sh)
	}
	pin.Unpin()
	return nil, pid
}

func (c *Cache) release(sh *shard) {
	leave(sh)
	pin.Unpin()
}

// leave clears busy with release semantics, so that a thief that sees 0
// also sees the owner's last changes to the stack. On x86 every store is a
// release store; elsewhere an atomic store is (and is cheap there).
func leave(sh *shard) {
	if tso {
		sh.busy = 0
	} else {
		atomic.StoreUint32(&sh.busy, 0)
	}
}

// tso reports whether the CPU keeps stores in order (total store order), so
// that a plain store publishes everything written before it.
const tso = runtime.GOARCH == "amd64" || runtime.GOARCH == "386"

// freeze takes shards from their owners: once it returns no owner is inside
// acquire..release on them, and every later acquire of them fails until
// thaw. The caller may then use their stacks.
func (c *Cache) freeze(shards []*shard) {
	for _, sh := range shards {
		if sh.frozen.Load() == 0 {
			sh.frozen.Store(frozenReclaim)
		}
	}
	if !c.fenced {
		heavyBarrier()
	}
	for _, sh := range shards {
		for atomic.LoadUint32(&sh.busy) != 0 {
			// The owner is pinned and will not block; it can only have been
			// descheduled by the OS.
			runtime.Gosched()
		}
	}
}

// thaw gives frozen shards back to their owners.
func (c *Cache) thaw(shards []*shard) {
	for _, sh := range shards {
		sh.frozen.Store(0)
	}
}

// loadOwned and storeOwned access the state word of an object the caller
// owns (see state.go): no one else writes it meanwhile, and the word is
// never torn on 64-bit platforms, so plain accesses do. The race detector
// and 32-bit platforms get atomics.
func loadOwned(st *atomic.Uint64) uint64 {
	if wide {
		return *(*uint64)(unsafe.Pointer(st))
	}
	return st.Load()
}

func storeOwned(st *atomic.Uint64, w uint64) {
	if wide {
		*(*uint64)(unsafe.Pointer(st)) = w
		return
	}
	st.Store(w)
}

const wide = ^uint(0)>>32 != 0
