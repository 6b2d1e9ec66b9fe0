package bio

import (
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/internal/nopools"
)

func TestWriteRead(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	// A write of several vecs from different pages, at an odd offset.
	w := e.set.Alloc(8)
	w.Op, w.Offset = OpWrite, 12345
	var want []byte
	for i := range 6 {
		buf := e.page(4096, byte(i))
		n := 500 + i*300
		if err := w.AddPage(buf, i*10, n); err != nil {
			t.Fatal(err)
		}
		want = append(want, buf.Bytes()[i*10:i*10+n]...)
		buf.Unref()
	}
	if err := e.dev.SubmitWait(w); err != nil || w.Done() != len(want) {
		t.Fatalf("write: %v, done %d of %d", err, w.Done(), len(want))
	}
	w.Put()
	mustEqual(t, "file", e.fileBytes(12345, len(want)), want)

	r := e.readBio(12345, len(want))
	if err := e.dev.SubmitWait(r); err != nil || r.Done() != len(want) {
		t.Fatalf("read: %v, done %d", err, r.Done())
	}
	mustEqual(t, "read", data(r), want)
	r.Put()

	// A read across end of file gets what there is, without error.
	r = e.readBio(12345+int64(len(want))-100, 4096)
	if err := e.dev.SubmitWait(r); err != nil || r.Done() != 100 {
		t.Fatalf("read at EOF: %v, done %d, want 100", err, r.Done())
	}
	mustEqual(t, "read at EOF", data(r)[:100], want[len(want)-100:])
	r.Put()

	st := e.dev.Stats()
	if st.Submitted.Write != 1 || st.Submitted.Read != 2 || st.Completed != 3 || st.Errors != 0 ||
		st.BytesWritten != uint64(len(want)) || st.BytesRead != uint64(len(want))+100 {
		t.Errorf("stats %+v", st)
	}
}

func TestAsyncCompletion(t *testing.T) {
	e := newEnv(t, DeviceConfig{QueueDepth: 2, Workers: 2})
	const n = 50
	var wg sync.WaitGroup
	var calls atomic.Int32
	wg.Add(n)
	for i := range n {
		b := e.writeBio(int64(i)*4096, 4096, byte(i))
		b.EndIO = func(b *Bio) {
			if b.Status() != nil {
				t.Errorf("write %d: %v", i, b.Status())
			}
			calls.Add(1)
			b.Put()
			wg.Done()
		}
		e.dev.Submit(b) // blocks while 2 are in flight
	}
	wg.Wait()
	if calls.Load() != n {
		t.Fatalf("%d completions, want %d", calls.Load(), n)
	}
	for i := range n {
		mustEqual(t, "block", e.fileBytes(int64(i)*4096, 4096), pattern(4096, byte(i)))
	}
}

func TestDiscardWriteZeroes(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	w := e.writeBio(0, 64<<10, 9)
	if err := e.dev.SubmitWait(w); err != nil {
		t.Fatal(err)
	}
	w.Put()
	want := pattern(64<<10, 9)
	for _, tt := range []struct {
		op       Op
		off, len int
	}{
		{OpWriteZeroes, 1000, 3000},
		{OpDiscard, 16 << 10, 8 << 10},     // whole blocks, so ext4 really punches
		{OpWriteZeroes, 60 << 10, 8 << 10}, // extends the file
	} {
		b := e.set.Alloc(0)
		b.Op, b.Offset = tt.op, int64(tt.off)
		b.SetSize(tt.len)
		if err := e.dev.SubmitWait(b); err != nil {
			if tt.op == OpDiscard && errors.Is(err, syscall.EOPNOTSUPP) {
				t.Logf("discard unsupported here: %v", err)
				b.Put()
				continue
			}
			t.Fatalf("%v: %v", tt.op, err)
		}
		if b.Done() != tt.len {
			t.Errorf("%v: done %d", tt.op, b.Done())
		}
		b.Put()
		if end := tt.off + tt.len; end > len(want) {
			want = append(want, make([]byte, end-len(want))...)
		}
		clear(want[tt.off : tt.off+tt.len])
	}
	mustEqual(t, "file", e.fileBytes(0, 1<<20), want)
}

