package slab

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestRegistry(t *testing.T) {
	reg := NewRegistry()
	for _, name := range []string{"vol1:b", "vol0:a", "vol1:a"} {
		if _, err := reg.NewCache(name, Config{Size: 32}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.NewCache("vol0:a", Config{Size: 64}); !errors.Is(err, ErrDuplicateName) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := reg.NewCache("bad", Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("bad config: %v", err)
	}
	var names []string
	for _, st := range reg.Stats() {
		names = append(names, st.Name)
	}
	if got, want := names, []string{"vol0:a", "vol1:a", "vol1:b"}; !equal(got, want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	for _, c := range reg.Caches() {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(reg.Caches()) != 0 {
		t.Fatal("closed caches still listed")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaper(t *testing.T) {
	reg := NewRegistry()
	c, err := reg.NewCache("c", Config{Size: 2048})
	if err != nil {
		t.Fatal(err)
	}
	mustFree(t, c, mustAlloc(t, c, 100)...)
	if err := reg.StartReaper(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := reg.StartReaper(time.Millisecond); !errors.Is(err, ErrReaperRunning) {
		t.Fatalf("second start: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Slabs != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("reaper did not return memory: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	reg.StopReaper()
	reg.StopReaper() // no-op
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestStress allocates and frees from many goroutines, handing objects from
// one goroutine to another, while a reaper and Shrink take memory back. Each
// object carries its owner's stamp, so handing one object out twice shows.
func TestStress(t *testing.T) {
	const (
		workers = 8
		rounds  = 3000
	)
	for _, cfg := range []Config{
		{Size: 64},
		{Size: 4096},
		{Size: 200, FrontLimit: 4, BatchCount: 2, Colour: true},
		{Size: 128, FrontLimit: -1},
		{Size: 96, Debug: true},
	} {
		t.Run("", func(t *testing.T) {
			reg := NewRegistry()
			c, err := reg.NewCache("stress", cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := reg.StartReaper(200 * time.Microsecond); err != nil {
				t.Fatal(err)
			}
			handoff := make(chan []byte, 64)
			var wg, consumers sync.WaitGroup
			errc := make(chan error, 2*workers)
			for w := range workers {
				consumers.Add(1)
				go func() { // frees what others allocated
					defer consumers.Done()
					for b := range handoff {
						if binary.LittleEndian.Uint64(b) != binary.LittleEndian.Uint64(b[len(b)-8:]) {
							errc <- errors.New("stamp torn: object shared")
						}
						if err := c.Free(b); err != nil {
							errc <- err
						}
					}
				}()
				wg.Add(1)
				go func() {
					defer wg.Done()
					var held [][]byte
					for i := range rounds {
						b, err := c.Alloc()
						if err != nil {
							errc <- err
							return
						}
						stamp := uint64(w)<<32 | uint64(i)
						binary.LittleEndian.PutUint64(b, stamp)
						binary.LittleEndian.PutUint64(b[len(b)-8:], stamp)
						switch i % 4 {
						case 0:
							handoff <- b
						case 1:
							held = append(held, b)
						default:
							if err := c.Free(b); err != nil {
								errc <- err
							}
						}
						if len(held) > 50 || i == rounds-1 {
							for _, h := range held {
								if binary.LittleEndian.Uint64(h) != binary.LittleEndian.Uint64(h[len(h)-8:]) {
									errc <- errors.New("stamp torn: object shared")
								}
								if err := c.Free(h); err != nil {
									errc <- err
								}
							}
							held = held[:0]
						}
						if i%500 == 0 && w == 0 {
							c.Shrink()
							c.Stats()
						}
					}
				}()
			}
			wg.Wait()
			close(handoff)
			consumers.Wait()
			reg.StopReaper()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			c.Shrink()
			st := c.Stats()
			if st.ActiveObjects != 0 || st.FrontObjects != 0 || st.Slabs != 0 || st.MappedBytes != 0 ||
				st.Allocs != workers*rounds || st.Frees != workers*rounds || st.Errors != 0 || st.Corruptions != 0 {
				t.Fatalf("after stress: %+v", st)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMoreProcsThanShards covers Ps that appear after the cache was made and
// have no front cache: they go straight to the slabs.
func TestMoreProcsThanShards(t *testing.T) {
	c := newTestCache(t, Config{Size: 64})
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(len(c.shards) + 3))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				b, err := c.Alloc()
				if err != nil {
					t.Error(err)
					return
				}
				if err := c.Free(b); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	c.Shrink()
	if st := c.Stats(); st.ActiveObjects != 0 || st.Slabs != 0 || st.Allocs != 16000 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestRegistryShrinkAndReapStats: Shrink gives every free slab back at
// once, in bytes, and ReapStats counts it and the reaper's passes.
func TestRegistryShrinkAndReapStats(t *testing.T) {
	skipNoPools(t)
	reg := NewRegistry()
	c, err := reg.NewCache("c", Config{Size: 2048, PagesPerSlab: 1, FrontLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	objs := mustAlloc(t, c, 10) // 2 per 4 KiB slab: 5 slabs
	slabBytes := int64(c.Stats().PagesPerSlab * pageSize)
	if got := reg.MappedBytes(); got != 5*slabBytes {
		t.Fatalf("MappedBytes %d, want %d", got, 5*slabBytes)
	}
	if rs := reg.ReapStats(); rs != (ReapStats{}) {
		t.Fatalf("fresh ReapStats %+v", rs)
	}
	mustFree(t, c, objs...)
	// ReapKeep 0.2 keeps one of five.
	if n := reg.Reap(); n != 4 {
		t.Errorf("Reap unmapped %d slabs, want 4", n)
	}
	if got := reg.Shrink(); got != slabBytes {
		t.Errorf("Shrink returned %d bytes, want %d", got, slabBytes)
	}
	rs := reg.ReapStats()
	if rs.Reaps != 1 || rs.ReapedSlabs != 4 || rs.ReapedBytes != 4*slabBytes || rs.LastReap.IsZero() ||
		rs.Shrinks != 1 || rs.ShrunkSlabs != 1 || rs.ShrunkBytes != slabBytes || rs.LastShrink.IsZero() {
		t.Errorf("ReapStats %+v", rs)
	}
	if got := reg.MappedBytes(); got != 0 {
		t.Errorf("MappedBytes %d after Shrink", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
