package xlator

import (
	"math/bits"
	"sync"
	_ "unsafe" // for go:linkname
)

// nanotime is the runtime's monotonic clock.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// The hop records and fop latencies are kept in ticks (see ticks) and
// converted to nanoseconds when a statedump reads them, with a rate
// measured against the monotonic clock: calibrated once by a short spin at
// first use, then refined from the time elapsed since, so the error
// shrinks the longer the process runs.
var clock struct {
	once      sync.Once
	nano0     int64
	tick0     int64
	nsPerTick float64
	mulQ32    uint64 // nsPerTick of the calibration, fixed point (32 bits of fraction)
}

func calibrate() {
	clock.once.Do(func() {
		clock.nano0, clock.tick0 = nanotime(), ticks()
		for nanotime()-clock.nano0 < 2e6 {
		}
		clock.nsPerTick = float64(nanotime()-clock.nano0) / float64(ticks()-clock.tick0)
		if clock.nsPerTick <= 0 || clock.nsPerTick > 1e3 {
			clock.nsPerTick = 1
		}
		clock.mulQ32 = uint64(clock.nsPerTick * (1 << 32))
	})
}

// ticksToNsFast converts a tick interval to nanoseconds with the rate of
// the first calibration: a multiplication, for the hot path (the latency
// histograms' buckets). calibrate must have run.
func ticksToNsFast(t int64) int64 {
	hi, lo := bits.Mul64(uint64(t), clock.mulQ32)
	return int64(hi<<32 | lo>>32)
}

// nsPerTick returns the current best rate.
func nsPerTick() float64 {
	calibrate()
	dn, dt := nanotime()-clock.nano0, ticks()-clock.tick0
	if dn > 1e9 && dt > 0 {
		return float64(dn) / float64(dt)
	}
	return clock.nsPerTick
}

// ticksToNs converts a tick interval to nanoseconds.
func ticksToNs(t int64) int64 { return int64(float64(t) * nsPerTick()) }

// nowTicks is the clock the hot path reads.
func nowTicks() int64 { return ticks() }
