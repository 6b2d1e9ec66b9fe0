package posix

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// gfidKeys are the xattrs a gfid may live in; both are internal whichever
// one this brick uses, so clients can neither read nor forge them.
const (
	gfidKeyTrusted = "trusted.xstack.gfid"
	gfidKeyUser    = "user.xstack.gfid"
)

// isGfidKey reports whether name is an internal gfid xattr.
func isGfidKey(name string) bool { return name == gfidKeyTrusted || name == gfidKeyUser }

// procPath names fd through /proc/self/fd. Extended attributes cannot be
// read or written through an O_PATH fd directly (EBADF), but the path
// calls follow the /proc magic link to exactly the inode the fd holds,
// even a symlink's, without resolving any name in the brick again.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// readGfid reads the gfid xattr of the file fd holds.
func (p *Posix) readGfid(fd int) (xlator.GFID, error) {
	var g xlator.GFID
	n, err := p.getxattr(fd, p.gfidKey, g[:])
	if err != nil {
		if err == syscall.ERANGE {
			return g, syscall.EIO // a value longer than a gfid: corrupt
		}
		return g, err
	}
	if n != len(g) || g.IsZero() {
		return xlator.GFID{}, syscall.EIO
	}
	return g, nil
}

// writeGfid stores g in the gfid xattr of the file fd holds.
func (p *Posix) writeGfid(fd int, g xlator.GFID, flags int) error {
	return p.setxattr(fd, p.gfidKey, g[:], flags)
}

// linkGfid derives a symlink's gfid when the brick cannot store one on it:
// an unprivileged process may not set user.* xattrs on symlinks. The gfid
// is a hash of (st_dev, st_ino): stable across rename and hard links, but
// a new symlink that reuses a deleted one's inode number gets its gfid.
func linkGfid(st *unix.Stat_t) xlator.GFID {
	var b [17]byte
	binary.LittleEndian.PutUint64(b[0:], st.Dev)
	binary.LittleEndian.PutUint64(b[8:], st.Ino)
	b[16] = 'L'
	sum := sha256.Sum256(b[:])
	var g xlator.GFID
	copy(g[:], sum[:16])
	g[6] = g[6]&0x0f | 0x50 // a name-based (v5-like) UUID
	g[8] = g[8]&0x3f | 0x80
	return g
}

// gfidOf returns the gfid of the file fd holds (st is its stat). A file
// without one (created in the brick behind xstack's back) gets a new one
// when assign is set, else ENODATA; on a read-only brick, where nothing is
// stored, it gets the gfid derived from its inode number (as symlinks of
// an unprivileged brick do), whatever assign says.
func (p *Posix) gfidOf(fd int, st *unix.Stat_t, assign bool) (xlator.GFID, error) {
	if st.Mode&syscall.S_IFMT == syscall.S_IFLNK && !p.privileged {
		return linkGfid(st), nil
	}
	g, err := p.readGfid(fd)
	if err == syscall.ENODATA && p.readOnly {
		return linkGfid(st), nil
	}
	if err != syscall.ENODATA || !assign {
		return g, err
	}
	g = xlator.NewGFID()
	switch err := p.writeGfid(fd, g, unix.XATTR_CREATE); err {
	case nil:
		return g, nil
	case syscall.EEXIST: // another lookup assigned one first
		return p.readGfid(fd)
	default:
		return xlator.GFID{}, err
	}
}

// setNewGfid gives a file this translator just created its gfid: req
// (the creator's xlator.Loc.GfidReq, so a file striped over several bricks
// has one identity on all of them) or a fresh one.
func (p *Posix) setNewGfid(fd int, st *unix.Stat_t, req xlator.GFID) (xlator.GFID, error) {
	if st.Mode&syscall.S_IFMT == syscall.S_IFLNK && !p.privileged {
		return linkGfid(st), nil
	}
	g := req
	if g.IsZero() {
		g = xlator.NewGFID()
	}
	if err := p.writeGfid(fd, g, 0); err != nil {
		return xlator.GFID{}, err
	}
	return g, nil
}

// iattOf converts a stat to the stack's attributes.
func iattOf(st *unix.Stat_t, g xlator.GFID) xlator.Iatt {
	return xlator.Iatt{
		Gfid:    g,
		Ino:     st.Ino,
		Dev:     st.Dev,
		Mode:    st.Mode,
		Nlink:   uint32(st.Nlink),
		Uid:     st.Uid,
		Gid:     st.Gid,
		Rdev:    st.Rdev,
		Size:    st.Size,
		Blksize: uint32(st.Blksize),
		Blocks:  st.Blocks,
		Atime:   xlator.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtime:   xlator.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctime:   xlator.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}
}

// statFd returns the attributes of the file fd holds (birth time and
// statx mask included), assigning a gfid if it has none, with the gfid
// store's link left out of the link count. The brick root always reports
// RootGFID.
func (p *Posix) statFd(fd int, root bool) (xlator.Iatt, error) {
	var st unix.Stat_t
	var b birth
	if err := fstatx(fd, &st, &b); err != nil {
		return xlator.Iatt{}, err
	}
	if root {
		return iattOfx(&st, &b, xlator.RootGFID), nil
	}
	g, err := p.gfidOf(fd, &st, true)
	if err != nil {
		return xlator.Iatt{}, err
	}
	p.store.hideLink(&st, g)
	return iattOfx(&st, &b, g), nil
}
