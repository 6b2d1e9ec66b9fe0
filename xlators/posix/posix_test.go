package posix

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/internal/nopools"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

func TestRootAndInit(t *testing.T) {
	b := newBrick(t, nil)
	ia, err := b.stat(&xlator.Loc{})
	if err != nil || ia.Gfid != xlator.RootGFID || !ia.IsDir() {
		t.Fatalf("stat root: %+v, %v", ia, err)
	}
	var g xlator.GFID
	if _, err := unix.Getxattr(b.dir, b.px.gfidKey, g[:]); err != nil || g != xlator.RootGFID {
		t.Errorf("brick root xattr %s = %v (%v), want the root gfid", b.px.gfidKey, g, err)
	}
	// create-directory = false on a missing directory fails Init with a message naming it.
	missing := filepath.Join(t.TempDir(), "nope")
	spec := xlatortest.Chain("posix")
	spec.Volumes[0].Options = options(t, map[string]string{"directory": missing, "create-directory": "false"})
	gr, err := xlator.New(spec, registry(), xlatortest.NewEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := gr.Init(); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Init on a missing brick: %v; want an error naming %s", err, missing)
	}
	// create-directory = true makes it.
	b2 := newBrick(t, map[string]string{"directory": missing})
	if fi, err := os.Stat(b2.dir); err != nil || !fi.IsDir() {
		t.Errorf("brick directory not created: %v", err)
	}
}

func TestCreateWriteRead(t *testing.T) {
	b := newBrick(t, nil)
	in, fd, ia, err := b.create(b.root(), "f", syscall.O_RDWR, 0o644, 0o022)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	if ia.Gfid.IsZero() || !ia.IsRegular() || in.GFID() != ia.Gfid {
		t.Fatalf("create: %+v", ia)
	}
	data := pattern(300000, 1)
	b.mustWrite(fd, 0, data)
	equal(t, "read back", b.mustRead(fd, 0, len(data)), data)
	equal(t, "read middle", b.mustRead(fd, 1000, 5000), data[1000:6000])
	if got := b.mustRead(fd, int64(len(data))-10, 100); len(got) != 10 {
		t.Errorf("read across EOF: %d bytes, want 10", len(got))
	}
	if got := b.mustRead(fd, int64(len(data)), 100); len(got) != 0 {
		t.Errorf("read at EOF: %d bytes, want 0", len(got))
	}
	if got := b.mustRead(fd, 1<<30, 100); len(got) != 0 {
		t.Errorf("read past EOF: %d bytes", len(got))
	}
	st, err := b.fstat(fd)
	if err != nil || st.Size != int64(len(data)) || st.Gfid != ia.Gfid {
		t.Errorf("fstat: %+v %v", st, err)
	}
	// A second Create without O_EXCL opens the existing file; with O_TRUNC it empties it.
	_, fd2, ia2, err := b.create(b.root(), "f", syscall.O_RDWR, 0o600, 0)
	if err != nil || ia2.Gfid != ia.Gfid || ia2.Size != int64(len(data)) {
		t.Fatalf("create existing: %+v %v", ia2, err)
	}
	fd2.Unref()
	_, _, _, err = b.create(b.root(), "f", syscall.O_RDWR|syscall.O_EXCL, 0o600, 0)
	errIs(t, "create O_EXCL existing", err, syscall.EEXIST)
	_, fd3, ia3, err := b.create(b.root(), "f", syscall.O_RDWR|syscall.O_TRUNC, 0o600, 0)
	if err != nil || ia3.Size != 0 {
		t.Fatalf("create O_TRUNC: %+v %v", ia3, err)
	}
	fd3.Unref()
	// Flush and fsync succeed.
	c := b.call(xlator.FopFlush)
	errIs(t, "flush", b.top().Flush(c, fd), 0)
	errIs(t, "fsync", b.top().Fsync(c, fd, false), 0)
	errIs(t, "fdatasync", b.top().Fsync(c, fd, true), 0)
	c.Done()
}

