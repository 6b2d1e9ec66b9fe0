package host_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/xstack/xstack/api"
	"github.com/xstack/xstack/examples/plugins/checksum/checksum"
	"github.com/xstack/xstack/plugin/host"
	"github.com/xstack/xstack/xlator"
)

func benchVolume(b *testing.B, top string) *api.Volume {
	reg := registry(nil)
	checksum.Register(reg)
	var src string
	switch top {
	case "inprocess=mem":
		src = `volume "top" { type = "mem" }`
	case "inprocess=pass":
		src = `volume "brick" { type = "mem" }
volume "top" { 
  type = "pass"
  subvolumes = ["brick"]
}`
	case "inprocess=pass,shared":
		// The same, with the host's iobufs in shared memory as in a
		// graph with a plugin.
		pt, _ := reg.Lookup("pass")
		t := *pt
		t.Name, t.SharedIobufs = "sharedpass", true
		reg.MustRegister(t)
		src = `volume "brick" { type = "mem" }
volume "top" { 
  type = "sharedpass"
  subvolumes = ["brick"]
}`
	case "inprocess=checksum":
		src = `volume "brick" { type = "mem" }
volume "top" { 
  type = "checksum"
  subvolumes = ["brick"]
}`
	case "plugin=mem":
		src = hcl(`volume "top" {
  type = "plugin"
  path = %q
}`, memBin(b))
	case "plugin=passthrough":
		src = hcl(`volume "brick" { type = "mem" }
volume "top" {
  type = "plugin"
  path = %q
  subvolumes = ["brick"]
}`, passthroughBin(b))
	case "plugin=passthrough,shm=off":
		src = hcl(`volume "brick" { type = "mem" }
volume "top" {
  type = "plugin"
  path = %q
  subvolumes = ["brick"]
  shm-size = 0
}`, passthroughBin(b))
	case "plugin=checksum":
		src = hcl(`volume "brick" { type = "mem" }
volume "top" {
  type = "plugin"
  path = %q
  subvolumes = ["brick"]
}`, checksumBin(b))
	default:
		b.Fatalf("no volume %q", top)
	}
	return open(b, src+"\n", reg, nil)
}