func TestFlushFUA(t *testing.T) {
	var mu sync.Mutex
	var calls []Op
	inject := func(op Op, off int64, n int) (int, error) {
		mu.Lock()
		calls = append(calls, op)
		mu.Unlock()
		return n, nil
	}
	e := newEnv(t, DeviceConfig{Inject: inject, Workers: 1})
	for _, tt := range []struct {
		op    Op
		flags Flags
		want  []Op
	}{
		{OpWrite, 0, []Op{OpWrite}},
		{OpWrite, Preflush, []Op{OpFlush, OpWrite}},
		{OpWrite, FUA, []Op{OpWrite, OpFlush}},
		{OpWrite, Preflush | FUA, []Op{OpFlush, OpWrite, OpFlush}},
		{OpFlush, 0, []Op{OpFlush}},
		{OpRead, FUA, []Op{OpRead}},
	} {
		calls = nil
		var b *Bio
		if tt.op == OpFlush {
			b = e.set.Alloc(0)
			b.Op = OpFlush
		} else {
			b = e.writeBio(0, 512, 1)
			b.Op = tt.op
		}
		b.Flags = tt.flags
		if err := e.dev.SubmitWait(b); err != nil {
			t.Fatalf("%v %v: %v", tt.op, tt.flags, err)
		}
		b.Put()
		if len(calls) != len(tt.want) {
			t.Errorf("%v [%v]: calls %v, want %v", tt.op, tt.flags, calls, tt.want)
			continue
		}
		for i := range calls {
			if calls[i] != tt.want[i] {
				t.Errorf("%v [%v]: calls %v, want %v", tt.op, tt.flags, calls, tt.want)
			}
		}
	}
}

func TestInjectedErrors(t *testing.T) {
	fail := map[int64]error{}
	var short atomic.Int32 // calls to cut short
	var calls atomic.Int32
	inject := func(op Op, off int64, n int) (int, error) {
		calls.Add(1)
		if err := fail[off]; err != nil {
			return 0, err
		}
		if short.Load() > 0 && n > 1 {
			short.Add(-1)
			return n / 3, nil
		}
		return n, nil
	}
	core, logs := observer.New(zap.WarnLevel)
	e := newEnv(t, DeviceConfig{Inject: inject, Workers: 1, Logger: zap.New(core)})
	fail[1<<20] = syscall.EIO
	fail[2<<20] = syscall.ENOSPC
	fail[0] = nil

	for _, tt := range []struct {
		off  int64
		want error
	}{{1 << 20, syscall.EIO}, {2 << 20, syscall.ENOSPC}} {
		b := e.writeBio(tt.off, 4096, 1)
		err := e.dev.SubmitWait(b)
		if !errors.Is(err, tt.want) || b.Status() != err || b.Done() != 0 {
			t.Errorf("write at %d: %v (done %d), want %v", tt.off, err, b.Done(), tt.want)
		}
		b.Put()
		r := e.readBio(tt.off, 4096)
		if err := e.dev.SubmitWait(r); !errors.Is(err, tt.want) {
			t.Errorf("read at %d: %v, want %v", tt.off, err, tt.want)
		}
		r.Put()
	}
	if st := e.dev.Stats(); st.Errors != 4 {
		t.Errorf("errors %d, want 4", st.Errors)
	}
	if n := logs.FilterMessage("IO error").Len(); n != 2 {
		t.Errorf("%d IO error warnings, want 2 (EIO is logged, ENOSPC is not)", n)
	}

	// Short writes and reads are continued until done.
	b := e.set.Alloc(4)
	b.Op, b.Offset = OpWrite, 100
	var want []byte
	for i := range 3 {
		p := e.page(4096, byte(10+i))
		b.AddPage(p, 1, 3000)
		want = append(want, p.Bytes()[1:3001]...)
		p.Unref()
	}
	calls.Store(0)
	short.Store(3)
	if err := e.dev.SubmitWait(b); err != nil || b.Done() != 9000 {
		t.Fatalf("short writes: %v, done %d", err, b.Done())
	}
	b.Put()
	if c := calls.Load(); c != 4 {
		t.Errorf("%d pwritev calls for 3 short ones and the rest, want 4", c)
	}
	mustEqual(t, "after short writes", e.fileBytes(100, 9000), want)
	r := e.readBio(100, 9000)
	short.Store(5)
	if err := e.dev.SubmitWait(r); err != nil || r.Done() != 9000 {
		t.Fatalf("short reads: %v, done %d", err, r.Done())
	}
	mustEqual(t, "short reads", data(r), want)
	r.Put()
}

