package posix

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// Lookup resolves loc: the root, parent + name, or (no name) loc.Inode by
// its first dentry. A directory found by name keeps its handle in
// loc.Inode's context when the inode is new or carries the same gfid. A
// file without a gfid gets one, and a file without a gfid store entry (a
// brick older than the store, a file made behind the stack's back) gets
// one; a stale entry is replaced. The private directory is not found.
func (p *Posix) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := p.up(); err != nil {
		return xlator.Iatt{}, err
	}
	if loc.Parent == nil {
		return p.Stat(c, loc)
	}
	if err := entry(loc, false); err != nil {
		return xlator.Iatt{}, err
	}
	ph, err := p.dirHandle(loc.Parent)
	if err != nil {
		return xlator.Iatt{}, err
	}
	fd, err := openBeneath(ph.fd, loc.Name, unix.O_PATH, 0)
	pg := p.gfidOfParent(loc.Parent, ph)
	ph.release()
	if err != nil {
		return xlator.Iatt{}, err
	}
	ia, err := p.statFd(fd, false)
	if err != nil {
		_ = unix.Close(fd)
		return xlator.Iatt{}, err
	}
	p.store.found(fd, &ia, pg, loc.Name)
	if in := loc.Inode; ia.IsDir() && in != nil && (in.GFID().IsZero() || in.GFID() == ia.Gfid) && in.Ctx(p) == nil {
		p.cacheHandle(in, fd).release()
		return ia, nil
	}
	_ = unix.Close(fd)
	return ia, nil
}

// Stat returns the attributes of loc's target.
func (p *Posix) Stat(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := p.up(); err != nil {
		return xlator.Iatt{}, err
	}
	o, err := p.resolve(loc)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer o.close()
	return p.statFd(o.fd, o.h == p.root)
}

// Setattr changes the attributes selected by in.Valid, in the order Linux
// tools apply them (owner, mode, size, times: a chown clears set-id bits,
// a truncate sets mtime), and returns the attributes after the change.
func (p *Posix) Setattr(c *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	if err := p.writable(); err != nil {
		return xlator.Iatt{}, err
	}
	o, err := p.resolve(loc)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer o.close()
	err = p.setattr(o.fd, true, in)
	if in.Valid&xlator.SetSize != 0 {
		p.ra.changedFd(o.fd)
	}
	if err != nil {
		return xlator.Iatt{}, err
	}
	return p.statFd(o.fd, o.h == p.root)
}

// setattr applies in to the file fd holds; opath says fd is an O_PATH fd,
// which the calls reach through its /proc path.
func (p *Posix) setattr(fd int, opath bool, in *xlator.SetattrIn) error {
	if in.Valid&(xlator.SetUid|xlator.SetGid) != 0 {
		uid, gid := -1, -1
		if in.Valid&xlator.SetUid != 0 {
			uid = int(in.Uid)
		}
		if in.Valid&xlator.SetGid != 0 {
			gid = int(in.Gid)
		}
		if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return err
		}
	}
	if in.Valid&xlator.SetMode != 0 {
		var err error
		if opath {
			var st unix.Stat_t
			if err = unix.Fstat(fd, &st); err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFLNK {
				return syscall.EOPNOTSUPP // as fchmodat(AT_SYMLINK_NOFOLLOW)
			}
			err = unix.Chmod(procPath(fd), in.Mode&0o7777)
		} else {
			err = unix.Fchmod(fd, in.Mode&0o7777)
		}
		if err != nil {
			return err
		}
	}
	if in.Valid&xlator.SetSize != 0 {
		var err error
		if opath {
			var st unix.Stat_t
			if err = unix.Fstat(fd, &st); err == nil {
				switch st.Mode & syscall.S_IFMT {
				case syscall.S_IFDIR:
					return syscall.EISDIR
				case syscall.S_IFREG:
				default:
					return syscall.EINVAL
				}
			}
			err = unix.Truncate(procPath(fd), in.Size)
		} else {
			err = unix.Ftruncate(fd, in.Size)
		}
		// A growing truncate allocates nothing (the file gets a hole), so
		// the reserve does not apply and the brick's own answer (EFBIG
		// past its largest file) passes through; a shrinking one frees.
		p.space.freed()
		if err != nil {
			return err
		}
	}
	if in.Valid&(xlator.SetAtime|xlator.SetMtime|xlator.SetAtimeNow|xlator.SetMtimeNow) != 0 {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		switch {
		case in.Valid&xlator.SetAtimeNow != 0:
			ts[0].Nsec = unix.UTIME_NOW
		case in.Valid&xlator.SetAtime != 0:
			ts[0] = unix.Timespec{Sec: in.Atime.Sec, Nsec: in.Atime.Nsec}
		}
		switch {
		case in.Valid&xlator.SetMtimeNow != 0:
			ts[1].Nsec = unix.UTIME_NOW
		case in.Valid&xlator.SetMtime != 0:
			ts[1] = unix.Timespec{Sec: in.Mtime.Sec, Nsec: in.Mtime.Nsec}
		}
		// The /proc path lands on the inode itself, a symlink's included.
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, procPath(fd), ts, 0); err != nil {
			return err
		}
	}
	return nil
}

