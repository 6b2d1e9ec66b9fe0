package transport

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	pb "github.com/xstack/xstack/plugin/proto"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// Fops go through rings of call slots in the arena's header instead of
// gRPC when both sides serve them: readv and writev with call layouts of
// their own, every other call of the Xlator service as its protobuf
// messages (ringconn.go); a call that does not fit stays on gRPC. A gRPC
// call costs 200–300 µs on a two-CPU machine: marshalling, HTTP/2 framing,
// a socket write and read, and four goroutine hand-offs across the two
// processes. A ring call is a few stores into shared memory and, when the
// other side is asleep, one futex wake-up each way; the data goes in
// arena slots as before.
//
// There are two rings: the host's calls to the plugin's translator and
// the plugin's proxies' calls to the host's children. A caller claims a
// free call slot, writes the request (credentials, fd, offset, size, data
// slot), posts it and rings the doorbell: it bumps the ring's sequence
// word and wakes a sleeping worker with FUTEX_WAKE. Workers of the
// serving side take posted calls, run them on the goroutine they woke on
// (no hand-off) and complete them; the caller spins a little for the
// reply, then sleeps on the call's state word. A worker that takes a call
// while no other worker is idle starts another (up to ringWorkers), so a
// slow fop never holds up the rest.
//
// A host thread waiting for its call to a plugin runs, itself, the calls
// the plugin winds back into the host's children while serving that very
// call (its chain: every call carries the chain of the host call it
// serves, the host call's slot as its parent): a pass-through write is
// two threads handing work back and forth, no wake-ups. It runs no other
// call: a call of another chain may need a lock the waiting thread holds,
// and nested under it would never finish. A call posted for a polling
// parent wakes no worker; the waiting thread marks its call before it
// sleeps, and looks for its chain's calls once more after, so no call is
// left unserved. A thread of either side waiting for a reply makes the
// polling worker of the ring its process serves stop polling: two
// pollers are one too many on two CPUs.
//
// Each side sets its ring's ready word once its workers run: a caller
// uses the ring only when the far side serves it. A caller whose context
// ends, or whose call runs out of the host's call-timeout (host/deadline.go),
// abandons its call: a worker that has taken it drops the data it
// carried when it completes it, and the slot is free only then. A writev
// of host memory the plugin took keeps that memory referenced until the
// plugin, completing the call, sends an opRelease for it. A host whose
// plugin dies stops waiting (ENOTCONN): close marks the arena dead and
// wakes every sleeper.

// ringWorkers is the most workers serving one ring.
const ringWorkers = 32

// Handler serves the calls a ring's workers take: the generated handlers
// of the Xlator service run on it for opUnary calls, and readv and
// writev, whose data travels in arena slots or host memory, call it
// directly. It must be safe for concurrent use.
type Handler interface {
	pb.XlatorServer
	// ServeReadv serves a readv and returns its data, which the caller
	// then owns, or an errno.
	ServeReadv(ctx context.Context, h *pb.Header, pf *pb.Fd, size, off int64) (*iobuf.Iobref, uint32)
	// ServeWritev serves a writev of data, which it consumes.
	ServeWritev(ctx context.Context, h *pb.Header, pf *pb.Fd, data *iobuf.Iobref, off int64) (int64, uint32)
	// Pool returns the iobuf pool that data read in place is borrowed
	// into, nil when the local graph is not running.
	Pool() *iobuf.Pool
}

// ring is one ring of a mapped arena.
type ring struct {
	a      *Arena
	dir    int
	head   *ringHead
	states *[ringCalls]callState
	calls  *[ringCalls]ringCall
	hint   atomic.Uint32 // where claim starts looking
	// limit bounds this process's waits for replies (the host's
	// call-timeout); nil: none.
	limit *Limit
	// own is this process's copy of what it wrote into the calls it
	// made and needs again after posting them: the far side can write
	// the shared call at any time (breach.go). Each entry is its call's
	// caller's alone from claim to free.
	own [ringCalls]ownCall
}

// ownCall is a caller's own copy of part of its call.
type ownCall struct {
	chain uint64 // the call's chain
	// token names the host memory a writev lends the plugin (dataHost),
	// 0: none. A caller giving up on a call the plugin took keeps the
	// data referenced, under its token, until the plugin releases it.
	token uint64
	slot  uint32 // the arena slot of its request's data, + 1; 0: none
}

