package bio

import (
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/xstack/xstack/runtime/iobuf"
)

// SectorSize is the block layer's sector: Sector() is Offset/SectorSize.
const SectorSize = 512

// InlineVecs is how many vecs a bio holds inside itself (the kernel's
// BIO_INLINE_VECS); larger tables come from the set's bvec slab caches.
const InlineVecs = 4

// MaxVecs is the most vecs one bio can hold (the kernel's BIO_MAX_VECS).
// BioSet.Alloc clamps to it; larger IO is several bios.
const MaxVecs = 256

// bvec is one bio_vec: length bytes at offset off of the page starting at
// addr. It is plain data on purpose: tables of more than InlineVecs bvecs
// live in mmap'd slab memory, which the garbage collector does not scan, so
// a bvec must not hold a Go pointer. addr stays valid because the bio holds
// a reference on the iobuf (or iobref) the page belongs to, and iobuf pages
// never move: arena pages are mmap'd, and heap pages (iobufs larger than
// every class) are ordinary Go objects, which the collector does not move.
type bvec struct {
	addr uintptr
	off  uint32
	len  uint32
}

// ptr turns an address stored as plain data back into a pointer. The load
// through *unsafe.Pointer (rather than a uintptr conversion) keeps checkptr
// and vet from treating it as pointer arithmetic; it is sound only for
// addresses kept alive by references the bio holds (see bvec).
func ptr(addr uintptr) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr))
}

func (v bvec) bytes() []byte {
	return unsafe.Slice((*byte)(ptr(v.addr+uintptr(v.off))), int(v.len))
}

// Iter is a position in a bio's data, the kernel's bvec_iter: Size bytes
// remain, starting Done bytes into vec Idx.
type Iter struct {
	Size int // bytes left
	Idx  int // current vec
	Done int // bytes of vec Idx already consumed
}

// vecKind says where a bio's vec table lives and how to give it back.
type vecKind uint8

const (
	vecsInline  vecKind = iota // b.inlineVecs
	vecsSlab                   // an object of set.caches[b.class]
	vecsReserve                // an object of the reserve (MaxVecs entries)
	vecsClone                  // borrowed from b.source (Split)
)

// Bio is one block IO: an op at a byte offset of a Device over a vector of
// page ranges (bio_vecs), with an iterator, a completion callback and a
// status. Get bios from BioSet.Alloc; never build one as a value.
//
// Building: a bio is filled (AddPage, AddIobref, SetSize, the exported
// fields) by one goroutine that holds it exclusively, then submitted. From
// Submit until its completion the device owns the bio: the submitter must
// not touch it. EndIO then runs once, on a device worker goroutine, and the
// bio belongs to whoever holds references again.
//
// Data ownership: AddPage and AddIobref take their own reference on the
// iobuf or iobref; the bio drops them when it is freed (its last Put), not
// at completion, so a completed read's data can be used until then. The
// caller keeps the references it had.
//
// References: Alloc returns a bio with one reference. Get adds one, Put
// drops one; the last Put frees the bio and its vec table. Ref counting is
// safe for concurrent use; everything else is not.
type Bio struct {
	// Op is the operation; the zero value is OpRead.
	Op Op
	// Flags modify Op (Preflush, FUA).
	Flags Flags
	// Offset is the byte offset on the device where the IO starts. Our
	// devices are files, so any offset is valid except on a Direct device,
	// which requires BlockSize alignment.
	Offset int64
	// EndIO, if set, is called once when the bio and every bio chained to
	// it have completed, with Status and Done set. It runs on a device
	// worker goroutine (or whichever goroutine completed the last chained
	// child) and must not block on the same device's queue: a Submit from
	// EndIO can deadlock when the queue is full.
	EndIO func(b *Bio)
	// Private is for the bio's owner; the package never reads it.
	Private any

	it      Iter
	vecs    []bvec // len is the vec count, cap the table size
	vecMem  []byte // slab or reserve object behind vecs
	kind    vecKind
	class   int8
	pages   []*iobuf.Iobuf  // references taken by AddPage
	iobrefs []*iobuf.Iobref // references taken by AddIobref
	set     *BioSet
	dev     *Device
	source  *Bio // for a split bio: the bio whose vecs it borrows
	parent  *Bio // set by Chain
	next    *Bio // plug and request lists (bi_next)
	waiter  *waiter
	done    int

	refs      atomic.Int32
	remaining atomic.Int32 // completions left before EndIO (__bi_remaining)

	statusMu sync.Mutex
	status   error

	inlineVecs  [InlineVecs]bvec
	inlinePages [InlineVecs]*iobuf.Iobuf
	inlineRefs  [1]*iobuf.Iobref
}

