package host_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/internal/fopgen"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// TestEveryFopCrossesPlugin runs every fop of xlator.Fops through the
// pass-through plugin over a posix brick in the host, once with the
// shared-memory arena (rings, data in place or in slots) and once without
// it (shm-size = 0: every fop and its data in gRPC messages), checks each
// result, and checks from the brick's own statistics that every fop went
// into the plugin and came back to the host (but for the fops the fop
// table marks Local, which the protocol does not carry yet).
func TestEveryFopCrossesPlugin(t *testing.T) {
	for _, shm := range []string{"32MiB", "0"} {
		t.Run("shm-size="+shm, func(t *testing.T) {
			dir := t.TempDir()
			v := open(t, hcl(`
volume "brick" {
  type                  = "posix"
  directory             = %q
  health-check-interval = "0"
}

volume "pt" {
  type       = "plugin"
  path       = %q
  subvolumes = ["brick"]
  shm-size   = %q
}
`, dir, passthroughBin(t), shm), registry(nil), nil)
			g := v.Stack().Graph
			top, tab := g.Top(), g.Inodes()
			root := tab.Root()
			c := call(v, xlator.FopLookup)
			defer c.Done()
			must := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			// link records a fop's result in the table as a front end does.
			link := func(parent *xlator.Inode, name string, ia xlator.Iatt, err error) *xlator.Inode {
				t.Helper()
				must(name, err)
				if ia.Gfid.IsZero() {
					t.Fatalf("%s: no gfid", name)
				}
				return tab.Link(nil, parent, name, &ia)
			}
			newLoc := func(parent *xlator.Inode, name string) *xlator.Loc {
				return &xlator.Loc{Parent: parent, Name: name, Inode: tab.New()}
			}

			_, err := top.Lookup(c, &xlator.Loc{Inode: root})
			must("lookup /", err)
			_, err = top.Stat(c, &xlator.Loc{Inode: root})
			must("stat /", err)
			// Fsid crosses too: posix gives the brick's device, which
			// stripe needs to count a file system once.
			var dst syscall.Stat_t
			must("stat brick", syscall.Stat(dir, &dst))
			if st, err := top.Statfs(c, &xlator.Loc{Inode: root}); err != nil || st.Bsize == 0 || st.Fsid != dst.Dev {
				t.Fatalf("statfs: %+v %v; want Fsid %d, the brick's device", st, err, dst.Dev)
			}

			l := newLoc(root, "d")
			ia, err := top.Mkdir(c, l, 0o755, 0)
			d := link(root, "d", ia, err)
			l.Inode.Unref()
			dfd := g.NewFD(d, syscall.O_RDONLY, 0, true)
			must("opendir", top.Opendir(c, &xlator.Loc{Inode: d}, dfd))

			l = newLoc(d, "f")
			fd := g.NewFD(l.Inode, syscall.O_RDWR, 0, false)
			ia, err = top.Create(c, l, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0, fd)
			f := link(d, "f", ia, err)
			l.Inode.Unref()
			data := bytes.Repeat([]byte("every fop "), 2000) // 20000 bytes
			ref := g.Env().Iobufs.FromBytes(data)
			n, err := top.Writev(c, fd, ref, 0)
			ref.Unref()
			if n != len(data) || err != nil {
				t.Fatalf("writev: %d, %v", n, err)
			}
			got := readAll(t, top, c, fd, len(data)+100)
			if !bytes.Equal(got, data) {
				t.Fatalf("readv: %d bytes, differ", len(got))
			}
			if ia, err := top.Fstat(c, fd); err != nil || ia.Size != int64(len(data)) {
				t.Fatalf("fstat: size %d, %v", ia.Size, err)
			} else {
				// The birth time and statx mask cross too.
				var x unix.Statx_t
				must("statx brick file", unix.Statx(unix.AT_FDCWD, filepath.Join(dir, "d", "f"), 0, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &x))
				bt := xlator.Timespec{Sec: x.Btime.Sec, Nsec: int64(x.Btime.Nsec)}
				if ia.Mask != x.Mask&(unix.STATX_BASIC_STATS|unix.STATX_BTIME) || ia.Btime != bt {
					t.Errorf("fstat through the plugin: mask %#x, btime %v; the brick file's are %#x, %v", ia.Mask, ia.Btime, x.Mask, bt)
				}
			}
			if ia, err := top.Fsetattr(c, fd, &xlator.SetattrIn{Valid: xlator.SetMode, Mode: 0o600}); err != nil || ia.Mode&0o777 != 0o600 {
				t.Fatalf("fsetattr: mode %o, %v", ia.Mode, err)
			}
			must("fsync", top.Fsync(c, fd, false))
			must("flush", top.Flush(c, fd))
			must("fallocate", top.Fallocate(c, fd, xlator.FallocKeepSize, 0, 64<<10))
			must("discard", top.Discard(c, fd, 0, 4096))
			must("zerofill", top.Zerofill(c, fd, 4096, 4096))
			// Lseek answers as lseek(2) on the brick's file does.
			bf, err := os.Open(filepath.Join(dir, "d", "f"))
			must("open the brick's file", err)
			wantHole, err := unix.Seek(int(bf.Fd()), 0, unix.SEEK_HOLE)
			bf.Close()
			must("SEEK_HOLE on the brick's file", err)
			if off, err := top.Lseek(c, fd, 0, xlator.SeekHole); err != nil || off != wantHole {
				t.Errorf("lseek through the plugin: %d, %v; the brick's file says %d", off, err, wantHole)
			}
			// The brick keeps no locks: its ENOSYS comes back.
			if _, err := top.Lk(c, fd, xlator.LkSet, &xlator.Flock{Type: xlator.LockWrite, End: xlator.LockToEOF}); err != syscall.ENOSYS {
				t.Errorf("lk through the plugin to posix: %v, want posix's ENOSYS", err)
			}
			// An unnamed file made through the plugin, written, then
			// named with Link of its inode alone, reads back by its name.
			tl := &xlator.Loc{Parent: d, Inode: tab.New()}
			tfd := g.NewFD(tl.Inode, syscall.O_RDWR, 0, false)
			ia, err = top.Tmpfile(c, tl, syscall.O_RDWR, 0o600, 0, tfd)
			must("tmpfile", err)
			if ia.Gfid.IsZero() || ia.Nlink != 0 {
				t.Fatalf("tmpfile: %+v", ia)
			}
			tin := tab.Link(tl.Inode, nil, "", &ia)
			tl.Inode.Unref()
			tref := g.Env().Iobufs.FromBytes([]byte("unnamed"))
			if n, err := top.Writev(c, tfd, tref, 0); n != 7 || err != nil {
				t.Fatalf("writev to the tmpfile: %d, %v", n, err)
			}
			tref.Unref()
			if ia, err := top.Link(c, &xlator.Loc{Inode: tin}, &xlator.Loc{Parent: d, Name: "t"}); err != nil || ia.Gfid != tin.GFID() {
				t.Fatalf("link of the tmpfile: %+v %v", ia, err)
			}
			tfd.Unref()
			tin.Unref()
			if b, err := os.ReadFile(filepath.Join(dir, "d", "t")); err != nil || string(b) != "unnamed" {
				t.Fatalf("the linked tmpfile in the brick: %q, %v", b, err)
			}
			// The pass-through plugin is DataTransparent: its copy goes on
			// to the brick as a copy.
			if n, err := top.CopyFileRange(c, fd, 8192, fd, 30000, 100, 0); err != nil || n != 100 {
				t.Fatalf("copy_file_range through the plugin: %d, %v; want 100", n, err)
			}
			if got := readAll(t, top, c, fd, 30100); !bytes.Equal(got[30000:], data[8192:8292]) {
				t.Fatal("copy_file_range through the plugin: the bytes copied differ")
			}
			got = readAll(t, top, c, fd, len(data))
			if !bytes.Equal(got[:8192], make([]byte, 8192)) || !bytes.Equal(got[8192:], data[8192:]) {
				t.Fatal("after discard and zerofill: the range is not zeroes, or the rest changed")
			}

			if ia, err := top.Setattr(c, &xlator.Loc{Inode: f}, &xlator.SetattrIn{Valid: xlator.SetSize, Size: 10000}); err != nil || ia.Size != 10000 {
				t.Fatalf("setattr size: %d, %v", ia.Size, err)
			}
			must("access", top.Access(c, &xlator.Loc{Inode: f}, 4))

			loc := &xlator.Loc{Inode: f}
			must("setxattr", top.Setxattr(c, loc, "user.k", []byte("v"), 0))
			if val, err := top.Getxattr(c, loc, "user.k"); err != nil || string(val) != "v" {
				t.Fatalf("getxattr: %q, %v", val, err)
			}
			if names, err := top.Listxattr(c, loc); err != nil || !slices.Contains(names, "user.k") {
				t.Fatalf("listxattr: %v, %v", names, err)
			}
			must("removexattr", top.Removexattr(c, loc, "user.k"))
			if _, err := top.Getxattr(c, loc, "user.k"); errno(err) != syscall.ENODATA {
				t.Fatalf("getxattr after removexattr: %v", err)
			}

			l = newLoc(d, "l")
			ia, err = top.Symlink(c, "f", l, 0)
			link(d, "l", ia, err).Unref()
			l.Inode.Unref()
			if tgt, err := top.Readlink(c, &xlator.Loc{Parent: d, Name: "l", Inode: tab.Child(d, "l")}); err != nil || tgt != "f" {
				t.Fatalf("readlink: %q, %v", tgt, err)
			}
			l = newLoc(d, "p")
			ia, err = top.Mknod(c, l, syscall.S_IFIFO|0o644, 0, 0)
			if p := link(d, "p", ia, err); p.Type() != syscall.S_IFIFO {
				t.Fatalf("mknod made type %o", p.Type())
			} else {
				p.Unref()
			}
			l.Inode.Unref()
			ia, err = top.Link(c, &xlator.Loc{Inode: f}, &xlator.Loc{Parent: d, Name: "g"})
			if err != nil || ia.Gfid != f.GFID() || ia.Nlink != 2 {
				t.Fatalf("link: %+v %v", ia, err)
			}
			tab.Link(f, d, "g", &ia).Unref()
			must("rename", top.Rename(c, &xlator.Loc{Parent: d, Name: "g", Inode: f}, &xlator.Loc{Parent: d, Name: "h"}, 0))
			tab.Rename(d, "g", d, "h")

			ents, err := top.Readdir(c, dfd, 0, 100, true)
			must("readdir", err)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name)
			}
			slices.Sort(names)
			if !slices.Equal(names, []string{"f", "h", "l", "p", "t"}) {
				t.Fatalf("readdir: %v", names)
			}
			must("fsyncdir", top.Fsyncdir(c, dfd, false))

			ofd := g.NewFD(f, syscall.O_RDONLY, 0, false)
			must("open", top.Open(c, &xlator.Loc{Inode: f}, syscall.O_RDONLY, ofd))
			if got := readAll(t, top, c, ofd, 100); !bytes.Equal(got, make([]byte, 100)) {
				t.Fatalf("read through a second open: %q", got)
			}
			ofd.Unref()
			fd.Unref()
			dfd.Unref()
			for _, name := range []string{"h", "l", "p", "f", "t"} {
				must("unlink "+name, top.Unlink(c, &xlator.Loc{Parent: d, Name: name}))
				tab.Unlink(d, name)
			}
			must("rmdir", top.Rmdir(c, &xlator.Loc{Parent: root, Name: "d"}))
			tab.Unlink(root, "d")
			f.Unref()
			d.Unref()

			// Every fop reached the brick through the plugin.
			var brick xlator.XlatorStats
			for _, x := range g.Xlators() {
				if x.Name == "brick" {
					brick = x.Stats
				}
			}
			for op := xlator.Fop(0); op < xlator.NumFops; op++ {
				if brick.Count(op) == 0 && !fopgen.Table[op].Local {
					t.Errorf("%v never reached the brick through the plugin", op)
				}
			}
			// The transport was the one asked for: the rings with the
			// arena, gRPC messages alone without it.
			keys := map[string]string{}
			for _, kv := range hostOf(t, v, "pt").Dump() {
				keys[kv.Key] = fmt.Sprint(kv.Value)
			}
			if shm == "0" {
				if _, ok := keys["shm-slots"]; ok {
					t.Errorf("shm-size 0 made an arena: %v", keys)
				}
			} else if keys["ring-calls"] == "0" || keys["grpc-fop-calls"] != "0" {
				t.Errorf("with the arena: ring-calls = %s, grpc-fop-calls = %s", keys["ring-calls"], keys["grpc-fop-calls"])
			}
		})
	}
}

