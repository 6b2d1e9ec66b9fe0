package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
)

// The benchmarks compare, in the same run, a readv served from the cache
// (hit), one that misses and goes through the cache to the child (miss),
// and the same readv on the child alone, the baseline (direct). The child
// is mem (an in-memory copy: the fastest possible child) or posix over a
// t.TempDir (a real pread, from the page cache of the OS). One op is one
// readv of size bytes; page-size equals size so that a miss reads one page.
//
//   hit:    a 1MiB file read round and round, all of it cached.
//   miss:   an 8MiB file read round and round through a 1MiB cache: every
//           read misses (LRU) and evicts.
//   direct: the 8MiB file read round and round on the child's graph.

const (
	hitFile  = 1 << 20
	missFile = 8 << 20
)

// fill creates /f of n bytes in chunks of 1MiB and returns an O_RDONLY fd.
func (t *tenv) fillFile(n int) (*xlator.Inode, *xlator.FD) {
	in, fd := t.create("f")
	chunk := pattern(1<<20, 1)
	for off := 0; off < n; off += len(chunk) {
		t.write(fd, int64(off), chunk[:min(len(chunk), n-off)])
	}
	fd.Unref()
	return in, t.open(in, syscall.O_RDONLY)
}

func benchRead(b *testing.B, e *tenv, fd *xlator.FD, size, fileSize int) {
	b.Helper()
	call := e.g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
	defer call.Done()
	top := e.g.Top()
	off := 0
	read := func() {
		ref, err := top.Readv(call, fd, size, int64(off))
		if err != nil || ref.Size() != size {
			b.Fatalf("readv %d at %d: %v", size, off, err)
		}
		ref.Unref()
		if off += size; off+size > fileSize {
			off = 0
		}
	}
	for i := 0; i < fileSize/size; i++ { // warm the cache (or the OS's)
		read()
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		read()
	}
}

func BenchmarkReadv(b *testing.B) {
	for _, child := range []string{"mem", "posix"} {
		for _, size := range []int{4 << 10, 128 << 10} {
			ps := xlator.FormatSize(int64(size))
			b.Run(fmt.Sprintf("child=%s/size=%s/path=hit", child, ps), func(b *testing.B) {
				e := graphOver(b, true, child, map[string]string{"page-size": ps})
				in, fd := e.fillFile(hitFile)
				defer in.Unref()
				defer fd.Unref()
				benchRead(b, e, fd, size, hitFile)
				if s := e.c.Stats(); s.Misses > hitFile/uint64(size) {
					b.Fatalf("hit benchmark missed: %+v", s)
				}
			})
			b.Run(fmt.Sprintf("child=%s/size=%s/path=miss", child, ps), func(b *testing.B) {
				e := graphOver(b, true, child, map[string]string{"page-size": ps, "cache-size": "1MiB"})
				in, fd := e.fillFile(missFile)
				defer in.Unref()
				defer fd.Unref()
				benchRead(b, e, fd, size, missFile)
				if s := e.c.Stats(); s.Hits > 0 {
					b.Fatalf("miss benchmark hit: %+v", s)
				}
			})
			b.Run(fmt.Sprintf("child=%s/size=%s/path=direct", child, ps), func(b *testing.B) {
				e := graphOver(b, false, child, nil)
				in, fd := e.fillFile(missFile)
				defer in.Unref()
				defer fd.Unref()
				benchRead(b, e, fd, size, missFile)
			})
		}
	}
}

