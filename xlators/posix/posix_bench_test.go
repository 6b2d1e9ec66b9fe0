package posix

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// The benchmarks run each workload through the graph (a posix volume, no
// FUSE) beside its baseline, a plain os.File WriteAt/ReadAt loop on a file
// in the same file system, in the same run. One op is one request: a
// 1 MiB write or read at the next offset of a benchFileSize file (wrapping
// around), or a 4 KiB read at a random 4 KiB-aligned offset. Buffers are
// iobufs (page-aligned) in both cases, so O_DIRECT applies to both.
//
// XSTACK_BENCH_SIZE sets the file size (default 256MiB; 1GiB for the full
// run).

func benchFileSize(b *testing.B) int64 {
	if s := os.Getenv("XSTACK_BENCH_SIZE"); s != "" {
		n, err := xlator.ParseSize(s)
		if err != nil || n < 1<<20 {
			b.Fatalf("XSTACK_BENCH_SIZE=%q: %v (want a size of at least 1MiB)", s, err)
		}
		return n
	}
	return 256 << 20
}

const (
	seqChunk  = 1 << 20
	randChunk = 4 << 10
)

// benchFile is one side of a comparison: write and read at an offset.
type benchFile interface {
	write(b *testing.B, off int64)
	read(b *testing.B, off int64, n int)
}

// osFile is the baseline.
type osFile struct {
	f   *os.File
	buf []byte
}

func newOSFile(b *testing.B, direct bool, env *xlator.Env) *osFile {
	flags := os.O_RDWR | os.O_CREATE
	if direct {
		flags |= syscall.O_DIRECT
	}
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "base"), flags, 0o644)
	if err != nil {
		if direct && errors.Is(err, syscall.EINVAL) {
			b.Skipf("the file system refuses O_DIRECT: %v", err)
		}
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	buf := env.Iobufs.Get(seqChunk)
	b.Cleanup(buf.Unref)
	copy(buf.Bytes(), pattern(seqChunk, 1))
	return &osFile{f: f, buf: buf.Bytes()[:seqChunk]}
}

func (o *osFile) write(b *testing.B, off int64) {
	if _, err := o.f.WriteAt(o.buf, off); err != nil {
		b.Fatal(err)
	}
}

func (o *osFile) read(b *testing.B, off int64, n int) {
	if _, err := o.f.ReadAt(o.buf[:n], off); err != nil {
		b.Fatal(err)
	}
}

// graphFile is the same through the posix volume.
type graphFile struct {
	br   *brick
	fd   *xlator.FD
	data *iobuf.Iobref
}

func newGraphFile(b *testing.B, direct bool, env *xlator.Env, path string) *graphFile {
	br := newBrickEnv(b, env, map[string]string{"o-direct": fmt.Sprint(direct), "health-check-interval": "0", "data-path": path})
	_, fd, _, err := br.create(br.root(), "f", syscall.O_RDWR, 0o644, 0)
	if err != nil {
		if direct && errors.Is(err, syscall.EINVAL) {
			b.Skipf("the file system refuses O_DIRECT: %v", err)
		}
		b.Fatal(err)
	}
	b.Cleanup(fd.Unref)
	buf := env.Iobufs.Get(seqChunk)
	copy(buf.Bytes(), pattern(seqChunk, 1))
	data := env.Iobufs.NewIobref()
	data.AddRange(buf, 0, seqChunk)
	buf.Unref()
	b.Cleanup(data.Unref)
	return &graphFile{br: br, fd: fd, data: data}
}

func (g *graphFile) write(b *testing.B, off int64) {
	c := g.br.g.Calls().Begin(context.Background(), xlator.FopWritev, xlator.Creds{}, 0)
	n, err := g.br.top().Writev(c, g.fd, g.data, off)
	c.Done()
	if err != nil || n != seqChunk {
		b.Fatalf("writev: %d %v", n, err)
	}
}

func (g *graphFile) read(b *testing.B, off int64, n int) {
	c := g.br.g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
	ref, err := g.br.top().Readv(c, g.fd, n, off)
	c.Done()
	if err != nil {
		b.Fatal(err)
	}
	if ref.Size() != n {
		b.Fatalf("readv at %d: %d bytes, want %d", off, ref.Size(), n)
	}
	ref.Unref()
}

// newBrickEnv is newBrick on a given runtime, so both sides of a
// benchmark share one iobuf pool.
func newBrickEnv(b *testing.B, env *xlator.Env, set map[string]string) *brick {
	set["directory"] = b.TempDir()
	br := newBrickWith(b, env, set)
	return br
}

func benchEnv(b *testing.B) *xlator.Env { return xlatortest.NewEnv(b) }

func sides(b *testing.B, direct bool) map[string]func(*testing.B, *xlator.Env) benchFile {
	return map[string]func(*testing.B, *xlator.Env) benchFile{
		"os":        func(b *testing.B, env *xlator.Env) benchFile { return newOSFile(b, direct, env) },
		"posix":     func(b *testing.B, env *xlator.Env) benchFile { return newGraphFile(b, direct, env, "direct") },
		"posix-bio": func(b *testing.B, env *xlator.Env) benchFile { return newGraphFile(b, direct, env, "bio") },
	}
}

