package fuse

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/mount/fuse/internal/iouring"
)

// FUSE over io_uring (Config.Transport "io-uring", Linux 6.14+). Instead
// of a read(2) and a write(2) on /dev/fuse per request, the daemon lends
// the kernel ring entries, each a header buffer and a payload buffer, with
// URING_CMDs on /dev/fuse; the kernel copies a request into a free entry
// and completes its command, and the daemon writes the reply into the same
// buffers and hands the entry back with one COMMIT_AND_FETCH, which also
// makes it free for the next request; one io_uring_enter(2) submits the
// answers of every request served since the last and waits for the next,
// where /dev/fuse takes a read(2) and a write(2) per request.
//
// Queues. The kernel keeps one queue per possible CPU and puts a
// request on the queue of the CPU its caller runs on; the ring becomes
// ready (and requests go to it instead of /dev/fuse) only once every
// queue has an entry. Each queue here is one goroutine locked to its own
// thread, with an io_uring of its own: the kernel copies a request into an
// entry in the task that submitted the entry's command, so every command
// of a queue is submitted by that thread. libfuse also pins each queue's
// thread to its CPU; here that was slower (bench/README.md: a pinned
// thread waits for its CPU while another is idle), so the scheduler
// places the threads.
//
// Serving. A queue serves its requests inline, on its thread (the lowest
// latency), except those that may wait for something outside the mount
// for any time: SETLKW waits for another process to unlock (which may
// need this very queue: an inline wait could deadlock), FSYNC and
// FSYNCDIR for the disk. Those go to a
// goroutine of their own (handOff), whose entry the queue commits once it
// is answered; the queue meanwhile serves its other entries
// (TestRingSetlkwHandOff, TestRingHandOff). A graph with a plugin has
// every request handed off: a plugin's fops wait on another process, for
// up to its call-timeout (TestRingPluginHandsOffAll). Any other request a
// translator holds holds its queue: the callers on that CPU wait with it,
// those of other CPUs are served (the io-uring runs of
// TestInterruptedReadWrite and TestKilledCallerFreed), and an INTERRUPT
// (a signal, a killed caller) still reaches it through /dev/fuse.
//
// What stays on /dev/fuse: FORGET, INTERRUPT, notifications and requests
// sent before the ring was ready, so conn's reader keeps running beside
// the queues. An INTERRUPT of a request served here cancels it as on
// /dev/fuse, and the end of the connection cancels them all
// (TestInterruptedReadWrite, TestKilledCallerFreed and
// TestAbortCancelsAll run over io-uring too).
//
// Data. A WRITE's data arrives in the entry's payload buffer; the bridge
// copies it once into iobufs, as it does from the reader's buffer. A
// READ's reply is copied from the iobufs Readv returned into the payload
// buffer, which the kernel then copies to the caller: one copy more than
// /dev/fuse, where writev(2) goes straight from the iobufs.
//
// The end. When the mount ends the kernel completes every entry's command
// with ENOTCONN (ECANCELED if its task is gone); a queue exits once it
// has all its entries back, closing its ring and freeing its buffers,
// and its thread ends with it (TestRingUnmountInFlight).

// Transports of Config.Transport.
const (
	// TransportDevFuse serves requests read from /dev/fuse.
	TransportDevFuse = "dev-fuse"
	// TransportIOUring serves requests through io_uring (FUSE over
	// io_uring), falling back to /dev/fuse where it cannot.
	TransportIOUring = "io-uring"
)

// RingStats describes the io_uring queues of a mount served over them.
type RingStats struct {
	Queues  int `json:"queues"`  // one per possible CPU
	Entries int `json:"entries"` // per queue
	// Requests counts requests that came through the rings (the
	// others came through /dev/fuse: LoopStats.Requests); HandOffs those
	// of them served on a goroutine of their own instead of the
	// queue's thread.
	Requests uint64 `json:"requests"`
	HandOffs uint64 `json:"hand_offs"`
}

// ringDepth is how many entries each queue lends the kernel, libfuse's
// default: requests of one CPU beyond that wait in the kernel. Each entry
// holds a payload buffer of MaxWrite and a page (mapped memory, touched
// only as large as the requests it carried).
const ringDepth = 8

