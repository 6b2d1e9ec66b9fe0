package xlator

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xstack/xstack/runtime/mempool"
)

// MaxHops is how many hops of a call's path are recorded. Deeper calls
// still work; their hops past this depth are not shown in a statedump.
const MaxHops = 24

// hop is one translator a call is inside. xl is the translator's index + 1
// (0 = slot empty); since is when the call entered it (ticks).
type hop struct {
	xl    int32 // st32/ld32
	since int64 // st64/ld64
}

// Call is the per-request context that travels with every fop (GlusterFS's
// call stack): the caller's credentials, cancellation, and the record of
// the translators the request is inside, which a statedump lists.
//
// A Call is used by one goroutine at a time. A translator that fans out to
// several children in parallel gives each goroutine its own Fork.
type Call struct {
	// Ctx carries cancellation and deadlines; never nil. It is the
	// caller's: a FUSE request's is done when the kernel interrupts the
	// request, an API call's is the context the program gave. A
	// translator that waits (for a plugin, a lock, another process)
	// should give up when it is done, with ECANCELED or ETIMEDOUT. Like
	// the Call, it must not be kept after the fop returns.
	Ctx context.Context
	// Credentials of the caller.
	Uid, Gid uint32
	Groups   []uint32
	Pid      uint32
	// LkOwner is the lock owner the request acts for (GlusterFS's
	// frame->root->lk_owner): the Lk fop's locks are held by it, and a
	// Flush releases the POSIX locks it holds on the file. A FUSE
	// request carries the kernel's owner id (a process's files for
	// fcntl locks, the open file for OFD and flock locks); 0 when the
	// front end has none.
	LkOwner uint64
	// Unique identifies the request (a FUSE unique id, or a counter).
	Unique uint64
	// Fop is the operation that entered the graph.
	Fop Fop

	start  int64 // ticks at Begin
	depth  int32 // owned by the goroutine using the Call
	hops   [MaxHops]hop
	parent *Call
	pool   *CallPool
	prev   *Call // in-flight list links, guarded by pool.mu
	next   *Call
	active bool
	cancel chanCtx // Ctx of a call begun by BeginCancel
}

// GaveUp reports whether the call's caller gave up: its context ended
// and it is not a FUSE caller that lives on (CallerDying). A long fop
// checks it between steps.
func (c *Call) GaveUp() bool { return c.Ctx.Err() != nil && CallerDying(c.Ctx) }

// Depth returns how many translators the call is inside.
func (c *Call) Depth() int { return int(c.depth) }

// enter records that the call entered translator index idx and returns the
// time it did.
func (c *Call) enter(idx int) int64 {
	now := nowTicks()
	if d := c.depth; d < MaxHops {
		st64(&c.hops[d].since, now)
		st32(&c.hops[d].xl, int32(idx)+1)
	}
	c.depth++
	return now
}

// leave records that the call left its innermost translator.
func (c *Call) leave() {
	c.depth--
	if d := c.depth; d >= 0 && d < MaxHops {
		st32(&c.hops[d].xl, 0)
	}
}

// Fork returns a call for a parallel branch of c: same credentials and
// context, its own hop record (starting where c is now), listed in flight
// under c. The branch's goroutine must call Done.
func (c *Call) Fork() *Call {
	f := c.pool.get()
	f.Ctx, f.Uid, f.Gid, f.Groups, f.Pid, f.LkOwner, f.Unique, f.Fop = c.Ctx, c.Uid, c.Gid, c.Groups, c.Pid, c.LkOwner, c.Unique, c.Fop
	f.parent = c
	f.start = nowTicks()
	c.pool.add(f)
	return f
}

// Done ends the call: it leaves the in-flight list and returns to its pool.
// The Call must not be used afterwards.
func (c *Call) Done() {
	p := c.pool
	p.remove(c)
	p.put(c)
}

// Age returns how long ago the call began.
func (c *Call) Age() time.Duration { return time.Duration(ticksToNs(nowTicks() - c.start)) }

