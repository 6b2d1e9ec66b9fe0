package mempool

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// obj is the benchmark payload: 128 bytes, a typical fop-local struct.
type obj struct {
	a [16]int64
}

// benchCount is the preallocation of the benchmarked pool: far more than
// the benchmarks hold at once, so they measure the fast path.
const benchCount = 1024

// The baseline, sync.Pool, sits beside each mempool benchmark; both call
// their pool directly (no closure) so the ratio is the pools' own.

// BenchmarkGetPut is one goroutine taking an object, touching it and
// giving it back.
func BenchmarkGetPut(b *testing.B) {
	b.Run("impl=mempool", func(b *testing.B) {
		p := New[obj](NewRegistry(nil), "bench", "obj", benchCount)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			x := p.Get()
			x.a[0]++
			if err := p.Put(x); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=syncpool", func(b *testing.B) {
		p := &sync.Pool{New: func() any { return new(obj) }}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			x := p.Get().(*obj)
			x.a[0]++
			p.Put(x)
		}
	})
}

// BenchmarkGetPutParallel is BenchmarkGetPut on every P at once.
func BenchmarkGetPutParallel(b *testing.B) {
	b.Run("impl=mempool", func(b *testing.B) {
		p := New[obj](NewRegistry(nil), "bench", "obj", benchCount)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x := p.Get()
				x.a[0]++
				if err := p.Put(x); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("impl=syncpool", func(b *testing.B) {
		p := &sync.Pool{New: func() any { return new(obj) }}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x := p.Get().(*obj)
				x.a[0]++
				p.Put(x)
			}
		})
	})
}

// BenchmarkGetPutDepth holds depth objects before returning them, which
// sync.Pool's single private slot cannot serve without its shared queue
// and the mempool serves from its per-P cache and shared stack.
func BenchmarkGetPutDepth(b *testing.B) {
	const depth = 64
	b.Run("impl=mempool", func(b *testing.B) {
		p := New[obj](NewRegistry(nil), "bench", "obj", benchCount)
		var held [depth]*obj
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N / depth {
			for j := range held {
				held[j] = p.Get()
			}
			for _, x := range held {
				_ = p.Put(x)
			}
		}
	})
	b.Run("impl=syncpool", func(b *testing.B) {
		p := &sync.Pool{New: func() any { return new(obj) }}
		var held [depth]*obj
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N / depth {
			for j := range held {
				held[j] = p.Get().(*obj)
			}
			for _, x := range held {
				p.Put(x)
			}
		}
	})
}

// BenchmarkGetPutShards is BenchmarkGetPut on pools made and used at
// GOMAXPROCS 2 and 64 (a mounting daemon runs with four Ps per CPU), with
// the small counts the fop path uses (64: the per-IO bio and stripe-local
// pools): every P keeps a cache of its own whatever the count, so a
// Get+Put costs about the same at any number of Ps.
func BenchmarkGetPutShards(b *testing.B) {
	for _, count := range []int{64, 1024} {
		for _, procs := range []int{2, 64} {
			b.Run(fmt.Sprintf("count=%d/procs=%d", count, procs), func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				p := New[obj](NewRegistry(nil), "bench", "obj", count)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					x := p.Get()
					x.a[0]++
					if err := p.Put(x); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
