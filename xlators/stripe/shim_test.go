package stripe

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// shim sits between stripe and each mem child in the tests. It injects
// faults per fop (setFail), counts calls, and resolves names for the
// xattr fops: mem finds a file only by loc.Inode's gfid, which a new
// inode (at create or lookup, before the front end links it) does not
// have yet, while posix resolves parent + name. The shim looks the name up
// and stands in an inode carrying the gfid, from a private table.
type shim struct {
	xlator.Base
	fail  [xlator.NumFops]atomic.Int32
	calls [xlator.NumFops]atomic.Int32
	delay [xlator.NumFops]atomic.Int64 // nanoseconds to sleep before the fop
	tab   *xlator.Table
	// refuseTrusted makes the xattr fops treat trusted.* as an
	// unprivileged brick does: EPERM to set, absent to get.
	refuseTrusted atomic.Bool
	// noGapFill turns Writev's work-around off (benchmarks, which never
	// write past the end after a truncate). Set before any fop.
	noGapFill bool
}

var shimType = xlator.Type{Name: "shim", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &shim{} }}

func (sh *shim) Init(*xlator.InitContext) error {
	sh.tab = xlator.NewTable(sh.Graph().Len(), 0, nil)
	return nil
}

func (sh *shim) setFail(f xlator.Fop, e syscall.Errno) { sh.fail[f].Store(int32(e)) }

// setDelay makes every f sleep d first (widening the windows between the
// children of a fan-out).
func (sh *shim) setDelay(f xlator.Fop, d time.Duration) { sh.delay[f].Store(int64(d)) }

func (sh *shim) check(f xlator.Fop) error {
	sh.calls[f].Add(1)
	if d := sh.delay[f].Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	if e := sh.fail[f].Load(); e != 0 {
		return syscall.Errno(e)
	}
	return nil
}

// named returns loc with an inode mem can find, and a release function.
func (sh *shim) named(c *xlator.Call, loc *xlator.Loc) (*xlator.Loc, func(), error) {
	if loc.Parent == nil || (loc.Inode != nil && !loc.Inode.GFID().IsZero()) {
		return loc, func() {}, nil
	}
	ia, err := sh.FirstChild().Lookup(c, loc)
	if err != nil {
		return nil, nil, err
	}
	in := sh.tab.Link(nil, nil, "", &ia)
	return &xlator.Loc{Parent: loc.Parent, Name: loc.Name, Inode: in}, in.Unref, nil
}

func (sh *shim) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := sh.check(xlator.FopLookup); err != nil {
		return xlator.Iatt{}, err
	}
	return sh.Base.Lookup(c, loc)
}

func (sh *shim) Stat(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := sh.check(xlator.FopStat); err != nil {
		return xlator.Iatt{}, err
	}
	return sh.Base.Stat(c, loc)
}

func (sh *shim) Create(c *xlator.Call, loc *xlator.Loc, flags, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	if err := sh.check(xlator.FopCreate); err != nil {
		return xlator.Iatt{}, err
	}
	return sh.Base.Create(c, loc, flags, mode, umask, fd)
}

func (sh *shim) Mkdir(c *xlator.Call, loc *xlator.Loc, mode, umask uint32) (xlator.Iatt, error) {
	if err := sh.check(xlator.FopMkdir); err != nil {
		return xlator.Iatt{}, err
	}
	return sh.Base.Mkdir(c, loc, mode, umask)
}

func (sh *shim) Symlink(c *xlator.Call, target string, loc *xlator.Loc, umask uint32) (xlator.Iatt, error) {
	if err := sh.check(xlator.FopSymlink); err != nil {
		return xlator.Iatt{}, err
	}
	return sh.Base.Symlink(c, target, loc, umask)
}

func (sh *shim) Unlink(c *xlator.Call, loc *xlator.Loc) error {
	if err := sh.check(xlator.FopUnlink); err != nil {
		return err
	}
	return sh.Base.Unlink(c, loc)
}

