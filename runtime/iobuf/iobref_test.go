package iobuf

import (
	"bytes"
	"testing"

	"github.com/xstack/xstack/runtime/mempool"
)

func TestIobrefAddMergeUnref(t *testing.T) {
	p := newPool(t, Config{})
	a, b := p.Get(4096), p.Get(100)
	copy(a.Bytes(), "aaaa")
	copy(b.Bytes(), "0123456789")

	r := p.NewIobref()
	if r.Refs() != 1 || r.Len() != 0 || r.Size() != 0 {
		t.Fatalf("new iobref: refs %d len %d size %d", r.Refs(), r.Len(), r.Size())
	}
	r.Add(a)
	r.AddRange(b, 2, 5)
	if a.Refs() != 2 || b.Refs() != 2 {
		t.Errorf("after Add: refs a=%d b=%d, want 2 2", a.Refs(), b.Refs())
	}
	if r.Len() != 2 || r.Size() != 8192+5 {
		t.Errorf("len %d size %d, want 2 %d", r.Len(), r.Size(), 8192+5)
	}
	if got := string(r.Seg(1)); got != "23456" || cap(r.Seg(1)) != 5 {
		t.Errorf("Seg(1) = %q cap %d", got, cap(r.Seg(1)))
	}
	if eb, off, n := r.Entry(1); eb != b || off != 2 || n != 5 {
		t.Errorf("Entry(1) = %p %d %d", eb, off, n)
	}
	// The iobref keeps the data alive after the caller drops its refs.
	a.Unref()
	b.Unref()

	o := p.NewIobref()
	o.Merge(r)
	if a.Refs() != 2 || b.Refs() != 2 || r.Len() != 2 || o.Len() != 2 || o.Size() != r.Size() {
		t.Errorf("after Merge: refs a=%d b=%d, lens %d %d", a.Refs(), b.Refs(), r.Len(), o.Len())
	}
	o.Merge(o) // self-merge doubles, no infinite loop
	if o.Len() != 4 || a.Refs() != 3 {
		t.Errorf("self Merge: len %d refs a=%d, want 4 3", o.Len(), a.Refs())
	}
	o.Ref()
	o.Unref()
	o.Unref() // last: drops its 4 segment refs
	if a.Refs() != 1 || b.Refs() != 1 {
		t.Errorf("after o's last Unref: refs a=%d b=%d, want 1 1", a.Refs(), b.Refs())
	}
	if s := p.Stats(); s.IobrefActive != 1 {
		t.Errorf("iobref_active %d, want 1", s.IobrefActive)
	}
	r.Unref()
	if s := p.Stats(); s.Active() != 0 || s.IobrefActive != 0 {
		t.Errorf("after all Unrefs: active %d iobrefs %d", s.Active(), s.IobrefActive)
	}
}

func TestIobrefGrowsAndTruncates(t *testing.T) {
	p := newPool(t, Config{})
	r := p.NewIobref()
	var bufs []*Iobuf
	for i := range 40 { // past the 16 inline entries
		b := p.Get(100)
		for j := range b.Bytes() {
			b.Bytes()[j] = byte(i)
		}
		r.AddRange(b, 0, 100)
		bufs = append(bufs, b)
		b.Unref()
	}
	if r.Len() != 40 || r.Size() != 4000 {
		t.Fatalf("len %d size %d", r.Len(), r.Size())
	}
	iov := r.AppendIov(nil)
	if len(iov) != 40 || len(iov[39]) != 100 || iov[39][0] != 39 {
		t.Errorf("AppendIov: %d segments", len(iov))
	}

	r.Truncate(5000) // no-op
	r.Truncate(1050)
	if r.Len() != 11 || r.Size() != 1050 || len(r.Seg(10)) != 50 {
		t.Errorf("Truncate(1050): len %d size %d last seg %d", r.Len(), r.Size(), len(r.Seg(10)))
	}
	for i, b := range bufs {
		want := 1
		if i >= 11 {
			want = 0
		}
		if b.Refs() != want {
			t.Errorf("buf %d refs %d after Truncate, want %d", i, b.Refs(), want)
		}
	}
	dst := make([]byte, 2000)
	if n := r.CopyTo(dst); n != 1050 || dst[1049] != 10 || dst[999] != 9 {
		t.Errorf("CopyTo = %d", n)
	}
	if n := r.CopyTo(dst[:150]); n != 150 || dst[149] != 1 {
		t.Errorf("CopyTo short = %d", n)
	}
	r.SetSegLen(10, 100)
	if r.Size() != 1100 {
		t.Errorf("SetSegLen: size %d", r.Size())
	}
	r.Truncate(1000) // exactly at a segment boundary
	if r.Len() != 10 || r.Size() != 1000 {
		t.Errorf("Truncate(1000): len %d size %d", r.Len(), r.Size())
	}
	r.Truncate(0)
	if r.Len() != 0 || r.Size() != 0 {
		t.Errorf("Truncate(0): len %d size %d", r.Len(), r.Size())
	}
	r.Unref()
	if s := p.Stats(); s.Active() != 0 || s.IobrefActive != 0 {
		t.Errorf("leak: active %d iobrefs %d", s.Active(), s.IobrefActive)
	}
	// A pooled iobref comes back empty.
	r = p.NewIobref()
	if r.Len() != 0 || r.Size() != 0 || r.Refs() != 1 {
		t.Errorf("reused iobref: len %d size %d refs %d", r.Len(), r.Size(), r.Refs())
	}
	r.Unref()
}

