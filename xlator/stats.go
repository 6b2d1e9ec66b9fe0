package xlator

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// HistBuckets is the number of latency histogram buckets: bucket i counts
// fops that took [2^i, 2^(i+1)) ticks of the hop clock (see clock.go;
// FopStats.TickNs converts), the last one counts the rest.
const HistBuckets = 40

// fopCounter is the graph's always-on statistics of one fop in one
// translator. The count is the sum of the histogram, so a fop costs three
// atomic adds (histogram, latency sum, bytes when there are any).
type fopCounter struct {
	hist   [HistBuckets]atomic.Uint64
	errors atomic.Uint64
	bytes  atomic.Uint64
	sum    atomic.Int64
	min    atomic.Int64 // 0 = none yet
	max    atomic.Int64
}

func (f *fopCounter) record(lat int64, err error, n int64) {
	if lat < 1 {
		lat = 1
	}
	b := bits.Len64(uint64(lat)) - 1
	if b >= HistBuckets {
		b = HistBuckets - 1
	}
	f.hist[b].Add(1)
	f.sum.Add(lat)
	if err != nil {
		f.errors.Add(1)
	}
	if n > 0 {
		f.bytes.Add(uint64(n))
	}
	if m := f.min.Load(); m == 0 || lat < m {
		for !f.min.CompareAndSwap(m, lat) {
			m = f.min.Load()
			if m != 0 && m <= lat {
				break
			}
		}
	}
	if m := f.max.Load(); lat > m {
		for !f.max.CompareAndSwap(m, lat) {
			m = f.max.Load()
			if m >= lat {
				break
			}
		}
	}
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
	// Hist[i] counts fops that took [2^i, 2^(i+1)) ticks, that is
	// [2^i·TickNs, 2^(i+1)·TickNs) nanoseconds.
	Hist   []uint64 `json:"histogram"`
	TickNs float64  `json:"tick_ns"`
}

func (f *fopCounter) snapshot(fop Fop) FopStats {
	s := FopStats{Fop: fop.String(), Hist: make([]uint64, HistBuckets)}
	for i := range f.hist {
		s.Hist[i] = f.hist[i].Load()
		s.Count += s.Hist[i]
	}
	s.Errors = f.errors.Load()
	s.Bytes = f.bytes.Load()
	s.Min = time.Duration(ticksToNs(f.min.Load()))
	s.Max = time.Duration(ticksToNs(f.max.Load()))
	if s.Count > 0 {
		s.Mean = time.Duration(ticksToNs(f.sum.Load() / int64(min(s.Count, math.MaxInt64))))
	}
	s.TickNs = nsPerTick()
	return s
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
