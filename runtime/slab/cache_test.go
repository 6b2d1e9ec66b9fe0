package slab

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func newTestCache(t *testing.T, cfg Config) *Cache {
	t.Helper()
	c, err := New(t.Name(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustAlloc(t *testing.T, c *Cache, n int) [][]byte {
	t.Helper()
	objs := make([][]byte, n)
	for i := range objs {
		b, err := c.Alloc()
		if err != nil {
			t.Fatalf("alloc %d: %v", i, err)
		}
		objs[i] = b
	}
	return objs
}

func mustFree(t *testing.T, c *Cache, objs ...[]byte) {
	t.Helper()
	for i, b := range objs {
		if err := c.Free(b); err != nil {
			t.Fatalf("free %d: %v", i, err)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		cfg               Config
		asize, pages, per int
		limit, batch      int
		colours           int
		err               bool
	}{
		{cfg: Config{Size: 256}, asize: 256, pages: 1, per: 16, limit: 120, batch: 60, colours: 1},
		{cfg: Config{Size: 100}, asize: 104, pages: 1, per: 39, limit: 120, batch: 60, colours: 1},
		{cfg: Config{Size: 100, Align: CacheLine}, asize: 128, pages: 1, per: 32, limit: 120, batch: 60, colours: 1},
		{cfg: Config{Size: 4096}, asize: 4096, pages: 8, per: 8, limit: 24, batch: 12, colours: 1},
		{cfg: Config{Size: 3000}, asize: 3000, pages: 8, per: 10, limit: 24, batch: 12, colours: 1},
		{cfg: Config{Size: 200 << 10}, asize: 200 << 10, pages: 512, per: 10, limit: 1, batch: 1, colours: 1},
		{cfg: Config{Size: 960, Align: 64, PagesPerSlab: 1, Colour: true}, asize: 960, pages: 1, per: 4, limit: 54, batch: 27, colours: 5},
		{cfg: Config{Size: 64, FrontLimit: -1}, asize: 64, pages: 1, per: 64, limit: 0, batch: 1, colours: 1},
		{cfg: Config{Size: 64, FrontLimit: 10, BatchCount: 3}, asize: 64, pages: 1, per: 64, limit: 10, batch: 3, colours: 1},
		{cfg: Config{Size: 0}, err: true},
		{cfg: Config{Size: 64, Align: 48}, err: true},
		{cfg: Config{Size: 64, Align: 2 * 4096}, err: true},
		{cfg: Config{Size: 64, PagesPerSlab: 3}, err: true},
		{cfg: Config{Size: 8192, PagesPerSlab: 1}, err: true},
		{cfg: Config{Size: 64, FrontLimit: 4, BatchCount: 5}, err: true},
		{cfg: Config{Size: 64, FrontLimit: 400, BatchCount: 200}, err: true},
		{cfg: Config{Size: 64, ReapKeep: 1.5}, err: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.cfg), func(t *testing.T) {
			g, err := resolve("x", tt.cfg)
			if tt.err {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := [6]int{g.asize, g.pages, g.perSlab, g.limit, g.batch, g.colours}
			want := [6]int{tt.asize, tt.pages, tt.per, tt.limit, tt.batch, tt.colours}
			if got != want {
				t.Errorf("asize,pages,per,limit,batch,colours = %v, want %v", got, want)
			}
		})
	}
}

// slabCounts is the part of Stats a scripted sequence checks exactly.
type slabCounts struct {
	Slabs, Full, Partial, Free   int
	Active                       int64
	Front                        int
	Allocs, Frees, Grows, Reaped uint64
}

func counts(st Stats) slabCounts {
	return slabCounts{st.Slabs, st.FullSlabs, st.PartialSlabs, st.FreeSlabs, st.ActiveObjects,
		st.FrontObjects, st.Allocs, st.Frees, st.Grows, st.Reaped}
}

func TestStatsScripted(t *testing.T) {
	skipNoPools(t)
	// 256-byte objects, one-page slabs: 16 objects per slab.
	type step struct {
		alloc int    // allocate this many
		free  []int  // then free these (indices into all allocated so far)
		op    string // then "reap" or "shrink"
		want  slabCounts
	}
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"nofront", Config{Size: 256, FrontLimit: -1}, []step{
			{alloc: 40, want: slabCounts{3, 2, 1, 0, 40, 0, 40, 0, 3, 0}},
			{free: seq(0, 16), want: slabCounts{3, 1, 1, 1, 24, 0, 40, 16, 3, 0}},
			{free: []int{16}, want: slabCounts{3, 0, 2, 1, 23, 0, 40, 17, 3, 0}},
			{alloc: 1, want: slabCounts{3, 1, 1, 1, 24, 0, 41, 17, 3, 0}},
			{free: seq(17, 41), want: slabCounts{3, 0, 0, 3, 0, 0, 41, 41, 3, 0}},
			// 20% of 3 free slabs rounds down to keeping none.
			{op: "reap", want: slabCounts{0, 0, 0, 0, 0, 0, 41, 41, 3, 3}},
		}},
		{"front", Config{Size: 256, FrontLimit: 8, BatchCount: 4}, []step{
			// Misses take batches of 4: 40 allocs empty 10 batches.
			{alloc: 40, want: slabCounts{3, 2, 1, 0, 40, 0, 40, 0, 3, 0}},
			// 9 frees overflow the front cache (limit 8) once: 4 drain.
			{free: seq(0, 9), want: slabCounts{3, 1, 2, 0, 31, 5, 40, 9, 3, 0}},
			// A Reap right after use drains nothing; the next does.
			{op: "reap", want: slabCounts{3, 1, 2, 0, 31, 5, 40, 9, 3, 0}},
			{op: "reap", want: slabCounts{3, 1, 2, 0, 31, 0, 40, 9, 3, 0}},
			{free: seq(9, 40), op: "shrink", want: slabCounts{0, 0, 0, 0, 0, 0, 40, 40, 3, 3}},
			{alloc: 1, want: slabCounts{1, 0, 1, 0, 1, 3, 41, 40, 4, 3}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t, tt.cfg)
			var objs [][]byte
			for i, s := range tt.steps {
				objs = append(objs, mustAlloc(t, c, s.alloc)...)
				for _, j := range s.free {
					mustFree(t, c, objs[j])
				}
				switch s.op {
				case "reap":
					c.Reap()
				case "shrink":
					c.Shrink()
				}
				if got := counts(c.Stats()); got != s.want {
					t.Fatalf("step %d:\n got %+v\nwant %+v", i, got, s.want)
				}
			}
		})
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestReap(t *testing.T) {
	skipNoPools(t)
	tests := []struct {
		keep   float64
		passes []int // slabs freed by successive Reaps of 10 free slabs
	}{
		{0, []int{8, 2, 0}}, // default: keep 20%
		{0.5, []int{5, 3, 1, 1, 0}},
		{-1, []int{10, 0}},
		{1, []int{0}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("keep=", tt.keep), func(t *testing.T) {
			c := newTestCache(t, Config{Size: 1024, PagesPerSlab: 1, FrontLimit: -1, ReapKeep: tt.keep})
			mustFree(t, c, mustAlloc(t, c, 40)...)
			before := c.Stats()
			if before.FreeSlabs != 10 || before.MappedBytes != int64(10*pageSize) {
				t.Fatalf("before: %+v", before)
			}
			slabs := 10
			for i, want := range tt.passes {
				if got := c.Reap(); got != want {
					t.Fatalf("reap %d freed %d, want %d", i, got, want)
				}
				slabs -= want
				st := c.Stats()
				if st.FreeSlabs != slabs || st.MappedBytes != int64(slabs*pageSize) || st.Reaped != uint64(10-slabs) {
					t.Fatalf("after reap %d: %+v", i, st)
				}
			}
			// The cache grows again after reaping.
			mustFree(t, c, mustAlloc(t, c, 40)...)
		})
	}
}

func TestBadFree(t *testing.T) {
	skipNoPools(t)
	c := newTestCache(t, Config{Size: 100}) // stride 104: no power of two
	other := newTestCache(t, Config{Size: 100})
	objs := mustAlloc(t, c, 3)
	o := mustAlloc(t, other, 1)[0]
	mustFree(t, c, objs[2])
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"nil", nil, ErrForeign},
		{"heap", make([]byte, 100), ErrForeign},
		{"other cache", o, ErrForeign},
		{"interior", objs[0][1:], ErrNotObjectStart},
		{"end", objs[0][100:], ErrNotObjectStart},
		{"past last object", objs[0][:1:1][0:0:0], ErrNotObjectStart},
		{"double free in front", objs[2], ErrDoubleFree},
	}
	for i, tt := range tests {
		err := c.Free(tt.b)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if got := c.Stats().Errors; got != uint64(i+1) {
			t.Errorf("%s: Errors = %d, want %d", tt.name, got, i+1)
		}
	}
	// Double free once the object is back on its slab.
	c.Shrink()
	if err := c.Free(objs[2]); !errors.Is(err, ErrDoubleFree) {
		t.Errorf("double free on slab: %v", err)
	}
	// The cache is intact: every object comes out once.
	mustFree(t, c, objs[:2]...)
	all := mustAlloc(t, c, 500)
	seen := map[uintptr]bool{}
	for _, b := range all {
		if seen[addr(b)] {
			t.Fatalf("object %#x handed out twice", addr(b))
		}
		seen[addr(b)] = true
	}
	mustFree(t, c, all...)
	mustFree(t, other, o)
	if st := c.Stats(); st.ActiveObjects != 0 || st.Errors != uint64(len(tests)+1) {
		t.Fatalf("stats: %+v", st)
	}
}

func TestPoison(t *testing.T) {
	skipNoPools(t)
	core, logs := observer.New(zap.ErrorLevel)
	c := newTestCache(t, Config{Size: 64, Debug: true, Logger: zap.New(core)})
	b := mustAlloc(t, c, 1)[0]
	for i, v := range b {
		if v != poisonByte {
			t.Fatalf("fresh object byte %d = %#x, want poison", i, v)
		}
	}
	copy(b, "data")
	mustFree(t, c, b)
	if b[0] != poisonByte || b[63] != poisonByte {
		t.Fatal("freed object not poisoned")
	}
	b[17] = 1 // use after free

	// The front cache is LIFO: the next Alloc picks the same object.
	_, err := c.Alloc()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("alloc after corruption: %v", err)
	}
	if st := c.Stats(); st.Corruptions != 1 || st.ActiveObjects != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if logs.FilterMessageSnippet("modified after free").Len() != 1 {
		t.Fatalf("logs: %v", logs.All())
	}
	// Quarantined: never handed out again, cannot be freed.
	if err := c.Free(b); !errors.Is(err, ErrDoubleFree) {
		t.Fatalf("free of quarantined object: %v", err)
	}
	objs := mustAlloc(t, c, 200)
	for _, o := range objs {
		if addr(o) == addr(b) {
			t.Fatal("quarantined object handed out")
		}
	}
	mustFree(t, c, objs...)
}

func TestColour(t *testing.T) {
	skipNoPools(t)
	// 4 objects of 960 bytes per page leave 256 bytes: offsets 0..256 by 64.
	c := newTestCache(t, Config{Size: 960, Align: 64, PagesPerSlab: 1, Colour: true, FrontLimit: -1})
	objs := mustAlloc(t, c, 4*7)
	for i := range 7 {
		first := addr(objs[4*i]) & uintptr(pageSize-1)
		if want := uintptr(i%5) * 64; first != want {
			t.Errorf("slab %d: first object at offset %d, want %d", i, first, want)
		}
	}
	mustFree(t, c, objs...)
}

func TestAlignment(t *testing.T) {
	skipNoPools(t)
	for _, cfg := range []Config{
		{Size: 1}, {Size: 24}, {Size: 100, Align: 16}, {Size: 100, Align: CacheLine, Colour: true},
		{Size: 3000, Align: CacheLine, Colour: true}, {Size: 4096, Align: 4096}, {Size: 5000, Align: 4096},
		{Size: 1000, PagesPerSlab: 4, Colour: true},
	} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			c := newTestCache(t, cfg)
			st := c.Stats()
			align := max(cfg.Align, defaultAlign)
			slabSize := uintptr(st.PagesPerSlab * pageSize)
			objs := mustAlloc(t, c, 3*st.ObjectsPerSlab+1)
			seen := map[uintptr]bool{}
			for _, b := range objs {
				a := addr(b)
				if len(b) != cfg.Size || cap(b) != cfg.Size {
					t.Fatalf("len/cap = %d/%d", len(b), cap(b))
				}
				if a%uintptr(align) != 0 {
					t.Fatalf("object %#x not aligned to %d", a, align)
				}
				if (a+uintptr(cfg.Size)-1)&^(slabSize-1) != a&^(slabSize-1) {
					t.Fatalf("object %#x crosses its slab", a)
				}
				if seen[a] {
					t.Fatalf("object %#x twice", a)
				}
				seen[a] = true
				b[0], b[len(b)-1] = 1, 2 // mapped and writable
			}
			mustFree(t, c, objs...)
		})
	}
}

