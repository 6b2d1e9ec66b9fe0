//go:build !invariants && !race

package slab

// invariants turns debug mode (poisoning, poison checks) on for every cache.
const invariants = false
