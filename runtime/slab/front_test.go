package slab

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestFrontHandshake races Alloc and Free against Shrink and Reap taking
// the front caches away, with both kinds of owner fast path: plain stores
// paired with membarrier, and the fenced fallback. Every object carries its
// holder's stamp, so an object handed to two holders, or taken from a front
// cache while its owner pops it, shows as a torn stamp or a bad free.
func TestFrontHandshake(t *testing.T) {
	modes := []bool{true} // fenced
	if haveHeavyBarrier() {
		modes = append(modes, false)
	} else {
		t.Log("membarrier not available: testing the fenced fast path only")
	}
	for _, fenced := range modes {
		t.Run(fmt.Sprint("fenced=", fenced), func(t *testing.T) {
			c := newTestCache(t, Config{Size: 64, FrontLimit: 8, BatchCount: 4})
			c.fenced = fenced
			const workers, rounds = 4, 20000
			var stop atomic.Bool
			var thief sync.WaitGroup
			thief.Go(func() {
				for i := 0; !stop.Load(); i++ {
					if i%2 == 0 {
						c.Shrink()
					} else {
						c.Reap()
					}
				}
			})
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					var held [3][]byte
					for i := range rounds {
						stamp := uint64(w)<<32 | uint64(i)
						for j := range held {
							b, err := c.Alloc()
							if err != nil {
								t.Error(err)
								return
							}
							binary.LittleEndian.PutUint64(b, stamp)
							held[j] = b
						}
						for _, b := range held {
							if got := binary.LittleEndian.Uint64(b); got != stamp {
								t.Errorf("object %#x: stamp %#x, want %#x: handed out twice", addr(b), got, stamp)
								return
							}
							if err := c.Free(b); err != nil {
								t.Error(err)
								return
							}
						}
					}
				})
			}
			wg.Wait()
			stop.Store(true)
			thief.Wait()
			c.Shrink()
			st := c.Stats()
			if st.ActiveObjects != 0 || st.FrontObjects != 0 || st.Slabs != 0 || st.Errors != 0 ||
				st.Allocs != workers*rounds*3 {
				t.Fatalf("stats: %+v", st)
			}
		})
	}
}

// TestCloseRetiresFronts checks that after Close no object stays parked in
// a front cache: a Free goes straight to its slab, which is unmapped as soon
// as it is empty.
func TestCloseRetiresFronts(t *testing.T) {
	c := newTestCache(t, Config{Size: 128})
	objs := mustAlloc(t, c, 50)
	mustFree(t, c, objs[:25]...)
	if err := c.Close(); err == nil {
		t.Fatal("Close with objects out returned nil")
	}
	if st := c.Stats(); st.FrontObjects != 0 {
		t.Fatalf("front caches not drained by Close: %+v", st)
	}
	mustFree(t, c, objs[25:]...)
	if st := c.Stats(); st.FrontObjects != 0 || st.Slabs != 0 || st.ActiveObjects != 0 {
		t.Fatalf("after the last Free: %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}
