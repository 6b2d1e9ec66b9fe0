package fuse

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/cache"
)

// TestCoherenceBehindCache checks the coherence rule of doc.go on a mount
// of cache over mem, with a cache-timeout of an hour so that only the rule
// can make a change visible: a file rewritten below the cache (same size,
// new mtime; straight into mem, as another client of the brick would) is
// read back new through a fresh open at once, and through an fd kept open
// within the attribute timeout.
func TestCoherenceBehindCache(t *testing.T) {
	reg := xlatortest.Registry()
	cache.Register(reg)
	spec := xlatortest.Chain("cache", "mem")
	o, err := cache.Schema.Decode(map[string]string{"cache-timeout": "1h"})
	if err != nil {
		t.Fatal(err)
	}
	spec.Volumes[0].Options = o
	const attrTimeout = time.Second
	m := mountSpec(t, spec, reg, func(c *Config) { c.AttrTimeout = attrTimeout })

	old := bytes.Repeat([]byte("old data "), 1000)
	p := m.path("f")
	if err := os.WriteFile(p, old, 0o644); err != nil {
		t.Fatal(err)
	}
	kept, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	readKept := func() []byte {
		t.Helper()
		buf := make([]byte, len(old))
		if _, err := kept.ReadAt(buf, 0); err != nil {
			t.Fatal(err)
		}
		return buf
	}
	for range 2 { // into the kernel's pages and the cache's
		if got := readKept(); !bytes.Equal(got, old) {
			t.Fatal("first read differs")
		}
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, old) {
			t.Fatalf("first read differs: %v", err)
		}
	}

	fresh := bytes.Repeat([]byte("NEW DATA "), 1000)
	behind(t, m.g, "f", fresh)
	changed := time.Now()
	for !bytes.Equal(readKept(), fresh) {
		if time.Since(changed) > attrTimeout+2*time.Second {
			t.Fatalf("the open fd still reads the old data %v after the change (attr-timeout %v)", time.Since(changed), attrTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the open fd read the new data %v after the change", time.Since(changed))

	// A second change: a fresh open reads it at once.
	again := bytes.Repeat([]byte("new again"), 1000)
	behind(t, m.g, "f", again)
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, again) {
		t.Errorf("a fresh open after the change read old data (err %v)", err)
	}
}

// behind overwrites /name in the graph's bottom translator (mem, l1)
// with data, not through the translators above it, and moves its mtime.
func behind(t *testing.T, g *xlator.Graph, name string, data []byte) {
	t.Helper()
	tab := g.Inodes()
	in := tab.Child(tab.Root(), name)
	if in == nil {
		t.Fatalf("%s is not in the inode table", name)
	}
	defer in.Unref()
	mem := g.Xlator("l1")
	call := g.Calls().Begin(context.Background(), xlator.FopWritev, xlator.Creds{}, 0)
	defer call.Done()
	fd := g.NewFD(in, syscall.O_RDWR, 1, false)
	defer fd.Unref()
	if err := mem.Open(call, &xlator.Loc{Inode: in}, syscall.O_RDWR, fd); err != nil {
		t.Fatal(err)
	}
	ref := g.Env().Iobufs.FromBytes(data)
	defer ref.Unref()
	if _, err := mem.Writev(call, fd, ref, 0); err != nil {
		t.Fatal(err)
	}
	mt := xlator.Timespec{Sec: time.Now().Unix(), Nsec: int64(time.Now().Nanosecond())}
	if _, err := mem.Fsetattr(call, fd, &xlator.SetattrIn{Valid: xlator.SetMtime, Mtime: mt}); err != nil {
		t.Fatal(err)
	}
}
