package fuse

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// conn serves a FUSE connection that root mounted with mount(2), with a
// reader loop of its own instead of go-fuse's. Requests are decoded and
// answered by go-fuse's ProtocolServer, except READ and WRITE, which conn
// answers itself: a READ's reply goes to the kernel with writev(2)
// straight from the iobufs (the ProtocolServer would copy it into a
// buffer first), and neither allocates (the ProtocolServer allocates its
// request state each time).
//
// Interrupts: the ProtocolServer cancels the requests it serves when
// their INTERRUPT comes (it closes the request's cancel channel, which the
// bridge makes the call's context). conn does the same for the READ or
// WRITE a worker serves itself, with a cancel channel of the worker's:
// made once, closed by an INTERRUPT, and made again only after a request
// was interrupted, so READ and WRITE still allocate nothing.
//
// Why not go-fuse's loop: it keeps a spare reader blocked in read(2) on
// /dev/fuse beside every busy one, and the kernel hands requests to
// blocked readers first come, first served, so consecutive requests of a
// single-threaded caller go to alternate threads (1 100–2 200 CPU
// migrations a second under a 4 KiB O_DIRECT random read at queue depth
// 1; GlusterFS's single reader: 6–70). conn keeps one worker in read(2) while requests come one at a time,
// as GlusterFS's fuse reader does, and more as soon as they overlap; on
// that workload it serves about 10 % more IOPS than go-fuse's loop
// (median of 8 interleaved rounds, 9 364 against 8 488; README):
//
//   - a worker that takes a request while another is being served, or
//     whose read(2) returned at once with a request of another caller
//     than the last (requests of several callers were queued), makes
//     sure another worker is reading before it serves its own;
//   - a worker that finishes while another worker is reading and none is
//     serving parks (LIFO, so the hottest worker is reused first) instead
//     of queueing a second read(2) behind the first;
//   - a watchdog looks every stallCheck for a request being served that
//     long with no worker reading, and adds a reader, so a slow request
//     (an fsync) holds the ones queued behind it up for at most about
//     that long.
type conn struct {
	panicked func(any) fuse.Status // the mount's PanicHandler
	fd       int
	mp       string
	b        *bridge
	ps       *fuse.ProtocolServer
	log      *zap.Logger
	bufLen   int      // input and output buffer of a worker: MaxWrite and a page
	debug    bool     // log each READ and WRITE (the ProtocolServer logs the others)
	minor    uint32   // the kernel's protocol minor version (WriteIn's size depends on it)
	flags    uint64   // the INIT flags agreed with the kernel
	rings    *ringSet // FUSE over io_uring's queues, nil when /dev/fuse alone serves
	// transportNote says why a mount that asked for io_uring is served
	// through /dev/fuse.
	transportNote string

	mu      sync.Mutex
	reading int       // workers in (or about to enter) read(2)
	serving int       // workers serving a request
	workers int       // workers alive
	all     []*worker // every worker started, for INTERRUPTs of READs and WRITEs
	parked  []*worker // idle workers, last parked on top
	dead    bool      // the connection ended: workers exit
	served  uint64    // requests taken, for the watchdog
	lastPid uint32    // the caller of the request taken last
	last    *worker   // the worker that took it
	handoff uint64    // requests taken by another worker than the one before
	asleep  bool      // the watchdog waits on wake for the next request
	wake    chan struct{}

	stats connStats

	wg   sync.WaitGroup // workers and watchdog
	done chan struct{}  // closed once every worker exited and the bridge released what the kernel held
}

// connStats counts what the reader policy did (LoopStats).
type connStats struct {
	spawned    atomic.Uint64
	unparked   atomic.Uint64
	parks      atomic.Uint64
	stalls     atomic.Uint64
	interrupts atomic.Uint64
}

const (
	// backlogAfter: a read(2) that returns sooner than this (plus the
	// time to copy the request) found a request queued rather than
	// sleeping for one: a wake-up alone takes longer.
	backlogAfter = 5 * time.Microsecond
	// stallCheck is how often the watchdog looks for requests left
	// without a reader; idleWatchdog how many looks at an idle
	// connection before it sleeps until the next request.
	stallCheck   = 10 * time.Millisecond
	idleWatchdog = 100
	// maxWorkers bounds the workers of a connection. Each holds two
	// buffers of MaxWrite and a page (virtual memory, touched only as
	// large as the requests it served).
	maxWorkers = 256
)

