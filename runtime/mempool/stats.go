package mempool

import "strconv"

// Stats is a snapshot of one pool's counters, named as GlusterFS
// statedumps name them. The first group is what GlusterFS 4 and later
// print for a mem-pool, the second what GlusterFS 3.x printed, the third
// is xstack's own. Stats is a plain value: it does not change after it is
// returned. Fields lists the fields under their GlusterFS keys; the JSON
// encoding uses the same keys.
type Stats struct {
	Name         string `json:"pool-name"`     // "owner:name"
	Owner        string `json:"xlator-name"`   // volume that owns the pool
	Active       int64  `json:"active-count"`  // objects out (same as Hot)
	SizeofType   int64  `json:"sizeof-type"`   // unsafe.Sizeof(T)
	PaddedSizeof int64  `json:"padded-sizeof"` // bytes per object with its state word
	Size         int64  `json:"size"`          // PaddedSizeof × Active

	Hot         int64 `json:"hot-count"`    // objects out, preallocated or heap
	Cold        int64 `json:"cold-count"`   // free objects: preallocated plus kept heap ones
	AllocCount  int64 `json:"alloc-count"`  // Gets since New
	MaxAlloc    int64 `json:"max-alloc"`    // high-water of Hot (sampled, see Pool.Stats)
	Misses      int64 `json:"pool-misses"`  // Gets the chunk could not serve
	CurStdalloc int64 `json:"cur-stdalloc"` // heap objects alive (out or kept cold)
	MaxStdalloc int64 `json:"max-stdalloc"` // high-water of CurStdalloc

	PutErrors   int64 `json:"put-errors"`     // refused Puts: DoublePuts + ForeignPuts
	DoublePuts  int64 `json:"double-puts"`    // Puts of an object already free
	ForeignPuts int64 `json:"foreign-puts"`   // Puts of a pointer the pool never gave out
	Prealloc    int64 `json:"prealloc-count"` // objects in the preallocated chunk
}

// Sub returns the change from prev to s for interval reporting: the
// lifetime counters (alloc-count, pool-misses and the put errors) become
// deltas; the gauges and high-water marks (active, hot, cold, size, the
// max-* and cur-* values) keep s's value, as an interval has no meaningful
// difference of them.
func (s Stats) Sub(prev Stats) Stats {
	d := s
	d.AllocCount -= prev.AllocCount
	d.Misses -= prev.Misses
	d.PutErrors -= prev.PutErrors
	d.DoublePuts -= prev.DoublePuts
	d.ForeignPuts -= prev.ForeignPuts
	return d
}

// KV is one key=value line of a statedump section.
type KV struct {
	Key, Value string
}

// Fields returns the statistics as GlusterFS statedump keys in the order a
// statedump prints them, starting with {"pool-name", "owner:name"}.
func (s Stats) Fields() []KV {
	i := func(k string, v int64) KV { return KV{k, strconv.FormatInt(v, 10)} }
	return []KV{
		{"pool-name", s.Name},
		{"xlator-name", s.Owner},
		i("active-count", s.Active),
		i("sizeof-type", s.SizeofType),
		i("padded-sizeof", s.PaddedSizeof),
		i("size", s.Size),
		i("hot-count", s.Hot),
		i("cold-count", s.Cold),
		i("alloc-count", s.AllocCount),
		i("max-alloc", s.MaxAlloc),
		i("pool-misses", s.Misses),
		i("cur-stdalloc", s.CurStdalloc),
		i("max-stdalloc", s.MaxStdalloc),
		i("put-errors", s.PutErrors),
		i("double-puts", s.DoublePuts),
		i("foreign-puts", s.ForeignPuts),
		i("prealloc-count", s.Prealloc),
	}
}
