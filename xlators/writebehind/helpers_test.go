package writebehind

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
)

// options returns the schema's defaults with the given overrides (values in
// volfile syntax), as the volfile loader would decode them.
func options(tb testing.TB, set map[string]string) xlator.Options {
	tb.Helper()
	o, err := Schema.Decode(set)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

// rec sits under write-behind in the tests: it records the fops that reach
// it, in order ("WRITE 0+8192/2" is a writev of 8192 bytes in 2 segments
// at offset 0), and fails writevs on demand.
type rec struct {
	xlator.Base
	mu       sync.Mutex
	ops      []string
	failErr  syscall.Errno // writevs fail with it while set
	failFrom int64         // … those at an offset in [failFrom, failTo)
	failTo   int64
}

var recType = xlator.Type{Name: "rec", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &rec{} }}

func (r *rec) add(format string, args ...any) {
	r.mu.Lock()
	r.ops = append(r.ops, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// take returns the recorded fops and forgets them.
func (r *rec) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

// fail makes every writev fail with e (0: succeed again).
func (r *rec) fail(e syscall.Errno) { r.failRange(e, 0, math.MaxInt64) }

// failRange makes writevs at an offset in [from, to) fail with e.
func (r *rec) failRange(e syscall.Errno, from, to int64) {
	r.mu.Lock()
	r.failErr, r.failFrom, r.failTo = e, from, to
	r.mu.Unlock()
}

func (r *rec) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	r.add("WRITE %d+%d/%d", off, data.Size(), data.Len())
	r.mu.Lock()
	e, from, to := r.failErr, r.failFrom, r.failTo
	r.mu.Unlock()
	if e != 0 && off >= from && off < to {
		return 0, e
	}
	return r.Base.Writev(c, fd, data, off)
}

func (r *rec) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	r.add("READ %d+%d", off, size)
	return r.Base.Readv(c, fd, size, off)
}

func (r *rec) Fstat(c *xlator.Call, fd *xlator.FD) (xlator.Iatt, error) {
	r.add("FSTAT")
	return r.Base.Fstat(c, fd)
}

func (r *rec) Link(c *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	r.add("LINK")
	return r.Base.Link(c, from, to)
}

func (r *rec) Lseek(c *xlator.Call, fd *xlator.FD, off int64, whence uint32) (int64, error) {
	r.add("SEEK")
	return r.Base.Lseek(c, fd, off, whence)
}

func (r *rec) Stat(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	r.add("STAT")
	return r.Base.Stat(c, loc)
}

func (r *rec) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	r.add("LOOKUP")
	return r.Base.Lookup(c, loc)
}

func (r *rec) Setattr(c *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	r.add("SETATTR")
	return r.Base.Setattr(c, loc, in)
}

func (r *rec) Fsetattr(c *xlator.Call, fd *xlator.FD, in *xlator.SetattrIn) (xlator.Iatt, error) {
	r.add("FSETATTR")
	return r.Base.Fsetattr(c, fd, in)
}

func (r *rec) Fallocate(c *xlator.Call, fd *xlator.FD, mode uint32, off, length int64) error {
	r.add("FALLOCATE")
	return r.Base.Fallocate(c, fd, mode, off, length)
}

func (r *rec) Discard(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	r.add("DISCARD")
	return r.Base.Discard(c, fd, off, length)
}

func (r *rec) Zerofill(c *xlator.Call, fd *xlator.FD, off, length int64) error {
	r.add("ZEROFILL")
	return r.Base.Zerofill(c, fd, off, length)
}

func (r *rec) Flush(c *xlator.Call, fd *xlator.FD) error {
	r.add("FLUSH")
	return r.Base.Flush(c, fd)
}

func (r *rec) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	r.add("FSYNC")
	return r.Base.Fsync(c, fd, datasync)
}

func (r *rec) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	r.add("OPEN")
	return r.Base.Open(c, loc, flags, fd)
}

func (r *rec) CopyFileRange(c *xlator.Call, src *xlator.FD, srcOff int64, dst *xlator.FD, dstOff, length int64, flags uint32) (int64, error) {
	r.add("COPY %d+%d to %d", srcOff, length, dstOff)
	return r.FirstChild().CopyFileRange(c, src, srcOff, dst, dstOff, length, flags)
}

func (r *rec) Readdir(c *xlator.Call, fd *xlator.FD, off int64, count int, plus bool) ([]xlator.Dirent, error) {
	r.add("READDIR")
	return r.Base.Readdir(c, fd, off, count, plus)
}

// tenv is a graph of write-behind (l0) over rec (l1) over a bottom (mem
// or posix).
type tenv struct {
	tb  testing.TB
	env *xlator.Env
	g   *xlator.Graph
	wb  *WriteBehind
	rec *rec
}

// newTenv starts write-behind with the options set over rec over mem.
func newTenv(tb testing.TB, set map[string]string) *tenv {
	tb.Helper()
	return newTenvOver(tb, "mem", set)
}

