package xlator_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/xlator"
	"github.com/xstack/xstack/xlator/xlatortest"
)

func treeSpec() *xlator.Spec {
	vol := func(name string, kids ...string) xlator.VolumeSpec {
		return xlator.VolumeSpec{Name: name, Type: "rec", Subvolumes: kids, Options: xlator.NewOptions()}
	}
	return &xlator.Spec{Top: "a", Volumes: []xlator.VolumeSpec{vol("d"), vol("b", "d"), vol("c"), vol("a", "b", "c")}}
}

func TestLifecycleOrder(t *testing.T) {
	var log xlatortest.Log
	reg := xlator.NewRegistry()
	reg.MustRegister(xlatortest.RecorderType(&log, ""))
	g, err := xlator.New(treeSpec(), reg, xlatortest.NewEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Init(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !g.IsUp() {
		t.Fatal("graph not up after Start")
	}
	g.Stop()
	g.Stop() // idempotent
	want := []string{
		"init d", "init b", "init c", "init a",
		"notify a parent-up from graph",
		"notify b parent-up from a",
		"notify d parent-up from b",
		"notify b child-up from d",
		"notify a child-up from b",
		"notify c parent-up from a",
		"notify a child-up from c",
		"notify a parent-down from graph",
		"notify b parent-down from a",
		"notify d parent-down from b",
		"notify c parent-down from a",
		// Stop forgets every inode (here the root) before the
		// translators' pools go.
		"forget a", "forget b", "forget d", "forget c",
		"fini a", "fini c", "fini b", "fini d",
	}
	if got := log.Lines(); !reflect.DeepEqual(got, want) {
		t.Errorf("lifecycle:\n got %q\nwant %q", got, want)
	}
	// Graph order is preorder from the top.
	var names []string
	for _, x := range g.Xlators() {
		names = append(names, x.Name)
	}
	if want := []string{"a", "b", "d", "c"}; !reflect.DeepEqual(names, want) {
		t.Errorf("graph order %v, want %v", names, want)
	}
}

func TestInitFailureTearsDown(t *testing.T) {
	var log xlatortest.Log
	reg := xlator.NewRegistry()
	reg.MustRegister(xlatortest.RecorderType(&log, "c"))
	spec := treeSpec()
	spec.Volumes[2].Pos = "test.hcl:7:1"
	g, err := xlator.New(spec, reg, xlatortest.NewEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	err = g.Init()
	if err == nil {
		t.Fatal("Init succeeded; want the failure of volume c")
	}
	for _, want := range []string{`volume "c"`, "type rec", "test.hcl:7:1", "refusing to start"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	want := []string{"init d", "init b", "init c", "fini b", "fini d"}
	if got := log.Lines(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	reg := xlatortest.Registry()
	env := xlatortest.NewEnv(t)
	cases := map[string]*xlator.Spec{
		"unknown top":  {Top: "x", Volumes: []xlator.VolumeSpec{{Name: "a", Type: "mem"}}},
		"unknown type": {Top: "a", Volumes: []xlator.VolumeSpec{{Name: "a", Type: "nope"}}},
		"unknown sub":  {Top: "a", Volumes: []xlator.VolumeSpec{{Name: "a", Type: "pass", Subvolumes: []string{"zz"}}}},
		"cycle": {Top: "a", Volumes: []xlator.VolumeSpec{
			{Name: "a", Type: "pass", Subvolumes: []string{"b"}}, {Name: "b", Type: "pass", Subvolumes: []string{"a"}}}},
	}
	for name, s := range cases {
		if _, err := xlator.New(s, reg, env); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// client is a minimal front end for the tests: it creates files and runs
// fops on the graph's top.
type client struct {
	t *testing.T
	g *xlator.Graph
}

func (c client) call(f xlator.Fop) *xlator.Call { return xlatortest.Begin(c.g, f) }

func (c client) create(name string) (*xlator.Inode, *xlator.FD) {
	c.t.Helper()
	return xlatortest.Create(c.t, c.g, name)
}

// TestPassThroughEveryFop runs every fop through two pass layers over mem and
// checks each layer saw it and the result is what mem alone gives.
func TestPassThroughEveryFop(t *testing.T) {
	g := xlatortest.Start(t, xlatortest.Chain("pass", "pass", "mem"), xlatortest.Registry(), nil)
	c := client{t, g}
	top := g.Top()
	root := g.Inodes().Root()
	in, fd := c.create("f")
	defer in.Unref()
	loc := &xlator.Loc{Parent: root, Name: "f", Inode: in}
	call := c.call(xlator.FopLookup)
	defer call.Done()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	ia, err := top.Lookup(call, loc)
	must("lookup", err)
	if ia.Gfid != in.GFID() {
		t.Fatalf("lookup gfid %v, want %v", ia.Gfid, in.GFID())
	}
	_, err = top.Stat(call, loc)
	must("stat", err)
	data := g.Env().Iobufs.FromBytes([]byte("hello, world"))
	n, err := top.Writev(call, fd, data, 0)
	data.Unref()
	must("writev", err)
	if n != 12 {
		t.Fatalf("writev wrote %d", n)
	}
	ref, err := top.Readv(call, fd, 100, 7)
	must("readv", err)
	got := make([]byte, ref.Size())
	ref.CopyTo(got)
	ref.Unref()
	if string(got) != "world" {
		t.Fatalf("readv %q", got)
	}
	ia, err = top.Fstat(call, fd)
	must("fstat", err)
	if ia.Size != 12 {
		t.Fatalf("size %d", ia.Size)
	}
	_, err = top.Setattr(call, loc, &xlator.SetattrIn{Valid: xlator.SetMode, Mode: 0o600})
	must("setattr", err)
	_, err = top.Fsetattr(call, fd, &xlator.SetattrIn{Valid: xlator.SetSize, Size: 5})
	must("fsetattr", err)
	must("access", top.Access(call, loc, 4))
	must("flush", top.Flush(call, fd))
	must("fsync", top.Fsync(call, fd, false))
	must("setxattr", top.Setxattr(call, loc, "user.k", []byte("v"), 0))
	v, err := top.Getxattr(call, loc, "user.k")
	must("getxattr", err)
	if string(v) != "v" {
		t.Fatalf("getxattr %q", v)
	}
	names, err := top.Listxattr(call, loc)
	must("listxattr", err)
	if len(names) != 1 {
		t.Fatalf("listxattr %v", names)
	}
	must("removexattr", top.Removexattr(call, loc, "user.k"))
	must("fallocate", top.Fallocate(call, fd, 0, 0, 100))
	must("discard", top.Discard(call, fd, 0, 10))
	must("zerofill", top.Zerofill(call, fd, 0, 10))
	dloc := &xlator.Loc{Parent: root, Name: "d"}
	dia, err := top.Mkdir(call, dloc, 0o755, 0)
	must("mkdir", err)
	din := g.Inodes().Link(nil, root, "d", &dia)
	defer din.Unref()
	dloc.Inode = din
	_, err = top.Mknod(call, &xlator.Loc{Parent: din, Name: "node"}, syscall.S_IFREG|0o600, 0, 0)
	must("mknod", err)
	sia, err := top.Symlink(call, "target", &xlator.Loc{Parent: din, Name: "sym"}, 0)
	must("symlink", err)
	sin := g.Inodes().Link(nil, din, "sym", &sia)
	target, err := top.Readlink(call, &xlator.Loc{Parent: din, Name: "sym", Inode: sin})
	sin.Unref()
	must("readlink", err)
	if target != "target" {
		t.Fatalf("readlink %q", target)
	}
	_, err = top.Link(call, loc, &xlator.Loc{Parent: din, Name: "hard"})
	must("link", err)
	must("rename", top.Rename(call, &xlator.Loc{Parent: din, Name: "hard"}, &xlator.Loc{Parent: din, Name: "hard2"}, 0))
	dfd := g.NewFD(din, syscall.O_RDONLY, 1, true)
	must("opendir", top.Opendir(call, dloc, dfd))
	ents, err := top.Readdir(call, dfd, 0, 100, true)
	must("readdir", err)
	var en []string
	for _, e := range ents {
		en = append(en, e.Name)
	}
	if want := []string{"hard2", "node", "sym"}; !reflect.DeepEqual(en, want) {
		t.Fatalf("readdir %v, want %v", en, want)
	}
	must("fsyncdir", top.Fsyncdir(call, dfd, true))
	dfd.Unref()
	_, err = top.Statfs(call, loc)
	must("statfs", err)
	must("open", top.Open(call, loc, syscall.O_RDONLY, fd))
	if err := top.Rmdir(call, dloc); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	// mem cannot tell holes from data: ENOSYS, counted all the same.
	if _, err := top.Lseek(call, fd, 0, xlator.SeekHole); !errors.Is(err, syscall.ENOSYS) {
		t.Fatalf("lseek on mem: %v, want ENOSYS", err)
	}
	// mem keeps no locks either.
	if _, err := top.Lk(call, fd, xlator.LkSet, &xlator.Flock{Type: xlator.LockWrite, End: xlator.LockToEOF}); !errors.Is(err, syscall.ENOSYS) {
		t.Fatalf("lk on mem: %v, want ENOSYS", err)
	}
	// mem makes no unnamed files: ENOSYS, counted all the same.
	tin := g.Inodes().New()
	tfd := g.NewFD(tin, syscall.O_RDWR, 1, false)
	if _, err := top.Tmpfile(call, &xlator.Loc{Parent: root, Inode: tin}, syscall.O_RDWR, 0o600, 0, tfd); !errors.Is(err, syscall.ENOSYS) {
		t.Fatalf("tmpfile on mem: %v, want ENOSYS", err)
	}
	tfd.Unref()
	tin.Unref()
	// mem has no copy of its own: its wrapper copies by reading and writing.
	if n, err := top.CopyFileRange(call, fd, 0, fd, 200, 10, 0); err != nil || n != 10 {
		t.Fatalf("copy_file_range: %d, %v", n, err)
	}
	must("unlink", top.Unlink(call, loc))
	fd.Unref()

	// Every fop went through both pass layers and reached mem.
	for _, x := range g.Xlators() {
		for f := xlator.Fop(0); f < xlator.NumFops; f++ {
			if x.Stats.Count(f) == 0 {
				t.Errorf("%s saw no %s", x.Name, f)
			}
		}
	}
}

func TestLeafWithoutFopIsENOSYS(t *testing.T) {
	var log xlatortest.Log
	reg := xlator.NewRegistry()
	reg.MustRegister(xlatortest.RecorderType(&log, ""))
	g := xlatortest.Start(t, &xlator.Spec{Top: "a", Volumes: []xlator.VolumeSpec{{Name: "a", Type: "rec"}}}, reg, nil)
	call := g.Calls().Begin(context.Background(), xlator.FopStat, xlator.Creds{}, 0)
	defer call.Done()
	if _, err := g.Top().Stat(call, &xlator.Loc{Inode: g.Inodes().Root()}); !errors.Is(err, syscall.ENOSYS) {
		t.Fatalf("got %v, want ENOSYS", err)
	}
}

func TestStatsCountErrorsAndBytes(t *testing.T) {
	spec := xlatortest.Chain("fault", "mem")
	g := xlatortest.Start(t, spec, xlatortest.Registry(), nil)
	c := client{t, g}
	in, fd := c.create("f")
	defer in.Unref()
	defer fd.Unref()
	call := c.call(xlator.FopWritev)
	defer call.Done()
	data := g.Env().Iobufs.FromBytes(bytes.Repeat([]byte{'x'}, 4096))
	defer data.Unref()
	for i := 0; i < 3; i++ {
		if _, err := g.Top().Writev(call, fd, data, int64(i)*4096); err != nil {
			t.Fatal(err)
		}
	}
	xlator.Unwrap(g.Top()).(*xlatortest.Fault).SetFault(xlator.FopWritev, syscall.ENOSPC)
	if _, err := g.Top().Writev(call, fd, data, 0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	xs := g.Xlators()
	var w xlator.FopStats
	for _, f := range xs[0].Stats.Fops {
		if f.Fop == "WRITE" {
			w = f
		}
	}
	if w.Count != 4 || w.Errors != 1 || w.Bytes != 3*4096 {
		t.Fatalf("top WRITE stats %+v", w)
	}
	if w.Min <= 0 || w.Max < w.Min || w.Mean < w.Min || w.Mean > w.Max {
		t.Fatalf("latencies %v %v %v", w.Min, w.Mean, w.Max)
	}
	if xs[1].Stats.Count(xlator.FopWritev) != 3 {
		t.Fatalf("mem saw %d writes", xs[1].Stats.Count(xlator.FopWritev))
	}
}

// block is a translator whose Readv waits until release is closed.
type block struct {
	xlator.Base
	entered chan struct{}
	release chan struct{}
}

func (b *block) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	close(b.entered)
	<-b.release
	return b.Base.Readv(c, fd, size, off)
}

func TestInFlightShowsHopThatNeverReturned(t *testing.T) {
	blk := &block{entered: make(chan struct{}), release: make(chan struct{})}
	reg := xlatortest.Registry()
	reg.MustRegister(xlator.Type{Name: "block", New: func() xlator.Xlator { return blk }})
	g := xlatortest.Start(t, xlatortest.Chain("pass", "block", "mem"), reg, nil)
	c := client{t, g}
	in, fd := c.create("f")
	defer in.Unref()
	defer fd.Unref()
	done := make(chan error)
	go func() {
		call := g.Calls().Begin(context.Background(), xlator.FopReadv, xlator.Creds{Uid: 42, Pid: 7}, 99)
		ref, err := g.Top().Readv(call, fd, 10, 0)
		if ref != nil {
			ref.Unref()
		}
		call.Done()
		done <- err
	}()
	<-blk.entered
	time.Sleep(2 * time.Millisecond)
	calls := g.Calls().InFlight()
	var found *xlator.CallInfo
	for i := range calls {
		if calls[i].Unique == 99 {
			found = &calls[i]
		}
	}
	if found == nil {
		t.Fatalf("call 99 not in flight: %+v", calls)
	}
	if found.Fop != xlator.FopReadv || found.Uid != 42 || found.Pid != 7 {
		t.Fatalf("call info %+v", found)
	}
	if len(found.Frames) != 2 || g.XlatorName(found.Frames[0].Xlator) != "l0" || g.XlatorName(found.Frames[1].Xlator) != "l1" {
		t.Fatalf("frames %+v", found.Frames)
	}
	if found.Frames[1].Wait < time.Millisecond || found.Age < found.Frames[1].Wait {
		t.Fatalf("waits %+v age %v", found.Frames, found.Age)
	}
	close(blk.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, ci := range g.Calls().InFlight() {
		if ci.Unique == 99 {
			t.Fatal("call still in flight after Done")
		}
	}
}

func TestReleaseAndForgetReachEveryXlator(t *testing.T) {
	var log xlatortest.Log
	reg := xlatortest.Registry()
	reg.MustRegister(xlatortest.RecorderType(&log, ""))
	spec := xlatortest.Chain("rec", "rec", "mem")
	g := xlatortest.Start(t, spec, reg, nil)
	c := client{t, g}
	in, fd := c.create("f")
	fd.Ref()
	fd.Unref()
	countOf := func(prefix string) int {
		n := 0
		for _, l := range log.Lines() {
			if strings.HasPrefix(l, prefix) {
				n++
			}
		}
		return n
	}
	if countOf("release") != 0 {
		t.Fatal("released while referenced")
	}
	fd.Unref()
	if countOf("release") != 2 {
		t.Fatalf("release calls: %v", log.Lines())
	}
	if g.FDs().Open != 0 {
		t.Fatalf("fds open %d", g.FDs().Open)
	}
	// The inode has no lookups and, once unreferenced, sits on the LRU; a
	// purge forgets it in every translator.
	in.Unref()
	if s := g.Inodes().Stats(); s.LRU != 1 || s.Active != 0 {
		t.Fatalf("table %+v", s)
	}
	g.Inodes().Purge()
	if countOf("forget") != 2 {
		t.Fatalf("forget calls: %v", log.Lines())
	}
}

// TestHotPathAllocatesNothing: getattr and a 4 KiB writev through eight
// pass-through layers allocate nothing (the graph's hop records and
// statistics included).
func TestHotPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	types := []string{"pass", "pass", "pass", "pass", "pass", "pass", "pass", "pass", "mem"}
	g := xlatortest.Start(t, xlatortest.Chain(types...), xlatortest.Registry(), nil)
	c := client{t, g}
	in, fd := c.create("f")
	defer in.Unref()
	defer fd.Unref()
	call := c.call(xlator.FopWritev)
	defer call.Done()
	data := g.Env().Iobufs.FromBytes(bytes.Repeat([]byte{7}, 4096))
	defer data.Unref()
	loc := &xlator.Loc{Parent: g.Inodes().Root(), Name: "f", Inode: in}
	top := g.Top()
	if _, err := top.Writev(call, fd, data, 0); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { top.Stat(call, loc) }); n != 0 {
		t.Errorf("getattr through 8 layers: %v allocs/op", n)
	}
	if n := testing.AllocsPerRun(1000, func() { top.Writev(call, fd, data, 0) }); n != 0 {
		t.Errorf("writev through 8 layers: %v allocs/op", n)
	}
}

func TestKVsOf(t *testing.T) {
	type inner struct {
		Read  uint64 `json:"read"`
		Write uint64 `json:"write"`
	}
	type s struct {
		Name      string `json:"name"`
		Submitted inner  `json:"submitted"`
		Hidden    int    `json:"-"`
		Plain     int
		private   int
	}
	v := &s{Name: "d0", Submitted: inner{1, 2}, Hidden: 3, Plain: 4, private: 5}
	_ = v.private
	got := xlator.KVsOf("dev", v)
	want := []xlator.KV{{Key: "dev.name", Value: "d0"}, {Key: "dev.submitted.read", Value: uint64(1)},
		{Key: "dev.submitted.write", Value: uint64(2)}, {Key: "dev.Plain", Value: 4}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("KVsOf: %v, want %v", got, want)
	}
}
