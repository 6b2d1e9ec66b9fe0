package transport

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/runtime/iobuf"
)

// Writev data in the host's own iobufs reaches the plugin with no copy at
// all: a graph with a plugin volume has a Shared iobuf pool (its arenas in
// one memfd, iobuf.Config.Shared), the host passes that memfd to the
// plugin as file descriptor 4, and the plugin maps it read-only. A ring
// writev then names the data by its offset in that file; the plugin reads
// it in place, as a borrowed iobuf, and the host's caller holds the iobuf
// for the duration of the call. Data the plugin passes back down (a
// writev wound to the host's child) goes back as the same offset, and the
// host finds its own iobuf again (iobuf.Pool.SharedRef) and takes a
// reference on it: the host's child gets a pool iobuf as from any parent.
//
// A plugin translator may keep the data past the call (a write-behind
// cache, say). Its server notices (the borrowed iobuf is still held when
// the translator returns) and says so in the reply; the host then keeps
// its own reference, under the call's token, until the plugin sends an
// opRelease for the token through the ring when the last holder lets go.
// The host keeps at most maxKeptLends of them, of maxKeptBytes bytes of
// data in all (plus what is lent to calls in flight); beyond, it lends
// nothing more until the plugin releases some (a writev's data goes in an
// arena slot instead), and counts the refusal (host-lends-refused).
//
// The host records every lend, in flight or kept (hostMem.lent): a token
// the plugin releases must be one of them (else a breach, breach.go), and
// data the plugin winds back as host memory must lie in one of them, so
// that SharedRef is only ever asked for an iobuf the host knows is held.
//
// The plugin gets the memfd through a descriptor opened read-only and the
// file is sealed against writes (iobuf.Pool.SharedFile): whatever mapping
// it makes, whatever descriptor it reopens, a plugin cannot write into
// host memory nor change the file's size. It can read all of it: every
// iobuf of the host's graph is in that file, not only what it was lent
// (the pages of one arena hold the data of any fop, so lending pages
// alone would need a copy, which is what this layout avoids).

// Bounds of the host data a plugin may keep past its writevs.
const (
	maxKeptLends = 256      // lends a plugin may keep (replyKept) before the host lends no more
	maxKeptBytes = 64 << 20 // bytes of host data a plugin may keep so, in all
)

// hostMem is an arena's view of the host's iobuf memory.
type hostMem struct {
	// In the host: the graph's shared pool. In the plugin: the read-only
	// mapping of its file.
	pool *iobuf.Pool
	mem  []byte

	mu        sync.Mutex
	lent      []lend // host: data lent to the plugin, in flight or kept
	kept      int    // host: lends kept, of maxKeptLends
	keptBytes int    // host: their bytes, of maxKeptBytes
	token     atomic.Uint64
	// writes counts ring writevs whose data went as host memory.
	writes atomic.Uint64
	// refused counts, in the host, writevs whose data was not lent
	// because the plugin kept as much as it may.
	refused atomic.Uint64
}

// lend is host data lent to the plugin by the writev of token: held by
// the writev's caller while it runs, by the host itself once kept.
type lend struct {
	token    uint64
	off, n   uint64 // where it is in the host's iobuf memory
	data     *iobuf.Iobref
	kept     bool // the reply said kept: the host holds a reference
	released bool // the plugin's opRelease came before the reply
}

// MapHostMem maps the host's iobuf memory in the plugin, when the host
// passed it.
func MapHostMem() ([]byte, error) {
	v := os.Getenv(HostMemEnv)
	if v == "" {
		return nil, nil
	}
	fd, size, ok := strings.Cut(v, ":")
	n, err1 := strconv.Atoi(fd)
	sz, err2 := strconv.ParseInt(size, 10, 64)
	if !ok || err1 != nil || err2 != nil || n != HostMemFD || sz <= 0 {
		return nil, fmt.Errorf("%s=%q: want %d:SIZE", HostMemEnv, v, HostMemFD)
	}
	mem, err := unix.Mmap(HostMemFD, 0, int(sz), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("map the host's iobuf memory: %w", err)
	}
	return mem, nil
}