// Layout of struct fuse_uring_req_header (include/uapi/linux/fuse.h): the
// in and out header, the opcode's argument struct, then struct
// fuse_uring_ent_in_out.
const (
	ringOpIn     = 128
	ringEntInOut = 256
	ringHeader   = 288

	ringCmdRegister       = 1 // FUSE_IO_URING_CMD_REGISTER
	ringCmdCommitAndFetch = 2 // FUSE_IO_URING_CMD_COMMIT_AND_FETCH

	eventfdTag = ^uint64(0) // user data of the eventfd read
)

// entInOut is struct fuse_uring_ent_in_out.
type entInOut struct {
	Flags     uint64
	CommitID  uint64
	PayloadSz uint32
	Padding   uint32
	Reserved  uint64
}

// cmdReq is struct fuse_uring_cmd_req, in an SQE's command area.
type cmdReq struct {
	Flags    uint64
	CommitID uint64
	Qid      uint16
	Padding  [6]byte
}

// FUSE opcodes a queue hands off (include/uapi/linux/fuse.h).
const (
	opcodeFsync    = 20
	opcodeFsyncdir = 30
	opcodeSetlkw   = 33
)

// handOff reports whether a request may wait indefinitely for something
// outside the mount, and so is served off the queue's thread.
func handOff(opcode uint32) bool {
	switch opcode {
	case opcodeSetlkw, opcodeFsync, opcodeFsyncdir:
		return true
	}
	return false
}

const enableURingParam = "/sys/module/fuse/parameters/enable_uring"

// ringUnavailable says why FUSE over io_uring cannot serve a mount on this
// kernel, or "" if it may.
func ringUnavailable() string {
	v, err := os.ReadFile(enableURingParam)
	if err != nil {
		return fmt.Sprintf("this kernel has no FUSE over io_uring (%s: %v; it needs Linux 6.14 or later built with CONFIG_FUSE_IO_URING)", enableURingParam, err)
	}
	if strings.TrimSpace(string(v)) != "Y" {
		return fmt.Sprintf("FUSE over io_uring is disabled (%s is %s; as root: echo Y > %s)", enableURingParam, strings.TrimSpace(string(v)), enableURingParam)
	}
	return ""
}

// possibleCPUs counts the CPUs the kernel may ever run (one queue each).
func possibleCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/possible")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for r := range strings.SplitSeq(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if found {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || z < a {
			return runtime.NumCPU()
		}
		n += z - a + 1
	}
	return n
}

// ringSet is the io_uring queues of one connection.
type ringSet struct {
	c *conn // set before the queues start serving
	// handOffAll: the graph has a plugin, so every request is handed
	// off. Set before the queues start serving.
	handOffAll bool
	fd         int // /dev/fuse
	bufLen     int // payload buffer of an entry
	log        *zap.Logger
	queues     []*ringQueue
	wg         sync.WaitGroup // the queue goroutines
}

// ringQueue is one queue: its ring, its entries and the goroutine (locked
// to its thread) that serves them.
type ringQueue struct {
	s    *ringSet
	qid  int
	ring *iouring.Ring
	efd  int     // eventfd: a hand-off's answer is ready, or stop
	eval [8]byte // the eventfd read's buffer
	mem  []byte  // headers, then payloads, of every entry
	ents []*ringEnt

	start chan bool  // true: register the entries; false: give up
	ready chan error // setup's, then registration's, outcome

	mu   sync.Mutex
	done []*ringEnt // handed-off entries answered, to commit
	quit bool       // give the entries up and exit

	// Owned by the queue's goroutine.
	live      int // entries the kernel has not given back for good
	handedOff int // entries being served by a hand-off

	requests, handOffs atomic.Uint64
}

// ringEnt is one entry: the buffers the kernel copies a request into and
// the reply out of.
type ringEnt struct {
	q       *ringQueue
	idx     uint64
	hdr     []byte // struct fuse_uring_req_header
	payload []byte
	iov     [2]unix.Iovec // REGISTER's argument; the kernel reads it at submission
	lastCmd uint32        // to resubmit after EAGAIN or EINTR

	// in is the request's header and argument struct, contiguous as
	// go-fuse's In types lay them out.
	in     [40 + 128]byte
	inIov  [2][]byte
	outIov [2][]byte
	data   [1][]byte // a WRITE's payload, as Writev takes it

	// fastUnique, cancel, interrupted and psUnique are a worker's (conn.go)
	// for the request this entry carries. cancel is written by the
	// entry's server under c.mu, and closed (interrupted set) under c.mu.
	fastUnique  atomic.Uint64
	cancel      chan struct{}
	interrupted atomic.Bool
	psUnique    atomic.Uint64
}

