package posix

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/xlator"
)

// sentinel is a directory outside the brick that no fop may read, write,
// create or remove anything in. Its snapshot covers names, types, modes,
// sizes, owners, times (atime included: a read through an escape would
// move it on a strictatime mount; on relatime it still catches writes) and
// xattrs.
type sentinel struct {
	dir  string
	snap map[string]string
}

func newSentinel(t *testing.T) *sentinel {
	dir := filepath.Join(t.TempDir(), "sentinel")
	must(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("secret"), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("f"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644))
	s := &sentinel{dir: dir}
	s.snap = s.take(t)
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (s *sentinel) take(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		buf := make([]byte, 4096)
		n, _ := unix.Llistxattr(p, buf)
		m[p] = fmt.Sprintf("mode=%o size=%d uid=%d gid=%d nlink=%d mtime=%v ctime=%v xattrs=%q",
			st.Mode, st.Size, st.Uid, st.Gid, st.Nlink, st.Mtim, st.Ctim, buf[:max(n, 0)])
		return nil
	})
	if err != nil {
		t.Fatalf("walk sentinel: %v", err)
	}
	return m
}

func (s *sentinel) check(t *testing.T, after string) {
	t.Helper()
	now := s.take(t)
	if !reflect.DeepEqual(now, s.snap) {
		var diff []string
		for k, v := range now {
			if s.snap[k] != v {
				diff = append(diff, fmt.Sprintf("%s: %s -> %s", k, s.snap[k], v))
			}
		}
		for k := range s.snap {
			if _, ok := now[k]; !ok {
				diff = append(diff, k+": removed")
			}
		}
		sort.Strings(diff)
		t.Fatalf("after %s the sentinel outside the brick changed:\n%s", after, strings.Join(diff, "\n"))
	}
}

// TestEscapeByName: names that try to leave their directory are refused
// before any system call, for every entry fop.
func TestEscapeByName(t *testing.T) {
	s := newSentinel(t)
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	d := b.mustMkdir(root, "d")
	b.mustCreate(d, "f")
	rel, _ := filepath.Rel(filepath.Join(b.dir, "d"), filepath.Join(s.dir, "x"))
	bad := []string{"..", ".", "", "../x", "../../x", rel, s.dir + "/x", "/", "a/../../x", "x\x00y", "..\x00", "sub/f",
		strings.Repeat("a", 256), strings.Repeat("../", 100) + "x"}
	c := b.call(xlator.FopLookup)
	defer c.Done()
	x := b.top()
	for _, name := range bad {
		loc := &xlator.Loc{Parent: d, Name: name}
		want := syscall.EINVAL
		if len(name) > 255 && !strings.ContainsAny(name, "/\x00") {
			want = syscall.ENAMETOOLONG
		}
		q := fmt.Sprintf("%q", name)
		_, err := x.Lookup(c, loc)
		errIs(t, "lookup "+q, err, want)
		_, err = x.Mkdir(c, loc, 0o755, 0)
		errIs(t, "mkdir "+q, err, want)
		_, err = x.Mknod(c, loc, 0o644, 0, 0)
		errIs(t, "mknod "+q, err, want)
		_, err = x.Symlink(c, "t", loc, 0)
		errIs(t, "symlink "+q, err, want)
		_, _, _, err = b.create(d, name, syscall.O_RDWR, 0o644, 0)
		errIs(t, "create "+q, err, want)
		errIs(t, "unlink "+q, x.Unlink(c, loc), want)
		errIs(t, "rmdir "+q, x.Rmdir(c, loc), want)
		errIs(t, "rename from "+q, x.Rename(c, loc, &xlator.Loc{Parent: d, Name: "g"}, 0), want)
		errIs(t, "rename to "+q, x.Rename(c, &xlator.Loc{Parent: d, Name: "f"}, loc, 0), want)
		_, err = x.Link(c, &xlator.Loc{Parent: d, Name: "f"}, loc)
		errIs(t, "link to "+q, err, want)
		_, err = x.Stat(c, loc)
		errIs(t, "stat "+q, err, want)
		errIs(t, "setxattr "+q, x.Setxattr(c, loc, "user.a", []byte("1"), 0), want)
		_, err = x.Setattr(c, loc, &xlator.SetattrIn{Valid: xlator.SetMode, Mode: 0o777})
		errIs(t, "setattr "+q, err, want)
		_, err = b.open(&xlator.Loc{Parent: d, Name: name, Inode: b.g.Inodes().New()}, syscall.O_RDWR|syscall.O_TRUNC)
		errIs(t, "open "+q, err, want)
		s.check(t, "fops on "+q)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "d", "f")); err != nil {
		t.Errorf("the legitimate file is gone: %v", err)
	}
}

