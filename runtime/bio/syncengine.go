package bio

import (
	"io"
	"math/bits"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// zeroChunk is the size of the zero page write-zeroes falls back to writing.
const zeroChunk = 64 << 10

// syncEngine is the portable engine: Workers goroutines, each taking one
// request at a time and issuing blocking preadv/pwritev (fio's "pvsync"),
// fdatasync and fallocate. Each worker reuses one iovec array, so steady
// state IO allocates nothing.
type syncEngine struct {
	fd        int
	direct    bool
	blockSize int
	inject    InjectFunc
	q         chan *Request
	wg        sync.WaitGroup
	workers   int
	startOnce sync.Once
	iovs      sync.Pool // *[]unix.Iovec scratch for Do, grown as requests need

	zeroOnce sync.Once
	zeroes   []byte // mmap'd, read-only, page-aligned: valid O_DIRECT source
	zeroErr  error
}

// NewSyncEngine returns the portable engine for fd: cfg.Workers goroutines
// issuing blocking vectored system calls, with cfg.Inject consulted before
// each one. It is what a Device uses when DeviceConfig.Engine is nil.
// cfg's zero fields take the documented defaults.
func NewSyncEngine(fd int, cfg DeviceConfig) Engine {
	cfg = cfg.withDefaults()
	e := &syncEngine{
		fd:        fd,
		direct:    cfg.Direct,
		blockSize: cfg.BlockSize,
		inject:    cfg.Inject,
		q:         make(chan *Request, cfg.QueueDepth),
		workers:   cfg.Workers,
	}
	// Sized for the common request and grown by append (do keeps the
	// grown array): a device lives per open file, and an array of
	// MaxIovecs (16 KiB) for each would be garbage per file opened.
	e.iovs.New = func() any { v := make([]unix.Iovec, 0, 4); return &v }
	return e
}

// Submit queues r for the workers, which start on the first Submit: a
// device used only through SubmitWait (inline) runs no goroutines, so a
// brick with thousands of open files does not carry thousands of idle
// workers.
func (e *syncEngine) Submit(r *Request) {
	e.startOnce.Do(func() {
		e.wg.Add(e.workers)
		for range e.workers {
			go e.worker()
		}
	})
	e.q <- r
}

// Do performs r on the calling goroutine (Inliner).
func (e *syncEngine) Do(r *Request) (int64, error) {
	iov := e.iovs.Get().(*[]unix.Iovec)
	n, err := e.do(r, iov)
	e.iovs.Put(iov)
	return n, err
}

func (e *syncEngine) Close() error {
	e.startOnce.Do(func() {}) // no workers may start after Close
	close(e.q)
	e.wg.Wait()
	if e.zeroes != nil {
		return unix.Munmap(e.zeroes)
	}
	return nil
}

func (e *syncEngine) worker() {
	defer e.wg.Done()
	iov := make([]unix.Iovec, 0, MaxIovecs)
	for r := range e.q {
		n, err := e.do(r, &iov)
		r.Complete(n, err)
	}
}

// do performs r and returns the bytes transferred from its start.
func (e *syncEngine) do(r *Request, iov *[]unix.Iovec) (int64, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.flags&Preflush != 0 || r.op == OpFlush {
		if err := e.fdatasync(); err != nil {
			return 0, err
		}
	}
	var n int64
	var err error
	switch r.op {
	case OpFlush:
		return 0, nil
	case OpRead, OpWrite:
		v := r.AppendIovecs((*iov)[:0])
		n, err = e.rw(r.op, v, r.off, r.size)
		clear(v) // drop the page pointers until the next request
		*iov = v[:0]
	case OpDiscard:
		err = e.fallocate(OpDiscard, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, r.off, r.size)
		if err == nil {
			n = r.size
		}
	case OpWriteZeroes:
		n, err = e.writeZeroes(r.off, r.size)
	}
	if err == nil && r.flags&FUA != 0 && r.op != OpRead {
		err = e.fdatasync()
	}
	return n, err
}

// rw issues preadv or pwritev until size bytes are done, a read hits end
// of file, or a call fails. Short transfers are continued from where they
// stopped, as the kernel may return them (signals, quotas, full disks on
// the first bytes).
func (e *syncEngine) rw(op Op, iov []unix.Iovec, off, size int64) (int64, error) {
	var done int64
	for done < size {
		call := iov
		var saved uint64
		cut := -1
		if e.inject != nil {
			lim, err := e.inject(op, off+done, int(size-done))
			if err != nil {
				return done, err
			}
			if int64(lim) < size-done {
				call, cut, saved = trimIov(iov, lim)
			}
		}
		n, err := vectored(op, e.fd, call, off+done)
		if cut >= 0 {
			iov[cut].Len = saved
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return done, err
		case n == 0 && op == OpRead:
			return done, nil // end of file
		case n == 0:
			return done, io.ErrShortWrite
		}
		done += int64(n)
		iov = advanceIov(iov, n)
	}
	return done, nil
}

// trimIov returns the prefix of iov that holds lim bytes; when it ends
// inside an iovec, that iovec's Len is shortened, and its index and old
// Len are returned for the caller to restore (cut is -1 otherwise).
func trimIov(iov []unix.Iovec, lim int) (call []unix.Iovec, cut int, saved uint64) {
	lim = max(lim, 0)
	for i := range iov {
		l := int(iov[i].Len)
		if lim < l {
			if lim == 0 {
				return iov[:i], -1, 0
			}
			saved = iov[i].Len
			iov[i].SetLen(lim)
			return iov[:i+1], i, saved
		}
		lim -= l
	}
	return iov, -1, 0
}

// advanceIov drops the first n bytes of iov.
func advanceIov(iov []unix.Iovec, n int) []unix.Iovec {
	for n > 0 {
		l := int(iov[0].Len)
		if n < l {
			iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
			iov[0].SetLen(l - n)
			return iov
		}
		n -= l
		iov = iov[1:]
	}
	return iov
}

// vectored is preadv/pwritev without x/sys's per-call iovec slice.
func vectored(op Op, fd int, iov []unix.Iovec, off int64) (int, error) {
	trap := uintptr(unix.SYS_PREADV)
	if op != OpRead {
		trap = unix.SYS_PWRITEV
	}
	lo, hi := uintptr(off), uintptr(uint64(off)>>(bits.UintSize-1)>>1)
	r, _, errno := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(iov))), uintptr(len(iov)), lo, hi, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

