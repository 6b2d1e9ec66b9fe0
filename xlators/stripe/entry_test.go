package stripe

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

func TestOneGfidOnEveryChild(t *testing.T) {
	e := newEnv(t, 3, options(kb16, false))
	in, _ := e.mustCreate("f")
	c := e.call(xlator.FopGetxattr)
	defer c.Done()
	for i := range 3 {
		ia, err := e.childStat(i, &xlator.Loc{Parent: e.root(), Name: "f"})
		if err != nil || ia.Gfid != in.GFID() {
			t.Errorf("m%d: gfid %v (%v), want %v", i, ia.Gfid, err, in.GFID())
		}
		v, err := e.shim(i).Getxattr(c, &xlator.Loc{Inode: in}, XattrKey)
		if err != nil || string(v) != "block-size=16384 count=3 coalesce=0" {
			t.Errorf("m%d geometry xattr %q, %v", i, v, err)
		}
	}
	// Lookup finds it whole.
	_, ia, err := e.lookup(nil, "f")
	if err != nil || ia.Gfid != in.GFID() {
		t.Fatalf("lookup: %v %v", ia.Gfid, err)
	}
	// Stripe's key is hidden from clients.
	if _, err := e.g.Top().Getxattr(c, &xlator.Loc{Inode: in}, XattrKey); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("getxattr of the geometry key: %v", err)
	}
	if err := e.g.Top().Setxattr(c, &xlator.Loc{Inode: in}, XattrKey, []byte("x"), 0); !errors.Is(err, syscall.EPERM) {
		t.Errorf("setxattr of the geometry key: %v", err)
	}
	if err := e.g.Top().Setxattr(c, &xlator.Loc{Inode: in}, "user.a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	names, err := e.g.Top().Listxattr(c, &xlator.Loc{Inode: in})
	if err != nil || len(names) != 1 || names[0] != "user.a" {
		t.Errorf("listxattr %v, %v", names, err)
	}
	for i := range 3 {
		if v, err := e.mem(i).Getxattr(c, &xlator.Loc{Inode: in}, "user.a"); err != nil || string(v) != "1" {
			t.Errorf("m%d user.a = %q, %v", i, v, err)
		}
	}
}

