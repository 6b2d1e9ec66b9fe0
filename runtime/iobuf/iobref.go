package iobuf

import (
	"fmt"
	"sync/atomic"

	"github.com/xstack/xstack/internal/pin"
)

// inlineEntries is how many segments an Iobref holds before its entry slice
// moves to the heap; maxKeptEntries bounds the grown slice a pooled Iobref
// keeps for its next use.
const (
	inlineEntries  = 16
	maxKeptEntries = 1024
)

type entry struct {
	buf    *Iobuf
	off, n int
}

// Iobref is a reference-counted vector of byte ranges of iobufs: the unit that
// carries data through the translator stack without copying. Each segment is
// (iobuf, offset, length); the Iobref holds one reference on the iobuf of each
// segment, taken when the segment is added and dropped when the Iobref is
// released or the segment truncated away.
//
// Ownership follows the stack's rule: whoever gets an Iobref from NewIobref or
// FromBytes, or from a call documented to return one, owns one reference and
// must Unref it; a callee that keeps it past the call takes its own with Ref.
//
// Ref, Unref and Refs are safe for concurrent use. The builders (Add,
// AddRange, Merge, Truncate, SetSegLen) are not: an Iobref is built by one
// goroutine while it holds the only reference, then shared read-only. The
// readers (Len, Size, Seg, Entry, AppendIov, CopyTo) may run concurrently with
// each other. After the last Unref the Iobref is reused by the pool and must
// not be touched.
type Iobref struct {
	refs   int32
	pool   *Pool
	size   int
	ents   []entry // inline[:] until more than inlineEntries segments
	inline [inlineEntries]entry
}

// NewIobref returns an empty Iobref holding one reference, owned by the
// caller. It does not allocate in steady state: iobrefs come from the
// mem-pool "iobuf:iobref" (Config.Pools) and go back to it. It panics
// with ErrClosed after a successful Close.
func (p *Pool) NewIobref() *Iobref {
	if p.closed.Load() {
		panic(ErrClosed)
	}
	r := p.iobrefs.Get()
	if r.pool == nil { // new from the mem-pool: set up once
		r.pool = p
		r.ents = r.inline[:0]
	}
	st32(&r.refs, 1) // ours alone until returned
	p.noteIobref(false)
	return r
}

// FromBytes copies data into fresh pool iobufs (one copy; pieces of at most
// the largest class's page size, each in the smallest class that fits) and
// returns an Iobref over exactly those bytes, holding one reference owned by
// the caller. data is not retained. FromBytes(nil) returns an empty Iobref.
func (p *Pool) FromBytes(data []byte) *Iobref {
	r := p.NewIobref()
	chunk := p.sizes[len(p.sizes)-1]
	for len(data) > 0 {
		n := min(len(data), chunk)
		b := p.Get(n)
		copy(b.data, data[:n])
		r.push(b, 0, n) // the Iobref takes over Get's reference
		data = data[n:]
	}
	return r
}

// Ref adds a reference, which the caller then owns; the caller must already
// hold one. A Ref on a released Iobref is reported as ErrUseAfterFree (counted
// and logged) and undone.
func (r *Iobref) Ref() {
	if atomic.AddInt32(&r.refs, 1) <= 1 {
		atomic.AddInt32(&r.refs, -1)
		r.pool.report(ErrUseAfterFree, "Iobref.Ref on a released iobref", nil)
	}
}

// Refs returns the current reference count, a snapshot.
func (r *Iobref) Refs() int { return int(atomic.LoadInt32(&r.refs)) }

// Unref drops a reference the caller owns. The last one drops the Iobref's
// reference on every segment's iobuf and returns the Iobref to the pool. A
// surplus Unref is reported as in UnrefE and otherwise ignored.
func (r *Iobref) Unref() { _ = r.UnrefE() }

// UnrefE is Unref that also returns ErrRefUnderflow when the count is already
// zero; the Iobref is then left untouched, the event counted in
// Stats.RefUnderflows and logged.
func (r *Iobref) UnrefE() error {
	if !raceEnabled && !r.pool.debug && atomic.LoadInt32(&r.refs) == 1 {
		// Sole holder: nobody else can change the count (see Iobuf.UnrefE).
		r.refs = 0
		r.release()
		return nil
	}
	for {
		n := atomic.LoadInt32(&r.refs)
		if n <= 0 {
			r.pool.report(ErrRefUnderflow, "Iobref.Unref below zero", nil)
			return ErrRefUnderflow
		}
		if atomic.CompareAndSwapInt32(&r.refs, n, n-1) {
			if n == 1 {
				r.release()
			}
			return nil
		}
	}
}

func (r *Iobref) release() {
	for i := range r.ents {
		r.ents[i].buf.Unref()
	}
	clear(r.ents) // do not keep iobufs reachable from the pool
	if cap(r.ents) > maxKeptEntries {
		r.ents = r.inline[:0]
	} else {
		r.ents = r.ents[:0]
	}
	r.size = 0
	p := r.pool
	p.noteIobref(true)
	if err := p.iobrefs.Put(r); err != nil {
		p.report(err, "Iobref released into its pool", nil)
	}
}

