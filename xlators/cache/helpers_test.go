package cache

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
)

// options returns the schema's defaults with the given overrides (values in
// volfile syntax), as the volfile loader would decode them.
func options(tb testing.TB, schema xlator.Schema, set map[string]string) xlator.Options {
	tb.Helper()
	o, err := schema.Decode(set)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// priorityOption builds a KindIntMap value as the volfile loader would.
func priorityOption(pairs ...any) xlator.Value {
	v := xlator.Value{Kind: xlator.KindIntMap, Map: map[string]int64{}}
	for i := 0; i < len(pairs); i += 2 {
		k := pairs[i].(string)
		v.Map[k] = int64(pairs[i+1].(int))
		v.Order = append(v.Order, k)
	}
	return v
}

// gate sits between the cache and mem in some tests: it counts readvs and
// can hold them until the test opens it.
type gate struct {
	xlator.Base
	reads   atomic.Int64
	waiting atomic.Int64
	mu      sync.Mutex
	closed  chan struct{} // nil: open
}

var gateType = xlator.Type{Name: "gate", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &gate{} }}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
	g.mu.Unlock()
}

func (g *gate) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	g.reads.Add(1)
	g.mu.Lock()
	ch := g.closed
	g.mu.Unlock()
	if ch != nil {
		g.waiting.Add(1)
		<-ch
		g.waiting.Add(-1)
	}
	return g.Base.Readv(c, fd, size, off)
}

// tenv is a graph with the cache on top and a minimal client.
type tenv struct {
	tb  testing.TB
	env *xlator.Env
	g   *xlator.Graph
	c   *Cache
	now atomic.Int64 // the cache's clock, advanced by the test
}

// newTenv starts cache (l0) over the given types (the last is mem) with the
// cache options set, and a fake clock.
func newTenv(tb testing.TB, set map[string]string, below ...string) *tenv {
	tb.Helper()
	return newTenvOpts(tb, options(tb, Schema, set), below...)
}

func newTenvOpts(tb testing.TB, o xlator.Options, below ...string) *tenv {
	tb.Helper()
	if len(below) == 0 {
		below = []string{"mem"}
	}
	spec := xlatortest.Chain(append([]string{"cache"}, below...)...)
	spec.Volumes[0].Options = o
	reg := xlatortest.Registry()
	Register(reg)
	reg.MustRegister(gateType)
	reg.MustRegister(lenderType)
	t := &tenv{tb: tb, env: xlatortest.NewEnv(tb)}
	t.g = xlatortest.Start(tb, spec, reg, t.env)
	t.c = xlator.Unwrap(t.g.Xlator("l0")).(*Cache)
	t.c.now = t.now.Load
	return t
}

func (t *tenv) call(f xlator.Fop) *xlator.Call {
	return t.g.Calls().Begin(context.Background(), f, xlator.Creds{}, 0)
}

func (t *tenv) xl(name string) xlator.Xlator { return t.g.Xlator(name) }

// create makes /name through the top and returns its inode (one reference)
// and an O_RDWR fd.
func (t *tenv) create(name string) (*xlator.Inode, *xlator.FD) {
	t.tb.Helper()
	tab := t.g.Inodes()
	in := tab.New()
	fd := t.g.NewFD(in, syscall.O_RDWR, 1, false)
	call := t.call(xlator.FopCreate)
	loc := &xlator.Loc{Parent: tab.Root(), Name: name, Inode: in}
	ia, err := t.g.Top().Create(call, loc, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0o022, fd)
	call.Done()
	if err != nil {
		t.tb.Fatalf("create %s: %v", name, err)
	}
	linked := tab.Link(in, tab.Root(), name, &ia)
	in.Unref()
	if linked != in {
		t.tb.Fatalf("create %s: linked to another inode", name)
	}
	return linked, fd
}

// open opens in through the top with flags.
func (t *tenv) open(in *xlator.Inode, flags uint32) *xlator.FD {
	t.tb.Helper()
	fd := t.g.NewFD(in, flags, 1, false)
	call := t.call(xlator.FopOpen)
	defer call.Done()
	if err := t.g.Top().Open(call, &xlator.Loc{Inode: in}, flags, fd); err != nil {
		t.tb.Fatalf("open: %v", err)
	}
	return fd
}