// FUSE opcodes conn looks at (include/uapi/linux/fuse.h).
const (
	opcodeRead      = 15
	opcodeWrite     = 16
	opcodeInit      = 26
	opcodeInterrupt = 36
)

var (
	sizeofInHeader  = int(unsafe.Sizeof(fuse.InHeader{}))
	sizeofOutHeader = int(unsafe.Sizeof(fuse.OutHeader{}))
	sizeofReadIn    = int(unsafe.Sizeof(fuse.ReadIn{}))
	sizeofWriteIn   = int(unsafe.Sizeof(fuse.WriteIn{}))
	sizeofWriteOut  = int(unsafe.Sizeof(fuse.WriteOut{}))
	sizeofInterrupt = int(unsafe.Sizeof(fuse.InterruptIn{}))
)

// mountConn mounts b at mp with mount(2) (root only), answers the
// kernel's INIT and starts serving, through io_uring too if transport
// asks for it and the kernel agrees (uring.go).
func mountConn(b *bridge, mp string, opts *fuse.MountOptions, transport string, log *zap.Logger) (*conn, error) {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/fuse: %w", err)
	}
	data := []string{
		fmt.Sprintf("fd=%d", fd),
		fmt.Sprintf("rootmode=%o", unix.S_IFDIR),
		fmt.Sprintf("user_id=%d", os.Geteuid()),
		fmt.Sprintf("group_id=%d", os.Getegid()),
		fmt.Sprintf("max_read=%d", opts.MaxWrite),
	}
	data = append(data, opts.Options...)
	if opts.AllowOther {
		data = append(data, "allow_other")
	}
	source := opts.FsName
	if source == "" {
		source = opts.Name
	}
	if err := unix.Mount(source, mp, "fuse."+opts.Name, unix.MS_NOSUID|unix.MS_NODEV, strings.Join(data, ",")); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount(2): %w", err)
	}
	var rings *ringSet
	var note string
	if transport == TransportIOUring {
		if rings, note = newRingSet(fd, opts.MaxWrite, log); rings != nil {
			o := *opts
			o.ExtraCapabilities |= fuse.CAP_OVER_IO_URING
			opts = &o
		}
	}
	panicked := opts.PanicHandler
	if panicked == nil {
		panicked = func(any) fuse.Status { return fuse.EIO }
	}
	c := &conn{
		panicked: panicked,
		fd:       fd,
		mp:       mp,
		b:        b,
		ps:       fuse.NewProtocolServer(b, opts),
		log:      log,
		bufLen:   opts.MaxWrite + os.Getpagesize(),
		debug:    opts.Debug,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	w := c.newWorker()
	if err := w.init(); err != nil {
		if rings != nil {
			rings.abandon()
		}
		_ = unix.Unmount(mp, unix.MNT_DETACH)
		unix.Close(fd)
		return nil, fmt.Errorf("the kernel's INIT: %w", err)
	}
	c.transportNote = note
	if rings != nil {
		if err := c.startRings(rings); err != nil {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
			unix.Close(fd)
			return nil, err
		}
	}
	c.mu.Lock()
	c.workers, c.reading = 1, 1
	c.mu.Unlock()
	c.wg.Add(2)
	go w.run()
	go c.watchdog()
	go func() {
		c.wg.Wait()
		c.rings.wait()
		b.OnUnmount()
		unix.Close(c.fd)
		close(c.done)
	}()
	// Make the kernel ask POLL once now, answered ENOSYS, so that it
	// never asks again: a POLL sent while this process's own epoll
	// holds the last thread could not be served (go-fuse's "poll hack",
	// which the ProtocolServer answers).
	if pfd, err := unix.Open(filepath.Join(mp, ".go-fuse-epoll-hack"), unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		_, _ = unix.Poll([]unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN | unix.POLLPRI | unix.POLLOUT}}, 0)
		unix.Close(pfd)
	}
	return c, nil
}

