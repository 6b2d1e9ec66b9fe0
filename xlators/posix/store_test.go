package posix

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// storeModel reads the brick with plain system calls, independently of
// the store's code: want is the entries the store must hold for the files
// of the brick ("link <inode>" for a non-directory, "symlink <target>" for
// a directory, keyed by "ab/cd/<gfid>"), got what .xstack/gfid holds in
// the same form, unlinked the names in .xstack/unlink.
func storeModel(t *testing.T, b *brick) (want, got map[string]string, unlinked []string) {
	t.Helper()
	want, got = map[string]string{}, map[string]string{}
	gfidOfPath := func(p string) xlator.GFID {
		var g xlator.GFID
		n, err := unix.Lgetxattr(p, b.px.gfidKey, g[:])
		if err != nil || n != len(g) {
			var st unix.Stat_t
			if lerr := unix.Lstat(p, &st); lerr == nil && st.Mode&syscall.S_IFMT == syscall.S_IFLNK && !b.px.privileged {
				return linkGfid(&st)
			}
			t.Fatalf("gfid of %s: %v", p, err)
		}
		return g
	}
	key := func(g xlator.GFID) string {
		s := g.String()
		return s[0:2] + "/" + s[2:4] + "/" + s
	}
	want[key(xlator.RootGFID)] = "symlink ../../../.."
	err := filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.dir, p)
		if rel == "." {
			return nil
		}
		if rel == internalDir {
			return filepath.SkipDir
		}
		g := gfidOfPath(p)
		if d.IsDir() {
			parent := xlator.RootGFID
			if dir := filepath.Dir(p); dir != b.dir {
				parent = gfidOfPath(dir)
			}
			want[key(g)] = "symlink ../../" + key(parent) + "/" + d.Name()
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		want[key(g)] = "link " + strconv.FormatUint(st.Ino, 10)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(b.dir, internalDir, storeDir)
	err = filepath.WalkDir(sdir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(sdir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFLNK && st.Nlink == 1 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "symlink " + target
		} else {
			got[rel] = "link " + strconv.FormatUint(st.Ino, 10)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(b.dir, internalDir, unlinkDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		unlinked = append(unlinked, e.Name())
	}
	return want, got, unlinked
}

// consistent checks that the store holds exactly the brick's entries,
// that unlink/ holds exactly the gfids in open, and that CheckStore agrees.
func consistent(t *testing.T, b *brick, step string, open ...xlator.GFID) {
	t.Helper()
	want, got, unlinked := storeModel(t, b)
	if !maps.Equal(want, got) {
		var diff []string
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if got[k] != want[k] {
				diff = append(diff, fmt.Sprintf("  %s: want %q, got %q", k, want[k], got[k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(got)) {
			if _, ok := want[k]; !ok {
				diff = append(diff, fmt.Sprintf("  %s: want nothing, got %q", k, got[k]))
			}
		}
		t.Errorf("after %s the store differs from the brick:\n%s", step, strings.Join(diff, "\n"))
	}
	var wantUnlinked []string
	for _, g := range open {
		wantUnlinked = append(wantUnlinked, g.String())
	}
	slices.Sort(wantUnlinked)
	if !slices.Equal(unlinked, wantUnlinked) {
		t.Errorf("after %s unlink/ holds %v, want %v", step, unlinked, wantUnlinked)
	}
	var problems []string
	if _, err := b.px.CheckStore(false, func(p StoreProblem) { problems = append(problems, p.String()) }); err != nil {
		t.Errorf("after %s CheckStore: %v", step, err)
	}
	// unlink/ holds files open in this stack: no problem while it runs,
	// but CheckStore (meant for a stack that serves nobody) lists them.
	if len(problems) != len(open) {
		t.Errorf("after %s CheckStore reports %q", step, problems)
	}
}

// TestStoreFollowsEntryFops runs every entry fop through the stack and
// checks after each that the store holds exactly one right entry per
// gfid, and that clients see link counts without the store's link.
func TestStoreFollowsEntryFops(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	consistent(t, b, "start")
	c := b.call(xlator.FopLookup)
	defer c.Done()
	var d, e, f *xlator.Inode
	steps := []struct {
		name string
		do   func() error
	}{
		{"mkdir", func() error { d = b.mustMkdir(root, "d"); e = b.mustMkdir(d, "e"); return nil }},
		{"create", func() error {
			var ia xlator.Iatt
			var err error
			var fd *xlator.FD
			f, fd, ia, err = b.create(d, "f", syscall.O_RDWR, 0o644, 0)
			if err != nil {
				return err
			}
			fd.Unref()
			if ia.Nlink != 1 {
				return fmt.Errorf("new file reports nlink %d, want 1", ia.Nlink)
			}
			return nil
		}},
		{"mknod", func() error {
			_, err := b.top().Mknod(c, &xlator.Loc{Parent: e, Name: "fifo"}, syscall.S_IFIFO|0o600, 0, 0)
			return err
		}},
		{"symlink", func() error {
			_, err := b.top().Symlink(c, "../f", &xlator.Loc{Parent: e, Name: "sl"}, 0)
			return err
		}},
		{"link", func() error {
			ia, err := b.top().Link(c, &xlator.Loc{Inode: f}, &xlator.Loc{Parent: root, Name: "hard"})
			if err == nil && ia.Nlink != 2 {
				err = fmt.Errorf("link reports nlink %d, want 2", ia.Nlink)
			}
			return err
		}},
		{"stat", func() error {
			ia, err := b.stat(&xlator.Loc{Inode: f})
			if err == nil && ia.Nlink != 2 {
				err = fmt.Errorf("stat reports nlink %d, want 2", ia.Nlink)
			}
			return err
		}},
		{"unlink one of two names", func() error { return b.top().Unlink(c, &xlator.Loc{Parent: root, Name: "hard"}) }},
		{"rename a file", func() error {
			return b.top().Rename(c, &xlator.Loc{Parent: d, Name: "f"}, &xlator.Loc{Parent: e, Name: "g"}, 0)
		}},
		{"rename a directory", func() error {
			return b.top().Rename(c, &xlator.Loc{Parent: root, Name: "d"}, &xlator.Loc{Parent: root, Name: "d2"}, 0)
		}},
		{"rename a directory into another", func() error {
			b.mustMkdir(root, "x")
			return b.top().Rename(c, &xlator.Loc{Parent: d, Name: "e"}, &xlator.Loc{Parent: root, Name: "e"}, 0)
		}},
		{"rename a file over a file", func() error {
			b.touch(root, "victim")
			return b.top().Rename(c, &xlator.Loc{Parent: e, Name: "g"}, &xlator.Loc{Parent: root, Name: "victim"}, 0)
		}},
		{"rename a directory over an empty one", func() error {
			return b.top().Rename(c, &xlator.Loc{Parent: root, Name: "x"}, &xlator.Loc{Parent: root, Name: "d2"}, 0)
		}},
		{"exchange a file and a directory", func() error {
			return b.top().Rename(c, &xlator.Loc{Parent: root, Name: "victim"}, &xlator.Loc{Parent: root, Name: "e"}, xlator.RenameExchange)
		}},
		{"rename a file onto another name of itself", func() error {
			if _, err := b.top().Link(c, &xlator.Loc{Parent: root, Name: "e"}, &xlator.Loc{Parent: root, Name: "e2"}); err != nil {
				return err
			}
			return b.top().Rename(c, &xlator.Loc{Parent: root, Name: "e"}, &xlator.Loc{Parent: root, Name: "e2"}, 0)
		}},
		{"unlink", func() error {
			for _, n := range []string{"e", "e2"} {
				if err := b.top().Unlink(c, &xlator.Loc{Parent: root, Name: n}); err != nil {
					return err
				}
			}
			return b.top().Unlink(c, &xlator.Loc{Parent: b.mustLookup(root, "victim"), Name: "fifo"})
		}},
		{"rmdir", func() error {
			v := b.mustLookup(root, "victim")
			if err := b.top().Unlink(c, &xlator.Loc{Parent: v, Name: "sl"}); err != nil {
				return err
			}
			return b.top().Rmdir(c, &xlator.Loc{Parent: root, Name: "victim"})
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		consistent(t, b, s.name)
	}
}

// touch creates a file through the stack and closes it.
func (b *brick) touch(parent *xlator.Inode, name string) *xlator.Inode {
	b.tb.Helper()
	in, fd, _, err := b.create(parent, name, syscall.O_RDWR, 0o644, 0)
	if err != nil {
		b.tb.Fatalf("create %s: %v", name, err)
	}
	fd.Unref()
	return in
}

func (b *brick) mustLookup(parent *xlator.Inode, name string) *xlator.Inode {
	b.tb.Helper()
	in, _, err := b.lookup(parent, name)
	if err != nil {
		b.tb.Fatalf("lookup %s: %v", name, err)
	}
	return in
}

// TestRenameOverOpenFile: a file renamed over while open stays readable
// through its fd and reachable by its inode (by gfid, from unlink/), and
// its entry goes with its last fd.
func TestRenameOverOpenFile(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	a, afd, _, err := b.create(root, "a", syscall.O_RDWR, 0o644, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.mustWrite(afd, 0, []byte("old data"))
	b.touch(root, "b")
	c := b.call(xlator.FopRename)
	if err := b.top().Rename(c, &xlator.Loc{Parent: root, Name: "b"}, &xlator.Loc{Parent: root, Name: "a"}, 0); err != nil {
		t.Fatal(err)
	}
	c.Done()
	consistent(t, b, "rename over an open file", a.GFID())

	ia, err := b.fstat(afd)
	if err != nil || ia.Nlink != 0 || ia.Size != 8 || ia.Gfid != a.GFID() {
		t.Errorf("fstat through the old fd: %+v %v; want nlink 0, 8 bytes, its gfid", ia, err)
	}
	equal(t, "read through the old fd", b.mustRead(afd, 0, 100), []byte("old data"))
	// The inode's dentry now names the new file: by gfid it is the old one.
	ia, err = b.stat(&xlator.Loc{Inode: a})
	if err != nil || ia.Gfid != a.GFID() || ia.Size != 8 || ia.Nlink != 0 {
		t.Errorf("stat by inode: %+v %v; want the renamed-over file", ia, err)
	}
	a2, err := b.open(&xlator.Loc{Inode: a}, syscall.O_RDONLY)
	if err != nil {
		t.Fatalf("open by inode: %v", err)
	}
	equal(t, "read through a new fd opened by gfid", b.mustRead(a2, 0, 100), []byte("old data"))

	afd.Unref()
	consistent(t, b, "release of one of two fds", a.GFID())
	a2.Unref()
	consistent(t, b, "release of the last fd")
	_, err = b.stat(&xlator.Loc{Inode: a})
	errIs(t, "stat by inode once closed", err, syscall.ENOENT)
}

// TestUnlinkWhileOpen: an unlinked open file keeps its data and its
// identity until its last fd goes; then nothing of it is left.
func TestUnlinkWhileOpen(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	f, fd, _, err := b.create(root, "f", syscall.O_RDWR, 0o644, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.mustWrite(fd, 0, pattern(1<<20, 3))
	c := b.call(xlator.FopUnlink)
	if err := b.top().Unlink(c, &xlator.Loc{Parent: root, Name: "f"}); err != nil {
		t.Fatal(err)
	}
	c.Done()
	b.g.Inodes().Unlink(root, "f")
	consistent(t, b, "unlink of an open file", f.GFID())
	equal(t, "read after unlink", b.mustRead(fd, 0, 1<<20), pattern(1<<20, 3))
	b.mustWrite(fd, 1<<20, []byte("more"))
	if ia, err := b.stat(&xlator.Loc{Inode: f}); err != nil || ia.Nlink != 0 || ia.Size != 1<<20+4 {
		t.Errorf("stat by inode (no dentry) after unlink: %+v %v", ia, err)
	}
	fd.Unref()
	// No link is left in gfid/ or unlink/: the file's space is free.
	consistent(t, b, "release")
	_, err = b.stat(&xlator.Loc{Inode: f})
	errIs(t, "stat by inode after the last release", err, syscall.ENOENT)
}

// TestResolveWithoutName: inodes the table knows without a name (no
// dentry) are found by gfid, a directory through its parents' entries,
// which survive a rename of an ancestor.
func TestResolveWithoutName(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	a := b.mustMkdir(root, "a")
	bb := b.mustMkdir(a, "b")
	f, fd := b.mustCreate(bb, "f")
	b.mustWrite(fd, 0, []byte("deep"))
	c := b.call(xlator.FopRename)
	if err := b.top().Rename(c, &xlator.Loc{Parent: root, Name: "a"}, &xlator.Loc{Parent: root, Name: "z"}, 0); err != nil {
		t.Fatal(err)
	}
	c.Done()
	// The table is not told: its dentries are stale, the handles gone.
	for _, in := range []*xlator.Inode{a, bb} {
		b.px.Forget(in)
	}
	b.g.Inodes().Unlink(bb, "f")
	b.g.Inodes().Unlink(a, "b")

	ia, err := b.stat(&xlator.Loc{Inode: f})
	if err != nil || ia.Gfid != f.GFID() || ia.Size != 4 {
		t.Errorf("stat of a file with no dentry: %+v %v", ia, err)
	}
	if _, _, _, err := b.create(bb, "new", syscall.O_RDWR, 0o644, 0); err != nil {
		t.Errorf("create in a directory with no dentry, whose ancestor was renamed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "z", "b", "new")); err != nil {
		t.Errorf("the file was not created in the directory: %v", err)
	}
	dfd, err := b.opendir(&xlator.Loc{Inode: bb})
	if err != nil {
		t.Fatalf("opendir by gfid: %v", err)
	}
	defer dfd.Unref()
	if ents := b.readdirAll(dfd, 10, false); len(ents) != 2 {
		t.Errorf("listing by gfid: %+v", ents)
	}
	if ia, err := b.stat(&xlator.Loc{Inode: a}); err != nil || ia.Gfid != a.GFID() {
		t.Errorf("stat of the renamed ancestor by its stale dentry: %+v %v", ia, err)
	}
}

// TestOpenRacingRename: opens by inode racing renames over the name (the
// go-fuse posixtest OpenSymlinkRace through posix) either open the file
// the inode is, or find it gone: never ESTALE, never another file.
func TestOpenRacingRename(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	const rounds = 300
	inodes := make(chan *xlator.Inode, rounds)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(inodes)
		c := b.call(xlator.FopRename)
		defer c.Done()
		for i := range rounds {
			in, fd, _, err := b.create(root, "tmp", syscall.O_RDWR, 0o644, 0)
			if err != nil {
				t.Errorf("create: %v", err)
				return
			}
			b.mustWrite(fd, 0, []byte(in.GFID().String()))
			fd.Unref()
			inodes <- in
			if err := b.top().Rename(c, &xlator.Loc{Parent: root, Name: "tmp"}, &xlator.Loc{Parent: root, Name: "path"}, 0); err != nil {
				t.Errorf("rename: %v", err)
				return
			}
			b.g.Inodes().Rename(root, "tmp", root, "path")
			if i%2 == 0 {
				// A symlink over it, as OpenSymlinkRace does.
				if _, err := b.top().Symlink(c, "/etc/passwd", &xlator.Loc{Parent: root, Name: "tmp2"}, 0); err != nil {
					t.Errorf("symlink: %v", err)
					return
				}
				if err := b.top().Rename(c, &xlator.Loc{Parent: root, Name: "tmp2"}, &xlator.Loc{Parent: root, Name: "path"}, 0); err != nil {
					t.Errorf("rename: %v", err)
					return
				}
				b.g.Inodes().Unlink(root, "path")
			}
		}
	})
	var opened, gone int
	for in := range inodes {
		fd, err := b.open(&xlator.Loc{Inode: in}, syscall.O_RDONLY)
		switch {
		case err == nil:
			opened++
			got := b.mustRead(fd, 0, 100)
			if string(got) != in.GFID().String() {
				t.Errorf("open by inode %s read %q: another file", in.GFID(), got)
			}
			fd.Unref()
		case errors.Is(err, syscall.ENOENT):
			gone++
		default:
			t.Errorf("open by inode racing a rename: %v", err)
		}
	}
	wg.Wait()
	t.Logf("opened %d, gone %d", opened, gone)
	consistent(t, b, "the race")
}

// TestStoreBehindBack: entries the brick's own edits made stale are never
// followed to another file, and lookup repairs them.
func TestStoreBehindBack(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	sdir := filepath.Join(b.dir, internalDir, storeDir)

	// A file removed behind the stack's back: its entry is an orphan,
	// not followed.
	gone, _ := b.mustCreate(root, "gone")
	if err := os.Remove(filepath.Join(b.dir, "gone")); err != nil {
		t.Fatal(err)
	}
	b.g.Inodes().Unlink(root, "gone")
	_, err := b.stat(&xlator.Loc{Inode: gone})
	errIs(t, "stat by gfid of a file removed behind the back", err, syscall.ENOENT)

	// An entry swapped for another file (of another gfid): not followed.
	f, fd := b.mustCreate(root, "f")
	b.mustWrite(fd, 0, []byte("right"))
	other, ofd := b.mustCreate(root, "other")
	b.mustWrite(ofd, 0, []byte("wrong"))
	ep := filepath.Join(sdir, entryPath(f.GFID()))
	if err := os.Remove(ep); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(b.dir, "other"), ep); err != nil {
		t.Fatal(err)
	}
	b.g.Inodes().Unlink(root, "f")
	_, err = b.stat(&xlator.Loc{Inode: f})
	errIs(t, "stat by gfid through an entry of another gfid", err, syscall.ESTALE)
	fd2, err := b.open(&xlator.Loc{Inode: f}, syscall.O_RDWR|syscall.O_TRUNC)
	errIs(t, "open by gfid through an entry of another gfid", err, syscall.ESTALE)
	if err == nil {
		fd2.Unref()
	}
	if data, _ := os.ReadFile(filepath.Join(b.dir, "other")); string(data) != "wrong" {
		t.Errorf("the other file was changed: %q", data)
	}
	// Lookup by name repairs the entry.
	b.mustLookup(root, "f")
	b.g.Inodes().Unlink(root, "f")
	if ia, err := b.stat(&xlator.Loc{Inode: f}); err != nil || ia.Size != 5 {
		t.Errorf("stat by gfid after lookup repaired the entry: %+v %v", ia, err)
	}
	_ = other

	// A directory renamed behind the stack's back: its symlink names the
	// old place, where another directory now is.
	d := b.mustMkdir(root, "d")
	b.mustCreate(d, "inside")
	if err := os.Rename(filepath.Join(b.dir, "d"), filepath.Join(b.dir, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(b.dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	b.px.Forget(d)
	b.g.Inodes().Unlink(root, "d")
	_, err = b.stat(&xlator.Loc{Inode: d})
	errIs(t, "stat by gfid of a directory renamed behind the back", err, syscall.ESTALE)
	_, _, _, err = b.create(d, "x", syscall.O_RDWR, 0o644, 0)
	errIs(t, "create in it", err, syscall.ESTALE)
	if _, err := os.Stat(filepath.Join(b.dir, "d", "x")); err == nil {
		t.Error("created in the directory that took the old name")
	}
	b.mustLookup(root, "moved")
	b.px.Forget(d)
	b.g.Inodes().Unlink(root, "moved")
	if _, _, _, err := b.create(d, "x", syscall.O_RDWR, 0o644, 0); err != nil {
		t.Errorf("create by gfid after lookup repaired the entry: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "moved", "x")); err != nil {
		t.Errorf("not created in the right directory: %v", err)
	}
	if b.px.store.stats.stale.Load() == 0 || b.px.store.stats.repaired.Load() == 0 {
		t.Errorf("stale %d, repaired %d: both should count", b.px.store.stats.stale.Load(), b.px.store.stats.repaired.Load())
	}
}

// TestOldBrick: a brick made before the store gets its entries at lookup
// (or all at once from CheckStore with repair).
func TestOldBrick(t *testing.T) {
	dir := t.TempDir()
	set := map[string]string{"directory": dir, "health-check-interval": "0"}
	b := newBrick(t, set)
	root := b.root()
	d := b.mustMkdir(root, "d")
	b.touch(d, "f")
	b.touch(root, "g")
	b.g.Stop()
	if err := os.RemoveAll(filepath.Join(dir, internalDir, storeDir)); err != nil {
		t.Fatal(err)
	}
	// A file made behind the stack's back has no gfid at all.
	if err := os.WriteFile(filepath.Join(dir, "d", "foreign"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	b = newBrick(t, maps.Clone(set))
	root = b.root()
	d = b.mustLookup(root, "d")
	f := b.mustLookup(d, "f")
	b.mustLookup(d, "foreign")
	b.g.Inodes().Unlink(d, "f")
	// Readdirplus gives clients inodes without a lookup: it makes entries too.
	sub := b.mustMkdir(d, "sub")
	if err := os.RemoveAll(filepath.Join(dir, internalDir, storeDir, entryPath(sub.GFID()))); err != nil {
		t.Fatal(err)
	}
	dfd, err := b.opendir(&xlator.Loc{Inode: d})
	if err != nil {
		t.Fatal(err)
	}
	b.readdirAll(dfd, 10, true)
	dfd.Unref()
	if _, err := b.stat(&xlator.Loc{Inode: f}); err != nil {
		t.Errorf("stat by gfid of a file looked up on an old brick: %v", err)
	}
	var problems []string
	st, err := b.px.CheckStore(false, func(p StoreProblem) { problems = append(problems, p.String()) })
	if err != nil || st.Problems != 1 || len(problems) != 1 || !strings.HasPrefix(problems[0], "missing entry: /g ") {
		t.Errorf("check after lookups of all but /g: %+v %v %q", st, err, problems)
	}
	st, err = b.px.CheckStore(true, func(StoreProblem) {})
	if err != nil || st.Repaired != 1 {
		t.Errorf("repair: %+v %v", st, err)
	}
	consistent(t, b, "repair of an old brick")
}

// TestUnlinkedPurgedAtStart: files left in unlink/ by a stack that died
// with them open are removed when the next stack starts.
func TestUnlinkedPurgedAtStart(t *testing.T) {
	dir := t.TempDir()
	set := map[string]string{"directory": dir, "health-check-interval": "0"}
	b := newBrick(t, set)
	b.g.Stop()
	left := filepath.Join(dir, internalDir, unlinkDir, xlator.NewGFID().String())
	if err := os.WriteFile(left, []byte("left over"), 0o600); err != nil {
		t.Fatal(err)
	}
	b = newBrick(t, maps.Clone(set))
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("unlink/ entry survived the start: %v", err)
	}
	consistent(t, b, "start")
}

// TestCheckStore damages a brick's store and its files behind the stack's
// back, one kind of damage each, and checks CheckStore's report and repair.
func TestCheckStore(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	sdir := filepath.Join(b.dir, internalDir, storeDir)
	entry := func(in *xlator.Inode) string { return filepath.Join(sdir, entryPath(in.GFID())) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	d := b.mustMkdir(root, "d")
	missing := b.touch(d, "missing")
	must(os.Remove(entry(missing)))
	stale := b.touch(root, "stale")
	orphan := b.touch(root, "orphan")
	must(os.Remove(filepath.Join(b.dir, "orphan")))
	must(os.Remove(entry(stale)))
	must(os.Link(entry(orphan), entry(stale))) // the orphan's file under stale's gfid
	wrong := xlator.NewGFID()
	must(os.MkdirAll(filepath.Dir(filepath.Join(sdir, entryPath(wrong))), 0o700))
	w := b.touch(root, "w")
	must(os.Link(filepath.Join(b.dir, "w"), filepath.Join(sdir, entryPath(wrong))))
	e := b.mustMkdir(root, "e")
	must(os.Remove(entry(e)))
	must(os.Symlink("../../nowhere", entry(e)))
	gone := b.mustMkdir(root, "gone")
	must(os.Remove(filepath.Join(b.dir, "gone")))
	must(os.WriteFile(filepath.Join(b.dir, "d", "nogfid"), nil, 0o644))
	must(os.WriteFile(filepath.Join(sdir, "junk"), nil, 0o644))
	must(os.WriteFile(filepath.Join(b.dir, internalDir, unlinkDir, "left"), nil, 0o644))
	_ = w

	var lines []string
	st, err := b.px.CheckStore(false, func(p StoreProblem) { lines = append(lines, p.String()) })
	if err != nil {
		t.Fatal(err)
	}
	en := func(in *xlator.Inode) string { return internalDir + "/" + storeDir + "/" + entryPath(in.GFID()) }
	want := []string{
		"missing entry: /d/missing (" + en(missing) + ")",
		"no gfid: /d/nogfid: made behind the stack's back and never looked up",
		`stale entry: /e (` + en(e) + `): it points to "../../nowhere", not "../../` + entryPath(xlator.RootGFID) + `/e"`,
		"stale entry: /stale (" + en(stale) + ")",
		"stale entry: " + en(gone) + ": no directory of the brick carries its gfid",
		"orphan entry: " + en(orphan) + ": its file (0 bytes) has no name in the brick",
		"entry of another gfid: .xstack/gfid/" + entryPath(wrong) + ": its file carries gfid " + w.GFID().String(),
		"junk in the store: .xstack/gfid/junk: not a directory of two hex digits",
		"leftover unlinked file: .xstack/unlink/left: a file unlinked while open, left by a stack that stopped",
	}
	// Entries are listed in gfid order: sort the part that depends on it.
	sortTail := func(l []string) []string {
		l = slices.Clone(l)
		if len(l) >= 7 {
			slices.Sort(l[4:7])
		}
		return l
	}
	got := make([]string, len(lines))
	for i, l := range lines {
		got[i] = l
		if strings.HasPrefix(l, "stale entry: /stale") {
			got[i] = l[:strings.Index(l, ")")+1] // the inode numbers vary
		}
	}
	if !slices.Equal(sortTail(got), sortTail(want)) || st.Problems != uint64(len(want)) {
		t.Errorf("check found %d problems:\n%s\nwant:\n%s", st.Problems, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st.Dirs != 3 || st.Files != 4 {
		t.Errorf("stats %+v: want 3 directories (root, d, e), 4 files", st)
	}

	var repaired []string
	st, err = b.px.CheckStore(true, func(p StoreProblem) { repaired = append(repaired, p.String()) })
	if err != nil || st.Repaired != st.Problems || st.Problems != uint64(len(want)) {
		t.Errorf("repair: %+v %v\n%s", st, err, strings.Join(repaired, "\n"))
	}
	for _, l := range repaired {
		if !strings.HasSuffix(l, " (repaired)") {
			t.Errorf("not repaired: %s", l)
		}
	}
	consistent(t, b, "repair")
	if _, err := b.px.CheckStore(true, func(p StoreProblem) { t.Errorf("after repair: %s", p) }); err != nil {
		t.Error(err)
	}
}

// TestCheckStoreDuplicate: two files carrying one gfid are reported and
// left alone.
func TestCheckStoreDuplicate(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	f, _ := b.mustCreate(b.root(), "f")
	if err := os.WriteFile(filepath.Join(b.dir, "g"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g := f.GFID()
	if err := unix.Setxattr(filepath.Join(b.dir, "g"), b.px.gfidKey, g[:], 0); err != nil {
		t.Fatal(err)
	}
	var lines []string
	st, err := b.px.CheckStore(true, func(p StoreProblem) { lines = append(lines, p.String()) })
	want := "duplicate gfid: /g: /f carries gfid " + f.GFID().String() + " too: give one of them a new identity (copy it without its xattrs, then remove it)"
	if err != nil || st.Repaired != 0 || !slices.Equal(lines, []string{want}) {
		t.Errorf("check: %+v %v\n%s\nwant\n%s", st, err, strings.Join(lines, "\n"), want)
	}
}

// TestStoreErrorKeepsFop: an entry that cannot be made does not fail the
// create; it is counted, the first such error logged as a warning, and
// the file is still reached by name.
func TestStoreErrorKeepsFop(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	env := newObservedEnv(t, core)
	b := newBrickWith(t, env, map[string]string{"directory": t.TempDir(), "health-check-interval": "0"})
	root := b.root()
	g := xlator.NewGFID()
	// The store's first level for g is a file: no entry can go under it.
	if err := os.WriteFile(filepath.Join(b.dir, internalDir, storeDir, entryPath(g)[:2]), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		in := b.g.Inodes().New()
		fd := b.g.NewFD(in, syscall.O_RDWR, 1, false)
		c := b.call(xlator.FopCreate)
		g2 := g
		g2[15] += byte(i)
		ia, err := b.top().Create(c, &xlator.Loc{Parent: root, Name: "f" + strconv.Itoa(i), Inode: in, GfidReq: g2}, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0, fd)
		c.Done()
		if err != nil || ia.Gfid != g2 {
			t.Fatalf("create with a broken store: %+v %v", ia, err)
		}
		fd.Unref()
		in.Unref()
	}
	if _, _, err := b.lookup(root, "f0"); err != nil {
		t.Errorf("lookup of the file without an entry: %v", err)
	}
	var errs any
	for _, kv := range b.px.Dump() {
		if kv.Key == "gfid-store.errors" {
			errs = kv.Value
		}
	}
	// Two creates, one lookup: three entries not made.
	if errs != int64(3) {
		t.Errorf("gfid-store.errors = %v, want 3", errs)
	}
	warn := logs.FilterMessage("gfid store entry not kept in step; xstack check -repair restores it")
	if n := warn.FilterLevelExact(zap.WarnLevel).Len(); n != 1 {
		t.Errorf("%d warnings, want 1 (the first error)", n)
	}
	if n := warn.FilterLevelExact(zap.DebugLevel).Len(); n != 2 {
		t.Errorf("%d debug lines, want 2 (the others)", n)
	}
}

func newObservedEnv(t *testing.T, core zapcore.Core) *xlator.Env {
	env := xlatortest.NewEnv(t)
	env.Logger = zap.New(core)
	return env
}

// TestReadOnlyStore: a read-only stack finds files by gfid through the
// store and never writes it, not even the entry a lookup would make.
func TestReadOnlyStore(t *testing.T) {
	dir := t.TempDir()
	set := map[string]string{"directory": dir, "health-check-interval": "0"}
	b := newBrick(t, set)
	b.touch(b.root(), "f")
	old := b.touch(b.root(), "old")
	b.g.Stop()
	if err := os.Remove(filepath.Join(dir, internalDir, storeDir, entryPath(old.GFID()))); err != nil {
		t.Fatal(err)
	}
	before := xlatortest.Snapshot(t, dir)

	env := xlatortest.NewEnv(t)
	env.ReadOnly = true
	b = newBrickWith(t, env, maps.Clone(set))
	f := b.mustLookup(b.root(), "f")
	b.mustLookup(b.root(), "old")
	b.g.Inodes().Unlink(b.root(), "f")
	if ia, err := b.stat(&xlator.Loc{Inode: f}); err != nil || ia.Nlink != 1 {
		t.Errorf("stat by gfid on a read-only stack: %+v %v", ia, err)
	}
	if after := xlatortest.Snapshot(t, dir); !slices.Equal(before, after) {
		t.Errorf("a read-only stack changed the brick:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	if _, err := b.px.CheckStore(true, func(StoreProblem) {}); !errors.Is(err, ErrStoreReadOnly) {
		t.Errorf("repair on a read-only stack: %v, want ErrStoreReadOnly", err)
	}
}

// TestStoreTmpfile: an unnamed file has no gfid store entry (which would
// keep it after its last fd); Link gives it one; unlinked while open it
// goes to unlink/, and with its last fd it is gone.
func TestStoreTmpfile(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	in, fd, _, err := b.tmpfile(root, syscall.O_RDWR, 0o644, 0)
	if err != nil {
		t.Fatal(err)
	}
	consistent(t, b, "tmpfile")
	c := b.call(xlator.FopLink)
	ia, err := b.top().Link(c, &xlator.Loc{Inode: in}, &xlator.Loc{Parent: root, Name: "named"})
	c.Done()
	if err != nil || ia.Nlink != 1 {
		t.Fatalf("link of a tmpfile: %+v %v", ia, err)
	}
	consistent(t, b, "link of a tmpfile")
	c = b.call(xlator.FopUnlink)
	err = b.top().Unlink(c, &xlator.Loc{Parent: root, Name: "named"})
	c.Done()
	if err != nil {
		t.Fatal(err)
	}
	consistent(t, b, "unlink of the open, named tmpfile", in.GFID())
	fd.Unref()
	consistent(t, b, "release")
}