// TestEscapeBySymlink: symlinks inside the brick pointing outside it
// (absolute, relative, to /) are entries like any other; nothing goes
// through them.
func TestEscapeBySymlink(t *testing.T) {
	s := newSentinel(t)
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	d := b.mustMkdir(root, "d")
	relOut, _ := filepath.Rel(filepath.Join(b.dir, "d"), s.dir)
	targets := map[string]string{
		"abs":    s.dir,
		"rel":    relOut,
		"root":   "/",
		"dotdot": "../../../../../../../../..",
		"file":   filepath.Join(s.dir, "secret"),
		"proc":   "/proc/self/root" + s.dir,
	}
	c := b.call(xlator.FopSymlink)
	defer c.Done()
	x := b.top()
	for name, target := range targets {
		if _, err := x.Symlink(c, target, &xlator.Loc{Parent: d, Name: name}, 0); err != nil {
			t.Fatalf("symlink %s: %v", name, err)
		}
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			l, ia, err := b.lookup(d, name)
			if err != nil || !ia.IsSymlink() {
				t.Fatalf("lookup %s: %+v %v", name, ia, err)
			}
			if got, err := x.Readlink(c, &xlator.Loc{Inode: l}); err != nil || got != target {
				t.Errorf("readlink %q %v, want %q unchanged", got, err, target)
			}
			// Through it as a directory.
			for _, child := range []string{"secret", "x", "sub", "new"} {
				if _, _, err := b.lookup(l, child); err == nil {
					t.Errorf("lookup %s/%s succeeded", name, child)
				}
				if _, _, _, err := b.create(l, child, syscall.O_RDWR|syscall.O_TRUNC, 0o644, 0); err == nil {
					t.Errorf("create %s/%s succeeded", name, child)
				}
				if _, _, err := b.mkdir(l, child, 0o755, 0); err == nil {
					t.Errorf("mkdir %s/%s succeeded", name, child)
				}
				if err := x.Unlink(c, &xlator.Loc{Parent: l, Name: child}); err == nil {
					t.Errorf("unlink %s/%s succeeded", name, child)
				}
				if err := x.Rmdir(c, &xlator.Loc{Parent: l, Name: child}); err == nil {
					t.Errorf("rmdir %s/%s succeeded", name, child)
				}
				if _, err := x.Symlink(c, "z", &xlator.Loc{Parent: l, Name: child}, 0); err == nil {
					t.Errorf("symlink in %s succeeded", name)
				}
				if err := x.Rename(c, &xlator.Loc{Parent: l, Name: child}, &xlator.Loc{Parent: d, Name: "stolen"}, 0); err == nil {
					t.Errorf("rename %s/%s out succeeded", name, child)
				}
				if _, err := x.Link(c, &xlator.Loc{Parent: l, Name: child}, &xlator.Loc{Parent: d, Name: "stolen"}); err == nil {
					t.Errorf("link %s/%s in succeeded", name, child)
				}
			}
			if _, err := b.opendir(&xlator.Loc{Parent: d, Name: name, Inode: l}); err == nil {
				t.Errorf("opendir of symlink %s succeeded", name)
			}
			if _, err := b.opendir(&xlator.Loc{Inode: l}); err == nil {
				t.Errorf("opendir of symlink %s by inode succeeded", name)
			}
			_, err = b.open(&xlator.Loc{Parent: d, Name: name, Inode: l}, syscall.O_RDWR|syscall.O_TRUNC)
			errIs(t, "open symlink", err, syscall.ELOOP)
			_, err = b.open(&xlator.Loc{Inode: l}, syscall.O_RDONLY)
			errIs(t, "open symlink by inode", err, syscall.ELOOP)
			// Metadata fops act on the link itself, never on its target.
			_, err = x.Setattr(c, &xlator.Loc{Inode: l}, &xlator.SetattrIn{Valid: xlator.SetMode, Mode: 0o777})
			errIs(t, "chmod symlink", err, syscall.EOPNOTSUPP)
			_, err = x.Setattr(c, &xlator.Loc{Inode: l}, &xlator.SetattrIn{Valid: xlator.SetSize})
			errIs(t, "truncate symlink", err, syscall.EINVAL)
			if _, err := x.Setattr(c, &xlator.Loc{Inode: l}, &xlator.SetattrIn{Valid: xlator.SetMtime | xlator.SetAtime | xlator.SetUid,
				Uid: 4242, Mtime: xlator.Timespec{Sec: 12345}, Atime: xlator.Timespec{Sec: 12345}}); err != nil {
				t.Errorf("utimes/chown on symlink: %v", err)
			}
			errIs(t, "user xattr on symlink", x.Setxattr(c, &xlator.Loc{Inode: l}, "user.a", []byte("1"), 0), syscall.EPERM)
			if os.Geteuid() == 0 {
				errIs(t, "trusted xattr on symlink", x.Setxattr(c, &xlator.Loc{Inode: l}, "trusted.a", []byte("1"), 0), 0)
			}
			if _, err := x.Getxattr(c, &xlator.Loc{Inode: l}, "user.a"); err == nil {
				t.Errorf("getxattr read something")
			}
			if _, err := x.Listxattr(c, &xlator.Loc{Inode: l}); err != nil {
				t.Errorf("listxattr on symlink: %v", err)
			}
			errIs(t, "access on symlink", x.Access(c, &xlator.Loc{Inode: l}, unix.R_OK), 0)
			st, err := b.stat(&xlator.Loc{Inode: l})
			if err != nil || !st.IsSymlink() || st.Uid != 4242 {
				t.Errorf("stat of symlink: %+v %v", st, err)
			}
			// Hard link to the link, and rename it: both act on the link.
			if _, err := x.Link(c, &xlator.Loc{Parent: d, Name: name}, &xlator.Loc{Parent: d, Name: name + ".hard"}); err != nil {
				t.Errorf("hard link to symlink: %v", err)
			}
			if err := x.Rename(c, &xlator.Loc{Parent: d, Name: name + ".hard"}, &xlator.Loc{Parent: root, Name: name + ".moved"}, 0); err != nil {
				t.Errorf("rename symlink: %v", err)
			}
			s.check(t, "fops through symlink "+name)
			// A directory inode whose name became this symlink.
			if err := x.Unlink(c, &xlator.Loc{Parent: root, Name: name + ".moved"}); err != nil {
				t.Errorf("unlink symlink: %v", err)
			}
			s.check(t, "unlink of symlink "+name)
		})
	}
	// Removing the symlinks removes only them.
	for name := range targets {
		errIs(t, "unlink "+name, x.Unlink(c, &xlator.Loc{Parent: d, Name: name}), 0)
	}
	s.check(t, "unlinking every symlink")
}

