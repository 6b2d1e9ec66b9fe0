package xlator_test

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// BenchmarkLayers measures what a pass-through layer adds to a fop: stacks
// of 0 (the mem bottom called through the graph alone), 1 and 8 "pass"
// layers. The per-layer cost is (layers=8 - layers=0) / 8.
func BenchmarkLayers(b *testing.B) {
	for _, layers := range []int{0, 1, 8} {
		types := make([]string, 0, layers+1)
		for i := 0; i < layers; i++ {
			types = append(types, "pass")
		}
		types = append(types, "mem")
		env := xlatortest.NewEnv(b)
		g, err := xlator.New(xlatortest.Chain(types...), xlatortest.Registry(), env)
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Init(); err != nil {
			b.Fatal(err)
		}
		tab := g.Inodes()
		in := tab.New()
		fd := g.NewFD(in, syscall.O_RDWR, 1, false)
		call := g.Calls().Begin(context.Background(), xlator.FopCreate, xlator.Creds{}, 0)
		ia, err := g.Top().Create(call, &xlator.Loc{Parent: tab.Root(), Name: "f", Inode: in}, syscall.O_RDWR, 0o644, 0, fd)
		if err != nil {
			b.Fatal(err)
		}
		tab.Link(in, tab.Root(), "f", &ia)
		loc := &xlator.Loc{Parent: tab.Root(), Name: "f", Inode: in}
		data := env.Iobufs.FromBytes(bytes.Repeat([]byte{1}, 4096))

		b.Run(fmt.Sprintf("fop=getattr/layers=%d", layers), func(b *testing.B) {
			b.ReportAllocs()
			top := g.Top()
			for i := 0; i < b.N; i++ {
				if _, err := top.Stat(call, loc); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("fop=writev4KiB/layers=%d", layers), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(4096)
			top := g.Top()
			for i := 0; i < b.N; i++ {
				if _, err := top.Writev(call, fd, data, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
		data.Unref()
		call.Done()
		fd.Unref()
		g.Stop()
	}
}
