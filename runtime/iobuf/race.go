//go:build race

package iobuf

// raceEnabled selects the synchronised variant of the owner-only accessors:
// the race detector does not know that procPin makes a goroutine the sole
// owner of a shard, so plain accesses by two goroutines that ran on the same
// P one after the other would be reported as races.
const raceEnabled = true