// newTenvOver is newTenv over bottom: "mem", or "posix" on a temporary
// directory.
func newTenvOver(tb testing.TB, bottom string, set map[string]string) *tenv {
	tb.Helper()
	spec := xlatortest.Chain(TypeName, "rec", bottom)
	spec.Volumes[0].Options = options(tb, set)
	if bottom == "posix" {
		o, err := posix.Schema.Decode(map[string]string{"directory": tb.TempDir()})
		if err != nil {
			tb.Fatal(err)
		}
		spec.Volumes[2].Options = o
	}
	reg := xlatortest.Registry()
	Register(reg)
	posix.Register(reg)
	reg.MustRegister(recType)
	t := &tenv{tb: tb, env: xlatortest.NewEnv(tb)}
	t.g = xlatortest.Start(tb, spec, reg, t.env)
	t.wb = xlator.Unwrap(t.g.Xlator("l0")).(*WriteBehind)
	t.rec = xlator.Unwrap(t.g.Xlator("l1")).(*rec)
	return t
}

func (t *tenv) call(f xlator.Fop) *xlator.Call {
	return t.g.Calls().Begin(context.Background(), f, xlator.Creds{}, 0)
}

// create makes /name and returns its inode (one reference, dropped when
// the test ends) and an O_RDWR fd (the caller's to Unref).
func (t *tenv) create(name string) (*xlator.Inode, *xlator.FD) {
	t.tb.Helper()
	in, fd := xlatortest.Create(t.tb, t.g, name)
	t.tb.Cleanup(in.Unref)
	t.rec.take()
	return in, fd
}

// open opens in with flags.
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

// writeErr writes p at off through the top.
func (t *tenv) writeErr(fd *xlator.FD, off int64, p []byte) (int, error) {
	data := t.env.Iobufs.FromBytes(p)
	defer data.Unref()
	call := t.call(xlator.FopWritev)
	defer call.Done()
	return t.g.Top().Writev(call, fd, data, off)
}

// write writes p at off and fails the test unless all of it was taken.
func (t *tenv) write(fd *xlator.FD, off int64, p []byte) {
	t.tb.Helper()
	if n, err := t.writeErr(fd, off, p); err != nil || n != len(p) {
		t.tb.Fatalf("writev %d bytes at %d: %d, %v", len(p), off, n, err)
	}
}

// read reads through the top and returns a copy of the bytes.
func (t *tenv) read(fd *xlator.FD, off int64, size int) []byte {
	t.tb.Helper()
	call := t.call(xlator.FopReadv)
	defer call.Done()
	ref, err := t.g.Top().Readv(call, fd, size, off)
	if err != nil {
		t.tb.Fatalf("readv %d at %d: %v", size, off, err)
	}
	defer ref.Unref()
	out := make([]byte, ref.Size())
	ref.CopyTo(out)
	return out
}

func (t *tenv) expect(fd *xlator.FD, off int64, size int, want []byte) {
	t.tb.Helper()
	if got := t.read(fd, off, size); !bytes.Equal(got, want) {
		t.tb.Fatalf("read %d at %d: got %d bytes %.16q…, want %d bytes %.16q…", size, off, len(got), got, len(want), want)
	}
}

func (t *tenv) fstat(fd *xlator.FD) xlator.Iatt {
	t.tb.Helper()
	call := t.call(xlator.FopFstat)
	defer call.Done()
	ia, err := t.g.Top().Fstat(call, fd)
	if err != nil {
		t.tb.Fatalf("fstat: %v", err)
	}
	return ia
}

func (t *tenv) fsync(fd *xlator.FD) error {
	call := t.call(xlator.FopFsync)
	defer call.Done()
	return t.g.Top().Fsync(call, fd, false)
}

func (t *tenv) flush(fd *xlator.FD) error {
	call := t.call(xlator.FopFlush)
	defer call.Done()
	return t.g.Top().Flush(call, fd)
}

// expectOps checks the fops that reached rec since the last check.
func (t *tenv) expectOps(want ...string) {
	t.tb.Helper()
	got := t.rec.take()
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.tb.Fatalf("fops below write-behind:\n got  %q\n want %q", got, want)
	}
}

// pattern returns n bytes that differ with seed and position.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7+i/251)
	}
	return p
}

// newSpec is the spec of write-behind over mem with the options set,
// unchecked (the way a hand-built spec reaches Init).
func newSpec(set map[string]string) *xlator.Spec {
	spec := xlatortest.Chain(TypeName, "mem")
	o := xlator.NewOptions()
	for k, v := range set {
		opt, _ := Schema.Lookup(k)
		val, err := opt.ParseScalar(v)
		if err != nil {
			panic(err)
		}
		o.Set(k, val, true)
	}
	spec.Volumes[0].Options = o
	return spec
}

// initErr builds and initialises spec and returns Init's error.
func initErr(tb testing.TB, spec *xlator.Spec) error {
	reg := xlatortest.Registry()
	Register(reg)
	g, err := xlator.New(spec, reg, xlatortest.NewEnv(tb))
	if err != nil {
		return err
	}
	if err := g.Init(); err != nil {
		return err
	}
	g.Stop()
	return nil
}
