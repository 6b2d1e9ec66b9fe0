package checksum_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/xstack/xstack/examples/plugins/checksum/checksum"
	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
	"github.com/xstack/xstack/xlators/posix"
)

// bottoms are the children the tests run the translator over: the
// in-memory one, and posix on a brick under t.TempDir() (ext4 here, whose
// xattrs could not hold the sums of a large file).
var bottoms = []string{"mem", "posix"}

// env is a graph checksum (l0) → spy (l1) → bottom (l2) with a minimal
// front end: it links what fops return, as a client does.
type env struct {
	t      testing.TB
	g      *xlator.Graph
	top    xlator.Xlator
	x      *checksum.Checksum
	spy    *spy
	bottom xlator.Xlator
	dir    string // the posix brick, "" for mem
	cred   xlator.Creds
}

// start builds the graph over bottom with the checksum options set (in
// volfile syntax); dir is the posix brick ("" for a fresh one).
func start(t testing.TB, bottom string, set map[string]string, dir string) *env {
	t.Helper()
	reg := xlatortest.Registry()
	posix.Register(reg)
	checksum.Register(reg)
	reg.MustRegister(spyType)
	spec := xlatortest.Chain(checksum.TypeName, "spy", bottom)
	o, err := checksum.Type.Options.Decode(set)
	if err != nil {
		t.Fatal(err)
	}
	spec.Volumes[0].Options = o
	if bottom == "posix" {
		if dir == "" {
			dir = t.TempDir()
		}
		po, err := posix.Schema.Decode(map[string]string{"directory": dir, "health-check-interval": "0s"})
		if err != nil {
			t.Fatal(err)
		}
		spec.Volumes[2].Options = po
	}
	g := xlatortest.Start(t, spec, reg, nil)
	return &env{t: t, g: g, top: g.Top(), x: xlator.Unwrap(g.Top()).(*checksum.Checksum),
		spy: xlator.Unwrap(g.Xlator("l1")).(*spy), bottom: g.Xlator("l2"), dir: dir}
}

func (e *env) call(f xlator.Fop) *xlator.Call {
	return e.g.Calls().Begin(e.t.Context(), f, e.cred, 0)
}

func (e *env) root() *xlator.Inode { return e.g.Inodes().Root() }

// create creates name in the root, open read-write, with the env's
// credentials.
func (e *env) create(name string) (*xlator.Inode, *xlator.FD) {
	e.t.Helper()
	in, fd, err := e.createFlags(name, syscall.O_RDWR|syscall.O_CREAT)
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return in, fd
}

// createFlags creates (or opens, without O_EXCL) name in the root as a
// front end does, and returns the linked inode and the fd, with a
// reference each.
func (e *env) createFlags(name string, flags uint32) (*xlator.Inode, *xlator.FD, error) {
	c := e.call(xlator.FopCreate)
	defer c.Done()
	tab := e.g.Inodes()
	in := tab.New()
	defer in.Unref()
	fd := e.g.NewFD(in, flags&^(syscall.O_CREAT|syscall.O_EXCL|syscall.O_TRUNC), 1, false)
	ia, err := e.top.Create(c, &xlator.Loc{Parent: e.root(), Name: name, Inode: in}, flags, 0o644, 0o022, fd)
	if err != nil {
		fd.Unref()
		return nil, nil, err
	}
	linked := tab.Link(in, e.root(), name, &ia)
	if linked != in { // the name existed: the fd carries the table's inode
		fd.Inode = linked.Ref()
		in.Unref()
	}
	return linked, fd, nil
}

// lookup resolves name in the root through the top and links it.
func (e *env) lookup(name string) (*xlator.Inode, error) {
	c := e.call(xlator.FopLookup)
	defer c.Done()
	tab := e.g.Inodes()
	in := tab.New()
	defer in.Unref()
	ia, err := e.top.Lookup(c, &xlator.Loc{Parent: e.root(), Name: name, Inode: in})
	if err != nil {
		return nil, err
	}
	return tab.Link(in, e.root(), name, &ia), nil
}

