package cache

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// activeBytes is the total size of the iobufs callers hold: what the pool
// has handed out and not had back.
func activeBytes(s iobuf.Stats) int64 {
	n := s.StdallocBytes
	for _, c := range s.Classes {
		n += c.ActiveCnt * int64(c.PageSize)
	}
	return n
}

// dumped returns the cache's statedump section as a map.
func (t *tenv) dumped() map[string]any {
	kv := map[string]any{}
	for _, x := range t.c.Dump() {
		kv[x.Key] = x.Value
	}
	return kv
}

// dataBytes sums the lengths of the cached pages of every file: what
// bytes-cached must say.
func (t *tenv) dataBytes() int64 {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	var n int64
	for st := t.c.states.nextSt; st != &t.c.states; st = st.nextSt {
		for _, p := range st.pages {
			if p.state == pageReady {
				n += int64(p.n)
			}
		}
	}
	return n
}

// TestCacheSizeBoundsHeldMemory checks what doc.go says cache-size bounds:
// held-bytes, the whole iobufs the pages pin, never exceeds cache-size,
// after any read. The child is posix, which answers a readv of n bytes in
// an iobuf of the class of n whatever the file holds, as a real stack
// does. Once every fd is closed, the statedump's figures are what is
// pinned: held-iobufs and held-bytes are the pool's active iobufs and
// their total size, and bytes-cached the data in the pages.
func TestCacheSizeBoundsHeldMemory(t *testing.T) {
	for _, tc := range []struct {
		name        string
		set         map[string]string
		files, size int // files of size bytes each
		read        int // bytes per readv, sequential from 0
		// Expectations after reading every file twice.
		copies    bool  // pages were copied into right-sized iobufs
		perPage   int64 // if > 0: each page pins exactly this much
		wantPages int64 // if > 0: the pages cached
	}{
		// 1KiB files read as FUSE reads them (4KiB and up): each reply
		// is a 128KiB iobuf, each page is kept in a 2KiB one, and
		// 256KiB holds 128 of them.
		{name: "small files", set: map[string]string{"cache-size": "256KiB"},
			files: 300, size: kib, read: 4 * kib, copies: true, perPage: 2 * kib, wantPages: 128},
		// 1MiB reads of 128KiB pages keep the 1MiB reply by reference.
		{name: "large reads", set: map[string]string{"cache-size": "3MiB"},
			files: 5, size: 1 << 20, read: 1 << 20, wantPages: 24},
		// Two pages of a 130KiB file in a 256KiB reply: the right-sized
		// iobufs (128KiB + 2KiB) would take more than half of it.
		{name: "page and a bit", set: map[string]string{"cache-size": "1MiB"},
			files: 6, size: 130 * kib, read: 256 * kib, wantPages: 8},
		// A 384KiB read comes back in a 1MiB iobuf, larger than the whole
		// cache: its three pages are copied and all fit.
		{name: "reply larger than cache-size", set: map[string]string{"cache-size": "384KiB"},
			files: 2, size: 384 * kib, read: 384 * kib, copies: true, perPage: 128 * kib, wantPages: 3},
		// 4KiB pages with read-ahead: multi-page fills share their reply;
		// a 100-byte last page read alone is copied out of its 8KiB one.
		{name: "small pages read-ahead", set: map[string]string{"page-size": "4KiB", "cache-size": "64KiB", "read-ahead": "3"},
			files: 6, size: 20*kib + 100, read: 4 * kib, copies: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := graphOver(t, true, "posix", tc.set)
			base := e.env.Iobufs.Stats()
			limit := e.c.cacheSize
			type file struct {
				in   *xlator.Inode
				fd   *xlator.FD
				data []byte
			}
			files := make([]file, tc.files)
			for i := range files {
				f := &files[i]
				f.data = pattern(tc.size, byte(i))
				f.in, f.fd = e.create(fmt.Sprintf("f%d", i))
				e.write(f.fd, 0, f.data)
			}
			for pass := 0; pass < 2; pass++ {
				for i, f := range files {
					for off := 0; off < tc.size; off += tc.read {
						e.expect(f.fd, int64(off), tc.read, f.data[off:min(off+tc.read, tc.size)])
						if s := e.c.Stats(); s.HeldBytes > limit {
							t.Fatalf("pass %d, file %d, read at %d: held-bytes %d over cache-size %d (%+v)",
								pass, i, off, s.HeldBytes, limit, s)
						}
					}
				}
			}
			for _, f := range files {
				f.fd.Unref()
			}
			s := e.c.Stats()
			if s.Pages == 0 || s.Evictions == 0 {
				t.Fatalf("the workload did not fill the cache: %+v", s)
			}
			if (s.CopiedPages > 0) != tc.copies {
				t.Errorf("copied %d pages, want copies=%v: %+v", s.CopiedPages, tc.copies, s)
			}
			if tc.perPage > 0 && s.HeldBytes != s.Pages*tc.perPage {
				t.Errorf("%d pages hold %d bytes, want %d each: %+v", s.Pages, s.HeldBytes, tc.perPage, s)
			}
			if tc.wantPages > 0 && s.Pages != tc.wantPages {
				t.Errorf("%d pages cached, want %d: %+v", s.Pages, tc.wantPages, s)
			}

			// The figures are what is pinned.
			now := e.env.Iobufs.Stats()
			if got := now.Active() - base.Active(); got != s.HeldIobufs {
				t.Errorf("the pool has %d iobufs out, the cache says it holds %d", got, s.HeldIobufs)
			}
			if got := activeBytes(now) - activeBytes(base); got != s.HeldBytes {
				t.Errorf("the pool has %d bytes out, the cache says it holds %d", got, s.HeldBytes)
			}
			if got := e.dataBytes(); got != s.Bytes {
				t.Errorf("the pages hold %d bytes of data, bytes-cached says %d", got, s.Bytes)
			}
			d := e.dumped()
			for key, want := range map[string]int64{"held-bytes": s.HeldBytes, "held-iobufs": s.HeldIobufs,
				"bytes-cached": s.Bytes, "pages": s.Pages, "cache-size": limit} {
				if d[key] != want {
					t.Errorf("statedump %s = %v, want %d", key, d[key], want)
				}
			}
			for _, f := range files {
				f.in.Unref()
			}
		})
	}
}