// loopStats returns the loop's statistics.
func (c *conn) loopStats() LoopStats {
	c.mu.Lock()
	ls := LoopStats{Workers: c.workers, Reading: c.reading, Serving: c.serving, Parked: len(c.parked),
		Requests: c.served, Handoffs: c.handoff}
	c.mu.Unlock()
	ls.Spawned = c.stats.spawned.Load()
	ls.Unparked = c.stats.unparked.Load()
	ls.Parks = c.stats.parks.Load()
	ls.Stalls = c.stats.stalls.Load()
	ls.Interrupts = c.stats.interrupts.Load()
	return ls
}

// unmount detaches the mount; the workers then read ENODEV and exit. It
// fails with EBUSY while the mount is in use.
func (c *conn) unmount() error { return unix.Unmount(c.mp, 0) }

// worker reads requests and serves them inline.
type worker struct {
	c    *conn
	in   []byte
	out  []byte
	hdr  [unsafe.Sizeof(fuse.OutHeader{}) + unsafe.Sizeof(fuse.WriteOut{})]byte
	data [1][]byte // a WRITE's payload, as Writev takes it
	iov  [][]byte
	wake chan bool // true: read again; false: exit
	// fastUnique is the READ or WRITE being served outside the
	// ProtocolServer, for an INTERRUPT of it.
	fastUnique atomic.Uint64
	// cancel is the cancel channel of the READ or WRITE being served
	// (the call's context): an INTERRUPT of it closes it (interrupted
	// set), and the worker makes a new one before its next request.
	// The worker reads it freely; it and interrupted are written under
	// c.mu.
	cancel      chan struct{}
	interrupted bool
	// psUnique is the request being served by the ProtocolServer, for
	// cancelAll.
	psUnique atomic.Uint64
}

// newWorker makes a worker; the caller holds c.mu or is alone.
func (c *conn) newWorker() *worker {
	w := &worker{
		c:      c,
		in:     make([]byte, c.bufLen),
		out:    make([]byte, c.bufLen),
		iov:    make([][]byte, 0, 16),
		wake:   make(chan bool, 1),
		cancel: make(chan struct{}),
	}
	c.all = append(c.all, w)
	return w
}

// interruptFast cancels request unique if a worker serves it outside the
// ProtocolServer, and reports whether one does.
func (c *conn) interruptFast(unique uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.all {
		if w.fastUnique.Load() == unique {
			if !w.interrupted {
				w.interrupted = true
				close(w.cancel)
			}
			return true
		}
	}
	return c.rings != nil && c.rings.interruptFastLocked(unique)
}

// init reads and answers the kernel's INIT.
func (w *worker) init() error {
	n, err := w.read()
	if err != nil {
		return err
	}
	h := (*fuse.InHeader)(unsafe.Pointer(&w.in[0]))
	if h.Opcode != opcodeInit {
		return fmt.Errorf("first request has opcode %d, not INIT", h.Opcode)
	}
	if n >= sizeofInHeader+8 {
		w.c.minor = (*fuse.InitIn)(unsafe.Pointer(&w.in[0])).Minor
	}
	w.psUnique.Store(h.Unique)
	m, st := w.c.ps.HandleRequest([][]byte{w.in[:n]}, [][]byte{w.out})
	w.psUnique.Store(0)
	if !st.Ok() {
		return fmt.Errorf("answering INIT: %v", st)
	}
	if m < sizeofOutHeader+int(unsafe.Sizeof(fuse.InitOut{})) {
		return fmt.Errorf("INIT answered with %d bytes", m)
	}
	oh := (*fuse.OutHeader)(unsafe.Pointer(&w.out[0]))
	if oh.Status != 0 {
		return fmt.Errorf("INIT refused: %v", syscall.Errno(-oh.Status))
	}
	out := (*fuse.InitOut)(unsafe.Pointer(&w.out[sizeofOutHeader]))
	w.c.flags = out.Flags64()
	w.c.b.initFlags(out.Flags64())
	return w.write(w.out[:m])
}