// CallPool hands out Calls and lists the ones in flight. It is safe for
// concurrent use. Its Calls are recycled, so a caller must not keep a Call
// after Done.
type CallPool struct {
	free *mempool.Pool[Call]

	mu     sync.Mutex
	head   *Call
	n      int
	begun  atomic.Uint64
	unique atomic.Uint64
}

// NewCallPool returns an empty pool whose Calls come from a mem-pool
// "graph:call-stack" in reg (GlusterFS's call_stack_t pool), so statedumps
// show them; reg may be nil.
func NewCallPool(reg *mempool.Registry) *CallPool {
	calibrate() // before the first nowTicks
	return &CallPool{free: mempool.New[Call](reg, "graph", "call-stack", 1024)}
}

func (p *CallPool) get() *Call {
	c := p.free.Get()
	c.pool = p
	return c
}

func (p *CallPool) put(c *Call) {
	c.Ctx, c.Groups, c.parent, c.cancel.done = nil, nil, nil, nil
	if c.depth != 0 {
		// A translator panicked: the hops it never left must not show
		// in the call's next life.
		c.hops = [MaxHops]hop{}
	}
	c.depth = 0
	_ = p.free.Put(c) // a bad Put is counted and logged by the pool
}

// Close releases the pool's mem-pool.
func (p *CallPool) Close() { p.free.Destroy() }

func (p *CallPool) add(c *Call) {
	p.begun.Add(1)
	p.mu.Lock()
	c.prev, c.next = nil, p.head
	if p.head != nil {
		p.head.prev = c
	}
	p.head = c
	c.active = true
	p.n++
	p.mu.Unlock()
}

func (p *CallPool) remove(c *Call) {
	p.mu.Lock()
	if c.active {
		if c.prev != nil {
			c.prev.next = c.next
		} else {
			p.head = c.next
		}
		if c.next != nil {
			c.next.prev = c.prev
		}
		c.prev, c.next, c.active = nil, nil, false
		p.n--
	}
	p.mu.Unlock()
}

// Creds are a caller's credentials.
type Creds struct {
	Uid, Gid uint32
	Groups   []uint32
	Pid      uint32
	LkOwner  uint64 // Call.LkOwner
}

// Begin starts a request for fop with the given credentials and context
// (context.Background if nil). unique 0 asks the pool to number it. The
// caller must call Done when the fop returns.
func (p *CallPool) Begin(ctx context.Context, fop Fop, cr Creds, unique uint64) *Call {
	c := p.get()
	if ctx == nil {
		ctx = context.Background()
	}
	c.Ctx = ctx
	p.begin(c, fop, cr, unique)
	return c
}

// BeginCancel is Begin for a front end that cancels a request by closing
// a channel (go-fuse's per-request cancel channel, closed when the kernel
// interrupts the request): the call's Ctx is done once cancel is closed,
// its Err is then context.Canceled, and it has no deadline and no values
// but the mark WaitsAnyway reports.
// A nil cancel gives context.Background. The context lives in the Call,
// so beginning such a call allocates nothing; it must not be kept after
// Done (a Fork shares it, and ends before its parent).
func (p *CallPool) BeginCancel(cancel <-chan struct{}, fop Fop, cr Creds, unique uint64) *Call {
	c := p.get()
	if cancel == nil {
		c.Ctx = context.Background()
	} else {
		c.cancel.done, c.cancel.pid = cancel, cr.Pid
		c.Ctx = &c.cancel
	}
	p.begin(c, fop, cr, unique)
	return c
}

func (p *CallPool) begin(c *Call, fop Fop, cr Creds, unique uint64) {
	if unique == 0 {
		unique = p.unique.Add(1)
	}
	c.Fop, c.Unique = fop, unique
	c.Uid, c.Gid, c.Groups, c.Pid, c.LkOwner = cr.Uid, cr.Gid, cr.Groups, cr.Pid, cr.LkOwner
	c.start = nowTicks()
	p.add(c)
}

// chanCtx is a context.Context done when its channel is closed: the
// context of a call begun by BeginCancel, for the caller pid.
type chanCtx struct {
	done <-chan struct{}
	pid  uint32
}

var _ context.Context = (*chanCtx)(nil)