// Access checks mask against the caller's credentials (c.Uid, c.Gid,
// c.Groups) and the file's mode bits, as the kernel would for that caller;
// the daemon's own (root) credentials do not count.
func (p *Posix) Access(c *xlator.Call, loc *xlator.Loc, mask uint32) error {
	if err := p.up(); err != nil {
		return err
	}
	o, err := p.resolve(loc)
	if err != nil {
		return err
	}
	defer o.close()
	var st unix.Stat_t
	if err := unix.Fstat(o.fd, &st); err != nil {
		return err
	}
	if !allowed(c, &st, mask&7) {
		return syscall.EACCES
	}
	return nil
}

func allowed(c *xlator.Call, st *unix.Stat_t, mask uint32) bool {
	if mask == 0 {
		return true
	}
	mode := st.Mode
	if c.Uid == 0 {
		return mask&unix.X_OK == 0 || mode&0o111 != 0 || mode&syscall.S_IFMT == syscall.S_IFDIR
	}
	var bits uint32
	switch {
	case c.Uid == st.Uid:
		bits = mode >> 6 & 7
	case inGroup(c, st.Gid):
		bits = mode >> 3 & 7
	default:
		bits = mode & 7
	}
	return bits&mask == mask
}

func inGroup(c *xlator.Call, gid uint32) bool {
	if c.Gid == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// Readlink returns the symlink's target unchanged (EINVAL for anything
// else). The target is never resolved here.
func (p *Posix) Readlink(c *xlator.Call, loc *xlator.Loc) (string, error) {
	if err := p.up(); err != nil {
		return "", err
	}
	o, err := p.resolve(loc)
	if err != nil {
		return "", err
	}
	defer o.close()
	var st unix.Stat_t
	if err := unix.Fstat(o.fd, &st); err != nil {
		return "", err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		return "", syscall.EINVAL
	}
	buf := make([]byte, max(st.Size+1, 256))
	for {
		n, err := unix.Readlinkat(o.fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// newEntry is the common part of the fops that create an entry: the name
// check, the reserve, the parent handle and the parent's attributes
// (needed for set-group-ID inheritance).
func (p *Posix) newEntry(loc *xlator.Loc, pst *unix.Stat_t) (*handle, error) {
	if err := p.writable(); err != nil {
		return nil, err
	}
	if err := entry(loc, true); err != nil {
		return nil, err
	}
	if err := p.space.check(); err != nil {
		return nil, err
	}
	ph, err := p.dirHandle(loc.Parent)
	if err != nil {
		return nil, err
	}
	if err := unix.Fstat(ph.fd, pst); err != nil {
		ph.release()
		return nil, err
	}
	return ph, nil
}

// finishNew gives a file this translator just created its owner (the
// caller's uid, and gid unless the parent is set-group-ID), exactly the
// mode asked (undoing the process umask) and a fresh gfid, and returns its
// attributes. The callers make its gfid store entry (a file made by
// Tmpfile has none while it has no name). fd holds the new file (opath: an O_PATH fd).
func (p *Posix) finishNew(c *xlator.Call, loc *xlator.Loc, pst *unix.Stat_t, fd int, opath bool, typ, want uint32) (xlator.Iatt, error) {
	var st unix.Stat_t
	var b birth // a chown or chmod below does not change it
	if err := fstatx(fd, &st, &b); err != nil {
		return xlator.Iatt{}, err
	}
	if st.Mode&syscall.S_IFMT != typ {
		return xlator.Iatt{}, syscall.EIO // replaced under us between create and open
	}
	if p.privileged {
		uid, gid := c.Uid, c.Gid
		if pst.Mode&syscall.S_ISGID != 0 {
			gid = pst.Gid
		}
		if st.Uid != uid || st.Gid != gid {
			if err := unix.Fchownat(fd, "", int(uid), int(gid), unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return xlator.Iatt{}, err
			}
			if err := unix.Fstat(fd, &st); err != nil {
				return xlator.Iatt{}, err
			}
		}
	}
	if typ != syscall.S_IFLNK && st.Mode&0o7777 != want {
		var err error
		if opath {
			err = unix.Chmod(procPath(fd), want)
		} else {
			err = unix.Fchmod(fd, want)
		}
		if err != nil {
			return xlator.Iatt{}, err
		}
		if err := unix.Fstat(fd, &st); err != nil {
			return xlator.Iatt{}, err
		}
	}
	g, err := p.setNewGfid(fd, &st, loc.GfidReq)
	if err != nil {
		return xlator.Iatt{}, err
	}
	return iattOfx(&st, &b, g), nil
}

// Mknod creates a special or regular file with mode &^ umask exactly,
// owned by the caller.
func (p *Posix) Mknod(c *xlator.Call, loc *xlator.Loc, mode, rdev, umask uint32) (xlator.Iatt, error) {
	var pst unix.Stat_t
	ph, err := p.newEntry(loc, &pst)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer ph.release()
	typ := mode & syscall.S_IFMT
	if typ == 0 {
		typ = syscall.S_IFREG
	}
	if typ == syscall.S_IFDIR || typ == syscall.S_IFLNK {
		return xlator.Iatt{}, syscall.EINVAL
	}
	want := mode & 0o7777 &^ umask
	if err := unix.Mknodat(ph.fd, loc.Name, typ|want, int(rdev)); err != nil {
		return xlator.Iatt{}, err
	}
	fd, err := openBeneath(ph.fd, loc.Name, unix.O_PATH, 0)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer unix.Close(fd)
	ia, err := p.finishNew(c, loc, &pst, fd, true, typ, want)
	if err == nil {
		p.store.fileMade(fd, &ia)
	}
	return ia, err
}

// Mkdir creates a directory with mode &^ umask exactly (plus the
// set-group-ID bit inherited from a set-group-ID parent, as Linux does),
// owned by the caller, and caches its handle in loc.Inode.
func (p *Posix) Mkdir(c *xlator.Call, loc *xlator.Loc, mode, umask uint32) (xlator.Iatt, error) {
	var pst unix.Stat_t
	ph, err := p.newEntry(loc, &pst)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer ph.release()
	want := mode & 0o1777 &^ umask
	if pst.Mode&syscall.S_ISGID != 0 {
		want |= syscall.S_ISGID
	}
	if err := unix.Mkdirat(ph.fd, loc.Name, want); err != nil {
		return xlator.Iatt{}, err
	}
	fd, err := openBeneath(ph.fd, loc.Name, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return xlator.Iatt{}, err
	}
	ia, err := p.finishNew(c, loc, &pst, fd, true, syscall.S_IFDIR, want)
	if err == nil {
		p.store.dirMoved(ia.Gfid, p.gfidOfParent(loc.Parent, ph), loc.Name)
	}
	if err != nil || loc.Inode == nil {
		_ = unix.Close(fd)
		return ia, err
	}
	p.cacheHandle(loc.Inode, fd).release()
	return ia, nil
}

// Unlink removes a non-directory entry (EISDIR for a directory).
func (p *Posix) Unlink(c *xlator.Call, loc *xlator.Loc) error {
	return p.remove(loc, 0)
}

// Rmdir removes an empty directory (ENOTEMPTY, ENOTDIR as Linux).
func (p *Posix) Rmdir(c *xlator.Call, loc *xlator.Loc) error {
	return p.remove(loc, unix.AT_REMOVEDIR)
}

func (p *Posix) remove(loc *xlator.Loc, flags int) error {
	if err := p.writable(); err != nil {
		return err
	}
	if err := entry(loc, false); err != nil {
		return err
	}
	ph, err := p.dirHandle(loc.Parent)
	if err != nil {
		return err
	}
	defer ph.release()
	defer p.space.freed()
	v := p.store.victimOf(ph.fd, loc.Name)
	defer v.close()
	if err := unix.Unlinkat(ph.fd, loc.Name, flags); err != nil {
		return err
	}
	p.store.nameGone(v)
	return nil
}

// Symlink creates loc as a symlink to target, stored unchanged, owned by
// the caller.
func (p *Posix) Symlink(c *xlator.Call, target string, loc *xlator.Loc, umask uint32) (xlator.Iatt, error) {
	var pst unix.Stat_t
	ph, err := p.newEntry(loc, &pst)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer ph.release()
	if err := unix.Symlinkat(target, ph.fd, loc.Name); err != nil {
		return xlator.Iatt{}, err
	}
	fd, err := openBeneath(ph.fd, loc.Name, unix.O_PATH, 0)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer unix.Close(fd)
	ia, err := p.finishNew(c, loc, &pst, fd, true, syscall.S_IFLNK, 0o777)
	if err == nil {
		p.store.fileMade(fd, &ia)
	}
	return ia, err
}

// Rename moves from to to with renameat2 (flags RenameNoReplace,
// RenameExchange). The gfid lives on the inode and moves with it; the gfid
// store entry of a directory moved follows it, and a file renamed over
// loses its entry with its last name (kept in unlink/ while it is open).
func (p *Posix) Rename(c *xlator.Call, from, to *xlator.Loc, flags uint32) error {
	if err := p.writable(); err != nil {
		return err
	}
	if err := entry(from, false); err != nil {
		return err
	}
	if err := entry(to, true); err != nil {
		return err
	}
	fph, err := p.dirHandle(from.Parent)
	if err != nil {
		return err
	}
	defer fph.release()
	tph, err := p.dirHandle(to.Parent)
	if err != nil {
		return err
	}
	defer tph.release()
	defer p.space.freed() // a file renamed over is gone
	src := p.store.victimOf(fph.fd, from.Name)
	defer src.close()
	dst := p.store.victimOf(tph.fd, to.Name)
	defer dst.close()
	if err := unix.Renameat2(fph.fd, from.Name, tph.fd, to.Name, uint(flags)); err != nil {
		return err
	}
	// A directory's entry names its parent and name: it follows the
	// directory. A file renamed over lost its name.
	if src.dir {
		p.store.dirMoved(src.g, p.gfidOfParent(to.Parent, tph), to.Name)
	}
	switch {
	case dst.fd < 0 || (src.fd >= 0 && src.g == dst.g):
		// nothing there, or two names of one file (rename does nothing)
	case flags&xlator.RenameExchange != 0:
		if dst.dir {
			p.store.dirMoved(dst.g, p.gfidOfParent(from.Parent, fph), from.Name)
		}
	default:
		p.store.nameGone(dst)
	}
	return nil
}

// Link creates to as a hard link to from's target (by from's name, or its
// inode as resolve finds it) and returns the file's attributes: same gfid.
// A file made by Tmpfile is linked by its inode while open (tmpfile.go).
func (p *Posix) Link(c *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	if t := p.tmpOf(from); t != nil {
		return p.linkTmp(t, to)
	}
	if err := p.writable(); err != nil {
		return xlator.Iatt{}, err
	}
	if err := entry(to, true); err != nil {
		return xlator.Iatt{}, err
	}
	if err := p.space.check(); err != nil {
		return xlator.Iatt{}, err
	}
	src, err := p.resolve(from)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer src.close()
	tph, err := p.dirHandle(to.Parent)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer tph.release()
	// Through /proc the link is made to exactly the inode resolved, even
	// when its name was reused or it was found by gfid.
	if err := unix.Linkat(unix.AT_FDCWD, procPath(src.fd), tph.fd, to.Name, unix.AT_SYMLINK_FOLLOW); err != nil {
		return xlator.Iatt{}, err
	}
	fd, err := openBeneath(tph.fd, to.Name, unix.O_PATH, 0)
	if err != nil {
		return xlator.Iatt{}, err
	}
	defer unix.Close(fd)
	ia, err := p.statFd(fd, false)
	if err == nil {
		// A file found in unlink/ has a name again: it needs its entry.
		p.store.found(fd, &ia, xlator.GFID{}, "")
	}
	return ia, err
}
