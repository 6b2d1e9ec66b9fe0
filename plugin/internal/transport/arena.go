package transport

import (
	"os"
	"sync/atomic"

	"github.com/xstack/xstack/runtime/iobuf"
)

// What the host and the plugin set up on an arena before they use it, and
// read from it for their statedumps.

// File returns the host's memfd of the arena, for the plugin to inherit,
// until CloseFile.
func (a *Arena) File() *os.File { return a.file }

// Slots returns the number of data slots; SlotSize their size in bytes.
func (a *Arena) Slots() int    { return a.slots }
func (a *Arena) SlotSize() int { return a.slotSize }

// ShareHostMem makes the host's Shared iobuf pool the memory its ring
// writevs lend the plugin (hostmem.go). Host only, before the arena is
// used.
func (a *Arena) ShareHostMem(pool *iobuf.Pool) { a.host.pool = pool }

// SharedPool returns the pool ShareHostMem set, or nil.
func (a *Arena) SharedPool() *iobuf.Pool { return a.host.pool }

// UseHostMem gives the plugin's arena the read-only mapping of the
// host's iobuf memory (MapHostMem) and tells the host the plugin maps it.
// Plugin only, before it serves its ring.
func (a *Arena) UseHostMem(mem []byte) {
	a.host.mem = mem
	atomic.StoreUint32(&a.rings[ToPlugin].head.hostMem, ringMagic)
}

// SetLimit bounds this process's waits for replies on ring dir (the
// host's call-timeout on the toPlugin ring); nil: none. Before the ring
// is used.
func (a *Arena) SetLimit(dir int, l *Limit) { a.rings[dir].limit = l }

// OnBreach sets what the first breach of the protocol found in the arena
// does (breach.go): before the arena is used.
func (a *Arena) OnBreach(f func(what string)) { a.onBreach = f }

// SetPeerMaps records that the far side maps the arena: this side may
// name its slots and post ring calls from now on.
func (a *Arena) SetPeerMaps() { a.peerMaps.Store(true) }

// PeerMaps reports whether SetPeerMaps was called.
func (a *Arena) PeerMaps() bool { return a.peerMaps.Load() }

// Serves reports whether this side can call through ring dir now: the
// far side maps the arena and serves the ring.
func (a *Arena) Serves(dir int) bool { return a.caller(dir) != nil }

// Ready reports whether the far side serves ring dir (its ready word).
func (a *Arena) Ready(dir int) bool { return atomic.LoadUint32(&a.rings[dir].head.ready) == ringMagic }

// Stats are an arena's counters as this process sees them, a snapshot.
// Arrays are indexed by ring (toPlugin, toHost).
type Stats struct {
	Slots, SlotsInUse int
	// As a caller of each ring: calls made (releases included), calls
	// not free now, calls redone by gRPC for want of room for the reply,
	// callers that slept for their reply, fops that went by gRPC instead.
	Calls        [2]uint64
	CallsInUse   [2]int
	Retries      [2]uint64
	CallerSleeps [2]uint64
	GRPCCalls    [2]uint64
	// As the server of each ring: calls served, of those run by a caller
	// waiting for its own, workers that slept, and lost wake-ups (0 unless
	// a bug).
	Served       [2]uint64
	Helped       [2]uint64
	WorkerSleeps [2]uint64
	LateWakes    [2]uint64
	// Host memory: lends the plugin keeps (host), lends refused because
	// it keeps as much as it may (host), writevs of host memory served
	// (plugin).
	HostKept         int
	HostLendsRefused uint64
	HostMemWrites    uint64
}

// Stats returns a's counters now.
func (a *Arena) Stats() Stats {
	s := Stats{Slots: a.slots, SlotsInUse: a.inUse(), HostKept: a.keptCount(),
		HostLendsRefused: a.host.refused.Load(), HostMemWrites: a.host.writes.Load()}
	for d := range 2 {
		s.Calls[d] = a.ringCalls[d].Load()
		s.CallsInUse[d] = a.rings[d].inUse()
		s.Retries[d] = a.ringRetries[d].Load()
		s.CallerSleeps[d] = a.ringSleeps[d].Load()
		s.GRPCCalls[d] = a.grpcCalls[d].Load()
		s.Served[d] = a.served(d)
		s.Helped[d] = a.helped(d)
		s.WorkerSleeps[d] = a.workerSleeps[d].Load()
		s.LateWakes[d] = a.lateWakes[d].Load()
	}
	return s
}
