package xlator

import (
	"math/bits"
	"testing"
	"time"
)

// TestFopHistogramNanoseconds: the latency histogram's buckets are in
// nanoseconds, whatever the tick clock runs at (the TSC on amd64 ticks
// about twice per nanosecond on these machines; its buckets were once
// labelled as nanoseconds, every latency shown twice as long).
func TestFopHistogramNanoseconds(t *testing.T) {
	s := newFopStats()
	lats := []time.Duration{800 * time.Nanosecond, 3 * time.Microsecond, 75 * time.Microsecond,
		300 * time.Microsecond, 6 * time.Millisecond}
	for _, d := range lats {
		s.record(FopReadv, int64(float64(d)/clock.nsPerTick), nil, 4096)
	}
	st := s.snapshot(FopReadv)
	if st.Count != uint64(len(lats)) || st.Bytes != uint64(4096*len(lats)) {
		t.Fatalf("count %d bytes %d, want %d and %d", st.Count, st.Bytes, len(lats), 4096*len(lats))
	}
	for _, d := range lats {
		b := bits.Len64(uint64(d)) - 1
		// A latency next to a bucket's edge may land in the neighbour
		// after the round trip through ticks.
		lo, hi := time.Duration(1)<<b, time.Duration(1)<<(b+1)
		if d-lo < d/100 || hi-d < d/100 {
			t.Fatalf("test latency %v too close to a bucket edge", d)
		}
		if st.Hist[b] != 1 {
			t.Errorf("%v: bucket [%v, %v) holds %d, want 1 (histogram %v)", d, lo, hi, st.Hist[b], st.Hist)
		}
	}
	if st.Min < 790*time.Nanosecond || st.Min > 810*time.Nanosecond || st.Max < 5900*time.Microsecond || st.Max > 6100*time.Microsecond {
		t.Errorf("min %v max %v, want 800ns and 6ms", st.Min, st.Max)
	}
}
