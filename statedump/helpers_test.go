package statedump_test

import (
	"bytes"
	"sync/atomic"
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
	"github.com/xstack/xstack/statedump"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// frame is what the pooled translator keeps per write.
type frame struct {
	off  int64
	size int
}

// pooled passes fops through and takes a frame from its own mem-pool for
// every write, as a translator with per-fop state does; its Dump reports
// the writes it saw.
type pooled struct {
	xlator.Base
	frames *mempool.Pool[frame]
	writes atomic.Int64
}

var pooledType = xlator.Type{Name: "pooled", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &pooled{} }}

func (p *pooled) Init(ic *xlator.InitContext) error {
	p.frames = mempool.New[frame](ic.Env.Pools, p.Name(), "frames", 16)
	return nil
}

func (p *pooled) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	f := p.frames.Get()
	f.off, f.size = off, data.Size()
	n, err := p.Base.Writev(c, fd, data, off)
	p.writes.Add(1)
	_ = p.frames.Put(f)
	return n, err
}

func (p *pooled) Dump() []xlator.KV {
	return []xlator.KV{{Key: "writes", Value: p.writes.Load()}, {Key: "note", Value: "two\nlines"}}
}

// stuck is a translator whose Readv and Dump wait until released.
type stuck struct {
	xlator.Base
	readEntered chan struct{}
	dumpEntered chan struct{}
	release     chan struct{}
	blockDump   atomic.Bool
}

func newStuck() *stuck {
	return &stuck{readEntered: make(chan struct{}, 1), dumpEntered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (s *stuck) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	s.readEntered <- struct{}{}
	<-s.release
	return s.Base.Readv(c, fd, size, off)
}

func (s *stuck) Dump() []xlator.KV {
	if s.blockDump.Load() {
		select {
		case s.dumpEntered <- struct{}{}:
		default:
		}
		<-s.release
	}
	return []xlator.KV{{Key: "state", Value: "ok"}}
}

func registry(extra ...xlator.Type) *xlator.Registry {
	reg := xlatortest.Registry()
	reg.MustRegister(pooledType)
	for _, t := range extra {
		reg.MustRegister(t)
	}
	return reg
}

// client is a minimal front end: it creates files and runs fops on the
// graph's top (the pattern of xlator's graph tests).
type client struct {
	tb testing.TB
	g  *xlator.Graph
}

func (c client) call(f xlator.Fop) *xlator.Call { return xlatortest.Begin(c.g, f) }

func (c client) create(name string) (*xlator.Inode, *xlator.FD) {
	c.tb.Helper()
	return xlatortest.Create(c.tb, c.g, name)
}

// writes writes n 4 KiB blocks to fd and reads the first one back.
func (c client) writes(fd *xlator.FD, n int) {
	c.tb.Helper()
	data := c.g.Env().Iobufs.FromBytes(bytes.Repeat([]byte{'x'}, 4096))
	defer data.Unref()
	call := c.call(xlator.FopWritev)
	defer call.Done()
	for i := 0; i < n; i++ {
		if _, err := c.g.Top().Writev(call, fd, data, int64(i)*4096); err != nil {
			c.tb.Fatal(err)
		}
	}
	ref, err := c.g.Top().Readv(call, fd, 4096, 0)
	if err != nil {
		c.tb.Fatal(err)
	}
	ref.Unref()
}

// workload starts Chain("pooled", "pass", "mem"), writes 10 blocks to
// /f and returns the graph, a Dumper and the open file (closed at the
// end of the test).
func workload(t *testing.T) (*xlator.Graph, *statedump.Dumper) {
	t.Helper()
	env := xlatortest.NewEnv(t)
	cache, err := env.Slabs.NewCache("l0:locks", slab.Config{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Close() })
	obj, err := cache.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cache.Free(obj) })
	env.AddSection("bio.brick0", func() []xlator.KV {
		return []xlator.KV{{Key: "bio_active", Value: 0}, {Key: "bio_alloc", Value: uint64(3)}}
	})
	env.AddSection("fuse", func() []xlator.KV { return []xlator.KV{{Key: "mountpoint", Value: "/mnt/x"}} })
	g := xlatortest.Start(t, xlatortest.Chain("pooled", "pass", "mem"), registry(), env)
	c := client{t, g}
	in, fd := c.create("f")
	t.Cleanup(func() { fd.Unref(); in.Unref() })
	c.writes(fd, 10)
	d, err := statedump.New(statedump.Source{Graph: g, Volfile: "test.hcl"})
	if err != nil {
		t.Fatal(err)
	}
	return g, d
}