// Sector returns Offset in 512-byte sectors, the block layer's bi_sector.
func (b *Bio) Sector() int64 { return b.Offset / SectorSize }

// Size returns the bytes of data left to transfer (the iterator's Size):
// for a new bio the sum of its vecs, or what SetSize set.
func (b *Bio) Size() int { return b.it.Size }

// Iter returns the bio's iterator.
func (b *Bio) Iter() Iter { return b.it }

// NumVecs returns the number of vecs in the table (bi_vcnt), including
// those the iterator has moved past.
func (b *Bio) NumVecs() int { return len(b.vecs) }

// MaxVecs returns the size of the vec table: how many vecs the bio can
// hold before AddPage returns ErrBioFull.
func (b *Bio) MaxVecs() int { return cap(b.vecs) }

// Vec returns vec i of the table as added, ignoring the iterator. The slice
// points into the iobuf page and is valid until the bio is freed; its
// capacity ends with the vec.
func (b *Bio) Vec(i int) []byte {
	return b.vecs[i].bytes()
}

// Segments yields the data left to transfer, from the iterator's position
// on, one slice per vec (bio_for_each_segment). The slices are valid until
// the bio is freed.
func (b *Bio) Segments() iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		it := b.it
		for it.Size > 0 {
			v := b.vecs[it.Idx]
			n := min(int(v.len)-it.Done, it.Size)
			if !yield(v.bytes()[it.Done : it.Done+n]) {
				return
			}
			it.Size -= n
			it.Idx++
			it.Done = 0
		}
	}
}

// Done returns the bytes transferred by the completed IO. It is Size for a
// successful write, discard or write-zeroes, and for a read that did not
// reach end of file; a read that hit end of file completes with a nil
// Status and Done < Size (nothing past the end is zero-filled). After an
// error it counts the bytes that did transfer.
func (b *Bio) Done() int { return b.done }

// Status returns the bio's error once it has completed: nil, a
// syscall.Errno from the system call (EIO, ENOSPC, ...), or one of this
// package's errors (an *AlignError, ErrClosed, ErrInvalid). For a bio with
// chained children it is the first error among them and its own IO.
func (b *Bio) Status() error {
	b.statusMu.Lock()
	defer b.statusMu.Unlock()
	return b.status
}

// SetStatus records err as the bio's status unless one is already set: the
// first error wins, as bio_chain_endio keeps it. A nil err does nothing.
// Use it with Endio to fail a bio without submitting it.
func (b *Bio) SetStatus(err error) {
	if err == nil {
		return
	}
	b.statusMu.Lock()
	if b.status == nil {
		b.status = err
	}
	b.statusMu.Unlock()
}

// Device returns the device the bio was last submitted to, or nil.
func (b *Bio) Device() *Device { return b.dev }

// SetSize sets the length of a bio without data (discard, write-zeroes).
// It panics on a bio that has vecs, whose size is the sum of its vecs.
func (b *Bio) SetSize(n int) {
	if len(b.vecs) > 0 || n < 0 {
		panic(fmt.Sprintf("bio: SetSize(%d) on a bio with %d vecs; only data-less bios take a size", n, len(b.vecs)))
	}
	b.it = Iter{Size: n}
}

