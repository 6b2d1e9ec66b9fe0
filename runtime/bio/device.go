package bio

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// InjectFunc is a fault-injection hook (DeviceConfig.Inject), called by the
// engine before every system call it makes for the device: op is the call's
// purpose (OpFlush for an fdatasync, including a Preflush or FUA one), off
// and n the byte range it is about to transfer (0, 0 for fdatasync).
// Returning an error fails that call with it instead of issuing it (return
// syscall.EIO or syscall.ENOSPC to simulate a failing or full disk).
// Returning k < n issues the call for only k bytes, a short transfer the
// engine must continue (for a read, k == 0 looks like end of file);
// returning n or more issues it unchanged. It is called from worker
// goroutines concurrently.
type InjectFunc func(op Op, off int64, n int) (int, error)

// DeviceConfig configures a Device. Zero fields take the defaults.
type DeviceConfig struct {
	// Name identifies the device in Stats and logs.
	Name string
	// QueueDepth bounds the requests in flight (default 32). Without a
	// plug each bio is one request, so it bounds bios in flight; a request
	// of merged bios takes one slot, like a blk-mq tag. Submit blocks while
	// the queue is full.
	QueueDepth int
	// Workers is the number of goroutines the portable engine issues
	// system calls from (default 4).
	Workers int
	// Direct says the file descriptor was opened with O_DIRECT; NewDevice
	// also detects it from the descriptor's flags. A Direct device fails
	// bios whose offset, length or buffers are not multiples of BlockSize
	// with an *AlignError instead of issuing them.
	Direct bool
	// BlockSize is the alignment a Direct device requires of offsets,
	// lengths and buffer addresses. 0 means what statx reports as the
	// file's O_DIRECT offset alignment, or 512 where it reports nothing.
	// Buffers are held to it too, which is stricter than kernels that
	// report a smaller memory alignment, and always safe.
	BlockSize int
	// Inject, if set, is consulted before every system call; see
	// InjectFunc. For tests.
	Inject InjectFunc
	// Engine builds the engine; nil means NewSyncEngine. It is given the
	// config with defaults filled in.
	Engine func(fd int, cfg DeviceConfig) Engine
	// Logger receives reports of misuse; nil discards them.
	Logger *zap.Logger
	// NoInline makes SubmitWait hand its bio to the engine's workers like
	// Submit. By default SubmitWait issues the request on the calling
	// goroutine when the engine can (Inliner): the caller waits anyway, and
	// two goroutine hand-offs cost more than a small read from the page
	// cache (the kernel likewise issues from the submitter's context).
	NoInline bool
}

// Inliner is implemented by engines that can perform a request on the
// calling goroutine, for SubmitWait. Do returns what Request.Complete
// takes; the device calls Complete.
type Inliner interface {
	Do(r *Request) (int64, error)
}

const (
	defaultQueueDepth = 32
	defaultWorkers    = 4
	defaultBlockSize  = 512
)

func (c DeviceConfig) withDefaults() DeviceConfig {
	if c.QueueDepth <= 0 {
		c.QueueDepth = defaultQueueDepth
	}
	if c.Workers <= 0 {
		c.Workers = defaultWorkers
	}
	if c.BlockSize <= 0 {
		c.BlockSize = defaultBlockSize
	}
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	return c
}

// Device is a queue of bios over a file descriptor (a brick file, or a
// block device): the kernel's request_queue with a submission engine.
// Submit is asynchronous and completes through each bio's EndIO; Plug
// batches and merges. Every method is safe for concurrent use. The Device
// does not own the descriptor: Close stops the device, the caller closes
// the fd after.
type Device struct {
	fd     int
	cfg    DeviceConfig
	engine Engine
	log    *zap.Logger

	slots   chan *Request // free requests: QueueDepth of them
	closing chan struct{}
	closed  atomic.Bool
	closeMu sync.Mutex

	waiters sync.Pool // of *waiter, for SubmitWait
	plugs   sync.Pool // of *Plug

	inFlight                               atomic.Int64
	completed, requests, merged, errors    atomic.Uint64
	bytesRead, bytesWritten, misalignments atomic.Uint64
	submitted                              [numOps]atomic.Uint64
}