func (a *Arena) initRings() {
	for i := range a.rings {
		base := unsafe.Pointer(&a.mem[ringOff+i*ringSize])
		a.rings[i] = &ring{a: a, dir: i, head: (*ringHead)(base),
			states: (*[ringCalls]callState)(unsafe.Add(base, ringStatesOff)),
			calls:  (*[ringCalls]ringCall)(unsafe.Add(base, ringCallsOff))}
	}
}

// index returns the index of call c.
func (r *ring) index(c *ringCall) int {
	return int((uintptr(unsafe.Pointer(c)) - uintptr(unsafe.Pointer(r.calls))) / ringCallSize)
}

// st returns the state word of call c.
func (r *ring) st(c *ringCall) *uint32 { return &r.states[r.index(c)].v }

// caller returns ring dir when the far side serves it, else nil.
func (a *Arena) caller(dir int) *ring {
	if a == nil || a.dead.Load() || !a.peerMaps.Load() {
		return nil
	}
	r := a.rings[dir]
	if atomic.LoadUint32(&r.head.ready) != ringMagic {
		return nil
	}
	return r
}

// claim takes a free call slot, or returns nil when all are in use. The
// call is part of no chain.
func (r *ring) claim() *ringCall {
	start := r.hint.Load()
	for k := uint32(0); k < ringCalls; k++ {
		i := (start + k) % ringCalls
		st := &r.states[i].v
		s := atomic.LoadUint32(st)
		if s == callFree && atomic.CompareAndSwapUint32(st, callFree, callFilling) {
			raceAcquire() // r.own[i], last used by the call's previous caller
			r.hint.Store(i)
			c := &r.calls[i]
			c.chain, c.parent = 0, 0
			r.own[i] = ownCall{}
			return c
		}
		if !validState(s) {
			r.a.breach("call %d of ring %d in state %#x", i, r.dir, s)
			return nil
		}
	}
	return nil
}

// holdsSlot records that c's request data is in slot, which the caller
// drops if it withdraws c.
func (r *ring) holdsSlot(c *ringCall, slot uint32) { r.own[r.index(c)].slot = slot + 1 }

// ownSlot returns the slot holdsSlot recorded for c, if any.
func (r *ring) ownSlot(c *ringCall) (uint32, bool) {
	s := r.own[r.index(c)].slot
	return s - 1, s != 0
}

// chainKey is the context key of the chain a ring worker serves.
type chainKey struct{}

// chainCtx is the context of the fops a ring worker runs: it names the
// call being served, so that the calls those fops make through the other
// ring join its chain. A worker reuses its own.
type chainCtx struct {
	context.Context
	chain  uint64
	parent uint32
}

// Value returns the chainCtx itself for chainKey.
func (c *chainCtx) Value(k any) any {
	if k == (chainKey{}) {
		return c
	}
	return c.Context.Value(k)
}

// join puts call c, made by a fop running under ctx, in its chain: a host
// call starts a chain, a plugin's call joins the chain of the host call
// its worker serves.
func (r *ring) join(ctx context.Context, c *ringCall) {
	if r.dir == ToPlugin {
		chain := r.a.chains.Add(1)
		c.chain, r.own[r.index(c)].chain = chain, chain
		return
	}
	if ctx != nil {
		if cc, ok := ctx.Value(chainKey{}).(*chainCtx); ok {
			c.chain, c.parent = cc.chain, cc.parent
			r.own[r.index(c)].chain = cc.chain
		}
	}
}

// parentPolling reports whether call c, on the toHost ring, serves a
// host call whose caller is polling: that thread will run c itself.
func (r *ring) parentPolling(c *ringCall) bool {
	if r.dir != ToHost || c.parent == 0 || c.parent > ringCalls {
		return false
	}
	pr := r.a.rings[ToPlugin]
	i := c.parent - 1
	return pr.calls[i].chain == c.chain && atomic.LoadUint32(&pr.states[i].v) == callTaken
}

// post hands a filled call to the workers, and counts it.
func (r *ring) post(c *ringCall) {
	r.a.ringCalls[r.dir].Add(1)
	raceRelease()
	atomic.StoreUint32(r.st(c), callPosted)
	atomic.AddUint32(&r.head.seq, 1)
	if r.parentPolling(c) {
		return
	}
	if atomic.LoadUint32(&r.head.spinners) == 0 && atomic.LoadUint32(&r.head.sleepers) != 0 {
		futexWake(&r.head.seq, 1)
	}
}

