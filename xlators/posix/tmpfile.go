package posix

import (
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// Unnamed files. Tmpfile opens an O_TMPFILE file in the brick directory
// of loc.Parent: the brick's file system keeps it, with no name, until
// its last fd is closed. Posix reaches files by parent handle and name,
// and this one has neither, so it keeps a way to it on the inode: a
// tmpFile in the inode's context slot holds an O_PATH fd on the file for
// as long as any posix fd of the inode is open (each fileCtx holds a
// reference, taken in attach). Through it:
//
//   - Link of the inode (from.Parent nil) links the file by its /proc
//     path with AT_SYMLINK_FOLLOW, which is linkat(2) of the fd with
//     AT_EMPTY_PATH without CAP_DAC_READ_SEARCH. The kernel refuses a file
//     opened O_EXCL (ENOENT), so posix need not remember that.
//   - A fop that reaches the inode by its dentry (openTarget: stat,
//     setattr, xattrs, open) and finds none opens the file through the
//     /proc path instead of answering ESTALE.
//
// The O_PATH fd is closed with the last posix fd of the inode, so an
// unnamed file that was never linked is gone from the brick when its last
// fd is released, as with open(2) (TestTmpfileVanishes). Forget drops the
// record with the inode's context.

// tmpFile is posix's way to an inode's file that may have no name.
type tmpFile struct {
	mu   sync.Mutex
	fd   int // O_PATH fd on the file; -1 once the last posix fd closed
	refs int // fileCtxs holding the record
}

// Tmpfile creates an unnamed regular file in loc.Parent's directory with
// O_TMPFILE (O_EXCL passed on: such a file can never be linked), owned by
// the caller with mode &^ umask exactly and the gfid loc.GfidReq or a new
// one, as Create gives a file. A brick file system without O_TMPFILE
// answers EOPNOTSUPP, as open(2) does.
func (p *Posix) Tmpfile(c *xlator.Call, loc *xlator.Loc, flags uint32, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	if err := p.writable(); err != nil {
		return xlator.Iatt{}, err
	}
	if err := p.space.check(); err != nil {
		return xlator.Iatt{}, err
	}
	ph, err := p.dirHandle(loc.Parent)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer ph.release()
	var pst unix.Stat_t
	if err := unix.Fstat(ph.fd, &pst); err != nil {
		return xlator.Iatt{}, err
	}
	want := mode & 0o7777 &^ umask
	of := p.osFlags(flags)
	how := unix.OpenHow{Flags: uint64(of | int(flags)&unix.O_EXCL | unix.O_TMPFILE | unix.O_CLOEXEC), Mode: uint64(want), Resolve: resolveFlags}
	osfd, err := unix.Openat2(ph.fd, ".", &how)
	if err != nil {
		if err == syscall.EISDIR { // a kernel that does not know O_TMPFILE opens the directory
			err = syscall.EOPNOTSUPP
		}
		return xlator.Iatt{}, err
	}
	ia, err := p.finishNew(c, loc, &pst, osfd, false, syscall.S_IFREG, want)
	if err != nil {
		_ = unix.Close(osfd)
		return xlator.Iatt{}, err
	}
	path, err := unix.Open(procPath(osfd), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		_ = unix.Close(osfd)
		return xlator.Iatt{}, err
	}
	fd.Inode.SetCtx(p, &tmpFile{fd: path})
	p.store.pin(ia.Gfid)            // once named, unlinked while open: kept in unlink/
	p.attach(fd, osfd, of, ia.Gfid) // takes the record's first reference
	return ia, nil
}

// holdTmp returns in's tmpFile with a reference for a new fileCtx, or nil
// when in has none or its file's last fd is already closed.
func (p *Posix) holdTmp(in *xlator.Inode) *tmpFile {
	t, ok := in.Ctx(p).(*tmpFile)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return nil
	}
	t.refs++
	return t
}

// drop releases a fileCtx's reference; the last closes the O_PATH fd, and
// with it the file if it has no name.
func (t *tmpFile) drop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refs--; t.refs == 0 && t.fd >= 0 {
		_ = unix.Close(t.fd)
		t.fd = -1
	}
}

// with runs fn on the record's O_PATH fd while it is open; ESTALE
// otherwise (the file's fds are all closed: an unnamed file is gone).
func (t *tmpFile) with(fn func(fd int) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return syscall.ESTALE
	}
	return fn(t.fd)
}

// tmpOf returns the record of a loc that names a file by its inode alone,
// while the record's fd is open, or nil (the file, if it still exists,
// then has a name to be reached by).
func (p *Posix) tmpOf(loc *xlator.Loc) *tmpFile {
	if loc.Parent != nil || loc.Inode == nil {
		return nil
	}
	t, ok := loc.Inode.Ctx(p).(*tmpFile)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fd < 0 {
		return nil
	}
	return t
}

// openTmp opens in's file through its record, for an inode the table
// knows no name of; ESTALE if it has no record.
func (p *Posix) openTmp(in *xlator.Inode, flags int) (int, error) {
	t, ok := in.Ctx(p).(*tmpFile)
	if !ok {
		return -1, syscall.ESTALE
	}
	fd := -1
	err := t.with(func(pfd int) error {
		var err error
		// No O_NOFOLLOW: the /proc link is what is followed, to exactly
		// this file.
		fd, err = unix.Open(procPath(pfd), flags&^unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	return fd, err
}

// linkTmp is Link of a file by its record: to is made a name of the file
// the record's O_PATH fd holds, whatever names it has (none, for an
// unnamed file).
func (p *Posix) linkTmp(t *tmpFile, to *xlator.Loc) (xlator.Iatt, error) {
	if err := p.writable(); err != nil {
		return xlator.Iatt{}, err
	}
	if err := entry(to, true); err != nil {
		return xlator.Iatt{}, err
	}
	if err := p.space.check(); err != nil {
		return xlator.Iatt{}, err
	}
	tph, err := p.dirHandle(to.Parent)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer tph.release()
	var ia xlator.Iatt
	err = t.with(func(pfd int) error {
		if err := unix.Linkat(unix.AT_FDCWD, procPath(pfd), tph.fd, to.Name, unix.AT_SYMLINK_FOLLOW); err != nil {
			return err
		}
		var err error
		if ia, err = p.statFd(pfd, false); err == nil {
			p.store.fileMade(pfd, &ia) // named now: it gets its gfid store entry
		}
		return err
	})
	return ia, err
}