func TestNamespace(t *testing.T) {
	e := newEnv(t, 2, options(kb16, false))
	top := e.g.Top()
	c := e.call(xlator.FopMkdir)
	defer c.Done()
	tab := e.g.Inodes()

	din := tab.New()
	dia, err := top.Mkdir(c, &xlator.Loc{Parent: e.root(), Name: "d", Inode: din}, 0o755, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := tab.Link(din, e.root(), "d", &dia)
	din.Unref()
	defer dir.Unref()

	in, fd, err := e.create(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	e.mustWrite(fd, 0, bytes.Repeat([]byte{1}, 3*kb16+5))

	// Rename d/a → d/b, link d/b → c, on every child.
	if err := top.Rename(c, &xlator.Loc{Parent: dir, Name: "a", Inode: in}, &xlator.Loc{Parent: dir, Name: "b"}, 0); err != nil {
		t.Fatal(err)
	}
	tab.Rename(dir, "a", dir, "b")
	lia, err := top.Link(c, &xlator.Loc{Inode: in}, &xlator.Loc{Parent: e.root(), Name: "c"})
	if err != nil || lia.Size != 3*kb16+5 || lia.Nlink != 2 {
		t.Fatalf("link: size %d nlink %d, %v", lia.Size, lia.Nlink, err)
	}
	for i := range 2 {
		for _, l := range []xlator.Loc{{Parent: dir, Name: "b"}, {Parent: e.root(), Name: "c"}} {
			if ia, err := e.childStat(i, &l); err != nil || ia.Gfid != in.GFID() {
				t.Errorf("m%d %s: %v, %v", i, l.Name, ia.Gfid, err)
			}
		}
		if _, err := e.childStat(i, &xlator.Loc{Parent: dir, Name: "a"}); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("m%d still has d/a: %v", i, err)
		}
	}

	// Symlink, readlink.
	sin := tab.New()
	sia, err := top.Symlink(c, "b", &xlator.Loc{Parent: dir, Name: "s", Inode: sin}, 0)
	if err != nil {
		t.Fatal(err)
	}
	sl := tab.Link(sin, dir, "s", &sia)
	sin.Unref()
	defer sl.Unref()
	if tgt, err := top.Readlink(c, &xlator.Loc{Inode: sl}); err != nil || tgt != "b" {
		t.Errorf("readlink %q %v", tgt, err)
	}

	// Readdirplus reports the logical size of files, child 0's attributes
	// for the rest.
	dfd := e.g.NewFD(dir, 0, 1, true)
	defer dfd.Unref()
	if err := top.Opendir(c, &xlator.Loc{Inode: dir}, dfd); err != nil {
		t.Fatal(err)
	}
	ents, err := top.Readdir(c, dfd, 0, 100, true)
	if err != nil || len(ents) != 2 {
		t.Fatalf("readdirplus: %v %v", ents, err)
	}
	for _, d := range ents {
		switch d.Name {
		case "b":
			if d.Attr.Size != 3*kb16+5 || d.Attr.Gfid != in.GFID() {
				t.Errorf("readdirplus b: size %d gfid %v", d.Attr.Size, d.Attr.Gfid)
			}
		case "s":
			if !d.Attr.IsSymlink() || d.Attr.Size != 1 {
				t.Errorf("readdirplus s: %+v", d.Attr)
			}
		}
	}

	// Statfs sums space, keeps the smallest file count.
	sv, err := top.Statfs(c, &xlator.Loc{Inode: e.root()})
	if err != nil || sv.Blocks != 2<<20 || sv.Bfree != 1<<20 || sv.Files != 1<<20 {
		t.Errorf("statfs %+v %v", sv, err)
	}

	// Unlink everything, rmdir: gone on every child.
	for _, l := range []xlator.Loc{{Parent: dir, Name: "b", Inode: in}, {Parent: e.root(), Name: "c", Inode: in}, {Parent: dir, Name: "s", Inode: sl}} {
		if err := top.Unlink(c, &l); err != nil {
			t.Fatalf("unlink %s: %v", l.Name, err)
		}
	}
	if err := top.Rmdir(c, &xlator.Loc{Parent: e.root(), Name: "d", Inode: dir}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := e.childStat(i, &xlator.Loc{Parent: e.root(), Name: "d"}); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("m%d still has d: %v", i, err)
		}
	}
	if d := e.s.Stats().Divergences; d != 0 {
		t.Errorf("%d divergences", d)
	}
}

func TestCreateRollback(t *testing.T) {
	e := newEnv(t, 3, options(kb16, false))
	e.shim(2).setFail(xlator.FopCreate, syscall.ENOSPC)
	if _, _, err := e.create(nil, "f"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create with child 2 failing: %v", err)
	}
	for i := range 3 {
		if _, err := e.childStat(i, &xlator.Loc{Parent: e.root(), Name: "f"}); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("m%d kept f after the rollback: %v", i, err)
		}
	}
	if n := e.shim(0).calls[xlator.FopUnlink].Load() + e.shim(1).calls[xlator.FopUnlink].Load(); n != 2 {
		t.Errorf("%d rollback unlinks, want 2", n)
	}
	if st := e.s.Stats(); st.Rollbacks != 1 || st.Divergences != 0 {
		t.Errorf("stats %+v", st)
	}
	// The geometry xattr failing counts as a failed create too.
	e.shim(2).setFail(xlator.FopCreate, 0)
	e.shim(1).setFail(xlator.FopSetxattr, syscall.EIO)
	if _, _, err := e.create(nil, "g"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("create with child 1's setxattr failing: %v", err)
	}
	for i := range 3 {
		if _, err := e.childStat(i, &xlator.Loc{Parent: e.root(), Name: "g"}); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("m%d kept g after the rollback: %v", i, err)
		}
	}
	e.shim(1).setFail(xlator.FopSetxattr, 0)
	// And now it works; without O_EXCL an existing file is opened.
	in, _ := e.mustCreate("f")
	in2, _, err := e.create(nil, "f")
	if err != nil || in2 != in {
		t.Fatalf("create of an existing file: %v", err)
	}
}