func (sh *shim) Rmdir(c *xlator.Call, loc *xlator.Loc) error {
	if err := sh.check(xlator.FopRmdir); err != nil {
		return err
	}
	return sh.Base.Rmdir(c, loc)
}

func (sh *shim) Rename(c *xlator.Call, from, to *xlator.Loc, flags uint32) error {
	if err := sh.check(xlator.FopRename); err != nil {
		return err
	}
	return sh.Base.Rename(c, from, to, flags)
}

func (sh *shim) Link(c *xlator.Call, from, to *xlator.Loc) (xlator.Iatt, error) {
	if err := sh.check(xlator.FopLink); err != nil {
		return xlator.Iatt{}, err
	}
	return sh.Base.Link(c, from, to)
}

func (sh *shim) Setattr(c *xlator.Call, loc *xlator.Loc, in *xlator.SetattrIn) (xlator.Iatt, error) {
	if err := sh.check(xlator.FopSetattr); err != nil {
		return xlator.Iatt{}, err
	}
	return sh.Base.Setattr(c, loc, in)
}

func (sh *shim) Opendir(c *xlator.Call, loc *xlator.Loc, fd *xlator.FD) error {
	if err := sh.check(xlator.FopOpendir); err != nil {
		return err
	}
	return sh.Base.Opendir(c, loc, fd)
}

func (sh *shim) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if err := sh.check(xlator.FopReadv); err != nil {
		return nil, err
	}
	return sh.Base.Readv(c, fd, size, off)
}

// Writev works around mem keeping the bytes a truncate cut off in its
// slice's capacity: a write past the end re-exposes them instead of a
// hole of zeroes. Zerofilling the gap first (which mem extends with
// zeroes) gives what a file system gives.
func (sh *shim) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	if err := sh.check(xlator.FopWritev); err != nil {
		return 0, err
	}
	if sh.noGapFill {
		return sh.Base.Writev(c, fd, data, off)
	}
	ia, err := sh.FirstChild().Fstat(c, fd)
	if err != nil {
		return 0, err
	}
	if off > ia.Size {
		if err := sh.FirstChild().Zerofill(c, fd, ia.Size, off-ia.Size); err != nil {
			return 0, err
		}
	}
	return sh.Base.Writev(c, fd, data, off)
}

func (sh *shim) Setxattr(c *xlator.Call, loc *xlator.Loc, name string, value []byte, flags uint32) error {
	if err := sh.check(xlator.FopSetxattr); err != nil {
		return err
	}
	if sh.refuseTrusted.Load() && strings.HasPrefix(name, "trusted.") {
		return syscall.EPERM
	}
	l, done, err := sh.named(c, loc)
	if err != nil {
		return err
	}
	defer done()
	return sh.Base.Setxattr(c, l, name, value, flags)
}

func (sh *shim) Getxattr(c *xlator.Call, loc *xlator.Loc, name string) ([]byte, error) {
	if err := sh.check(xlator.FopGetxattr); err != nil {
		return nil, err
	}
	if sh.refuseTrusted.Load() && strings.HasPrefix(name, "trusted.") {
		return nil, syscall.ENODATA
	}
	l, done, err := sh.named(c, loc)
	if err != nil {
		return nil, err
	}
	defer done()
	return sh.Base.Getxattr(c, l, name)
}

func (sh *shim) Removexattr(c *xlator.Call, loc *xlator.Loc, name string) error {
	if err := sh.check(xlator.FopRemovexattr); err != nil {
		return err
	}
	l, done, err := sh.named(c, loc)
	if err != nil {
		return err
	}
	defer done()
	return sh.Base.Removexattr(c, l, name)
}

// registry has mem, the shim and stripe.
func registry() *xlator.Registry {
	r := xlatortest.Registry()
	r.MustRegister(shimType)
	Register(r)
	return r
}