// AddPage appends buf.Bytes()[off:off+n] to the bio and takes a reference
// on buf, which the bio drops when it is freed; the caller keeps its own.
// A range that continues the previous vec in the same page extends it, as
// bio_add_page merges. n == 0 adds nothing.
//
// It returns ErrBioFull when the table is full, ErrClone on a split bio,
// and panics when the range is outside the page.
func (b *Bio) AddPage(buf *iobuf.Iobuf, off, n int) error {
	page := buf.Bytes()
	if off < 0 || n < 0 || off+n > len(page) {
		panic(fmt.Sprintf("bio: AddPage(off=%d, n=%d) outside a %d-byte iobuf", off, n, len(page)))
	}
	if b.kind == vecsClone {
		return ErrClone
	}
	if n == 0 {
		return nil
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(page)))
	if k := len(b.vecs); k > 0 {
		if v := &b.vecs[k-1]; v.addr == addr && int(v.off)+int(v.len) == off && int(v.len)+n <= 1<<32-1 {
			// Same page, so the bio already holds a reference on it.
			v.len += uint32(n)
			b.it.Size += n
			return nil
		}
	}
	if len(b.vecs) == cap(b.vecs) {
		return ErrBioFull
	}
	buf.Ref()
	b.pages = append(b.pages, buf)
	b.vecs = append(b.vecs, bvec{addr: addr, off: uint32(off), len: uint32(n)})
	b.it.Size += n
	return nil
}

// AddIobref appends every segment of r, in order, and takes one reference
// on r, which the bio drops when it is freed; the caller keeps its own. r
// must not change while the bio holds it (iobrefs are built, then shared
// read-only). It returns ErrBioFull, adding nothing, when r has more
// segments than the table has room for, and ErrClone on a split bio.
func (b *Bio) AddIobref(r *iobuf.Iobref) error {
	if b.kind == vecsClone {
		return ErrClone
	}
	if r.Len() > cap(b.vecs)-len(b.vecs) {
		return ErrBioFull
	}
	added := false
	for i := range r.Len() {
		buf, off, n := r.Entry(i)
		if n == 0 {
			continue
		}
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(buf.Bytes())))
		b.vecs = append(b.vecs, bvec{addr: addr, off: uint32(off), len: uint32(n)})
		b.it.Size += n
		added = true
	}
	if added {
		r.Ref()
		b.iobrefs = append(b.iobrefs, r)
	}
	return nil
}

// Advance moves the iterator n bytes forward, across vecs as needed, and
// Offset with it (bio_advance). It panics if n exceeds Size.
func (b *Bio) Advance(n int) {
	if n < 0 || n > b.it.Size {
		panic(fmt.Sprintf("bio: Advance(%d) with %d bytes left", n, b.it.Size))
	}
	b.Offset += int64(n)
	if len(b.vecs) == 0 {
		b.it.Size -= n
		return
	}
	advance(b.vecs, &b.it, n)
}

// advance is bvec_iter_advance; n ≤ it.Size.
func advance(vecs []bvec, it *Iter, n int) {
	it.Size -= n
	for n > 0 {
		left := int(vecs[it.Idx].len) - it.Done
		if n < left {
			it.Done += n
			return
		}
		n -= left
		it.Idx++
		it.Done = 0
	}
}

// segments counts the vecs the iterator's data spans, or returns -1 when
// Size runs past the table (a bio the device must refuse).
func (b *Bio) segments() int {
	it := b.it
	n := 0
	for it.Size > 0 {
		if it.Idx >= len(b.vecs) {
			return -1
		}
		it.Size -= min(int(b.vecs[it.Idx].len)-it.Done, it.Size)
		it.Idx++
		it.Done = 0
		n++
	}
	return n
}

// Get adds a reference, which the caller then owns and drops with Put. The
// caller must already hold one.
func (b *Bio) Get() {
	if b.refs.Add(1) <= 1 {
		panic("bio: Get on a freed bio")
	}
}

// Put drops a reference the caller owns; the last one drops the bio's
// references on its iobufs and iobrefs and returns the bio and its vec
// table to the set. A Put on a freed bio panics (when it can be detected:
// a freed bio may already be reused).
func (b *Bio) Put() {
	switch n := b.refs.Add(-1); {
	case n == 0:
		b.set.free(b)
	case n < 0:
		panic("bio: Put on a freed bio (reference released twice)")
	}
}

// Refs returns the reference count, a snapshot.
func (b *Bio) Refs() int { return int(b.refs.Load()) }