// HostOffset returns where data lies in the host's iobuf memory, when it
// is one segment there and the plugin maps that memory: in the host, a
// pool iobuf; in the plugin, host data it was lent.
func (a *Arena) HostOffset(data *iobuf.Iobref) (uint64, bool) {
	if a == nil || data.Len() != 1 {
		return 0, false
	}
	seg := data.Seg(0)
	if hm := &a.host; hm.pool != nil {
		if atomic.LoadUint32(&a.rings[ToPlugin].head.hostMem) != ringMagic {
			return 0, false
		}
		off, ok := hm.pool.SharedOffset(seg)
		return uint64(off), ok
	} else if hm.mem != nil && len(seg) > 0 {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(hm.mem)))
		p := uintptr(unsafe.Pointer(unsafe.SliceData(seg)))
		if p >= base && p+uintptr(len(seg)) <= base+uintptr(len(hm.mem)) {
			return uint64(p - base), true
		}
	}
	return 0, false
}

// writevHost serves a ring writev whose data is in host memory.
func (a *Arena) writevHost(ctx context.Context, s Handler, h *pb.Header, pf *pb.Fd, c *ringCall) (n int64, errno, flags uint32) {
	hm := &a.host
	doff, dlen := c.doff, c.dlen
	if hm.pool != nil {
		// In the host: the data is in one of our own iobufs, lent to
		// the plugin by a caller up the stack that holds it.
		data, ok := a.lentRef(doff, dlen)
		if !ok {
			a.breach("ring writev of host memory [%d, +%d), which the host did not lend it", doff, dlen)
			return 0, uint32(syscall.EIO), 0
		}
		n, errno = s.ServeWritev(ctx, h, pf, data, c.off)
		return n, errno, 0
	}
	if hm.mem == nil || dlen == 0 || doff > uint64(len(hm.mem)) || uint64(dlen) > uint64(len(hm.mem))-doff {
		return 0, uint32(syscall.EIO), 0
	}
	pool := s.Pool()
	if pool == nil {
		return 0, uint32(syscall.ENOTCONN), 0
	}
	end := doff + uint64(dlen)
	mem := hm.mem[doff:end:end]
	l := hostLoans.Get().(*hostLoan)
	l.a, l.token = a, c.dtoken
	l.state.Store(loanInCall)
	b := pool.Borrow(mem, l, 0)
	data := pool.NewIobref()
	data.AddRange(b, 0, len(mem))
	b.Unref()
	n, errno = s.ServeWritev(ctx, h, pf, data, c.off)
	if l.state.CompareAndSwap(loanInCall, loanKept) {
		flags = replyKept // l is recycled by Return, after our opRelease
	} else {
		l.recycle() // returned during the call
	}
	hm.writes.Add(1)
	return n, errno, flags
}

// hostLoan is a plugin's loan of host memory to its own iobuf pool for
// one writev. During the call the host holds the data; after it only if
// the reply says the plugin kept it, until the plugin's opRelease. Loans
// are recycled: a writev through the ring allocates nothing.
type hostLoan struct {
	a     *Arena
	token uint64
	state atomic.Int32
}

const (
	loanInCall = iota // the writev runs
	loanFreed         // every reference went during the call
	loanKept          // the call ended with references left
)

var hostLoans = sync.Pool{New: func() any { return new(hostLoan) }}

// Return: the last reference to the data went.
func (l *hostLoan) Return(uint64) {
	if l.state.CompareAndSwap(loanInCall, loanFreed) {
		return // writevHost recycles l after the call
	}
	l.a.releaseHost(l.token)
	l.recycle()
}

func (l *hostLoan) recycle() {
	l.a = nil
	hostLoans.Put(l)
}

// releaseHost tells the host (opRelease through the ring) that the plugin
// let go of the host data named token.
func (a *Arena) releaseHost(token uint64) {
	rg := a.caller(ToHost)
	if rg == nil {
		return // the host is going away: its references go with it
	}
	var c *ringCall
	for c = rg.claim(); c == nil; c = rg.claim() {
		yieldCPU()
	}
	c.op, c.dtoken = opRelease, token
	rg.post(c)
	if rg.wait(context.Background(), c, false) == nil {
		rg.free(c)
	}
}

