package iobuf

import (
	"fmt"
	"sync"
	"testing"
)

// Sinks keep the compiler from proving the baselines' buffers unused.
var sinkBytes []byte

// The sizes: a small page, the read-ahead size, and the largest class
// (a FUSE WRITE of max-write).
var benchSizes = []int{4 << 10, 128 << 10, 1 << 20}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("size=%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("size=%dKiB", n>>10)
	}
	return fmt.Sprintf("size=%dB", n)
}

func benchPool(b *testing.B, cfg Config) *Pool {
	b.Helper()
	p, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.Close(); err != nil {
			b.Error(err)
		}
	})
	return p
}

// BenchmarkGet measures Get+Unref against the baselines: make (what Go code
// without a pool pays) and a sync.Pool of *[]byte (the best a general pool
// does).
func BenchmarkGet(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			b.Run("impl=iobuf", func(b *testing.B) {
				p := benchPool(b, Config{})
				p.Get(size).Unref() // map the arena off the timer
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					buf := p.Get(size)
					buf.Unref()
				}
			})
			b.Run("impl=iobuf-nocache", func(b *testing.B) {
				p := benchPool(b, Config{NoCPUCache: true})
				p.Get(size).Unref()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					buf := p.Get(size)
					buf.Unref()
				}
			})
			b.Run("impl=make", func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					sinkBytes = make([]byte, size)
				}
			})
			b.Run("impl=syncpool", func(b *testing.B) {
				sp := sync.Pool{New: func() any { s := make([]byte, size); return &s }}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					s := sp.Get().(*[]byte)
					sp.Put(s)
				}
			})
		})
	}
}

// BenchmarkGetParallel is BenchmarkGet with every P hammering the pool.
func BenchmarkGetParallel(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			b.Run("impl=iobuf", func(b *testing.B) {
				p := benchPool(b, Config{})
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						p.Get(size).Unref()
					}
				})
			})
			b.Run("impl=iobuf-nocache", func(b *testing.B) {
				p := benchPool(b, Config{NoCPUCache: true})
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						p.Get(size).Unref()
					}
				})
			})
			b.Run("impl=make", func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					var s []byte
					for pb.Next() {
						s = make([]byte, size)
					}
					sinkBytes = s
				})
			})
			b.Run("impl=syncpool", func(b *testing.B) {
				sp := sync.Pool{New: func() any { s := make([]byte, size); return &s }}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						sp.Put(sp.Get().(*[]byte))
					}
				})
			})
		})
	}
}

// BenchmarkIobref measures building and releasing an iobref of one 128 KiB
// iobuf: NewIobref+Get+Add+Unref+Unref, the readv path of a translator.
func BenchmarkIobref(b *testing.B) {
	const size = 128 << 10
	b.Run(sizeName(size), func(b *testing.B) {
		b.Run("op=new-add-unref", func(b *testing.B) {
			p := benchPool(b, Config{})
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				r := p.NewIobref()
				buf := p.Get(size)
				r.Add(buf)
				buf.Unref()
				r.Unref()
			}
		})
		b.Run("op=new-add-unref-parallel", func(b *testing.B) {
			p := benchPool(b, Config{})
			b.SetBytes(size)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := p.NewIobref()
					buf := p.Get(size)
					r.Add(buf)
					buf.Unref()
					r.Unref()
				}
			})
		})
	})
}

// BenchmarkFromBytes measures the copy-in path of the FUSE write front end.
func BenchmarkFromBytes(b *testing.B) {
	for _, size := range []int{4 << 10, 128 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			p := benchPool(b, Config{})
			data := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				p.FromBytes(data).Unref()
			}
		})
	}
}
