package transport

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
)

// A plugin shares its arena with the host read-write, so it can write
// anything there at any time: garbage in the ring heads and call state
// words, replies longer than the request, slots, offsets and tokens it
// was never given. The host therefore reads every value it uses from the
// arena once, into its own memory, and checks it before use: call states
// against the states a call can be in, slot numbers and lengths against
// the arena, reply sizes against the request, errnos and status codes
// against their ranges, ops and methods against the protocol, data in
// host memory against what the host lent (hostmem.go). What the host
// wrote into a call and needs again after posting it (the call's chain,
// its request slot) it keeps a copy of (ring.own). Data in arena slots is
// bytes the plugin may change at any time; the host never trusts them
// beyond their length.
//
// A failed check is a breach of the protocol, which no plugin built with
// this package commits: the arena is marked dead at once, so that every
// caller waiting on it fails (a readv or writev that found the breach
// with EIO, any other fop with ENOTCONN) and its workers stop, and the
// host kills the plugin process; its restart path starts a new one with
// a new arena (host/process.go). Breaches are counted in the plugin
// volume's statedump (protocol-breaches) and the last one is its
// last-exit.

// ErrBreach is the reason a host gives for a plugin it killed for
// breaking the protocol.
var ErrBreach = errors.New("plugin broke the protocol")

// breach records a breach of the protocol seen in a's shared memory:
// the first marks a dead, wakes every sleeper and calls onBreach; later
// ones, and any in an arena closed already, are counted only.
func (a *Arena) breach(format string, args ...any) {
	a.breaches.Add(1)
	if a.dead.Load() || a.broken.Swap(true) {
		return
	}
	a.dead.Store(true)
	a.wakeAll()
	if f := a.onBreach; f != nil {
		f(fmt.Sprintf(format, args...))
	}
}

// wakeAll wakes every thread sleeping on a's rings: callers on their
// calls' state words, workers on the doorbells. They find a dead.
func (a *Arena) wakeAll() {
	for _, r := range a.rings {
		for i := range r.states {
			futexWake(&r.states[i].v, 1<<30)
		}
		atomic.AddUint32(&r.head.seq, 1)
		futexWake(&r.head.seq, 1<<30)
	}
}

// validState reports whether s is a state a call can be in.
func validState(s uint32) bool { return s&^callSleep <= callAbandoned }

// waitable reports whether s is a state a call can be in while its
// caller waits for it: posted or taken (the caller may have set its
// sleep bit), or done.
func waitable(s uint32) bool {
	v := s &^ callSleep
	return v == callPosted || v == callTaken || s == callDone
}

// maxErrno bounds the errnos a reply may carry: the largest a FUSE reply
// may carry (the kernel refuses a reply with 512 or more, and the request
// it answers would never end).
const maxErrno = 511

// maxCode bounds the gRPC status codes a reply may carry
// (codes.Unauthenticated).
const maxCode = 16

// ErrOf turns a reply's errno back into a fop error; one no system call
// returns (above maxErrno) becomes EIO.
func ErrOf(errno uint32) error {
	switch {
	case errno == 0:
		return nil
	case errno > maxErrno:
		return syscall.EIO
	}
	return syscall.Errno(errno)
}
