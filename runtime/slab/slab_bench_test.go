package slab

import (
	"fmt"
	"sync"
	"testing"
)

// allocator is the shape shared by the slab cache and its baselines.
type allocator interface {
	alloc() []byte
	free([]byte)
}

type slabAlloc struct{ c *Cache }

func (a slabAlloc) alloc() []byte {
	b, err := a.c.Alloc()
	if err != nil {
		panic(err)
	}
	return b
}

func (a slabAlloc) free(b []byte) {
	if err := a.c.Free(b); err != nil {
		panic(err)
	}
}

// poolAlloc is the baseline: a sync.Pool of *[]byte (a pointer, so Put does
// not allocate). The pointer is kept beside the slice, as real callers do.
type poolAlloc struct {
	p    *sync.Pool
	size int
}

func (a poolAlloc) get() *[]byte  { return a.p.Get().(*[]byte) }
func (a poolAlloc) put(p *[]byte) { a.p.Put(p) }

type makeAlloc struct{ size int }

func (a makeAlloc) alloc() []byte { return make([]byte, a.size) }
func (a makeAlloc) free([]byte)   {}

func BenchmarkAllocFree(b *testing.B) {
	for _, size := range []int{256, 4096} {
		name := fmt.Sprintf("size=%d", size)
		if size == 4096 {
			name = "size=4KiB"
		}
		b.Run(name, func(b *testing.B) {
			b.Run("impl=slab", func(b *testing.B) {
				c, err := New("bench", Config{Size: size})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				benchAllocator(b, slabAlloc{c})
			})
			b.Run("impl=syncpool", func(b *testing.B) {
				p := poolAlloc{p: &sync.Pool{New: func() any {
					s := make([]byte, size)
					return &s
				}}, size: size}
				benchPool(b, p)
			})
			b.Run("impl=make", func(b *testing.B) {
				benchAllocator(b, makeAlloc{size})
			})
		})
	}
}

func benchAllocator(b *testing.B, a allocator) {
	b.Run("par=1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x := a.alloc()
			x[0] = 1
			a.free(x)
		}
	})
	b.Run("par=N", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x := a.alloc()
				x[0] = 1
				a.free(x)
			}
		})
	})
}

func benchPool(b *testing.B, p poolAlloc) {
	b.Run("par=1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x := p.get()
			(*x)[0] = 1
			p.put(x)
		}
	})
	b.Run("par=N", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				x := p.get()
				(*x)[0] = 1
				p.put(x)
			}
		})
	})
}
