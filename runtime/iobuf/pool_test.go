package iobuf

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// onOneP runs the rest of the test with GOMAXPROCS=1, so that every call
// lands on P 0 and what the per-CPU cache holds is deterministic. Call it
// before New.
func onOneP(t *testing.T) {
	t.Helper()
	old := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func classOf(t *testing.T, s Stats, pageSize int) ClassStats {
	t.Helper()
	for _, c := range s.Classes {
		if c.PageSize == pageSize {
			return c
		}
	}
	t.Fatalf("no class of page size %d", pageSize)
	return ClassStats{}
}

func TestDefaults(t *testing.T) {
	p := newPool(t, Config{})
	s := p.Stats()
	if s.ArenaSize != 12976128 {
		t.Errorf("arena_size = %d, want GlusterFS's 12976128", s.ArenaSize)
	}
	if s.DefaultPageSize != 128<<10 || p.DefaultPageSize() != 128<<10 {
		t.Errorf("default_page_size = %d", s.DefaultPageSize)
	}
	// Lazy: nothing is mapped before the first Get.
	if s.ArenaCnt != 0 || s.MappedBytes != 0 {
		t.Errorf("fresh pool: arena_cnt=%d mapped=%d, want 0 0", s.ArenaCnt, s.MappedBytes)
	}
	if got, want := len(p.Classes()), 8; got != want {
		t.Errorf("%d classes, want %d", got, want)
	}
}

func TestClassSelection(t *testing.T) {
	p := newPool(t, Config{})
	for _, tc := range []struct {
		size     int
		pageSize int
		miss     bool
	}{
		{0, 128 << 10, false}, // Get(0) is the default page size
		{1, 128, false},
		{128, 128, false},
		{129, 512, false},
		{4096, 8 << 10, false},
		{128 << 10, 128 << 10, false},
		{128<<10 + 1, 256 << 10, false},
		{1 << 20, 1 << 20, false},
		{1<<20 + 1, 1<<20 + 4096, true},
	} {
		if got := p.ClassSize(tc.size); got != tc.pageSize {
			t.Errorf("ClassSize(%d) = %d, want %d, the page size Get gives", tc.size, got, tc.pageSize)
		}
		before := p.Stats().RequestMisses
		b := p.Get(tc.size)
		if b.PageSize() != tc.pageSize || len(b.Bytes()) != tc.pageSize || cap(b.Bytes()) != tc.pageSize {
			t.Errorf("Get(%d): page size %d len %d cap %d, want %d", tc.size, b.PageSize(), len(b.Bytes()), cap(b.Bytes()), tc.pageSize)
		}
		if miss := p.Stats().RequestMisses - before; (miss == 1) != tc.miss {
			t.Errorf("Get(%d): request_misses grew by %d, want miss=%v", tc.size, miss, tc.miss)
		}
		b.Unref()
	}
	if a := p.Stats().Active(); a != 0 {
		t.Errorf("active after all Unrefs = %d", a)
	}
}

// TestScriptedStats checks exact figures after a scripted sequence, with and
// without the per-CPU caches.
func TestScriptedStats(t *testing.T) {
	skipNoPools(t)
	for _, nocache := range []bool{false, true} {
		t.Run(map[bool]string{false: "cache=on", true: "cache=off"}[nocache], func(t *testing.T) {
			onOneP(t)
			p := newPool(t, Config{NoCPUCache: nocache})
			var small []*Iobuf
			for range 3 {
				small = append(small, p.Get(100))
			}
			big := p.Get(4096)

			s := p.Stats()
			c128, c8k := classOf(t, s, 128), classOf(t, s, 8<<10)
			if c128.ActiveCnt != 3 || c128.PassiveCnt != 1021 || c128.AllocCnt != 3 {
				t.Errorf("128: active %d passive %d alloc %d, want 3 1021 3", c128.ActiveCnt, c128.PassiveCnt, c128.AllocCnt)
			}
			if c8k.ActiveCnt != 1 || c8k.PassiveCnt != 127 || c8k.AllocCnt != 1 {
				t.Errorf("8KiB: active %d passive %d alloc %d, want 1 127 1", c8k.ActiveCnt, c8k.PassiveCnt, c8k.AllocCnt)
			}
			if nocache && c128.MaxActive != 3 {
				t.Errorf("128: max_active %d, want 3", c128.MaxActive)
			}
			if c128.MaxActive < 3 {
				t.Errorf("128: max_active %d < 3", c128.MaxActive)
			}
			if s.ArenaCnt != 2 || s.MappedBytes != 128*1024+8192*128 {
				t.Errorf("arena_cnt %d mapped %d, want 2 %d", s.ArenaCnt, s.MappedBytes, 128*1024+8192*128)
			}
			if got := c128.Arenas; len(got) != 1 || got[0].State != StateArena || got[0].ActiveCnt != 3 || got[0].Index != 1 {
				t.Errorf("128 arenas = %+v, want one arena #1 with 3 active", got)
			}
			for _, c := range s.Classes {
				if c.PageSize != 128 && c.PageSize != 8<<10 && len(c.Arenas) != 0 {
					t.Errorf("class %d mapped without a Get", c.PageSize)
				}
			}

			small[0].Unref()
			if c := classOf(t, p.Stats(), 128); c.ActiveCnt != 2 || c.PassiveCnt != 1022 {
				t.Errorf("after one Unref: active %d passive %d, want 2 1022", c.ActiveCnt, c.PassiveCnt)
			}
			small[1].Ref() // now 2 refs
			small[1].Unref()
			small[1].Unref()
			small[2].Unref()
			big.Unref()

			s = p.Stats()
			for _, c := range s.Classes {
				if c.ActiveCnt != 0 {
					t.Errorf("class %d: active_cnt %d after the workload", c.PageSize, c.ActiveCnt)
				}
				for _, a := range c.Arenas {
					if a.State != StatePurge {
						t.Errorf("class %d arena %d: state %q, want %q", c.PageSize, a.Index, a.State, StatePurge)
					}
				}
			}
			if c := classOf(t, s, 128); c.AllocCnt != 3 || c.PassiveCnt != 1024 {
				t.Errorf("128 at the end: alloc %d passive %d, want 3 1024", c.AllocCnt, c.PassiveCnt)
			}
		})
	}
}

func TestExhaustionGrowsArena(t *testing.T) {
	skipNoPools(t)
	for _, nocache := range []bool{false, true} {
		p := newPool(t, Config{Classes: []Class{{4096, 4}}, NoCPUCache: nocache})
		var held []*Iobuf
		for range 4 {
			held = append(held, p.Get(4096))
		}
		s := p.Stats()
		if s.ArenaCnt != 1 || s.Classes[0].Arenas[0].State != StateFilled {
			t.Fatalf("nocache=%v: 4 of 4 pages out: %+v", nocache, s.Classes[0].Arenas)
		}
		held = append(held, p.Get(1))
		s = p.Stats()
		if s.ArenaCnt != 2 || s.MappedBytes != 2*4*4096 || s.RequestMisses != 0 {
			t.Errorf("nocache=%v: after the 5th Get: arena_cnt %d mapped %d misses %d, want 2 32768 0",
				nocache, s.ArenaCnt, s.MappedBytes, s.RequestMisses)
		}
		seen := map[uintptr]bool{}
		for _, b := range held {
			if seen[addr(b.Bytes())] {
				t.Errorf("page %#x handed out twice", addr(b.Bytes()))
			}
			seen[addr(b.Bytes())] = true
			b.Unref()
		}
	}
}

func TestStdalloc(t *testing.T) {
	p := newPool(t, Config{})
	b := p.Get(3<<20 + 5)
	if n := len(b.Bytes()); n != 3<<20+4096 || cap(b.Bytes()) != n {
		t.Errorf("len %d cap %d, want %d", n, cap(b.Bytes()), 3<<20+4096)
	}
	if addr(b.Bytes())%4096 != 0 {
		t.Errorf("stdalloc buffer at %#x is not page-aligned", addr(b.Bytes()))
	}
	s := p.Stats()
	if s.RequestMisses != 1 || s.StdallocActive != 1 || s.StdallocBytes != 3<<20+4096 || s.ArenaCnt != 0 {
		t.Errorf("misses %d std active %d bytes %d arenas %d", s.RequestMisses, s.StdallocActive, s.StdallocBytes, s.ArenaCnt)
	}
	b.Ref()
	b.Unref()
	b.Unref()
	if s := p.Stats(); s.StdallocActive != 0 || s.StdallocBytes != 0 || s.Active() != 0 {
		t.Errorf("after Unref: std active %d bytes %d", s.StdallocActive, s.StdallocBytes)
	}
}

func TestAlignment(t *testing.T) {
	p := newPool(t, Config{})
	var held []*Iobuf
	for _, c := range p.Classes() {
		for range min(c.NumPages, 8) + 1 {
			b := p.Get(c.PageSize)
			held = append(held, b)
			align := uintptr(4096)
			if c.PageSize < 4096 {
				align = uintptr(c.PageSize) // small pages are aligned to their size
			}
			if addr(b.Bytes())%align != 0 {
				t.Errorf("class %d: buffer at %#x not aligned to %d", c.PageSize, addr(b.Bytes()), align)
			}
		}
	}
	for _, c := range p.Stats().Classes {
		for _, a := range c.Arenas {
			if a.MemBase%4096 != 0 {
				t.Errorf("class %d arena %d at %#x is not page-aligned", c.PageSize, a.Index, a.MemBase)
			}
		}
	}
	for _, b := range held {
		b.Unref()
	}
}

func TestPurge(t *testing.T) {
	skipNoPools(t)
	onOneP(t)
	for _, nocache := range []bool{false, true} {
		p := newPool(t, Config{Classes: []Class{{4096, 4}, {8192, 8}}, PurgeAfter: time.Minute, NoCPUCache: nocache})
		var held []*Iobuf
		for range 12 { // three arenas of the 4 KiB class
			held = append(held, p.Get(4096))
		}
		held = append(held, p.Get(8192))
		if s := p.Stats(); s.ArenaCnt != 4 || s.MappedBytes != 3*16384+65536 {
			t.Fatalf("nocache=%v: arena_cnt %d mapped %d", nocache, s.ArenaCnt, s.MappedBytes)
		}
		// With the cache on, the first page released (of the third arena)
		// stays in P 0's private slot, which keeps that arena mapped and
		// lets the other two go; without it the oldest arena is kept.
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unref()
		}
		now := time.Now()
		if got := p.Purge(now); got != 0 {
			t.Errorf("nocache=%v: Purge before PurgeAfter unmapped %d bytes", nocache, got)
		}
		if got := p.Purge(now.Add(2 * time.Minute)); got != 2*16384 {
			t.Errorf("nocache=%v: Purge unmapped %d bytes, want %d", nocache, got, 2*16384)
		}
		s := p.Stats()
		if s.ArenaCnt != 2 || s.MappedBytes != 16384+65536 || s.Purged != 2 {
			t.Errorf("nocache=%v: after Purge: arena_cnt %d mapped %d purged %d, want 2 %d 2",
				nocache, s.ArenaCnt, s.MappedBytes, s.Purged, 16384+65536)
		}
		// The pool still works, and grows again on demand.
		for i := range held[:12] {
			held[i] = p.Get(4096)
			held[i].Bytes()[0] = 1
		}
		if s := p.Stats(); s.ArenaCnt != 4 {
			t.Errorf("nocache=%v: arena_cnt %d after regrowing, want 4", nocache, s.ArenaCnt)
		}
		for _, b := range held[:12] {
			b.Unref()
		}
	}
}

