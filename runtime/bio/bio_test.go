package bio

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// threeVecs returns a write bio at offset 1000 over vecs of 100, 200 and
// 50 bytes (taken from the middle of their pages), and the bytes it holds.
func threeVecs(e *env) (*Bio, []byte) {
	b := e.set.Alloc(3)
	b.Op, b.Offset = OpWrite, 1000
	var want []byte
	for i, n := range []int{100, 200, 50} {
		buf := e.page(4096, byte(i*50))
		if err := b.AddPage(buf, 10, n); err != nil {
			e.t.Fatal(err)
		}
		want = append(want, buf.Bytes()[10:10+n]...)
		buf.Unref()
	}
	return b, want
}

func TestAdvance(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	tests := []struct {
		steps []int
		want  Iter
	}{
		{nil, Iter{Size: 350, Idx: 0, Done: 0}},
		{[]int{0}, Iter{Size: 350, Idx: 0, Done: 0}},
		{[]int{40}, Iter{Size: 310, Idx: 0, Done: 40}},
		{[]int{100}, Iter{Size: 250, Idx: 1, Done: 0}},
		{[]int{40, 60}, Iter{Size: 250, Idx: 1, Done: 0}},
		{[]int{150}, Iter{Size: 200, Idx: 1, Done: 50}},
		{[]int{99, 2}, Iter{Size: 249, Idx: 1, Done: 1}},
		{[]int{310}, Iter{Size: 40, Idx: 2, Done: 10}},
		{[]int{300}, Iter{Size: 50, Idx: 2, Done: 0}},
		{[]int{1, 1, 348}, Iter{Size: 0, Idx: 3, Done: 0}},
	}
	for _, tt := range tests {
		b, all := threeVecs(e)
		total := 0
		for _, n := range tt.steps {
			b.Advance(n)
			total += n
		}
		if b.Iter() != tt.want {
			t.Errorf("Advance %v: iter %+v, want %+v", tt.steps, b.Iter(), tt.want)
		}
		if b.Offset != 1000+int64(total) || b.Size() != 350-total {
			t.Errorf("Advance %v: offset %d size %d", tt.steps, b.Offset, b.Size())
		}
		mustEqual(t, "remaining data", data(b), all[total:])
		b.Put()
	}

	b, _ := threeVecs(e)
	defer b.Put()
	defer func() {
		if recover() == nil {
			t.Error("Advance past the end did not panic")
		}
	}()
	b.Advance(351)
}

func TestSplit(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	for _, at := range []int{1, 40, 99, 100, 101, 150, 299, 300, 301, 349} {
		b, all := threeVecs(e)
		var ended atomic.Int32
		b.EndIO = func(*Bio) { ended.Add(1) }
		f, err := b.Split(at)
		if err != nil {
			t.Fatalf("Split(%d): %v", at, err)
		}
		if f.Offset != 1000 || f.Size() != at || f.Op != OpWrite {
			t.Errorf("Split(%d): front at %d, %d bytes, op %v", at, f.Offset, f.Size(), f.Op)
		}
		if b.Offset != 1000+int64(at) || b.Size() != 350-at {
			t.Errorf("Split(%d): rest at %d, %d bytes", at, b.Offset, b.Size())
		}
		mustEqual(t, "front", data(f), all[:at])
		mustEqual(t, "rest", data(b), all[at:])
		extra := e.bufs.Get(1)
		if err := f.AddPage(extra, 0, 1); !errors.Is(err, ErrClone) {
			t.Errorf("AddPage on a split bio: %v, want ErrClone", err)
		}
		extra.Unref()
		// The original completes only after both halves.
		b.Endio()
		if ended.Load() != 0 {
			t.Fatalf("Split(%d): EndIO ran before the front completed", at)
		}
		f.Endio()
		if ended.Load() != 1 {
			t.Fatalf("Split(%d): EndIO ran %d times", at, ended.Load())
		}
		if b.Refs() != 1 {
			t.Errorf("Split(%d): original holds %d refs after completion, want 1", at, b.Refs())
		}
		b.Put()
	}
	for _, at := range []int{0, 350, -1, 1000} {
		b, _ := threeVecs(e)
		if _, err := b.Split(at); !errors.Is(err, ErrSplitRange) {
			t.Errorf("Split(%d): %v, want ErrSplitRange", at, err)
		}
		b.Put()
	}
}

func TestSplitThroughDevice(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	b, all := threeVecs(e)
	b.Offset = 0
	f1, _ := b.Split(120) // inside vec 1
	f2, _ := b.Split(180) // at the vec 1/2 boundary: b now holds the last 50
	e.dev.Submit(f1)
	e.dev.Submit(f2)
	if err := e.dev.SubmitWait(b); err != nil {
		t.Fatal(err)
	}
	b.Put()
	mustEqual(t, "file", e.fileBytes(0, 1000), all)
	if st := e.set.Stats(); st.Clones != 2 {
		t.Errorf("clones %d, want 2", st.Clones)
	}
}