// noteIobref counts an iobref handed out or released on the current P.
func (p *Pool) noteIobref(free bool) {
	pid := pin.Pin()
	var s *shard
	if pid < len(p.shards) {
		s = &p.shards[pid]
	} else {
		s = p.shardSlow(pid)
	}
	c := &s.iobrefsNew
	if free {
		c = &s.iobrefsFree
	}
	st64(c, ld64(c)+1)
	pin.Unpin()
}

// check reports use of a released Iobref, in debug mode.
func (r *Iobref) check(op string) {
	if r.pool.debug && atomic.LoadInt32(&r.refs) <= 0 {
		r.pool.report(ErrUseAfterFree, "Iobref."+op+" on a released iobref", nil)
	}
}

func (r *Iobref) push(b *Iobuf, off, n int) {
	r.ents = append(r.ents, entry{buf: b, off: off, n: n})
	r.size += n
}

// Add appends all of b.Bytes() as a segment. The Iobref takes its own
// reference on b; the caller keeps its own.
func (r *Iobref) Add(b *Iobuf) {
	r.check("Add")
	b.Ref()
	r.push(b, 0, len(b.data))
}

// AddRange appends b.Bytes()[off:off+n] as a segment. The Iobref takes its
// own reference on b; the caller keeps its own. It panics when the range is
// outside the page, as slicing would.
func (r *Iobref) AddRange(b *Iobuf, off, n int) {
	r.check("AddRange")
	if off < 0 || n < 0 || off+n > len(b.data) {
		panic(fmt.Sprintf("iobuf: AddRange(off=%d, n=%d) outside a %d-byte iobuf", off, n, len(b.data)))
	}
	b.Ref()
	r.push(b, off, n)
}

// Merge appends o's segments, taking a reference on each of their iobufs. o
// is unchanged and keeps its own references; r and o may be the same.
func (r *Iobref) Merge(o *Iobref) {
	r.check("Merge")
	o.check("Merge")
	n := len(o.ents) // fixed first: Merge(r, r) must not chase its tail
	for i := 0; i < n; i++ {
		e := o.ents[i]
		e.buf.Ref()
		r.push(e.buf, e.off, e.n)
	}
}

// Truncate shrinks the data to its first n bytes: the segment holding byte n
// is shortened and every segment after it dropped, releasing the Iobref's
// reference on its iobuf. Use it when a read returns fewer bytes than the
// buffers it was given. n ≥ Size is a no-op; n < 0 panics.
func (r *Iobref) Truncate(n int) {
	r.check("Truncate")
	if n < 0 {
		panic(fmt.Sprintf("iobuf: Truncate(%d): negative length", n))
	}
	if n >= r.size {
		return
	}
	keep, left := 0, n
	for keep < len(r.ents) && left > 0 {
		e := &r.ents[keep]
		if e.n > left {
			e.n = left
		}
		left -= e.n
		keep++
	}
	for i := keep; i < len(r.ents); i++ {
		r.ents[i].buf.Unref()
	}
	clear(r.ents[keep:])
	r.ents = r.ents[:keep]
	r.size = n
}

// SetSegLen sets segment i's length to n bytes from its offset; n may grow
// the segment up to the end of its iobuf. It panics when i or n is out of
// range.
func (r *Iobref) SetSegLen(i, n int) {
	r.check("SetSegLen")
	e := &r.ents[i]
	if n < 0 || e.off+n > len(e.buf.data) {
		panic(fmt.Sprintf("iobuf: SetSegLen(%d, %d) outside a %d-byte iobuf at offset %d", i, n, len(e.buf.data), e.off))
	}
	r.size += n - e.n
	e.n = n
}

// Len returns the number of segments.
func (r *Iobref) Len() int { return len(r.ents) }

// Size returns the total bytes over all segments.
func (r *Iobref) Size() int { return r.size }

// Seg returns segment i as a slice whose capacity ends with the segment, so
// appending to it cannot touch the rest of the page. It is valid while the
// caller holds a reference on r.
func (r *Iobref) Seg(i int) []byte {
	r.check("Seg")
	e := r.ents[i]
	return e.buf.data[e.off : e.off+e.n : e.off+e.n]
}

// Entry returns segment i's iobuf and range. No reference is transferred: the
// iobuf is valid while the caller holds a reference on r; Ref it to keep it
// longer.
func (r *Iobref) Entry(i int) (b *Iobuf, off, n int) {
	r.check("Entry")
	e := r.ents[i]
	return e.buf, e.off, e.n
}

// AppendIov appends every segment to dst, as Seg returns them, and returns
// the extended slice: the iovec for a vectored read or write. The slices are
// valid while the caller holds a reference on r.
func (r *Iobref) AppendIov(dst [][]byte) [][]byte {
	r.check("AppendIov")
	for _, e := range r.ents {
		dst = append(dst, e.buf.data[e.off:e.off+e.n:e.off+e.n])
	}
	return dst
}

// CopyTo copies the data, segment after segment, into dst and returns the
// bytes copied: min(len(dst), Size()).
func (r *Iobref) CopyTo(dst []byte) int {
	r.check("CopyTo")
	n := 0
	for _, e := range r.ents {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], e.buf.data[e.off:e.off+e.n])
	}
	return n
}