func TestOpenAppend(t *testing.T) {
	b := newBrick(t, nil)
	in, fd := b.mustCreate(b.root(), "log")
	b.mustWrite(fd, 0, []byte("hello "))
	afd, err := b.open(&xlator.Loc{Inode: in}, syscall.O_WRONLY|syscall.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	defer afd.Unref()
	b.mustWrite(afd, 0, []byte("world")) // offset ignored: appended
	b.mustWrite(afd, 2, []byte("!"))
	equal(t, "appended", b.mustRead(fd, 0, 100), []byte("hello world!"))
	// O_TRUNC through Open (by inode: the dentry is resolved and the gfid checked).
	tfd, err := b.open(&xlator.Loc{Inode: in}, syscall.O_RDWR|syscall.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	tfd.Unref()
	if got := b.mustRead(fd, 0, 100); len(got) != 0 {
		t.Errorf("after O_TRUNC: %q", got)
	}
}

func TestEntryErrors(t *testing.T) {
	b := newBrick(t, nil)
	root := b.root()
	d := b.mustMkdir(root, "d")
	f, _ := b.mustCreate(root, "f")
	b.mustCreate(d, "inner")

	_, _, err := b.lookup(root, "missing")
	errIs(t, "lookup missing", err, syscall.ENOENT)
	_, _, err = b.mkdir(root, "d", 0o755, 0)
	errIs(t, "mkdir existing", err, syscall.EEXIST)
	_, _, err = b.mkdir(root, "f", 0o755, 0)
	errIs(t, "mkdir over file", err, syscall.EEXIST)

	c := b.call(xlator.FopRmdir)
	defer c.Done()
	errIs(t, "rmdir non-empty", b.top().Rmdir(c, &xlator.Loc{Parent: root, Name: "d"}), syscall.ENOTEMPTY)
	errIs(t, "rmdir file", b.top().Rmdir(c, &xlator.Loc{Parent: root, Name: "f"}), syscall.ENOTDIR)
	errIs(t, "rmdir missing", b.top().Rmdir(c, &xlator.Loc{Parent: root, Name: "zz"}), syscall.ENOENT)
	errIs(t, "unlink dir", b.top().Unlink(c, &xlator.Loc{Parent: root, Name: "d"}), syscall.EISDIR)
	errIs(t, "unlink missing", b.top().Unlink(c, &xlator.Loc{Parent: root, Name: "zz"}), syscall.ENOENT)

	// A file used as a directory.
	_, _, err = b.lookup(f, "x")
	errIs(t, "lookup under a file", err, syscall.ENOTDIR)
	_, _, _, err = b.create(f, "x", syscall.O_RDWR, 0o644, 0)
	errIs(t, "create under a file", err, syscall.ENOTDIR)
	_, _, err = b.mkdir(f, "x", 0o755, 0)
	errIs(t, "mkdir under a file", err, syscall.ENOTDIR)
	_, err = b.opendir(&xlator.Loc{Parent: root, Name: "f", Inode: f})
	errIs(t, "opendir a file", err, syscall.ENOTDIR)
	// Opening a directory for writing.
	_, err = b.open(&xlator.Loc{Parent: root, Name: "d", Inode: d}, syscall.O_RDWR)
	errIs(t, "open dir O_RDWR", err, syscall.EISDIR)

	// Bad names.
	for _, name := range []string{"", ".", "..", "a/b", "/abs", "a\x00b", "../x"} {
		_, _, err := b.lookup(root, name)
		errIs(t, "lookup "+name, err, syscall.EINVAL)
		_, _, _, err = b.create(root, name, syscall.O_RDWR, 0o644, 0)
		errIs(t, "create "+name, err, syscall.EINVAL)
	}
	long := strings.Repeat("n", 256)
	_, _, _, err = b.create(root, long, syscall.O_RDWR, 0o644, 0)
	errIs(t, "create 256-byte name", err, syscall.ENAMETOOLONG)
	_, _, err = b.lookup(root, long)
	errIs(t, "lookup 256-byte name", err, syscall.ENAMETOOLONG)
	if _, _, _, err = b.create(root, strings.Repeat("n", 255), syscall.O_RDWR, 0o644, 0); err != nil {
		t.Errorf("create 255-byte name: %v", err)
	}

	// Unlink and rmdir work.
	errIs(t, "unlink inner", b.top().Unlink(c, &xlator.Loc{Parent: d, Name: "inner"}), 0)
	errIs(t, "rmdir d", b.top().Rmdir(c, &xlator.Loc{Parent: root, Name: "d"}), 0)
	_, _, err = b.lookup(root, "d")
	errIs(t, "lookup removed", err, syscall.ENOENT)
}

func TestGfidStable(t *testing.T) {
	b := newBrick(t, nil)
	root := b.root()
	d := b.mustMkdir(root, "d")
	f, _ := b.mustCreate(root, "f")
	g := f.GFID()

	c := b.call(xlator.FopRename)
	defer c.Done()
	if err := b.top().Rename(c, &xlator.Loc{Parent: root, Name: "f", Inode: f}, &xlator.Loc{Parent: d, Name: "g"}, 0); err != nil {
		t.Fatal(err)
	}
	b.g.Inodes().Rename(root, "f", d, "g")
	_, ia, err := b.lookup(d, "g")
	if err != nil || ia.Gfid != g {
		t.Fatalf("gfid after rename: %v (%v), want %v", ia.Gfid, err, g)
	}
	lia, err := b.top().Link(c, &xlator.Loc{Parent: d, Name: "g", Inode: f}, &xlator.Loc{Parent: root, Name: "hard"})
	if err != nil || lia.Gfid != g || lia.Nlink != 2 {
		t.Fatalf("link: %+v %v", lia, err)
	}
	_, ia, _ = b.lookup(root, "hard")
	if ia.Gfid != g {
		t.Errorf("hard link gfid %v, want %v", ia.Gfid, g)
	}
	// Link by inode alone (the dentry is used).
	if _, err := b.top().Link(c, &xlator.Loc{Inode: f}, &xlator.Loc{Parent: root, Name: "hard2"}); err != nil {
		t.Errorf("link by inode: %v", err)
	}
	_, err = b.top().Link(c, &xlator.Loc{Parent: root, Name: "d", Inode: d}, &xlator.Loc{Parent: root, Name: "dl"})
	errIs(t, "link a directory", err, syscall.EPERM)
	_, err = b.top().Link(c, &xlator.Loc{Parent: root, Name: "hard"}, &xlator.Loc{Parent: root, Name: "hard2"})
	errIs(t, "link over existing", err, syscall.EEXIST)
	// Directory gfid survives rename too, and its cached handle follows it.
	dg := d.GFID()
	if err := b.top().Rename(c, &xlator.Loc{Parent: root, Name: "d"}, &xlator.Loc{Parent: root, Name: "e"}, 0); err != nil {
		t.Fatal(err)
	}
	b.g.Inodes().Rename(root, "d", root, "e")
	_, ia, _ = b.lookup(root, "e")
	if ia.Gfid != dg {
		t.Errorf("dir gfid after rename %v, want %v", ia.Gfid, dg)
	}
	if _, _, err := b.lookup(d, "g"); err != nil {
		t.Errorf("lookup through the renamed dir's handle: %v", err)
	}
	// A file created behind xstack's back gets a gfid at lookup, and keeps it.
	if err := os.WriteFile(filepath.Join(b.dir, "outside-made"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ia1, err := b.lookup(root, "outside-made")
	if err != nil || ia1.Gfid.IsZero() {
		t.Fatalf("lookup of a foreign file: %+v %v", ia1, err)
	}
	_, ia2, _ := b.lookup(root, "outside-made")
	if ia2.Gfid != ia1.Gfid {
		t.Errorf("assigned gfid changed: %v then %v", ia1.Gfid, ia2.Gfid)
	}
}

func TestRenameFlags(t *testing.T) {
	b := newBrick(t, nil)
	root := b.root()
	a, fa := b.mustCreate(root, "a")
	bb, fb := b.mustCreate(root, "b")
	b.mustWrite(fa, 0, []byte("A"))
	b.mustWrite(fb, 0, []byte("B"))
	c := b.call(xlator.FopRename)
	defer c.Done()
	errIs(t, "noreplace", b.top().Rename(c, &xlator.Loc{Parent: root, Name: "a"}, &xlator.Loc{Parent: root, Name: "b"}, xlator.RenameNoReplace), syscall.EEXIST)
	errIs(t, "exchange", b.top().Rename(c, &xlator.Loc{Parent: root, Name: "a"}, &xlator.Loc{Parent: root, Name: "b"}, xlator.RenameExchange), 0)
	_, ia, _ := b.lookup(root, "a")
	if ia.Gfid != bb.GFID() {
		t.Errorf("after exchange a has gfid %v, want b's %v", ia.Gfid, bb.GFID())
	}
	_, ia, _ = b.lookup(root, "b")
	if ia.Gfid != a.GFID() {
		t.Errorf("after exchange b has gfid %v, want a's", ia.Gfid)
	}
	errIs(t, "rename missing", b.top().Rename(c, &xlator.Loc{Parent: root, Name: "zz"}, &xlator.Loc{Parent: root, Name: "y"}, 0), syscall.ENOENT)
	d := b.mustMkdir(root, "d")
	b.mustCreate(d, "x")
	b.mustMkdir(root, "e")
	errIs(t, "rename over non-empty dir", b.top().Rename(c, &xlator.Loc{Parent: root, Name: "e"}, &xlator.Loc{Parent: root, Name: "d"}, 0), syscall.ENOTEMPTY)
	errIs(t, "rename dir over file", b.top().Rename(c, &xlator.Loc{Parent: root, Name: "e"}, &xlator.Loc{Parent: root, Name: "a"}, 0), syscall.ENOTDIR)
	errIs(t, "rename file over dir", b.top().Rename(c, &xlator.Loc{Parent: root, Name: "a"}, &xlator.Loc{Parent: root, Name: "e"}, 0), syscall.EISDIR)
}

// withUmask runs f with the process umask set to m.
func withUmask(m int, f func()) {
	old := unix.Umask(m)
	defer unix.Umask(old)
	f()
}

func TestModesExact(t *testing.T) {
	for _, pum := range []int{0o022, 0o077} {
		withUmask(pum, func() {
			b := newBrick(t, nil)
			root := b.root()
			cases := []struct {
				name        string
				mode, umask uint32
				want        uint32
			}{
				{"m0000", 0o000, 0o022, 0o000},
				{"m0777", 0o777, 0, 0o777},
				{"m0777u022", 0o777, 0o022, 0o755},
				{"m4755", 0o4755, 0, 0o4755},
				{"m1777", 0o1777, 0, 0o1777},
			}
			for _, tc := range cases {
				_, fd, ia, err := b.create(root, "f"+tc.name, syscall.O_RDWR, tc.mode, tc.umask)
				if err != nil {
					t.Fatalf("create %s: %v", tc.name, err)
				}
				fd.Unref()
				if ia.Mode&0o7777 != tc.want {
					t.Errorf("process umask %o: create %s: mode %o, want %o", pum, tc.name, ia.Mode&0o7777, tc.want)
				}
				fi, _ := os.Lstat(filepath.Join(b.dir, "f"+tc.name))
				if m := uint32(fi.Sys().(*syscall.Stat_t).Mode) & 0o7777; m != tc.want {
					t.Errorf("create %s: on disk %o, want %o", tc.name, m, tc.want)
				}
				_, ia, err = b.mkdir(root, "d"+tc.name, tc.mode, tc.umask)
				if err != nil {
					t.Fatalf("mkdir %s: %v", tc.name, err)
				}
				if want := tc.want &^ 0o6000; ia.Mode&0o7777 != want {
					t.Errorf("process umask %o: mkdir %s: mode %o, want %o", pum, tc.name, ia.Mode&0o7777, want)
				}
				c := b.call(xlator.FopMknod)
				ia, err = b.top().Mknod(c, &xlator.Loc{Parent: root, Name: "n" + tc.name}, syscall.S_IFIFO|tc.mode, 0, tc.umask)
				c.Done()
				if err != nil {
					t.Fatalf("mknod %s: %v", tc.name, err)
				}
				if ia.Mode&0o7777 != tc.want || ia.Type() != syscall.S_IFIFO {
					t.Errorf("mknod %s: mode %o, want fifo %o", tc.name, ia.Mode, tc.want)
				}
			}
		})
	}
}

func TestOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create files for other users")
	}
	b := newBrick(t, nil)
	b.cred = xlator.Creds{Uid: 1234, Gid: 5678}
	root := b.root()
	_, fd, ia, err := b.create(root, "f", syscall.O_RDWR, 0o6755, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd.Unref()
	if ia.Uid != 1234 || ia.Gid != 5678 || ia.Mode&0o7777 != 0o6755 {
		t.Errorf("create as 1234:5678: %d:%d mode %o (chown must not eat the set-id bits)", ia.Uid, ia.Gid, ia.Mode&0o7777)
	}
	d, ia, err := b.mkdir(root, "d", 0o755, 0)
	if err != nil || ia.Uid != 1234 || ia.Gid != 5678 {
		t.Fatalf("mkdir: %+v %v", ia, err)
	}
	c := b.call(xlator.FopSymlink)
	sia, err := b.top().Symlink(c, "target", &xlator.Loc{Parent: root, Name: "l"}, 0)
	c.Done()
	if err != nil || sia.Uid != 1234 || sia.Gid != 5678 || !sia.IsSymlink() {
		t.Errorf("symlink: %+v %v", sia, err)
	}
	// A set-group-ID directory passes its group (and, to directories, its bit).
	if err := os.Chown(filepath.Join(b.dir, "d"), 1234, 999); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(filepath.Join(b.dir, "d"), 0o2775); err != nil {
		t.Fatal(err)
	}
	_, fd, ia, err = b.create(d, "f", syscall.O_RDWR, 0o644, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd.Unref()
	if ia.Gid != 999 || ia.Uid != 1234 {
		t.Errorf("file in setgid dir: %d:%d, want 1234:999", ia.Uid, ia.Gid)
	}
	_, ia, err = b.mkdir(d, "sub", 0o755, 0)
	if err != nil || ia.Gid != 999 || ia.Mode&0o7777 != 0o2755 {
		t.Errorf("dir in setgid dir: gid %d mode %o (%v), want 999 and 2755", ia.Gid, ia.Mode&0o7777, err)
	}
}

func TestSetattrAccess(t *testing.T) {
	b := newBrick(t, nil)
	root := b.root()
	f, fd := b.mustCreate(root, "f")
	b.mustWrite(fd, 0, pattern(10000, 3))
	c := b.call(xlator.FopSetattr)
	defer c.Done()
	mt := xlator.Timespec{Sec: 1000000000, Nsec: 5}
	in := &xlator.SetattrIn{Valid: xlator.SetMode | xlator.SetUid | xlator.SetGid | xlator.SetSize | xlator.SetMtime | xlator.SetAtime,
		Mode: 0o640, Uid: 42, Gid: 43, Size: 100, Mtime: mt, Atime: mt}
	ia, err := b.top().Setattr(c, &xlator.Loc{Inode: f}, in)
	if err != nil {
		t.Fatal(err)
	}
	if ia.Mode&0o7777 != 0o640 || ia.Uid != 42 || ia.Gid != 43 || ia.Size != 100 || ia.Mtime != mt || ia.Atime != mt {
		t.Errorf("setattr: %+v", ia)
	}
	ia, err = b.top().Fsetattr(c, fd, &xlator.SetattrIn{Valid: xlator.SetSize | xlator.SetMode | xlator.SetMtimeNow, Size: 5000, Mode: 0o600})
	if err != nil || ia.Size != 5000 || ia.Mode&0o7777 != 0o600 || ia.Mtime.Sec < time.Now().Unix()-10 {
		t.Errorf("fsetattr: %+v %v", ia, err)
	}
	if got := b.mustRead(fd, 0, 10000); len(got) != 5000 {
		t.Errorf("size after truncate: %d", len(got))
	}
	d := b.mustMkdir(root, "d")
	_, err = b.top().Setattr(c, &xlator.Loc{Inode: d}, &xlator.SetattrIn{Valid: xlator.SetSize})
	errIs(t, "truncate a dir", err, syscall.EISDIR)

	// Access with the caller's credentials, not the daemon's.
	errIs(t, "access root F_OK", b.top().Access(c, &xlator.Loc{Inode: f}, 0), 0)
	errIs(t, "access root R_OK", b.top().Access(c, &xlator.Loc{Inode: f}, unix.R_OK), 0)
	errIs(t, "access root X_OK on 0600", b.top().Access(c, &xlator.Loc{Inode: f}, unix.X_OK), syscall.EACCES)
	other := b.g.Calls().Begin(context.Background(), xlator.FopAccess, xlator.Creds{Uid: 7, Gid: 7}, 0)
	defer other.Done()
	errIs(t, "access other R_OK on 0600", b.top().Access(other, &xlator.Loc{Inode: f}, unix.R_OK), syscall.EACCES)
	owner := b.g.Calls().Begin(context.Background(), xlator.FopAccess, xlator.Creds{Uid: 42, Gid: 1}, 0)
	defer owner.Done()
	errIs(t, "access owner RW", b.top().Access(owner, &xlator.Loc{Inode: f}, unix.R_OK|unix.W_OK), 0)
	_, err = b.top().Setattr(c, &xlator.Loc{Parent: root, Name: "nope"}, in)
	errIs(t, "setattr missing", err, syscall.ENOENT)
}

func TestSymlinkReadlink(t *testing.T) {
	b := newBrick(t, nil)
	root := b.root()
	c := b.call(xlator.FopSymlink)
	defer c.Done()
	for _, target := range []string{"plain", "/etc/passwd", "../../../..", strings.Repeat("x/", 1000)} {
		name := "l" + string(rune('a'+len(target)%26))
		ia, err := b.top().Symlink(c, target, &xlator.Loc{Parent: root, Name: name}, 0o022)
		if err != nil {
			t.Fatalf("symlink %q: %v", target, err)
		}
		if !ia.IsSymlink() || ia.Gfid.IsZero() || ia.Mode&0o777 != 0o777 {
			t.Errorf("symlink attrs %+v", ia)
		}
		l, _, _ := b.lookup(root, name)
		got, err := b.top().Readlink(c, &xlator.Loc{Inode: l})
		if err != nil || got != target {
			t.Errorf("readlink: %q %v, want %q", got, err, target)
		}
		_, err = b.open(&xlator.Loc{Parent: root, Name: name, Inode: l}, syscall.O_RDONLY)
		errIs(t, "open a symlink", err, syscall.ELOOP)
		b.top().Unlink(c, &xlator.Loc{Parent: root, Name: name})
	}
	f, _ := b.mustCreate(root, "f")
	_, err := b.top().Readlink(c, &xlator.Loc{Inode: f})
	errIs(t, "readlink a file", err, syscall.EINVAL)
	_, err = b.top().Symlink(c, "x", &xlator.Loc{Parent: root, Name: "f"}, 0)
	errIs(t, "symlink over existing", err, syscall.EEXIST)
}

func TestXattrs(t *testing.T) {
	b := newBrick(t, nil)
	root := b.root()
	f, _ := b.mustCreate(root, "f")
	loc := &xlator.Loc{Inode: f}
	c := b.call(xlator.FopSetxattr)
	defer c.Done()
	x := b.top()
	errIs(t, "set user.a", x.Setxattr(c, loc, "user.a", []byte("1"), 0), 0)
	errIs(t, "set user.a CREATE", x.Setxattr(c, loc, "user.a", []byte("2"), unix.XATTR_CREATE), syscall.EEXIST)
	errIs(t, "set user.b REPLACE", x.Setxattr(c, loc, "user.b", []byte("2"), unix.XATTR_REPLACE), syscall.ENODATA)
	big := pattern(3000, 9)
	errIs(t, "set user.big", x.Setxattr(c, loc, "user.big", big, 0), 0)
	v, err := x.Getxattr(c, loc, "user.big")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "big xattr", v, big)
	_, err = x.Getxattr(c, loc, "user.none")
	errIs(t, "get absent", err, syscall.ENODATA)

	// The gfid keys are internal; other trusted.xstack.* keys pass.
	for _, k := range []string{gfidKeyTrusted, gfidKeyUser} {
		errIs(t, "set "+k, x.Setxattr(c, loc, k, make([]byte, 16), 0), syscall.EPERM)
		errIs(t, "remove "+k, x.Removexattr(c, loc, k), syscall.EPERM)
		_, err := x.Getxattr(c, loc, k)
		errIs(t, "get "+k, err, syscall.ENODATA)
	}
	if os.Geteuid() == 0 {
		errIs(t, "set trusted.xstack.stripe", x.Setxattr(c, loc, "trusted.xstack.stripe", []byte("meta"), 0), 0)
		if v, err := x.Getxattr(c, loc, "trusted.xstack.stripe"); err != nil || string(v) != "meta" {
			t.Errorf("get trusted.xstack.stripe: %q %v", v, err)
		}
	}
	names, err := x.Listxattr(c, loc)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for _, n := range names {
		if isGfidKey(n) {
			t.Errorf("listxattr shows the internal %s", n)
		}
	}
	if !containsAll(names, "user.a", "user.big") {
		t.Errorf("listxattr: %v", names)
	}
	errIs(t, "remove user.a", x.Removexattr(c, loc, "user.a"), 0)
	errIs(t, "remove user.a again", x.Removexattr(c, loc, "user.a"), syscall.ENODATA)
	// The gfid survived all of this.
	_, ia, _ := b.lookup(root, "f")
	if ia.Gfid != f.GFID() {
		t.Errorf("gfid changed")
	}
	// On a symlink, user.* xattrs are refused as Linux refuses them.
	sc := b.call(xlator.FopSymlink)
	b.top().Symlink(sc, "f", &xlator.Loc{Parent: root, Name: "l"}, 0)
	sc.Done()
	l, _, _ := b.lookup(root, "l")
	errIs(t, "user xattr on symlink", x.Setxattr(c, &xlator.Loc{Inode: l}, "user.a", []byte("1"), 0), syscall.EPERM)
	if v, _ := unix.Getxattr(filepath.Join(b.dir, "f"), "user.a", make([]byte, 8)); v > 0 {
		t.Errorf("xattr on the symlink landed on its target")
	}
	// The root too.
	errIs(t, "xattr on root", x.Setxattr(c, &xlator.Loc{}, "user.r", []byte("1"), 0), 0)
}

func containsAll(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, s := range list {
			found = found || s == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestReaddirCookies(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	// The private directory exists at the root (parent-up checked the brick).
	if _, err := os.Stat(filepath.Join(b.dir, internalDir)); err != nil {
		t.Fatalf("private dir: %v", err)
	}
	d := b.mustMkdir(root, "d")
	want := map[string]bool{}
	for i := 0; i < 137; i++ {
		name := "e" + strings.Repeat("x", i%20) + string(rune('A'+i%26)) + string(rune('0'+i/26))
		want[name] = true
		if i%3 == 0 {
			b.mustMkdir(d, name)
		} else {
			b.mustCreate(d, name)
		}
	}
	// A private-looking name below the root is an ordinary entry.
	b.mustMkdir(d, internalDir)
	want[internalDir] = true
	fd, err := b.opendir(&xlator.Loc{Parent: root, Name: "d", Inode: d})
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	for _, plus := range []bool{false, true} {
		ents := b.readdirAll(fd, 10, plus)
		seen := map[string]bool{}
		for _, e := range ents {
			if seen[e.Name] {
				t.Errorf("plus=%v: %s listed twice", plus, e.Name)
			}
			seen[e.Name] = true
			if e.Type == 0 || e.Ino == 0 {
				t.Errorf("entry %s without type/ino", e.Name)
			}
			if plus && (e.Attr.Gfid.IsZero() || e.Attr.Type() != e.Type) {
				t.Errorf("plus entry %s: attr %+v", e.Name, e.Attr)
			}
		}
		if len(seen) != len(want) {
			t.Errorf("plus=%v: listed %d entries, want %d", plus, len(seen), len(want))
		}
		for n := range want {
			if !seen[n] {
				t.Errorf("plus=%v: %s not listed", plus, n)
			}
		}
	}
	// The root listing hides the private directory; lookup and mkdir refuse it.
	rfd, err := b.opendir(&xlator.Loc{Inode: root})
	if err != nil {
		t.Fatal(err)
	}
	defer rfd.Unref()
	for _, e := range b.readdirAll(rfd, 100, true) {
		if e.Name == internalDir {
			t.Errorf("root listing shows %s", internalDir)
		}
	}
	_, _, err = b.lookup(root, internalDir)
	errIs(t, "lookup private dir", err, syscall.ENOENT)
	_, _, err = b.mkdir(root, internalDir, 0o755, 0)
	errIs(t, "mkdir private dir", err, syscall.EPERM)
	_, _, _, err = b.create(root, internalDir, syscall.O_RDWR, 0o644, 0)
	errIs(t, "create private dir", err, syscall.EPERM)
	c := b.call(xlator.FopRename)
	defer c.Done()
	errIs(t, "rename onto private dir", b.top().Rename(c, &xlator.Loc{Parent: root, Name: "d"}, &xlator.Loc{Parent: root, Name: internalDir}, 0), syscall.EPERM)
	errIs(t, "rmdir private dir", b.top().Rmdir(c, &xlator.Loc{Parent: root, Name: internalDir}), syscall.ENOENT)
	errIs(t, "fsyncdir", b.top().Fsyncdir(c, fd, false), 0)
	if _, err := b.fstat(fd); err != nil {
		t.Errorf("fstat dir fd: %v", err)
	}
}

func TestStatfsReserve(t *testing.T) {
	const reserve = 1 << 30
	b := newBrick(t, map[string]string{"reserve": "1GiB"})
	c := b.call(xlator.FopStatfs)
	defer c.Done()
	v, err := b.top().Statfs(c, &xlator.Loc{})
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(b.dir, &st); err != nil {
		t.Fatal(err)
	}
	r := uint64(reserve) / v.Frsize
	want := st.Bavail - min(st.Bavail, r)
	// Other processes may write meanwhile: allow 64 MiB of drift.
	slack := uint64(64<<20) / v.Frsize
	if v.Bavail+slack < want || v.Bavail > want+slack {
		t.Errorf("statfs bavail %d, want about %d (os %d minus %d reserve blocks)", v.Bavail, want, st.Bavail, r)
	}
	if v.Blocks != st.Blocks || v.Namemax != 255 {
		t.Errorf("statfs %+v", v)
	}
}

func TestReserveENOSPC(t *testing.T) {
	// A reserve larger than any disk: nothing may be written or created.
	b := newBrick(t, map[string]string{"reserve": "1000000TiB", "health-check-interval": "0"})
	root := b.root()
	_, _, _, err := b.create(root, "f", syscall.O_RDWR, 0o644, 0)
	errIs(t, "create under reserve", err, syscall.ENOSPC)
	_, _, err = b.mkdir(root, "d", 0o755, 0)
	errIs(t, "mkdir under reserve", err, syscall.ENOSPC)
	// A file made behind its back can be opened, but not written.
	os.WriteFile(filepath.Join(b.dir, "g"), nil, 0o644)
	g, _, err := b.lookup(root, "g")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := b.open(&xlator.Loc{Inode: g}, syscall.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	_, err = b.write(fd, 0, []byte("x"))
	errIs(t, "write under reserve", err, syscall.ENOSPC)
	c := b.call(xlator.FopFallocate)
	defer c.Done()
	errIs(t, "fallocate under reserve", b.top().Fallocate(c, fd, 0, 0, 4096), syscall.ENOSPC)
	errIs(t, "discard under reserve (frees space)", b.top().Discard(c, fd, 0, 4096), 0)

	// A reserve just below the free space: writes stop once they eat the margin.
	var st unix.Statfs_t
	unix.Statfs(b.dir, &st)
	free := int64(st.Bavail) * st.Bsize
	const margin = 32 << 20
	b2 := newBrick(t, map[string]string{"reserve": xlator.FormatSize(free - margin), "health-check-interval": "0"})
	_, fd2 := b2.mustCreate(b2.root(), "f")
	chunk := pattern(1<<20, 1)
	n := 0
	for ; n < 200; n++ {
		if _, err := b2.write(fd2, int64(n)<<20, chunk); err != nil {
			errIs(t, "write past the reserve", err, syscall.ENOSPC)
			break
		}
	}
	if n < 8 || n >= 200 {
		t.Errorf("ENOSPC after %d MiB with a %d MiB margin", n, margin>>20)
	}
}

func TestDeepTree(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	dir := b.root()
	total := len(b.dir)
	for i := 0; i < 40; i++ {
		name := strings.Repeat(string(rune('a'+i%26)), 200)
		dir = b.mustMkdir(dir, name)
		total += 201
	}
	if total <= unix.PathMax {
		t.Fatalf("tree only %d bytes deep", total)
	}
	_, fd := b.mustCreate(dir, "leaf")
	b.mustWrite(fd, 0, []byte("deep"))
	equal(t, "deep read", b.mustRead(fd, 0, 10), []byte("deep"))
	// Lose every cached handle: the path is re-resolved from the dentries.
	for in := dir; !isRoot(in); {
		b.px.Forget(in)
		p, _, ok := in.Dentry()
		if !ok {
			break
		}
		p.Unref()
		in = p
	}
	leaf, ia, err := b.lookup(dir, "leaf")
	if err != nil || ia.Size != 4 {
		t.Fatalf("lookup after losing handles: %+v %v", ia, err)
	}
	fd2, err := b.open(&xlator.Loc{Inode: leaf}, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer fd2.Unref()
	equal(t, "deep read by inode", b.mustRead(fd2, 0, 10), []byte("deep"))
	ents := func() []xlator.Dirent {
		dfd, err := b.opendir(&xlator.Loc{Inode: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer dfd.Unref()
		return b.readdirAll(dfd, 10, true)
	}()
	if len(ents) != 1 || ents[0].Name != "leaf" {
		t.Errorf("deep listing %+v", ents)
	}
}

func TestStaleHandle(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	d := b.mustMkdir(root, "d")
	b.px.Forget(d)
	// The name now holds another directory: re-resolution must notice.
	os.Rename(filepath.Join(b.dir, "d"), filepath.Join(b.dir, "old"))
	os.Mkdir(filepath.Join(b.dir, "d"), 0o755)
	_, _, _, err := b.create(d, "x", syscall.O_RDWR, 0o644, 0)
	errIs(t, "create in a replaced dir", err, syscall.ESTALE)
	if _, err := os.Stat(filepath.Join(b.dir, "d", "x")); err == nil {
		t.Error("file created in the replacement directory")
	}
	// A file renamed behind the stack's back and its name reused: the
	// inode is the renamed file, found through the gfid store.
	f, ffd := b.mustCreate(root, "f")
	b.mustWrite(ffd, 0, []byte("mine"))
	os.Rename(filepath.Join(b.dir, "f"), filepath.Join(b.dir, "f2"))
	os.WriteFile(filepath.Join(b.dir, "f"), []byte("other"), 0o644)
	ia, err := b.stat(&xlator.Loc{Inode: f})
	if err != nil || ia.Gfid != f.GFID() || ia.Size != 4 {
		t.Errorf("stat by inode of a file renamed behind the stack: %+v %v, want its own attributes", ia, err)
	}
	fd2, err := b.open(&xlator.Loc{Inode: f}, syscall.O_RDWR|syscall.O_TRUNC)
	errIs(t, "open by inode of a file renamed behind the stack", err, 0)
	if err == nil {
		fd2.Unref()
	}
	if data, _ := os.ReadFile(filepath.Join(b.dir, "f")); string(data) != "other" {
		t.Errorf("O_TRUNC applied to the wrong file: %q", data)
	}
	if data, _ := os.ReadFile(filepath.Join(b.dir, "f2")); len(data) != 0 {
		t.Errorf("O_TRUNC not applied to the inode's file: %q", data)
	}
	// Removed behind the stack's back: its entry leads nowhere.
	os.Remove(filepath.Join(b.dir, "f2"))
	_, err = b.stat(&xlator.Loc{Inode: f})
	errIs(t, "stat by inode of a file removed behind the stack", err, syscall.ENOENT)
}

func TestHealthCheck(t *testing.T) {
	var log xlatortest.Log
	reg := registry()
	reg.MustRegister(xlatortest.RecorderType(&log, ""))
	spec := xlatortest.Chain("rec", "posix")
	dir := t.TempDir()
	spec.Volumes[1].Options = options(t, map[string]string{"directory": dir, "health-check-interval": "20ms"})
	g := xlatortest.Start(t, spec, reg, nil)
	call := func() error {
		c := g.Calls().Begin(context.Background(), xlator.FopStat, xlator.Creds{}, 0)
		defer c.Done()
		_, err := g.Top().Stat(c, &xlator.Loc{})
		return err
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s; log %q", what, log.Lines())
	}
	has := func(s string) func() bool {
		return func() bool {
			n := 0
			for _, l := range log.Lines() {
				if l == s {
					n++
				}
			}
			return n > 0
		}
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	// Break the brick: the private directory becomes a file.
	priv := filepath.Join(dir, internalDir)
	if err := os.RemoveAll(priv); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(priv, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("child-down", has("notify l0 child-down from l1"))
	if err := call(); !errors.Is(err, syscall.EIO) {
		t.Errorf("fop on a failed brick: %v, want EIO", err)
	}
	px := xlator.Unwrap(g.Xlator("l1")).(*Posix)
	if s := px.health.state(); !strings.HasPrefix(s, "down") {
		t.Errorf("health state %q", s)
	}
	os.Remove(priv)
	waitFor("child-up again", func() bool { return call() == nil })
	waitFor("child-up event", func() bool {
		l := log.Lines()
		return len(l) > 0 && l[len(l)-1] == "notify l0 child-up from l1"
	})
}

func TestODirect(t *testing.T) {
	b := newBrick(t, map[string]string{"o-direct": "true", "health-check-interval": "0"})
	_, fd, _, err := b.create(b.root(), "f", syscall.O_RDWR, 0o644, 0)
	if errors.Is(err, syscall.EINVAL) {
		t.Skipf("the file system refuses O_DIRECT: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Unref()
	fc := fd.Ctx(b.px).(*fileCtx)
	if !fc.direct {
		t.Fatal("o-direct file not opened O_DIRECT")
	}
	aligned := pattern(1<<20, 5)
	b.mustWrite(fd, 0, aligned)
	if fc.bfd >= 0 {
		t.Error("aligned write opened the buffered fd")
	}
	equal(t, "aligned read", b.mustRead(fd, 0, 1<<20), aligned)
	// Unaligned offset, length: served by the buffered fd, coherent with direct IO.
	odd := pattern(1000, 7)
	b.mustWrite(fd, 4097, odd)
	copy(aligned[4097:], odd)
	equal(t, "read after unaligned write", b.mustRead(fd, 0, 1<<20), aligned)
	equal(t, "unaligned read", b.mustRead(fd, 333, 777), aligned[333:1110])
	equal(t, "read across EOF", b.mustRead(fd, 1<<20-512, 4096), aligned[1<<20-512:])
	b.mustWrite(fd, 1<<20, odd) // unaligned extension
	equal(t, "tail", b.mustRead(fd, 1<<20, 4096), odd)
	c := b.call(xlator.FopFsync)
	defer c.Done()
	errIs(t, "fsync", b.top().Fsync(c, fd, false), 0)
}

// TestFsyncModes observes what each fsync mode does, on the bio data path
// where a datasync is a flush bio the device counts: normal flushes for a
// datasync and calls fsync(2) otherwise, data flushes for both, none does
// neither.
func TestFsyncModes(t *testing.T) {
	for _, tc := range []struct {
		mode                string
		flushData, flushAll int // flush bios for fsync(datasync) and fsync(all)
	}{
		{"normal", 1, 0},
		{"data", 1, 1},
		{"none", 0, 0},
	} {
		b := newBrick(t, map[string]string{"fsync": tc.mode, "health-check-interval": "0", "data-path": "bio"})
		_, fd := b.mustCreate(b.root(), "f")
		b.mustWrite(fd, 0, []byte("x"))
		dev := fd.Ctx(b.px).(*fileCtx).dev
		c := b.call(xlator.FopFsync)
		before := dev.Stats().Submitted.Flush
		errIs(t, "fdatasync "+tc.mode, b.top().Fsync(c, fd, true), 0)
		mid := dev.Stats().Submitted.Flush
		errIs(t, "fsync "+tc.mode, b.top().Fsync(c, fd, false), 0)
		after := dev.Stats().Submitted.Flush
		c.Done()
		if int(mid-before) != tc.flushData || int(after-mid) != tc.flushAll {
			t.Errorf("fsync = %s: %d flushes for a datasync, %d for a full sync; want %d and %d",
				tc.mode, mid-before, after-mid, tc.flushData, tc.flushAll)
		}
	}
}

// TestPoolsAndDump: the brick's pools carry its objects (an open file's
// context from fd-ctx, a direct write's iovec array from iovec), and the
// dump shows the open files.
func TestPoolsAndDump(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: the pools count nothing")
	}
	b := newBrick(t, map[string]string{"health-check-interval": "0", "data-path": "direct"})
	_, fd := b.mustCreate(b.root(), "f")
	for i := 0; i < 10; i++ {
		b.mustWrite(fd, int64(i)*4096, pattern(4096, byte(i)))
	}
	pools := map[string]mempool.Stats{}
	for _, st := range b.env.Pools.ByOwner("l0") {
		pools[st.Name] = st
	}
	if st := pools["l0:fd-ctx"]; st.Hot != 1 || st.AllocCount != 1 {
		t.Errorf("fd-ctx with one file open: hot %d, alloc %d", st.Hot, st.AllocCount)
	}
	if st := pools["l0:iovec"]; st.Hot != 0 || st.AllocCount != 10 {
		t.Errorf("iovec after 10 writes: hot %d, alloc %d", st.Hot, st.AllocCount)
	}
	if _, ok := pools["l0:dir-ctx"]; !ok {
		t.Errorf("no dir-ctx pool: %v", pools)
	}
	kv := map[string]any{}
	for _, e := range b.px.Dump() {
		kv[e.Key] = e.Value
	}
	if kv["directory"] != b.dir || kv["open-fds"] != int64(1) || kv["health"] == nil {
		t.Errorf("dump %v", kv)
	}
}

func TestMknodAndStatByInode(t *testing.T) {
	b := newBrick(t, nil)
	root := b.root()
	c := b.call(xlator.FopMknod)
	defer c.Done()
	ia, err := b.top().Mknod(c, &xlator.Loc{Parent: root, Name: "reg"}, 0o640, 0, 0)
	if err != nil || !ia.IsRegular() || ia.Mode&0o777 != 0o640 {
		t.Fatalf("mknod regular: %+v %v", ia, err)
	}
	in := b.g.Inodes().Link(nil, root, "reg", &ia)
	got, err := b.stat(&xlator.Loc{Inode: in})
	if err != nil || got.Gfid != ia.Gfid || got.Ino != ia.Ino {
		t.Errorf("stat by inode: %+v %v", got, err)
	}
	_, err = b.top().Mknod(c, &xlator.Loc{Parent: root, Name: "reg"}, 0o640, 0, 0)
	errIs(t, "mknod existing", err, syscall.EEXIST)
	if os.Geteuid() == 0 {
		ia, err = b.top().Mknod(c, &xlator.Loc{Parent: root, Name: "null"}, syscall.S_IFCHR|0o666, uint32(unix.Mkdev(1, 3)), 0)
		if err != nil || ia.Type() != syscall.S_IFCHR || ia.Rdev != unix.Mkdev(1, 3) {
			t.Errorf("mknod chr: %+v %v", ia, err)
		}
	}
}

// TestDataPaths runs the data tests once per data path, each checked to
// be the one in use: bio, the default, and direct (plain system calls).
func TestDataPaths(t *testing.T) {
	for _, path := range []string{"bio", "direct"} {
		t.Run(path, func(t *testing.T) {
			testDataPath = path
			defer func() { testDataPath = "" }()
			for name, f := range map[string]func(*testing.T){
				"CreateWriteRead": TestCreateWriteRead,
				"OpenAppend":      TestOpenAppend,
				"ODirect":         TestODirect,
				"Fallocate":       TestFallocateMatchesLinux,
				"ReserveENOSPC":   TestReserveENOSPC,
				"DeepTree":        TestDeepTree,
				"Reserve":         TestReserveExact,
			} {
				t.Run(name, f)
			}
			b := newBrick(t, map[string]string{"health-check-interval": "0"})
			_, fd := b.mustCreate(b.root(), "f")
			b.mustWrite(fd, 0, pattern(8192, 1))
			equal(t, path+" read", b.mustRead(fd, 0, 8192), pattern(8192, 1))
			fc := fd.Ctx(b.px).(*fileCtx)
			if path == "direct" {
				if fc.dev != nil || b.px.data.name() != "direct" {
					t.Fatalf("data-path = direct made a bio device, or runs %s", b.px.data.name())
				}
				return
			}
			if fc.dev == nil {
				t.Fatal("no bio device on the open file")
			}
			if st := fc.dev.Stats(); st.Submitted.Read != 1 || st.Submitted.Write != 1 || st.BytesWritten != 8192 {
				t.Errorf("device stats %+v", st)
			}
		})
	}
}
