package xlator_test

import (
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

func TestInodeTable(t *testing.T) {
	var forgotten []xlator.GFID
	tab := xlator.NewTable(2, 2, func(in *xlator.Inode) { forgotten = append(forgotten, in.GFID()) })
	root := tab.Root()
	if root.GFID() != xlator.RootGFID || root.Path() != "/" {
		t.Fatalf("root %v %q", root.GFID(), root.Path())
	}
	mk := func(parent *xlator.Inode, name string, mode uint32) *xlator.Inode {
		ia := xlator.Iatt{Gfid: xlator.NewGFID(), Mode: mode}
		in := tab.New()
		l := tab.Link(in, parent, name, &ia)
		in.Unref()
		return l
	}
	d := mk(root, "dir", syscall.S_IFDIR|0o755)
	f := mk(d, "file", syscall.S_IFREG|0o644)
	if got := f.Path(); got != "/dir/file" {
		t.Fatalf("path %q", got)
	}
	if f.Type() != syscall.S_IFREG {
		t.Fatalf("type %o", f.Type())
	}
	if c := tab.Child(d, "file"); c != f {
		t.Fatalf("child lookup")
	} else {
		c.Unref()
	}
	// Linking the same gfid again (a hard link) returns the same inode.
	ia := xlator.Iatt{Gfid: f.GFID(), Mode: syscall.S_IFREG}
	h := tab.Link(nil, root, "hard", &ia)
	if h != f {
		t.Fatal("hard link made a second inode")
	}
	h.Unref()
	tab.Rename(d, "file", root, "moved")
	if got := tab.Child(d, "file"); got != nil {
		t.Fatal("old name still resolves")
	}
	if c := tab.Child(root, "moved"); c != f {
		t.Fatal("new name does not resolve")
	} else {
		c.Unref()
	}
	tab.Unlink(root, "hard")
	// Lookup counts keep inodes out of the LRU.
	tab.AddLookup(f, 3)
	f.Unref()
	if s := tab.Stats(); s.LRU != 0 {
		t.Fatalf("inode with lookups on the LRU: %+v", s)
	}
	tab.ForgetLookup(f, 2)
	if s := tab.Stats(); s.LRU != 0 {
		t.Fatalf("%+v", s)
	}
	tab.ForgetLookup(f, 1)
	if s := tab.Stats(); s.LRU != 1 {
		t.Fatalf("%+v", s)
	}
	d.Unref()
	// LRU limit 2: a third idle inode pushes the oldest out.
	x := mk(root, "x", syscall.S_IFREG)
	x.Unref()
	if len(forgotten) != 1 || forgotten[0] != f.GFID() {
		t.Fatalf("forgotten %v, want %v", forgotten, f.GFID())
	}
	if got := tab.Find(f.GFID()); got != nil {
		t.Fatal("forgotten inode still found")
	}
	// Context slots.
	tab.Purge()
	if s := tab.Stats(); s.Linked != 1 || s.LRU != 0 {
		t.Fatalf("after purge %+v", s)
	}
}

func TestInodeUnrefBelowZeroIsCounted(t *testing.T) {
	tab := xlator.NewTable(1, 0, nil)
	in := tab.New()
	in.Unref()
	in.Unref()
	if s := tab.Stats(); s.Errors != 1 {
		t.Fatalf("errors %d", s.Errors)
	}
}

func TestGFIDString(t *testing.T) {
	g := xlator.NewGFID()
	p, err := xlator.ParseGFID(g.String())
	if err != nil || p != g {
		t.Fatalf("round trip %v %v %v", g, p, err)
	}
	if xlator.RootGFID.String() != "00000000-0000-0000-0000-000000000001" {
		t.Fatal(xlator.RootGFID.String())
	}
	if _, err := xlator.ParseGFID("nope"); err == nil {
		t.Fatal("parsed nonsense")
	}
}

// TestInodeTableClose: closing the table forgets every inode once — idle,
// looked up, or still referenced — so translators' contexts go back to
// their pools before the pools are destroyed.
func TestInodeTableClose(t *testing.T) {
	n := map[xlator.GFID]int{}
	tab := xlator.NewTable(1, 0, func(in *xlator.Inode) { n[in.GFID()]++ })
	link := func(name string) *xlator.Inode {
		ia := xlator.Iatt{Gfid: xlator.NewGFID(), Mode: syscall.S_IFREG | 0o644}
		in := tab.New()
		l := tab.Link(in, tab.Root(), name, &ia)
		in.Unref()
		return l
	}
	idle := link("idle")
	idle.Unref()
	looked := link("looked")
	tab.AddLookup(looked, 2)
	looked.Unref()
	held := link("held")
	tab.Close()
	for _, in := range []*xlator.Inode{idle, looked, held, tab.Root()} {
		if n[in.GFID()] != 1 {
			t.Errorf("%v forgotten %d times, want 1", in.GFID(), n[in.GFID()])
		}
	}
	if s := tab.Stats(); s.Linked != 2 || s.LRU != 0 {
		t.Errorf("after Close: %+v, want the held inode and the root", s)
	}
	if c := tab.Child(tab.Root(), "looked"); c != nil {
		t.Error("a forgotten inode still resolves")
	}
	// The holder lets go: the inode goes to the LRU, not forgotten twice.
	held.Unref()
	if n[held.GFID()] != 1 {
		t.Errorf("held inode forgotten %d times after Unref", n[held.GFID()])
	}
}

// TestNamesKeepParents: a directory the table knows a child name in stays
// in the table, however full the LRU list gets, so the child's path stays
// whole; once its last child name goes it is an ordinary idle inode.
func TestNamesKeepParents(t *testing.T) {
	forgotten := map[xlator.GFID]int{}
	tab := xlator.NewTable(1, 2, func(in *xlator.Inode) { forgotten[in.GFID()]++ })
	mk := func(parent *xlator.Inode, name string, mode uint32) *xlator.Inode {
		ia := xlator.Iatt{Gfid: xlator.NewGFID(), Mode: mode}
		in := tab.New()
		l := tab.Link(in, parent, name, &ia)
		in.Unref()
		return l
	}
	d := mk(tab.Root(), "d", syscall.S_IFDIR|0o755)
	sub := mk(d, "sub", syscall.S_IFDIR|0o755)
	f := mk(sub, "f", syscall.S_IFREG|0o644) // held by the test
	sub.Unref()
	d.Unref()
	// Churn: many idle inodes pass through the two-entry LRU list.
	for i := range 20 {
		mk(tab.Root(), "x"+string(rune('a'+i)), syscall.S_IFREG|0o644).Unref()
	}
	if forgotten[d.GFID()] != 0 || forgotten[sub.GFID()] != 0 {
		t.Fatalf("a parent of a held file was forgotten: %v", forgotten)
	}
	if got := f.Path(); got != "/d/sub/f" {
		t.Fatalf("path of a held file after churn: %q", got)
	}
	if s := tab.Stats(); s.Active != 1 {
		t.Fatalf("active %d: the names' hold on their parents is not a reference", s.Active)
	}
	// The file goes: its parents become idle, and churn drops them, the
	// deepest first.
	tab.Unlink(sub, "f")
	f.Unref()
	for i := range 20 {
		mk(tab.Root(), "y"+string(rune('a'+i)), syscall.S_IFREG|0o644).Unref()
	}
	if forgotten[f.GFID()] != 1 || forgotten[sub.GFID()] != 1 || forgotten[d.GFID()] != 1 {
		t.Fatalf("after the file went, forgets: file %d sub %d d %d", forgotten[f.GFID()], forgotten[sub.GFID()], forgotten[d.GFID()])
	}
	// Rename keeps the right parents: a file moved into a directory keeps
	// that one, no longer the old.
	a := mk(tab.Root(), "a", syscall.S_IFDIR|0o755)
	b := mk(tab.Root(), "b", syscall.S_IFDIR|0o755)
	g := mk(a, "g", syscall.S_IFREG|0o644)
	tab.Rename(a, "g", b, "g")
	a.Unref()
	b.Unref()
	for i := range 20 {
		mk(tab.Root(), "z"+string(rune('a'+i)), syscall.S_IFREG|0o644).Unref()
	}
	if forgotten[a.GFID()] != 1 || forgotten[b.GFID()] != 0 || g.Path() != "/b/g" {
		t.Fatalf("after rename: a forgotten %d, b forgotten %d, path %q", forgotten[a.GFID()], forgotten[b.GFID()], g.Path())
	}
	g.Unref()
	tab.Close()
	if forgotten[b.GFID()] != 1 || forgotten[g.GFID()] != 1 {
		t.Fatalf("Close left b %d g %d", forgotten[b.GFID()], forgotten[g.GFID()])
	}
}
