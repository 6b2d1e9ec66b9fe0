package mempool

import _ "unsafe" // for go:linkname

// procPin disables preemption and returns the id of the current P (the
// runtime's per-CPU scheduling context), exactly as sync.Pool does. While
// pinned, no other goroutine can run on that P, so the goroutine owns the
// P's shard without a lock. It must be paired with procUnpin, and nothing
// between them may block.
//
// The runtime keeps procPin and procUnpin on its list of symbols that
// packages outside the standard library may link to (see the comments in
// runtime/proc.go), because widely used modules depend on them.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
