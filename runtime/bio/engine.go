package bio

import (
	"golang.org/x/sys/unix"
)

// MaxIovecs caps the iovecs of one request (IOV_MAX on Linux): plug merging
// stops adding bios to a request that would exceed it.
const MaxIovecs = 1024

// Engine issues a Device's requests to the kernel. The device does the
// queueing, plugging, merging, validation and completion bookkeeping; an
// engine only turns requests into system calls. NewSyncEngine is the
// portable one (blocking preadv/pwritev on worker goroutines); an io_uring
// engine would implement the same interface, submitting SQEs in Submit and
// calling Complete from its completion reaper.
type Engine interface {
	// Submit starts r. The engine must call r.Complete exactly once, from
	// any goroutine, after doing the IO or failing it. Submit must not
	// block for long: the device bounds requests in flight to QueueDepth,
	// so an engine can queue that many without waiting.
	Submit(r *Request)
	// Close stops the engine once every submitted request has completed;
	// the device calls it after draining its queue. No Submit follows.
	Close() error
}

// Request is one unit of work for an Engine: a single bio, or a run of
// back-merged bios of one op (reads or writes, adjacent on the device, same
// flags) to be done by one vectored system call. Requests belong to the
// device; an engine reads them between Submit and Complete and must not
// keep them after.
type Request struct {
	dev        *Device
	op         Op
	flags      Flags
	off        int64
	size       int64
	nsegs      int
	nbios      int
	head, tail *Bio
	err        error
}

// Op returns the request's operation.
func (r *Request) Op() Op { return r.op }

// Flags returns the request's flags: every bio in it has the same.
func (r *Request) Flags() Flags { return r.flags }

// Offset returns the byte offset on the device where the request starts.
func (r *Request) Offset() int64 { return r.off }

// Size returns the bytes the request covers: data for reads and writes,
// the range for discard and write-zeroes, 0 for flush.
func (r *Request) Size() int64 { return r.size }

// Iovecs returns the number of iovecs AppendIovecs appends.
func (r *Request) Iovecs() int { return r.nsegs }

// Err returns a failure the device decided before any IO (a misaligned
// Direct bio, an invalid bio). An engine must complete such a request with
// Complete(0, r.Err()) without issuing anything.
func (r *Request) Err() error { return r.err }

// AppendIovecs appends the request's data as iovecs, bio after bio, and
// returns the extended slice. The iovecs point into iobuf pages the bios
// hold references on; they are valid until Complete.
func (r *Request) AppendIovecs(dst []unix.Iovec) []unix.Iovec {
	for b := r.head; b != nil; b = b.next {
		it := b.it
		for it.Size > 0 {
			v := b.vecs[it.Idx]
			n := min(int(v.len)-it.Done, it.Size)
			iov := unix.Iovec{Base: (*byte)(ptr(v.addr + uintptr(v.off) + uintptr(it.Done)))}
			iov.SetLen(n)
			dst = append(dst, iov)
			it.Size -= n
			it.Idx++
			it.Done = 0
		}
	}
	return dst
}

// Complete ends the request: n bytes were transferred from its start and
// err, if not nil, stopped it. Each bio gets its own share: a bio wholly
// inside the first n bytes succeeds; one that is not gets err (for a read
// with err == nil, n < Size means end of file: Done tells the bio how much
// it got). A write that stopped short without an error is completed with
// io.ErrShortWrite. Complete frees the request's queue slot and then runs
// the bios' completions on the calling goroutine.
func (r *Request) Complete(n int64, err error) {
	r.dev.complete(r, n, err)
}