// stripeSpec is stripe "s" over n children c<i> (shims) over m<i> (mems).
func stripeSpec(n int, opts xlator.Options) *xlator.Spec {
	s := &xlator.Spec{Source: "<test>", Top: "s"}
	top := xlator.VolumeSpec{Name: "s", Type: TypeName, Options: opts}
	for i := range n {
		c, m := fmt.Sprintf("c%d", i), fmt.Sprintf("m%d", i)
		top.Subvolumes = append(top.Subvolumes, c)
		s.Volumes = append(s.Volumes,
			xlator.VolumeSpec{Name: c, Type: "shim", Subvolumes: []string{m}, Options: xlator.NewOptions()},
			xlator.VolumeSpec{Name: m, Type: "mem", Options: xlator.NewOptions()})
	}
	s.Volumes = append([]xlator.VolumeSpec{top}, s.Volumes...)
	return s
}

// options builds stripe options: block size, coalesce, patterns.
func options(bs int64, coalesce bool, patterns ...xlator.Pattern) xlator.Options {
	o := xlator.NewOptions()
	o.Set("block-size", xlator.Value{Kind: xlator.KindSize, Int: bs}, true)
	o.Set("coalesce", xlator.Value{Kind: xlator.KindBool, Bool: coalesce}, true)
	if len(patterns) > 0 {
		v := xlator.Value{Kind: xlator.KindSizeMap, Map: map[string]int64{}}
		for _, p := range patterns {
			v.Map[p.Glob] = p.Value
			v.Order = append(v.Order, p.Glob)
		}
		o.Set("block-size-pattern", v, true)
	}
	return o
}

// env is a test graph over stripe with a minimal front end.
type env struct {
	t *testing.T
	g *xlator.Graph
	s *Stripe
	n int
}

func newEnv(t *testing.T, n int, opts xlator.Options) *env {
	t.Helper()
	g := xlatortest.Start(t, stripeSpec(n, opts), registry(), nil)
	return &env{t: t, g: g, s: xlator.Unwrap(g.Top()).(*Stripe), n: n}
}

func (e *env) call(f xlator.Fop) *xlator.Call {
	return e.g.Calls().Begin(context.Background(), f, xlator.Creds{}, 0)
}

func (e *env) shim(i int) *shim { return xlator.Unwrap(e.g.Xlator(fmt.Sprintf("c%d", i))).(*shim) }
func (e *env) mem(i int) xlator.Xlator {
	return e.g.Xlator(fmt.Sprintf("m%d", i))
}
func (e *env) root() *xlator.Inode { return e.g.Inodes().Root() }

// create creates name in dir (nil: the root) and returns its linked inode
// and an open fd (released when the test ends).
func (e *env) create(dir *xlator.Inode, name string) (*xlator.Inode, *xlator.FD, error) {
	if dir == nil {
		dir = e.root()
	}
	tab := e.g.Inodes()
	in := tab.New()
	fd := e.g.NewFD(in, syscall.O_RDWR, 1, false)
	c := e.call(xlator.FopCreate)
	ia, err := e.g.Top().Create(c, &xlator.Loc{Parent: dir, Name: name, Inode: in}, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0o022, fd)
	c.Done()
	if err != nil {
		fd.Unref()
		in.Unref()
		return nil, nil, err
	}
	linked := tab.Link(in, dir, name, &ia)
	in.Unref()
	e.t.Cleanup(func() { fd.Unref(); linked.Unref() })
	return linked, fd, nil
}

func (e *env) mustCreate(name string) (*xlator.Inode, *xlator.FD) {
	e.t.Helper()
	in, fd, err := e.create(nil, name)
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return in, fd
}

// open opens a linked inode.
func (e *env) open(in *xlator.Inode, flags uint32) *xlator.FD {
	e.t.Helper()
	fd := e.g.NewFD(in, flags, 1, false)
	c := e.call(xlator.FopOpen)
	err := e.g.Top().Open(c, &xlator.Loc{Inode: in}, flags, fd)
	c.Done()
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	e.t.Cleanup(fd.Unref)
	return fd
}

