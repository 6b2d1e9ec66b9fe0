//go:build invariants

package slab

// invariants turns debug mode (poisoning, poison checks) on for every cache.
const invariants = true