func (e *ringEnt) inOut() *entInOut { return (*entInOut)(unsafe.Pointer(&e.hdr[ringEntInOut])) }

// newRingSet sets up a queue per possible CPU, each with its ring, its
// buffers and its thread, for a connection on /dev/fuse fd whose INIT is
// not answered yet. It returns nil and the reason when io_uring cannot
// serve the mount.
func newRingSet(fd, maxWrite int, log *zap.Logger) (*ringSet, string) {
	if why := ringUnavailable(); why != "" {
		return nil, why
	}
	page := os.Getpagesize()
	s := &ringSet{fd: fd, bufLen: (maxWrite+page-1)/page*page + page, log: log}
	for qid := range possibleCPUs() {
		q := &ringQueue{s: s, qid: qid, efd: -1, start: make(chan bool, 1), ready: make(chan error, 1)}
		s.queues = append(s.queues, q)
		s.wg.Add(1)
		go q.run()
	}
	var errs []error
	for _, q := range s.queues {
		if err := <-q.ready; err != nil {
			errs = append(errs, fmt.Errorf("queue %d: %w", q.qid, err))
		}
	}
	if len(errs) > 0 {
		s.abandon()
		return nil, fmt.Sprintf("cannot set up the rings: %v", errors.Join(errs...))
	}
	return s, ""
}