func TestIobrefPanics(t *testing.T) {
	p := newPool(t, Config{})
	b := p.Get(100)
	defer b.Unref()
	r := p.NewIobref()
	defer r.Unref()
	for name, f := range map[string]func(){
		"AddRange past end": func() { r.AddRange(b, 100, 29) },
		"AddRange negative": func() { r.AddRange(b, -1, 1) },
		"Truncate negative": func() { r.Truncate(-1) },
		"SetSegLen past":    func() { r.AddRange(b, 10, 1); r.SetSegLen(0, 119) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestFromBytes(t *testing.T) {
	p := newPool(t, Config{})
	for _, n := range []int{0, 1, 4096, 128 << 10, 1<<20 + 5, 3<<20 + 1} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + i>>8)
		}
		r := p.FromBytes(data)
		if r.Size() != n {
			t.Errorf("FromBytes(%d): size %d", n, r.Size())
		}
		if want := (n + (1 << 20) - 1) >> 20; r.Len() != want {
			t.Errorf("FromBytes(%d): %d segments, want %d", n, r.Len(), want)
		}
		got := make([]byte, n)
		r.CopyTo(got)
		if !bytes.Equal(got, data) {
			t.Errorf("FromBytes(%d): data differs", n)
		}
		r.Unref()
	}
	if s := p.Stats(); s.Active() != 0 || s.IobrefActive != 0 || s.RequestMisses != 0 {
		t.Errorf("active %d iobrefs %d misses %d", s.Active(), s.IobrefActive, s.RequestMisses)
	}
}

func TestIobrefDebugUseAfterFree(t *testing.T) {
	p := newPool(t, Config{Debug: true})
	r := p.FromBytes([]byte("x"))
	r.Unref()
	_ = r.Len()  // not checked: a plain field read
	_ = r.Size() // likewise
	r.AppendIov(nil)
	r.Ref()
	if s := p.Stats(); s.UseAfterFree != 2 {
		t.Errorf("use_after_free %d, want 2 (AppendIov, Ref)", s.UseAfterFree)
	}
}

// lender counts the memory returned to it, by tag.
type lender map[uint64]int

func (l lender) Return(tag uint64) { l[tag]++ }

// TestBorrow: a borrowed buffer travels in iobrefs and is handed back to
// its lender exactly once, after the last reference.
func TestBorrow(t *testing.T) {
	p := newPool(t, Config{})
	mem := make([]byte, 8192)
	copy(mem, "shared")
	l := lender{}
	b := p.Borrow(mem[:4096], l, 7)
	if p.BorrowActive() != 1 {
		t.Fatalf("BorrowActive %d, want 1", p.BorrowActive())
	}
	own, heap := p.Get(4096), p.Get(2<<20)
	if !b.Borrowed() || own.Borrowed() || heap.Borrowed() {
		t.Errorf("Borrowed: %v for a borrowed buffer, %v for a pool page, %v for a heap buffer; want true, false, false",
			b.Borrowed(), own.Borrowed(), heap.Borrowed())
	}
	own.Unref()
	heap.Unref()
	r := p.NewIobref()
	r.AddRange(b, 0, 6)
	b.Unref() // the iobref holds its own reference
	if len(l) != 0 {
		t.Fatal("returned while an iobref holds it")
	}
	if got := string(r.Seg(0)); got != "shared" {
		t.Fatalf("segment %q", got)
	}
	r2 := p.NewIobref()
	r2.Merge(r)
	r.Unref()
	if len(l) != 0 {
		t.Fatal("returned while a second iobref holds it")
	}
	r2.Unref()
	if l[7] != 1 || len(l) != 1 || p.BorrowActive() != 0 {
		t.Fatalf("returned %v, BorrowActive %d; want tag 7 once, 0", l, p.BorrowActive())
	}
	if st := p.Stats(); st.Active() != 0 {
		t.Fatalf("a borrowed buffer counted as a pool page: %+v", st)
	}
}

// TestBorrowAllocs: borrowing memory into an iobref and handing it back
// allocates nothing once the pool has a returned header to reuse.
func TestBorrowAllocs(t *testing.T) {
	skipNoPools(t)
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	p := newPool(t, Config{})
	mem := make([]byte, 4096)
	l := lender{}
	n := testing.AllocsPerRun(1000, func() {
		b := p.Borrow(mem, l, 1)
		r := p.NewIobref()
		r.AddRange(b, 0, len(mem))
		b.Unref()
		r.Unref()
	})
	if n != 0 {
		t.Errorf("%v allocations per borrow", n)
	}
	if l[1] != 1001 || p.BorrowActive() != 0 {
		t.Errorf("returned %d times, BorrowActive %d; want 1001, 0", l[1], p.BorrowActive())
	}
}

// TestIobrefPool: iobrefs come from the mem-pool "iobuf:iobref" in the
// registry the Config names, and a released one is reused, empty.
func TestIobrefPool(t *testing.T) {
	skipNoPools(t)
	reg := mempool.NewRegistry(nil)
	p := newPool(t, Config{Pools: reg})
	r := p.NewIobref()
	b := p.Get(100)
	r.Add(b)
	b.Unref()
	st := reg.Pools()
	if len(st) != 1 || st[0].Name != "iobuf:iobref" || st[0].Hot != 1 {
		t.Fatalf("pools %+v, want iobuf:iobref with one out", st)
	}
	r.Unref()
	if st := reg.Pools(); st[0].Hot != 0 {
		t.Errorf("hot-count %d after the last Unref", st[0].Hot)
	}
	r2 := p.NewIobref()
	if r2.Len() != 0 || r2.Size() != 0 || r2.Refs() != 1 {
		t.Errorf("reused iobref: %d segments, %d bytes, %d refs", r2.Len(), r2.Size(), r2.Refs())
	}
	r2.Unref()
}
