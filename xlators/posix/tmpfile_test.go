package posix

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// tmpfile makes an unnamed file in parent through the graph, as a front
// end does: a new inode, an fd on it, and the inode linked into the table
// by its gfid alone.
func (b *brick) tmpfile(parent *xlator.Inode, flags, mode, umask uint32) (*xlator.Inode, *xlator.FD, xlator.Iatt, error) {
	in := b.g.Inodes().New()
	fd := b.g.NewFD(in, flags, 1, false)
	c := b.call(xlator.FopTmpfile)
	defer c.Done()
	ia, err := b.top().Tmpfile(c, &xlator.Loc{Parent: parent, Inode: in}, flags, mode, umask, fd)
	if err != nil {
		fd.Unref()
		in.Unref()
		return nil, nil, ia, err
	}
	return b.link(in, nil, "", &ia), fd, ia, nil
}

func (b *brick) mustTmpfile(parent *xlator.Inode, flags uint32) (*xlator.Inode, *xlator.FD, xlator.Iatt) {
	b.tb.Helper()
	in, fd, ia, err := b.tmpfile(parent, flags, 0o640, 0o022)
	if err == syscall.EOPNOTSUPP {
		b.tb.Skip("skipping: the brick's file system has no O_TMPFILE")
	}
	if err != nil {
		b.tb.Fatalf("tmpfile: %v", err)
	}
	return in, fd, ia
}

func (b *brick) linkInode(in *xlator.Inode, parent *xlator.Inode, name string) (xlator.Iatt, error) {
	c := b.call(xlator.FopLink)
	defer c.Done()
	return b.top().Link(c, &xlator.Loc{Inode: in}, &xlator.Loc{Parent: parent, Name: name})
}