func (e *syncEngine) fdatasync() error {
	if e.inject != nil {
		if _, err := e.inject(OpFlush, 0, 0); err != nil {
			return err
		}
	}
	for {
		err := unix.Fdatasync(e.fd)
		if err != syscall.EINTR {
			return err
		}
	}
}

func (e *syncEngine) fallocate(op Op, mode uint32, off, size int64) error {
	if e.inject != nil {
		if _, err := e.inject(op, off, int(size)); err != nil {
			return err
		}
	}
	for {
		err := unix.Fallocate(e.fd, mode, off, size)
		if err != syscall.EINTR {
			return err
		}
	}
}

// writeZeroes asks the file system to zero the range and writes zeroes
// where it cannot (tmpfs and others lack FALLOC_FL_ZERO_RANGE).
func (e *syncEngine) writeZeroes(off, size int64) (int64, error) {
	err := e.fallocate(OpWriteZeroes, unix.FALLOC_FL_ZERO_RANGE, off, size)
	if err != unix.EOPNOTSUPP {
		if err != nil {
			return 0, err
		}
		return size, nil
	}
	if e.direct {
		if off%int64(e.blockSize) != 0 {
			return 0, &AlignError{What: "offset", Value: off, Align: e.blockSize}
		}
		if size%int64(e.blockSize) != 0 {
			return 0, &AlignError{What: "length", Value: size, Align: e.blockSize}
		}
	}
	e.zeroOnce.Do(func() {
		e.zeroes, e.zeroErr = unix.Mmap(-1, 0, zeroChunk, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	})
	if e.zeroErr != nil {
		return 0, e.zeroErr
	}
	var done int64
	for done < size {
		p := e.zeroes[:min(int64(zeroChunk), size-done)]
		if e.inject != nil {
			lim, err := e.inject(OpWriteZeroes, off+done, len(p))
			if err != nil {
				return done, err
			}
			p = p[:max(0, min(lim, len(p)))]
		}
		n, err := unix.Pwrite(e.fd, p, off+done)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return done, err
		case n == 0:
			return done, io.ErrShortWrite
		}
		done += int64(n)
	}
	return done, nil
}