// spinFor is how long a caller polls for its reply, and a worker for the
// next call, before sleeping in the kernel. A futex wake-up of a thread
// whose virtual CPU went idle costs tens of microseconds on these VMs, and
// its caches are cold when it runs: with 20 µs of polling a stream of
// 1 MiB reads through a plugin slept at nearly every call and ran at half
// the speed it runs at with 200.
const spinFor = 200 * time.Microsecond

// spinTight is how long spin polls without yielding the CPU.
const spinTight = 50 * time.Microsecond

// sleepFor bounds one futex sleep of a caller, so that it sees a dead
// peer or an ended context even if no one wakes it.
const sleepFor = 20 * time.Millisecond

// idleFor bounds one futex sleep of an idle worker. Workers are woken by
// posts and, when the peer dies, by close; the bound only guards against
// a lost wake-up (counted in lateWakes). It is long on purpose: a thread
// that enters a blocking system call while the process's other threads
// are busy has its P retaken by the Go runtime's sysmon, which then runs
// every 20 µs for a millisecond or more and interrupts the busy threads
// (the ring's pollers, on two CPUs). With idle workers waking every
// 20 ms, 1 MiB writes through a pass-through plugin took 68–90 µs; with
// 1 s, 43–62 µs (the in-process write: 30–38 µs).
const idleFor = time.Second

// wait waits until c is done. A host thread runs, meanwhile, the calls
// of c's chain the plugin posts on the other ring: a fop the plugin winds
// back into the host's children while serving c (a pass-through write)
// runs on the thread that waits for it, with no wake-up of a worker, and
// the two processes pass the work back and forth between two threads
// that never sleep. It returns an error when ctx ends (ECANCELED,
// ETIMEDOUT), the ring's limit passes (ETIMEDOUT, and the limit's
// expired runs) or the peer dies (ENOTCONN) first; the call slot is then
// abandoned or freed, and must not be touched again. The end of ctx and
// of the limit are noticed within sleepFor.
//
// With keep (a call of any method but Lk: see keepsOnCancel), the end of
// ctx ends the wait only when the caller gave up for good
// (xlator.CallerDying: an API caller's context, or a dying FUSE caller);
// otherwise the call is waited for until it is done or the limit passes. A FUSE INTERRUPT comes with any
// signal to the caller (Go's preemption signal among them), and giving up
// would hand a living caller an EINTR it does not expect from stat(2) or
// rename(2), for a rename the plugin may have done.
func (r *ring) wait(ctx context.Context, c *ringCall, keep bool) error {
	served := r.a.servers[1-r.dir] // the ring this process serves
	st := r.st(c)
	chain := r.own[r.index(c)].chain
	var help *ringServer
	if r.dir == ToPlugin && chain != 0 {
		help = served
	}
	if served != nil {
		// Its polling worker stands down while this thread polls.
		atomic.AddUint32(&served.r.head.waiters, 1)
	}
	got := spin(func() bool {
		if s := atomic.LoadUint32(st); s == callDone || !waitable(s) {
			return true
		}
		if help != nil {
			if hc := help.r.takeChain(chain); hc != nil {
				help.run(hc)
			}
		}
		return false
	}, func() bool {
		// Not taken yet: the far side's worker may need this CPU.
		return atomic.LoadUint32(st)&^callSleep == callPosted
	})
	if served != nil {
		atomic.AddUint32(&served.r.head.waiters, ^uint32(0))
	}
	if got {
		return r.waited(c, atomic.LoadUint32(st))
	}
	r.a.ringSleeps[r.dir].Add(1)
	done := ctx.Done()
	var deadline time.Time
	if r.limit != nil {
		deadline = time.Now().Add(r.limit.Timeout)
	}
	for {
		s := atomic.LoadUint32(st)
		if s == callDone || !waitable(s) {
			return r.waited(c, s)
		}
		if r.a.dead.Load() {
			// The process and its workers are gone; the slot dies
			// with the arena.
			return syscall.ENOTCONN
		}
		if done != nil {
			select {
			case <-done:
				if keep && !xlator.CallerDying(ctx) {
					done = nil // interrupted, not dying: wait
					continue
				}
				if r.abandon(c) {
					return ContextErr(ctx)
				}
				continue // done meanwhile
			default:
			}
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			if r.abandon(c) {
				r.limit.expire()
				return syscall.ETIMEDOUT
			}
			continue
		}
		if s&callSleep == 0 && !atomic.CompareAndSwapUint32(st, s, s|callSleep) {
			continue
		}
		// Marked: the plugin wakes a worker for c's chain from now
		// on; a call it posted before that is this thread's to run.
		if help != nil {
			if hc := help.r.takeChain(chain); hc != nil {
				help.run(hc)
				continue
			}
		}
		futexWait(st, s|callSleep, sleepFor)
	}
}