func TestPlugMerge(t *testing.T) {
	var vectored atomic.Int32
	inject := func(op Op, off int64, n int) (int, error) {
		if op == OpWrite || op == OpRead {
			vectored.Add(1)
		}
		return n, nil
	}
	e := newEnv(t, DeviceConfig{Inject: inject})
	const blocks = 8
	var wg sync.WaitGroup
	end := func(b *Bio) {
		if b.Status() != nil || b.Done() != b.Size() {
			t.Errorf("bio at %d: %v, done %d", b.Offset, b.Status(), b.Done())
		}
		b.Put()
		wg.Done()
	}
	plug := e.dev.Plug()
	for _, i := range rand.Perm(blocks) {
		b := e.writeBio(int64(i)*4096, 4096, byte(i))
		b.EndIO = end
		plug.Submit(b)
	}
	// Not adjacent (a gap), not merged.
	far := e.writeBio(blocks*4096+512, 100, 99)
	far.EndIO = end
	plug.Submit(far)
	// Adjacent but with other flags: not merged either.
	fua := e.writeBio(blocks*4096+612, 100, 98)
	fua.Flags = FUA
	fua.EndIO = end
	plug.Submit(fua)
	wg.Add(plug.Len())
	if e.dev.Stats().Requests != 0 {
		t.Fatal("a plugged bio was issued before Finish")
	}
	plug.Finish()
	wg.Wait()

	st := e.dev.Stats()
	if st.Merged != blocks-1 || st.Requests != 3 || vectored.Load() != 3 || st.Completed != blocks+2 {
		t.Errorf("merged %d requests %d pwritev %d completed %d; want %d, 3, 3, %d",
			st.Merged, st.Requests, vectored.Load(), st.Completed, blocks-1, blocks+2)
	}
	for i := range blocks {
		mustEqual(t, "block", e.fileBytes(int64(i)*4096, 4096), pattern(4096, byte(i)))
	}
	mustEqual(t, "far", e.fileBytes(blocks*4096+512, 100), pattern(100, 99))

	// Merged reads: each bio gets its own part; the one past EOF gets 0 bytes.
	plug = e.dev.Plug()
	var reads []*Bio
	for i := range blocks + 3 {
		r := e.readBio(int64(i)*4096, 4096)
		r.EndIO = func(*Bio) { wg.Done() }
		reads = append(reads, r)
		plug.Submit(r)
	}
	wg.Add(plug.Len())
	plug.Finish()
	wg.Wait()
	for i, r := range reads {
		switch {
		case i < blocks:
			mustEqual(t, "read", data(r)[:r.Done()], pattern(4096, byte(i)))
		case i == blocks:
			if r.Done() != 712 {
				t.Errorf("read of the tail: done %d, want 712", r.Done())
			}
		default:
			if r.Done() != 0 || r.Status() != nil {
				t.Errorf("read past EOF: done %d, %v", r.Done(), r.Status())
			}
		}
		r.Put()
	}
	if st := e.dev.Stats().Sub(st); st.Merged != blocks+2 || st.Requests != 1 {
		t.Errorf("read merges %d requests %d, want %d, 1", st.Merged, st.Requests, blocks+2)
	}
}

func TestPlugIovMax(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	buf := e.page(4096, 1)
	defer buf.Unref()
	// 5 bios of 256 one-byte vecs each: 1280 iovecs, so two requests.
	plug := e.dev.Plug()
	var wg sync.WaitGroup
	for i := range 5 {
		b := e.set.Alloc(MaxVecs)
		b.Op, b.Offset = OpWrite, int64(i*MaxVecs)
		for j := range MaxVecs {
			b.AddPage(buf, 2*j, 1) // gaps: no vec merging
		}
		b.EndIO = func(b *Bio) { b.Put(); wg.Done() }
		wg.Add(1)
		plug.Submit(b)
	}
	plug.Finish()
	wg.Wait()
	if st := e.dev.Stats(); st.Requests != 2 || st.Merged != 3 {
		t.Errorf("requests %d merged %d, want 2 and 3", st.Requests, st.Merged)
	}
}

func TestClosedDevice(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	e.dev.Close()
	b := e.writeBio(0, 10, 1)
	if err := e.dev.SubmitWait(b); !errors.Is(err, ErrClosed) {
		t.Errorf("SubmitWait after Close: %v", err)
	}
	b.Put()
}

