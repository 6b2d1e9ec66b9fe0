package xlator

import _ "unsafe" // for go:linkname

// procPin pins the goroutine to its P and returns the P's id; the fop
// statistics keep one shard per P so that the hot path updates them with
// plain stores and no lock-prefixed instructions. sync.Pool uses the same
// runtime hooks.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()
