package posix

import (
	"strings"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// resolveFlags keep every open inside the brick: no "..", no absolute
// paths, no symlink and no /proc magic link is followed while resolving.
// With single-component names this is belt and braces, and it is what
// makes a directory swapped for a symlink fail instead of escaping.
const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS

// handle is an O_PATH|O_DIRECTORY fd on one directory of the brick, kept in
// the directory inode's context slot (and the brick root's, in Posix.root).
// Entries of the directory are reached relative to it with *at system
// calls, so the directory's depth and its path length do not matter, and a
// rename of the directory (or of any ancestor) does not redirect it.
//
// A handle is reference counted because Forget may drop it while a fop is
// using it: the context holds one reference, every user takes one with
// acquire, and the fd is closed when the last is released.
type handle struct {
	fd   int
	refs atomic.Int32
}

func newHandle(fd int) *handle {
	h := &handle{fd: fd}
	h.refs.Store(1)
	return h
}

// acquire takes a reference unless the handle is already closed.
func (h *handle) acquire() bool {
	for {
		n := h.refs.Load()
		if n <= 0 {
			return false
		}
		if h.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// release drops a reference; the last one closes the fd.
func (h *handle) release() {
	if h.refs.Add(-1) == 0 {
		_ = unix.Close(h.fd)
	}
}

// closeNow closes the fd whatever the count (Fini: the graph is stopped).
func (h *handle) closeNow() {
	if h.refs.Swap(0) > 0 {
		_ = unix.Close(h.fd)
	}
}

// openBeneath opens name, a single component, relative to dirfd without
// following symlinks anywhere. mode is used only with O_CREAT.
func openBeneath(dirfd int, name string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Resolve: resolveFlags}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode & 0o7777)
	}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(dirfd, name, &how)
		// EAGAIN: a rename or mount raced the walk. EXDEV: the file was
		// found, then renamed out of dirfd's tree before the walk ended
		// (the kernel's final RESOLVE_BENEATH check; a store entry
		// moving to unlink/ while it is opened does it): look again,
		// and find what the name holds now.
		if (err == unix.EAGAIN || err == unix.EINTR || err == unix.EXDEV) && i < 16 {
			continue
		}
		return fd, err
	}
}

// checkName refuses names that are not a single path component.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return syscall.EINVAL
	case strings.IndexByte(name, '/') >= 0, strings.IndexByte(name, 0) >= 0:
		return syscall.EINVAL
	case len(name) > 255:
		return syscall.ENAMETOOLONG
	}
	return nil
}

// isRoot reports whether in is the volume root (nil counts as the root).
func isRoot(in *xlator.Inode) bool { return in == nil || in.GFID() == xlator.RootGFID }

// internal reports whether parent/name is the brick's private directory.
func internal(parent *xlator.Inode, name string) bool {
	return name == internalDir && isRoot(parent)
}

// entry checks an entry fop's name. An existing entry must not be the
// private directory (it does not exist for clients: ENOENT); a new one must
// not take its name (EPERM).
func entry(loc *xlator.Loc, creating bool) error {
	if loc.Parent == nil {
		return syscall.EINVAL
	}
	if err := checkName(loc.Name); err != nil {
		return err
	}
	if internal(loc.Parent, loc.Name) {
		if creating {
			return syscall.EPERM
		}
		return syscall.ENOENT
	}
	return nil
}

