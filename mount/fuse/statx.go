package fuse

import (
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// Statx answers STATX (kernel 6.6+), which the kernel sends instead of
// GETATTR when a caller of statx(2) asks for the birth time: the
// attributes GETATTR gives, from the same Stat or Fstat, plus the birth
// time and the mask the brick gave (xlator.Iatt's Btime and Mask). A
// graph whose bottom does not say (Mask 0) is answered with the basic
// fields and no birth time. The kernel caches the attributes only when
// the mask has every basic field, as it would for GETATTR.
func (b *bridge) Statx(cancel <-chan struct{}, in *fuse.StatxIn, out *fuse.StatxOut) fuse.Status {
	n, ia, st := b.getattr(cancel, opStatx, &in.InHeader, in.GetattrFlags, in.Fh)
	if !st.Ok() {
		return st
	}
	out.SetTimeout(b.cfg.AttrTimeout)
	fillStatx(&out.Statx, &ia, n.id)
	return fuse.OK
}

// fillStatx converts attributes as fillAttr does, with the statx mask
// and birth time.
func fillStatx(x *fuse.Statx, ia *xlator.Iatt, id uint64) {
	x.Mask = ia.Mask & (xlator.StatxBasic | xlator.StatxBtime)
	if ia.Mask == 0 {
		x.Mask = xlator.StatxBasic
	}
	x.Ino = ia.Ino
	if x.Ino == 0 {
		x.Ino = id
	}
	x.Size = uint64(ia.Size)
	x.Blocks = uint64(ia.Blocks)
	x.Blksize = ia.Blksize
	x.Nlink = ia.Nlink
	x.Uid, x.Gid = ia.Uid, ia.Gid
	x.Mode = uint16(ia.Mode)
	x.Atime = fuse.SxTime{Sec: uint64(ia.Atime.Sec), Nsec: uint32(ia.Atime.Nsec)}
	x.Mtime = fuse.SxTime{Sec: uint64(ia.Mtime.Sec), Nsec: uint32(ia.Mtime.Nsec)}
	x.Ctime = fuse.SxTime{Sec: uint64(ia.Ctime.Sec), Nsec: uint32(ia.Ctime.Nsec)}
	if x.Mask&xlator.StatxBtime != 0 {
		x.Btime = fuse.SxTime{Sec: uint64(ia.Btime.Sec), Nsec: uint32(ia.Btime.Nsec)}
	}
	x.RdevMajor, x.RdevMinor = unix.Major(ia.Rdev), unix.Minor(ia.Rdev)
	x.DevMajor, x.DevMinor = unix.Major(ia.Dev), unix.Minor(ia.Dev)
}
