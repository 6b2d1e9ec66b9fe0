package cache

import (
	"bytes"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

const kib = 1 << 10

func TestHitMissAccounting(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB"})
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	data := pattern(16*kib+100, 1)
	e.write(fd, 0, data)

	e.expect(fd, 0, len(data)+50, data) // 5 pages, one child readv
	s := e.c.Stats()
	if s.Misses != 5 || s.Hits != 0 || s.ChildReads != 1 || s.Pages != 5 || s.Bytes != int64(len(data)) {
		t.Fatalf("after the first read: %+v", s)
	}
	if got := e.childReads("l1"); got != 1 {
		t.Fatalf("mem served %d readvs, want 1", got)
	}
	e.expect(fd, 100, 8*kib, data[100:100+8*kib]) // pages 0..2: all hits
	e.expect(fd, 16*kib, 4*kib, data[16*kib:])    // the short last page
	e.expect(fd, int64(len(data)), 10, nil)       // at the end: empty, known from the size
	d := e.c.Stats().Sub(s)
	if d.Hits != 4 || d.Misses != 0 || d.ChildReads != 0 || d.BytesServed != 8*kib+100 {
		t.Fatalf("re-reads: %+v", d)
	}
	if got := e.childReads("l1"); got != 1 {
		t.Fatalf("mem served %d readvs after hits, want 1", got)
	}

	// A hit returns the cached iobufs themselves: no copy.
	ref, err := e.readRef(fd, 4*kib, 4*kib)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := ref.Entry(0)
	e.c.mu.Lock()
	_, held := e.c.held[b]
	e.c.mu.Unlock()
	ref.Unref()
	if !held {
		t.Fatal("a hit returned an iobuf the cache does not hold: it copied")
	}
	if s := e.c.Stats(); s.CopiedPages != 0 || s.HeldIobufs != 1 {
		t.Fatalf("one child reply should back all pages without copies: %+v", s)
	}

	kv := map[string]any{}
	for _, x := range e.c.Dump() {
		kv[x.Key] = x.Value
	}
	for _, k := range []string{"pages", "bytes-cached", "cache-size", "page-size", "hits", "misses", "bytes-served",
		"evictions", "revalidations", "invalidations", "single-flight-waits", "held-iobufs"} {
		if _, ok := kv[k]; !ok {
			t.Errorf("Dump lacks %q", k)
		}
	}
	if kv["hits"] != uint64(5) || kv["page-size"] != 4*kib {
		t.Errorf("Dump: hits=%v page-size=%v", kv["hits"], kv["page-size"])
	}
}

func TestSingleFlight(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB"}, "gate", "mem")
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	data := pattern(4*kib, 2)
	e.write(fd, 0, data)
	e.read(fd, 0, 1) // the first read revalidates; keep the fstat out of the race
	e.c.mu.Lock()
	e.c.dropAllLocked(e.c.stateOf(in))
	e.c.mu.Unlock()
	g := xlator.Unwrap(e.xl("l1")).(*gate)
	before := g.reads.Load()
	g.close()

	const readers = 16
	var wg sync.WaitGroup
	errs := make(chan string, readers)
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			off := int64(i * 200 % (4 * kib))
			ref, err := e.readRef(fd, off, 300)
			if err != nil {
				errs <- err.Error()
				return
			}
			got := make([]byte, ref.Size())
			ref.CopyTo(got)
			ref.Unref()
			if want := data[off:min(off+300, 4*kib)]; !bytes.Equal(got, want) {
				errs <- "wrong data"
			}
		}(i)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.c.Stats().Waits < readers-1 || g.waiting.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("readers did not gather: waits=%d in child=%d", e.c.Stats().Waits, g.waiting.Load())
		}
		time.Sleep(time.Millisecond)
	}
	g.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := g.reads.Load() - before; n != 1 {
		t.Fatalf("%d readers missing one page made %d child readvs, want 1", readers, n)
	}
	if s := e.c.Stats(); s.Waits != readers-1 {
		t.Fatalf("single-flight waits %d, want %d", s.Waits, readers-1)
	}
}

