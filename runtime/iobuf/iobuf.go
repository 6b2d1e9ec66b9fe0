package iobuf

import (
	"bytes"
	"sync/atomic"

	"go.uber.org/zap"
)

// Iobuf describes one page of a pool: a class page inside an arena, or a heap
// buffer for a request larger than every class. The header lives on the Go
// heap (arena headers are allocated with their arena, never per Get); the
// bytes it describes live in mmap'd memory and must never hold Go pointers.
//
// An Iobuf is reference counted. Get returns it with one reference; every Ref
// adds one and every Unref drops one; the last Unref returns the page to its
// arena, after which neither the Iobuf nor any slice from Bytes may be used.
// Ref, Unref and Refs are safe for concurrent use; writing the bytes is the
// holders' business to coordinate.
type Iobuf struct {
	refs  int32 // atomic except for the store in Get, which owns the page
	class int32 // index into Pool.classes; -1 for a heap (stdalloc) buffer
	data  []byte
	pool  *Pool
	arena *arena // nil for a heap or borrowed buffer
	// lender is set for a borrowed buffer (Pool.Borrow): memory the pool
	// does not own, handed back with lender.Return(tag).
	lender Lender
	tag    uint64
}

// Bytes returns the page. Its length (and capacity) is the class's page size,
// or for a heap buffer the requested size rounded up to the OS page size. The
// slice is valid while the caller holds a reference; it is OS-page-aligned
// when the class page size is a multiple of the OS page size (4 KiB), and
// always for heap buffers.
func (b *Iobuf) Bytes() []byte {
	if b.pool.debug && atomic.LoadInt32(&b.refs) <= 0 {
		b.pool.report(ErrUseAfterFree, "Iobuf.Bytes on a released iobuf", b)
	}
	return b.data
}

// PageSize returns len(b.Bytes()): the class's page size, or the rounded size
// of a heap buffer.
func (b *Iobuf) PageSize() int { return len(b.data) }

// Borrowed reports whether b wraps memory lent by a Lender (Pool.Borrow)
// rather than a page of the pool or the heap. Its PageSize is then the
// length lent, which may be a part of a larger resource (a shared-memory
// slot) that stays taken while anyone holds b.
func (b *Iobuf) Borrowed() bool { return b.lender != nil }

// Refs returns the current reference count: a snapshot, exact only when no
// other goroutine holds a reference.
func (b *Iobuf) Refs() int { return int(atomic.LoadInt32(&b.refs)) }

// Ref adds a reference, which the caller then owns. The caller must already
// hold one (directly or through an Iobref): taking a reference on a released
// iobuf is a use after free, which Ref reports (Stats.UseAfterFree, log) and
// undoes.
func (b *Iobuf) Ref() {
	if atomic.AddInt32(&b.refs, 1) <= 1 {
		atomic.AddInt32(&b.refs, -1)
		b.pool.report(ErrUseAfterFree, "Iobuf.Ref on a released iobuf", b)
	}
}

// tryRef adds a reference unless the count is 0 (a free page, or one its
// last holder is releasing), and reports whether it did: the Ref of a
// caller that cannot know the page to be held (SharedRef).
func (b *Iobuf) tryRef() bool {
	for {
		r := atomic.LoadInt32(&b.refs)
		if r <= 0 {
			return false
		}
		if atomic.CompareAndSwapInt32(&b.refs, r, r+1) {
			return true
		}
	}
}

// Unref drops a reference the caller owns; the last one returns the page to
// the pool. A surplus Unref is reported as in UnrefE and otherwise ignored.
func (b *Iobuf) Unref() { _ = b.UnrefE() }

// UnrefE is Unref that also returns ErrRefUnderflow when the count is
// already zero. The iobuf is then left untouched (never freed twice), the
// event is counted in Stats.RefUnderflows and logged. It cannot detect a
// surplus Unref after the page was handed out again to someone else: that
// drops the new owner's reference, which debug mode's poisoning may catch.
func (b *Iobuf) UnrefE() error {
	if !raceEnabled && !b.pool.debug && b.pool.shared == nil && atomic.LoadInt32(&b.refs) == 1 {
		// Sole holder: no one else may Ref or Unref, so the count cannot
		// change under us and a plain store saves the read-modify-write.
		// A second, surplus Unref then finds 0 and is reported. Debug and
		// race builds take the CAS loop, which also catches two racing
		// surplus Unrefs; so do Shared pools, whose SharedRef may take a
		// reference on any held page without holding one.
		b.refs = 0
		b.pool.release(b)
		return nil
	}
	for {
		r := atomic.LoadInt32(&b.refs)
		if r <= 0 {
			b.pool.report(ErrRefUnderflow, "Iobuf.Unref below zero", b)
			return ErrRefUnderflow
		}
		if atomic.CompareAndSwapInt32(&b.refs, r, r-1) {
			if r == 1 {
				b.pool.release(b)
			}
			return nil
		}
	}
}

// poisonByte fills free pages in debug mode; 0xdb is unlikely in real data
// patterns and easy to spot in a hex dump ("dead buffer").
const poisonByte = 0xdb

func poison(p []byte) {
	if len(p) == 0 {
		return
	}
	p[0] = poisonByte
	for n := 1; n < len(p); n *= 2 {
		copy(p[n:], p[:n])
	}
}

// checkPoison verifies that a page handed out in debug mode kept the poison
// written when it was freed.
func (p *Pool) checkPoison(b *Iobuf) {
	if !bytes.Equal(b.data, p.poisonPattern[:len(b.data)]) {
		p.report(ErrUseAfterFree, "free iobuf was written after its last Unref", b)
	}
}

// report counts and logs misuse of an iobuf or iobref.
func (p *Pool) report(err error, what string, b *Iobuf) {
	switch err {
	case ErrRefUnderflow:
		p.refUnderflows.Add(1)
	case ErrUseAfterFree:
		p.useAfterFree.Add(1)
	}
	fields := []zap.Field{zap.Error(err), zap.Stack("stack")}
	if b != nil {
		fields = append(fields, zap.Int("page_size", len(b.data)))
		if b.arena != nil {
			fields = append(fields, zap.Int("arena", b.arena.id))
		}
	}
	p.log.Error("iobuf: "+what, fields...)
}

// st32 stores to a field the caller owns exclusively (a page or iobref just
// taken from a free list): plain in normal builds, atomic under the race
// detector so that concurrent atomic readers (Stats, Refs) are not reported.
func st32(p *int32, v int32) {
	if raceEnabled {
		atomic.StoreInt32(p, v)
		return
	}
	*p = v
}
