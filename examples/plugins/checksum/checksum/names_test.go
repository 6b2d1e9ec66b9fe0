package checksum_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/xstack/xstack/examples/plugins/checksum/checksum"
	"github.com/xstack/xstack/xlator"
)

// TestHidden: clients cannot see, reach, make, remove or rename the table
// directory; the name is free below the root.
func TestHidden(t *testing.T) {
	const dir = checksum.DefaultTableDir
	for _, bottom := range bottoms {
		t.Run(bottom, func(t *testing.T) {
			e := start(t, bottom, nil, "")
			in, fd := e.create("a")
			defer in.Unref()
			defer fd.Unref()
			e.mustWrite(fd, 0, []byte("protected"))
			if e.tables() == nil {
				t.Fatal("no table directory in the child")
			}
			// Listed one entry at a time: a batch holding the directory
			// alone must not end the listing.
			if names := e.list(e.top, e.root()); !slices.Equal(names, []string{"a"}) {
				t.Errorf("root lists %q, want [a]", names)
			}
			if _, err := e.lookup(dir); errnoOf(err) != syscall.ENOENT {
				t.Errorf("lookup: %v, want ENOENT", err)
			}
			c := e.call(xlator.FopMkdir)
			defer c.Done()
			loc := func() *xlator.Loc { return &xlator.Loc{Parent: e.root(), Name: dir, Inode: e.g.Inodes().New()} }
			other := &xlator.Loc{Parent: e.root(), Name: "a"}
			for _, tc := range []struct {
				fop  string
				err  error
				want syscall.Errno
			}{
				{"mkdir", second(e.top.Mkdir(c, loc(), 0o755, 0)), syscall.EPERM},
				{"mknod", second(e.top.Mknod(c, loc(), syscall.S_IFREG|0o644, 0, 0)), syscall.EPERM},
				{"symlink", second(e.top.Symlink(c, "x", loc(), 0)), syscall.EPERM},
				{"create", second(e.top.Create(c, loc(), syscall.O_RDWR|syscall.O_CREAT, 0o644, 0, e.g.NewFD(e.g.Inodes().New(), syscall.O_RDWR, 1, false))), syscall.EPERM},
				{"link", second(e.top.Link(c, &xlator.Loc{Inode: in}, loc())), syscall.EPERM},
				{"rename to", e.top.Rename(c, other, loc(), 0), syscall.EPERM},
				{"rename from", e.top.Rename(c, loc(), &xlator.Loc{Parent: e.root(), Name: "b"}, 0), syscall.ENOENT},
				{"unlink", e.top.Unlink(c, loc()), syscall.ENOENT},
				{"rmdir", e.top.Rmdir(c, loc()), syscall.ENOENT},
			} {
				if errnoOf(tc.err) != tc.want {
					t.Errorf("%s: %v, want %v", tc.fop, tc.err, tc.want)
				}
			}
			if len(e.tables()) != 1 {
				t.Errorf("tables after the refused fops: %q", e.tables())
			}
			sub := e.g.Inodes().New()
			ia, err := e.top.Mkdir(c, &xlator.Loc{Parent: e.root(), Name: "d", Inode: sub}, 0o755, 0)
			if err != nil {
				t.Fatal(err)
			}
			d := e.g.Inodes().Link(sub, e.root(), "d", &ia)
			defer d.Unref()
			if _, err := e.top.Mkdir(c, &xlator.Loc{Parent: d, Name: dir, Inode: e.g.Inodes().New()}, 0o755, 0); err != nil {
				t.Errorf("mkdir d/%s: %v", dir, err)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

// TestRenameAndLinks: the table follows a file through renames and hard
// links (it is named by gfid) and goes with the file's last name: at the
// last unlink, or a rename over it.
func TestRenameAndLinks(t *testing.T) {
	const bs = 4096
	for _, bottom := range bottoms {
		t.Run(bottom, func(t *testing.T) {
			e := start(t, bottom, map[string]string{"block-size": "4KiB"}, "")
			a, afd := e.create("a")
			defer a.Unref()
			defer afd.Unref()
			e.mustWrite(afd, 0, pattern(3*bs, 1))
			if err := e.rename("a", "b"); err != nil {
				t.Fatal(err)
			}
			if err := e.link(a, "c"); err != nil {
				t.Fatal(err)
			}
			c, err := e.lookup("c")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Unref()
			cfd := e.mustOpen(c, syscall.O_RDWR)
			defer cfd.Unref()
			e.poke(cfd, bs+5)
			if _, err := e.read(cfd, bs, bs); errnoOf(err) != syscall.EIO {
				t.Fatalf("read through the other link of a changed block: %v, want EIO", err)
			}
			e.mustWrite(cfd, bs, pattern(bs, 2)) // rewritten whole: good again
			gfid := a.GFID().String()
			if err := e.unlink("b"); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.tables(), []string{gfid}) {
				t.Fatalf("tables after removing one of two names: %q, want [%s]", e.tables(), gfid)
			}
			if _, err := e.readAll(cfd); err != nil {
				t.Fatal(err)
			}

			// A rename over the last name of another file drops its table.
			q, qfd := e.create("q")
			defer q.Unref()
			defer qfd.Unref()
			e.mustWrite(qfd, 0, []byte("replaced"))
			if len(e.tables()) != 2 {
				t.Fatalf("tables: %q", e.tables())
			}
			if err := e.rename("c", "q"); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.tables(), []string{gfid}) {
				t.Fatalf("tables after a rename over q: %q, want [%s]", e.tables(), gfid)
			}
			if err := e.unlink("q"); err != nil {
				t.Fatal(err)
			}
			if tabs := e.tables(); len(tabs) != 0 {
				t.Fatalf("tables after the last unlink: %q", tabs)
			}
		})
	}
}

// TestOpenUnlinked: an open file whose last name is gone stays protected:
// writes (before and after the unlink, in part and whole blocks, past its
// end) read back, a changed byte is caught, and no table is left behind.
// A write-only fd rewrites part of a block of such a file too: posix
// opens it for reading by its gfid (its handle store), so the block is
// summed whole. (posix only: the in-memory bottom drops a file at its
// last unlink.)
func TestOpenUnlinked(t *testing.T) {
	const bs = 4096
	for _, tc := range []struct {
		name         string
		writtenFirst bool
	}{
		{"written before the unlink", true},
		{"first written after the unlink", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, "posix", map[string]string{"block-size": "4KiB"}, "")
			in, fd := e.create("tmp")
			defer in.Unref()
			var model []byte
			if tc.writtenFirst {
				model = pattern(3*bs+50, 1)
				e.mustWrite(fd, 0, model)
			}
			wfd := e.mustOpen(in, syscall.O_WRONLY)
			if err := e.unlink("tmp"); err != nil {
				t.Fatal(err)
			}
			if tabs := e.tables(); len(tabs) != 0 {
				t.Errorf("tables with the file unlinked: %q", tabs)
			}
			for _, w := range []struct{ off, n int64 }{{100, 50}, {2*bs - 10, bs + 20}, {6*bs + 7, 3 * bs}} {
				data := pattern(int(w.n), byte(w.off))
				e.mustWrite(fd, w.off, data)
				model = resized(model, max(int64(len(model)), w.off+w.n))
				copy(model[w.off:], data)
			}
			e.mustWrite(wfd, 4*bs, pattern(bs, 3)) // whole block: no need to read it
			copy(model[4*bs:], pattern(bs, 3))
			e.mustWrite(wfd, 5*bs+1, []byte("x")) // part of a block: read by gfid
			copy(model[5*bs+1:], "x")
			got, err := e.readAll(fd)
			if err != nil {
				t.Fatal(err)
			}
			mustEqual(t, "read back", got, model)
			if tabs := e.tables(); len(tabs) != 0 {
				t.Errorf("tables with the file unlinked: %q", tabs)
			}
			e.poke(fd, 6*bs+100)
			if _, err := e.read(fd, 6*bs, bs); errnoOf(err) != syscall.EIO {
				t.Fatalf("read of a changed block of the unlinked file: %v, want EIO", err)
			}
			wfd.Unref()
			fd.Unref()
			e.checkPools()
		})
	}
}

// TestTablesOwnedByRoot: whoever writes, the table directory and tables
// belong to root, modes 0700 and 0600.
func TestTablesOwnedByRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: posix gives new files the caller's uid")
	}
	e := start(t, "posix", nil, "")
	e.cred = xlator.Creds{Uid: 1000, Gid: 1000}
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	e.mustWrite(fd, 0, []byte("data"))
	dir := filepath.Join(e.dir, checksum.DefaultTableDir)
	for _, tc := range []struct {
		path string
		mode os.FileMode
	}{
		{dir, os.ModeDir | 0o700},
		{filepath.Join(dir, in.GFID().String()), 0o600},
		{filepath.Join(e.dir, "f"), 0o644},
	} {
		fi, err := os.Lstat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		wantUID := uint32(0)
		if tc.path == filepath.Join(e.dir, "f") {
			wantUID = 1000
		}
		if fi.Mode() != tc.mode || st.Uid != wantUID {
			t.Errorf("%s: mode %v uid %d, want %v uid %d", tc.path, fi.Mode(), st.Uid, tc.mode, wantUID)
		}
	}
}