func (e *env) open(in *xlator.Inode, flags uint32) (*xlator.FD, error) {
	c := e.call(xlator.FopOpen)
	defer c.Done()
	fd := e.g.NewFD(in, flags, 1, false)
	if err := e.top.Open(c, &xlator.Loc{Inode: in}, flags, fd); err != nil {
		fd.Unref()
		return nil, err
	}
	return fd, nil
}

func (e *env) mustOpen(in *xlator.Inode, flags uint32) *xlator.FD {
	e.t.Helper()
	fd, err := e.open(in, flags)
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	return fd
}

func (e *env) write(fd *xlator.FD, off int64, data []byte) (int, error) {
	c := e.call(xlator.FopWritev)
	defer c.Done()
	ref := e.g.Env().Iobufs.FromBytes(data)
	defer ref.Unref()
	return e.top.Writev(c, fd, ref, off)
}

func (e *env) mustWrite(fd *xlator.FD, off int64, data []byte) {
	e.t.Helper()
	if n, err := e.write(fd, off, data); err != nil || n != len(data) {
		e.t.Fatalf("write of %d bytes at %d: %d, %v", len(data), off, n, err)
	}
}

func (e *env) read(fd *xlator.FD, off int64, n int) ([]byte, error) {
	c := e.call(xlator.FopReadv)
	defer c.Done()
	ref, err := e.top.Readv(c, fd, n, off)
	if err != nil {
		if ref != nil {
			e.t.Errorf("readv failed (%v) with an iobref", err)
		}
		return nil, err
	}
	defer ref.Unref()
	out := make([]byte, ref.Size())
	ref.CopyTo(out)
	return out, nil
}

func (e *env) mustRead(fd *xlator.FD, off int64, n int) []byte {
	e.t.Helper()
	b, err := e.read(fd, off, n)
	if err != nil {
		e.t.Fatalf("read of %d bytes at %d: %v", n, off, err)
	}
	return b
}

// readAll reads the whole file in pieces of 256 KiB.
func (e *env) readAll(fd *xlator.FD) ([]byte, error) {
	var out []byte
	for {
		b, err := e.read(fd, int64(len(out)), 256<<10)
		if err != nil {
			return out, err
		}
		out = append(out, b...)
		if len(b) < 256<<10 {
			return out, nil
		}
	}
}

func (e *env) ftruncate(fd *xlator.FD, size int64) error {
	c := e.call(xlator.FopFsetattr)
	defer c.Done()
	_, err := e.top.Fsetattr(c, fd, &xlator.SetattrIn{Valid: xlator.SetSize, Size: size})
	return err
}

func (e *env) truncate(in *xlator.Inode, size int64) error {
	c := e.call(xlator.FopSetattr)
	defer c.Done()
	_, err := e.top.Setattr(c, &xlator.Loc{Inode: in}, &xlator.SetattrIn{Valid: xlator.SetSize, Size: size})
	return err
}

func (e *env) unlink(name string) error {
	c := e.call(xlator.FopUnlink)
	defer c.Done()
	if err := e.top.Unlink(c, &xlator.Loc{Parent: e.root(), Name: name}); err != nil {
		return err
	}
	e.g.Inodes().Unlink(e.root(), name)
	return nil
}

func (e *env) rename(from, to string) error {
	c := e.call(xlator.FopRename)
	defer c.Done()
	if err := e.top.Rename(c, &xlator.Loc{Parent: e.root(), Name: from}, &xlator.Loc{Parent: e.root(), Name: to}, 0); err != nil {
		return err
	}
	e.g.Inodes().Rename(e.root(), from, e.root(), to)
	return nil
}

func (e *env) link(in *xlator.Inode, name string) error {
	c := e.call(xlator.FopLink)
	defer c.Done()
	ia, err := e.top.Link(c, &xlator.Loc{Inode: in}, &xlator.Loc{Parent: e.root(), Name: name})
	if err != nil {
		return err
	}
	e.g.Inodes().Link(in, e.root(), name, &ia).Unref()
	return nil
}

