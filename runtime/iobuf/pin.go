package iobuf

import _ "unsafe" // for go:linkname

// procPin disables preemption and returns the id of the current P (the
// runtime's per-CPU scheduling context), as sync.Pool does. The pool only
// uses the id to choose a shard and unpins at once: every shard field is
// atomic or mutex-guarded, so sharing a shard (two Ps hashed to one, or a
// goroutine migrating mid-call) costs locality, never correctness.
//
// The runtime keeps procPin and procUnpin on its list of symbols packages
// outside the standard library may link to (runtime/proc.go, go.dev/issue/67401).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