func TestClose(t *testing.T) {
	reg := NewRegistry()
	c, err := reg.NewCache("c", Config{Size: 512})
	if err != nil {
		t.Fatal(err)
	}
	objs := mustAlloc(t, c, 20)
	mustFree(t, c, objs[10:]...)
	if err := c.Close(); !errors.Is(err, ErrActive) {
		t.Fatalf("close with active objects: %v", err)
	}
	if _, err := c.Alloc(); !errors.Is(err, ErrClosed) {
		t.Fatalf("alloc after close: %v", err)
	}
	if len(reg.Caches()) != 1 {
		t.Fatal("cache with active objects left the registry")
	}
	copy(objs[0], "still mapped")
	mustFree(t, c, objs[:10]...)
	if st := c.Stats(); st.Slabs != 0 || st.MappedBytes != 0 {
		t.Fatalf("slabs left after last free: %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(reg.Caches()) != 0 {
		t.Fatal("closed cache still registered")
	}
}

func TestStatsSub(t *testing.T) {
	skipNoPools(t)
	c := newTestCache(t, Config{Size: 64})
	mustFree(t, c, mustAlloc(t, c, 10)...)
	prev := c.Stats()
	mustFree(t, c, mustAlloc(t, c, 5)...)
	c.Free(nil)
	d := c.Stats().Sub(prev)
	if d.Allocs != 5 || d.Frees != 5 || d.Errors != 1 || d.Name != c.Name() || d.ObjectSize != 64 {
		t.Fatalf("delta: %+v", d)
	}
	if d.FrontHits != 5 || d.FrontMisses != 0 {
		t.Fatalf("delta hits/misses: %+v", d)
	}
}
