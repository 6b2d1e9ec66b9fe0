package reclaim

import (
	"fmt"
	"runtime/metrics"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Shrinker is one owner of memory that can give some of it back.
type Shrinker struct {
	// Name names the owner in Stats ("slab", "iobuf", "mempool").
	Name string
	// Shrink gives back what the owner can spare now and returns the
	// bytes it gave back. It must be safe to call concurrently with the
	// owner's normal use.
	Shrink func() int64
	// Mapped, if set, returns the bytes the owner holds outside the Go
	// heap (mmap'd), which the runtime's metrics do not count.
	Mapped func() int64
}

// Config configures a Reclaimer. The zero value shrinks only on demand.
type Config struct {
	// Limit is the memory, in bytes, the process should stay under; 0
	// means no limit and no polling.
	Limit int64
	// Interval is how often usage is checked against the limit; 0 means
	// DefaultInterval.
	Interval time.Duration
	// High is the share of Limit at which the Reclaimer shrinks, in
	// (0, 1]; 0 means DefaultHigh.
	High float64
	// Logger receives a line per shrink; nil logs nothing.
	Logger *zap.Logger
}

// DefaultInterval and DefaultHigh are Config's defaults.
const (
	DefaultInterval = time.Second
	DefaultHigh     = 0.9
)

// Reclaimer calls its Shrinkers under memory pressure (see the package
// doc). Create one with New.
type Reclaimer struct {
	cfg       Config
	shrinkers []Shrinker
	log       *zap.Logger

	shrinkMu sync.Mutex // serialises shrinks

	mu       sync.Mutex // guards the fields below
	usage    int64      // at the last poll
	polls    uint64
	pressure uint64 // shrinks because usage passed the high mark
	demand   uint64 // shrinks asked for with Reclaim
	last     time.Time
	lastWhy  string
	owners   []OwnerStats

	loopMu sync.Mutex
	stop   chan struct{}
	done   chan struct{}
}

// New returns a Reclaimer over shrinkers. It fails on a negative Limit or
// Interval or a High outside (0, 1].
func New(cfg Config, shrinkers ...Shrinker) (*Reclaimer, error) {
	switch {
	case cfg.Limit < 0:
		return nil, fmt.Errorf("reclaim: memory limit %d is negative", cfg.Limit)
	case cfg.Interval < 0:
		return nil, fmt.Errorf("reclaim: interval %v is negative", cfg.Interval)
	case cfg.High < 0 || cfg.High > 1:
		return nil, fmt.Errorf("reclaim: high mark %g is outside (0, 1]", cfg.High)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.High == 0 {
		cfg.High = DefaultHigh
	}
	r := &Reclaimer{cfg: cfg, shrinkers: shrinkers, log: cfg.Logger}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.owners = make([]OwnerStats, len(shrinkers))
	for i, s := range shrinkers {
		r.owners[i].Name = s.Name
	}
	return r, nil
}

// Start starts polling usage against the limit, if there is one. Calling
// it again while polling does nothing. Stop ends it.
func (r *Reclaimer) Start() {
	if r.cfg.Limit == 0 {
		return
	}
	r.loopMu.Lock()
	defer r.loopMu.Unlock()
	if r.stop != nil {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	r.stop, r.done = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.Poll()
			}
		}
	}()
}

// Stop stops polling and waits for the poller to exit.
func (r *Reclaimer) Stop() {
	r.loopMu.Lock()
	defer r.loopMu.Unlock()
	if r.stop == nil {
		return
	}
	close(r.stop)
	<-r.done
	r.stop, r.done = nil, nil
}

// Poll measures usage once and shrinks if it is at or above the high mark
// of the limit; it reports whether it shrank. Start calls it every
// Interval; tests call it directly.
func (r *Reclaimer) Poll() bool {
	u := r.Usage()
	r.mu.Lock()
	r.usage = u
	r.polls++
	r.mu.Unlock()
	if r.cfg.Limit == 0 || float64(u) < r.cfg.High*float64(r.cfg.Limit) {
		return false
	}
	r.shrink(fmt.Sprintf("usage %d of limit %d", u, r.cfg.Limit), true)
	return true
}

// Reclaim shrinks now, whatever the usage, and returns the bytes each
// owner gave back, in the order the Shrinkers were given. why is logged
// and shown in Stats.
func (r *Reclaimer) Reclaim(why string) []int64 {
	return r.shrink(why, false)
}

func (r *Reclaimer) shrink(why string, pressure bool) []int64 {
	r.shrinkMu.Lock()
	defer r.shrinkMu.Unlock()
	got := make([]int64, len(r.shrinkers))
	for i, s := range r.shrinkers {
		got[i] = s.Shrink()
	}
	now := time.Now()
	r.mu.Lock()
	if pressure {
		r.pressure++
	} else {
		r.demand++
	}
	r.last, r.lastWhy = now, why
	fields := []zap.Field{zap.String("why", why)}
	for i, n := range got {
		o := &r.owners[i]
		o.Shrinks++
		o.Bytes += n
		o.LastBytes = n
		fields = append(fields, zap.Int64(o.Name, n))
	}
	r.mu.Unlock()
	r.log.Info("memory reclaimed", fields...)
	return got
}

// goMemory is the metric sample the Go runtime's memory is read from:
// everything mapped for the runtime, and the heap part already returned.
var goMemory = []string{"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes"}

// Usage returns the process's memory as the Reclaimer counts it: the Go
// runtime's mapped memory not yet released to the OS, plus every
// Shrinker's Mapped.
func (r *Reclaimer) Usage() int64 {
	s := make([]metrics.Sample, len(goMemory))
	for i, n := range goMemory {
		s[i].Name = n
	}
	metrics.Read(s)
	u := int64(s[0].Value.Uint64()) - int64(s[1].Value.Uint64())
	for _, sh := range r.shrinkers {
		if sh.Mapped != nil {
			u += sh.Mapped()
		}
	}
	return u
}

// Stats is a snapshot of a Reclaimer.
type Stats struct {
	Limit    int64
	High     float64
	Interval time.Duration
	Usage    int64 // at the last poll; 0 before the first
	Polls    uint64
	// Pressure counts shrinks because usage reached High of Limit,
	// Demand those asked for with Reclaim.
	Pressure, Demand uint64
	Last             time.Time // the last shrink; zero if none
	LastWhy          string
	Owners           []OwnerStats
}

// OwnerStats is what one Shrinker gave back.
type OwnerStats struct {
	Name      string
	Shrinks   uint64
	Bytes     int64 // over every shrink
	LastBytes int64 // in the last shrink
}

// Stats returns a snapshot.
func (r *Reclaimer) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{
		Limit: r.cfg.Limit, High: r.cfg.High, Interval: r.cfg.Interval,
		Usage: r.usage, Polls: r.polls, Pressure: r.pressure, Demand: r.demand,
		Last: r.last, LastWhy: r.lastWhy, Owners: append([]OwnerStats(nil), r.owners...),
	}
}
