package iobuf

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestStress runs producers that fill iobufs and send iobrefs to consumers
// that check and release them, while another goroutine keeps taking Stats
// and purging. Every count must return to zero.
func TestStress(t *testing.T) {
	for _, cfg := range []Config{
		{PurgeAfter: time.Nanosecond},
		{PurgeAfter: time.Nanosecond, NoCPUCache: true},
		{Classes: []Class{{512, 4}, {4096, 4}, {64 << 10, 2}}, PurgeAfter: time.Nanosecond, Debug: true},
	} {
		p := newPool(t, cfg)
		largest := p.Classes()[len(p.Classes())-1].PageSize
		const producers, consumers, iters = 4, 4, 1000
		ch := make(chan *Iobref, 16)
		var prod, cons sync.WaitGroup
		sizes := []int{1, 100, 128, 600, 4096, 9000, 128 << 10, 300 << 10, 1<<20 + 1}
		for g := range producers {
			prod.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 1))
				for i := range iters {
					n := sizes[rng.IntN(len(sizes))]
					tag := byte(g*31 + i)
					r := p.NewIobref()
					for range 1 + rng.IntN(3) {
						b := p.Get(n)
						buf := b.Bytes()
						buf[0], buf[n-1] = tag, tag
						if rng.IntN(2) == 0 {
							b.Ref() // an extra holder that lets go early
							b.Unref()
						}
						r.AddRange(b, 0, n)
						b.Unref()
					}
					if rng.IntN(4) == 0 {
						o := p.NewIobref()
						o.Merge(r)
						r.Unref()
						r = o
					}
					if n <= largest && rng.IntN(8) == 0 { // one piece, so its ends match too
						f := p.FromBytes(r.Seg(0))
						r.Merge(f)
						f.Unref()
					}
					ch <- r
				}
			})
		}
		errs := make(chan string, consumers)
		for range consumers {
			cons.Go(func() {
				for r := range ch {
					for i := range r.Len() {
						s := r.Seg(i)
						if s[0] != s[len(s)-1] {
							select {
							case errs <- "segment ends differ: a buffer was shared":
							default:
							}
						}
					}
					r.Ref()
					go r.Unref() // a second holder on another goroutine
					r.Unref()
				}
			})
		}
		done := make(chan struct{})
		var bg sync.WaitGroup
		bg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				p.Stats()
				p.Purge(time.Now())
				time.Sleep(time.Millisecond)
			}
		})
		prod.Wait()
		close(ch)
		cons.Wait()
		close(done)
		bg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		// The last "go r.Unref()" calls may still be running.
		deadline := time.Now().Add(5 * time.Second)
		for {
			s := p.Stats()
			if s.Active() == 0 && s.IobrefActive == 0 {
				for _, c := range s.Classes {
					if c.ActiveCnt != 0 {
						t.Errorf("class %d: active_cnt %d", c.PageSize, c.ActiveCnt)
					}
				}
				if s.RefUnderflows != 0 || s.UseAfterFree != 0 {
					t.Errorf("misuse reported: underflows %d uaf %d", s.RefUnderflows, s.UseAfterFree)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("leak: active %d iobrefs %d std %d", s.Active(), s.IobrefActive, s.StdallocActive)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
