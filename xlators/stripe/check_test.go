package stripe

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// TestCheck damages a volume behind stripe's back in every way Kind names
// and checks that Check reports each file once, in walk order, naming both
// children, and writes nothing; a healthy volume has no problem.
func TestCheck(t *testing.T) {
	e := newEnv(t, 2, options(kb16, false))
	top := e.g.Top()
	c := e.call(xlator.FopMknod)
	defer c.Done()
	root := e.root()
	mkdir := func(parent *xlator.Inode, name string) *xlator.Inode {
		t.Helper()
		in := e.g.Inodes().New()
		ia, err := top.Mkdir(c, &xlator.Loc{Parent: parent, Name: name, Inode: in}, 0o755, 0)
		if err != nil {
			t.Fatal(err)
		}
		l := e.g.Inodes().Link(in, parent, name, &ia)
		in.Unref()
		t.Cleanup(l.Unref)
		return l
	}
	create := func(dir *xlator.Inode, name string) *xlator.Inode {
		t.Helper()
		in, fd, err := e.create(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		e.mustWrite(fd, 0, make([]byte, 3*kb16))
		return in
	}
	check := func() ([]Problem, CheckStats) {
		t.Helper()
		var got []Problem
		st, err := e.s.Check(c, func(p Problem) { got = append(got, p) })
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		return got, st
	}

	d := mkdir(root, "d")
	de := mkdir(d, "e")
	mkdir(root, "empty")
	create(root, "healthy")
	a, b, cc := create(root, "a"), create(d, "b"), create(de, "c")
	count, bad := create(root, "count"), create(root, "bad")
	if _, err := top.Symlink(c, "a", &xlator.Loc{Parent: root, Name: "s"}, 0); err != nil {
		t.Fatal(err)
	}
	if got, st := check(); len(got) != 0 || st.Dirs != 4 || st.Files != 6 || st.Others != 1 {
		t.Fatalf("healthy volume: problems %v, stats %+v", got, st)
	}

	e.setGeometryXattr(1, a, XattrKey, "")
	if err := e.mem(0).Unlink(c, &xlator.Loc{Parent: d, Name: "b", Inode: b}); err != nil {
		t.Fatal(err)
	}
	e.setGeometryXattr(1, cc, XattrKey, "block-size=32768 count=2 coalesce=0")
	for i := range 2 {
		e.setGeometryXattr(i, count, XattrKey, "block-size=16384 count=3 coalesce=0")
	}
	e.setGeometryXattr(0, bad, XattrKey, "x")
	if err := e.mem(1).Rmdir(c, &xlator.Loc{Parent: root, Name: "empty"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mem(0).Mknod(c, &xlator.Loc{Parent: root, Name: "types"}, syscall.S_IFREG|0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.mem(1).Mkdir(c, &xlator.Loc{Parent: root, Name: "types"}, 0o755, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := e.mem(i).Mknod(c, &xlator.Loc{Parent: root, Name: "twins"}, syscall.S_IFREG|0o644, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	writes := func() (n int32) {
		for i := range 2 {
			for _, f := range []xlator.Fop{xlator.FopSetxattr, xlator.FopRemovexattr, xlator.FopCreate, xlator.FopMkdir,
				xlator.FopUnlink, xlator.FopRmdir, xlator.FopRename, xlator.FopLink, xlator.FopSetattr, xlator.FopWritev} {
				n += e.shim(i).calls[f].Load()
			}
		}
		return n
	}
	before := writes()
	got, st := check()
	want := []struct {
		path string
		kind Kind
	}{
		{"/a", KindGeometryMissing},
		{"/bad", KindGeometryUnreadable},
		{"/count", KindGeometryCount},
		{"/d/b", KindMissing},
		{"/d/e/c", KindGeometryDiffers},
		{"/empty", KindMissing},
		{"/twins", KindGfid},
		{"/types", KindType},
	}
	if len(got) != len(want) || st.Problems != uint64(len(want)) {
		t.Errorf("%d problems (stats %+v), want %d: %v", len(got), st, len(want), got)
	}
	for i := range min(len(got), len(want)) {
		p := got[i]
		if p.Path != want[i].path || p.Kind != want[i].kind {
			t.Errorf("problem %d: %s, want %s: %s", i, p, want[i].path, want[i].kind)
		}
		if len(p.Children) != 2 || !strings.HasPrefix(p.Children[0], "c0: ") || !strings.HasPrefix(p.Children[1], "c1: ") {
			t.Errorf("problem %d does not name both children: %q", i, p.Children)
		}
	}
	if n := writes() - before; n != 0 {
		t.Errorf("check made %d write fops on the children", n)
	}

	// A check cancelled, or with a child down, stops with the error.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cc2 := e.g.Calls().Begin(cancelled, xlator.FopLookup, xlator.Creds{}, 0)
	defer cc2.Done()
	if _, err := e.s.Check(cc2, func(Problem) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("check with a cancelled context: %v", err)
	}
	e.s.Notify(xlator.EventChildDown, e.g.Xlator("c1"))
	if _, err := e.s.Check(c, func(Problem) {}); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("check with a child down: %v", err)
	}
}

// TestCheckUnlistable: a directory a child cannot list is a problem of
// its own, reported with the child's error; the names the other children
// list are still checked.
func TestCheckUnlistable(t *testing.T) {
	e := newEnv(t, 2, options(kb16, false))
	c := e.call(xlator.FopLookup)
	defer c.Done()
	if _, err := e.g.Top().Mkdir(c, &xlator.Loc{Parent: e.root(), Name: "d"}, 0o755, 0); err != nil {
		t.Fatal(err)
	}
	e.shim(1).setFail(xlator.FopOpendir, syscall.EACCES)
	var got []string
	st, err := e.s.Check(c, func(p Problem) { got = append(got, p.String()) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/: cannot be read on some children (c0: lists 1 names; c1: cannot list: permission denied)",
		"/d: cannot be read on some children (c0: lists 0 names; c1: cannot list: permission denied)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || st.Dirs != 2 {
		t.Errorf("problems (stats %+v):\n%s\nwant\n%s", st, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
