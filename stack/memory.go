package stack

import (
	"fmt"
	"math"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/xstack/xstack/runtime/reclaim"
	"github.com/xstack/xstack/xlator"
)

// defaultReapInterval is how often the slab reaper runs without a memory
// block: the kernel's cache_reap runs every two seconds too.
const defaultReapInterval = 2 * time.Second

// memoryLimit returns the limit the stack keeps under: opts' if set, else
// the volfile's, else the Go runtime's (GOMEMLIMIT or debug.SetMemoryLimit)
// if one is set, else 0 (none).
func (s *Stack) memoryLimit(opts Options) int64 {
	switch {
	case opts.MemoryLimit > 0:
		return opts.MemoryLimit
	case s.File.Memory != nil && s.File.Memory.Limit > 0:
		return s.File.Memory.Limit
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		return l
	}
	return 0
}

// startReclaim starts the slab reaper and the reclaimer, and registers the
// statedump's memory section.
func (s *Stack) startReclaim(opts Options, log *zap.Logger) error {
	env := s.Env
	interval := defaultReapInterval
	if s.File.Memory != nil && s.File.Memory.ReapInterval > 0 {
		interval = s.File.Memory.ReapInterval
	}
	if err := env.Slabs.StartReaper(interval); err != nil {
		return fmt.Errorf("slab reaper: %w", err)
	}
	r, err := reclaim.New(reclaim.Config{Limit: s.memoryLimit(opts), Logger: log.Named("reclaim")},
		reclaim.Shrinker{Name: "slab", Shrink: env.Slabs.Shrink, Mapped: env.Slabs.MappedBytes},
		reclaim.Shrinker{Name: "iobuf", Shrink: env.Iobufs.Shrink, Mapped: env.Iobufs.MappedBytes},
		reclaim.Shrinker{Name: "mempool", Shrink: func() int64 { _, b := env.Pools.Shrink(); return b }},
	)
	if err != nil {
		return err
	}
	s.Reclaimer = r
	r.Start()
	env.AddSection("mem.reclaim", s.memorySection)
	return nil
}

// memorySection is the statedump section mem.reclaim: the limit and what the
// reclaimer saw, what each owner gave back under pressure, and what the
// slab reaper gave back.
func (s *Stack) memorySection() []xlator.KV {
	st := s.Reclaimer.Stats()
	rs := s.Env.Slabs.ReapStats()
	when := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	kv := []xlator.KV{
		{Key: "limit", Value: st.Limit},
		{Key: "high-mark", Value: st.High},
		{Key: "usage", Value: st.Usage},
		{Key: "polls", Value: st.Polls},
		{Key: "pressure-shrinks", Value: st.Pressure},
		{Key: "demand-shrinks", Value: st.Demand},
		{Key: "last-shrink", Value: when(st.Last)},
		{Key: "last-shrink-why", Value: st.LastWhy},
	}
	for _, o := range st.Owners {
		kv = append(kv,
			xlator.KV{Key: o.Name + ".shrinks", Value: o.Shrinks},
			xlator.KV{Key: o.Name + ".returned-bytes", Value: o.Bytes},
			xlator.KV{Key: o.Name + ".last-returned-bytes", Value: o.LastBytes})
	}
	return append(kv,
		xlator.KV{Key: "slab-reaper.reaps", Value: rs.Reaps},
		xlator.KV{Key: "slab-reaper.reaped-slabs", Value: rs.ReapedSlabs},
		xlator.KV{Key: "slab-reaper.reaped-bytes", Value: rs.ReapedBytes},
		xlator.KV{Key: "slab-reaper.last-reap", Value: when(rs.LastReap)},
	)
}