// lend records, in the host, that data (n bytes at offset off of the
// host's iobuf memory, held by the caller) goes to the plugin with a
// writev, and returns the writev's token. It refuses (false, counted)
// while the plugin keeps as much of the host's data as it may: the
// writev then puts its data in an arena slot. In the plugin it only
// numbers the call.
func (a *Arena) lend(off uint64, n int, data *iobuf.Iobref) (uint64, bool) {
	hm := &a.host
	token := hm.token.Add(1)
	if hm.pool == nil {
		return token, true
	}
	hm.mu.Lock()
	defer hm.mu.Unlock()
	if hm.kept >= maxKeptLends || hm.keptBytes+n > maxKeptBytes {
		hm.refused.Add(1)
		return 0, false
	}
	hm.lent = append(hm.lent, lend{token: token, off: off, n: uint64(n), data: data})
	return token, true
}

// settle ends, in the host, the writev that lent token, kept saying
// whether the plugin still holds the data (its reply said so, or the
// caller gave up on a call the plugin had taken): the lend is dropped,
// or, when kept and not released yet, kept under a reference of the
// host's own until the plugin's opRelease. A lend kept already stays.
func (a *Arena) settle(token uint64, kept bool) {
	hm := &a.host
	if hm.pool == nil {
		return
	}
	hm.mu.Lock()
	defer hm.mu.Unlock()
	i := hm.find(token)
	if i < 0 {
		return // dropped with the arena
	}
	switch e := &hm.lent[i]; {
	case e.kept:
		// Abandoned while the plugin had it: its release ends it.
	case kept && !e.released:
		e.kept = true
		e.data.Ref()
		hm.kept++
		hm.keptBytes += int(e.n)
	default:
		hm.remove(i)
	}
}

// released handles, in the host, the plugin's opRelease of token: the
// data it kept is let go of, or, when the release overtook the writev's
// reply, marked released for settle. A token the host is not waiting for
// is a breach.
func (a *Arena) released(token uint64) {
	hm := &a.host
	hm.mu.Lock()
	i := hm.find(token)
	if i < 0 || hm.lent[i].released {
		hm.mu.Unlock()
		a.breach("release of host data %d, which the plugin does not hold", token)
		return
	}
	e := hm.lent[i]
	if !e.kept {
		hm.lent[i].released = true
		hm.mu.Unlock()
		return
	}
	hm.remove(i)
	hm.kept--
	hm.keptBytes -= int(e.n)
	hm.mu.Unlock()
	e.data.Unref()
}

// lentRef returns, in the host, an iobref over the n bytes at offset off
// of the host's iobuf memory, with a new reference on the host's iobuf
// they are in, when they lie in data lent to the plugin that the host or
// a caller still holds (a plugin winding lent data back to a child);
// false for any other range.
func (a *Arena) lentRef(off uint64, n uint32) (*iobuf.Iobref, bool) {
	hm := &a.host
	hm.mu.Lock()
	defer hm.mu.Unlock()
	for i := range hm.lent {
		if e := &hm.lent[i]; off >= e.off && uint64(n) <= e.n && off-e.off <= e.n-uint64(n) {
			// The lend holds the iobuf until settle or released
			// removes it, under hm.mu.
			return hm.pool.SharedRef(int64(off), int(n))
		}
	}
	return nil, false
}

func (hm *hostMem) find(token uint64) int {
	for i := range hm.lent {
		if hm.lent[i].token == token {
			return i
		}
	}
	return -1
}

func (hm *hostMem) remove(i int) {
	last := len(hm.lent) - 1
	hm.lent[i] = hm.lent[last]
	hm.lent[last] = lend{}
	hm.lent = hm.lent[:last]
}

// dropKept releases, in the host, everything a dead plugin kept, and
// forgets its lends.
func (a *Arena) dropKept() {
	hm := &a.host
	hm.mu.Lock()
	lent := hm.lent
	hm.lent, hm.kept, hm.keptBytes = nil, 0, 0
	hm.mu.Unlock()
	for _, e := range lent {
		if e.kept {
			e.data.Unref()
		}
	}
}

// keptCount counts the host's references kept for the plugin.
func (a *Arena) keptCount() int {
	hm := &a.host
	hm.mu.Lock()
	defer hm.mu.Unlock()
	return hm.kept
}
