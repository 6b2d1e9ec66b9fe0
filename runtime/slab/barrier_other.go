//go:build !linux

package slab

// haveHeavyBarrier reports false: without membarrier(2) the front-cache
// owners use a fenced store instead (see acquire).
func haveHeavyBarrier() bool { return false }

func heavyBarrier() { panic("slab: no heavy barrier on this platform") }