// dirHandle returns the directory handle of in with a reference the caller
// releases. A handle missing from the context (never opened, or lost) is
// re-resolved from the inode table's dentries, parent by parent up to the
// root; the directory found by name must then carry in's gfid, since the
// name may have been reused. When that fails (no dentry, nothing at the
// name, another gfid there) the directory is found by gfid in the store
// (byGfid).
func (p *Posix) dirHandle(in *xlator.Inode) (*handle, error) {
	if isRoot(in) {
		if !p.root.acquire() {
			return nil, syscall.EIO
		}
		return p.root, nil
	}
	if h, ok := in.Ctx(p).(*handle); ok && h.acquire() {
		return h, nil
	}
	if t := in.Type(); t != 0 && t != syscall.S_IFDIR {
		return nil, syscall.ENOTDIR
	}
	fd, err := p.dirByDentry(in)
	if err != nil {
		if fd, err = p.byGfid(in, err); err == nil {
			var st unix.Stat_t
			if err = unix.Fstat(fd, &st); err == nil && st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
				err = syscall.ENOTDIR
			}
			if err != nil {
				_ = unix.Close(fd)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return p.cacheHandle(in, fd), nil
}

// dirByDentry opens in's directory O_PATH by its first dentry, checked to
// carry in's gfid (ESTALE otherwise, and when in has no dentry).
func (p *Posix) dirByDentry(in *xlator.Inode) (int, error) {
	parent, name, ok := in.Dentry()
	if !ok {
		return -1, syscall.ESTALE
	}
	ph, err := p.dirHandle(parent)
	parent.Unref()
	if err != nil {
		return -1, err
	}
	fd, err := openBeneath(ph.fd, name, unix.O_PATH|unix.O_DIRECTORY, 0)
	ph.release()
	if err != nil {
		return -1, err
	}
	if g := in.GFID(); !g.IsZero() {
		if got, err := p.readGfid(fd); err != nil || got != g {
			_ = unix.Close(fd)
			return -1, syscall.ESTALE
		}
	}
	return fd, nil
}

// byGfid is the second way to an inode, after its dentry failed with err:
// an O_PATH fd on the file found by in's gfid in the store. The store's
// answer stands (ENOENT: it has no entry, the file is gone; ESTALE: its
// entry is stale and was not followed), except on a brick without a store
// or for an inode without a gfid, where err does.
func (p *Posix) byGfid(in *xlator.Inode, err error) (int, error) {
	switch err {
	case syscall.ENOENT, syscall.ESTALE, syscall.ENOTDIR, syscall.ELOOP:
	default:
		return -1, err
	}
	if in.GFID().IsZero() || p.store.fd < 0 {
		return -1, err
	}
	return p.store.resolveGfid(in.GFID())
}

// cacheHandle stores a new handle for fd in in's context, unless one is
// already there, and returns the one in use with a reference for the
// caller. in may be nil: the handle is then the caller's alone.
func (p *Posix) cacheHandle(in *xlator.Inode, fd int) *handle {
	h := newHandle(fd)
	if in == nil || isRoot(in) {
		return h
	}
	got := in.CtxOrSet(p, func() any { return h })
	if got == any(h) {
		p.trackHandle(h, true)
		h.acquire()
		return h
	}
	if g, ok := got.(*handle); ok && g.acquire() {
		h.release()
		return g
	}
	return h
}

// obj is an O_PATH (or opened) fd on the target of a fop: either borrowed
// from a directory handle (h set) or owned.
type obj struct {
	fd  int
	h   *handle
	dir bool
}

func (o obj) close() {
	if o.h != nil {
		o.h.release()
	} else if o.fd >= 0 {
		_ = unix.Close(o.fd)
	}
}

// resolve returns an O_PATH fd on loc's target: parent handle + name when
// the loc has a name, the directory handle when loc.Inode is a directory
// whose handle is cached, else the inode's first dentry (checked against
// its gfid) or its gfid in the store. The root is loc.Parent == nil with loc.Inode nil or the root.
func (p *Posix) resolve(loc *xlator.Loc) (obj, error) {
	in := loc.Inode
	if loc.Parent == nil && isRoot(in) {
		h, err := p.dirHandle(nil)
		return obj{fd: h.fdOr(), h: h, dir: true}, err
	}
	if in != nil && in.Type() == syscall.S_IFDIR {
		if h, ok := in.Ctx(p).(*handle); ok && h.acquire() {
			return obj{fd: h.fd, h: h, dir: true}, nil
		}
	}
	fd, err := p.openTarget(loc, unix.O_PATH, 0)
	return obj{fd: fd, h: nil}, err
}

func (h *handle) fdOr() int {
	if h == nil {
		return -1
	}
	return h.fd
}

// openTarget opens loc's target with flags (never following a symlink):
// by parent + name when loc has a name, else by the inode's first dentry,
// in which case the file opened must carry the inode's gfid, and when that
// fails by its gfid in the store (byGfid). A directory inode is reopened
// through "." beneath its handle.
func (p *Posix) openTarget(loc *xlator.Loc, flags int, mode uint32) (int, error) {
	if loc.Parent != nil {
		if err := entry(loc, false); err != nil {
			return -1, err
		}
		ph, err := p.dirHandle(loc.Parent)
		if err != nil {
			return -1, err
		}
		fd, err := openBeneath(ph.fd, loc.Name, flags, mode)
		ph.release()
		return fd, err
	}
	in := loc.Inode
	if isRoot(in) || in.Type() == syscall.S_IFDIR {
		h, err := p.dirHandle(in)
		if err != nil {
			return -1, err
		}
		fd, err := openBeneath(h.fd, ".", flags, mode)
		h.release()
		return fd, err
	}
	fd, err := p.openByDentry(in, flags, mode)
	if err == nil {
		return fd, nil
	}
	ofd, err := p.byGfid(in, err)
	if err != nil || flags == unix.O_PATH {
		return ofd, err
	}
	defer unix.Close(ofd)
	var st unix.Stat_t
	if err := unix.Fstat(ofd, &st); err != nil {
		return -1, err
	}
	switch {
	case st.Mode&syscall.S_IFMT == syscall.S_IFLNK:
		return -1, syscall.ELOOP // as openBeneath: posix never opens a symlink
	case flags&unix.O_DIRECTORY != 0 && st.Mode&syscall.S_IFMT != syscall.S_IFDIR:
		return -1, syscall.ENOTDIR
	}
	// The O_PATH fd was checked before anything is opened for real (a
	// stale entry may hold a fifo); /proc reopens exactly its inode.
	return unix.Open(procPath(ofd), flags|unix.O_CLOEXEC, mode)
}

// openByDentry opens in's file with flags by its first dentry, checked to
// carry in's gfid (ESTALE otherwise, and when in has no dentry).
func (p *Posix) openByDentry(in *xlator.Inode, flags int, mode uint32) (int, error) {
	parent, name, ok := in.Dentry()
	if !ok {
		return p.openTmp(in, flags) // an unnamed file (tmpfile.go), else ESTALE
	}
	ph, err := p.dirHandle(parent)
	parent.Unref()
	if err != nil {
		return -1, err
	}
	fd, err := openBeneath(ph.fd, name, flags, mode)
	ph.release()
	if err != nil {
		return -1, err
	}
	if g := in.GFID(); !g.IsZero() {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			_ = unix.Close(fd)
			return -1, err
		}
		if got, err := p.gfidOf(fd, &st, false); err != nil || got != g {
			_ = unix.Close(fd)
			return -1, syscall.ESTALE
		}
	}
	return fd, nil
}
