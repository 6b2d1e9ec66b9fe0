package statedump

import (
	"errors"
	"fmt"
	"time"

	"github.com/xstack/xstack/xlator"
)

// A profile is GlusterFS's `volume profile` for a running stack: per
// translator and fop the count, the latency (average, min, max) and the
// self time, cumulative since the start and over an interval.
//
// The graph's statistics are never reset (the fop path only adds to
// them), so an interval is the difference of two snapshots: the admin
// socket keeps a baseline snapshot, taken by the last profile request
// with Clear, and sends it with the current one; ProfileOptions.Interval
// instead takes two snapshots that far apart.
//
// Self time is a translator's latency less the time its children took
// for the same fop, from the graph's own wiring: for a translator whose
// children serve its fops one after another (cache, a pass-through, a
// plugin) that is the time spent in the translator itself. It is an
// estimate where the fops do not nest one to one: a child shared by
// several parents counts against each parent in equal parts; a
// translator that winds to several children in parallel (stripe) sees
// their times overlap, and fops a translator sends of another kind, or
// on its own (a read-ahead), count against the parent's fop of that
// kind. Self time is never negative: where the children's time exceeds
// the translator's, it is 0.

// ProfileSnapshot is the fop statistics of every translator at one
// moment, in graph order (the top first): what the admin socket sends
// for a profile request. Every fop's Histogram is HistBuckets long.
type ProfileSnapshot struct {
	Time    time.Time       `json:"time"`
	Started time.Time       `json:"start_time"` // when the stack started; the cumulative period's start
	Pid     int             `json:"pid"`
	Name    string          `json:"name"`
	Xlators []ProfileXlator `json:"xlators"`
}

// ProfileXlator is one translator's fops in a ProfileSnapshot.
type ProfileXlator struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Children []string `json:"children"`
	Fops     []Fop    `json:"fops"`
}

// Snapshot returns the fop statistics of every translator now. It reads
// atomic counters only and never blocks on the stack.
func (d *Dumper) Snapshot() ProfileSnapshot {
	dump := d.collect(Options{Parts: []Part{PartFops}, MaxInodes: -1, Budget: 250 * time.Millisecond})
	s := ProfileSnapshot{Time: dump.StartTime, Started: dump.Process.StartTime, Pid: dump.Process.Pid,
		Name: dump.Process.Name, Xlators: make([]ProfileXlator, len(dump.Xlators))}
	for i, x := range dump.Xlators {
		s.Xlators[i] = ProfileXlator{Name: x.Name, Type: x.Type, Children: x.Children, Fops: x.Fops}
	}
	return s
}

// ErrRestarted is returned by NewProfile when the two snapshots are of
// different processes: the stack restarted between them.
var ErrRestarted = errors.New("statedump: the stack restarted between the snapshots")

// Profile is a profile report: the cumulative figures since the stack
// started and, when there is a baseline, those of the interval since.
type Profile struct {
	Version    int            `json:"version"` // Version
	Pid        int            `json:"pid"`
	Name       string         `json:"name"`
	Cumulative ProfilePeriod  `json:"cumulative"`
	Interval   *ProfilePeriod `json:"interval,omitempty"` // nil: no baseline (never cleared)
	// Cleared says the stack took this profile's snapshot as its new
	// baseline: the next profile's interval starts here.
	Cleared bool `json:"cleared"`
}

// ProfilePeriod is every translator's profile over one period.
type ProfilePeriod struct {
	Start       time.Time         `json:"start_time"`
	End         time.Time         `json:"end_time"`
	DurationSec float64           `json:"duration_sec"`
	Xlators     []ProfileXlatorOf `json:"xlators"` // graph order, the top first
}

// ProfileXlatorOf is one translator's profile over a period: the fops it
// served in it, in fop order.
type ProfileXlatorOf struct {
	Name     string       `json:"name"`
	Type     string       `json:"type"`
	Children []string     `json:"children"`
	Fops     []ProfileFop `json:"fops"`
}

// ProfileFop is one fop of one translator over a period. Latencies are
// in nanoseconds and include the children's time; SelfSumNs and
// SelfMeanNs leave it out (see the self time above).
type ProfileFop struct {
	Fop    string `json:"fop"`
	Count  uint64 `json:"count"`
	Errors uint64 `json:"fail_count"`
	Bytes  uint64 `json:"bytes"`
	SumNs  int64  `json:"latency_sum_ns"`
	MinNs  int64  `json:"latency_min_ns"`
	MeanNs int64  `json:"latency_ave_ns"`
	MaxNs  int64  `json:"latency_max_ns"`
	// MinFromBuckets and MaxFromBuckets say MinNs or MaxNs is a bound
	// taken from the interval's histogram: the interval's own extremes
	// are not kept, and the run's did not move in it.
	MinFromBuckets bool     `json:"min_from_buckets,omitempty"`
	MaxFromBuckets bool     `json:"max_from_buckets,omitempty"`
	SelfSumNs      int64    `json:"self_sum_ns"`
	SelfMeanNs     int64    `json:"self_ave_ns"`
	Buckets        []Bucket `json:"buckets"` // the non-empty histogram buckets
}