// lookup resolves name in dir through the top, linking the inode.
func (e *env) lookup(dir *xlator.Inode, name string) (*xlator.Inode, xlator.Iatt, error) {
	if dir == nil {
		dir = e.root()
	}
	tab := e.g.Inodes()
	in := tab.New()
	c := e.call(xlator.FopLookup)
	ia, err := e.g.Top().Lookup(c, &xlator.Loc{Parent: dir, Name: name, Inode: in})
	c.Done()
	if err != nil {
		in.Unref()
		return nil, ia, err
	}
	linked := tab.Link(in, dir, name, &ia)
	in.Unref()
	e.t.Cleanup(linked.Unref)
	return linked, ia, nil
}

// write writes data at off as an iobref of several segments.
func (e *env) write(fd *xlator.FD, off int64, data []byte) (int, error) {
	pool := e.g.Env().Iobufs
	ref := pool.NewIobref()
	for len(data) > 0 {
		n := min(len(data), 1+len(data)/3+7000) // uneven segments
		part := pool.FromBytes(data[:n])
		ref.Merge(part)
		part.Unref()
		data = data[n:]
	}
	c := e.call(xlator.FopWritev)
	n, err := e.g.Top().Writev(c, fd, ref, off)
	c.Done()
	ref.Unref()
	return n, err
}

func (e *env) mustWrite(fd *xlator.FD, off int64, data []byte) {
	e.t.Helper()
	if n, err := e.write(fd, off, data); err != nil || n != len(data) {
		e.t.Fatalf("write %d at %d: %d, %v", len(data), off, n, err)
	}
}

func (e *env) read(fd *xlator.FD, off int64, size int) ([]byte, error) {
	c := e.call(xlator.FopReadv)
	ref, err := e.g.Top().Readv(c, fd, size, off)
	c.Done()
	if err != nil {
		return nil, err
	}
	out := make([]byte, ref.Size())
	ref.CopyTo(out)
	ref.Unref()
	return out, nil
}

func (e *env) mustRead(fd *xlator.FD, off int64, size int) []byte {
	e.t.Helper()
	b, err := e.read(fd, off, size)
	if err != nil {
		e.t.Fatalf("read %d at %d: %v", size, off, err)
	}
	return b
}

func (e *env) stat(in *xlator.Inode) (xlator.Iatt, error) {
	c := e.call(xlator.FopStat)
	defer c.Done()
	return e.g.Top().Stat(c, &xlator.Loc{Inode: in})
}

func (e *env) mustStat(in *xlator.Inode) xlator.Iatt {
	e.t.Helper()
	ia, err := e.stat(in)
	if err != nil {
		e.t.Fatalf("stat: %v", err)
	}
	return ia
}

func (e *env) truncate(in *xlator.Inode, size int64) (xlator.Iatt, error) {
	c := e.call(xlator.FopSetattr)
	defer c.Done()
	return e.g.Top().Setattr(c, &xlator.Loc{Inode: in}, &xlator.SetattrIn{Valid: xlator.SetSize, Size: size})
}

// childStat stats the file on mem child i directly.
func (e *env) childStat(i int, loc *xlator.Loc) (xlator.Iatt, error) {
	c := e.call(xlator.FopStat)
	defer c.Done()
	return e.mem(i).Stat(c, loc)
}

// childSizes returns the size of in's file on every child.
func (e *env) childSizes(in *xlator.Inode) []int64 {
	e.t.Helper()
	out := make([]int64, e.n)
	for i := range out {
		ia, err := e.childStat(i, &xlator.Loc{Inode: in})
		if err != nil {
			e.t.Fatalf("stat on m%d: %v", i, err)
		}
		out[i] = ia.Size
	}
	return out
}
