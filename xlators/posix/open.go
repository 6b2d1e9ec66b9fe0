package posix

import (
	"sync"
	"sync/atomic"
	"syscall"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/bio"
	"github.com/xstack/xstack/xlator"
)

// fileCtx is the posix state of an open file, kept in the fd's context
// slot and pooled (the "fd-ctx" pool): the OS fd and, with O_DIRECT, a
// buffered fd for requests that are not aligned, opened on first need.
type fileCtx struct {
	fd     int
	direct bool        // fd is O_DIRECT
	gfid   xlator.GFID // pinned in the gfid store (store.pin) until Release

	// The alignment O_DIRECT IO needs on this file (direct only):
	// buffer addresses, and offsets and lengths.
	memAlign, offAlign int

	mu  sync.Mutex
	bfd int         // buffered fd for unaligned requests (O_DIRECT only); -1 until opened
	dev *bio.Device // the file's bio device (data-path = bio), made on first IO

	// With read-ahead on: the brick file, registered on the first data
	// fop, and the fd's read-ahead stream (readahead.go).
	raf atomic.Pointer[raFile]
	ra  raStream

	tmp *tmpFile // the inode's way to an unnamed file, held while open (tmpfile.go)
}

// openFlags are the client flags posix passes to open(2); O_CREAT, O_EXCL
// and O_TRUNC are handled by the fops themselves, O_NOFOLLOW and O_CLOEXEC
// are always added.
const openFlags = unix.O_ACCMODE | unix.O_APPEND | unix.O_DIRECT | unix.O_SYNC | unix.O_DSYNC |
	unix.O_NOATIME | unix.O_LARGEFILE | unix.O_NONBLOCK

func (p *Posix) osFlags(flags uint32) int {
	f := int(flags) & openFlags
	if p.odirect {
		f |= unix.O_DIRECT
	}
	return f
}

// attach stores a new fileCtx for osfd in fd's context; g is the file's
// gfid, already pinned in the store, unpinned at Release.
func (p *Posix) attach(fd *xlator.FD, osfd, flags int, g xlator.GFID) {
	fc := p.fdPool.Get()
	fc.fd, fc.bfd, fc.direct, fc.gfid = osfd, -1, flags&unix.O_DIRECT != 0, g
	fc.memAlign, fc.offAlign = dioAlign, dioAlign
	fc.ra.reset()
	if fc.direct {
		fc.memAlign, fc.offAlign = dioAlignment(osfd)
	}
	fc.tmp = p.holdTmp(fd.Inode)
	fd.SetCtx(p, fc)
	p.openFiles.Add(1)
}

// file returns the fileCtx of an open fd (EBADF if posix never opened it).
func (p *Posix) file(fd *xlator.FD) (*fileCtx, error) {
	if err := p.up(); err != nil {
		return nil, err
	}
	fc, ok := fd.Ctx(p).(*fileCtx)
	if !ok || fc == nil {
		return nil, syscall.EBADF
	}
	return fc, nil
}

// writableFile is file for the fops that change the file's data.
func (p *Posix) writableFile(fd *xlator.FD) (*fileCtx, error) {
	if err := p.writable(); err != nil {
		return nil, err
	}
	return p.file(fd)
}

