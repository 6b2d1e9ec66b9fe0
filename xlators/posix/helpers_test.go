package posix

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

// brick is a one-volume graph ("l0", type posix) over a temporary brick
// directory, with a minimal front end for the tests: it links what fops
// return into the inode table as a client would.
type brick struct {
	tb   testing.TB
	g    *xlator.Graph
	dir  string
	px   *Posix
	env  *xlator.Env
	cred xlator.Creds
}

// testDataPath, when set, is the data-path of every brick newBrick makes:
// TestBioDataPath reruns the data tests over runtime/bio with it.
var testDataPath string

// options returns the schema's defaults with the given overrides (values
// in volfile syntax).
func options(tb testing.TB, set map[string]string) xlator.Options {
	tb.Helper()
	o, err := Schema.Decode(set)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func registry() *xlator.Registry {
	r := xlatortest.Registry()
	Register(r)
	return r
}

// newBrick starts a posix graph on a fresh t.TempDir (or on set["directory"]).
func newBrick(tb testing.TB, set map[string]string) *brick {
	tb.Helper()
	if set == nil {
		set = map[string]string{}
	}
	if _, ok := set["directory"]; !ok {
		set["directory"] = tb.TempDir()
	}
	if _, ok := set["data-path"]; !ok && testDataPath != "" {
		set["data-path"] = testDataPath
	}
	return newBrickWith(tb, xlatortest.NewEnv(tb), set)
}

// newBrickWith starts a posix graph on env with the options set.
func newBrickWith(tb testing.TB, env *xlator.Env, set map[string]string) *brick {
	tb.Helper()
	spec := xlatortest.Chain("posix")
	spec.Volumes[0].Options = options(tb, set)
	g := xlatortest.Start(tb, spec, registry(), env)
	return &brick{tb: tb, g: g, dir: set["directory"], px: xlator.Unwrap(g.Top()).(*Posix), env: env}
}

func (b *brick) top() xlator.Xlator  { return b.g.Top() }
func (b *brick) root() *xlator.Inode { return b.g.Inodes().Root() }

func (b *brick) call(f xlator.Fop) *xlator.Call {
	return b.g.Calls().Begin(context.Background(), f, b.cred, 0)
}

// link records a fop's result in the inode table and returns the table's
// inode, with a reference the test does not bother to drop.
func (b *brick) link(in, parent *xlator.Inode, name string, ia *xlator.Iatt) *xlator.Inode {
	got := b.g.Inodes().Link(in, parent, name, ia)
	in.Unref()
	return got
}

func (b *brick) lookup(parent *xlator.Inode, name string) (*xlator.Inode, xlator.Iatt, error) {
	in := b.g.Inodes().New()
	c := b.call(xlator.FopLookup)
	defer c.Done()
	ia, err := b.top().Lookup(c, &xlator.Loc{Parent: parent, Name: name, Inode: in})
	if err != nil {
		in.Unref()
		return nil, ia, err
	}
	return b.link(in, parent, name, &ia), ia, nil
}

func (b *brick) mkdir(parent *xlator.Inode, name string, mode, umask uint32) (*xlator.Inode, xlator.Iatt, error) {
	in := b.g.Inodes().New()
	c := b.call(xlator.FopMkdir)
	defer c.Done()
	ia, err := b.top().Mkdir(c, &xlator.Loc{Parent: parent, Name: name, Inode: in}, mode, umask)
	if err != nil {
		in.Unref()
		return nil, ia, err
	}
	return b.link(in, parent, name, &ia), ia, nil
}

func (b *brick) create(parent *xlator.Inode, name string, flags, mode, umask uint32) (*xlator.Inode, *xlator.FD, xlator.Iatt, error) {
	in := b.g.Inodes().New()
	fd := b.g.NewFD(in, flags, 1, false)
	c := b.call(xlator.FopCreate)
	defer c.Done()
	ia, err := b.top().Create(c, &xlator.Loc{Parent: parent, Name: name, Inode: in}, flags|syscall.O_CREAT, mode, umask, fd)
	if err != nil {
		fd.Unref()
		in.Unref()
		return nil, nil, ia, err
	}
	linked := b.link(in, parent, name, &ia)
	return linked, fd, ia, nil
}

func (b *brick) mustCreate(parent *xlator.Inode, name string) (*xlator.Inode, *xlator.FD) {
	b.tb.Helper()
	in, fd, _, err := b.create(parent, name, syscall.O_RDWR, 0o644, 0o022)
	if err != nil {
		b.tb.Fatalf("create %s: %v", name, err)
	}
	b.tb.Cleanup(fd.Unref)
	return in, fd
}

func (b *brick) mustMkdir(parent *xlator.Inode, name string) *xlator.Inode {
	b.tb.Helper()
	in, _, err := b.mkdir(parent, name, 0o755, 0o022)
	if err != nil {
		b.tb.Fatalf("mkdir %s: %v", name, err)
	}
	return in
}

func (b *brick) open(loc *xlator.Loc, flags uint32) (*xlator.FD, error) {
	fd := b.g.NewFD(loc.Inode, flags, 1, false)
	c := b.call(xlator.FopOpen)
	defer c.Done()
	if err := b.top().Open(c, loc, flags, fd); err != nil {
		fd.Unref()
		return nil, err
	}
	return fd, nil
}

func (b *brick) opendir(loc *xlator.Loc) (*xlator.FD, error) {
	fd := b.g.NewFD(loc.Inode, 0, 1, true)
	c := b.call(xlator.FopOpendir)
	defer c.Done()
	if err := b.top().Opendir(c, loc, fd); err != nil {
		fd.Unref()
		return nil, err
	}
	return fd, nil
}

func (b *brick) write(fd *xlator.FD, off int64, data []byte) (int, error) {
	ref := b.env.Iobufs.FromBytes(data)
	defer ref.Unref()
	c := b.call(xlator.FopWritev)
	defer c.Done()
	return b.top().Writev(c, fd, ref, off)
}

func (b *brick) mustWrite(fd *xlator.FD, off int64, data []byte) {
	b.tb.Helper()
	if n, err := b.write(fd, off, data); err != nil || n != len(data) {
		b.tb.Fatalf("write %d bytes at %d: n=%d err=%v", len(data), off, n, err)
	}
}

func (b *brick) read(fd *xlator.FD, off int64, size int) ([]byte, error) {
	c := b.call(xlator.FopReadv)
	defer c.Done()
	ref, err := b.top().Readv(c, fd, size, off)
	if err != nil {
		return nil, err
	}
	defer ref.Unref()
	out := make([]byte, ref.Size())
	ref.CopyTo(out)
	return out, nil
}

func (b *brick) mustRead(fd *xlator.FD, off int64, size int) []byte {
	b.tb.Helper()
	d, err := b.read(fd, off, size)
	if err != nil {
		b.tb.Fatalf("read %d at %d: %v", size, off, err)
	}
	return d
}

func (b *brick) stat(loc *xlator.Loc) (xlator.Iatt, error) {
	c := b.call(xlator.FopStat)
	defer c.Done()
	return b.top().Stat(c, loc)
}

func (b *brick) fstat(fd *xlator.FD) (xlator.Iatt, error) {
	c := b.call(xlator.FopFstat)
	defer c.Done()
	return b.top().Fstat(c, fd)
}

func (b *brick) readdirAll(fd *xlator.FD, count int, plus bool) []xlator.Dirent {
	b.tb.Helper()
	var all []xlator.Dirent
	off := int64(0)
	for i := 0; ; i++ {
		c := b.call(xlator.FopReaddir)
		ents, err := b.top().Readdir(c, fd, off, count, plus)
		c.Done()
		if err != nil {
			b.tb.Fatalf("readdir at %d: %v", off, err)
		}
		if len(ents) == 0 {
			return all
		}
		if len(ents) > count {
			b.tb.Fatalf("readdir returned %d entries, asked for %d", len(ents), count)
		}
		all = append(all, ents...)
		off = ents[len(ents)-1].Off
		if i > 1e6 {
			b.tb.Fatal("readdir does not end")
		}
	}
}

// errIs checks err against a wanted errno (0: no error).
func errIs(tb testing.TB, what string, err error, want syscall.Errno) {
	tb.Helper()
	if want == 0 {
		if err != nil {
			tb.Errorf("%s: %v, want success", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		tb.Errorf("%s: err %v, want %v", what, err, want)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func equal(tb testing.TB, what string, got, want []byte) {
	tb.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		tb.Errorf("%s: got %d bytes, want %d; first difference at %d", what, len(got), len(want), i)
	}
}
