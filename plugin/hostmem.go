package plugin

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
// The plugin's mapping is read-only: a plugin cannot write into host
// memory, only read what the host lent it.

// hostMemFD is the file descriptor the plugin finds the host's iobuf
// memory on; hostMemEnv gives "fd:size".
const (
	hostMemFD  = 4
	hostMemEnv = "XSTACK_PLUGIN_HOSTMEM"
)

// hostMem is an arena's view of the host's iobuf memory.
type hostMem struct {
	// In the host: the graph's shared pool. In the plugin: the read-only
	// mapping of its file.
	pool *iobuf.Pool
	mem  []byte

	mu    sync.Mutex
	kept  map[uint64]*iobuf.Iobref // host: data the plugin still holds, by token
	early map[uint64]bool          // host: tokens released before their reply was seen
	token atomic.Uint64
	// writes counts ring writevs whose data went as host memory.
	writes atomic.Uint64
}

// mapHostMem maps the host's iobuf memory in the plugin, when the host
// passed it.
func mapHostMem() ([]byte, error) {
	v := os.Getenv(hostMemEnv)
	if v == "" {
		return nil, nil
	}
	fd, size, ok := strings.Cut(v, ":")
	n, err1 := strconv.Atoi(fd)
	sz, err2 := strconv.ParseInt(size, 10, 64)
	if !ok || err1 != nil || err2 != nil || n != hostMemFD || sz <= 0 {
		return nil, fmt.Errorf("%s=%q: want %d:SIZE", hostMemEnv, v, hostMemFD)
	}
	mem, err := unix.Mmap(hostMemFD, 0, int(sz), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("map the host's iobuf memory: %w", err)
	}
	return mem, nil
}

// hostOffset returns where data lies in the host's iobuf memory, when it
// is one segment there and the plugin maps that memory: in the host, a
// pool iobuf; in the plugin, host data it was lent.
func (a *arena) hostOffset(data *iobuf.Iobref) (uint64, bool) {
	if a == nil || data.Len() != 1 {
		return 0, false
	}
	seg := data.Seg(0)
	if hm := &a.host; hm.pool != nil {
		if atomic.LoadUint32(&a.rings[toPlugin].head.hostMem) != ringMagic {
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
func (a *arena) writevHost(ctx context.Context, s *server, h *pb.Header, pf *pb.Fd, c *ringCall) (n int64, errno, flags uint32) {
	hm := &a.host
	if hm.pool != nil {
		// In the host: the data is in one of our own iobufs, which the
		// caller up the stack holds.
		data, ok := hm.pool.SharedRef(int64(c.doff), int(c.dlen))
		if !ok {
			return 0, uint32(syscall.EIO), 0
		}
		n, errno = s.writev(ctx, h, pf, data, c.off)
		return n, errno, 0
	}
	if hm.mem == nil || c.doff+uint64(c.dlen) > uint64(len(hm.mem)) || c.dlen == 0 {
		return 0, uint32(syscall.EIO), 0
	}
	pool := s.pool()
	if pool == nil {
		return 0, uint32(syscall.ENOTCONN), 0
	}
	mem := hm.mem[c.doff : c.doff+uint64(c.dlen) : c.doff+uint64(c.dlen)]
	l := hostLoans.Get().(*hostLoan)
	l.a, l.token = a, c.dtoken
	l.state.Store(loanInCall)
	b := pool.Borrow(mem, l, 0)
	data := pool.NewIobref()
	data.AddRange(b, 0, len(mem))
	b.Unref()
	n, errno = s.writev(ctx, h, pf, data, c.off)
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
	a     *arena
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
func (a *arena) releaseHost(token uint64) {
	rg := a.caller(toHost)
	if rg == nil {
		return // the host is going away: its references go with it
	}
	var c *ringCall
	for c = rg.claim(); c == nil; c = rg.claim() {
		yieldCPU()
	}
	c.op, c.dtoken = opRelease, token
	rg.post(c)
	if rg.wait(context.Background(), c) == nil {
		rg.free(c)
	}
}

// keep records, in the host, that the plugin kept data past the writev
// named token: the host holds a reference until the plugin releases it.
func (a *arena) keep(token uint64, data *iobuf.Iobref) {
	hm := &a.host
	hm.mu.Lock()
	defer hm.mu.Unlock()
	if hm.early[token] {
		delete(hm.early, token) // released already
		return
	}
	if hm.kept == nil {
		hm.kept = map[uint64]*iobuf.Iobref{}
	}
	data.Ref()
	hm.kept[token] = data
}

// released drops, in the host, the reference kept for token.
func (a *arena) released(token uint64) {
	hm := &a.host
	hm.mu.Lock()
	data, ok := hm.kept[token]
	if ok {
		delete(hm.kept, token)
	} else {
		// The release overtook the writev's reply.
		if hm.early == nil {
			hm.early = map[uint64]bool{}
		}
		hm.early[token] = true
	}
	hm.mu.Unlock()
	if ok {
		data.Unref()
	}
}

// dropKept releases, in the host, everything a dead plugin kept.
func (a *arena) dropKept() {
	hm := &a.host
	hm.mu.Lock()
	kept := hm.kept
	hm.kept, hm.early = nil, nil
	hm.mu.Unlock()
	for _, d := range kept {
		d.Unref()
	}
}

// keptCount counts the host's references kept for the plugin.
func (a *arena) keptCount() int {
	hm := &a.host
	hm.mu.Lock()
	defer hm.mu.Unlock()
	return len(hm.kept)
}