// poke changes the byte at off of the file fd is open on, in the bottom:
// behind the translator's back.
func (e *env) poke(fd *xlator.FD, off int64) {
	e.t.Helper()
	c := e.call(xlator.FopWritev)
	defer c.Done()
	ref, err := e.bottom.Readv(c, fd, 1, off)
	if err != nil || ref.Size() != 1 {
		e.t.Fatalf("poke: read at %d: %v", off, err)
	}
	b := []byte{ref.Seg(0)[0] ^ 0x5a}
	ref.Unref()
	data := e.g.Env().Iobufs.FromBytes(b)
	defer data.Unref()
	if _, err := e.bottom.Writev(c, fd, data, off); err != nil {
		e.t.Fatalf("poke: write at %d: %v", off, err)
	}
}

// brickFile opens the bottom's file at path (from the root, through
// lookups in the bottom) read-write; the caller drops the fd.
func (e *env) brickFile(path ...string) (*xlator.FD, error) {
	c := e.call(xlator.FopLookup)
	defer c.Done()
	tab := e.g.Inodes()
	cur := e.root().Ref()
	defer func() { cur.Unref() }()
	for _, name := range path {
		in := tab.New()
		ia, err := e.bottom.Lookup(c, &xlator.Loc{Parent: cur, Name: name, Inode: in})
		if err != nil {
			in.Unref()
			return nil, err
		}
		next := tab.Link(in, cur, name, &ia)
		in.Unref()
		cur.Unref()
		cur = next
	}
	fd := e.g.NewFD(cur, syscall.O_RDWR, 1, false)
	if err := e.bottom.Open(c, &xlator.Loc{Inode: cur}, syscall.O_RDWR, fd); err != nil {
		fd.Unref()
		return nil, err
	}
	return fd, nil
}

// table returns the table file of in's file as the bottom holds it, or
// nil when there is none.
func (e *env) table(in *xlator.Inode) []byte {
	e.t.Helper()
	fd, err := e.brickFile(checksum.DefaultTableDir, in.GFID().String())
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		e.t.Fatalf("table of %s: %v", in.GFID(), err)
	}
	defer fd.Unref()
	c := e.call(xlator.FopReadv)
	defer c.Done()
	var out []byte
	for {
		ref, err := e.bottom.Readv(c, fd, 1<<20, int64(len(out)))
		if err != nil {
			e.t.Fatal(err)
		}
		b := make([]byte, ref.Size())
		ref.CopyTo(b)
		ref.Unref()
		out = append(out, b...)
		if len(b) < 1<<20 {
			return out
		}
	}
}

// tables lists the table directory in the bottom.
func (e *env) tables() []string {
	e.t.Helper()
	c := e.call(xlator.FopReaddir)
	defer c.Done()
	tab := e.g.Inodes()
	in := tab.New()
	defer in.Unref()
	ia, err := e.bottom.Lookup(c, &xlator.Loc{Parent: e.root(), Name: checksum.DefaultTableDir, Inode: in})
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	dir := tab.Link(in, e.root(), checksum.DefaultTableDir, &ia)
	defer dir.Unref()
	return e.list(e.bottom, dir)
}

// list reads the directory in through x.
func (e *env) list(x xlator.Xlator, in *xlator.Inode) []string {
	e.t.Helper()
	c := e.call(xlator.FopReaddir)
	defer c.Done()
	fd := e.g.NewFD(in, syscall.O_RDONLY, 1, true)
	defer fd.Unref()
	if err := x.Opendir(c, &xlator.Loc{Inode: in}, fd); err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for off := int64(0); ; {
		ents, err := x.Readdir(c, fd, off, 1, false)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ents) == 0 {
			return names
		}
		for _, d := range ents {
			names = append(names, d.Name)
		}
		off = ents[len(ents)-1].Off
	}
}

