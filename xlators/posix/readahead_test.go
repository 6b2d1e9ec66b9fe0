package posix

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/runtime/bio"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
)

// raBrick is a brick with read-ahead of window bytes (and total, "" for
// the default) and a file "f" of data, with a read-only fd open on it.
type raBrick struct {
	*brick
	in   *xlator.Inode
	wfd  *xlator.FD // the writer's fd
	data []byte
}

func newRABrick(t *testing.T, window, total string, size int, inject bio.InjectFunc) *raBrick {
	t.Helper()
	set := map[string]string{"health-check-interval": "0", "data-path": "bio", "read-ahead": window}
	if total != "" {
		set["read-ahead-total"] = total
	}
	b := newBrick(t, set)
	b.px.data.(*bioPath).inject = inject
	in, wfd := b.mustCreate(b.root(), "f")
	data := pattern(size, 7)
	for off := 0; off < size; off += 1 << 20 {
		b.mustWrite(wfd, int64(off), data[off:min(size, off+1<<20)])
	}
	t.Cleanup(wfd.Unref)
	return &raBrick{brick: b, in: in, wfd: wfd, data: data}
}

// reader opens f read-only.
func (b *raBrick) reader(t *testing.T) *xlator.FD {
	t.Helper()
	fd, err := b.open(&xlator.Loc{Inode: b.in}, syscall.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func (b *raBrick) stats() raStats { return b.px.ra.stats() }

// settle waits until no read-ahead bio is in flight.
func (b *raBrick) settle(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); b.stats().InFlight != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("read-ahead bios still in flight: %+v", b.stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// onBrick is the file's content as the brick's file system has it.
func (b *raBrick) onBrick(t *testing.T) []byte {
	t.Helper()
	d, err := os.ReadFile(filepath.Join(b.dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// deviceReads is the read bios the brick's devices were submitted, open
// and closed.
func (b *raBrick) deviceReads() uint64 {
	bp := b.px.data.(*bioPath)
	bp.mu.Lock()
	defer bp.mu.Unlock()
	n := bp.retired.Submitted.Read
	for d := range bp.devs {
		n += d.Stats().Submitted.Read
	}
	return n
}

func activeIobufs(p *iobuf.Pool) int64 {
	st := p.Stats()
	n := st.StdallocActive
	for _, c := range st.Classes {
		n += c.ActiveCnt
	}
	return n
}

// TestReadAheadSequential: sequential readvs of any size are served, from
// the second continuation on, from the read-ahead iobufs without a pread
// of their own (the device sees one read bio per readv that read-ahead did
// not wholly serve, plus the read-ahead bios), the bytes are the file's up
// to its end, and a readv served from read-ahead returns the read-ahead
// iobuf itself (no copy).
func TestReadAheadSequential(t *testing.T) {
	const size = 9<<20 + 123 // not a multiple of anything
	for _, rs := range []int{4 << 10, 64 << 10, 256 << 10, 1 << 20, 3 << 20} {
		t.Run("read="+xlator.FormatSize(int64(rs)), func(t *testing.T) {
			b := newRABrick(t, "1MiB", "", size, nil)
			fd := b.reader(t)
			reads, zeroCopy := 0, 0
			for off := 0; ; off += rs {
				c := b.call(xlator.FopReadv)
				ref, err := b.top().Readv(c, fd, rs, int64(off))
				c.Done()
				if err != nil {
					t.Fatalf("readv %d at %d: %v", rs, off, err)
				}
				reads++
				got := make([]byte, ref.Size())
				ref.CopyTo(got)
				equal(t, "readv at "+xlator.FormatSize(int64(off)), got, b.data[min(off, size):min(off+rs, size)])
				if ref.Len() > 0 {
					if buf, _, _ := ref.Entry(0); buf.PageSize() == b.px.ra.chunk && rs < b.px.ra.chunk {
						zeroCopy++
					}
				}
				ref.Unref()
				if len(got) < rs {
					break
				}
			}
			b.settle(t)
			st := b.stats()
			t.Logf("%d readvs: %+v", reads, st)
			if st.Submitted == 0 || st.Hits == 0 {
				t.Fatalf("read-ahead never served a readv: %+v", st)
			}
			if want := uint64(reads) - 4; st.Hits+st.PartialHits < want {
				t.Errorf("hits %d + partial %d of %d readvs, want at least %d", st.Hits, st.PartialHits, reads, want)
			}
			if got, want := b.deviceReads(), st.Submitted+uint64(reads)-st.Hits; got != want {
				t.Errorf("device read bios %d, want read-ahead's %d + one per readv not wholly served %d", got, st.Submitted, uint64(reads)-st.Hits)
			}
			if rs < b.px.ra.chunk && zeroCopy == 0 {
				t.Errorf("no readv returned a read-ahead iobuf (page size %d)", b.px.ra.chunk)
			}
			fd.Unref()
			if st := b.stats(); st.HeldBytes != 0 || st.InFlight != 0 || st.Files != 1 {
				t.Errorf("after release: %+v (want nothing held; only the writer's file registered)", st)
			}
		})
	}
}

// TestReadAheadRandomReadsDoNotTrigger: random reads submit no read-ahead,
// on a file larger and one smaller than the window.
func TestReadAheadRandomReadsDoNotTrigger(t *testing.T) {
	for _, size := range []int{8 << 20, 512 << 10} {
		t.Run("file="+xlator.FormatSize(int64(size)), func(t *testing.T) {
			b := newRABrick(t, "1MiB", "", size, nil)
			fd := b.reader(t)
			defer fd.Unref()
			rng := rand.New(rand.NewPCG(1, 2))
			for range 500 {
				off := rng.IntN(size/4096) * 4096
				equal(t, "random read", b.mustRead(fd, int64(off), 4096), b.data[off:off+4096])
			}
			if st := b.stats(); st.Submitted != 0 || st.HeldBytes != 0 {
				t.Fatalf("random reads triggered read-ahead: %+v", st)
			}
		})
	}
}

// TestReadAheadInvalidation: every fop that changes the file's data or size
// through posix, by any fd or by path, drops the windows read before it,
// so the next readv returns what the file holds now.
func TestReadAheadInvalidation(t *testing.T) {
	const size = 4 << 20
	const rs = 64 << 10
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, b *raBrick, rfd *xlator.FD, at int64)
	}{
		{"writev", func(t *testing.T, b *raBrick, _ *xlator.FD, at int64) { b.mustWrite(b.wfd, at, pattern(3*rs, 99)) }},
		{"writev-same-fd", func(t *testing.T, b *raBrick, rfd *xlator.FD, at int64) { b.mustWrite(rfd, at, pattern(rs, 42)) }},
		{"setattr-size", func(t *testing.T, b *raBrick, _ *xlator.FD, at int64) {
			c := b.call(xlator.FopSetattr)
			defer c.Done()
			if _, err := b.top().Setattr(c, &xlator.Loc{Inode: b.in}, &xlator.SetattrIn{Valid: xlator.SetSize, Size: at + 100}); err != nil {
				t.Fatal(err)
			}
		}},
		{"fsetattr-size", func(t *testing.T, b *raBrick, _ *xlator.FD, at int64) {
			c := b.call(xlator.FopFsetattr)
			defer c.Done()
			if _, err := b.top().Fsetattr(c, b.wfd, &xlator.SetattrIn{Valid: xlator.SetSize, Size: at + 100}); err != nil {
				t.Fatal(err)
			}
		}},
		{"fallocate-punch-hole", func(t *testing.T, b *raBrick, _ *xlator.FD, at int64) {
			c := b.call(xlator.FopFallocate)
			defer c.Done()
			if err := b.top().Fallocate(c, b.wfd, xlator.FallocPunchHole|xlator.FallocKeepSize, at, 2*rs); err != nil {
				t.Fatal(err)
			}
		}},
		{"discard", func(t *testing.T, b *raBrick, _ *xlator.FD, at int64) {
			c := b.call(xlator.FopDiscard)
			defer c.Done()
			if err := b.top().Discard(c, b.wfd, at, 2*rs); err != nil {
				t.Fatal(err)
			}
		}},
		{"zerofill", func(t *testing.T, b *raBrick, _ *xlator.FD, at int64) {
			c := b.call(xlator.FopZerofill)
			defer c.Done()
			if err := b.top().Zerofill(c, b.wfd, at, 2*rs); err != nil {
				t.Fatal(err)
			}
		}},
		{"create-trunc", func(t *testing.T, b *raBrick, _ *xlator.FD, at int64) {
			_, fd, _, err := b.create(b.root(), "f", syscall.O_WRONLY|syscall.O_TRUNC, 0o644, 0)
			if err != nil {
				t.Fatal(err)
			}
			fd.Unref()
		}},
		{"open-trunc", func(t *testing.T, b *raBrick, _ *xlator.FD, at int64) {
			fd, err := b.open(&xlator.Loc{Inode: b.in}, syscall.O_WRONLY|syscall.O_TRUNC)
			if err != nil {
				t.Fatal(err)
			}
			fd.Unref()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newRABrick(t, "1MiB", "", size, nil)
			fd, err := b.open(&xlator.Loc{Inode: b.in}, syscall.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			defer fd.Unref()
			off := int64(0)
			for range 4 {
				equal(t, "before", b.mustRead(fd, off, rs), b.data[off:off+rs])
				off += rs
			}
			b.settle(t)
			before := b.stats()
			if before.HeldBytes == 0 {
				t.Fatalf("no window to invalidate: %+v", before)
			}
			tc.change(t, b, fd, off+rs)
			want := b.onBrick(t)
			for first := true; first || off < int64(len(want))+rs; off += rs {
				first = false
				got := b.mustRead(fd, off, rs)
				equal(t, "after at "+xlator.FormatSize(off), got, want[min(off, int64(len(want))):min(off+rs, int64(len(want)))])
			}
			if st := b.stats(); st.Invalidations == before.Invalidations {
				t.Errorf("no invalidation counted: %+v", st)
			}
		})
	}
}

// TestReadAheadErrorIsNotSuccess: a read-ahead bio that fails is dropped
// and counted; the readv it would have served reads normally, and returns
// that read's error if it fails too, never the failed window's bytes.
func TestReadAheadErrorIsNotSuccess(t *testing.T) {
	const size = 4 << 20
	const rs = 64 << 10
	var fail atomic.Bool
	inject := func(op bio.Op, off int64, n int) (int, error) {
		if op == bio.OpRead && fail.Load() && off >= 3*rs {
			return 0, syscall.EIO
		}
		return n, nil
	}
	b := newRABrick(t, "1MiB", "", size, inject)
	fd := b.reader(t)
	defer fd.Unref()
	fail.Store(true)
	for off := int64(0); off < 4*rs; off += rs {
		if off < 3*rs { // the third submits the windows from 3*rs
			equal(t, "before the failure", b.mustRead(fd, off, rs), b.data[off:off+rs])
			continue
		}
		// The window for this readv failed, and so does its own pread.
		if _, err := b.read(fd, off, rs); err != syscall.EIO {
			t.Fatalf("readv over a failed window with a failing disk: %v, want EIO", err)
		}
	}
	b.settle(t)
	if st := b.stats(); st.Errors == 0 || st.Hits != 0 {
		t.Fatalf("failed read-ahead not counted, or served: %+v", st)
	}
	// The disk recovers: the readvs read normally, then read ahead again.
	fail.Store(false)
	for off := int64(3 * rs); off < 10*rs; off += rs {
		equal(t, "after the failure", b.mustRead(fd, off, rs), b.data[off:off+rs])
	}
	b.settle(t)
	if st := b.stats(); st.Hits == 0 {
		t.Errorf("read-ahead did not resume: %+v", st)
	}

	// A window that fails while the disk serves the readv's own pread: the
	// readv succeeds with the right bytes, from the pread.
	b2 := newRABrick(t, "1MiB", "", size, inject)
	fd2 := b2.reader(t)
	defer fd2.Unref()
	equal(t, "first", b2.mustRead(fd2, 0, rs), b2.data[:rs])
	equal(t, "second", b2.mustRead(fd2, rs, rs), b2.data[rs:2*rs])
	fail.Store(true)
	equal(t, "third", b2.mustRead(fd2, 2*rs, rs), b2.data[2*rs:3*rs]) // submits windows from 3*rs: they fail
	b2.settle(t)
	fail.Store(false)
	equal(t, "over the failed window", b2.mustRead(fd2, 3*rs, rs), b2.data[3*rs:4*rs])
	if st := b2.stats(); st.Errors == 0 || st.HitBytes != 0 {
		t.Fatalf("want the failed windows counted and nothing served from them: %+v", st)
	}
}

// TestReadAheadMemoryBound: a file's windows never span more than window +
// 2 chunks, the brick's never more than read-ahead-total, and readers past
// the total read without read-ahead; every buffer comes back at release.
func TestReadAheadMemoryBound(t *testing.T) {
	const size = 8 << 20
	const rs = 128 << 10
	b := newRABrick(t, "1MiB", "1MiB", size, nil)
	ra := b.px.ra
	base := activeIobufs(b.env.Iobufs)
	var fds []*xlator.FD
	for range 4 {
		fds = append(fds, b.reader(t))
	}
	for off := int64(0); off < size; off += rs {
		for _, fd := range fds {
			equal(t, "read", b.mustRead(fd, off, rs), b.data[off:off+rs])
			if st := b.stats(); st.HeldBytes > ra.total {
				t.Fatalf("held %d > total %d", st.HeldBytes, ra.total)
			}
			s := &fd.Ctx(b.px).(*fileCtx).ra
			s.mu.Lock()
			if n := len(s.chunks); n > 0 {
				if span := s.chunks[n-1].end() - s.chunks[0].off; span > ra.window+2*int64(ra.chunk) {
					t.Errorf("one fd's windows span %d > window %d + 2 chunks", span, ra.window)
				}
			}
			s.mu.Unlock()
		}
	}
	st := b.stats()
	if st.Throttled == 0 || st.Hits == 0 {
		t.Errorf("want both throttling and hits with 4 readers and room for one: %+v", st)
	}
	for _, fd := range fds {
		fd.Unref()
	}
	if st := b.stats(); st.HeldBytes != 0 || st.InFlight != 0 {
		t.Errorf("after release: %+v", st)
	}
	if got := activeIobufs(b.env.Iobufs); got != base {
		t.Errorf("active iobufs %d after release, %d before", got, base)
	}
}

// TestReadAheadReleaseInFlight: releasing an fd whose read-ahead bios are
// still in flight waits for them and frees everything (run with -race).
func TestReadAheadReleaseInFlight(t *testing.T) {
	const size = 8 << 20
	const rs = 64 << 10
	var slow atomic.Bool
	inject := func(op bio.Op, off int64, n int) (int, error) {
		if op == bio.OpRead && slow.Load() && off >= 3*rs {
			time.Sleep(20 * time.Millisecond)
		}
		return n, nil
	}
	b := newRABrick(t, "4MiB", "", size, inject)
	base := activeIobufs(b.env.Iobufs)
	slow.Store(true)
	for range 5 {
		fd := b.reader(t)
		b.mustRead(fd, 0, rs)
		b.mustRead(fd, rs, rs)
		b.mustRead(fd, 2*rs, rs) // submits the window
		if b.stats().InFlight == 0 {
			t.Fatal("no read-ahead in flight to release")
		}
		fd.Unref()
		if st := b.stats(); st.InFlight != 0 || st.HeldBytes != 0 {
			t.Fatalf("after release: %+v", st)
		}
	}
	if got := activeIobufs(b.env.Iobufs); got != base {
		t.Errorf("active iobufs %d after release, %d before", got, base)
	}
	if st := b.px.data.(*bioPath).set.Stats(); st.Active != 0 {
		t.Errorf("bios still allocated: %+v", st)
	}
	if st := b.stats(); st.WastedBytes == 0 {
		t.Errorf("dropped windows not counted as wasted: %+v", st)
	}
}

// TestReadAheadODirectOff: files opened O_DIRECT get no read-ahead (they
// asked for no caching); their reads stay correct.
func TestReadAheadODirectOff(t *testing.T) {
	b := newBrick(t, map[string]string{"health-check-interval": "0", "data-path": "bio", "read-ahead": "1MiB", "o-direct": "true"})
	_, fd := b.mustCreate(b.root(), "f")
	defer fd.Unref()
	data := pattern(2<<20, 5)
	b.mustWrite(fd, 0, data)
	for off := 0; off < len(data); off += 64 << 10 {
		equal(t, "read", b.mustRead(fd, int64(off), 64<<10), data[off:off+64<<10])
	}
	if st := b.px.ra.stats(); st.Submitted != 0 {
		t.Fatalf("read-ahead on an O_DIRECT fd: %+v", st)
	}
}

// TestReadAheadConcurrentWriter: a reader reading a file sequentially over
// and over while a writer rewrites random blocks through another fd never
// sees a byte older than the last write that returned before its readv
// began, nor newer than the last that began before its readv returned.
func TestReadAheadConcurrentWriter(t *testing.T) {
	const blk = 4 << 10
	const nblk = 256 // 1 MiB
	const rs = 16 << 10
	b := newRABrick(t, "256KiB", "", nblk*blk, nil)
	zero := make([]byte, blk)
	for i := range nblk {
		b.mustWrite(b.wfd, int64(i*blk), zero) // version 0 everywhere
	}
	var started, committed [nblk]atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		rng := rand.New(rand.NewPCG(3, 4))
		buf := make([]byte, blk)
		for w := 0; ; w++ {
			select {
			case <-stop:
				return
			default:
			}
			i := rng.IntN(nblk)
			v := started[i].Load() + 1
			if v > 250 {
				continue
			}
			for j := range buf {
				buf[j] = byte(v)
			}
			started[i].Store(v)
			b.mustWrite(b.wfd, int64(i*blk), buf)
			committed[i].Store(v)
			if w%8 == 0 {
				time.Sleep(200 * time.Microsecond) // let some windows live
			}
		}
	})
	fd := b.reader(t)
	defer fd.Unref()
	deadline := time.Now().Add(2 * time.Second)
	for pass := 0; time.Now().Before(deadline); pass++ {
		for off := 0; off < nblk*blk; off += rs {
			var lo [rs / blk]int32
			for k := range lo {
				lo[k] = committed[off/blk+k].Load()
			}
			got := b.mustRead(fd, int64(off), rs)
			for k := range lo {
				hi := started[off/blk+k].Load()
				for j, c := range got[k*blk : (k+1)*blk] {
					if v := int32(c); v < lo[k] || v > hi {
						close(stop)
						wg.Wait()
						t.Fatalf("pass %d block %d byte %d: version %d, want [%d, %d]", pass, off/blk+k, j, v, lo[k], hi)
					}
				}
			}
		}
	}
	close(stop)
	wg.Wait()
	st := b.stats()
	t.Logf("%+v", st)
	if st.Submitted == 0 || st.Invalidations == 0 {
		t.Errorf("want read-ahead submitted and invalidated by the writer: %+v", st)
	}
}

// TestReadAheadStatedump: a file read sequentially through the graph moves
// the read-ahead counters that posix's statedump section and the bio
// section show.
func TestReadAheadStatedump(t *testing.T) {
	b := newRABrick(t, "1MiB", "", 4<<20, nil)
	fd := b.reader(t)
	for off := 0; off < 4<<20; off += 128 << 10 {
		b.mustRead(fd, int64(off), 128<<10)
	}
	fd.Unref()
	sections := map[string][]xlator.KV{"posix": b.px.Dump()}
	for _, s := range b.env.Sections() {
		sections[s.Name] = s.KVs
	}
	for _, section := range []string{"posix", "bio.l0"} {
		kv := map[string]any{}
		for _, e := range sections[section] {
			kv[e.Key] = e.Value
		}
		for _, key := range []string{"read-ahead.submitted", "read-ahead.hits", "read-ahead.hit-bytes", "read-ahead.bytes-read"} {
			if v, ok := kv[key].(uint64); !ok || v == 0 {
				t.Errorf("%s: %s = %v, want > 0", section, key, kv[key])
			}
		}
		if kv["read-ahead.held-bytes"] != int64(0) || kv["read-ahead.in-flight"] != int64(0) {
			t.Errorf("%s: after release held %v, in flight %v", section, kv["read-ahead.held-bytes"], kv["read-ahead.in-flight"])
		}
	}
}

// TestReadAheadOutOfOrder: a readv a little behind or ahead of the stream
// (one reader's requests arriving out of order) keeps the windows; one
// more than a window away drops them.
func TestReadAheadOutOfOrder(t *testing.T) {
	const rs = 64 << 10
	b := newRABrick(t, "1MiB", "", 8<<20, nil)
	fd := b.reader(t)
	defer fd.Unref()
	off := int64(0)
	for range 4 {
		b.mustRead(fd, off, rs)
		off += rs
	}
	b.settle(t)
	st := b.stats()
	equal(t, "behind", b.mustRead(fd, rs/2, rs), b.data[rs/2:rs/2+rs])
	equal(t, "ahead", b.mustRead(fd, off+2*rs, rs), b.data[off+2*rs:off+3*rs])
	if got := b.stats(); got.Resets != st.Resets || got.HeldBytes == 0 {
		t.Fatalf("a near readv dropped the windows: %+v", got)
	}
	far := off + 4<<20
	equal(t, "far", b.mustRead(fd, far, rs), b.data[far:far+rs])
	if got := b.stats(); got.Resets != st.Resets+1 || got.HeldBytes != 0 {
		t.Fatalf("a far readv kept the windows: %+v", got)
	}
}