// TestEscapeBySwap: a directory renamed away and replaced by a symlink to
// the outside between lookup and create. With the directory's handle cached
// the create lands in the moved directory, inside the brick; with the
// handle lost, re-resolution refuses the symlink.
func TestEscapeBySwap(t *testing.T) {
	s := newSentinel(t)
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	d := b.mustMkdir(root, "d")
	bd := filepath.Join(b.dir, "d")
	must(t, os.Rename(bd, filepath.Join(b.dir, "d-moved")))
	must(t, os.Symlink(s.dir, bd))

	_, fd, _, err := b.create(d, "secret", syscall.O_RDWR|syscall.O_TRUNC, 0o644, 0)
	if err != nil {
		t.Fatalf("create through the cached handle: %v", err)
	}
	b.mustWrite(fd, 0, []byte("inside"))
	fd.Unref()
	if data, err := os.ReadFile(filepath.Join(b.dir, "d-moved", "secret")); err != nil || string(data) != "inside" {
		t.Errorf("create did not land in the moved directory: %q %v", data, err)
	}
	s.check(t, "create with a cached handle")

	b.px.Forget(d) // the handle is lost: the name must be resolved again
	for _, name := range []string{"x", "secret", "new"} {
		if _, _, _, err := b.create(d, name, syscall.O_RDWR|syscall.O_TRUNC, 0o644, 0); err == nil {
			t.Errorf("create %s through a swapped-in symlink succeeded", name)
		}
		if _, _, err := b.mkdir(d, name, 0o755, 0); err == nil {
			t.Errorf("mkdir %s through a swapped-in symlink succeeded", name)
		}
		if err := b.top().Unlink(b.call(xlator.FopUnlink), &xlator.Loc{Parent: d, Name: name}); err == nil {
			t.Errorf("unlink %s through a swapped-in symlink succeeded", name)
		}
	}
	if _, err := b.opendir(&xlator.Loc{Inode: d}); err == nil {
		t.Errorf("opendir through a swapped-in symlink succeeded")
	}
	s.check(t, "fops after the handle was lost")

	// Deeper: the swapped directory is an ancestor.
	a := b.mustMkdir(root, "a")
	ab := b.mustMkdir(a, "b")
	b.px.Forget(ab)
	b.px.Forget(a)
	must(t, os.Rename(filepath.Join(b.dir, "a"), filepath.Join(b.dir, "a-moved")))
	must(t, os.Symlink(s.dir, filepath.Join(b.dir, "a")))
	must(t, os.Mkdir(filepath.Join(s.dir, "b"), 0o755)) // a "b" waiting outside
	s.snap = s.take(t)
	if _, _, _, err := b.create(ab, "x", syscall.O_RDWR|syscall.O_TRUNC, 0o644, 0); err == nil {
		t.Errorf("create under a swapped ancestor succeeded")
	}
	s.check(t, "create under a swapped ancestor")
}