func TestChain(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	errA, errB := syscall.EIO, syscall.ENOSPC
	tests := []struct {
		name     string
		children []error // status of each child, completed in reverse order
		own      error
		want     error
	}{
		{"all ok", []error{nil, nil, nil}, nil, nil},
		{"one child fails", []error{nil, errA, nil}, nil, errA},
		{"first error wins", []error{errB, errA, nil}, nil, errA}, // children end last-first: errA is first
		{"own error kept", []error{errA}, errB, errB},
		{"no children", nil, errA, errA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := e.set.Alloc(0)
			var calls atomic.Int32
			var status error
			parent.EndIO = func(b *Bio) { calls.Add(1); status = b.Status() }
			var kids []*Bio
			for range tt.children {
				c := e.set.Alloc(0)
				c.Chain(parent)
				kids = append(kids, c)
			}
			parent.SetStatus(tt.own)
			parent.Endio() // its own IO first
			for i := len(kids) - 1; i >= 0; i-- {
				if calls.Load() != 0 {
					t.Fatalf("parent completed with %d children left", i+1)
				}
				kids[i].SetStatus(tt.children[i])
				kids[i].Endio()
			}
			if calls.Load() != 1 {
				t.Fatalf("parent EndIO ran %d times, want 1", calls.Load())
			}
			if status != tt.want {
				t.Errorf("status %v, want %v", status, tt.want)
			}
			parent.Put()
		})
	}
}

func TestChainConcurrent(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	const kids = 64
	parent := e.set.Alloc(0)
	done := make(chan error, 1)
	parent.EndIO = func(b *Bio) { done <- b.Status() }
	var wg sync.WaitGroup
	for i := range kids {
		c := e.set.Alloc(0)
		c.Chain(parent)
		wg.Go(func() {
			if i == 17 {
				c.SetStatus(syscall.EIO)
			}
			c.Endio()
		})
	}
	parent.Endio()
	wg.Wait()
	if err := <-done; err != syscall.EIO {
		t.Errorf("status %v, want EIO", err)
	}
	parent.Put()
}

func TestIncRemaining(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	b := e.set.Alloc(0)
	var calls int
	b.EndIO = func(*Bio) { calls++ }
	b.IncRemaining()
	b.Endio()
	if calls != 0 {
		t.Fatal("completed with one completion owed")
	}
	b.Endio()
	if calls != 1 {
		t.Fatalf("EndIO ran %d times", calls)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a surplus Endio did not panic")
			}
		}()
		b.Endio()
	}()
	b.Put()
}

func TestAllocTables(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	tests := []struct{ nvecs, max int }{
		{-1, 4}, {0, 4}, {1, 4}, {4, 4}, {5, 16}, {16, 16}, {17, 64}, {64, 64},
		{65, 128}, {129, 256}, {256, 256}, {257, 256}, {100000, 256},
	}
	for _, tt := range tests {
		b := e.set.Alloc(tt.nvecs)
		if b.MaxVecs() != tt.max {
			t.Errorf("Alloc(%d): %d vecs, want %d", tt.nvecs, b.MaxVecs(), tt.max)
		}
		b.Put()
	}
	st := e.set.Stats()
	if st.InlineVecs != 4 || st.SlabVecs != 9 || st.Active != 0 {
		t.Errorf("stats %+v: want 4 inline, 9 slab, 0 active", st)
	}
}

func TestAddPage(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	buf := e.page(4096, 1)
	defer buf.Unref()
	b := e.set.Alloc(2)
	// Contiguous ranges of one page merge into one vec.
	for off := 0; off < 1024; off += 256 {
		if err := b.AddPage(buf, off, 256); err != nil {
			t.Fatal(err)
		}
	}
	if b.NumVecs() != 1 || b.Size() != 1024 || buf.Refs() != 2 {
		t.Errorf("merged adds: %d vecs, %d bytes, %d refs; want 1, 1024, 2", b.NumVecs(), b.Size(), buf.Refs())
	}
	// Gaps make new vecs until the inline table (Alloc(2) gets all
	// InlineVecs) is full.
	for i := 1; i < InlineVecs; i++ {
		if err := b.AddPage(buf, 1024+i*100, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddPage(buf, 3000, 100); !errors.Is(err, ErrBioFull) || b.NumVecs() != InlineVecs {
		t.Errorf("AddPage into a full table: %v, %d vecs", err, b.NumVecs())
	}
	mustEqual(t, "vec 0", b.Vec(0), buf.Bytes()[:1024])
	b.Put()
	if buf.Refs() != 1 {
		t.Errorf("refs after Put: %d, want 1", buf.Refs())
	}

	// AddIobref: one iobref reference, all segments; all or nothing.
	r := e.bufs.NewIobref()
	defer r.Unref()
	for i, n := range []int{4096, 4096, 1808} {
		p := e.page(4096, 3+byte(i))
		r.AddRange(p, 0, n)
		p.Unref()
	}
	want := append(append(pattern(4096, 3), pattern(4096, 4)...), pattern(1808, 5)...)
	b = e.set.Alloc(16)
	if err := b.AddIobref(r); err != nil {
		t.Fatal(err)
	}
	if r.Refs() != 2 || b.Size() != 10000 {
		t.Errorf("AddIobref: %d refs, %d bytes", r.Refs(), b.Size())
	}
	mustEqual(t, "iobref data", data(b), want)
	b.Put()
	small := e.set.Alloc(2)
	for i := range 2 {
		if err := small.AddPage(buf, i*100, 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := small.AddIobref(r); !errors.Is(err, ErrBioFull) || r.Refs() != 1 {
		t.Errorf("AddIobref into a full bio: %v, %d refs", err, r.Refs())
	}
	small.Put()
}

func TestSetClose(t *testing.T) {
	e := newEnv(t, DeviceConfig{})
	b := e.set.Alloc(64)
	if err := e.set.Close(); !errors.Is(err, ErrActive) {
		t.Errorf("Close with a bio out: %v, want ErrActive", err)
	}
	b.Put()
}