func TestInvalid(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	b := e.writeBio(-1, 10, 1)
	if err := e.dev.SubmitWait(b); !errors.Is(err, ErrInvalid) || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("negative offset: %v", err)
	}
	b.Put()
	b = e.set.Alloc(0)
	b.SetSize(100)
	b.Op = OpWrite // a write without vecs
	if err := e.dev.SubmitWait(b); !errors.Is(err, ErrInvalid) {
		t.Errorf("write without data: %v", err)
	}
	b.Put()
}

func TestDirect(t *testing.T) {
	path := t.TempDir() + "/direct"
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_DIRECT, 0o600)
	if err == unix.EINVAL {
		t.Skipf("O_DIRECT is not supported on the file system of %s (open: EINVAL)", t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), path)
	e := newEnv(t, DeviceConfig{})
	dev := NewDevice(fd, DeviceConfig{Name: "direct", BlockSize: 512})
	t.Cleanup(func() { dev.Close(); f.Close() })
	if !dev.Config().Direct {
		t.Fatal("O_DIRECT not detected from the descriptor")
	}

	buf := e.page(8192, 5) // from the 64 KiB class: page-aligned
	defer buf.Unref()
	tests := []struct {
		name      string
		off       int64
		pageOff   int
		n         int
		what      string
		wantAlign bool
	}{
		{"aligned", 4096, 0, 4096, "", true},
		{"aligned 512", 512, 512, 1024, "", true},
		{"offset", 100, 0, 4096, "offset", false},
		{"length", 4096, 0, 1000, "length", false},
		{"buffer", 4096, 8, 4096, "buffer", false},
	}
	for _, tt := range tests {
		for _, op := range []Op{OpWrite, OpRead} {
			b := e.set.Alloc(1)
			b.Op, b.Offset = op, tt.off
			b.AddPage(buf, tt.pageOff, tt.n)
			err := dev.SubmitWait(b)
			b.Put()
			if tt.wantAlign {
				if err != nil {
					t.Errorf("%s %v: %v", tt.name, op, err)
				}
				continue
			}
			var ae *AlignError
			if !errors.As(err, &ae) || ae.What != tt.what || ae.Align != 512 ||
				!errors.Is(err, ErrMisaligned) || !errors.Is(err, syscall.EINVAL) {
				t.Errorf("%s %v: %v, want an AlignError for the %s", tt.name, op, err, tt.what)
			}
		}
	}
	if st := dev.Stats(); st.Misalignments != 6 || st.Errors != 6 {
		t.Errorf("misalignments %d errors %d, want 6 and 6", st.Misalignments, st.Errors)
	}
	// Aligned vecs of a misaligned total: each vec is checked.
	b := e.set.Alloc(2)
	b.Op = OpWrite
	b.AddPage(buf, 0, 512)
	b.AddPage(buf, 1024, 100)
	err = dev.SubmitWait(b)
	b.Put()
	if !errors.Is(err, ErrMisaligned) {
		t.Errorf("misaligned length: %v", err)
	}
}

