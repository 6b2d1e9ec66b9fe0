package fuse

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/xstack/xstack/xlator/xlatortest"
)

// Benchmarks of IO through a mount over the mem bottom, each beside its
// baseline: the same syscalls on a plain file in the test's temporary
// directory (os.File, no FUSE). Reads use O_DIRECT so that every read is a
// FUSE READ through the bridge and the graph rather than a page-cache hit;
// writes go through the page cache in write-through mode, so every write
// is a FUSE WRITE too. Allocations are counted for the whole process, the
// bridge's goroutines included.
//
//	go test -run '^$' -bench . -benchtime 2s ./mount/fuse/
//
// On the 2-core CI VM (Go 1.26, go-fuse 2.12.1), one run at -benchtime 3s,
// xstack's own loop (conn.go, root mounts) beside go-fuse's:
//
//	                       own loop              go-fuse's loop
//	write 1MiB xstack-mem  404 µs/op  2.6 GB/s   500–512 µs/op  2.1 GB/s
//	write 4KiB xstack-mem  19.7 µs/op            36.0–36.7 µs/op
//	read  1MiB xstack-mem  258 µs/op  4.1 GB/s   292 µs/op      3.6 GB/s
//	read  4KiB xstack-mem  22.6 µs/op            32.3 µs/op
//	allocations per READ / WRITE   0 / 0         11 / 10 (inside go-fuse)
//	baseline (os.File on the temp dir's disk): write 1MiB 55 µs, 4KiB 2.5 µs;
//	O_DIRECT read 1MiB 186 µs, 4KiB 68 µs
//
// One FUSE request per op (GETXATTR security.capability is not asked:
// the bridge handles KILLPRIV_V2).

const benchFileSize = 64 << 20

// alignedBuf returns a page-aligned buffer of n bytes (O_DIRECT needs one
// on most file systems; FUSE does not, the baseline may).
func alignedBuf(n int) []byte {
	b := make([]byte, n+4096)
	off := int(4096-uintptr(unsafe.Pointer(&b[0]))%4096) % 4096
	return b[off : off+n]
}

// benchTarget mounts (or not: the baseline) a file system for a
// benchmark, with the mount's configuration changed by edit (if not nil).
type benchTarget struct {
	name string
	dir  func(b *testing.B, edit func(*Config)) (dir string, m *mounted)
}

var benchTargets = []benchTarget{
	{"fs=xstack-mem", func(b *testing.B, edit func(*Config)) (string, *mounted) {
		m := mountWith(b, xlatortest.Registry(), edit, "mem")
		return m.dir, m
	}},
	{"fs=xstack-mem-iouring", func(b *testing.B, edit func(*Config)) (string, *mounted) {
		setEnableURing(b, "Y")
		m := mountWith(b, xlatortest.Registry(), func(c *Config) {
			c.Transport = TransportIOUring
			if edit != nil {
				edit(c)
			}
		}, "mem")
		if m.srv.Stats().Ring == nil {
			b.Fatalf("not served over io_uring: %s", m.srv.Stats().TransportNote)
		}
		return m.dir, m
	}},
	{"fs=xstack-mem-gofuseloop", func(b *testing.B, edit func(*Config)) (string, *mounted) {
		m := mountWith(b, xlatortest.Registry(), func(c *Config) {
			c.GoFuseLoop = true
			if edit != nil {
				edit(c)
			}
		}, "mem")
		return m.dir, m
	}},
	{"fs=baseline-osfile", func(b *testing.B, _ func(*Config)) (string, *mounted) { return b.TempDir(), nil }},
}

func BenchmarkWrite(b *testing.B) {
	for _, tg := range benchTargets {
		for _, size := range []struct {
			name string
			n    int
		}{{"1MiB", 1 << 20}, {"4KiB", 4 << 10}} {
			b.Run(tg.name+"/size="+size.name, func(b *testing.B) {
				dir, m := tg.dir(b, nil)
				benchWrite(b, filepath.Join(dir, "w"), size.n, m)
			})
		}
	}
	// The cost the bridge saves by answering security.capability itself:
	// the kernel asks for it before every write.
	b.Run("fs=xstack-mem-capability-wound/size=1MiB", func(b *testing.B) {
		m := mountChain(b, "mem")
		m.srv.b.windCapability = true
		benchWrite(b, m.path("w"), 1<<20, m)
	})
}

func benchWrite(b *testing.B, path string, size int, m *mounted) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	// Overwrite a file of the final size: growing a file is the bottom's
	// cost (mem reallocates), not the bridge's.
	if err := f.Truncate(benchFileSize); err != nil {
		b.Fatal(err)
	}
	buf := alignedBuf(size)
	for i := range buf {
		buf[i] = byte(i)
	}
	var before Stats
	if m != nil {
		before = m.srv.Stats()
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(0)
	for i := 0; i < b.N; i++ {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
		if off += int64(size); off >= benchFileSize {
			off = 0
		}
	}
	b.StopTimer()
	reportRequests(b, m, before)
}

// reportRequests adds the FUSE requests per operation to the results.
func reportRequests(b *testing.B, m *mounted, before Stats) {
	if m == nil {
		return
	}
	d := m.srv.Stats().Sub(before)
	for _, name := range []string{"WRITE", "READ", "GETXATTR", "GETATTR"} {
		b.ReportMetric(float64(d.Count(name))/float64(b.N), name+"/op")
	}
}

func BenchmarkRead(b *testing.B) {
	for _, tg := range benchTargets {
		for _, size := range []struct {
			name string
			n    int
		}{{"1MiB", 1 << 20}, {"4KiB", 4 << 10}} {
			b.Run(tg.name+"/size="+size.name, func(b *testing.B) {
				dir, m := tg.dir(b, nil)
				benchRead(b, filepath.Join(dir, "r"), size.n, m)
			})
		}
	}
}

func benchRead(b *testing.B, path string, size int, m *mounted) {
	chunk := alignedBuf(1 << 20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	w, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for off := 0; off < benchFileSize; off += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := alignedBuf(size)
	var before Stats
	if m != nil {
		before = m.srv.Stats()
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(0)
	for i := 0; i < b.N; i++ {
		n, err := f.ReadAt(buf, off)
		if err != nil || n != size {
			b.Fatalf("read at %d: %d %v", off, n, err)
		}
		if off += int64(size); off >= benchFileSize {
			off = 0
		}
	}
	b.StopTimer()
	reportRequests(b, m, before)
}

// BenchmarkStat is a stat(2) of one file with the kernel caching nothing,
// so that each is a LOOKUP through the bridge: the per-request cost of
// the transport without data.
func BenchmarkStat(b *testing.B) {
	for _, tg := range benchTargets {
		b.Run(tg.name, func(b *testing.B) {
			dir, m := tg.dir(b, func(c *Config) { c.EntryTimeout, c.AttrTimeout = 0, 0 })
			p := filepath.Join(dir, "s")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				b.Fatal(err)
			}
			var st syscall.Stat_t
			var before Stats
			if m != nil {
				before = m.srv.Stats()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := syscall.Stat(p, &st); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if m != nil {
				b.ReportMetric(float64(m.srv.Stats().Sub(before).Requests)/float64(b.N), "requests/op")
			}
		})
	}
}
