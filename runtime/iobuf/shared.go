package iobuf

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Shared memory: with Config.Shared the pool's arenas are carved out of
// one memfd instead of anonymous mappings, so that another process (an
// out-of-process translator) can map the same file and read the pool's
// pages in place: data a caller wrote into a pool iobuf reaches the other
// process without a copy. The file is reserved at its full size up front
// (a sparse file: only the pages arenas use take memory) and mapped once;
// an unmapped arena's range is reused by the next arena of the same size.
// When the reservation is used up, arenas come from anonymous memory
// again, as without Shared.
//
// The other process may be hostile, so the file is sealed before anyone
// else sees it: its size is fixed (F_SEAL_SHRINK, F_SEAL_GROW: nothing
// can truncate it under the pool's mapping, which would make the pool's
// next touch of a page a SIGBUS), nothing can write it except through the
// pool's own mapping made before the seal (F_SEAL_FUTURE_WRITE: no
// write(2), no new writable shared mapping, no mprotect to writable, by
// any descriptor, a descriptor reopened read-write through
// /proc/self/fd included), and no seal can be added or removed
// (F_SEAL_SEAL). SharedFile hands out a descriptor opened read-only on
// top. The pool keeps no writable descriptor at all.
//
// The price of the write seal: the kernel refuses to punch holes in the
// file too, so an unmapped arena's pages stay allocated, kept for the
// next arena of the same size, instead of going back to the kernel (the
// shared memory a pool holds is its high-water mark;
// Stats.SharedIdleBytes counts the part no arena uses now). A process
// holding the file can also make it allocate pages of its own, up to the
// reservation (fallocate through a reopened descriptor, a write fault on a
// private mapping); Stats.SharedFileBytes reports what the file holds, so
// that shows.

// DefaultSharedSize is the reservation of a shared pool when
// Config.SharedSize is zero: address space, not memory.
const DefaultSharedSize = 64 << 30

// sharedSeals are the seals of a shared pool's file.
const sharedSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_SEAL

type sharedMem struct {
	file *os.File // read-only: what SharedFile hands out
	mem  []byte   // the whole file, mapped shared and writable

	mu     sync.Mutex
	next   int           // bump pointer into mem
	free   map[int][]int // released ranges by length
	idle   int64         // bytes in free
	arenas []sharedArena // live arenas by offset, for SharedRef
}

// sharedArena is a live arena of the file, with its geometry copied out
// so that SharedRef reads nothing the arena's unmapping writes.
type sharedArena struct {
	off, n   int // its range of the file
	pageSize int
	a        *arena
}

func newSharedMem(size int64) (*sharedMem, error) {
	fd, err := unix.MemfdCreate("xstack-iobuf", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("iobuf: shared memory: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "xstack-iobuf")
	defer f.Close() // the pool keeps the read-only descriptor only
	if err := f.Truncate(size); err != nil {
		return nil, fmt.Errorf("iobuf: shared memory: reserve %d bytes: %w", size, err)
	}
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("iobuf: shared memory: mmap %d bytes: %w", size, err)
	}
	// The mapping above is the last writable one there will ever be.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, sharedSeals); err != nil {
		_ = unix.Munmap(mem)
		return nil, fmt.Errorf("iobuf: shared memory: seal: %w", err)
	}
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = unix.Munmap(mem)
		return nil, fmt.Errorf("iobuf: shared memory: open a read-only descriptor (is /proc mounted?): %w", err)
	}
	return &sharedMem{file: os.NewFile(uintptr(ro), "xstack-iobuf"), mem: mem, free: map[int][]int{}}, nil
}

// alloc returns n bytes (a multiple of the OS page) of the file, or nil
// when the reservation is used up.
func (s *sharedMem) alloc(n int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	off := -1
	if l := s.free[n]; len(l) > 0 {
		off = l[len(l)-1]
		s.free[n] = l[:len(l)-1]
		s.idle -= int64(n)
	} else if s.next+n <= len(s.mem) {
		off = s.next
		s.next += n
	}
	if off < 0 {
		return nil
	}
	return s.mem[off : off+n : off+n]
}

// offset returns where p starts in the file, or false when it is not in
// it.
func (s *sharedMem) offset(p []byte) (int, bool) {
	if s == nil || len(p) == 0 {
		return 0, false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s.mem)))
	a := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	if a < base || a+uintptr(len(p)) > base+uintptr(len(s.mem)) {
		return 0, false
	}
	return int(a - base), true
}

// contains reports whether mem lies in the shared file.
func (s *sharedMem) contains(mem []byte) bool {
	_, ok := s.offset(mem)
	return ok
}

