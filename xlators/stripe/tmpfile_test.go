package stripe

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
)

// overPosix starts stripe over two posix bricks and returns the env and
// the brick directories.
func overPosix(t *testing.T) (*env, []string) {
	t.Helper()
	reg := registry()
	posix.Register(reg)
	spec := &xlator.Spec{Source: "<test>", Top: "s", Volumes: []xlator.VolumeSpec{
		{Name: "s", Type: TypeName, Subvolumes: []string{"b0", "b1"}, Options: options(kb16, false)}}}
	dirs := []string{t.TempDir(), t.TempDir()}
	for i, d := range dirs {
		o := xlator.NewOptions()
		o.Set("directory", xlator.Value{Kind: xlator.KindPath, Str: d}, true)
		o.Set("health-check-interval", xlator.Value{Kind: xlator.KindDuration}, true)
		spec.Volumes = append(spec.Volumes, xlator.VolumeSpec{Name: fmt.Sprintf("b%d", i), Type: posix.TypeName, Options: o})
	}
	g := xlatortest.Start(t, spec, reg, nil)
	return &env{t: t, g: g, s: xlator.Unwrap(g.Top()).(*Stripe), n: 2}, dirs
}

// brickNames lists a brick directory without its private directory.
func brickNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != ".xstack" {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestTmpfileOverPosix: an unnamed file striped over two posix bricks
// has one gfid and one layout on both, holds data across blocks, is
// linked on both by its inode, and is then a striped file like any
// other; one never linked leaves nothing on either brick.
func TestTmpfileOverPosix(t *testing.T) {
	e, dirs := overPosix(t)
	top := e.g.Top()
	c := e.call(xlator.FopTmpfile)
	defer c.Done()
	in := e.g.Inodes().New()
	fd := e.g.NewFD(in, syscall.O_RDWR, 1, false)
	ia, err := top.Tmpfile(c, &xlator.Loc{Parent: e.root(), Inode: in}, syscall.O_RDWR, 0o600, 0, fd)
	if err == syscall.EOPNOTSUPP {
		t.Skip("skipping: the bricks' file system has no O_TMPFILE")
	}
	if err != nil {
		t.Fatal(err)
	}
	linked := e.g.Inodes().Link(in, nil, "", &ia)
	in.Unref()
	defer linked.Unref()
	if ia.Nlink != 0 || ia.Gfid.IsZero() {
		t.Fatalf("tmpfile: nlink %d gfid %v", ia.Nlink, ia.Gfid)
	}
	data := make([]byte, 3*kb16+5) // blocks on both children
	for i := range data {
		data[i] = byte(i * 3)
	}
	e.mustWrite(fd, 0, data)
	if got := e.mustRead(fd, 0, len(data)+100); !bytes.Equal(got, data) {
		t.Fatalf("read back differs at %d", firstDiff(got, data))
	}
	for i, d := range dirs {
		if got := brickNames(t, d); len(got) != 0 {
			t.Errorf("brick %d shows the unnamed file: %v", i, got)
		}
	}

	lia, err := top.Link(c, &xlator.Loc{Inode: linked}, &xlator.Loc{Parent: e.root(), Name: "named"})
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	if lia.Gfid != ia.Gfid || lia.Nlink != 1 || lia.Size != int64(len(data)) {
		t.Errorf("link: gfid %v nlink %d size %d; want %v, 1, %d", lia.Gfid, lia.Nlink, lia.Size, ia.Gfid, len(data))
	}
	fd.Unref()
	for i := range dirs {
		cia, err := e.g.Xlator(fmt.Sprintf("b%d", i)).Stat(c, &xlator.Loc{Parent: e.root(), Name: "named"})
		if err != nil || cia.Gfid != ia.Gfid {
			t.Errorf("brick %d: named has gfid %v, %v; want %v", i, cia.Gfid, err, ia.Gfid)
		}
	}
	// A fresh graph's view: the layout is on both bricks.
	e.g.Inodes().Purge()
	nin, nia, err := e.lookup(e.root(), "named")
	if err != nil || nia.Size != int64(len(data)) {
		t.Fatalf("lookup of the linked name: size %d, %v", nia.Size, err)
	}
	rfd := e.open(nin, syscall.O_RDONLY)
	defer rfd.Unref()
	if got := e.mustRead(rfd, 0, len(data)+100); !bytes.Equal(got, data) {
		t.Fatalf("read by name differs at %d", firstDiff(got, data))
	}

	// One never linked leaves nothing.
	in2 := e.g.Inodes().New()
	fd2 := e.g.NewFD(in2, syscall.O_WRONLY, 1, false)
	if _, err := top.Tmpfile(c, &xlator.Loc{Parent: e.root(), Inode: in2}, syscall.O_WRONLY, 0o600, 0, fd2); err != nil {
		t.Fatal(err)
	}
	e.mustWrite(fd2, 0, data)
	fd2.Unref()
	in2.Unref()
	for i, d := range dirs {
		if got := brickNames(t, d); len(got) != 1 {
			t.Errorf("brick %d holds %v, want only named", i, got)
		}
	}
}

// TestBirthTimeOverPosix: a striped file's birth time is child 0's
// brick file's.
func TestBirthTimeOverPosix(t *testing.T) {
	e, dirs := overPosix(t)
	in, fd := e.mustCreate("f")
	defer fd.Unref()
	var x unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, filepath.Join(dirs[0], "f"), 0, unix.STATX_BTIME, &x); err != nil {
		t.Fatal(err)
	}
	if x.Mask&unix.STATX_BTIME == 0 {
		t.Skip("skipping: the bricks' file system keeps no birth time")
	}
	want := xlator.Timespec{Sec: x.Btime.Sec, Nsec: int64(x.Btime.Nsec)}
	if ia := e.mustStat(in); !ia.HasBtime() || ia.Btime != want {
		t.Errorf("birth time %v (mask %#x), child 0's brick file's is %v", ia.Btime, ia.Mask, want)
	}
}