// read reads one request into w.in, retrying EINTR.
func (w *worker) read() (int, error) {
	for {
		n, err := unix.Read(w.c.fd, w.in)
		if err == unix.EINTR {
			continue
		}
		if err == nil && n < sizeofInHeader {
			return 0, fmt.Errorf("short read of %d bytes from /dev/fuse", n)
		}
		return n, err
	}
}

// write sends one reply. ENOENT means the request was interrupted and
// needs none any more.
func (w *worker) write(b []byte) error {
	_, err := unix.Write(w.c.fd, b)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

func (w *worker) writev(iov [][]byte) error {
	_, err := unix.Writev(w.c.fd, iov)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// run is a worker's life: read, serve, and read again or park.
func (w *worker) run() {
	c := w.c
	defer c.wg.Done()
	for {
		start := time.Now()
		n, err := w.read()
		took := time.Since(start)
		c.mu.Lock()
		c.reading--
		if err != nil {
			if err == unix.ENOENT { // interrupted before it was read
				c.reading++
				c.mu.Unlock()
				continue
			}
			c.endLocked(err)
			c.mu.Unlock()
			return
		}
		c.served++
		if c.asleep {
			c.asleep = false
			c.kickWatchdog()
		}
		// Overlapping requests: one is being served, or this one was
		// queued already and comes from another thread than the last
		// (a single caller's next request is often queued before
		// this worker is back in read(2): that is no overlap).
		pid := (*fuse.InHeader)(unsafe.Pointer(&w.in[0])).Pid
		if c.reading == 0 && (c.serving > 0 || pid != c.lastPid && took < backlogAfter+time.Duration(n>>2)) {
			c.addReaderLocked()
		}
		c.lastPid = pid
		if c.last != w {
			c.last = w
			c.handoff++
		}
		c.serving++
		c.mu.Unlock()

		w.serve(n)

		c.mu.Lock()
		c.serving--
		if w.interrupted {
			w.cancel, w.interrupted = make(chan struct{}), false
		}
		if c.dead {
			c.mu.Unlock()
			return
		}
		if c.reading > 0 && c.serving == 0 {
			c.parked = append(c.parked, w)
			c.mu.Unlock()
			c.stats.parks.Add(1)
			if !<-w.wake {
				return
			}
			continue // the waker counted this worker as reading
		}
		c.reading++
		c.mu.Unlock()
	}
}

// addReaderLocked sends a parked worker back to read(2), or starts one.
func (c *conn) addReaderLocked() {
	if k := len(c.parked); k > 0 {
		w := c.parked[k-1]
		c.parked[k-1] = nil
		c.parked = c.parked[:k-1]
		c.reading++
		c.stats.unparked.Add(1)
		w.wake <- true
		return
	}
	if c.workers >= maxWorkers {
		return // every worker is busy: requests wait in the kernel
	}
	c.workers++
	c.reading++
	c.stats.spawned.Add(1)
	c.wg.Add(1)
	go c.newWorker().run()
}

// endLocked records that the connection ended (ENODEV after an unmount,
// or another read error) and lets every parked worker exit.
func (c *conn) endLocked(err error) {
	if !c.dead && err != unix.ENODEV {
		c.log.Error("reading /dev/fuse failed; the mount stops serving", zap.Error(err))
	}
	if !c.dead {
		c.cancelAllLocked()
	}
	c.dead = true
	for _, w := range c.parked {
		w.wake <- false
	}
	c.parked = nil
	c.kickWatchdog()
}

// cancelAllLocked cancels every request being served, as go-fuse's loop
// does when the connection ends: their callers are gone (an aborted
// connection answers them ENOTCONN), so a fop waiting on something slow
// (a hung plugin) gives up instead of holding its worker, and the mount's
// end, for as long as it waits. READs and WRITEs served here are
// cancelled directly; the ProtocolServer's are sent an INTERRUPT, whose
// reply is not written.
func (c *conn) cancelAllLocked() {
	var in [unsafe.Sizeof(fuse.InterruptIn{})]byte // go-fuse's In types begin with the header
	out := make([]byte, c.bufLen)
	interruptPS := func(u uint64) {
		req := (*fuse.InterruptIn)(unsafe.Pointer(&in[0]))
		req.Length, req.Opcode, req.InHeader.Unique, req.Unique = uint32(len(in)), opcodeInterrupt, u|1<<63, u
		c.ps.HandleRequest([][]byte{in[:]}, [][]byte{out})
	}
	for _, w := range c.all {
		if w.fastUnique.Load() != 0 && !w.interrupted {
			w.interrupted = true
			close(w.cancel)
		}
		if u := w.psUnique.Load(); u != 0 {
			interruptPS(u)
		}
	}
	if c.rings != nil {
		c.rings.cancelAllLocked(interruptPS)
	}
}

// kickWatchdog wakes the watchdog if it sleeps.
func (c *conn) kickWatchdog() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// watchdog adds a reader when a request has been served for a whole
// stallCheck with no worker reading. It sleeps while the connection is
// idle, until a worker takes the next request.
func (c *conn) watchdog() {
	defer c.wg.Done()
	var last uint64
	idle := 0
	t := time.NewTicker(stallCheck)
	defer t.Stop()
	for range t.C {
		c.mu.Lock()
		if c.dead {
			c.mu.Unlock()
			return
		}
		if c.reading == 0 && c.serving > 0 && c.served == last {
			c.stats.stalls.Add(1)
			c.addReaderLocked()
		}
		if c.served == last && c.serving == 0 {
			idle++
		} else {
			idle = 0
		}
		last = c.served
		if idle < idleWatchdog {
			c.mu.Unlock()
			continue
		}
		c.asleep = true
		c.mu.Unlock()
		t.Stop()
		<-c.wake
		c.mu.Lock()
		dead := c.dead
		last, idle = c.served, 0
		c.mu.Unlock()
		if dead {
			return
		}
		t.Reset(stallCheck)
	}
}

// serve answers the request in w.in[:n].
func (w *worker) serve(n int) {
	h := (*fuse.InHeader)(unsafe.Pointer(&w.in[0]))
	switch {
	case h.Opcode == opcodeRead && n >= sizeofReadIn:
		w.serveRead((*fuse.ReadIn)(unsafe.Pointer(&w.in[0])))
		return
	case h.Opcode == opcodeWrite && n >= sizeofWriteIn && h.TotalExtlen == 0 && w.c.minor >= 9:
		in := (*fuse.WriteIn)(unsafe.Pointer(&w.in[0]))
		if n-sizeofWriteIn == int(in.Size) {
			w.serveWrite(in, w.in[sizeofWriteIn:n])
			return
		}
	case h.Opcode == opcodeInterrupt && n >= sizeofInterrupt:
		w.c.stats.interrupts.Add(1)
		// The ProtocolServer knows only the requests it serves and
		// answers EAGAIN for others, which makes the kernel send
		// the INTERRUPT again at once, for as long as the READ or
		// WRITE runs: cancel those here, and answer nothing (the
		// kernel then waits for the request's own reply, EINTR if
		// the fop gave up).
		if w.c.interruptFast((*fuse.InterruptIn)(unsafe.Pointer(&w.in[0])).Unique) {
			return
		}
	}
	w.psUnique.Store(h.Unique)
	m, st := w.c.ps.HandleRequest([][]byte{w.in[:n]}, [][]byte{w.out})
	w.psUnique.Store(0)
	if !st.Ok() {
		// The ProtocolServer could not even parse it: answer, or the
		// caller waits for ever.
		w.replyError(h, st)
		return
	}
	if m > 0 {
		w.report(h, w.write(w.out[:m]))
	}
}

// serveRead answers a READ with writev(2) from the iobufs.
func (w *worker) serveRead(in *fuse.ReadIn) {
	if w.c.debug {
		w.c.log.Debug("READ", zap.Uint64("unique", in.Unique), zap.Uint64("node", in.NodeId), zap.Uint64("fh", in.Fh), zap.Uint64("off", in.Offset), zap.Uint32("size", in.Size))
	}
	w.fastUnique.Store(in.Unique)
	defer w.fastUnique.Store(0)
	res, st := w.read1(in)
	if !st.Ok() {
		w.replyError(&in.InHeader, st)
		return
	}
	oh := (*fuse.OutHeader)(unsafe.Pointer(&w.hdr[0]))
	oh.Unique = in.Unique
	oh.Status = 0
	iov := append(w.iov[:0], w.hdr[:sizeofOutHeader])
	if r, ok := res.(*readResult); ok {
		iov = append(iov, r.iov...)
	} else if res.Size() > 0 {
		b, st := res.Bytes(w.out)
		if !st.Ok() {
			res.Done()
			w.replyError(&in.InHeader, st)
			return
		}
		iov = append(iov, b)
	}
	size := 0
	for _, v := range iov[1:] {
		size += len(v)
	}
	oh.Length = uint32(sizeofOutHeader + size)
	err := w.writev(iov)
	clear(iov)
	w.iov = iov[:0]
	res.Done()
	w.report(&in.InHeader, err)
}

// serveWrite answers a WRITE whose payload is data (in the worker's
// buffer: the bridge copies it into iobufs before it returns). Served here
// rather than by the ProtocolServer, it allocates nothing.
func (w *worker) serveWrite(in *fuse.WriteIn, data []byte) {
	if w.c.debug {
		w.c.log.Debug("WRITE", zap.Uint64("unique", in.Unique), zap.Uint64("node", in.NodeId), zap.Uint64("fh", in.Fh), zap.Uint64("off", in.Offset), zap.Uint32("size", in.Size))
	}
	w.fastUnique.Store(in.Unique)
	defer w.fastUnique.Store(0)
	size, st := w.write1(in, data)
	if !st.Ok() {
		w.replyError(&in.InHeader, st)
		return
	}
	oh := (*fuse.OutHeader)(unsafe.Pointer(&w.hdr[0]))
	*oh = fuse.OutHeader{Length: uint32(sizeofOutHeader + sizeofWriteOut), Unique: in.Unique}
	*(*fuse.WriteOut)(unsafe.Pointer(&w.hdr[sizeofOutHeader])) = fuse.WriteOut{Size: size}
	w.report(&in.InHeader, w.write(w.hdr[:sizeofOutHeader+sizeofWriteOut]))
}

// write1 calls the bridge's Writev as read1 calls Read.
func (w *worker) write1(in *fuse.WriteIn, data []byte) (size uint32, st fuse.Status) {
	w.data[0] = data
	size, st = w.c.writeFop(w.cancel, in, w.data[:])
	w.data[0] = nil
	return size, st
}

// read1 calls the bridge's Read with the worker's cancel channel.
func (w *worker) read1(in *fuse.ReadIn) (res fuse.ReadResult, st fuse.Status) {
	return w.c.readFop(w.cancel, in)
}

// writeFop calls the bridge's Writev as readFop calls Read.
func (c *conn) writeFop(cancel chan struct{}, in *fuse.WriteIn, data [][]byte) (size uint32, st fuse.Status) {
	defer func() {
		if r := recover(); r != nil {
			size, st = 0, c.panicked(r)
		}
	}()
	return c.b.Writev(cancel, in, data)
}

// readFop calls the bridge's Read, turning a panic into the reply the
// mount's PanicHandler chooses (EIO), as the ProtocolServer does for the
// other requests.
func (c *conn) readFop(cancel chan struct{}, in *fuse.ReadIn) (res fuse.ReadResult, st fuse.Status) {
	defer func() {
		if r := recover(); r != nil {
			res, st = nil, c.panicked(r)
		}
	}()
	return c.b.Read(cancel, in, nil)
}

// replyError answers request h with errno st.
func (w *worker) replyError(h *fuse.InHeader, st fuse.Status) {
	oh := (*fuse.OutHeader)(unsafe.Pointer(&w.hdr[0]))
	*oh = fuse.OutHeader{Length: uint32(sizeofOutHeader), Status: -int32(st), Unique: h.Unique}
	w.report(h, w.write(w.hdr[:sizeofOutHeader]))
}

// report logs a reply the kernel refused (not the end of the connection).
func (w *worker) report(h *fuse.InHeader, err error) {
	if err != nil && !errors.Is(err, unix.ENODEV) {
		w.c.log.Warn("writing a reply to /dev/fuse failed", zap.Uint32("opcode", h.Opcode), zap.Uint64("unique", h.Unique), zap.Error(err))
	}
}
