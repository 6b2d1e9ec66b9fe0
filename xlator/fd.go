package xlator

import (
	"sync"
	"sync/atomic"
)

// FD is an open file or directory (GlusterFS's fd_t): made by a front end
// for an Open, Create or Opendir, carried by every fop on the open file, and
// released when its last reference is dropped. Each translator keeps its
// own state on the fd in a context slot indexed by its graph position
// (Ctx, SetCtx); the graph calls every translator's Release (or
// Releasedir) once, when the fd goes away, so it can drop that state.
// Fds come from the graph's pool "<top>:fd_t" and go back to it after the
// last Unref.
type FD struct {
	// Inode is the open file's inode; the fd holds a reference on it.
	Inode *Inode
	// Flags are the open flags (O_RDONLY, O_APPEND, O_DIRECT …).
	Flags uint32
	// Pid is the process that opened the file.
	Pid uint32

	graph *Graph
	dir   bool
	refs  atomic.Int32
	ctxMu sync.Mutex
	ctx   []any
}

// IsDir reports whether fd is a directory fd (from Opendir).
func (fd *FD) IsDir() bool { return fd.dir }

// Ctx returns translator x's context on the fd, or nil.
func (fd *FD) Ctx(x Xlator) any {
	i := x.base().index
	fd.ctxMu.Lock()
	defer fd.ctxMu.Unlock()
	if i < len(fd.ctx) {
		return fd.ctx[i]
	}
	return nil
}

// SetCtx sets translator x's context on the fd.
func (fd *FD) SetCtx(x Xlator, v any) {
	i := x.base().index
	fd.ctxMu.Lock()
	defer fd.ctxMu.Unlock()
	if i < len(fd.ctx) {
		fd.ctx[i] = v
	}
}

// DelCtx clears x's context and returns what it was.
func (fd *FD) DelCtx(x Xlator) any {
	i := x.base().index
	fd.ctxMu.Lock()
	defer fd.ctxMu.Unlock()
	if i >= len(fd.ctx) {
		return nil
	}
	v := fd.ctx[i]
	fd.ctx[i] = nil
	return v
}

// Ref takes a reference on the fd.
func (fd *FD) Ref() *FD {
	fd.refs.Add(1)
	return fd
}

// Unref drops a reference; the last one releases the fd in every
// translator, drops the fd's reference on its inode and gives the fd back
// to the graph's fd pool: no one may use it after that.
func (fd *FD) Unref() {
	n := fd.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		fd.refs.Store(0)
		if fd.graph != nil {
			fd.graph.fdErrors.Add(1)
		}
		return
	}
	g := fd.graph
	if g != nil {
		g.releaseFD(fd)
	}
	if fd.Inode != nil {
		fd.Inode.Unref()
	}
	if g != nil && g.fdPool != nil {
		g.recycleFD(fd)
	}
}

// Refs returns the current reference count.
func (fd *FD) Refs() int { return int(fd.refs.Load()) }
