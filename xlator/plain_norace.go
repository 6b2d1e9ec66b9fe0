//go:build !race

package xlator

// Without the race detector the per-P statistics shards and the hop
// records are written with plain stores: only the goroutine pinned to a P
// writes its shard, and only the goroutine that owns a Call writes its
// hops. Readers (statedumps) load aligned words, which amd64 and arm64 never
// tear; a snapshot may be a moment old, which is all a statedump promises.
// Under -race the same fields use atomics (plain_race.go) so the detector
// sees the ordering it needs.

func st64(p *int64, v int64)  { *p = v }
func ld64(p *int64) int64     { return *p }
func add64(p *int64, v int64) { *p += v }
func st32(p *int32, v int32)  { *p = v }
func ld32(p *int32) int32     { return *p }
