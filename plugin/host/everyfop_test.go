package host_test

import (
	"bytes"
	"fmt"
	"slices"
	"syscall"
	"testing"

	"github.com/xstack/xstack/internal/fopgen"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
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
			}
			if ia, err := top.Fsetattr(c, fd, &xlator.SetattrIn{Valid: xlator.SetMode, Mode: 0o600}); err != nil || ia.Mode&0o777 != 0o600 {
				t.Fatalf("fsetattr: mode %o, %v", ia.Mode, err)
			}
			must("fsync", top.Fsync(c, fd, false))
			must("flush", top.Flush(c, fd))
			must("fallocate", top.Fallocate(c, fd, xlator.FallocKeepSize, 0, 64<<10))
			must("discard", top.Discard(c, fd, 0, 4096))
			must("zerofill", top.Zerofill(c, fd, 4096, 4096))
			// Lseek is not in the plugin protocol yet (Local in the fop
			// table): the plugin side answers ENOSYS and the brick is not
			// asked.
			if _, err := top.Lseek(c, fd, 0, xlator.SeekHole); err != syscall.ENOSYS {
				t.Errorf("lseek through the plugin: %v, want ENOSYS until the protocol carries it", err)
			}
			// CopyFileRange is Local too: the plugin's translator in the
			// host answers ENOSYS, and the graph copies through its reads
			// and writes, which do cross.
			if n, err := top.CopyFileRange(c, fd, 8192, fd, 30000, 100, 0); err != nil || n != 100 {
				t.Fatalf("copy_file_range through the plugin: %d, %v; want 100 (by readv and writev)", n, err)
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
			if !slices.Equal(names, []string{"f", "h", "l", "p"}) {
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
			for _, name := range []string{"h", "l", "p", "f"} {
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