// waited ends a wait for c that found state s: done, or a state c cannot
// be in while its caller waits, which the far side wrote (EIO).
func (r *ring) waited(c *ringCall, s uint32) error {
	if s == callDone {
		raceAcquire()
		return nil
	}
	r.a.breach("call %d of ring %d in state %#x while its caller waits", r.index(c), r.dir, s)
	return syscall.EIO
}

// abandon gives up on c after the caller's context ended or its limit
// passed: a call not yet taken is withdrawn (its data slot dropped), a
// taken one is left for its worker to clean up, and host memory it lent
// is kept referenced until the plugin releases it. It reports false when
// c completed meanwhile.
// withdraw takes back c while the far side has not taken it and
// reports whether it did; a call taken or done is left as it is.
func (r *ring) withdraw(c *ringCall) bool {
	for {
		s := atomic.LoadUint32(r.st(c))
		if s&^callSleep != callPosted {
			return false
		}
		if atomic.CompareAndSwapUint32(r.st(c), s, callFilling) {
			if slot, ok := r.ownSlot(c); ok {
				r.a.Drop(slot)
			}
			r.free(c)
			return true
		}
	}
}

func (r *ring) abandon(c *ringCall) bool {
	// A copy: once abandoned, the plugin may free c and another caller
	// claim it.
	own := r.own[r.index(c)]
	for {
		s := atomic.LoadUint32(r.st(c))
		switch {
		case s == callDone:
			return false
		case s&^callSleep == callPosted:
			if r.withdraw(c) {
				return true
			}
		case s&^callSleep == callTaken:
			raceRelease()
			if atomic.CompareAndSwapUint32(r.st(c), s, callAbandoned) {
				if own.token != 0 {
					r.a.settle(own.token, true)
				}
				return true
			}
		default:
			r.a.breach("call %d of ring %d in state %#x while its caller abandons it", r.index(c), r.dir, s)
			return true
		}
	}
}

// lends records that call c lends the plugin the host memory named
// token (its writev's dataHost).
func (r *ring) lends(c *ringCall, token uint64) { r.own[r.index(c)].token = token }

// free returns a done call's slot to the ring.
func (r *ring) free(c *ringCall) {
	raceRelease()
	atomic.StoreUint32(r.st(c), callFree)
}

// take claims a posted call for a worker, or returns nil.
func (r *ring) take() *ringCall {
	for i := range r.states {
		st := &r.states[i].v
		// The caller may be asleep on the word already: keep its bit.
		s := atomic.LoadUint32(st)
		if s&^callSleep == callPosted && atomic.CompareAndSwapUint32(st, s, s&callSleep|callTaken) {
			raceAcquire()
			return &r.calls[i]
		}
		if !validState(s) {
			r.a.breach("call %d of ring %d in state %#x", i, r.dir, s)
			return nil
		}
	}
	return nil
}

// reqSlot returns the arena slot c's request data is in, if any.
func (c *ringCall) reqSlot() (uint32, bool) {
	return c.dslot, (c.op == opWritev || c.op == opUnary) && c.dkind == dataSlot
}

// replySlot returns the arena slot c's reply data is in, if any.
func (c *ringCall) replySlot() (uint32, bool) {
	switch c.op {
	case opReadv:
		return c.rslot, c.errno == 0 && c.rlen > 0 && c.rslot != noSlot
	case opUnary:
		return c.rslot, c.code == 0 && c.rkind == dataSlot
	}
	return 0, false
}