// NewDevice returns a device issuing IO to fd, and starts its engine. The
// caller keeps ownership of fd and must keep it open until Close returns.
func NewDevice(fd int, cfg DeviceConfig) *Device {
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil && fl&unix.O_DIRECT != 0 {
		cfg.Direct = true
	}
	if cfg.Direct && cfg.BlockSize <= 0 {
		var st unix.Statx_t
		if unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st) == nil &&
			st.Mask&unix.STATX_DIOALIGN != 0 && st.Dio_offset_align > 0 {
			cfg.BlockSize = int(st.Dio_offset_align)
		}
	}
	cfg = cfg.withDefaults()
	d := &Device{
		fd:      fd,
		cfg:     cfg,
		log:     cfg.Logger.Named("bio").With(zap.String("device", cfg.Name)),
		slots:   make(chan *Request, cfg.QueueDepth),
		closing: make(chan struct{}),
	}
	for range cfg.QueueDepth {
		d.slots <- &Request{dev: d}
	}
	d.waiters.New = func() any { return &waiter{ch: make(chan struct{}, 1)} }
	d.plugs.New = func() any { return &Plug{dev: d} }
	if cfg.Engine != nil {
		d.engine = cfg.Engine(fd, cfg)
	} else {
		d.engine = NewSyncEngine(fd, cfg)
	}
	return d
}

// Name returns DeviceConfig.Name.
func (d *Device) Name() string { return d.cfg.Name }

// Config returns the configuration with defaults filled in.
func (d *Device) Config() DeviceConfig { return d.cfg }

// Submit queues b for IO (submit_bio) and returns; it blocks only while the
// queue is full. From then until b's completion the device owns b. EndIO
// runs once, on a worker goroutine, with Status and Done set. Errors never
// come back from Submit: a bio the device refuses (misaligned on a Direct
// device, invalid) completes through EndIO like any other, with its error.
// After Close, b completes with ErrClosed on the calling goroutine.
//
// A bio is submitted once: its completion count is spent. For another IO
// allocate another bio (they are pooled, so this is cheap).
func (d *Device) Submit(b *Bio) {
	d.account(b)
	r := d.slot()
	if r == nil {
		d.failClosed(b)
		return
	}
	nsegs, err := d.check(b)
	d.start(r, b, nsegs, err)
	d.issue(r)
}

// SubmitWait submits b and waits for its completion (submit_bio_wait),
// returning its Status. It uses b's EndIO slot while it runs, so b must not
// have an EndIO nor be chained to a parent (it panics otherwise); it
// restores a nil EndIO before returning. The caller still owns its
// reference and Puts b when done with the data.
func (d *Device) SubmitWait(b *Bio) error {
	if b.EndIO != nil || b.parent != nil {
		panic("bio: SubmitWait on a bio with an EndIO or a parent; use Submit")
	}
	w := d.waiters.Get().(*waiter)
	b.waiter = w
	b.EndIO = wakeWaiter
	if in, ok := d.engine.(Inliner); ok && !d.cfg.NoInline {
		d.submitInline(b, in)
	} else {
		d.Submit(b)
	}
	<-w.ch
	b.waiter, b.EndIO = nil, nil
	d.waiters.Put(w)
	return b.Status()
}

// submitInline is Submit with the request performed on the calling
// goroutine: same accounting, queue depth, checks and completion.
func (d *Device) submitInline(b *Bio, in Inliner) {
	d.account(b)
	r := d.slot()
	if r == nil {
		d.failClosed(b)
		return
	}
	nsegs, err := d.check(b)
	d.start(r, b, nsegs, err)
	d.requests.Add(1)
	n, err := in.Do(r)
	r.Complete(n, err)
}

// waiter is a reusable completion for SubmitWait: a top-level EndIO and a
// pooled channel, so that waiting allocates nothing.
type waiter struct{ ch chan struct{} }

func wakeWaiter(b *Bio) { b.waiter.ch <- struct{}{} }

// account counts a submitted bio.
func (d *Device) account(b *Bio) {
	b.dev = d
	b.next = nil
	if b.Op < numOps {
		d.submitted[b.Op].Add(1)
	}
	d.inFlight.Add(1)
}

// slot takes a free request, blocking while the queue is full; nil means
// the device is closed.
func (d *Device) slot() *Request {
	if d.closed.Load() {
		return nil
	}
	select {
	case r := <-d.slots:
		return r
	case <-d.closing:
		return nil
	}
}

// start makes b, checked as nsegs iovecs or err, the first bio of r.
func (d *Device) start(r *Request, b *Bio, nsegs int, err error) {
	r.op, r.flags, r.off = b.Op, b.Flags, b.Offset
	r.size = int64(b.it.Size)
	if b.Op == OpFlush {
		r.size = 0
	}
	r.nsegs, r.nbios = nsegs, 1
	r.head, r.tail = b, b
	r.err = err
}

