package posix

import (
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// TestStatxBirthTime: every fop that returns attributes carries the brick
// file's birth time and statx mask (create, lookup, stat, fstat,
// readdirplus), and the stat fields read through statx are the ones
// fstat(2) gives.
func TestStatxBirthTime(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	in, fd := b.mustCreate(b.root(), "f")
	var want unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, filepath.Join(b.dir, "f"), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &want); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(b.dir, "f"), &st); err != nil {
		t.Fatal(err)
	}
	hasBirth := want.Mask&unix.STATX_BTIME != 0
	wantBtime := xlator.Timespec{Sec: want.Btime.Sec, Nsec: int64(want.Btime.Nsec)}

	created, err := b.stat(&xlator.Loc{Inode: in})
	if err != nil {
		t.Fatal(err)
	}
	_, looked, err := b.lookup(b.root(), "f")
	if err != nil {
		t.Fatal(err)
	}
	fstated, err := b.fstat(fd)
	if err != nil {
		t.Fatal(err)
	}
	dfd, err := b.opendir(&xlator.Loc{Inode: b.root()})
	if err != nil {
		t.Fatal(err)
	}
	defer dfd.Unref()
	ents := b.readdirAll(dfd, 100, true)
	if len(ents) != 1 {
		t.Fatalf("readdirplus: %d entries, want 1", len(ents))
	}
	for what, ia := range map[string]xlator.Iatt{"stat": created, "lookup": looked, "fstat": fstated, "readdirplus": ents[0].Attr} {
		if ia.Mask&xlator.StatxBasic != xlator.StatxBasic {
			t.Errorf("%s: mask %#x lacks the basic stats %#x", what, ia.Mask, xlator.StatxBasic)
		}
		if ia.HasBtime() != hasBirth || ia.Btime != wantBtime {
			t.Errorf("%s: birth time %v (mask %#x), the brick file's is %v (mask %#x)", what, ia.Btime, ia.Mask, wantBtime, want.Mask)
		}
		if ia.Dev != st.Dev || ia.Ino != st.Ino || ia.Rdev != st.Rdev || ia.Mode != st.Mode || ia.Size != st.Size ||
			ia.Blocks != st.Blocks || int64(ia.Blksize) != st.Blksize || ia.Nlink != uint32(st.Nlink)-1 || // the gfid store's link left out
			ia.Mtime != (xlator.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec}) {
			t.Errorf("%s: %+v differs from the brick file's fstat %+v", what, ia, st)
		}
	}
	if !hasBirth {
		t.Skip("the brick's file system keeps no birth time: checked that none is reported")
	}
	if wantBtime == (xlator.Timespec{}) {
		t.Error("the brick reports a birth time of 0")
	}
}

// TestStatxBirthTimeOfNewEntries: the attributes that create, mkdir,
// mknod and symlink return carry the birth time too (they are read before
// the new file's owner and mode are set, which do not change it).
func TestStatxBirthTimeOfNewEntries(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	_, fd, created, err := b.create(b.root(), "f", syscall.O_RDWR, 0o644, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	_, made, err := b.mkdir(b.root(), "d", 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := b.call(xlator.FopSymlink)
	defer c.Done()
	linked, err := b.top().Symlink(c, "f", &xlator.Loc{Parent: b.root(), Name: "s"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	node, err := b.top().Mknod(c, &xlator.Loc{Parent: b.root(), Name: "n"}, syscall.S_IFIFO|0o600, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, ia := range map[string]xlator.Iatt{"f": created, "d": made, "s": linked, "n": node} {
		var want unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, filepath.Join(b.dir, name), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &want); err != nil {
			t.Fatal(err)
		}
		if want.Mask&unix.STATX_BTIME == 0 {
			t.Skip("the brick's file system keeps no birth time")
		}
		if w := (xlator.Timespec{Sec: want.Btime.Sec, Nsec: int64(want.Btime.Nsec)}); !ia.HasBtime() || ia.Btime != w {
			t.Errorf("%s: birth time %v (mask %#x), the brick file's is %v", name, ia.Btime, ia.Mask, w)
		}
	}
}

// BenchmarkFstat is the cost of attributes by statx (what posix does)
// against fstat(2) (what it did before birth times), and of the whole
// Fstat fop over it.
func BenchmarkFstat(b *testing.B) {
	br := newBrick(b, map[string]string{"health-check-interval": "0"})
	_, fd := br.mustCreate(br.root(), "f")
	fc, err := br.px.file(fd)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("syscall=fstat", func(b *testing.B) {
		var st unix.Stat_t
		for b.Loop() {
			if err := unix.Fstat(fc.fd, &st); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("syscall=statx", func(b *testing.B) {
		var st unix.Stat_t
		var bt birth
		for b.Loop() {
			if err := fstatx(fc.fd, &st, &bt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fop=fstat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := br.fstat(fd); err != nil {
				b.Fatal(err)
			}
		}
	})
}