// takeChain claims a posted call of chain, or returns nil.
func (r *ring) takeChain(chain uint64) *ringCall {
	for i := range r.states {
		st := &r.states[i].v
		s := atomic.LoadUint32(st)
		if s&^callSleep != callPosted || r.calls[i].chain != chain {
			if !validState(s) {
				r.a.breach("call %d of ring %d in state %#x", i, r.dir, s)
				return nil
			}
			continue
		}
		if !atomic.CompareAndSwapUint32(st, s, s&callSleep|callTaken) {
			continue
		}
		if r.calls[i].chain == chain {
			raceAcquire()
			return &r.calls[i]
		}
		// Withdrawn and posted again for another chain meanwhile: put
		// it back for the workers.
		for {
			s := atomic.LoadUint32(st)
			if atomic.CompareAndSwapUint32(st, s, s&callSleep|callPosted) {
				break
			}
		}
		if atomic.LoadUint32(&r.head.sleepers) != 0 {
			futexWake(&r.head.seq, 1)
		}
	}
	return nil
}

// complete publishes c's reply. A call its caller abandoned is cleaned up
// here instead: the request data slot the caller left and the reply slot
// nobody will take are dropped, and host memory a writev lent, which the
// host keeps for as long as the plugin may read it, is released (unless
// the plugin kept it: it then releases it when it lets go).
func (r *ring) complete(c *ringCall) {
	for {
		s := atomic.LoadUint32(r.st(c))
		switch {
		case s == callAbandoned:
			// The slots are bounds-checked by drop; a wrong one
			// written by the far side confuses only the counts of
			// memory it can write anyway.
			if slot, ok := c.reqSlot(); ok {
				r.a.Drop(slot)
			}
			if slot, ok := c.replySlot(); ok {
				r.a.Drop(slot)
			}
			if r.dir == ToPlugin && c.op == opWritev && c.dkind == dataHost && c.rflags&replyKept == 0 {
				r.a.releaseHost(c.dtoken)
			}
			atomic.StoreUint32(r.st(c), callFree)
			return
		case s&^callSleep != callTaken:
			r.a.breach("call %d of ring %d in state %#x while a worker completes it", r.index(c), r.dir, s)
			return
		}
		raceRelease()
		if atomic.CompareAndSwapUint32(r.st(c), s, callDone) {
			if s&callSleep != 0 {
				futexWake(r.st(c), 1)
			}
			return
		}
	}
}

// ringServer runs the workers of one ring on the serving side.
type ringServer struct {
	r       *ring
	s       Handler
	idle    atomic.Int32
	workers atomic.Int32
	served  atomic.Uint64
	helped  atomic.Uint64 // of served: run by a caller waiting for its own call
}

// Serve starts serving ring dir with s and marks it ready. The workers
// hold a reference on the arena until it is closed.
func (a *Arena) Serve(dir int, s Handler) {
	if a == nil {
		return
	}
	rs := &ringServer{r: a.rings[dir], s: s}
	a.servers[dir] = rs
	rs.spawn()
	atomic.StoreUint32(&rs.r.head.ready, ringMagic)
}

// served counts the calls this process served on ring dir.
func (a *Arena) served(dir int) uint64 {
	if rs := a.servers[dir]; rs != nil {
		return rs.served.Load()
	}
	return 0
}

// helped counts the calls of ring dir run by callers of this process
// waiting for their own.
func (a *Arena) helped(dir int) uint64 {
	if rs := a.servers[dir]; rs != nil {
		return rs.helped.Load()
	}
	return 0
}

// spawn starts a worker unless there are ringWorkers already.
func (rs *ringServer) spawn() {
	if rs.workers.Add(1) > ringWorkers || !rs.r.a.Acquire() {
		rs.workers.Add(-1)
		return
	}
	rs.idle.Add(1)
	go rs.work()
}

