package xlator

import (
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xstack/xstack/internal/pin"
)

// HistBuckets is the number of latency histogram buckets: bucket i counts
// fops that took [2^i, 2^(i+1)) nanoseconds (converted from ticks of the
// hop clock when recorded, see clock.go), the last one counts the rest.
const HistBuckets = 40

// HistBounds returns the latencies bucket i of a FopStats.Hist counts:
// [lo, hi). The last bucket has no upper bound: hi is then 0.
func HistBounds(i int) (lo, hi time.Duration) {
	lo = time.Duration(1) << i
	if i < HistBuckets-1 {
		hi = lo << 1
	}
	return lo, hi
}

// fopCounter is the graph's always-on statistics of one fop in one
// translator, in one per-P shard. The count is the sum of the histogram.
type fopCounter struct {
	hist   [HistBuckets]int64
	errors int64
	bytes  int64
	sum    int64
	min    int64 // 0 = none yet
	max    int64
}

// fopShard holds one P's counters of every fop, padded so that two Ps
// never share a cache line.
type fopShard struct {
	c [NumFops]fopCounter
	_ [64]byte
}

// fopStats is a translator's statistics: a shard per P, updated by the
// goroutine pinned to that P with plain stores (see plain_norace.go).
//
// GOMAXPROCS may grow after the graph is made (a mounting daemon raises it,
// see fuse.SpareProcs): a P without a shard makes a larger set (grow), and
// the old sets stay, summed by snapshot, since a P may still be updating
// its shard in the set it loaded. So no count is lost and min, max and the
// histograms stay exact at any GOMAXPROCS.
type fopStats struct {
	cur atomic.Pointer[[]fopShard] // the set for the current GOMAXPROCS

	mu   sync.Mutex
	sets [][]fopShard // every set made, cur's last
}

func newFopStats() *fopStats {
	calibrate() // for ticksToNsFast
	s := &fopStats{}
	s.grow(runtime.GOMAXPROCS(0))
	return s
}

// grow makes a set of at least n shards current, unless one is already.
func (s *fopStats) grow(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.cur.Load(); cur != nil && len(*cur) >= n {
		return
	}
	set := make([]fopShard, max(n, runtime.GOMAXPROCS(0)))
	s.sets = append(s.sets, set)
	s.cur.Store(&s.sets[len(s.sets)-1])
}

func (s *fopStats) record(f Fop, lat int64, err error, n int64) {
	if lat < 1 {
		lat = 1
	}
	b := bits.Len64(uint64(max(ticksToNsFast(lat), 1))) - 1
	if b >= HistBuckets {
		b = HistBuckets - 1
	}
	pid := pin.Pin()
	shards := *s.cur.Load()
	for pid >= len(shards) {
		// GOMAXPROCS grew after the graph started: this P needs a shard.
		pin.Unpin()
		s.grow(pid + 1)
		pid = pin.Pin()
		shards = *s.cur.Load()
	}
	c := &shards[pid].c[f]
	add64(&c.hist[b], 1)
	add64(&c.sum, lat)
	if err != nil {
		add64(&c.errors, 1)
	}
	if n > 0 {
		add64(&c.bytes, n)
	}
	if m := ld64(&c.min); m == 0 || lat < m {
		st64(&c.min, lat)
	}
	if lat > ld64(&c.max) {
		st64(&c.max, lat)
	}
	pin.Unpin()
}

// FopStats is a snapshot of one fop's statistics in one translator, as
// GlusterFS's io-stats keeps them.
type FopStats struct {
	Fop    string        `json:"fop"`
	Count  uint64        `json:"count"`
	Errors uint64        `json:"errors"`
	Bytes  uint64        `json:"bytes"`
	Min    time.Duration `json:"min_ns"`
	Mean   time.Duration `json:"mean_ns"`
	Max    time.Duration `json:"max_ns"`
	// Sum is the latency of all Count fops added up (Mean is Sum/Count):
	// what a Prometheus histogram's _sum and a profile's self time need.
	Sum time.Duration `json:"sum_ns"`
	// Hist[i] counts fops that took [2^i, 2^(i+1)) nanoseconds; the
	// last bucket counts everything slower.
	Hist []uint64 `json:"histogram"`
}

func (s *fopStats) snapshot(fop Fop) FopStats {
	out := FopStats{Fop: fop.String(), Hist: make([]uint64, HistBuckets)}
	var sum, mn, mx int64
	s.mu.Lock()
	sets := s.sets
	s.mu.Unlock()
	for _, set := range sets {
		s.add(set, fop, &out, &sum, &mn, &mx)
	}
	out.Min = time.Duration(ticksToNs(mn))
	out.Max = time.Duration(ticksToNs(mx))
	out.Sum = time.Duration(ticksToNs(sum))
	if out.Count > 0 {
		out.Mean = time.Duration(ticksToNs(sum / int64(min(out.Count, math.MaxInt64))))
	}
	return out
}

// add sums one set of shards' counters of fop into out, sum, mn and mx.
func (s *fopStats) add(set []fopShard, fop Fop, out *FopStats, sum, mn, mx *int64) {
	for i := range set {
		c := &set[i].c[fop]
		for b := range c.hist {
			h := uint64(ld64(&c.hist[b]))
			out.Hist[b] += h
			out.Count += h
		}
		out.Errors += uint64(ld64(&c.errors))
		out.Bytes += uint64(ld64(&c.bytes))
		*sum += ld64(&c.sum)
		if m := ld64(&c.min); m != 0 && (*mn == 0 || m < *mn) {
			*mn = m
		}
		if m := ld64(&c.max); m > *mx {
			*mx = m
		}
	}
}

// XlatorStats is a snapshot of the fop statistics of one translator: only
// the fops that were called.
type XlatorStats struct {
	Volume string     `json:"volume"`
	Fops   []FopStats `json:"fops"`
}

// Count returns the count of fop f, 0 if it was never called.
func (s XlatorStats) Count(f Fop) uint64 {
	for _, x := range s.Fops {
		if x.Fop == f.String() {
			return x.Count
		}
	}
	return 0
}