// register records a's range for lookups; pageSize is its class's.
func (s *sharedMem) register(a *arena, pageSize int) {
	off, _ := s.offset(a.mem)
	s.mu.Lock()
	i, _ := slices.BinarySearchFunc(s.arenas, off, cmpArena)
	s.arenas = slices.Insert(s.arenas, i, sharedArena{off: off, n: len(a.mem), pageSize: pageSize, a: a})
	s.mu.Unlock()
}

func cmpArena(e sharedArena, off int) int { return e.off - off }

// release takes mem's arena out of the lookups and puts its range on the
// free list. The pages stay allocated: the seal forbids punching holes.
func (s *sharedMem) release(mem []byte) error {
	off, _ := s.offset(mem)
	s.mu.Lock()
	if i, ok := slices.BinarySearchFunc(s.arenas, off, cmpArena); ok {
		s.arenas = slices.Delete(s.arenas, i, i+1)
	}
	s.free[len(mem)] = append(s.free[len(mem)], off)
	s.idle += int64(len(mem))
	s.mu.Unlock()
	return nil
}

// ref returns the iobuf of a live arena holding the n bytes at file
// offset off, and where they start in it, with a new reference; nil when
// they do not lie in one page of a live arena or the page is free. The
// lookup and the reference are taken under s.mu, which release takes
// before an arena is unmapped: a page found here is mapped, and one whose
// count is 0 (free, or being freed) is never taken back to life.
func (s *sharedMem) ref(off, n int) (*Iobuf, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := slices.BinarySearchFunc(s.arenas, off, cmpArena)
	if !ok {
		i--
	}
	if i < 0 {
		return nil, 0
	}
	e := s.arenas[i]
	rel := off - e.off
	if rel >= e.n || e.pageSize <= 0 {
		return nil, 0
	}
	k, in := rel/e.pageSize, rel%e.pageSize
	if k >= len(e.a.bufs) || n > e.pageSize-in {
		return nil, 0
	}
	b := &e.a.bufs[k]
	if !b.tryRef() {
		return nil, 0
	}
	return b, in
}

// usage returns the bytes the file holds in memory (whoever made it
// allocate them) and the bytes of its free ranges.
func (s *sharedMem) usage() (file, idle int64) {
	var st unix.Stat_t
	if unix.Fstat(int(s.file.Fd()), &st) == nil {
		file = st.Blocks * 512
	}
	s.mu.Lock()
	idle = s.idle
	s.mu.Unlock()
	return file, idle
}

func (s *sharedMem) close() error {
	if err := unix.Munmap(s.mem); err != nil {
		return err
	}
	return s.file.Close()
}

// SharedFile returns a read-only descriptor of the memfd the pool's arenas
// live in and its size, for another process to map (read its pages in
// place at the offsets SharedOffset gives), or nil when the pool was not
// configured Shared. The file is sealed: whatever a process holding it
// does, it cannot change its size or its contents, nor make the pool's
// mapping fault (see the seals above); it can read every page of the
// pool. The descriptor stays the pool's: the caller may pass it to a
// child process but must not close it.
func (p *Pool) SharedFile() (*os.File, int64) {
	if p.shared == nil {
		return nil, 0
	}
	return p.shared.file, int64(len(p.shared.mem))
}

// SharedOffset returns the offset in SharedFile of mem's first byte when
// all of mem lies in the pool's shared memory (a segment of a pool iobuf
// of a Shared pool).
func (p *Pool) SharedOffset(mem []byte) (int64, bool) {
	off, ok := p.shared.offset(mem)
	return int64(off), ok
}

// SharedRef returns an iobref over the n bytes at offset off of
// SharedFile, holding a new reference on the pool iobuf they lie in:
// SharedRef is how data that went to another process and came back as an
// offset finds its iobuf again. It fails, for any off and n, when they do
// not lie in one page of a mapped arena or that page is free; it never
// touches an unmapped arena and never takes a free page back. The caller
// must still know the iobuf to be held for the duration of the call (a
// caller up the stack holds it, as for Ref): a page held by one holder
// alone may be freed by that holder's Unref at the very moment SharedRef
// takes its reference, and the offsets of a page handed out again name
// its new holder's data.
func (p *Pool) SharedRef(off int64, n int) (*Iobref, bool) {
	s := p.shared
	if s == nil || off < 0 || n <= 0 || off > int64(len(s.mem))-int64(n) {
		return nil, false
	}
	b, in := s.ref(int(off), n)
	if b == nil {
		return nil, false
	}
	ref := p.NewIobref()
	ref.AddRange(b, in, n)
	b.Unref()
	return ref, true
}