func (rs *ringServer) work() {
	defer rs.r.a.Release()
	defer rs.workers.Add(-1)
	var w ringWorker
	h := rs.r.head
	dead := &rs.r.a.dead
	polling := false // this worker holds the poller's place (h.spinners)
	for {
		seq := atomic.LoadUint32(&h.seq)
		c := rs.r.take()
		if c == nil {
			if dead.Load() {
				if polling {
					rs.unspin()
				}
				rs.idle.Add(-1)
				return
			}
			// One worker polls for calls at a time, and none while
			// a thread of this process polls for its own reply; the
			// others sleep. The poller takes the call itself: the
			// thread that served the last call serves the next, on
			// a CPU whose caches still hold its data.
			if !polling && atomic.LoadUint32(&h.waiters) == 0 && atomic.CompareAndSwapUint32(&h.spinners, 0, 1) {
				polling = true
			}
			if polling {
				spin(func() bool {
					c = rs.r.take()
					return c != nil || dead.Load() || atomic.LoadUint32(&h.waiters) > 0
				}, nil)
				rs.unspin()
				polling = false
			}
		} else if polling {
			rs.unspin()
			polling = false
		}
		if c == nil {
			atomic.AddUint32(&h.sleepers, 1)
			if !rs.r.posted() && !dead.Load() {
				rs.r.a.workerSleeps[rs.r.dir].Add(1)
				if futexWait(&h.seq, seq, idleFor) && rs.r.posted() {
					rs.r.a.lateWakes[rs.r.dir].Add(1)
				}
			}
			atomic.AddUint32(&h.sleepers, ^uint32(0))
			continue
		}
		if rs.idle.Add(-1) == 0 {
			rs.spawn() // keep one worker listening
		} else if rs.r.posted() && atomic.LoadUint32(&h.sleepers) != 0 {
			futexWake(&h.seq, 1) // more calls wait: wake a peer
		}
		polling = rs.serveWith(&w, c, true)
		rs.idle.Add(1)
	}
}

// unspin ends a thread's polling of the ring; a call posted meanwhile
// that no one else polls for gets a worker woken.
func (rs *ringServer) unspin() {
	h := rs.r.head
	if atomic.AddUint32(&h.spinners, ^uint32(0)) == 0 && rs.r.posted() && atomic.LoadUint32(&h.sleepers) != 0 {
		futexWake(&h.seq, 1)
	}
}

// serveWith serves c on a worker. With poll, the worker takes the
// poller's place, if free, before it publishes the reply, and reports
// whether it did: the caller's next call, often posted as soon as the
// reply is seen, then finds a poller and rings no doorbell, which would
// wake a sleeping worker (a futex wake-up, and a second thread competing
// for two CPUs).
func (rs *ringServer) serveWith(w *ringWorker, c *ringCall, poll bool) bool {
	w.ctx = chainCtx{Context: context.Background(), chain: c.chain, parent: uint32(rs.r.index(c)) + 1}
	w.serve(rs.s, rs.r.a, c)
	h := rs.r.head
	poll = poll && atomic.LoadUint32(&h.waiters) == 0 && atomic.CompareAndSwapUint32(&h.spinners, 0, 1)
	rs.r.complete(c)
	rs.served.Add(1)
	return poll
}

// helpers are the request states of callers that serve a call while they
// wait for their own.
var helpers = sync.Pool{New: func() any { return new(ringWorker) }}

// run serves c on the calling goroutine, a caller waiting for its own
// call.
func (rs *ringServer) run(c *ringCall) {
	w := helpers.Get().(*ringWorker)
	rs.helped.Add(1)
	rs.serveWith(w, c, false)
	helpers.Put(w)
}

// inUse counts the calls not free: filled, posted, taken, done but not
// yet read, or abandoned and not yet completed by the far side.
func (r *ring) inUse() int {
	n := 0
	for i := range r.states {
		if atomic.LoadUint32(&r.states[i].v) != callFree {
			n++
		}
	}
	return n
}

// posted reports whether a call waits to be taken.
func (r *ring) posted() bool {
	for i := range r.states {
		if atomic.LoadUint32(&r.states[i].v)&^callSleep == callPosted {
			return true
		}
	}
	return false
}

// spin polls cond for up to spinFor and reports whether it held. After
// spinTight it yields the CPU between polls while waiting(), if given,
// says the poller waits for a thread to take its work: a two-CPU machine
// has no CPU to spare for a poller while the thread it waits for is
// runnable. A poller whose call a thread is running polls on without
// yielding: a sched_yield is a microsecond or more here, and a reply
// noticed late (by 5–12 µs at 1 MiB writes through a pass-through
// plugin, measured) costs more than the CPU the poll takes.
func spin(cond func() bool, waiting func() bool) bool {
	var start time.Time
	for i := 0; ; i++ {
		if cond() {
			return true
		}
		cpuRelax()
		if i&31 != 31 {
			continue
		}
		if start.IsZero() {
			start = time.Now()
			continue
		}
		d := time.Since(start)
		if d > spinFor {
			return false
		}
		if d > spinTight && (waiting == nil || waiting()) {
			yieldCPU()
		}
	}
}

const (
	futexWaitOp = 0 // FUTEX_WAIT; shared, not private: the word is in a MAP_SHARED mapping
	futexWakeOp = 1 // FUTEX_WAKE
)