func (c *chanCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *chanCtx) Done() <-chan struct{}       { return c.done }

func (c *chanCtx) Value(key any) any {
	if key == (waitsAnywayKey{}) {
		return c
	}
	return nil
}

// waitsAnywayKey is the context key WaitsAnyway looks for.
type waitsAnywayKey struct{}

// WaitsAnyway reports whether the end of ctx means that its caller was
// interrupted but still waits for the answer: a FUSE request's context
// (BeginCancel), ended by the kernel's INTERRUPT when the calling thread
// gets a signal (any signal: Go's preemption signal too), after which the
// kernel waits for the reply unless the caller dies. A fop that changes
// something should then finish and report what it did rather than fail
// with EINTR, which the caller would take as "not done" or not expect at
// all (rename(2) is not restarted after an EINTR from a file system). An
// API caller's context (a deadline, a cancel) is not such a context: its
// end means the caller stops waiting, whatever the outcome.
func WaitsAnyway(ctx context.Context) bool { return ctx.Value(waitsAnywayKey{}) != nil }

// CallerDying reports, for a context of WaitsAnyway's kind that is done,
// whether its caller is dying: its process has a SIGKILL pending, is a
// zombie or is gone. The kernel then waits for the reply no
// more than it must, so a wait for something slow should give up; a
// caller that lives on was only interrupted by a signal it handles (Go's
// preemption signal among them) and would get an EINTR it does not expect
// from stat(2) or rename(2), as an NFS mount gives since Linux 2.6.25
// only to a dying caller. It reads /proc, so it is for the rare moment a
// context ends, not for every call. Any other context is its caller's to
// end: CallerDying is true.
func CallerDying(ctx context.Context) bool {
	c, ok := ctx.Value(waitsAnywayKey{}).(*chanCtx)
	if !ok || c.pid == 0 {
		return true
	}
	return processDying(int(c.pid))
}

// processDying reads /proc/PID/status: a pending SIGKILL (the process's
// or a thread's), a zombie, or no such process.
func processDying(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return true
	}
	const sigkill = 1 << (9 - 1)
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			if strings.HasPrefix(v, "Z") || strings.HasPrefix(v, "X") {
				return true
			}
		case "SigPnd", "ShdPnd":
			if m, err := strconv.ParseUint(v, 16, 64); err == nil && m&sigkill != 0 {
				return true
			}
		}
	}
	return false
}

func (c *chanCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// Frame is one hop of a call in flight, for the statedump.
type Frame struct {
	Xlator int           // translator index in the graph
	Wait   time.Duration // how long the call has been inside it
}

// CallInfo is a snapshot of a call in flight.
type CallInfo struct {
	Unique uint64
	Fop    Fop
	Uid    uint32
	Gid    uint32
	Pid    uint32
	Age    time.Duration
	Fork   bool    // a parallel branch of another call
	Frames []Frame // outermost first; the last is the hop that has not returned
}

// InFlight returns snapshots of the calls in flight. It holds the pool's
// lock only while copying, never while the caller formats.
func (p *CallPool) InFlight() []CallInfo {
	now := nowTicks()
	p.mu.Lock()
	out := make([]CallInfo, 0, p.n)
	for c := p.head; c != nil; c = c.next {
		ci := CallInfo{Unique: c.Unique, Fop: c.Fop, Uid: c.Uid, Gid: c.Gid, Pid: c.Pid,
			Age: time.Duration(ticksToNs(now - c.start)), Fork: c.parent != nil}
		for i := range c.hops {
			x := ld32(&c.hops[i].xl)
			if x == 0 {
				break
			}
			ci.Frames = append(ci.Frames, Frame{Xlator: int(x) - 1, Wait: time.Duration(ticksToNs(now - ld64(&c.hops[i].since)))})
		}
		out = append(out, ci)
	}
	p.mu.Unlock()
	return out
}

// Count returns the number of calls in flight and the number ever begun.
func (p *CallPool) Count() (inFlight int, begun uint64) {
	p.mu.Lock()
	n := p.n
	p.mu.Unlock()
	return n, p.begun.Load()
}