// Bucket is one non-empty bucket of a latency histogram: Count
// latencies in [GeNs, LtNs) nanoseconds; LtNs is absent (0) for the last
// bucket, which has no upper bound.
type Bucket struct {
	GeNs  int64  `json:"ge_ns"`
	LtNs  int64  `json:"lt_ns,omitempty"`
	Count uint64 `json:"count"`
}

// bucketsOf lists the non-empty buckets of a HistBuckets-long histogram.
func bucketsOf(hist []uint64) []Bucket {
	out := []Bucket{}
	for i, n := range hist {
		if n == 0 {
			continue
		}
		lo, hi := xlator.HistBounds(i)
		out = append(out, Bucket{GeNs: int64(lo), LtNs: int64(hi), Count: n})
	}
	return out
}

// NewProfile makes the profile of snapshot now: cumulative, and over the
// interval since base when base is not nil.
func NewProfile(now ProfileSnapshot, base *ProfileSnapshot) (*Profile, error) {
	p := &Profile{Version: Version, Pid: now.Pid, Name: now.Name}
	p.Cumulative = period(now, nil)
	if base != nil {
		if base.Pid != now.Pid || base.Time.After(now.Time) {
			return nil, fmt.Errorf("%w (pid %d, then %d)", ErrRestarted, base.Pid, now.Pid)
		}
		iv := period(now, base)
		p.Interval = &iv
	}
	return p, nil
}

// period makes the profile of now since base (nil: since the start).
func period(now ProfileSnapshot, base *ProfileSnapshot) ProfilePeriod {
	pp := ProfilePeriod{Start: now.Started, End: now.Time}
	prev := map[string]map[string]*Fop{}
	if base != nil {
		pp.Start = base.Time
		for _, x := range base.Xlators {
			m := map[string]*Fop{}
			for i := range x.Fops {
				m[x.Fops[i].Fop] = &x.Fops[i]
			}
			prev[x.Name] = m
		}
	}
	if !pp.Start.IsZero() {
		pp.DurationSec = pp.End.Sub(pp.Start).Seconds()
	}
	pp.Xlators = make([]ProfileXlatorOf, len(now.Xlators))
	for i, x := range now.Xlators {
		px := ProfileXlatorOf{Name: x.Name, Type: x.Type, Children: x.Children, Fops: []ProfileFop{}}
		for _, f := range x.Fops {
			pf := sub(f, prev[x.Name][f.Fop])
			if pf.Count > 0 {
				px.Fops = append(px.Fops, pf)
			}
		}
		pp.Xlators[i] = px
	}
	selfTimes(pp.Xlators)
	return pp
}

// sub returns the profile of fop f since b (nil: since the start).
func sub(f Fop, b *Fop) ProfileFop {
	hist := make([]uint64, len(f.Histogram))
	copy(hist, f.Histogram)
	p := ProfileFop{Fop: f.Fop, Count: f.Count, Errors: f.Errors, Bytes: f.Bytes, SumNs: f.SumNs,
		MinNs: f.MinNs, MaxNs: f.MaxNs}
	if b != nil && b.Count > 0 {
		p.Count -= b.Count
		p.Errors -= b.Errors
		p.Bytes -= b.Bytes
		p.SumNs -= b.SumNs
		for i := range hist {
			if i < len(b.Histogram) {
				hist[i] -= b.Histogram[i]
			}
		}
		// The extremes of the whole run moved in the interval only if
		// the interval holds them; otherwise bound them by its buckets.
		lo, hi := -1, -1
		for i, n := range hist {
			if n > 0 {
				if lo < 0 {
					lo = i
				}
				hi = i
			}
		}
		if !below(f.MinNs, b.MinNs) && lo >= 0 {
			l, _ := xlator.HistBounds(lo)
			p.MinNs = max(f.MinNs, int64(l))
			p.MinFromBuckets = true
		}
		if !below(b.MaxNs, f.MaxNs) && hi >= 0 {
			if _, h := xlator.HistBounds(hi); h > 0 {
				p.MaxNs = min(f.MaxNs, int64(h))
				p.MaxFromBuckets = true
			}
		}
	}
	if p.Count > 0 {
		p.MeanNs = p.SumNs / int64(p.Count)
	}
	p.Buckets = bucketsOf(hist)
	return p
}

// below reports whether latency a is below b by more than the drift of
// the tick rate between two snapshots (the same ticks may convert to a
// few nanoseconds less later on, see xlator's clock).
func below(a, b int64) bool { return a < b-b/1000 }

// selfTimes fills in every fop's self time: its latency less its
// children's for the same fop, a shared child's split among its
// parents.
func selfTimes(xs []ProfileXlatorOf) {
	parents := map[string]int{}
	sums := map[string]map[string]int64{}
	for _, x := range xs {
		for _, c := range x.Children {
			parents[c]++
		}
		m := map[string]int64{}
		for _, f := range x.Fops {
			m[f.Fop] = f.SumNs
		}
		sums[x.Name] = m
	}
	for i := range xs {
		x := &xs[i]
		for j := range x.Fops {
			f := &x.Fops[j]
			self := f.SumNs
			for _, c := range x.Children {
				self -= sums[c][f.Fop] / int64(max(parents[c], 1))
			}
			f.SelfSumNs = max(self, 0)
			if f.Count > 0 {
				f.SelfMeanNs = f.SelfSumNs / int64(f.Count)
			}
		}
	}
}