// readAll reads up to size bytes of fd from offset 0.
func readAll(t *testing.T, top xlator.Xlator, c *xlator.Call, fd *xlator.FD, size int) []byte {
	t.Helper()
	ref, err := top.Readv(c, fd, size, 0)
	if err != nil {
		t.Fatalf("readv: %v", err)
	}
	defer ref.Unref()
	return copyOut(ref)
}

func copyOut(ref *iobuf.Iobref) []byte {
	b := make([]byte, ref.Size())
	ref.CopyTo(b)
	return b
}

// TestLocksCrossPlugin: locks placed through a plugin are kept by a locks
// volume below it for the caller's lock owner, which crosses in the
// call's header: two owners conflict, an owner's own locks do not, and a
// flush through the plugin drops its caller's locks, on the rings and by
// gRPC.
func TestLocksCrossPlugin(t *testing.T) {
	for _, shm := range []string{"32MiB", "0"} {
		t.Run("shm-size="+shm, func(t *testing.T) {
			v := open(t, hcl(`
volume "brick" {
  type                  = "posix"
  directory             = %q
  health-check-interval = "0"
}

volume "locks" {
  type       = "locks"
  subvolumes = ["brick"]
}

volume "pt" {
  type       = "plugin"
  path       = %q
  subvolumes = ["locks"]
  shm-size   = %q
}
`, t.TempDir(), passthroughBin(t), shm), registry(nil), nil)
			g := v.Stack().Graph
			if !g.KeepsLocks() {
				t.Fatal("the graph does not say it keeps locks")
			}
			in, fd := xlatortest.Create(t, g, "f")
			defer in.Unref()
			defer fd.Unref()
			lk := func(owner uint64, typ uint32) error {
				c := g.Calls().Begin(t.Context(), xlator.FopLk, xlator.Creds{LkOwner: owner, Pid: 7}, 0)
				defer c.Done()
				_, err := g.Top().Lk(c, fd, xlator.LkSet, &xlator.Flock{Type: typ, Start: 10, End: 19, Pid: 7})
				return err
			}
			if err := lk(1, xlator.LockWrite); err != nil {
				t.Fatal(err)
			}
			if err := lk(2, xlator.LockRead); !errors.Is(err, syscall.EAGAIN) {
				t.Fatalf("owner 2 over owner 1's lock: %v, want EAGAIN", err)
			}
			if err := lk(1, xlator.LockRead); err != nil {
				t.Fatalf("owner 1 converting its own lock: %v", err)
			}
			c := g.Calls().Begin(t.Context(), xlator.FopLk, xlator.Creds{Pid: 7}, 0)
			got, err := g.Top().Lk(c, fd, xlator.LkGet, &xlator.Flock{Type: xlator.LockWrite, End: xlator.LockToEOF})
			c.Done()
			if err != nil || got.Type != xlator.LockRead || got.Start != 10 || got.End != 19 || got.Pid != 7 {
				t.Fatalf("getlk through the plugin: %+v, %v", got, err)
			}
			c = g.Calls().Begin(t.Context(), xlator.FopFlush, xlator.Creds{LkOwner: 1}, 0)
			err = g.Top().Flush(c, fd)
			c.Done()
			if err != nil {
				t.Fatal(err)
			}
			if err := lk(2, xlator.LockWrite); err != nil {
				t.Fatalf("after owner 1's flush: %v", err)
			}
		})
	}
}
