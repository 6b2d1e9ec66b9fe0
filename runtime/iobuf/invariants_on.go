//go:build invariants || race

package iobuf

// invariants turns debug mode (page poisoning and use-after-free checks) on
// for every pool, whatever Config.Debug says.
const invariants = true