// names lists a brick directory, the private directory left out.
func names(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != internalDir {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestTmpfileLink: an unnamed file holds data, its attributes and xattrs
// are reached by its inode, and Link of the inode gives it a name in the
// brick that carries its gfid and data, which stays after the fd is gone.
func TestTmpfileLink(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	d := b.mustMkdir(b.root(), "d")
	in, fd, ia := b.mustTmpfile(d, syscall.O_RDWR)
	if ia.Gfid.IsZero() || ia.Nlink != 0 || !ia.IsRegular() || ia.Mode&0o7777 != 0o640 {
		t.Fatalf("tmpfile attributes: gfid %v nlink %d mode %o; want a gfid, no link, a regular file of mode 640", ia.Gfid, ia.Nlink, ia.Mode)
	}
	if got := names(t, filepath.Join(b.dir, "d")); len(got) != 0 {
		t.Fatalf("the unnamed file shows in the brick directory: %v", got)
	}
	data := pattern(100<<10, 3)
	b.mustWrite(fd, 0, data)
	equal(t, "read back", b.mustRead(fd, 0, len(data)+10), data)

	// Reached by its inode alone while it has no name.
	if st, err := b.stat(&xlator.Loc{Inode: in}); err != nil || st.Gfid != ia.Gfid || st.Size != int64(len(data)) {
		t.Fatalf("stat by inode: %+v, %v", st, err)
	}
	c := b.call(xlator.FopSetxattr)
	defer c.Done()
	if err := b.top().Setxattr(c, &xlator.Loc{Inode: in}, "user.k", []byte("v"), 0); err != nil {
		t.Fatalf("setxattr by inode: %v", err)
	}

	got, err := b.linkInode(in, b.root(), "named")
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	if got.Gfid != ia.Gfid || got.Nlink != 1 || got.Size != int64(len(data)) {
		t.Fatalf("link attributes: gfid %v nlink %d size %d; want %v, 1, %d", got.Gfid, got.Nlink, got.Size, ia.Gfid, len(data))
	}
	fd.Unref()
	onBrick, err := os.ReadFile(filepath.Join(b.dir, "named"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "the linked brick file", onBrick, data)
	_, looked, err := b.lookup(b.root(), "named")
	if err != nil || looked.Gfid != ia.Gfid {
		t.Fatalf("lookup of the linked name: gfid %v, %v; want %v", looked.Gfid, err, ia.Gfid)
	}
	if v, err := unix.Getxattr(filepath.Join(b.dir, "named"), "user.k", make([]byte, 8)); err != nil || v != 1 {
		t.Errorf("the xattr set while unnamed: %d, %v", v, err)
	}
	if got := names(t, filepath.Join(b.dir, "d")); len(got) != 0 {
		t.Errorf("the directory the file was made in has entries: %v", got)
	}
}

// deletedUnder lists this process's fds on deleted files under dir.
func deletedUnder(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(l, dir+"/") && strings.HasSuffix(l, " (deleted)") {
			out = append(out, e.Name()+" -> "+l)
		}
	}
	return out
}

// TestTmpfileVanishes: an unnamed file never linked is gone when its last
// fd is released (a second open of it by inode included): nothing holds
// it, nothing is left in the brick, and it can no longer be linked.
func TestTmpfileVanishes(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	in, fd, _ := b.mustTmpfile(b.root(), syscall.O_WRONLY)
	b.mustWrite(fd, 0, pattern(1<<20, 1))
	if held := deletedUnder(t, b.dir); len(held) == 0 {
		t.Fatal("no fd on the unnamed file: the test cannot see it go")
	}
	again, err := b.open(&xlator.Loc{Inode: in}, syscall.O_RDONLY)
	if err != nil {
		t.Fatalf("open by inode: %v", err)
	}
	fd.Unref()
	equal(t, "read through the second open", b.mustRead(again, 0, 10), pattern(1<<20, 1)[:10])
	again.Unref()
	if held := deletedUnder(t, b.dir); len(held) != 0 {
		t.Errorf("fds still hold the unnamed file after its last release: %v", held)
	}
	if got := names(t, b.dir); len(got) != 0 {
		t.Errorf("the brick holds %v", got)
	}
	// Gone: its gfid is in no name and no gfid store entry.
	if _, err := b.linkInode(in, b.root(), "late"); err != syscall.ENOENT {
		t.Errorf("link after the last release: %v, want ENOENT", err)
	}
	if got := names(t, b.dir); len(got) != 0 {
		t.Errorf("the brick holds %v after a late link", got)
	}
}

// TestTmpfileExcl: a file made with O_EXCL can never be linked (ENOENT,
// as linkat(2) answers), and leaves nothing behind.
func TestTmpfileExcl(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	in, fd, _ := b.mustTmpfile(b.root(), syscall.O_RDWR|syscall.O_EXCL)
	b.mustWrite(fd, 0, []byte("x"))
	if _, err := b.linkInode(in, b.root(), "named"); err != syscall.ENOENT {
		t.Errorf("link of an O_EXCL tmpfile: %v, want ENOENT", err)
	}
	fd.Unref()
	if got := names(t, b.dir); len(got) != 0 {
		t.Errorf("the brick holds %v", got)
	}
}

// TestTmpfileGfidReq: the unnamed file gets the gfid its caller asks for,
// as a created one does (stripe makes one file on every brick with it).
func TestTmpfileGfidReq(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	want := xlator.NewGFID()
	in := b.g.Inodes().New()
	defer in.Unref()
	fd := b.g.NewFD(in, syscall.O_RDWR, 1, false)
	defer fd.Unref()
	c := b.call(xlator.FopTmpfile)
	defer c.Done()
	ia, err := b.top().Tmpfile(c, &xlator.Loc{Parent: b.root(), Inode: in, GfidReq: want}, syscall.O_RDWR, 0o600, 0, fd)
	if err == syscall.EOPNOTSUPP {
		t.Skip("skipping: the brick's file system has no O_TMPFILE")
	}
	if err != nil || ia.Gfid != want {
		t.Fatalf("tmpfile with GfidReq %v: gfid %v, %v", want, ia.Gfid, err)
	}
}
