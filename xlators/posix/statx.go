package posix

import (
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// statxMask is what posix asks statx(2) for: what fstat gives, and the
// birth time where the brick's file system keeps one (ext4, xfs, btrfs,
// tmpfs do). The answer's mask says which it gave, and goes up in
// xlator.Iatt.Mask.
const statxMask = unix.STATX_BASIC_STATS | unix.STATX_BTIME

// birth is what statx gives beyond a unix.Stat_t.
type birth struct {
	mask uint32
	time xlator.Timespec
}

// fstatx is fstat(2) of the file fd holds (an O_PATH fd too, a symlink's
// included) through statx(2), which also gives the birth time: st is
// filled as fstat fills it (st_dev and st_rdev in the same encoding), b
// with the mask and the birth time. It costs what fstat costs: both are
// one vfs_getattr.
func fstatx(fd int, st *unix.Stat_t, b *birth) error {
	var x unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT, statxMask, &x); err != nil {
		return err
	}
	*st = unix.Stat_t{
		Dev:     unix.Mkdev(x.Dev_major, x.Dev_minor),
		Ino:     x.Ino,
		Nlink:   uint64(x.Nlink),
		Mode:    uint32(x.Mode),
		Uid:     x.Uid,
		Gid:     x.Gid,
		Rdev:    unix.Mkdev(x.Rdev_major, x.Rdev_minor),
		Size:    int64(x.Size),
		Blksize: int64(x.Blksize),
		Blocks:  int64(x.Blocks),
		Atim:    unix.Timespec{Sec: x.Atime.Sec, Nsec: int64(x.Atime.Nsec)},
		Mtim:    unix.Timespec{Sec: x.Mtime.Sec, Nsec: int64(x.Mtime.Nsec)},
		Ctim:    unix.Timespec{Sec: x.Ctime.Sec, Nsec: int64(x.Ctime.Nsec)},
	}
	b.mask = x.Mask & statxMask
	b.time = xlator.Timespec{}
	if b.mask&unix.STATX_BTIME != 0 {
		b.time = xlator.Timespec{Sec: x.Btime.Sec, Nsec: int64(x.Btime.Nsec)}
	}
	return nil
}

// iattOfx is iattOf with what statx gave beyond the stat.
func iattOfx(st *unix.Stat_t, b *birth, g xlator.GFID) xlator.Iatt {
	ia := iattOf(st, g)
	ia.Mask, ia.Btime = b.mask, b.time
	return ia
}