// writeTo writes p at off through x (the top, or a child to go behind the
// cache's back).
func (t *tenv) writeTo(x xlator.Xlator, fd *xlator.FD, off int64, p []byte) {
	t.tb.Helper()
	data := t.env.Iobufs.FromBytes(p)
	defer data.Unref()
	call := t.call(xlator.FopWritev)
	defer call.Done()
	n, err := x.Writev(call, fd, data, off)
	if err != nil || n != len(p) {
		t.tb.Fatalf("writev %d bytes at %d: %d, %v", len(p), off, n, err)
	}
}

func (t *tenv) write(fd *xlator.FD, off int64, p []byte) { t.writeTo(t.g.Top(), fd, off, p) }

// readRef reads through the top and returns the iobref.
func (t *tenv) readRef(fd *xlator.FD, off int64, size int) (*iobuf.Iobref, error) {
	call := t.call(xlator.FopReadv)
	defer call.Done()
	return t.g.Top().Readv(call, fd, size, off)
}

// read reads through the top and returns a copy of the bytes.
func (t *tenv) read(fd *xlator.FD, off int64, size int) []byte {
	t.tb.Helper()
	ref, err := t.readRef(fd, off, size)
	if err != nil {
		t.tb.Fatalf("readv %d at %d: %v", size, off, err)
	}
	defer ref.Unref()
	out := make([]byte, ref.Size())
	ref.CopyTo(out)
	return out
}

// expect reads and compares with want.
func (t *tenv) expect(fd *xlator.FD, off int64, size int, want []byte) {
	t.tb.Helper()
	if got := t.read(fd, off, size); !bytes.Equal(got, want) {
		t.tb.Fatalf("read %d at %d: got %d bytes %.32q…, want %d bytes %.32q…", size, off, len(got), got, len(want), want)
	}
}

func (t *tenv) fsetattr(x xlator.Xlator, fd *xlator.FD, in *xlator.SetattrIn) {
	t.tb.Helper()
	call := t.call(xlator.FopFsetattr)
	defer call.Done()
	if _, err := x.Fsetattr(call, fd, in); err != nil {
		t.tb.Fatalf("fsetattr: %v", err)
	}
}

// childReads returns how many readvs volume name has served.
func (t *tenv) childReads(name string) uint64 {
	for _, x := range t.g.Xlators() {
		if x.Name == name {
			return x.Stats.Count(xlator.FopReadv)
		}
	}
	t.tb.Fatalf("no volume %s", name)
	return 0
}

// pattern returns n bytes that differ with seed and position.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7+i/251)
	}
	return p
}

// pagesOf returns how many pages the cache holds for in.
func (t *tenv) pagesOf(in *xlator.Inode) int {
	st := t.c.stateOf(in)
	if st == nil {
		return 0
	}
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return len(st.pages)
}

// graphOver starts a graph of cache (l0) over child ("mem" or "posix",
// over a t.TempDir) with the cache options set, or child alone without
// the cache.
func graphOver(tb testing.TB, withCache bool, child string, set map[string]string) *tenv {
	tb.Helper()
	var spec *xlator.Spec
	if withCache {
		spec = xlatortest.Chain("cache", child)
		spec.Volumes[0].Options = options(tb, Schema, set)
	} else {
		spec = xlatortest.Chain(child)
	}
	if child == "posix" {
		spec.Volumes[len(spec.Volumes)-1].Options = options(tb, posix.Schema, map[string]string{"directory": tb.TempDir()})
	}
	reg := xlatortest.Registry()
	Register(reg)
	posix.Register(reg)
	e := &tenv{tb: tb, env: xlatortest.NewEnv(tb)}
	e.g = xlatortest.Start(tb, spec, reg, e.env)
	if withCache {
		e.c = xlator.Unwrap(e.g.Xlator("l0")).(*Cache)
	}
	return e
}