// BenchmarkRoundTrip is the floor of every plugin fop: one empty gRPC
// call to the plugin process through go-plugin's connection.
func BenchmarkRoundTrip(b *testing.B) {
	v := benchVolume(b, "plugin=mem")
	h := hostOf(b, v, "top")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStat: a getattr answered in process, by a plugin that answers
// itself (one ring round trip: compare with BenchmarkRoundTrip, the gRPC
// floor), and by a pass-through plugin that winds it back into the host's
// child (two).
func BenchmarkStat(b *testing.B) {
	for _, top := range []string{"inprocess=mem", "plugin=mem", "plugin=passthrough"} {
		b.Run(top, func(b *testing.B) {
			g, x, loc := statTarget(b, top)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := getattr(g, x, loc); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			logRing(b, g)
		})
	}
}

// statTarget mounts top for the getattr benchmarks and returns its graph,
// the graph's top and the root to stat.
func statTarget(b *testing.B, top string) (*xlator.Graph, xlator.Xlator, *xlator.Loc) {
	g := benchVolume(b, top).Stack().Graph
	return g, g.Top(), &xlator.Loc{Inode: g.Inodes().Root()}
}

// getattr is one stat of loc at x, the fop both getattr benchmarks time.
func getattr(g *xlator.Graph, x xlator.Xlator, loc *xlator.Loc) error {
	c := g.Calls().Begin(context.Background(), xlator.FopStat, xlator.Creds{}, 0)
	_, err := x.Stat(c, loc)
	c.Done()
	return err
}

// BenchmarkStatParallel: getattrs from eight goroutines at once (on a
// two-CPU machine, four times as many callers as CPUs), in process and
// through the two kinds of plugin: how the rings behave when callers
// outnumber CPUs and must sleep.
func BenchmarkStatParallel(b *testing.B) {
	for _, top := range []string{"inprocess=mem", "plugin=mem", "plugin=passthrough"} {
		b.Run(top, func(b *testing.B) {
			g, x, loc := statTarget(b, top)
			b.SetParallelism(8 / min(8, runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := getattr(g, x, loc); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			logRing(b, g)
		})
	}
}

// BenchmarkWrite1MiB: 1 MiB writes (over the same range of one file) by
// the same translator in process and as a plugin, over a mem child in the
// host; shm=off sends the data inside the gRPC messages instead of through
// the shared-memory arena.
func BenchmarkWrite1MiB(b *testing.B) {
	for _, top := range []string{"inprocess=pass", "inprocess=pass,shared", "plugin=passthrough", "plugin=passthrough,shm=off", "inprocess=checksum", "plugin=checksum"} {
		b.Run(top, func(b *testing.B) {
			v := benchVolume(b, top)
			g := v.Stack().Graph
			x := g.Top()
			fd := benchFile(b, g, 0)
			defer fd.Unref()
			data := pattern(1 << 20)
			ref := g.Env().Iobufs.FromBytes(data)
			defer ref.Unref()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := g.Calls().Begin(context.Background(), xlator.FopWritev, xlator.Creds{}, 0)
				_, err := x.Writev(c, fd, ref, 0)
				c.Done()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			logRing(b, g)
		})
	}
}

// BenchmarkRead: readv of 4 KiB and 1 MiB from a file of a mem translator
// in process, in a plugin (one call to the plugin) and below a
// pass-through plugin (the plugin winds it back to the host's child).
func BenchmarkRead(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		for _, top := range []string{"inprocess=mem", "plugin=mem", "inprocess=pass", "plugin=passthrough"} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, top), func(b *testing.B) {
				v := benchVolume(b, top)
				g := v.Stack().Graph
				x := g.Top()
				fd := benchFile(b, g, 1<<20)
				defer fd.Unref()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					c := g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
					ref, err := x.Readv(c, fd, size, 0)
					c.Done()
					if err != nil {
						b.Fatal(err)
					}
					if ref.Size() != size {
						b.Fatalf("read %d bytes, want %d", ref.Size(), size)
					}
					ref.Unref()
				}
				b.StopTimer()
				logRing(b, g)
			})
		}
	}
}

// benchFile creates a file of n bytes (a pattern) at the top of g and
// returns an fd open on it.
func benchFile(b *testing.B, g *xlator.Graph, n int) *xlator.FD {
	x := g.Top()
	c := g.Calls().Begin(context.Background(), xlator.FopCreate, xlator.Creds{}, 0)
	defer c.Done()
	in := g.Inodes().New()
	defer in.Unref()
	fd := g.NewFD(in, syscall.O_RDWR, 0, false)
	ia, err := x.Create(c, &xlator.Loc{Parent: g.Inodes().Root(), Name: "f", Inode: in}, syscall.O_RDWR, 0o644, 0, fd)
	if err != nil {
		b.Fatal(err)
	}
	g.Inodes().Link(in, g.Inodes().Root(), "f", &ia).Unref()
	if n == 0 {
		return fd
	}
	ref := g.Env().Iobufs.FromBytes(pattern(n))
	defer ref.Unref()
	if w, err := x.Writev(c, fd, ref, 0); err != nil || w != n {
		b.Fatalf("write: %d, %v", w, err)
	}
	return fd
}

// pattern returns n bytes counting up from 0.
func pattern(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i)
	}
	return data
}

// logRing logs the ring counters of the graph's plugin, if any.
func logRing(b *testing.B, g *xlator.Graph) {
	if h, ok := xlator.Unwrap(g.Top()).(*host.Plugin); ok {
		for _, kv := range h.Dump() {
			if strings.Contains(kv.Key, "ring") {
				b.Logf("%s = %v", kv.Key, kv.Value)
			}
		}
	}
}
