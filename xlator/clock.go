package xlator

import (
	"bytes"
	"math/bits"
	"os"
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
// shrinks the longer the process runs. Ticks are the CPU's time-stamp
// counter only where it runs at a constant rate whatever the CPU's power
// state and is the same on every CPU (tscUsable); elsewhere they are the
// monotonic clock's nanoseconds.
var clock struct {
	once      sync.Once
	tsc       bool // ticks are the TSC; set by calibrate
	nano0     int64
	tick0     int64
	nsPerTick float64
	mulQ32    uint64 // nsPerTick of the calibration, fixed point (32 bits of fraction)
}

// tscUsable reports whether the time-stamp counter can time fops: the
// kernel times itself with it (its clocksource is "tsc": it found the TSC
// constant-rate, non-stop and synchronised across CPUs, and its watchdog
// would have switched away from one that is not), or, where the
// clocksource cannot be read, the CPU says constant_tsc and nonstop_tsc.
// clocksource and cpuinfo are the contents of
// /sys/devices/system/clocksource/clocksource0/current_clocksource and
// /proc/cpuinfo, nil when unreadable.
func tscUsable(clocksource, cpuinfo []byte) bool {
	if !hasTSC {
		return false
	}
	if clocksource != nil {
		return string(bytes.TrimSpace(clocksource)) == "tsc"
	}
	flags := func(f string) bool {
		return bytes.Contains(cpuinfo, []byte(" "+f+" ")) || bytes.Contains(cpuinfo, []byte(" "+f+"\n"))
	}
	return cpuinfo != nil && flags("constant_tsc") && flags("nonstop_tsc")
}

func readOrNil(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return b
}

func calibrate() {
	clock.once.Do(func() {
		clock.tsc = tscUsable(readOrNil("/sys/devices/system/clocksource/clocksource0/current_clocksource"), readOrNil("/proc/cpuinfo"))
		if !clock.tsc {
			clock.nsPerTick, clock.mulQ32 = 1, 1<<32
			clock.nano0, clock.tick0 = nanotime(), nanotime()
			return
		}
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
	if !clock.tsc {
		return 1
	}
	dn, dt := nanotime()-clock.nano0, ticks()-clock.tick0
	if dn > 1e9 && dt > 0 {
		return float64(dn) / float64(dt)
	}
	return clock.nsPerTick
}

// ticksToNs converts a tick interval to nanoseconds.
func ticksToNs(t int64) int64 { return int64(float64(t) * nsPerTick()) }

// nowTicks is the clock the hot path reads: the TSC where it is usable,
// else the monotonic clock. calibrate must have run (every graph's
// statistics call it when they are made).
func nowTicks() int64 {
	if clock.tsc {
		return ticks()
	}
	return nanotime()
}