func TestPurgeKeepsBusyAndDisabled(t *testing.T) {
	skipNoPools(t)
	p := newPool(t, Config{Classes: []Class{{4096, 1}}, PurgeAfter: time.Nanosecond, NoCPUCache: true})
	a, b := p.Get(1), p.Get(1)
	b.Unref()
	if got := p.Purge(time.Now().Add(time.Hour)); got != 4096 {
		t.Errorf("Purge unmapped %d bytes, want the one idle arena (4096)", got)
	}
	if s := p.Stats(); s.ArenaCnt != 1 || s.Classes[0].ActiveCnt != 1 {
		t.Errorf("busy arena: arena_cnt %d active %d", s.ArenaCnt, s.Classes[0].ActiveCnt)
	}
	a.Bytes()[0] = 7 // still mapped
	a.Unref()

	q := newPool(t, Config{Classes: []Class{{4096, 1}}, PurgeAfter: -1, NoCPUCache: true})
	x, y := q.Get(1), q.Get(1)
	x.Unref()
	y.Unref()
	if got := q.Purge(time.Now().Add(time.Hour)); got != 0 {
		t.Errorf("PurgeAfter<0: Purge unmapped %d bytes", got)
	}
}

func TestBackgroundPurger(t *testing.T) {
	skipNoPools(t)
	p := newPool(t, Config{Classes: []Class{{4096, 1}}, PurgeAfter: 20 * time.Millisecond, NoCPUCache: true})
	p.Start()
	p.Start() // no-op
	a, b := p.Get(1), p.Get(1)
	a.Unref()
	b.Unref()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().ArenaCnt != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("background purger did not unmap the idle arena: %+v", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop()
	p.Stop() // no-op
}

func TestRefUnderflow(t *testing.T) {
	for _, debug := range []bool{false, true} {
		p := newPool(t, Config{Classes: []Class{{4096, 4}}, Debug: debug})
		b := p.Get(1)
		if err := b.UnrefE(); err != nil {
			t.Fatal(err)
		}
		if err := b.UnrefE(); !errors.Is(err, ErrRefUnderflow) {
			t.Errorf("debug=%v: second UnrefE = %v, want ErrRefUnderflow", debug, err)
		}
		b.Unref() // reported, ignored
		if s := p.Stats(); s.RefUnderflows != 2 || s.Classes[0].ActiveCnt != 0 || b.Refs() != 0 {
			t.Errorf("debug=%v: underflows %d active %d refs %d, want 2 0 0", debug, s.RefUnderflows, s.Classes[0].ActiveCnt, b.Refs())
		}
		// The page went back once: all pages of the class are distinct.
		seen := map[*Iobuf]bool{}
		var held []*Iobuf
		for range 8 {
			x := p.Get(1)
			if seen[x] {
				t.Fatalf("debug=%v: iobuf handed out twice after a double Unref", debug)
			}
			seen[x] = true
			held = append(held, x)
		}
		for _, x := range held {
			x.Unref()
		}

		r := p.NewIobref()
		r.Unref()
		if err := r.UnrefE(); !errors.Is(err, ErrRefUnderflow) {
			t.Errorf("debug=%v: Iobref double UnrefE = %v", debug, err)
		}
		if s := p.Stats(); s.IobrefActive != 0 || s.RefUnderflows != 3 {
			t.Errorf("debug=%v: iobref_active %d underflows %d, want 0 3", debug, s.IobrefActive, s.RefUnderflows)
		}
	}
}

func TestRefAfterFree(t *testing.T) {
	p := newPool(t, Config{Classes: []Class{{4096, 4}}})
	b := p.Get(1)
	b.Unref()
	b.Ref() // reported and undone
	if s := p.Stats(); s.UseAfterFree != 1 || b.Refs() != 0 || s.Classes[0].ActiveCnt != 0 {
		t.Errorf("use_after_free %d refs %d active %d, want 1 0 0", s.UseAfterFree, b.Refs(), s.Classes[0].ActiveCnt)
	}
}

func TestDebugUseAfterFree(t *testing.T) {
	skipNoPools(t)
	for _, nocache := range []bool{false, true} {
		onOneP(t)
		p := newPool(t, Config{Classes: []Class{{4096, 4}}, Debug: true, NoCPUCache: nocache})
		b := p.Get(1)
		data := b.Bytes()
		copy(data, "hello")
		b.Unref()
		if data[0] != poisonByte {
			t.Errorf("nocache=%v: freed page not poisoned: %#x", nocache, data[0])
		}
		data[100] = 1 // the bug: a write after the last Unref
		_ = b.Bytes() // and an accessor on the released iobuf
		if s := p.Stats(); s.UseAfterFree != 1 {
			t.Errorf("nocache=%v: Bytes after free: use_after_free %d, want 1", nocache, s.UseAfterFree)
		}
		c := p.Get(1) // the same page, LIFO
		if c != b {
			t.Fatalf("nocache=%v: expected the freed page back", nocache)
		}
		if s := p.Stats(); s.UseAfterFree != 2 {
			t.Errorf("nocache=%v: reuse of a written free page: use_after_free %d, want 2", nocache, s.UseAfterFree)
		}
		c.Unref()
		// A clean cycle reports nothing.
		d := p.Get(1)
		d.Bytes()[0] = 9
		d.Unref()
		p.Get(1).Unref()
		if s := p.Stats(); s.UseAfterFree != 2 {
			t.Errorf("nocache=%v: clean cycle reported: use_after_free %d", nocache, s.UseAfterFree)
		}
	}
}

func TestClose(t *testing.T) {
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := p.Get(4096)
	r := p.NewIobref()
	if err := p.Close(); !errors.Is(err, ErrBusy) {
		t.Fatalf("Close with held buffers = %v, want ErrBusy", err)
	}
	b.Bytes()[0] = 1 // still mapped
	b.Unref()
	if err := p.Close(); !errors.Is(err, ErrBusy) {
		t.Fatalf("Close with a held iobref = %v, want ErrBusy", err)
	}
	r.Unref()
	if err := p.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if s := p.Stats(); s.MappedBytes != 0 || s.ArenaCnt != 0 {
		t.Errorf("after Close: mapped %d arenas %d", s.MappedBytes, s.ArenaCnt)
	}
	defer func() {
		if v := recover(); v != ErrClosed {
			t.Errorf("Get after Close panicked with %v, want ErrClosed", v)
		}
	}()
	p.Get(1)
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"empty classes", Config{Classes: []Class{}}},
		{"zero page size", Config{Classes: []Class{{0, 4}}}},
		{"zero pages", Config{Classes: []Class{{4096, 0}}}},
		{"duplicate", Config{Classes: []Class{{4096, 4}, {4096, 8}}}},
		{"default too big", Config{Classes: []Class{{4096, 4}}, DefaultPageSize: 8192}},
		{"default negative", Config{DefaultPageSize: -1}},
	} {
		if _, err := New(tc.cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	// Unsorted classes are fine.
	p := newPool(t, Config{Classes: []Class{{8192, 2}, {512, 8}}})
	if got := p.Classes(); got[0].PageSize != 512 || p.DefaultPageSize() != 8192 {
		t.Errorf("classes %v default %d", got, p.DefaultPageSize())
	}
}

func TestFieldsAndSub(t *testing.T) {
	skipNoPools(t)
	onOneP(t)
	p := newPool(t, Config{})
	before := p.Stats()
	b := p.Get(100)
	c := p.Get(2 << 20)
	s := p.Stats()
	got := map[string]any{}
	s.Fields(func(k string, v any) { got[k] = v })
	for k, want := range map[string]any{
		"iobuf_pool.default_page_size": 128 << 10,
		"iobuf_pool.arena_size":        int64(12976128),
		"iobuf_pool.arena_cnt":         1,
		"iobuf_pool.request_misses":    uint64(1),
		"iobuf_pool.stdalloc_active":   int64(1),
		"class.128.active_cnt":         int64(1),
		"arena.1.active_cnt":           int64(1),
		"arena.1.passive_cnt":          int64(1023),
		"arena.1.page_size":            128,
	} {
		if got[k] != want {
			t.Errorf("%s = %v (%T), want %v (%T)", k, got[k], got[k], want, want)
		}
	}
	d := s.Sub(before)
	if d.RequestMisses != 1 || classOf(t, d, 128).AllocCnt != 1 {
		t.Errorf("Sub: misses %d alloc %d, want 1 1", d.RequestMisses, classOf(t, d, 128).AllocCnt)
	}
	b.Unref()
	c.Unref()
}

// TestLargestClassCachedPerP: the 1 MiB class, whose arenas hold two
// pages (too few for a stack), still parks a page in each P's private
// slot, so a steady get and put on one P (a FUSE WRITE's buffer) takes
// its page from the arena once, not every time under the class lock.
func TestLargestClassCachedPerP(t *testing.T) {
	skipNoPools(t)
	onOneP(t)
	p := newPool(t, Config{})
	for range 100 {
		p.Get(1 << 20).Unref()
	}
	c := classOf(t, p.Stats(), 1<<20)
	if len(c.Arenas) != 1 || c.Arenas[0].AllocCnt != 1 || c.AllocCnt != 100 || c.ActiveCnt != 0 {
		t.Fatalf("1 MiB class after 100 get/put on one P: %d arenas, arena alloc %v, class alloc %d, active %d; want the page taken from its arena once",
			len(c.Arenas), c.Arenas, c.AllocCnt, c.ActiveCnt)
	}
}

// TestMoreProcsThanShards: a pool made for fewer Ps than later run gives
// each new P a CPU cache of its own (it once sent those Ps to the class
// lock for every page), and its counts stay exact.
func TestMoreProcsThanShards(t *testing.T) {
	skipNoPools(t)
	built := max(runtime.GOMAXPROCS(0), 4*runtime.NumCPU())
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(built))
	grew, rounds, gets := false, 0, 0
	p := newPool(t, Config{})
	runtime.GOMAXPROCS(built * 3)
	// The scheduler may keep the workers on the first Ps for a while (on
	// a loaded machine, many rounds): stress until a P past the shards
	// ran one, for up to 20 s.
	for start := time.Now(); !grew && time.Since(start) < 20*time.Second; rounds++ {
		var wg sync.WaitGroup
		for range 4 * built {
			wg.Go(func() {
				for i := range 50 {
					b := p.Get(4096)
					r := p.NewIobref()
					r.Add(b)
					b.Unref()
					r.Unref()
					if i%8 == 0 {
						runtime.Gosched()
					}
				}
			})
		}
		wg.Wait()
		gets += 4 * built * 50
		grew = len(p.extra.All()) > 0
	}
	if !grew {
		t.Fatalf("no shard made for the Ps past the %d New made, after %d rounds on %d Ps", built, rounds, built*3)
	}
	s := p.Stats()
	if c := classOf(t, s, 8<<10); c.AllocCnt != uint64(gets) || s.Active() != 0 || s.IobrefActive != 0 {
		t.Fatalf("after %d gets: class alloc %d, active %d, iobrefs active %d", gets, c.AllocCnt, s.Active(), s.IobrefActive)
	}
}