// BenchmarkRandomRereads reads 4KiB at random 4KiB-aligned offsets of a
// 16MiB working set that the cache (32MiB, 128KiB pages) holds, against
// the same reads on posix alone.
func BenchmarkRandomRereads(b *testing.B) {
	const ws = 16 << 20
	for _, withCache := range []bool{true, false} {
		name := "path=cache"
		if !withCache {
			name = "path=direct"
		}
		b.Run("child=posix/"+name, func(b *testing.B) {
			e := graphOver(b, withCache, "posix", nil)
			in, fd := e.fillFile(ws)
			defer in.Unref()
			defer fd.Unref()
			call := e.g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
			defer call.Done()
			top := e.g.Top()
			for off := 0; off < ws; off += 128 << 10 { // warm
				ref, _ := top.Readv(call, fd, 128<<10, int64(off))
				ref.Unref()
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.SetBytes(4 << 10)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				off := int64(rng.IntN(ws/(4<<10))) << 12
				ref, err := top.Readv(call, fd, 4<<10, off)
				if err != nil || ref.Size() != 4<<10 {
					b.Fatalf("readv at %d: %v", off, err)
				}
				ref.Unref()
			}
			b.StopTimer()
			if withCache {
				if s := e.c.Stats(); s.Evictions > 0 {
					b.Fatalf("working set did not fit: %+v", s)
				}
			}
		})
	}
}

// BenchmarkParallelHits reads 4KiB hits from all Ps at once: the cost of
// the cache's single lock under contention.
func BenchmarkParallelHits(b *testing.B) {
	e := graphOver(b, true, "mem", map[string]string{"page-size": "4KiB"})
	in, fd := e.fillFile(hitFile)
	defer in.Unref()
	defer fd.Unref()
	benchWarm(e, fd)
	b.SetBytes(4 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		call := e.g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
		defer call.Done()
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			ref, err := e.g.Top().Readv(call, fd, 4<<10, int64(rng.IntN(hitFile>>12))<<12)
			if err != nil {
				b.Error(err)
				return
			}
			ref.Unref()
		}
	})
}

func benchWarm(e *tenv, fd *xlator.FD) {
	call := e.g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
	defer call.Done()
	for off := 0; off < hitFile; off += 64 << 10 {
		ref, _ := e.g.Top().Readv(call, fd, 64<<10, int64(off))
		ref.Unref()
	}
}

// BenchmarkSmallFiles reads 1KiB files whole, as the kernel asks for a
// small file (4KiB at offset 0), one file after the other round and round,
// over posix, whose reply to a one-page readv is a 128KiB iobuf: through
// the cache when every file fits (hit), through a cache that holds a
// quarter of them (miss: every read misses, keeps its page in a
// right-sized iobuf and evicts one), and on posix alone (direct).
func BenchmarkSmallFiles(b *testing.B) {
	const files, size = 512, 1 << 10
	for _, tc := range []struct {
		path      string
		cacheSize string // "" for no cache
	}{{"hit", "4MiB"}, {"miss", "256KiB"}, {"direct", ""}} {
		b.Run("child=posix/size=1KiB/path="+tc.path, func(b *testing.B) {
			var set map[string]string
			if tc.cacheSize != "" {
				set = map[string]string{"cache-size": tc.cacheSize}
			}
			e := graphOver(b, tc.cacheSize != "", "posix", set)
			fds := make([]*xlator.FD, files)
			for i := range fds {
				in, fd := e.create(fmt.Sprintf("f%d", i))
				e.write(fd, 0, pattern(size, byte(i)))
				in.Unref()
				fds[i] = fd
			}
			defer func() {
				for _, fd := range fds {
					fd.Unref()
				}
			}()
			call := e.g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
			defer call.Done()
			top := e.g.Top()
			read := func(i int) {
				ref, err := top.Readv(call, fds[i%files], 4<<10, 0)
				if err != nil || ref.Size() != size {
					b.Fatalf("readv of file %d: %v", i%files, err)
				}
				ref.Unref()
			}
			for i := range 2 * files { // warm the cache (or the OS's)
				read(i)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				read(i)
			}
			b.StopTimer()
			if e.c != nil {
				s := e.c.Stats()
				if tc.path == "hit" && s.Evictions > 0 || tc.path == "miss" && s.Hits > 0 {
					b.Fatalf("%s benchmark: %+v", tc.path, s)
				}
			}
		})
	}
}
