package host_test

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

func noArenaBin(tb testing.TB) string { return build(tb, "plugin/internal/testplugin/noarena") }

// TestNoArena runs every fop that carries data through a pass-through
// plugin that cannot map the shared arena (plugin/internal/testplugin/
// noarena), under the default shm-size: the host makes an arena and
// passes it, the plugin says at Init that it could not map it, and from
// then on the host names no slot, lends no host memory and makes no
// ring call to it. Writes and reads of every size, large xattrs and a
// large directory listing all travel in gRPC messages, both ways, and
// come back intact; the statedump says the plugin runs without the
// arena, and why.
func TestNoArena(t *testing.T) {
	v := open(t, hcl(`
volume "brick" {
  type = "mem"
}

volume "na" {
  type       = "plugin"
  path       = %q
  subvolumes = ["brick"]
}
`, noArenaBin(t)), registry(nil), nil)
	g := v.Stack().Graph
	top, tab := g.Top(), g.Inodes()
	root := tab.Root()
	c := call(v, xlator.FopCreate)
	defer c.Done()

	in := tab.New()
	fd := g.NewFD(in, syscall.O_RDWR, 0, false)
	defer fd.Unref()
	ia, err := top.Create(c, &xlator.Loc{Parent: root, Name: "f", Inode: in}, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0, fd)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	f := tab.Link(in, root, "f", &ia)
	in.Unref()
	defer f.Unref()

	for _, size := range []int{4 << 10, 64 << 10, 1 << 20} {
		t.Run(fmt.Sprintf("writev+readv/size=%dKiB", size>>10), func(t *testing.T) {
			data := bytes.Repeat([]byte{byte(size >> 10)}, size)
			data[0], data[size-1] = 'a', 'z'
			// A host pool iobuf: the data a plugin with the arena would
			// read in place.
			ref := g.Env().Iobufs.FromBytes(data)
			n, err := top.Writev(c, fd, ref, 0)
			ref.Unref()
			if n != size || err != nil {
				t.Fatalf("writev of %d bytes: %d, %v", size, n, err)
			}
			if got := readAll(t, top, c, fd, size); !bytes.Equal(got, data) {
				t.Fatalf("readv of %d bytes: %d bytes, differ", size, len(got))
			}
		})
	}

	t.Run("xattr/size=256KiB", func(t *testing.T) {
		big := bytes.Repeat([]byte("xattr value "), 256<<10/12)
		loc := &xlator.Loc{Inode: f}
		if err := top.Setxattr(c, loc, "user.big", big, 0); err != nil {
			t.Fatalf("setxattr of %d bytes: %v", len(big), err)
		}
		got, err := top.Getxattr(c, loc, "user.big")
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("getxattr of %d bytes: %d bytes, %v", len(big), len(got), err)
		}
	})

	t.Run("readdirp/entries=3000", func(t *testing.T) {
		// The entries are made in the brick directly (in the host, no
		// round trips); the listing, some 600 KiB, crosses the plugin.
		const n = 3000
		if err := v.Mkdir("/many", 0o755); err != nil {
			t.Fatal(err)
		}
		d := lookup(t, v, top, "many")
		defer d.Unref()
		brick := g.Xlator("brick")
		for i := range n {
			in := tab.New()
			efd := g.NewFD(in, syscall.O_RDWR, 0, false)
			name := fmt.Sprintf("a-rather-long-file-name-to-fill-the-listing-%04d", i)
			if _, err := brick.Create(c, &xlator.Loc{Parent: d, Name: name, Inode: in}, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0, efd); err != nil {
				t.Fatalf("create %s in the brick: %v", name, err)
			}
			efd.Unref()
			in.Unref()
		}
		dfd := g.NewFD(d, syscall.O_RDONLY, 0, true)
		defer dfd.Unref()
		if err := top.Opendir(c, &xlator.Loc{Inode: d}, dfd); err != nil {
			t.Fatalf("opendir: %v", err)
		}
		ents, err := top.Readdir(c, dfd, 0, 2*n, true)
		if err != nil || len(ents) != n {
			t.Fatalf("readdirp of %d entries: %d, %v", n, len(ents), err)
		}
		for i, e := range ents {
			if want := fmt.Sprintf("a-rather-long-file-name-to-fill-the-listing-%04d", i); e.Name != want || e.Attr.Gfid.IsZero() {
				t.Fatalf("entry %d: %q (gfid %v), want %q with its attributes", i, e.Name, e.Attr.Gfid, want)
			}
		}
	})

	keys := map[string]string{}
	for _, kv := range hostOf(t, v, "na").Dump() {
		keys[kv.Key] = fmt.Sprint(kv.Value)
	}
	if a := keys["arena"]; !strings.HasPrefix(a, "off: the plugin did not map it") {
		t.Errorf("statedump arena = %q, want it to say the plugin runs without the arena", a)
	}
	if _, ok := keys["shm-slots"]; ok {
		t.Errorf("statedump shows arena slots for a plugin without the arena: %v", keys)
	}
}
