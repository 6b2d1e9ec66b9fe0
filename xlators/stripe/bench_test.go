package stripe

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// benchFile is a graph and an open file for a benchmark: children=1 is the
// baseline, a mem volume alone; more children put stripe (128KiB blocks)
// over that many mem volumes.
func benchFile(b *testing.B, children int, coalesce bool) (*xlator.Graph, *xlator.FD) {
	b.Helper()
	var g *xlator.Graph
	if children == 1 {
		g = xlatortest.Start(b, xlatortest.Chain("mem"), registry(), nil)
	} else {
		g = xlatortest.Start(b, stripeSpec(children, options(DefaultBlockSize, coalesce)), registry(), nil)
		for i := range children {
			xlator.Unwrap(g.Xlator(fmt.Sprintf("c%d", i))).(*shim).noGapFill = true
		}
	}
	tab := g.Inodes()
	in := tab.New()
	fd := g.NewFD(in, syscall.O_RDWR, 1, false)
	c := g.Calls().Begin(context.Background(), xlator.FopCreate, xlator.Creds{}, 0)
	ia, err := g.Top().Create(c, &xlator.Loc{Parent: tab.Root(), Name: "bench", Inode: in}, syscall.O_RDWR, 0o644, 0, fd)
	c.Done()
	if err != nil {
		b.Fatal(err)
	}
	tab.Link(in, tab.Root(), "bench", &ia)
	in.Unref()
	b.Cleanup(fd.Unref)
	// Fill the file first: the benchmarks then measure overwrites and
	// reads, not how mem grows its slices.
	data := g.Env().Iobufs.FromBytes(make([]byte, benchIO))
	defer data.Unref()
	for i := range benchSpan {
		c := g.Calls().Begin(context.Background(), xlator.FopWritev, xlator.Creds{}, 0)
		if _, err := g.Top().Writev(c, fd, data, int64(i)*benchIO); err != nil {
			b.Fatal(err)
		}
		c.Done()
	}
	return g, fd
}

const (
	benchIO   = 1 << 20
	benchSpan = 64 // the file is benchSpan MiB; offsets wrap around it
)

var benchCases = []struct {
	children int
	coalesce bool
}{{1, false}, {2, false}, {4, false}, {2, true}, {4, true}}

func benchName(children int, coalesce bool) string {
	if children == 1 {
		return "children=1(mem)"
	}
	return fmt.Sprintf("children=%d/coalesce=%v", children, coalesce)
}

// BenchmarkWritev writes 1MiB sequentially (wrapping at 64MiB) through the
// top of the graph.
func BenchmarkWritev(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(benchName(bc.children, bc.coalesce), func(b *testing.B) {
			g, fd := benchFile(b, bc.children, bc.coalesce)
			data := g.Env().Iobufs.FromBytes(make([]byte, benchIO))
			defer data.Unref()
			top := g.Top()
			b.SetBytes(benchIO)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c := g.Calls().Begin(context.Background(), xlator.FopWritev, xlator.Creds{}, 0)
				if _, err := top.Writev(c, fd, data, int64(i%benchSpan)*benchIO); err != nil {
					b.Fatal(err)
				}
				c.Done()
			}
		})
	}
}

// BenchmarkReadv reads 1MiB sequentially (wrapping at 64MiB).
func BenchmarkReadv(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(benchName(bc.children, bc.coalesce), func(b *testing.B) {
			g, fd := benchFile(b, bc.children, bc.coalesce)
			top := g.Top()
			b.SetBytes(benchIO)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c := g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{}, 0)
				ref, err := top.Readv(c, fd, benchIO, int64(i%benchSpan)*benchIO)
				if err != nil || ref.Size() != benchIO {
					b.Fatal(err)
				}
				ref.Unref()
				c.Done()
			}
		})
	}
}
