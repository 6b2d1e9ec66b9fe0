package xlator

import (
	"math/bits"
	"runtime"
	"sync"
	"syscall"
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
		if blo, bhi := HistBounds(b); blo != lo || bhi != hi {
			t.Errorf("HistBounds(%d) = [%v, %v), want [%v, %v)", b, blo, bhi, lo, hi)
		}
	}
	var want time.Duration
	for _, d := range lats {
		want += d
	}
	if st.Sum < want*99/100 || st.Sum > want*101/100 {
		t.Errorf("sum %v, want %v", st.Sum, want)
	}
	if _, hi := HistBounds(HistBuckets - 1); hi != 0 {
		t.Errorf("last bucket bounded by %v, want open", hi)
	}
	if st.Min < 790*time.Nanosecond || st.Min > 810*time.Nanosecond || st.Max < 5900*time.Microsecond || st.Max > 6100*time.Microsecond {
		t.Errorf("min %v max %v, want 800ns and 6ms", st.Min, st.Max)
	}
}

// TestStatsAnyGOMAXPROCS: statistics made at one GOMAXPROCS stay exact
// when it grows (a mounting daemon raises it after the graph is built):
// every count from every P is kept, and min and max are the true ones.
// (The Ps past the first set once shared one shard without min or max:
// the daemon's statedump showed latency_min_usec=0.000.)
func TestStatsAnyGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := newFopStats()
	runtime.GOMAXPROCS(8)
	const workers, each = 16, 2000
	// The goroutines start together, so that the scheduler spreads them
	// over the Ps (some past the first set's one); if it kept them all on
	// one P, the round is run again.
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range each {
				// Latencies from 1000 to 1000+workers*each-1 ticks, each
				// once; errors on every tenth.
				var err error
				if i%10 == 0 {
					err = syscall.EIO
				}
				s.record(FopLookup, int64(1000+w*each+i), err, 1)
				if i%64 == 0 {
					runtime.Gosched() // move between Ps
				}
			}
		})
	}
	close(start)
	wg.Wait()
	rounds := 1
	for ; len(s.sets) < 2 && rounds < 50; rounds++ {
		// No record ran past P 0 yet: more goroutines, each spinning so
		// that the others get Ps of their own.
		var wg2 sync.WaitGroup
		for range 8 {
			wg2.Go(func() {
				for end := time.Now().Add(time.Millisecond); time.Now().Before(end); {
				}
				s.record(FopStat, 1000, nil, 0)
			})
		}
		wg2.Wait()
	}
	st := s.snapshot(FopLookup)
	if st.Count != workers*each || st.Errors != workers*each/10 || st.Bytes != workers*each {
		t.Fatalf("count %d errors %d bytes %d, want %d, %d, %d", st.Count, st.Errors, st.Bytes, workers*each, workers*each/10, workers*each)
	}
	wantMin, wantMax := time.Duration(ticksToNs(1000)), time.Duration(ticksToNs(1000+workers*each-1))
	if st.Min <= 0 || st.Min > wantMin+wantMin/100 || st.Min < wantMin-wantMin/100 {
		t.Errorf("min %v, want %v", st.Min, wantMin)
	}
	if st.Max < wantMax-wantMax/100 || st.Max > wantMax+wantMax/100 {
		t.Errorf("max %v, want %v", st.Max, wantMax)
	}
	if len(s.sets) < 2 {
		t.Errorf("%d shard sets after %d rounds: GOMAXPROCS grew from 1 to 8 and no set was added", len(s.sets), rounds)
	}
	if n := s.snapshot(FopStat).Count; n != uint64(8*(rounds-1)) {
		t.Errorf("%d stats counted, %d recorded", n, 8*(rounds-1))
	}
}

// TestTSCUsable: the TSC times fops only where the kernel trusts it.
func TestTSCUsable(t *testing.T) {
	flags := []byte("flags\t\t: fpu tsc constant_tsc nonstop_tsc rdtscp\n")
	for _, tc := range []struct {
		clocksource, cpuinfo []byte
		want                 bool
	}{
		{[]byte("tsc\n"), nil, hasTSC},
		{[]byte("kvm-clock\n"), flags, false}, // the kernel switched away from it
		{[]byte("hpet\n"), flags, false},
		{nil, flags, hasTSC},
		{nil, []byte("flags\t\t: fpu tsc constant_tsc rdtscp\n"), false}, // stops in deep C-states
		{nil, nil, false},
	} {
		if got := tscUsable(tc.clocksource, tc.cpuinfo); got != tc.want {
			t.Errorf("tscUsable(%q, %q) = %v, want %v", tc.clocksource, tc.cpuinfo, got, tc.want)
		}
	}
}
