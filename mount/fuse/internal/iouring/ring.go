// Package iouring is the little of io_uring(7) that FUSE over io_uring
// needs, without cgo: a ring of 128-byte submission entries (SQE128,
// whose 80-byte command area carries a driver's command), set up with
// io_uring_setup(2), its queues mapped with mmap(2), and entered with
// io_uring_enter(2).
//
// The kernel and the process share the queues' head and tail words: the
// process writes the submission tail and the completion head, the kernel
// the others. They are read and written with sync/atomic, whose
// sequentially consistent loads and stores give the acquire and release
// order liburing gets from its barriers.
//
// A Ring is not safe for concurrent use: one goroutine prepares entries,
// submits and reaps. FUSE over io_uring wants that goroutine locked to
// its thread (runtime.LockOSThread), since the kernel runs a command's
// completion work in the task that submitted it.
package iouring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// io_uring_setup(2) flags and io_uring_enter(2) flags
// (include/uapi/linux/io_uring.h).
const (
	SetupCQSize = 1 << 3  // IORING_SETUP_CQSIZE: Params.CQEntries is the completion queue's size
	SetupSQE128 = 1 << 10 // IORING_SETUP_SQE128: 128-byte submission entries

	enterGetEvents = 1 << 0 // IORING_ENTER_GETEVENTS

	featSingleMmap = 1 << 0 // IORING_FEAT_SINGLE_MMAP

	offSQRing = 0          // IORING_OFF_SQ_RING
	offCQRing = 0x8000000  // IORING_OFF_CQ_RING
	offSQEs   = 0x10000000 // IORING_OFF_SQES

	registerFiles = 2 // IORING_REGISTER_FILES
)

// Opcodes and SQE flags this package's users submit.
const (
	OpRead     = 22 // IORING_OP_READ
	OpURingCmd = 46 // IORING_OP_URING_CMD

	SQEFixedFile = 1 << 0 // IOSQE_FIXED_FILE: SQE.Fd indexes the registered files
)

// SQE is a 128-byte submission queue entry (struct io_uring_sqe of a ring
// set up with SetupSQE128). Off holds a URING_CMD's command op in its low
// 32 bits; Cmd is its 80-byte command area.
type SQE struct {
	Opcode      uint8
	Flags       uint8
	IOPrio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpFlags     uint32
	UserData    uint64
	BufIndex    uint16
	Personality uint16
	SpliceFdIn  int32
	Cmd         [80]byte
}

// CQE is a completion queue entry (struct io_uring_cqe).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// params is struct io_uring_params.
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

// Ring is one io_uring instance with 128-byte submission entries.
type Ring struct {
	fd int

	sqMap, cqMap, sqeMap []byte
	single               bool // cqMap is sqMap (IORING_FEAT_SINGLE_MMAP)

	sqHead, sqTail *uint32
	sqMask         uint32
	sqArray        []uint32
	sqes           []SQE
	tail           uint32 // the next entry to hand out; published at Submit

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []CQE
}

// New sets up a ring of at least entries submission entries and
// cqEntries completion entries (0: twice entries).
func New(entries, cqEntries uint32) (*Ring, error) {
	p := params{flags: SetupSQE128}
	if cqEntries > 0 {
		p.flags |= SetupCQSize
		p.cqEntries = cqEntries
	}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd)}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *Ring) mapRings(p *params) error {
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(CQE{}))
	r.single = p.features&featSingleMmap != 0
	if r.single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqMap, err = mmap(r.fd, offSQRing, sqSize); err != nil {
		return fmt.Errorf("mmap of the submission queue: %w", err)
	}
	if r.single {
		r.cqMap = r.sqMap
	} else if r.cqMap, err = mmap(r.fd, offCQRing, cqSize); err != nil {
		return fmt.Errorf("mmap of the completion queue: %w", err)
	}
	if r.sqeMap, err = mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(SQE{}))); err != nil {
		return fmt.Errorf("mmap of the submission entries: %w", err)
	}
	r.sqHead = word(r.sqMap, p.sqOff.head)
	r.sqTail = word(r.sqMap, p.sqOff.tail)
	r.sqMask = *word(r.sqMap, p.sqOff.ringMask)
	r.sqArray = unsafe.Slice(word(r.sqMap, p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMap[0])), p.sqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)
	r.cqHead = word(r.cqMap, p.cqOff.head)
	r.cqTail = word(r.cqMap, p.cqOff.tail)
	r.cqMask = *word(r.cqMap, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&r.cqMap[p.cqOff.cqes])), p.cqEntries)
	return nil
}

func mmap(fd int, off int64, size int) ([]byte, error) {
	return unix.Mmap(fd, off, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
}

func word(m []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&m[off])) }

// Fd returns the ring's file descriptor.
func (r *Ring) Fd() int { return r.fd }

// RegisterFiles registers fds as the ring's fixed files: an SQE with
// SQEFixedFile names fds[i] by i.
func (r *Ring) RegisterFiles(fds []int32) error {
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), registerFiles,
		uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), 0, 0)
	if errno != 0 {
		return fmt.Errorf("io_uring_register(IORING_REGISTER_FILES): %w", errno)
	}
	return nil
}

// ErrFull is returned by Get when every submission entry is taken until
// the next Submit.
var ErrFull = errors.New("iouring: submission queue full")

// Get returns a zeroed submission entry to fill in; it goes to the kernel
// at the next Submit.
func (r *Ring) Get() (*SQE, error) {
	if r.tail-atomic.LoadUint32(r.sqHead) > r.sqMask {
		return nil, ErrFull
	}
	i := r.tail & r.sqMask
	r.sqArray[i] = i
	r.tail++
	e := &r.sqes[i]
	*e = SQE{}
	return e, nil
}

// Submit hands the kernel the entries filled since the last Submit and,
// with wait > 0, blocks until at least wait completions are ready. A
// signal ends the wait early (the caller reaps what is there and waits
// again); it is not an error.
func (r *Ring) Submit(wait uint32) error {
	// The release store publishes the entries written before it.
	atomic.StoreUint32(r.sqTail, r.tail)
	for {
		toSubmit := r.tail - atomic.LoadUint32(r.sqHead)
		if toSubmit == 0 && wait == 0 {
			return nil
		}
		var flags uintptr
		if wait > 0 {
			flags = enterGetEvents
		}
		_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(wait), flags, 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			if r.tail == atomic.LoadUint32(r.sqHead) {
				return nil // submitted; let the caller reap before waiting again
			}
			continue
		default:
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// Peek returns the oldest completion not yet consumed, if any. It stays
// valid until Advance.
func (r *Ring) Peek() (CQE, bool) {
	head := atomic.LoadUint32(r.cqHead)
	if head == atomic.LoadUint32(r.cqTail) { // acquire: the entry's contents are visible
		return CQE{}, false
	}
	return r.cqes[head&r.cqMask], true
}

// Advance consumes the completion Peek returned.
func (r *Ring) Advance() {
	atomic.StoreUint32(r.cqHead, atomic.LoadUint32(r.cqHead)+1)
}

// Close unmaps the queues and closes the ring; the kernel cancels what is
// still in flight on it.
func (r *Ring) Close() error {
	if r.sqeMap != nil {
		_ = unix.Munmap(r.sqeMap)
	}
	if r.cqMap != nil && !r.single {
		_ = unix.Munmap(r.cqMap)
	}
	if r.sqMap != nil {
		_ = unix.Munmap(r.sqMap)
	}
	r.sqeMap, r.cqMap, r.sqMap = nil, nil, nil
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}