// register has every queue lend its entries to the kernel, now that INIT
// is answered. A kernel that refuses a REGISTER stops expecting the ring
// and goes on with /dev/fuse; register then gives the queues up and
// returns why.
func (s *ringSet) register(c *conn) error {
	s.c = c
	s.handOffAll = c.b.g.OutOfProcess()
	for _, q := range s.queues {
		q.start <- true
	}
	var errs []error
	for _, q := range s.queues {
		if err := <-q.ready; err != nil {
			errs = append(errs, fmt.Errorf("queue %d: %w", q.qid, err))
		}
	}
	if len(errs) > 0 {
		for _, q := range s.queues {
			q.stop()
		}
		s.wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// errRegisterRefused marks a REGISTER the kernel refused: it then stops
// expecting the ring and serves through /dev/fuse.
var errRegisterRefused = errors.New("the kernel refused FUSE_IO_URING_CMD_REGISTER")

// startRings lends the queues' entries to the kernel once INIT is
// answered, or leaves the mount to /dev/fuse, noting why, when the kernel
// did not agree to io_uring or refused the entries. It fails when the
// kernel agreed but the queues could not start: the kernel would then
// hold every request for a ring that never becomes ready.
func (c *conn) startRings(rs *ringSet) error {
	if c.flags&fuse.CAP_OVER_IO_URING == 0 {
		rs.abandon()
		c.transportNote = "the kernel did not offer FUSE_OVER_IO_URING at INIT"
		return nil
	}
	if err := rs.register(c); err != nil {
		if errors.Is(err, errRegisterRefused) {
			c.transportNote = err.Error()
			return nil
		}
		return fmt.Errorf("FUSE over io_uring was agreed at INIT but its queues did not start: %w", err)
	}
	c.rings = rs
	return nil
}

// abandon ends queues that were set up but never started.
func (s *ringSet) abandon() {
	for _, q := range s.queues {
		q.start <- false
	}
	s.wg.Wait()
}

// wait returns once every queue has exited.
func (s *ringSet) wait() {
	if s != nil {
		s.wg.Wait()
	}
}

func (s *ringSet) stats() RingStats {
	st := RingStats{Queues: len(s.queues), Entries: ringDepth}
	for _, q := range s.queues {
		st.Requests += q.requests.Load()
		st.HandOffs += q.handOffs.Load()
	}
	return st
}

// interruptFast cancels request unique if an entry serves it outside the
// ProtocolServer; the caller holds c.mu.
func (s *ringSet) interruptFastLocked(unique uint64) bool {
	for _, q := range s.queues {
		for _, e := range q.ents {
			if e.fastUnique.Load() == unique {
				if !e.interrupted.Load() {
					e.interrupted.Store(true)
					close(e.cancel)
				}
				return true
			}
		}
	}
	return false
}

// cancelAllLocked cancels every request the queues serve, as
// conn.cancelAllLocked does for the workers'; the caller holds c.mu.
func (s *ringSet) cancelAllLocked(interruptPS func(unique uint64)) {
	for _, q := range s.queues {
		for _, e := range q.ents {
			if e.fastUnique.Load() != 0 && !e.interrupted.Load() {
				e.interrupted.Store(true)
				close(e.cancel)
			}
			if u := e.psUnique.Load(); u != 0 {
				interruptPS(u)
			}
		}
	}
}

// run is a queue's life, on a thread of its own: set up, register, serve.
// The thread is never unlocked, so it ends with the goroutine.
func (q *ringQueue) run() {
	runtime.LockOSThread()
	defer q.s.wg.Done()
	defer q.free()
	err := q.setup()
	q.ready <- err
	if err != nil || !<-q.start {
		return
	}
	err = q.register()
	q.ready <- err
	if err != nil {
		return
	}
	q.serve()
}

// setup makes the ring, the eventfd and the entries' buffers.
func (q *ringQueue) setup() error {
	var err error
	if q.ring, err = iouring.New(ringDepth+1, 2*(ringDepth+1)); err != nil {
		return err
	}
	if err := q.ring.RegisterFiles([]int32{int32(q.s.fd)}); err != nil {
		return err
	}
	if q.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	page := os.Getpagesize()
	hdrs := (ringDepth*ringHeader + page - 1) / page * page
	if q.mem, err = unix.Mmap(-1, 0, hdrs+ringDepth*q.s.bufLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("mmap of the ring buffers: %w", err)
	}
	for i := range ringDepth {
		e := &ringEnt{q: q, idx: uint64(i), cancel: make(chan struct{})}
		e.hdr = q.mem[i*ringHeader : (i+1)*ringHeader : (i+1)*ringHeader]
		off := hdrs + i*q.s.bufLen
		e.payload = q.mem[off : off+q.s.bufLen : off+q.s.bufLen]
		e.iov[0] = unix.Iovec{Base: &e.hdr[0]}
		e.iov[0].SetLen(ringHeader)
		e.iov[1] = unix.Iovec{Base: &e.payload[0]}
		e.iov[1].SetLen(len(e.payload))
		q.ents = append(q.ents, e)
	}
	return nil
}

// free closes the ring (the kernel cancels what it still holds) and the
// eventfd, and unmaps the buffers, which nothing reaches any more.
func (q *ringQueue) free() {
	if q.ring != nil {
		q.ring.Close()
	}
	if q.efd >= 0 {
		unix.Close(q.efd)
	}
	if q.mem != nil {
		_ = unix.Munmap(q.mem)
		q.mem = nil
	}
}

// register submits a REGISTER per entry and the eventfd read. A refused
// REGISTER completes at once; an accepted one when a request comes.
func (q *ringQueue) register() error {
	for _, e := range q.ents {
		if err := q.submitCmd(e, ringCmdRegister); err != nil {
			return err
		}
	}
	if err := q.armEventfd(); err != nil {
		return err
	}
	if err := q.ring.Submit(0); err != nil {
		return err
	}
	q.live = len(q.ents)
	if c, ok := q.ring.Peek(); ok && c.UserData != eventfdTag && c.Res < 0 {
		return fmt.Errorf("%w: %w", errRegisterRefused, syscall.Errno(-c.Res))
	}
	return nil
}

// submitCmd queues entry e's command op (REGISTER, or COMMIT_AND_FETCH
// of the request it carries).
func (q *ringQueue) submitCmd(e *ringEnt, op uint32) error {
	sqe, err := q.ring.Get()
	if err != nil {
		return err // cannot happen: an entry has one command at a time
	}
	sqe.Opcode = iouring.OpURingCmd
	sqe.Flags = iouring.SQEFixedFile
	sqe.Fd = 0 // the registered /dev/fuse
	sqe.Off = uint64(op)
	sqe.UserData = e.idx
	cmd := (*cmdReq)(unsafe.Pointer(&sqe.Cmd[0]))
	cmd.Qid = uint16(q.qid)
	if op == ringCmdRegister {
		sqe.Addr = uint64(uintptr(unsafe.Pointer(&e.iov[0])))
		sqe.Len = uint32(len(e.iov))
	} else {
		cmd.CommitID = e.inOut().CommitID
	}
	e.lastCmd = op
	return nil
}

// armEventfd queues a read of the eventfd.
func (q *ringQueue) armEventfd() error {
	sqe, err := q.ring.Get()
	if err != nil {
		return err
	}
	sqe.Opcode = iouring.OpRead
	sqe.Fd = int32(q.efd)
	sqe.Addr = uint64(uintptr(unsafe.Pointer(&q.eval[0])))
	sqe.Len = uint32(len(q.eval))
	sqe.UserData = eventfdTag
	return nil
}

// wake makes the queue's thread look at q.done and q.quit.
func (q *ringQueue) wake() {
	one := [8]byte{1}
	_, _ = unix.Write(q.efd, one[:])
}

// stop makes a serving queue give its entries up and exit.
func (q *ringQueue) stop() {
	q.mu.Lock()
	q.quit = true
	q.mu.Unlock()
	q.wake()
}

// serve is the queue's loop: wait for completions, serve the requests
// they bring and commit the answers, until the kernel gave every entry
// back.
func (q *ringQueue) serve() {
	for q.live > 0 || q.handedOff > 0 {
		if err := q.ring.Submit(1); err != nil {
			q.s.log.Error("io_uring_enter failed; the queue stops serving", zap.Int("queue", q.qid), zap.Error(err))
			return
		}
		for {
			cqe, ok := q.ring.Peek()
			if !ok {
				break
			}
			q.ring.Advance()
			if cqe.UserData == eventfdTag {
				if !q.wakeup(cqe.Res) {
					return
				}
				continue
			}
			q.complete(q.ents[cqe.UserData], cqe.Res)
		}
	}
}

// wakeup commits the answered hand-offs; false means stop now.
func (q *ringQueue) wakeup(res int32) bool {
	q.mu.Lock()
	done, quit := q.done, q.quit
	q.done = nil
	q.mu.Unlock()
	if quit {
		return false
	}
	for _, e := range done {
		q.handedOff--
		q.commit(e)
	}
	if res < 0 && res != -int32(unix.EINTR) && res != -int32(unix.EAGAIN) {
		// Hand-offs can no longer wake the queue: it gets to see
		// their answers only with other completions.
		q.s.log.Warn("reading the queue's eventfd failed", zap.Int("queue", q.qid), zap.Error(syscall.Errno(-res)))
		return true
	}
	if err := q.armEventfd(); err != nil {
		q.s.log.Error("re-arming the queue's eventfd", zap.Int("queue", q.qid), zap.Error(err))
	}
	return true
}

// complete handles the completion of entry e's command.
func (q *ringQueue) complete(e *ringEnt, res int32) {
	switch {
	case res == 0: // a request
		q.requests.Add(1)
		if op := (*fuse.InHeader)(unsafe.Pointer(&e.hdr[0])).Opcode; q.s.handOffAll || handOff(op) {
			q.handOffs.Add(1)
			q.handedOff++
			go func() {
				e.serve()
				q.mu.Lock()
				q.done = append(q.done, e)
				q.mu.Unlock()
				q.wake()
			}()
			return
		}
		e.serve()
		q.commit(e)
	case res == -int32(unix.EAGAIN) || res == -int32(unix.EINTR):
		if err := q.submitCmd(e, e.lastCmd); err != nil {
			q.s.log.Error("resubmitting a ring entry", zap.Int("queue", q.qid), zap.Error(err))
			q.live--
		}
	default:
		// ENOTCONN, ECANCELED: the connection ended; anything else
		// takes the entry out of service too.
		if res != -int32(unix.ENOTCONN) && res != -int32(unix.ECANCELED) {
			q.s.log.Warn("the kernel gave a ring entry back with an error", zap.Int("queue", q.qid),
				zap.Uint32("command", e.lastCmd), zap.Error(syscall.Errno(-res)))
		}
		q.live--
	}
}

// commit queues the answer in e and the fetch of the next request.
func (q *ringQueue) commit(e *ringEnt) {
	if err := q.submitCmd(e, ringCmdCommitAndFetch); err != nil {
		q.s.log.Error("committing a ring entry", zap.Int("queue", q.qid), zap.Error(err))
		q.live--
	}
}
