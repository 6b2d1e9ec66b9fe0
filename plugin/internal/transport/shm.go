package transport

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/iobuf"
)

// Bulk data (readv and writev payloads) travels between a host and its
// plugin through a shared-memory arena instead of inside gRPC messages:
// gRPC copies a payload about five times (marshal, socket write and read,
// HTTP/2 framing, unmarshal) and cuts it into 16 KiB frames, each a
// hand-off between goroutines, while through the arena the sender copies
// it once into a slot and the receiver reads it in place: it wraps the
// slot as a borrowed iobuf (iobuf.Pool.Borrow) that holds a reference on
// the slot until the receiver lets go of the data. Data that arrived
// through the arena and is passed on unchanged (a plugin winding a write
// down to the host's child, or returning what the child read) goes back
// as the same slot, not copied again. The gRPC message carries only the
// slot number and length.
//
// The arena is a memfd the host makes for each plugin process and passes
// to it as file descriptor 3; both map it shared. The plugin must write
// it (replies, data it returns), so it gets it read-write, but its size
// is sealed (F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_SEAL): no truncation can
// pull pages from under the host's mapping, so nothing the plugin does to
// the file makes the host fault. What the plugin writes there is
// validated by the host before use (ring.go). Its first page holds one
// state word per slot: the references held on it by both processes
// together (0: free), claimed with compare-and-swap and counted with
// atomic adds, so either process can take a slot and either can free it.
// A writev's sender keeps its reference until the reply, the receiver
// takes its own; a readv's reply hands the sender's reference over. It
// holds bytes only, never Go pointers. A plugin that dies holding slots
// takes its arena with it: the restarted process gets a new one, and the
// host's borrowed iobufs keep the old mapping until they are released.

// ShmMin is the smallest readv or writev payload a gRPC message names
// an arena slot for: below it the bytes ride in the message, which costs
// less than claiming and freeing a slot. Through a ring every payload
// goes in a slot (or host memory).
const ShmMin = 16 << 10

// arenaSeals are the seals of an arena's memfd: its size is fixed for
// good.
const arenaSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// Arena is a mapped shared-memory arena.
type Arena struct {
	mem      []byte
	slots    int
	slotSize int
	file     *os.File // the memfd, in the host until the plugin has it
	// refs counts the owner (until close) and the fops using the mapping
	// now: the last one unmaps it, so a plugin's death never pulls the
	// memory from under a fop that is copying into it.
	refs atomic.Int64

	// peerMaps: the far side maps the arena, so this side may name its
	// slots to it and post ring calls. In the plugin, always (the host
	// maps every arena it makes); in the host, once the plugin's answer
	// to Init says so (host/process.go). Slots the far side names are taken
	// either way: the host maps the arena, and checks them.
	peerMaps atomic.Bool

	rings   [2]*ring
	servers [2]*ringServer // the rings this process serves
	dead    atomic.Bool    // closed or broken: ring callers and workers give up
	// broken is set by the first breach of the protocol seen in the
	// arena, breaches counts them, and onBreach, set by the host before
	// the arena is used, kills the plugin (breach.go).
	broken   atomic.Bool
	breaches atomic.Uint64
	onBreach func(what string)
	// ringCalls and ringRetries count this process's calls through each
	// ring (releases included), and those redone by gRPC (no slot for
	// the reply).
	ringCalls, ringRetries [2]atomic.Uint64
	// ringSleeps counts this process's callers that slept waiting for a
	// reply on each ring, workerSleeps its workers that slept waiting
	// for calls.
	ringSleeps, workerSleeps [2]atomic.Uint64
	// lateWakes counts workers that woke at the end of their sleep's
	// bound and found a call waiting: a lost wake-up, 0 unless a bug.
	lateWakes [2]atomic.Uint64
	// grpcCalls counts this process's fops that went by gRPC instead
	// (a readv or writev that did not fit, no free call, no ring).
	grpcCalls [2]atomic.Uint64

	host   hostMem       // the host's iobuf memory (hostmem.go)
	chains atomic.Uint64 // the host's last call chain (ring.go)
}