// TestShrink: under memory pressure Shrink unmaps every arena with no page
// out, recently used or not, keeping none, and MappedBytes follows.
func TestShrink(t *testing.T) {
	skipNoPools(t)
	onOneP(t)
	p := newPool(t, Config{Classes: []Class{{4096, 4}, {8192, 8}}, PurgeAfter: time.Hour, NoCPUCache: true})
	var held []*Iobuf
	for range 8 { // two arenas of the 4 KiB class
		held = append(held, p.Get(4096))
	}
	held = append(held, p.Get(8192))
	if got := p.MappedBytes(); got != 2*16384+65536 {
		t.Fatalf("MappedBytes %d", got)
	}
	keep := held[0] // keeps the first 4 KiB arena busy
	for _, b := range held[1:] {
		b.Unref()
	}
	if got := p.Purge(time.Now()); got != 0 {
		t.Errorf("Purge before PurgeAfter unmapped %d", got)
	}
	if got := p.Shrink(); got != 16384+65536 {
		t.Errorf("Shrink unmapped %d bytes, want %d", got, 16384+65536)
	}
	if got := p.MappedBytes(); got != 16384 {
		t.Errorf("MappedBytes %d after Shrink, want 16384", got)
	}
	keep.Bytes()[0] = 1 // still mapped
	keep.Unref()
	b := p.Get(8192) // maps an arena again
	b.Bytes()[0] = 1
	b.Unref()
}
