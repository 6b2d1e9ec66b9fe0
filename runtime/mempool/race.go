//go:build race

package mempool

// raceEnabled selects the synchronised variant of the shard accessors: the
// race detector does not know that procPin makes a goroutine the sole owner
// of a shard, so plain accesses from two goroutines that ran on the same P
// one after the other would be reported as races.
const raceEnabled = true