// futexWait sleeps while *addr == val, for at most d, and reports
// whether it slept that long.
func futexWait(addr *uint32, val uint32, d time.Duration) (timedOut bool) {
	ts := unix.NsecToTimespec(int64(d))
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
	return e == unix.ETIMEDOUT
}

// futexWake wakes up to n sleepers on addr.
func futexWake(addr *uint32, n int) {
	_, _, _ = unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, uintptr(n), 0, 0, 0)
}

// ringWorker is a worker's reusable request state.
type ringWorker struct {
	ctx  chainCtx
	h    pb.Header
	fd   pb.Fd
	gfid [16]byte
	dec  unaryDecoder
}

// serve runs call c with s, writing the reply into c. It reads each
// field of the request once and checks what it uses (breach.go).
func (w *ringWorker) serve(s Handler, a *Arena, c *ringCall) {
	ctx := &w.ctx
	op := c.op
	if op == opUnary {
		serveUnary(ctx, &w.dec, s, a, c)
		return
	}
	h := &w.h
	h.Uid, h.Gid, h.Pid, h.Unique, h.Child = c.uid, c.gid, c.pid, c.unique, c.child
	h.Groups = nil
	if c.ngroups > 0 {
		// A fresh slice: the call's credentials may be kept.
		h.Groups = append([]uint32(nil), c.groups[:min(c.ngroups, ringGroups)]...)
	}
	pf := &w.fd
	pf.Handle, pf.Type, pf.Flags, pf.Pid, pf.Dir, pf.Inode = c.fdHandle, c.fdType, c.fdFlags, c.fdPid, c.fdDir != 0, c.fdInode
	pf.Gfid = nil
	if c.gfid != ([16]byte{}) {
		w.gfid = c.gfid
		pf.Gfid = w.gfid[:]
	}
	switch op {
	case opReadv:
		size := c.size
		if size < 0 || size > int64(a.slotSize) {
			// Larger reads go by gRPC: their replies fit no slot.
			a.breach("ring readv of %d bytes", size)
			c.errno = uint32(syscall.EINVAL)
			return
		}
		ref, e := s.ServeReadv(ctx, h, pf, size, c.off)
		c.errno, c.rlen, c.rslot = e, 0, 0
		if e != 0 {
			return
		}
		c.rlen = uint32(ref.Size())
		if c.rlen == 0 {
			ref.Unref()
			return
		}
		slot, ok := a.HandOver(ref, 0)
		if !ok {
			ref.Unref()
			slot = noSlot
		}
		c.rslot = slot
	case opWritev:
		c.n, c.rflags = 0, 0
		switch kind := c.dkind; kind {
		case dataHost:
			c.n, c.errno, c.rflags = a.writevHost(ctx, s, h, pf, c)
		case dataSlot:
			data, e := a.borrowFor(s, c.dslot, c.dlen)
			if e == 0 {
				c.n, e = s.ServeWritev(ctx, h, pf, data, c.off)
			}
			c.errno = e
		default:
			a.breach("ring writev with data of kind %d", kind)
			c.errno = uint32(syscall.EINVAL)
		}
	case opRelease:
		a.released(c.dtoken)
		c.errno = 0
	default:
		a.breach("ring call with op %d", op)
		c.errno = uint32(syscall.ENOSYS)
	}
}

// fill writes the request header of a call: the caller's credentials and
// fd.
func (c *ringCall) fill(xc *xlator.Call, child uint32, d *FD) {
	c.child, c.uid, c.gid, c.pid, c.unique = child, xc.Uid, xc.Gid, xc.Pid, xc.Unique
	c.ngroups = uint32(copy(c.groups[:], xc.Groups))
	c.fdHandle, c.fdType, c.fdFlags, c.fdPid, c.fdInode = d.Handle, d.Type, d.Flags, d.Pid, d.Inode
	c.fdDir = 0
	if d.Dir {
		c.fdDir = 1
	}
	c.gfid = d.Gfid
	c.dkind, c.rflags = dataSlot, 0
}

// yieldCPU yields the CPU once.
func yieldCPU() { _, _, _ = unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// ContextErr is the fop error of a call whose caller's context ended:
// ETIMEDOUT for a deadline, ECANCELED otherwise.
func ContextErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return syscall.ETIMEDOUT
	}
	return syscall.ECANCELED
}
