// Package pin gives the runtime's P pinning to the packages that keep
// per-P shards (iobuf, mempool, slab, xlator), from one place.
//
// Pin disables preemption and returns the id of the current P (the
// runtime's per-CPU scheduling context), as sync.Pool does; while pinned no
// other goroutine runs on that P, so the goroutine owns the P's shard
// without a lock. Every Pin must be paired with Unpin, and nothing between
// them may block.
//
// The runtime keeps procPin and procUnpin on its list of symbols packages
// outside the standard library may link to (runtime/proc.go,
// go.dev/issue/67401).
package pin

import _ "unsafe" // for go:linkname

// Pin pins the goroutine to its P and returns the P's id.
//
//go:linkname Pin runtime.procPin
func Pin() int

// Unpin ends a Pin.
//
//go:linkname Unpin runtime.procUnpin
func Unpin()
