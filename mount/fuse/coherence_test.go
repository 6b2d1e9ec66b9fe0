package fuse

import (
	"bytes"
	"context"
	"fmt"
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

// TestInvalidateUpcall: with attribute and cache timeouts of an hour, the
// kernel would serve an open file's old pages for an hour after a change
// below the cache. Once the cache learns of the change (here from a stat
// through the graph, as another front end would make), it tells the
// graph's front ends, and the bridge has the kernel drop its pages and
// attributes of the file (NOTIFY_INVAL_INODE): the open fd reads the new
// data at once.
func TestInvalidateUpcall(t *testing.T) {
	reg := xlatortest.Registry()
	cache.Register(reg)
	spec := xlatortest.Chain("cache", "mem")
	o, err := cache.Schema.Decode(map[string]string{"cache-timeout": "1h"})
	if err != nil {
		t.Fatal(err)
	}
	spec.Volumes[0].Options = o
	m := mountSpec(t, spec, reg, func(c *Config) { c.AttrTimeout, c.EntryTimeout = time.Hour, time.Hour })

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
	buf := make([]byte, len(old))
	for range 2 {
		if _, err := kept.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, old) {
			t.Fatalf("first read: %v", err)
		}
	}
	fresh := bytes.Repeat([]byte("NEW DATA "), 1000)
	behind(t, m.g, "f", fresh)
	before := m.srv.Stats()

	// Another front end asks the graph for the file's attributes.
	tab := m.g.Inodes()
	in := tab.Child(tab.Root(), "f")
	call := m.g.Calls().Begin(context.Background(), xlator.FopStat, xlator.Creds{}, 0)
	_, err = m.g.Top().Stat(call, &xlator.Loc{Inode: in})
	call.Done()
	in.Unref()
	if err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return m.srv.Stats().InvalInodes > before.InvalInodes }) {
		t.Fatal("no NOTIFY_INVAL_INODE was sent")
	}
	if _, err := kept.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, fresh) {
		t.Fatalf("the open fd reads old data after the invalidation (err %v)", err)
	}
}

// TestInodeLRULimit: with InodeLRULimit 200, listing 2000 files with their
// attributes leaves the kernel (and so the graph's inode table) holding
// about the limit, not 2000: the bridge drops the least recently used
// files' dentries (NOTIFY_INVAL_ENTRY) and the kernel forgets them. A file
// kept open stays, and every file still reads back.
func TestInodeLRULimit(t *testing.T) {
	const limit, files = 200, 2000
	m := mountWith(t, xlatortest.Registry(), func(c *Config) { c.InodeLRULimit = limit }, "mem")
	for i := range files {
		if err := os.WriteFile(m.path(fmt.Sprintf("f%04d", i)), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := os.Open(m.path("f0000"))
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	ents, err := os.ReadDir(m.dir)
	if err != nil || len(ents) != files {
		t.Fatalf("readdir: %d entries, %v", len(ents), err)
	}
	for _, e := range ents {
		if _, err := os.Lstat(m.path(e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if !eventually(func() bool { return m.srv.Stats().Nodes <= 2*limit }) {
		t.Fatalf("the kernel holds %d nodes with an LRU limit of %d", m.srv.Stats().Nodes, limit)
	}
	st := m.srv.Stats()
	t.Logf("nodes %d, inodes in the table %d, inval-entries %d, shrinks %d", st.Nodes, m.g.Inodes().Stats().Linked, st.InvalEntries, st.Shrinks)
	if st.InvalEntries == 0 || st.NotifyErrors != 0 {
		t.Errorf("inval-entries %d, notify errors %d", st.InvalEntries, st.NotifyErrors)
	}
	eventually(func() bool { return m.g.Inodes().Stats().Linked <= 2*limit })
	if got := m.g.Inodes().Stats(); got.Linked > 2*limit || got.LRULimit != limit {
		t.Errorf("the inode table holds %d inodes (LRU limit %d) with an inode LRU limit of %d", got.Linked, got.LRULimit, limit)
	}
	b := make([]byte, 1)
	if _, err := kept.ReadAt(b, 0); err != nil || b[0] != 0 {
		t.Errorf("the kept file: %v %v", b, err)
	}
	for i := range files {
		got, err := os.ReadFile(m.path(fmt.Sprintf("f%04d", i)))
		if err != nil || len(got) != 1 || got[0] != byte(i) {
			t.Fatalf("f%04d: %v %v", i, got, err)
		}
	}
}

// TestSmallMaxWrite: a MaxWrite under 4 KiB is raised to 4 KiB (the
// kernel refuses a request buffer under 8 KiB, and INIT failed), and data
// goes through in requests of that size.
func TestSmallMaxWrite(t *testing.T) {
	m := mountWith(t, xlatortest.Registry(), func(c *Config) { c.MaxWrite = 512 }, "mem")
	data := bytes.Repeat([]byte("0123456789"), 3000)
	if err := os.WriteFile(m.path("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(m.path("f")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
}