// buffered returns the fd that serves unaligned requests: the O_DIRECT fd
// reopened, through its /proc path (the same inode, no name resolved in
// the brick), without O_DIRECT.
func (fc *fileCtx) buffered() (int, error) {
	if !fc.direct {
		return fc.fd, nil
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.bfd >= 0 {
		return fc.bfd, nil
	}
	fl, err := unix.FcntlInt(uintptr(fc.fd), unix.F_GETFL, 0)
	if err != nil {
		return -1, err
	}
	fl &^= unix.O_DIRECT | unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_NOFOLLOW
	bfd, err := unix.Open(procPath(fc.fd), fl|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	fc.bfd = bfd
	return bfd, nil
}

// Create creates and opens a regular file with mode &^ umask exactly,
// owned by the caller, and a new gfid. Without O_EXCL an existing file is
// opened instead (truncated with O_TRUNC), as open(2) does; a symlink in
// the way gives ELOOP (posix never follows one).
func (p *Posix) Create(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	var pst unix.Stat_t
	ph, err := p.newEntry(loc, &pst)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer ph.release()
	want := mode & 0o7777 &^ umask
	of := p.osFlags(flags)
	for try := 0; ; try++ {
		osfd, err := openBeneath(ph.fd, loc.Name, of|unix.O_CREAT|unix.O_EXCL, want)
		if err == nil {
			ia, err := p.finishNew(c, loc, &pst, osfd, false, syscall.S_IFREG, want)
			if err != nil {
				_ = unix.Close(osfd)
				return xlator.Iatt{}, err
			}
			p.store.fileMade(osfd, &ia)
			p.store.pin(ia.Gfid)
			p.attach(fd, osfd, of, ia.Gfid)
			return ia, nil
		}
		if err != syscall.EEXIST || flags&unix.O_EXCL != 0 {
			return xlator.Iatt{}, err
		}
		if flags&unix.O_TRUNC != 0 {
			defer p.space.freed()
		}
		osfd, err = openBeneath(ph.fd, loc.Name, of|int(flags)&unix.O_TRUNC, 0)
		if err == syscall.ENOENT && try < 8 {
			continue // removed between the two opens
		}
		if err != nil {
			return xlator.Iatt{}, err
		}
		if flags&unix.O_TRUNC != 0 {
			p.ra.changedFd(osfd)
		}
		ia, err := p.statFd(osfd, false)
		if err != nil {
			_ = unix.Close(osfd)
			return xlator.Iatt{}, err
		}
		p.store.found(osfd, &ia, xlator.GFID{}, "")
		p.store.pin(ia.Gfid)
		p.attach(fd, osfd, of, ia.Gfid)
		return ia, nil
	}
}

// Open opens loc's target into fd. O_TRUNC is applied only after the file
// is known to be the right one (its gfid checked when found by dentry).
func (p *Posix) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	check := p.up
	if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0 {
		check = p.writable
	}
	if err := check(); err != nil {
		return err
	}
	of := p.osFlags(flags)
	// Pinned before the open, when openTarget will check the file carries
	// it: an unlink racing the open then keeps the file's gfid store entry
	// (in unlink/) for this fd. A file opened by name is pinned by the gfid
	// read from it.
	var g xlator.GFID
	if loc.Parent == nil && loc.Inode != nil {
		g = loc.Inode.GFID()
	}
	p.store.pin(g)
	osfd, err := p.openTarget(loc, of, 0)
	if err != nil {
		p.store.unpin(g)
		return err
	}
	if g.IsZero() {
		if rg, err := p.readGfid(osfd); err == nil {
			g = rg
			p.store.pin(g)
		}
	}
	if flags&unix.O_TRUNC != 0 && flags&unix.O_ACCMODE != unix.O_RDONLY {
		p.space.freed()
		err := unix.Ftruncate(osfd, 0)
		p.ra.changedFd(osfd)
		if err != nil {
			_ = unix.Close(osfd)
			p.store.unpin(g)
			return err
		}
	}
	p.attach(fd, osfd, of, g)
	return nil
}

// Release closes the OS fds of a file fd and returns its context to the
// pool.
func (p *Posix) Release(fd *xlator.FD) {
	fc, ok := fd.DelCtx(p).(*fileCtx)
	if !ok || fc == nil {
		return
	}
	p.ra.release(fc) // before the device closes: it waits for read-ahead in flight
	if fc.dev != nil {
		if err := p.data.(*bioPath).retire(fc.dev); err != nil { // waits for IO in flight before the fd goes
			p.Logger().Error("release: closing the file's bio device failed", zap.String("path", fd.Inode.Path()), zap.Error(err))
		}
		fc.dev = nil
	}
	// Nobody is left to tell of a failed close (a write-back error the
	// file system reports only now): the log is the last place.
	if err := unix.Close(fc.fd); err != nil {
		p.Logger().Error("release: close failed; data written through this fd may be lost", zap.String("path", fd.Inode.Path()), zap.Error(err))
		p.closeErrors.Add(1)
	}
	if fc.bfd >= 0 {
		if err := unix.Close(fc.bfd); err != nil {
			p.Logger().Error("release: close of the buffered fd failed; data written through it may be lost", zap.String("path", fd.Inode.Path()), zap.Error(err))
			p.closeErrors.Add(1)
		}
	}
	if fc.tmp != nil {
		fc.tmp.drop() // after the close: the file goes with the last of both
		fc.tmp = nil
	}
	fc.fd, fc.bfd = -1, -1
	p.store.unpin(fc.gfid)
	fc.gfid = xlator.GFID{}
	_ = p.fdPool.Put(fc)
	p.openFiles.Add(-1)
}

// Flush does nothing: posix keeps no per-fd state that a close(2) must
// settle (no locks yet).
func (p *Posix) Flush(c *xlator.Call, fd *xlator.FD) error {
	_, err := p.file(fd)
	return err
}

// Fsync makes the file durable as the fsync option says: normal = fsync
// (fdatasync when datasync), data = always fdatasync, none = nothing.
func (p *Posix) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	fc, err := p.file(fd)
	if err != nil {
		return err
	}
	if bp, ok := p.data.(*bioPath); ok && p.fsync != fsyncNone && (datasync || p.fsync == fsyncData) {
		return bp.rangeOp(fc, bio.OpFlush, 0, 0)
	}
	return p.sync(fc.fd, datasync)
}

func (p *Posix) sync(fd int, datasync bool) error {
	switch {
	case p.fsync == fsyncNone:
		return nil
	case datasync || p.fsync == fsyncData:
		return unix.Fdatasync(fd)
	default:
		return unix.Fsync(fd)
	}
}

// Fstat returns the attributes of an open file or directory.
func (p *Posix) Fstat(c *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	if fd.IsDir() {
		dc, err := p.dirOf(fd)
		if err != nil {
			return xlator.Iatt{}, err
		}
		return p.statFd(dc.fd, isRoot(fd.Inode))
	}
	fc, err := p.file(fd)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return p.statFd(fc.fd, false)
}

// Fsetattr is Setattr through an open file.
func (p *Posix) Fsetattr(c *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	if err := p.writable(); err != nil {
		return xlator.Iatt{}, err
	}
	var osfd int
	if fd.IsDir() {
		dc, err := p.dirOf(fd)
		if err != nil {
			return xlator.Iatt{}, err
		}
		osfd = dc.fd
	} else {
		fc, err := p.file(fd)
		if err != nil {
			return xlator.Iatt{}, err
		}
		osfd = fc.fd
		if in.Valid&xlator.SetSize != 0 {
			defer p.ra.changed(fc)
		}
	}
	if err := p.setattr(osfd, false, in); err != nil {
		return xlator.Iatt{}, err
	}
	return p.statFd(osfd, isRoot(fd.Inode))
}
