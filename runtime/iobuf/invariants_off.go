//go:build !invariants && !race

package iobuf

// invariants is false in normal builds: debug checks run only for pools
// created with Config.Debug.
const invariants = false
