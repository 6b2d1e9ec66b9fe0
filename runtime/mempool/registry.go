package mempool

import (
	"cmp"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// pool is what the registry needs of a Pool[T] of any T.
type pool interface {
	Stats() Stats
	Sweep(now time.Time, idle time.Duration) int
	finish() Stats
	setName(full string)
	setLogger(*zap.Logger)
	ownerName() (owner, name string)
	objSize() int64
}

// Registry lists the pools of one process (or one graph) by owner:name, for
// the statedump and for releasing an xlator's pools in Fini, and runs the
// sweeper that trims idle heap objects from all of them. It is safe for
// concurrent use. There is no global registry: whoever builds the graph
// creates one and passes it to the xlators.
type Registry struct {
	log *zap.Logger
	now func() time.Time

	mu    sync.Mutex
	pools map[string]pool

	sweepMu   sync.Mutex // serialises StartSweeper and Stop
	sweepStop chan struct{}
	sweepDone chan struct{}
}

// NewRegistry returns an empty registry that logs through logger (nil
// means no logging).
func NewRegistry(logger *zap.Logger) *Registry {
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Registry{log: logger, now: time.Now, pools: make(map[string]pool)}
}

func (p *Pool[T]) setName(full string)             { p.full = full }
func (p *Pool[T]) setLogger(l *zap.Logger)         { p.log = l }
func (p *Pool[T]) ownerName() (owner, name string) { return p.owner, p.name }
func (p *Pool[T]) objSize() int64                  { return int64(p.esize) }

// add registers p under owner:name, or under the first free
// owner:name#n for n = 2, 3, ... if that is taken.
func (r *Registry) add(p pool) {
	owner, name := p.ownerName()
	base := owner + ":" + name
	r.mu.Lock()
	full := base
	for n := 2; r.pools[full] != nil; n++ {
		full = base + "#" + strconv.Itoa(n)
	}
	r.pools[full] = p
	r.mu.Unlock()
	p.setName(full)
	p.setLogger(r.log)
	if full != base {
		r.log.Warn("mempool: duplicate pool name, renamed",
			zap.String("pool", base), zap.String("renamed", full))
	}
}

// remove unregisters the pool registered as full, if it is still p.
func (r *Registry) remove(full string, p pool) {
	r.mu.Lock()
	if r.pools[full] == p {
		delete(r.pools, full)
	}
	r.mu.Unlock()
}

// snapshot returns the registered pools whose owner passes keep.
func (r *Registry) snapshot(keep func(owner string) bool) []pool {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ps []pool
	for _, p := range r.pools {
		if o, _ := p.ownerName(); keep(o) {
			ps = append(ps, p)
		}
	}
	return ps
}

func sortStats(s []Stats) []Stats {
	slices.SortFunc(s, func(a, b Stats) int {
		return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Name, b.Name))
	})
	return s
}

func statsOf(ps []pool) []Stats {
	s := make([]Stats, 0, len(ps))
	for _, p := range ps {
		s = append(s, p.Stats())
	}
	return sortStats(s)
}

// Pools returns the Stats of every registered pool, sorted by owner, then
// by name. The registry lock is not held while the pools are read, so a
// pool created or destroyed meanwhile may or may not be included.
func (r *Registry) Pools() []Stats {
	return statsOf(r.snapshot(func(string) bool { return true }))
}

// ByOwner returns the Stats of the pools owned by the volume owner, sorted
// by name: the statedump's "which pools does this xlator hold".
func (r *Registry) ByOwner(owner string) []Stats {
	return statsOf(r.snapshot(func(o string) bool { return o == owner }))
}

// Close unregisters every pool owned by owner, as Destroy does for each,
// and returns their final Stats sorted by name; an xlator's Fini calls it.
// A pool with objects still out is logged as a leak. The pools themselves
// keep working for objects still in flight.
func (r *Registry) Close(owner string) []Stats {
	r.mu.Lock()
	var ps []pool
	for full, p := range r.pools {
		if o, _ := p.ownerName(); o == owner {
			ps = append(ps, p)
			delete(r.pools, full)
		}
	}
	r.mu.Unlock()
	s := make([]Stats, 0, len(ps))
	for _, p := range ps {
		s = append(s, p.finish())
	}
	return sortStats(s)
}

// Sweep runs Pool.Sweep on every registered pool and returns the number of
// heap objects released. StartSweeper calls it; tests call it with a
// chosen now.
func (r *Registry) Sweep(now time.Time, idle time.Duration) int {
	n := 0
	for _, p := range r.snapshot(func(string) bool { return true }) {
		n += p.Sweep(now, idle)
	}
	if n > 0 {
		r.log.Debug("mempool: swept idle heap objects", zap.Int("released", n))
	}
	return n
}

// Shrink is Sweep under memory pressure, the pools' shrinker: it releases
// every cold heap object of every registered pool at once, however recently
// used, and returns how many objects it released and their bytes (with
// their state words). The garbage collector reclaims them at its next
// cycle; preallocated chunks are never released.
func (r *Registry) Shrink() (objects int, bytes int64) {
	now := r.now()
	for _, p := range r.snapshot(func(string) bool { return true }) {
		n := p.Sweep(now, 0)
		objects += n
		bytes += int64(n) * p.objSize()
	}
	return objects, bytes
}

// StartSweeper starts a goroutine that calls Sweep every interval,
// releasing heap objects cold for at least idle. GlusterFS sweeps every
// 30 s and frees objects unused for a whole period; (30*time.Second,
// 30*time.Second) does the same. Calling StartSweeper again replaces the
// running sweeper. It panics if interval is not positive.
func (r *Registry) StartSweeper(interval, idle time.Duration) {
	if interval <= 0 {
		panic("mempool: StartSweeper interval must be positive")
	}
	r.sweepMu.Lock()
	defer r.sweepMu.Unlock()
	r.stopLocked()
	stop, done := make(chan struct{}), make(chan struct{})
	r.sweepStop, r.sweepDone = stop, done
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.Sweep(r.now(), idle)
			}
		}
	}()
}

// Stop stops the sweeper, if one is running, and waits for it to exit.
// The pools stay registered and usable.
func (r *Registry) Stop() {
	r.sweepMu.Lock()
	defer r.sweepMu.Unlock()
	r.stopLocked()
}

func (r *Registry) stopLocked() {
	if r.sweepStop == nil {
		return
	}
	close(r.sweepStop)
	<-r.sweepDone
	r.sweepStop, r.sweepDone = nil, nil
}