// TestEscapeRace swaps a directory and a symlink to the outside in a loop
// while fops resolve the name afresh each time.
func TestEscapeRace(t *testing.T) {
	s := newSentinel(t)
	b := newBrick(t, map[string]string{"health-check-interval": "0"})
	root := b.root()
	b.mustMkdir(root, "r")
	real, link, tmp := filepath.Join(b.dir, "r"), filepath.Join(b.dir, "r-link"), filepath.Join(b.dir, "r-tmp")
	must(t, os.Symlink(s.dir, link))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// r <-> r-link, atomically.
			_ = unix.Renameat2(unix.AT_FDCWD, real, unix.AT_FDCWD, link, unix.RENAME_EXCHANGE)
		}
	}()
	_ = tmp
	landed := 0
	for i := 0; i < 300; i++ {
		in, _, err := b.lookup(root, "r")
		if err != nil {
			continue
		}
		b.px.Forget(in)
		name := fmt.Sprintf("f%d", i%5)
		if _, fd, _, err := b.create(in, name, syscall.O_RDWR|syscall.O_TRUNC, 0o644, 0); err == nil {
			b.mustWrite(fd, 0, []byte("in"))
			fd.Unref()
			landed++
		}
		b.mkdir(in, name+"d", 0o755, 0)
		b.top().Unlink(b.call(xlator.FopUnlink), &xlator.Loc{Parent: in, Name: "x"})
		b.top().Setxattr(b.call(xlator.FopSetxattr), &xlator.Loc{Parent: in, Name: "secret"}, "user.evil", []byte("1"), 0)
	}
	close(stop)
	wg.Wait()
	s.check(t, "racing swaps")
	t.Logf("%d of 300 creates landed (inside the brick)", landed)
}