// TestZeroAllocs checks the steady state of the write path at the bio
// layer: Alloc, AddPage, SubmitWait and Put allocate nothing.
func TestZeroAllocs(t *testing.T) {
	if nopools.On {
		t.Skip("built with nopools: bio sets and devices allocate with new")
	}
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	e := newEnv(t, DeviceConfig{})
	buf := e.page(4096, 1)
	defer buf.Unref()
	big := e.page(1<<20, 2)
	defer big.Unref()
	for _, tt := range []struct {
		name  string
		vecs  int
		bytes int
	}{{"4KiB", 1, 4096}, {"1MiB-16vecs", 16, 1 << 16}} {
		p := buf
		if tt.vecs > 1 {
			p = big
		}
		allocs := testing.AllocsPerRun(200, func() {
			b := e.set.Alloc(tt.vecs)
			b.Op = OpWrite
			for i := range tt.vecs {
				b.AddPage(p, i*tt.bytes, tt.bytes)
			}
			if err := e.dev.SubmitWait(b); err != nil {
				t.Fatal(err)
			}
			b.Put()
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per write, want 0", tt.name, allocs)
		}
	}
	// Each run waits for its four completions, so that the next one finds
	// the device's workers idle (on a loaded machine a worker still busy
	// with the previous run could otherwise be counted as a new one).
	done := make(chan struct{}, 4)
	putAndSignal := func(b *Bio) { b.Put(); done <- struct{}{} }
	allocs := testing.AllocsPerRun(100, func() {
		p := e.dev.Plug()
		for i := range 4 {
			b := e.set.Alloc(1)
			b.Op, b.Offset = OpWrite, int64(i)*4096
			b.AddPage(buf, 0, 4096)
			b.EndIO = putAndSignal
			p.Submit(b)
		}
		p.Finish()
		for range 4 {
			<-done
		}
	})
	if allocs != 0 {
		t.Errorf("plug of 4 writes: %.1f allocations, want 0", allocs)
	}
}

// TestWriteZeroesFallback makes fallocate(ZERO_RANGE) report EOPNOTSUPP, as
// tmpfs does, so that the device writes zeroes itself.
func TestWriteZeroesFallback(t *testing.T) {
	var calls atomic.Int32
	inject := func(op Op, off int64, n int) (int, error) {
		if op == OpWriteZeroes && calls.Add(1) == 1 {
			return 0, syscall.EOPNOTSUPP
		}
		return n, nil
	}
	e := newEnv(t, DeviceConfig{Inject: inject})
	const size = 200 << 10
	w := e.writeBio(0, size+1000, 3)
	if err := e.dev.SubmitWait(w); err != nil {
		t.Fatal(err)
	}
	w.Put()
	b := e.set.Alloc(0)
	b.Op, b.Offset = OpWriteZeroes, 500
	b.SetSize(size)
	if err := e.dev.SubmitWait(b); err != nil || b.Done() != size {
		t.Fatalf("write-zeroes: %v, done %d", err, b.Done())
	}
	b.Put()
	want := pattern(size+1000, 3)
	clear(want[500 : 500+size])
	mustEqual(t, "file", e.fileBytes(0, size+1000), want)
	if c := calls.Load(); c != 1+4 { // fallocate, then 64+64+64+8 KiB of writes
		t.Errorf("%d calls, want 5", c)
	}
}

// TestHeapIobuf uses iobufs larger than every class, which the pool serves
// from the Go heap: the bio's vecs then hold addresses of Go memory, kept
// alive only by the bio's references. A GC between building and
// submitting must not matter; under -race, checkptr checks the conversions.
func TestHeapIobuf(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	const size = 3 << 20
	w := e.set.Alloc(2)
	w.Op = OpWrite
	p := e.page(size, 4)
	w.AddPage(p, 100, size-100)
	p.Unref() // the bio's reference is now the only one
	runtime.GC()
	if err := e.dev.SubmitWait(w); err != nil {
		t.Fatal(err)
	}
	w.Put()
	r := e.set.Alloc(1)
	r.Op = OpRead
	p = e.bufs.Get(size)
	r.AddPage(p, 0, size)
	p.Unref()
	runtime.GC()
	if err := e.dev.SubmitWait(r); err != nil || r.Done() != size-100 {
		t.Fatalf("read: %v, done %d", err, r.Done())
	}
	mustEqual(t, "heap page", r.Vec(0)[:size-100], pattern(size, 4)[100:])
	r.Put()
	if st := e.bufs.Stats(); st.RequestMisses != 2 {
		t.Errorf("request misses %d, want 2 heap iobufs", st.RequestMisses)
	}
}

// TestFirstIOAllocBytes: a Device lives as long as one open file (posix
// makes one per fd), so its first IO must not allocate much: the scratch
// iovec array an inline IO uses is sized to the request, not to
// MaxIovecs (16 KiB) on every new device. Reading many small files
// otherwise leaves 16 KiB of garbage per file.
func TestFirstIOAllocBytes(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	// One P: a device's sync.Pools allocate their per-P arrays on first
	// use, which would make the figure depend on the machine.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	e := newEnv(t, DeviceConfig{})
	buf := e.page(4096, 1)
	defer buf.Unref()
	const devices = 50
	var total uint64
	for range devices {
		dev := NewDevice(int(e.file.Fd()), DeviceConfig{Name: "first-io"})
		b := e.set.Alloc(1)
		b.Op = OpRead
		b.AddPage(buf, 0, 4096)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := dev.SubmitWait(b)
		runtime.ReadMemStats(&after)
		b.Put()
		if err != nil {
			t.Fatal(err)
		}
		if err := dev.Close(); err != nil {
			t.Fatal(err)
		}
		total += after.TotalAlloc - before.TotalAlloc
	}
	if per := total / devices; per > 2<<10 {
		t.Errorf("the first IO on a new device allocates %d bytes, want at most 2KiB", per)
	}
}
