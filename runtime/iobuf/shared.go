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
// an unmapped arena's range gives its pages back (FALLOCATE_PUNCH_HOLE)
// and is reused by the next arena of the same size. When the reservation
// is used up, arenas come from anonymous memory again, as without Shared.

// DefaultSharedSize is the reservation of a shared pool when
// Config.SharedSize is zero: address space, not memory.
const DefaultSharedSize = 64 << 30

type sharedMem struct {
	file *os.File
	mem  []byte // the whole file, mapped shared

	mu     sync.Mutex
	next   int           // bump pointer into mem
	free   map[int][]int // released ranges by length
	arenas []sharedArena // live arenas by offset, for SharedRef
}

type sharedArena struct {
	off int
	a   *arena
}

func newSharedMem(size int64) (*sharedMem, error) {
	fd, err := unix.MemfdCreate("xstack-iobuf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("iobuf: shared memory: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "xstack-iobuf")
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, fmt.Errorf("iobuf: shared memory: reserve %d bytes: %w", size, err)
	}
	mem, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("iobuf: shared memory: mmap %d bytes: %w", size, err)
	}
	return &sharedMem{file: f, mem: mem, free: map[int][]int{}}, nil
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

// register records a's range for lookups.
func (s *sharedMem) register(a *arena) {
	off, _ := s.offset(a.mem)
	s.mu.Lock()
	i, _ := slices.BinarySearchFunc(s.arenas, off, func(e sharedArena, t int) int { return e.off - t })
	s.arenas = slices.Insert(s.arenas, i, sharedArena{off: off, a: a})
	s.mu.Unlock()
}

// release gives mem's pages back to the kernel and its range to the free
// list.
func (s *sharedMem) release(mem []byte) error {
	off, _ := s.offset(mem)
	if err := unix.Fallocate(int(s.file.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(off), int64(len(mem))); err != nil {
		return err
	}
	s.mu.Lock()
	if i, ok := slices.BinarySearchFunc(s.arenas, off, func(e sharedArena, t int) int { return e.off - t }); ok {
		s.arenas = slices.Delete(s.arenas, i, i+1)
	}
	s.free[len(mem)] = append(s.free[len(mem)], off)
	s.mu.Unlock()
	return nil
}

// find returns the arena holding file offset off, or nil.
func (s *sharedMem) find(off int) *arena {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := slices.BinarySearchFunc(s.arenas, off, func(e sharedArena, t int) int { return e.off - t })
	if !ok {
		i--
	}
	if i < 0 {
		return nil
	}
	e := s.arenas[i]
	if off >= e.off+len(e.a.mem) {
		return nil
	}
	return e.a
}

func (s *sharedMem) close() error {
	if err := unix.Munmap(s.mem); err != nil {
		return err
	}
	return s.file.Close()
}

// SharedFile returns the memfd the pool's arenas live in and its size, for
// another process to map (read its pages in place at the offsets
// SharedOffset gives), or nil when the pool was not configured Shared.
// The file stays the pool's: the caller may pass it to a child process
// but must not close it.
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
// SharedFile, holding a new reference on the pool iobuf they lie in. It
// fails when they do not lie in one live iobuf. The caller must know that
// iobuf to be referenced for the duration of the call (a caller up the
// stack holds it): SharedRef is how data that went to another process
// and came back as an offset finds its iobuf again.
func (p *Pool) SharedRef(off int64, n int) (*Iobref, bool) {
	s := p.shared
	if s == nil || off < 0 || n <= 0 || off+int64(n) > int64(len(s.mem)) {
		return nil, false
	}
	a := s.find(int(off))
	if a == nil {
		return nil, false
	}
	rel := int(off) - int(uintptr(unsafe.Pointer(unsafe.SliceData(a.mem)))-uintptr(unsafe.Pointer(unsafe.SliceData(s.mem))))
	ps := len(a.bufs[0].data)
	if ps == 0 {
		return nil, false
	}
	i, in := rel/ps, rel%ps
	if i >= len(a.bufs) || in+n > ps {
		return nil, false
	}
	b := &a.bufs[i]
	if b.Refs() <= 0 {
		return nil, false
	}
	b.Ref()
	ref := p.NewIobref()
	ref.AddRange(b, in, n)
	b.Unref()
	return ref, true
}
