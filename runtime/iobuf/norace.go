//go:build !race

package iobuf

// raceEnabled is false in normal builds: owner-only shard fields use plain
// loads and stores (see shard.go).
const raceEnabled = false