// NewArena makes a memfd arena of slots slots in the host.
func NewArena(name string, slots int) (*Arena, error) {
	if slots > maxSlots {
		slots = maxSlots
	}
	fd, err := unix.MemfdCreate("xstack-plugin-"+name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "xstack-plugin-"+name)
	size := shmHeader + slots*ShmSlotSize
	if err := f.Truncate(int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, arenaSeals); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd: seal: %w", err)
	}
	a, err := MapArena(f, slots, ShmSlotSize)
	if err != nil {
		f.Close()
		return nil, err
	}
	a.file = f
	return a, nil
}

// MapArena maps the arena in f.
func MapArena(f *os.File, slots, slotSize int) (*Arena, error) {
	size := shmHeader + slots*slotSize
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < int64(size) || slots > maxSlots {
		return nil, fmt.Errorf("shared memory arena is %d bytes, %d slots of %d need %d", st.Size(), slots, slotSize, size)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap arena: %w", err)
	}
	a := &Arena{mem: mem, slots: slots, slotSize: slotSize}
	a.refs.Store(1)
	a.initRings()
	return a, nil
}

// Acquire takes a reference for a fop; false once the arena is closed.
func (a *Arena) Acquire() bool {
	if a == nil {
		return false
	}
	for {
		n := a.refs.Load()
		if n <= 0 {
			return false
		}
		if a.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a reference; the last one unmaps the arena.
func (a *Arena) Release() {
	if a.refs.Add(-1) == 0 {
		_ = unix.Munmap(a.mem)
	}
}

func (a *Arena) state(i int) *uint32 { return (*uint32)(unsafe.Pointer(&a.mem[4*i])) }

// alloc claims a free slot for n bytes and returns it, or ok false when n
// does not fit, is under least, or every slot is taken (the caller then
// sends the bytes in the message).
func (a *Arena) alloc(n, least int) (slot int, buf []byte, ok bool) {
	if a == nil || n > a.slotSize || n < least || n == 0 {
		return 0, nil, false
	}
	// Lowest free slot first: a slot just freed is the one taken next, so
	// a stream of fops keeps copying into memory that is still in the
	// CPU's caches. Going round all the slots instead (as this did) made
	// every copy miss: 1 MiB writes through a plugin spent most of their
	// CPU in memmove at under 8 GB/s.
	for i := 0; i < a.slots; i++ {
		if atomic.CompareAndSwapUint32(a.state(i), 0, 1) {
			off := shmHeader + i*a.slotSize
			return i, a.mem[off : off+n : off+n], true
		}
	}
	return 0, nil, false
}

// bytes returns slot's first n bytes, checking what the peer sent.
func (a *Arena) bytes(slot, n uint32) ([]byte, bool) {
	if a == nil || int(slot) >= a.slots || int(n) > a.slotSize {
		return nil, false
	}
	off := shmHeader + int(slot)*a.slotSize
	return a.mem[off : off+int(n) : off+int(n)], true
}

// hold adds a reference to slot, which the caller must already be known
// to be held (by itself or by the peer for the duration of a call).
func (a *Arena) hold(slot uint32) { atomic.AddUint32(a.state(int(slot)), 1) }

// Drop releases a reference to slot; the last one frees it.
func (a *Arena) Drop(slot uint32) {
	if a == nil || int(slot) >= a.slots {
		return
	}
	p := a.state(int(slot))
	for {
		n := atomic.LoadUint32(p)
		if n == 0 {
			return // the peer sent a slot it did not hold: ignore
		}
		if atomic.CompareAndSwapUint32(p, n, n-1) {
			return
		}
	}
}

// slotOfRef reports whether ref is one piece of data at the start of one
// of this arena's slots (an iobuf borrowed from it, passed on unchanged),
// and which.
func (a *Arena) slotOfRef(ref *iobuf.Iobref) (uint32, bool) {
	if a == nil || ref.Len() != 1 {
		return 0, false
	}
	seg := ref.Seg(0)
	if len(seg) == 0 || len(seg) > a.slotSize {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(a.mem))) + shmHeader
	p := uintptr(unsafe.Pointer(unsafe.SliceData(seg)))
	if p < base || p >= base+uintptr(a.slots*a.slotSize) || (p-base)%uintptr(a.slotSize) != 0 {
		return 0, false
	}
	return uint32((p - base) / uintptr(a.slotSize)), true
}

// Borrow returns an iobref over slot's first n bytes without copying them.
// It owns a slot reference: a new one with hold (the peer holds the slot
// for the call), else the one the peer handed over with its reply. The
// last Unref of the iobref's iobuf drops it (and the reference on the
// mapping taken here), so the memory stays the reader's for as long as it
// keeps the data, past the call if it wants.
func (a *Arena) Borrow(pool *iobuf.Pool, slot, n uint32, hold bool) (*iobuf.Iobref, bool) {
	mem, ok := a.bytes(slot, n)
	if !ok {
		if a != nil {
			a.breach("data in slot %d, %d bytes: outside the arena", slot, n)
		}
		return nil, false
	}
	if !a.Acquire() {
		return nil, false
	}
	if hold {
		a.hold(slot)
	}
	b := pool.Borrow(mem, (*slotLender)(a), uint64(slot))
	ref := pool.NewIobref()
	ref.AddRange(b, 0, int(n))
	b.Unref() // the iobref holds its own reference
	return ref, true
}

// slotLender is an arena lending its slots' memory to iobufs (borrow):
// a returned slot is dropped, with the arena reference the loan held.
type slotLender Arena

func (l *slotLender) Return(slot uint64) {
	a := (*Arena)(l)
	a.Drop(uint32(slot))
	a.Release()
}

// DataSlot returns a slot holding data, with a reference for the caller:
// the slot data is in already (data that came through the arena passed on
// unchanged: a plugin winding a write down to the host's child), or a new
// one of at least least bytes it is copied into.
func (a *Arena) DataSlot(data *iobuf.Iobref, least int) (uint32, bool) {
	if slot, ok := a.slotOfRef(data); ok {
		a.hold(slot)
		return slot, true
	}
	if slot, buf, ok := a.alloc(data.Size(), least); ok {
		data.CopyTo(buf)
		return uint32(slot), true
	}
	return 0, false
}

// HandOver puts ref in a slot for the far side, which gets a reference
// on it: the slot it is in already (data read through the arena passed on
// unchanged: no copy), or a new one of at least least bytes it is copied
// into. ref is consumed when ok.
func (a *Arena) HandOver(ref *iobuf.Iobref, least int) (uint32, bool) {
	slot, ok := a.DataSlot(ref, least)
	if ok {
		ref.Unref()
	}
	return slot, ok
}

// inUse counts the slots taken, for the statedump.
func (a *Arena) inUse() int {
	n := 0
	for i := 0; i < a.slots; i++ {
		if atomic.LoadUint32(a.state(i)) != 0 {
			n++
		}
	}
	return n
}

// Close drops the owner's reference: the arena is unmapped once no fop
// uses it.
func (a *Arena) Close() {
	if a == nil {
		return
	}
	a.CloseFile()
	a.dead.Store(true)
	a.dropKept()
	a.wakeAll()
	a.Release()
}

// CloseFile closes the host's memfd once the plugin has inherited it.
func (a *Arena) CloseFile() {
	if a != nil && a.file != nil {
		a.file.Close()
		a.file = nil
	}
}

// borrowFor returns the writev data in slot, n bytes, borrowed into s's
// pool under a reference of its own (borrow): ENOTCONN when s's graph is
// not running, EIO when the slot is not the arena's.
func (a *Arena) borrowFor(s Handler, slot, n uint32) (*iobuf.Iobref, uint32) {
	pool := s.Pool()
	if pool == nil {
		return nil, uint32(syscall.ENOTCONN)
	}
	data, ok := a.Borrow(pool, slot, n, true)
	if !ok {
		return nil, uint32(syscall.EIO)
	}
	return data, 0
}