// TestBoundConcurrent reads small files from several goroutines while
// another samples the statedump: held-bytes never exceeds cache-size in
// any sample.
func TestBoundConcurrent(t *testing.T) {
	e := graphOver(t, true, "posix", map[string]string{"cache-size": "128KiB"})
	const readers, perReader = 4, 100
	type file struct {
		in   *xlator.Inode
		fd   *xlator.FD
		data []byte
	}
	files := make([]file, readers*perReader)
	for i := range files {
		f := &files[i]
		f.data = pattern(kib+i%kib, byte(i))
		f.in, f.fd = e.create(fmt.Sprintf("f%d", i))
		e.write(f.fd, 0, f.data)
	}
	defer func() {
		for _, f := range files {
			f.fd.Unref()
			f.in.Unref()
		}
	}()
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	var worst int64
	sampler.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if v, _ := e.dumped()["held-bytes"].(int64); v > worst {
				worst = v
			}
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for r := range readers {
		wg.Go(func() {
			for pass := 0; pass < 3; pass++ {
				for i := r * perReader; i < (r+1)*perReader; i++ {
					ref, err := e.readRef(files[i].fd, 0, 4*kib)
					if err != nil {
						errs <- err
						return
					}
					got := make([]byte, ref.Size())
					ref.CopyTo(got)
					ref.Unref()
					if !bytes.Equal(got, files[i].data) {
						errs <- fmt.Errorf("file %d: wrong data", i)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s := e.c.Stats(); s.Evictions == 0 || s.CopiedPages == 0 {
		t.Fatalf("the workload did not evict or copy: %+v", s)
	}
	if worst > e.c.cacheSize || worst == 0 {
		t.Fatalf("held-bytes peaked at %d, cache-size %d", worst, e.c.cacheSize)
	}
}

// lender sits between the cache and its child in TestBorrowedNotKept: it
// answers readvs from memory of its own that it lends to the pool
// (iobuf.Pool.Borrow), as a plugin's shared-memory slot is, and counts
// what is still out.
type lender struct {
	xlator.Base
	mu  sync.Mutex
	out int
}

var lenderType = xlator.Type{Name: "lender", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &lender{} }}

func (l *lender) Return(uint64) {
	l.mu.Lock()
	l.out--
	l.mu.Unlock()
}

func (l *lender) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	data, err := l.Base.Readv(c, fd, size, off)
	if err != nil {
		return nil, err
	}
	defer data.Unref()
	slot := make([]byte, 1<<20) // a slot: more than the bytes lent
	n := data.CopyTo(slot)
	l.mu.Lock()
	l.out++
	l.mu.Unlock()
	b := l.Iobufs().Borrow(slot[:n], l, 0)
	ref := l.Iobufs().NewIobref()
	if n > 0 {
		ref.AddRange(b, 0, n)
	}
	b.Unref()
	return ref, nil
}

// TestBorrowedNotKept: the cache copies the pages of a reply in lent
// memory, whose size it cannot count, and returns the loan as soon as its
// readers are done.
func TestBorrowedNotKept(t *testing.T) {
	o := options(t, Schema, map[string]string{"page-size": "8KiB"})
	e := newTenvOpts(t, o, "lender", "mem")
	l := xlator.Unwrap(e.g.Xlator("l1")).(*lender)
	in, fd := e.create("f")
	defer in.Unref()
	defer fd.Unref()
	data := pattern(20*kib, 9)
	e.write(fd, 0, data)
	e.expect(fd, 0, 32*kib, data)
	e.expect(fd, 0, 32*kib, data)
	s := e.c.Stats()
	if s.Pages != 3 || s.CopiedPages != 3 || s.Hits != 3 {
		t.Fatalf("want 3 pages, copied and then hit: %+v", s)
	}
	l.mu.Lock()
	out := l.out
	l.mu.Unlock()
	if out != 0 || e.env.Iobufs.BorrowActive() != 0 {
		t.Fatalf("%d loans still out (%d borrowed iobufs): the cache kept lent memory", out, e.env.Iobufs.BorrowActive())
	}
}
