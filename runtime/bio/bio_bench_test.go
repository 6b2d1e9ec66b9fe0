package bio

import (
	"fmt"
	"sync"
	"testing"
)

var benchSizes = []int{4 << 10, 1 << 20}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("size=%dMiB", n>>20)
	}
	return fmt.Sprintf("size=%dKiB", n>>10)
}

// benchSpan bounds the file: writes cycle over this many slots.
const benchSpan = 64

// BenchmarkWrite compares a write through the bio layer (Alloc, AddPage,
// SubmitWait, Put: two goroutine hand-offs and a pwritev) with a plain
// os.File.WriteAt of the same bytes to the same file.
func BenchmarkWrite(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size)+"/bio", func(b *testing.B) {
			e := newEnv(b, DeviceConfig{})
			buf := e.page(size, 1)
			defer buf.Unref()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				bio := e.set.Alloc(1)
				bio.Op, bio.Offset = OpWrite, int64(i%benchSpan)*int64(size)
				bio.AddPage(buf, 0, size)
				if err := e.dev.SubmitWait(bio); err != nil {
					b.Fatal(err)
				}
				bio.Put()
			}
		})
		b.Run(sizeName(size)+"/os.File", func(b *testing.B) {
			e := newEnv(b, DeviceConfig{})
			p := pattern(size, 1)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := e.file.WriteAt(p, int64(i%benchSpan)*int64(size)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteParallel is BenchmarkWrite from several goroutines at
// once: the device's queue against concurrent WriteAt calls.
func BenchmarkWriteParallel(b *testing.B) {
	const size = 4 << 10
	b.Run(sizeName(size)+"/bio", func(b *testing.B) {
		e := newEnv(b, DeviceConfig{})
		buf := e.page(size, 1)
		defer buf.Unref()
		b.SetBytes(size)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				bio := e.set.Alloc(1)
				bio.Op, bio.Offset = OpWrite, int64(i%benchSpan)*size
				bio.AddPage(buf, 0, size)
				if err := e.dev.SubmitWait(bio); err != nil {
					b.Error(err)
				}
				bio.Put()
			}
		})
	})
	b.Run(sizeName(size)+"/os.File", func(b *testing.B) {
		e := newEnv(b, DeviceConfig{})
		p := pattern(size, 1)
		b.SetBytes(size)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				if _, err := e.file.WriteAt(p, int64(i%benchSpan)*size); err != nil {
					b.Error(err)
				}
			}
		})
	})
}

// BenchmarkPlug writes 16 adjacent 4 KiB blocks per op: through a plug
// (merged into one pwritev), as 16 SubmitWaits, and as 16 WriteAts.
func BenchmarkPlug(b *testing.B) {
	const size, n = 4 << 10, 16
	b.Run("plug", func(b *testing.B) {
		e := newEnv(b, DeviceConfig{})
		buf := e.page(size, 1)
		defer buf.Unref()
		var wg sync.WaitGroup
		done := func(bio *Bio) { bio.Put(); wg.Done() }
		b.SetBytes(size * n)
		b.ReportAllocs()
		for b.Loop() {
			p := e.dev.Plug()
			for i := range n {
				bio := e.set.Alloc(1)
				bio.Op, bio.Offset = OpWrite, int64(i)*size
				bio.AddPage(buf, 0, size)
				bio.EndIO = done
				p.Submit(bio)
			}
			wg.Add(n)
			p.Finish()
			wg.Wait()
		}
	})
	b.Run("submitwait", func(b *testing.B) {
		e := newEnv(b, DeviceConfig{})
		buf := e.page(size, 1)
		defer buf.Unref()
		b.SetBytes(size * n)
		b.ReportAllocs()
		for b.Loop() {
			for i := range n {
				bio := e.set.Alloc(1)
				bio.Op, bio.Offset = OpWrite, int64(i)*size
				bio.AddPage(buf, 0, size)
				if err := e.dev.SubmitWait(bio); err != nil {
					b.Fatal(err)
				}
				bio.Put()
			}
		}
	})
	b.Run("os.File", func(b *testing.B) {
		e := newEnv(b, DeviceConfig{})
		p := pattern(size, 1)
		b.SetBytes(size * n)
		b.ReportAllocs()
		for b.Loop() {
			for i := range n {
				if _, err := e.file.WriteAt(p, int64(i)*size); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkAllocPut measures a bio's Alloc and Put with an inline table and
// with slab tables, against new(Bio) as the baseline.
func BenchmarkAllocPut(b *testing.B) {
	for _, nvecs := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("vecs=%d", nvecs), func(b *testing.B) {
			e := newEnv(b, DeviceConfig{})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e.set.Alloc(nvecs).Put()
				}
			})
		})
	}
	b.Run("baseline=new", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var sink *Bio
			for pb.Next() {
				sink = new(Bio)
			}
			_ = sink
		})
	})
}