func TestEvictionLRU(t *testing.T) {
	// 8KiB pages: one page read alone sits in an 8KiB iobuf, so four of
	// them fill 32KiB.
	const ps = 8 * kib
	e := newTenv(t, map[string]string{"page-size": "8KiB", "cache-size": "32KiB"})
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	data := pattern(8*ps, 3)
	e.write(fd, 0, data)
	for p := 0; p < 4; p++ { // pages 0..3 fill the cache
		e.expect(fd, int64(p*ps), ps, data[p*ps:(p+1)*ps])
	}
	e.expect(fd, 0, 10, data[:10]) // page 0 is now the most recent
	e.expect(fd, 4*ps, ps, data[4*ps:5*ps])
	s := e.c.Stats()
	if s.Evictions != 1 || s.Pages != 4 || s.Bytes != 4*ps || s.HeldBytes != 4*ps {
		t.Fatalf("after a 5th page: %+v", s)
	}
	st := e.c.stateOf(in)
	e.c.mu.Lock()
	_, has0 := st.pages[0]
	_, has1 := st.pages[1]
	e.c.mu.Unlock()
	if !has0 || has1 {
		t.Fatalf("LRU evicted the wrong page: page 0 cached=%v, page 1 cached=%v", has0, has1)
	}
	// The cache's iobufs stay within cache-size whatever the read.
	e.expect(fd, 0, len(data), data)
	if s := e.c.Stats(); s.HeldBytes > 32*kib {
		t.Fatalf("cache holds %d bytes of iobufs over its 32KiB", s.HeldBytes)
	}
}

func TestEvictionPriority(t *testing.T) {
	o := options(t, Schema, map[string]string{"page-size": "4KiB", "cache-size": "16KiB"})
	o.Set("priority", priorityOption("*.hi", 5, "*.no", 0, "*.lo", 1), true)
	e := newTenvOpts(t, o)
	hi, hfd := e.create("a.hi")
	lo, lfd := e.create("b.lo")
	no, nfd := e.create("c.no")
	defer func() {
		for _, fd := range []*xlator.FD{hfd, lfd, nfd} {
			fd.Unref()
		}
		for _, in := range []*xlator.Inode{hi, lo, no} {
			in.Unref()
		}
	}()
	data := pattern(16*kib, 4)
	for _, fd := range []*xlator.FD{hfd, lfd, nfd} {
		e.write(fd, 0, data)
	}
	e.expect(hfd, 0, 8*kib, data[:8*kib]) // 2 high pages, the oldest
	e.expect(lfd, 0, 8*kib, data[:8*kib]) // 2 low pages: full
	e.expect(hfd, 8*kib, 8*kib, data[8*kib:])
	if got, want := e.pagesOf(hi), 4; got != want {
		t.Fatalf("high-priority file has %d pages, want %d (low priority evicted first)", got, want)
	}
	if got := e.pagesOf(lo); got != 0 {
		t.Fatalf("low-priority file kept %d pages", got)
	}
	before := e.c.Stats()
	e.expect(nfd, 0, 16*kib, data)
	if got := e.pagesOf(no); got != 0 || e.c.Stats().Sub(before).Bypassed != 1 {
		t.Fatalf("priority 0 file: %d pages cached, %+v", got, e.c.Stats().Sub(before))
	}
}