// issue hands a built request to the engine.
func (d *Device) issue(r *Request) {
	d.requests.Add(1)
	d.engine.Submit(r)
}

// check validates b for submission and counts its iovecs.
func (d *Device) check(b *Bio) (int, error) {
	if b.Op >= numOps || b.Offset < 0 {
		return 0, ErrInvalid
	}
	if !b.Op.HasData() {
		return 0, nil
	}
	nsegs := b.segments()
	if nsegs < 0 {
		return 0, ErrInvalid
	}
	if !d.cfg.Direct {
		return nsegs, nil
	}
	bs := d.cfg.BlockSize
	if b.Offset%int64(bs) != 0 {
		d.misalignments.Add(1)
		return 0, &AlignError{What: "offset", Value: b.Offset, Align: bs}
	}
	if b.it.Size%bs != 0 {
		d.misalignments.Add(1)
		return 0, &AlignError{What: "length", Value: int64(b.it.Size), Align: bs}
	}
	it := b.it
	for it.Size > 0 {
		v := b.vecs[it.Idx]
		n := min(int(v.len)-it.Done, it.Size)
		addr := v.addr + uintptr(v.off) + uintptr(it.Done)
		if addr%uintptr(bs) != 0 || n%bs != 0 {
			d.misalignments.Add(1)
			if addr%uintptr(bs) != 0 {
				return 0, &AlignError{What: "buffer", Value: int64(addr), Align: bs}
			}
			return 0, &AlignError{What: "length", Value: int64(n), Align: bs}
		}
		it.Size -= n
		it.Idx++
		it.Done = 0
	}
	return nsegs, nil
}

// complete finishes a request (Request.Complete).
func (d *Device) complete(r *Request, n int64, err error) {
	op := r.op
	if op == OpRead && n > 0 {
		d.bytesRead.Add(uint64(n))
	} else if op == OpWrite && n > 0 {
		d.bytesWritten.Add(uint64(n))
	}
	if err != nil {
		d.logError(r, n, err)
	}
	var start int64
	head := r.head
	for b := head; b != nil; b = b.next {
		size := int64(b.it.Size)
		got := size
		if op.HasData() {
			got = min(max(n-start, 0), size)
		} else if err != nil {
			got = 0
		}
		b.done = int(got)
		var berr error
		switch {
		case err != nil && got < size:
			berr = err
		case got < size && op == OpWrite:
			berr = io.ErrShortWrite
		}
		if berr != nil {
			b.SetStatus(berr)
			d.errors.Add(1)
		}
		start += size
	}
	nbios := r.nbios
	r.head, r.tail, r.err = nil, nil, nil
	d.inFlight.Add(-int64(nbios))
	d.completed.Add(uint64(nbios))
	// The slot goes back before the completions run, so that an EndIO
	// that submits finds room.
	d.slots <- r
	for b := head; b != nil; {
		next := b.next
		b.next = nil
		b.Endio()
		b = next
	}
}

// logError reports a failed request: a media error (EIO) as a warning, as
// the kernel prints "I/O error", everything else (a full disk, a caller's
// misaligned or invalid bio) at debug level. zap's Check keeps a disabled
// level free.
func (d *Device) logError(r *Request, n int64, err error) {
	lvl := zap.DebugLevel
	if errors.Is(err, syscall.EIO) {
		lvl = zap.WarnLevel
	}
	if ce := d.log.Check(lvl, "IO error"); ce != nil {
		ce.Write(zap.Stringer("op", r.op), zap.Int64("offset", r.off), zap.Int64("size", r.size),
			zap.Int64("done", n), zap.Int("bios", r.nbios), zap.Error(err))
	}
}

// failClosed completes b with ErrClosed on the caller's goroutine.
func (d *Device) failClosed(b *Bio) {
	b.SetStatus(ErrClosed)
	d.errors.Add(1)
	d.inFlight.Add(-1)
	d.completed.Add(1)
	b.Endio()
}

// Close stops accepting bios, waits for every request in flight to
// complete, and stops the engine. Bios submitted after Close complete with
// ErrClosed. Close does not close the file descriptor. A second Close does
// nothing.
func (d *Device) Close() error {
	d.closeMu.Lock()
	defer d.closeMu.Unlock()
	if d.closed.Swap(true) {
		return nil
	}
	close(d.closing)
	for range d.cfg.QueueDepth {
		<-d.slots
	}
	return d.engine.Close()
}