// runSides runs body for the baseline and for posix, O_DIRECT off and on.
func runSides(b *testing.B, body func(b *testing.B, f benchFile, size int64)) {
	size := benchFileSize(b)
	for _, direct := range []bool{false, true} {
		for _, impl := range []string{"os", "posix", "posix-bio"} {
			b.Run(fmt.Sprintf("odirect=%v/impl=%s", direct, impl), func(b *testing.B) {
				env := benchEnv(b)
				f := sides(b, direct)[impl](b, env)
				body(b, f, size)
			})
		}
	}
}

func fill(b *testing.B, f benchFile, size int64) {
	for off := int64(0); off < size; off += seqChunk {
		f.write(b, off)
	}
}

func BenchmarkSeqWrite1MiB(b *testing.B) {
	runSides(b, func(b *testing.B, f benchFile, size int64) {
		fill(b, f, size) // measure overwrites: steady state, not block allocation
		chunks := size / seqChunk
		b.SetBytes(seqChunk)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f.write(b, int64(i)%chunks*seqChunk)
		}
	})
}

func BenchmarkSeqRead1MiB(b *testing.B) {
	runSides(b, func(b *testing.B, f benchFile, size int64) {
		fill(b, f, size)
		chunks := size / seqChunk
		b.SetBytes(seqChunk)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f.read(b, int64(i)%chunks*seqChunk, seqChunk)
		}
	})
}

func BenchmarkRandRead4KiB(b *testing.B) {
	runSides(b, func(b *testing.B, f benchFile, size int64) {
		fill(b, f, size)
		blocks := size / randChunk
		r := rand.New(rand.NewPCG(1, 2))
		b.SetBytes(randChunk)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f.read(b, r.Int64N(blocks)*randChunk, randChunk)
		}
	})
}

// BenchmarkSeqReadCold1MiB reads a file from start to end in 1 MiB readvs
// through a new fd, from a cold page cache: before each pass (off the
// timer) the brick file is fdatasync'ed and posix_fadvise(DONTNEED)
// evicts its pages, so every byte comes from the disk. One op is one pass
// over the file. read-ahead=0 is posix without read-ahead, the others with
// that window; impl=os is the baseline, os.File.ReadAt on a file of the
// same file system, also cold. The reader copies each readv's bytes into
// its own buffer, as the Go client API's File.Read does (os.File.ReadAt
// reads into its buffer directly). -count runs a variant several times in
// a row: to alternate them, run the binary once per round.
func BenchmarkSeqReadCold1MiB(b *testing.B) {
	size := benchFileSize(b)
	b.Run("impl=os", func(b *testing.B) {
		env := benchEnv(b)
		o := newOSFile(b, false, env)
		fill(b, o, size)
		b.SetBytes(size)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			evict(b, int(o.f.Fd()))
			b.StartTimer()
			for off := int64(0); off < size; off += seqChunk {
				o.read(b, off, seqChunk)
			}
		}
	})
	for _, ra := range []string{"0", "1MiB", "4MiB"} {
		b.Run("impl=posix-bio/read-ahead="+ra, func(b *testing.B) {
			env := benchEnv(b)
			br := newBrickEnv(b, env, map[string]string{"health-check-interval": "0", "data-path": "bio", "read-ahead": ra})
			in, wfd, _, err := br.create(br.root(), "f", syscall.O_RDWR, 0o644, 0)
			if err != nil {
				b.Fatal(err)
			}
			g := &graphFile{br: br, fd: wfd}
			buf := env.Iobufs.Get(seqChunk)
			copy(buf.Bytes(), pattern(seqChunk, 1))
			g.data = env.Iobufs.NewIobref()
			g.data.AddRange(buf, 0, seqChunk)
			buf.Unref()
			fill(b, g, size)
			g.data.Unref()
			wfd.Unref()
			brickFile, err := os.Open(filepath.Join(br.dir, "f"))
			if err != nil {
				b.Fatal(err)
			}
			defer brickFile.Close()
			out := make([]byte, seqChunk)
			b.SetBytes(size)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				evict(b, int(brickFile.Fd()))
				fd, err := br.open(&xlator.Loc{Inode: in}, syscall.O_RDONLY)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for off := int64(0); off < size; off += seqChunk {
					c := br.g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
					ref, err := br.top().Readv(c, fd, seqChunk, off)
					c.Done()
					if err != nil || ref.Size() != seqChunk {
						b.Fatalf("readv at %d: %v", off, err)
					}
					ref.CopyTo(out)
					ref.Unref()
				}
				b.StopTimer()
				fd.Unref()
				b.StartTimer()
			}
			if br.px.ra != nil {
				st := br.px.ra.stats()
				b.ReportMetric(float64(st.Hits)/float64(b.N), "hits/op")
				b.ReportMetric(float64(st.WastedBytes)/float64(b.N), "wasted-B/op")
			}
		})
	}
}

// evict writes the file fd back and drops its pages from the page cache.
func evict(b *testing.B, fd int) {
	if err := unix.Fdatasync(fd); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}