// TestInvalidation fills the cache with a file's pages, runs one fop through
// the cache, and checks that the pages went and that reads see the change.
func TestInvalidation(t *testing.T) {
	data := pattern(20*kib+100, 5) // 6 pages, the last one short
	type fixture struct {
		e     *tenv
		in    *xlator.Inode
		fd    *xlator.FD
		model []byte
	}
	cases := []struct {
		name string
		op   func(f *fixture)
		keep int // pages that may stay cached
	}{
		{"writev", func(f *fixture) {
			f.e.write(f.fd, 5*kib, []byte("xyz"))
			copy(f.model[5*kib:], "xyz")
		}, 4}, // pages 0, 2, 3, 4; 1 is overwritten and 5 (short) may have grown
		{"writev-extends", func(f *fixture) {
			f.e.write(f.fd, 24*kib, []byte("tail"))
			f.model = append(f.model, make([]byte, 24*kib-len(f.model))...)
			f.model = append(f.model, "tail"...)
		}, 5},
		{"writev-append", func(f *fixture) {
			fd := f.e.open(f.in, syscall.O_RDWR|syscall.O_APPEND)
			defer fd.Unref()
			f.e.write(fd, 0, []byte("appended"))
			f.model = append(f.model, "appended"...)
		}, 0},
		{"fsetattr-truncate", func(f *fixture) {
			f.e.fsetattr(f.e.g.Top(), f.fd, &xlator.SetattrIn{Valid: xlator.SetSize, Size: 6 * kib})
			f.model = f.model[:6*kib]
		}, 0},
		{"fsetattr-grow", func(f *fixture) {
			f.e.fsetattr(f.e.g.Top(), f.fd, &xlator.SetattrIn{Valid: xlator.SetSize, Size: 30 * kib})
			f.model = append(f.model, make([]byte, 30*kib-len(f.model))...)
		}, 0},
		{"setattr-mode", func(f *fixture) {
			call := f.e.call(xlator.FopSetattr)
			defer call.Done()
			if _, err := f.e.g.Top().Setattr(call, &xlator.Loc{Inode: f.in}, &xlator.SetattrIn{Valid: xlator.SetMode, Mode: 0o600}); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"unlink", func(f *fixture) {
			call := f.e.call(xlator.FopUnlink)
			defer call.Done()
			if err := f.e.g.Top().Unlink(call, &xlator.Loc{Parent: f.e.g.Inodes().Root(), Name: "f"}); err != nil {
				t.Fatal(err)
			}
			f.model = nil // mem forgets the file: reads fail; check no pages only
		}, 0},
		{"rename", func(f *fixture) {
			call := f.e.call(xlator.FopRename)
			defer call.Done()
			root := f.e.g.Inodes().Root()
			if err := f.e.g.Top().Rename(call, &xlator.Loc{Parent: root, Name: "f", Inode: f.in}, &xlator.Loc{Parent: root, Name: "g"}, 0); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"rename-over", func(f *fixture) {
			other, ofd := f.e.create("other")
			defer other.Unref()
			defer ofd.Unref()
			call := f.e.call(xlator.FopRename)
			defer call.Done()
			root := f.e.g.Inodes().Root()
			// f is the target: resolved by name, since the loc carries no inode.
			if err := f.e.g.Top().Rename(call, &xlator.Loc{Parent: root, Name: "other", Inode: other}, &xlator.Loc{Parent: root, Name: "f"}, 0); err != nil {
				t.Fatal(err)
			}
			f.model = nil
		}, 0},
		{"link", func(f *fixture) {
			call := f.e.call(xlator.FopLink)
			defer call.Done()
			root := f.e.g.Inodes().Root()
			if _, err := f.e.g.Top().Link(call, &xlator.Loc{Parent: root, Name: "f", Inode: f.in}, &xlator.Loc{Parent: root, Name: "h"}); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"fallocate-zero-range", func(f *fixture) {
			call := f.e.call(xlator.FopFallocate)
			defer call.Done()
			if err := f.e.g.Top().Fallocate(call, f.fd, xlator.FallocZeroRange, 1*kib, 2*kib); err != nil {
				t.Fatal(err)
			}
			clear(f.model[1*kib : 3*kib])
		}, 0},
		{"discard", func(f *fixture) {
			call := f.e.call(xlator.FopDiscard)
			defer call.Done()
			if err := f.e.g.Top().Discard(call, f.fd, 8*kib, 4*kib); err != nil {
				t.Fatal(err)
			}
			clear(f.model[8*kib : 12*kib])
		}, 0},
		{"zerofill", func(f *fixture) {
			call := f.e.call(xlator.FopZerofill)
			defer call.Done()
			if err := f.e.g.Top().Zerofill(call, f.fd, 18*kib, 4*kib); err != nil {
				t.Fatal(err)
			}
			f.model = append(f.model[:18*kib], make([]byte, 4*kib)...)
		}, 0},
		{"open-trunc", func(f *fixture) {
			fd := f.e.open(f.in, syscall.O_RDWR|syscall.O_TRUNC)
			fd.Unref()
			f.model = f.model[:0]
		}, 0},
		{"create-trunc", func(f *fixture) {
			tab := f.e.g.Inodes()
			in := tab.New()
			fd := f.e.g.NewFD(in, syscall.O_RDWR, 1, false)
			call := f.e.call(xlator.FopCreate)
			_, err := f.e.g.Top().Create(call, &xlator.Loc{Parent: tab.Root(), Name: "f", Inode: in}, syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC, 0o644, 0, fd)
			call.Done()
			fd.Unref()
			in.Unref()
			if err != nil {
				t.Fatal(err)
			}
			f.model = f.model[:0]
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newTenv(t, map[string]string{"page-size": "4KiB"})
			in, fd := e.create("f")
			defer in.Unref()
			defer fd.Unref()
			e.write(fd, 0, data)
			e.expect(fd, 0, 64*kib, data)
			if got := e.pagesOf(in); got != 6 {
				t.Fatalf("%d pages cached, want 6", got)
			}
			f := &fixture{e: e, in: in, fd: fd, model: bytes.Clone(data)}
			before := e.c.Stats()
			tc.op(f)
			if got := e.pagesOf(in); got > tc.keep {
				t.Fatalf("%d pages still cached after %s, want at most %d", got, tc.name, tc.keep)
			}
			if d := e.c.Stats().Sub(before); d.Invalidations == 0 {
				t.Fatalf("no invalidation counted: %+v", d)
			}
			if f.model != nil {
				e.expect(fd, 0, 64*kib, f.model)
				e.expect(fd, 0, 64*kib, f.model) // and again, from the cache
			}
		})
	}
}

// TestFailedWriteInvalidates checks that a write the child fails still drops
// the pages it may have touched.
func TestFailedWriteInvalidates(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB"}, "fault", "mem")
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	e.write(fd, 0, pattern(8*kib, 6))
	e.read(fd, 0, 8*kib)
	xlator.Unwrap(e.xl("l1")).(*xlatortest.Fault).SetFault(xlator.FopWritev, syscall.EIO)
	data := e.env.Iobufs.FromBytes([]byte("x"))
	call := e.call(xlator.FopWritev)
	_, err := e.g.Top().Writev(call, fd, data, 100)
	call.Done()
	data.Unref()
	if err == nil {
		t.Fatal("write succeeded through the fault")
	}
	if got := e.pagesOf(in); got != 1 {
		t.Fatalf("%d pages after a failed write to page 0, want 1 (page 1)", got)
	}
}

func TestReadErrorNotCached(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB"}, "fault", "mem")
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	data := pattern(8*kib, 7)
	e.write(fd, 0, data)
	fault := xlator.Unwrap(e.xl("l1")).(*xlatortest.Fault)
	fault.SetFault(xlator.FopReadv, syscall.EIO)
	if ref, err := e.readRef(fd, 0, 8*kib); err != syscall.EIO || ref != nil {
		t.Fatalf("read through a failing child: %v, %v", ref, err)
	}
	if got := e.pagesOf(in); got != 0 {
		t.Fatalf("%d pages cached from a failed read", got)
	}
	fault.SetFault(xlator.FopReadv, 0)
	e.expect(fd, 0, 8*kib, data)
}

func TestRevalidation(t *testing.T) {
	for _, change := range []string{"mtime", "size"} {
		t.Run(change, func(t *testing.T) {
			e := newTenv(t, map[string]string{"page-size": "4KiB", "cache-timeout": "1s"})
			in, fd := e.create("f")
			defer in.Unref()
			defer fd.Unref()
			old := pattern(8*kib, 8)
			e.write(fd, 0, old)
			e.expect(fd, 0, 8*kib, old)

			// Change the file behind the cache: straight to mem.
			mem := e.xl("l1")
			fresh := bytes.Clone(old)
			copy(fresh[100:], "changed behind the cache")
			e.writeTo(mem, fd, 100, []byte("changed behind the cache"))
			if change == "mtime" {
				e.fsetattr(mem, fd, &xlator.SetattrIn{Valid: xlator.SetMtime, Mtime: xlator.Timespec{Sec: 12345}})
			} else {
				e.writeTo(mem, fd, 8*kib, []byte("more"))
				fresh = append(fresh, "more"...)
			}
			before := e.c.Stats()
			e.now.Add(int64(500 * time.Millisecond))
			e.expect(fd, 0, 8*kib, old) // within cache-timeout: still the cached pages
			if d := e.c.Stats().Sub(before); d.Revalidations != 0 || d.Hits != 2 {
				t.Fatalf("before the timeout: %+v", d)
			}
			e.now.Add(int64(600 * time.Millisecond))
			e.expect(fd, 0, 16*kib, fresh)
			if d := e.c.Stats().Sub(before); d.Revalidations != 1 || d.StaleDrops != 1 {
				t.Fatalf("after the timeout: %+v", d)
			}
			// Unchanged since: the next revalidation keeps the pages.
			e.now.Add(int64(2 * time.Second))
			before = e.c.Stats()
			e.expect(fd, 0, 16*kib, fresh)
			if d := e.c.Stats().Sub(before); d.Revalidations != 1 || d.StaleDrops != 0 || d.Misses != 0 {
				t.Fatalf("revalidating an unchanged file: %+v", d)
			}
		})
	}
}

// TestOwnWriteNotStale checks that the stack's own writes do not make the
// next revalidation drop the file (posix moves mtime on write).
func TestOwnWriteNotStale(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB"})
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	e.write(fd, 0, pattern(16*kib, 9))
	e.read(fd, 0, 16*kib)
	e.write(fd, 0, []byte("abc"))
	e.read(fd, 0, 16*kib)
	e.now.Add(int64(2 * time.Second))
	before := e.c.Stats()
	e.read(fd, 0, 16*kib)
	if d := e.c.Stats().Sub(before); d.StaleDrops != 0 || d.Misses != 0 {
		t.Fatalf("own write taken for a change behind the cache: %+v", d)
	}
}

func TestFileSizeLimits(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB", "min-file-size": "8KiB", "max-file-size": "16KiB"})
	sizes := map[string]int{"small": 4 * kib, "ok": 12 * kib, "big": 20 * kib}
	cached := map[string]bool{"small": false, "ok": true, "big": false}
	for name, size := range sizes {
		in, fd := e.create(name)
		data := pattern(size, 10)
		e.write(fd, 0, data)
		e.expect(fd, 0, 32*kib, data)
		e.expect(fd, 0, 32*kib, data)
		if got := e.pagesOf(in) > 0; got != cached[name] {
			t.Errorf("%s (%d bytes): cached=%v, want %v", name, size, got, cached[name])
		}
		fd.Unref()
		in.Unref()
	}
	// A file that grows past max-file-size stops being cached.
	in, fd := e.create("grows")
	defer in.Unref()
	defer fd.Unref()
	e.write(fd, 0, pattern(12*kib, 11))
	e.read(fd, 0, 12*kib)
	e.write(fd, 12*kib, pattern(12*kib, 12))
	e.read(fd, 0, 24*kib)
	if got := e.pagesOf(in); got != 0 {
		t.Fatalf("file grown to 24KiB keeps %d pages", got)
	}
}

func TestReadAhead(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB", "read-ahead": "3"})
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	data := pattern(64*kib, 13)
	e.write(fd, 0, data)
	for off := 0; off < 64*kib; off += 4 * kib { // a sequential reader
		e.expect(fd, int64(off), 4*kib, data[off:off+4*kib])
	}
	s := e.c.Stats()
	if s.ChildReads != 4 || s.Misses != 4 || s.ReadAhead != 12 || s.Hits != 12 {
		t.Fatalf("16 sequential page reads with read-ahead 3: %+v", s)
	}
	// Random reads do not read ahead.
	e2 := newTenv(t, map[string]string{"page-size": "4KiB", "read-ahead": "3"})
	in2, fd2 := e2.create("f")
	defer in2.Unref()
	defer fd2.Unref()
	e2.write(fd2, 0, data)
	e2.read(fd2, 40*kib, 4*kib)
	e2.read(fd2, 8*kib, 4*kib)
	if s := e2.c.Stats(); s.ReadAhead != 0 {
		t.Fatalf("non-sequential reads read ahead: %+v", s)
	}
	// Read-ahead stops at the end of the file.
	e2.read(fd2, 60*kib, 4*kib)
	e2.read(fd2, 64*kib, 4*kib)
	if s := e2.c.Stats(); s.ReadAhead != 0 {
		t.Fatalf("read ahead past the end of the file: %+v", s)
	}
}

func TestBypass(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB"})
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	data := pattern(8*kib, 14)
	e.write(fd, 0, data)
	dfd := e.open(in, syscall.O_RDONLY|syscall.O_DIRECT)
	defer dfd.Unref()
	e.expect(dfd, 0, 8*kib, data)
	if got := e.pagesOf(in); got != 0 {
		t.Fatalf("an O_DIRECT read cached %d pages", got)
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{map[string]string{"page-size": "12KiB"}, "power of two"},
		{map[string]string{"cache-size": "64KiB", "page-size": "128KiB"}, "cannot hold one page: a page of page-size 128KiB pins a 128KiB iobuf"},
		{map[string]string{"cache-size": "4KiB", "page-size": "4KiB"}, "raise cache-size to at least 8KiB"},
		{map[string]string{"min-file-size": "2MiB", "max-file-size": "1MiB"}, "exceeds max-file-size"},
	} {
		spec := xlatortest.Chain("cache", "mem")
		spec.Volumes[0].Options = options(t, Schema, tc.set)
		reg := xlatortest.Registry()
		Register(reg)
		g, err := xlator.New(spec, reg, xlatortest.NewEnv(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Init(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: Init error %v, want one mentioning %q", tc.set, err, tc.want)
		}
	}
}

// TestIobufsReleased checks that, with every file closed, the pool's active
// iobufs are exactly what the cache holds, and that stopping the graph
// releases them all, as well as the cache's pool objects.
func TestIobufsReleased(t *testing.T) {
	env := xlatortest.NewEnv(t)
	spec := xlatortest.Chain("cache", "mem")
	spec.Volumes[0].Options = options(t, Schema, map[string]string{"page-size": "4KiB", "cache-size": "64KiB"})
	reg := xlatortest.Registry()
	Register(reg)
	g := xlatortest.Start(t, spec, reg, env)
	e := &tenv{tb: t, env: env, g: g, c: xlator.Unwrap(g.Xlator("l0")).(*Cache)}
	base := env.Iobufs.Stats().Active()
	for i := 0; i < 4; i++ {
		in, fd := e.create(string(rune('a' + i)))
		e.write(fd, 0, pattern(40*kib+i*1000, byte(i)))
		for off := 0; off < 40*kib; off += 3000 {
			e.read(fd, int64(off), 5000)
		}
		e.read(fd, 0, 64*kib)
		fd.Unref()
		in.Unref()
	}
	if s := e.c.Stats(); s.Evictions == 0 || s.HeldIobufs == 0 {
		t.Fatalf("workload did not exercise eviction: %+v", s)
	}
	if got, held := env.Iobufs.Stats().Active()-base, int64(e.c.HeldIobufs()); got != held {
		t.Fatalf("active iobufs %d, cache holds %d", got, held)
	}
	g.Stop()
	if got := env.Iobufs.Stats().Active(); got != base {
		t.Fatalf("after stop %d iobufs active, want %d", got, base)
	}
	if s := env.Iobufs.Stats(); s.IobrefActive != 0 {
		t.Fatalf("after stop %d iobrefs active", s.IobrefActive)
	}
	for _, p := range env.Pools.Pools() {
		if strings.HasPrefix(p.Name, "l0:") {
			t.Errorf("pool %s still registered after stop", p.Name)
		}
	}
}

// TestForgetFreesState checks that forgetting an inode frees its state and
// pages, returning the pool objects and the iobufs.
func TestForgetFreesState(t *testing.T) {
	e := newTenv(t, map[string]string{"page-size": "4KiB"})
	base := e.env.Iobufs.Stats().Active()
	in, fd := e.create("f")
	e.write(fd, 0, pattern(10*kib, 15))
	e.read(fd, 0, 10*kib)
	if s := e.c.Stats(); s.Pages != 3 || s.Inodes != 1 {
		t.Fatalf("before forget: %+v", s)
	}
	fd.Unref()
	in.Unref()
	e.g.Inodes().Purge() // forgets the idle inode
	if s := e.c.Stats(); s.Pages != 0 || s.Inodes != 0 || s.HeldIobufs != 0 {
		t.Fatalf("after forget: %+v", s)
	}
	if got := e.env.Iobufs.Stats().Active(); got != base {
		t.Fatalf("%d iobufs active after forget, want %d", got, base)
	}
	names := map[string]bool{}
	for _, p := range e.env.Pools.ByOwner("l0") {
		names[p.Name] = true
		if p.Active != 0 {
			t.Errorf("pool %s has %d objects out after forget", p.Name, p.Active)
		}
	}
	for _, n := range []string{"l0:pages", "l0:inodes", "l0:fills"} {
		if !names[n] {
			t.Errorf("no pool %s among %v", n, names)
		}
	}
}

// TestAttributesRevalidate: a lookup, stat, fstat or readdirplus through
// the cache that returns attributes showing a change behind the cache
// drops the file's pages at once, within cache-timeout, so that whoever
// learns of the change from those attributes (the FUSE kernel, which then
// drops its own pages and reads again) reads the new data. Attributes that
// show no change keep the pages, and so does the stack's own write.
func TestAttributesRevalidate(t *testing.T) {
	for _, fop := range []string{"lookup", "stat", "fstat", "readdirplus"} {
		t.Run(fop, func(t *testing.T) {
			e := newTenv(t, map[string]string{"page-size": "4KiB", "cache-timeout": "1h"})
			in, fd := e.create("f")
			defer in.Unref()
			defer fd.Unref()
			old := pattern(8*kib, 8)
			e.write(fd, 0, old)
			e.expect(fd, 0, 8*kib, old)
			top := e.g.Top()
			ask := func() {
				t.Helper()
				root := e.g.Inodes().Root()
				call := e.call(xlator.FopStat)
				defer call.Done()
				var err error
				switch fop {
				case "lookup":
					_, err = top.Lookup(call, &xlator.Loc{Parent: root, Name: "f"})
				case "stat":
					_, err = top.Stat(call, &xlator.Loc{Inode: in})
				case "fstat":
					_, err = top.Fstat(call, fd)
				case "readdirplus":
					dfd := e.g.NewFD(root, syscall.O_RDONLY, 1, true)
					defer dfd.Unref()
					if err = top.Opendir(call, &xlator.Loc{Inode: root}, dfd); err == nil {
						_, err = top.Readdir(call, dfd, 0, 100, true)
					}
				}
				if err != nil {
					t.Fatalf("%s: %v", fop, err)
				}
			}
			// Unchanged: the pages stay.
			before := e.c.Stats()
			ask()
			e.expect(fd, 0, 8*kib, old)
			if d := e.c.Stats().Sub(before); d.StaleDrops != 0 || d.Misses != 0 {
				t.Fatalf("attributes of an unchanged file dropped its pages: %+v", d)
			}
			// Changed behind the cache, same size, new mtime.
			mem := e.xl("l1")
			fresh := bytes.Clone(old)
			copy(fresh[100:], "changed behind the cache")
			e.writeTo(mem, fd, 100, []byte("changed behind the cache"))
			e.fsetattr(mem, fd, &xlator.SetattrIn{Valid: xlator.SetMtime, Mtime: xlator.Timespec{Sec: 12345}})
			before = e.c.Stats()
			ask()
			e.expect(fd, 0, 8*kib, fresh)
			if d := e.c.Stats().Sub(before); d.StaleDrops != 1 || d.Revalidations != 0 {
				t.Fatalf("after the %s showed the change: %+v", fop, d)
			}
			// The stack's own write is not taken for a change.
			e.write(fd, 0, []byte("own"))
			copy(fresh, "own")
			e.expect(fd, 0, 8*kib, fresh)
			before = e.c.Stats()
			ask()
			e.expect(fd, 0, 8*kib, fresh)
			if d := e.c.Stats().Sub(before); d.StaleDrops != 0 || d.Misses != 0 {
				t.Fatalf("own write taken for a change behind the cache: %+v", d)
			}
		})
	}
}
