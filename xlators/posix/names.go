package posix

import (
	"strconv"
	"unsafe"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/slab"
)

// The xattr system calls take a NUL-terminated path and name; x/sys's
// wrappers copy both to the Go heap on every call, two small allocations
// per fop that reads a gfid (every lookup, stat and fstat). Like the
// kernel's names_cache, which getname fills for every path a system call
// takes, the brick keeps a slab cache "<volume>:names" of objects that
// hold both strings of one call: the /proc path of the fd and the
// attribute name (at most XATTR_NAME_MAX bytes). The object is freed when
// the call returns; the memory is mmap'd, so it holds bytes only and never
// moves while the kernel reads it.

const (
	procPathMax  = 32  // "/proc/self/fd/" + a decimal int + NUL
	xattrNameMax = 255 // XATTR_NAME_MAX
	namesSize    = procPathMax + xattrNameMax + 1
)

// newNames creates the brick's names cache.
func (p *Posix) newNames() error {
	c, err := p.Env().Slabs.NewCache(p.Name()+":names", slab.Config{Size: namesSize})
	if err != nil {
		return err
	}
	p.names = c
	return nil
}

// closeNames closes the names cache, if there is one.
func (p *Posix) closeNames() {
	if p.names == nil {
		return
	}
	if err := p.names.Close(); err != nil {
		p.Logger().Warn("names cache still in use at Fini", zap.Error(err))
	}
	p.names = nil
}

// cstrings returns a names object holding fd's /proc path at offset 0
// and name at procPathMax, both NUL-terminated, or nil when the brick has
// no names cache, the cache cannot grow or the name is too long for it
// (the caller then lets x/sys copy the strings, and the kernel refuses an
// overlong name).
func (p *Posix) cstrings(fd int, name string) []byte {
	if p.names == nil || len(name) > xattrNameMax {
		return nil
	}
	obj, err := p.names.Alloc()
	if err != nil {
		return nil
	}
	n := copy(obj, "/proc/self/fd/")
	n += len(strconv.AppendInt(obj[n:n], int64(fd), 10))
	obj[n] = 0
	n = procPathMax + copy(obj[procPathMax:], name)
	obj[n] = 0
	return obj
}

// ptr returns the address of b's first byte, or nil for an empty b.
func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// getxattr is unix.Getxattr on fd's /proc path, with the strings in the
// names cache.
func (p *Posix) getxattr(fd int, name string, dest []byte) (int, error) {
	obj := p.cstrings(fd, name)
	if obj == nil {
		return unix.Getxattr(procPath(fd), name, dest)
	}
	d := ptr(dest)
	n, _, e := unix.Syscall6(unix.SYS_GETXATTR, uintptr(unsafe.Pointer(&obj[0])), uintptr(unsafe.Pointer(&obj[procPathMax])),
		uintptr(d), uintptr(len(dest)), 0, 0)
	p.freeNames(obj)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// setxattr is unix.Setxattr on fd's /proc path, with the strings in the
// names cache.
func (p *Posix) setxattr(fd int, name string, value []byte, flags int) error {
	obj := p.cstrings(fd, name)
	if obj == nil {
		return unix.Setxattr(procPath(fd), name, value, flags)
	}
	v := ptr(value)
	_, _, e := unix.Syscall6(unix.SYS_SETXATTR, uintptr(unsafe.Pointer(&obj[0])), uintptr(unsafe.Pointer(&obj[procPathMax])),
		uintptr(v), uintptr(len(value)), uintptr(flags), 0)
	p.freeNames(obj)
	if e != 0 {
		return e
	}
	return nil
}

// freeNames returns an object cstrings gave out. Free fails only on a
// programming error (a slice not from the cache, a double free).
func (p *Posix) freeNames(obj []byte) {
	if err := p.names.Free(obj); err != nil {
		panic(err)
	}
}