// checkPools fails the test if the translator's mem-pools refused a Put
// (an object returned twice, or not theirs) or hold more pages than the
// bound.
func (e *env) checkPools() {
	e.t.Helper()
	for _, st := range e.g.Env().Pools.ByOwner("l0") {
		if st.PutErrors != 0 {
			e.t.Errorf("pool %s: %d refused puts", st.Name, st.PutErrors)
		}
	}
}

// counter returns a counter of the translator's statedump.
func (e *env) counter(key string) uint64 {
	for _, kv := range e.x.Dump() {
		if kv.Key == key {
			v, _ := kv.Value.(uint64)
			return v
		}
	}
	e.t.Fatalf("no counter %q", key)
	return 0
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// pattern returns n bytes that differ from block to block and from seed
// to seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/4096) ^ seed
	}
	return b
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, want %d, first difference at %d", what, len(got), len(want), firstDiff(got, want))
	}
}

// spy sits between the translator and the bottom. It recognises the
// table files (opened or created in the table directory) and can make
// their fops fail: writes past an offset are cut short with ENOSPC, and
// creates and reads fail with a given errno. It logs the fops on tables
// and the fsyncs. Its knobs are set between phases of a test.
type spy struct {
	xlator.Base
	mu         sync.Mutex
	writeLimit int64 // table bytes past this offset are not written; <0: no limit
	createErr  syscall.Errno
	readErr    syscall.Errno
	log        []string
}

var spyType = xlator.Type{Name: "spy", MinChildren: 1, MaxChildren: 1,
	New: func() xlator.Xlator { return &spy{writeLimit: -1} }}

func (s *spy) set(fn func(s *spy)) {
	s.mu.Lock()
	fn(s)
	s.mu.Unlock()
}

func (s *spy) note(format string, args ...any) {
	s.mu.Lock()
	s.log = append(s.log, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// take returns the log so far and clears it.
func (s *spy) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log
	s.log = nil
	return l
}

func inTableDir(loc *xlator.Loc) bool {
	return loc.Parent != nil && strings.HasSuffix(loc.Parent.Path(), "/"+checksum.DefaultTableDir)
}

func isTable(s *spy, fd *xlator.FD) bool { b, _ := fd.Ctx(s).(bool); return b }

func (s *spy) Create(c *xlator.Call, loc *xlator.Loc, flags, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	if inTableDir(loc) {
		s.mu.Lock()
		e := s.createErr
		s.mu.Unlock()
		if e != 0 {
			return xlator.Iatt{}, e
		}
		fd.SetCtx(s, true)
		s.note("create table")
	}
	return s.Base.Create(c, loc, flags, mode, umask, fd)
}

func (s *spy) Open(c *xlator.Call, loc *xlator.Loc, flags uint32, fd *xlator.FD) error {
	if inTableDir(loc) {
		fd.SetCtx(s, true)
	}
	return s.Base.Open(c, loc, flags, fd)
}

func (s *spy) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if isTable(s, fd) {
		s.mu.Lock()
		e := s.readErr
		s.mu.Unlock()
		if e != 0 {
			return nil, e
		}
	}
	return s.Base.Readv(c, fd, size, off)
}

func (s *spy) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	if !isTable(s, fd) {
		return s.Base.Writev(c, fd, data, off)
	}
	s.note("table write %d+%d", off, data.Size())
	s.mu.Lock()
	limit := s.writeLimit
	s.mu.Unlock()
	if limit < 0 || off+int64(data.Size()) <= limit {
		return s.Base.Writev(c, fd, data, off)
	}
	if off >= limit {
		return 0, syscall.ENOSPC
	}
	b := make([]byte, data.Size())
	data.CopyTo(b)
	part := s.Iobufs().FromBytes(b[:limit-off])
	defer part.Unref()
	n, err := s.Base.Writev(c, fd, part, off)
	if err == nil {
		err = syscall.ENOSPC
	}
	return n, err
}

func (s *spy) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	if isTable(s, fd) {
		s.note("fsync table")
	} else {
		s.note("fsync data")
	}
	return s.Base.Fsync(c, fd, datasync)
}