func TestEntryRollbacks(t *testing.T) {
	e := newEnv(t, 3, options(kb16, false))
	top := e.g.Top()
	c := e.call(xlator.FopMkdir)
	defer c.Done()
	root := e.root()
	exists := func(name string) (n int) {
		for i := range 3 {
			if _, err := e.childStat(i, &xlator.Loc{Parent: root, Name: name}); err == nil {
				n++
			}
		}
		return n
	}

	e.shim(1).setFail(xlator.FopMkdir, syscall.EDQUOT)
	if _, err := top.Mkdir(c, &xlator.Loc{Parent: root, Name: "d"}, 0o755, 0); !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("mkdir: %v", err)
	}
	if n := exists("d"); n != 0 {
		t.Errorf("mkdir rollback left d on %d children", n)
	}
	e.shim(1).setFail(xlator.FopMkdir, 0)

	in, _ := e.mustCreate("f")
	e.shim(2).setFail(xlator.FopLink, syscall.EMLINK)
	if _, err := top.Link(c, &xlator.Loc{Inode: in}, &xlator.Loc{Parent: root, Name: "l"}); !errors.Is(err, syscall.EMLINK) {
		t.Fatalf("link: %v", err)
	}
	if n := exists("l"); n != 0 {
		t.Errorf("link rollback left l on %d children", n)
	}

	e.shim(0).setFail(xlator.FopRename, syscall.EXDEV)
	if err := top.Rename(c, &xlator.Loc{Parent: root, Name: "f", Inode: in}, &xlator.Loc{Parent: root, Name: "g"}, 0); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("rename: %v", err)
	}
	if exists("f") != 3 || exists("g") != 0 {
		t.Errorf("rename rollback: f on %d children, g on %d", exists("f"), exists("g"))
	}
	e.shim(0).setFail(xlator.FopRename, 0)

	// Rmdir that fails on one child (a stray file there) is undone.
	din := e.g.Inodes().New()
	dia, err := top.Mkdir(c, &xlator.Loc{Parent: root, Name: "d", Inode: din}, 0o750, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := e.g.Inodes().Link(din, root, "d", &dia)
	din.Unref()
	defer dir.Unref()
	if _, err := e.mem(1).Mknod(c, &xlator.Loc{Parent: dir, Name: "stray"}, syscall.S_IFREG|0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := top.Rmdir(c, &xlator.Loc{Parent: root, Name: "d", Inode: dir}); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir: %v", err)
	}
	for i := range 3 {
		ia, err := e.childStat(i, &xlator.Loc{Parent: root, Name: "d"})
		if err != nil || ia.Gfid != dir.GFID() || ia.Mode&0o777 != 0o750 {
			t.Errorf("m%d after rmdir rollback: %v mode %o, %v", i, ia.Gfid, ia.Mode, err)
		}
	}
	if st := e.s.Stats(); st.Rollbacks != 4 {
		t.Errorf("rollbacks %d, want 4", st.Rollbacks)
	}
}

func TestLookupDiverged(t *testing.T) {
	e := newEnv(t, 2, options(kb16, false))
	c := e.call(xlator.FopMknod)
	defer c.Done()
	// A file made behind stripe's back on one child only.
	if _, err := e.mem(0).Mknod(c, &xlator.Loc{Parent: e.root(), Name: "half"}, syscall.S_IFREG|0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.lookup(nil, "half"); !errors.Is(err, syscall.EIO) {
		t.Errorf("lookup of a half file: %v, want EIO", err)
	}
	if _, _, err := e.lookup(nil, "nowhere"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("lookup of a missing name: %v, want ENOENT", err)
	}
	// Made on both with different gfids.
	if _, err := e.mem(0).Mknod(c, &xlator.Loc{Parent: e.root(), Name: "two"}, syscall.S_IFREG|0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mem(1).Mknod(c, &xlator.Loc{Parent: e.root(), Name: "two"}, syscall.S_IFREG|0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.lookup(nil, "two"); !errors.Is(err, syscall.EIO) {
		t.Errorf("lookup of a file with two gfids: %v, want EIO", err)
	}
}
