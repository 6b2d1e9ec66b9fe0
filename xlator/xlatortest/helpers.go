package xlatortest

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/xstack/xstack/runtime/iobuf"
	"github.com/xstack/xstack/runtime/mempool"
	"github.com/xstack/xstack/runtime/slab"
	"github.com/xstack/xstack/xlator"
)

// Pass is a translator that overrides nothing: every fop goes to its first
// child through Base. Registered as type "pass".
type Pass struct{ xlator.Base }

// PassType is the registry entry for Pass.
var PassType = xlator.Type{Name: "pass", MinChildren: 1, MaxChildren: 1, DataTransparent: true,
	New: func() xlator.Xlator { return &Pass{} }}

// Registry returns a registry with the test types mem, pass and fault.
func Registry() *xlator.Registry {
	r := xlator.NewRegistry()
	r.MustRegister(MemType)
	r.MustRegister(PassType)
	r.MustRegister(FaultType)
	return r
}

// NewEnv returns a runtime for a test graph, closed when the test ends.
// With a nil tb the logger is a no-op and nothing is closed.
func NewEnv(tb testing.TB) *xlator.Env {
	log := zap.NewNop()
	if tb != nil {
		if _, ok := tb.(*testing.B); !ok {
			log = zaptest.NewLogger(tb, zaptest.Level(zap.WarnLevel))
		}
	}
	pool, err := iobuf.New(iobuf.Config{})
	if err != nil {
		panic(err)
	}
	env := &xlator.Env{Logger: log, Pools: mempool.NewRegistry(log), Iobufs: pool, Slabs: slab.NewRegistry()}
	if tb != nil {
		tb.Cleanup(func() { _ = pool.Close() })
	}
	return env
}

// Chain returns a spec of volumes l0 (top) … ln, each the only child of
// the one before, with the given types; the last is usually "mem".
func Chain(types ...string) *xlator.Spec {
	s := &xlator.Spec{Source: "<test>", Top: "l0"}
	for i, t := range types {
		v := xlator.VolumeSpec{Name: fmt.Sprintf("l%d", i), Type: t, Options: xlator.NewOptions()}
		if i+1 < len(types) {
			v.Subvolumes = []string{fmt.Sprintf("l%d", i+1)}
		}
		s.Volumes = append(s.Volumes, v)
	}
	return s
}

// Start builds, initialises and starts a graph, failing the test on error;
// the graph is stopped when the test ends.
func Start(tb testing.TB, spec *xlator.Spec, reg *xlator.Registry, env *xlator.Env) *xlator.Graph {
	tb.Helper()
	if env == nil {
		env = NewEnv(tb)
	}
	g, err := xlator.New(spec, reg, env)
	if err != nil {
		tb.Fatalf("build graph: %v", err)
	}
	if err := g.Init(); err != nil {
		tb.Fatalf("init graph: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Start(ctx); err != nil {
		tb.Fatalf("start graph: %v", err)
	}
	tb.Cleanup(g.Stop)
	return g
}

// Log is a concurrency-safe list of recorded lines.
type Log struct {
	mu    sync.Mutex
	lines []string
}

// Add appends a line.
func (l *Log) Add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// Lines returns a copy of the lines.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// Recorder passes fops through and records its lifecycle (init, notify,
// fini, release, forget) into a Log; FailInit makes Init fail for the
// volume of that name.
type Recorder struct {
	xlator.Base
	log      *Log
	failInit string
}

// RecorderType returns a type "rec" whose translators record into log.
func RecorderType(log *Log, failInit string) xlator.Type {
	return xlator.Type{Name: "rec", MaxChildren: -1, New: func() xlator.Xlator {
		return &Recorder{log: log, failInit: failInit}
	}}
}

// Init records the call.
func (r *Recorder) Init(ic *xlator.InitContext) error {
	r.log.Add("init %s", r.Name())
	if r.Name() == r.failInit {
		return fmt.Errorf("refusing to start (test)")
	}
	return nil
}

// Fini records the call.
func (r *Recorder) Fini() { r.log.Add("fini %s", r.Name()) }

// Notify records the event and then behaves as Base.
func (r *Recorder) Notify(ev xlator.Event, from xlator.Xlator) {
	src := "graph"
	if from != nil {
		src = xlator.Name(from)
	}
	r.log.Add("notify %s %s from %s", r.Name(), ev, src)
	r.Base.Notify(ev, from)
}

// Release records the call.
func (r *Recorder) Release(fd *xlator.FD) { r.log.Add("release %s", r.Name()) }

// Forget records the call.
func (r *Recorder) Forget(in *xlator.Inode) { r.log.Add("forget %s", r.Name()) }

// Fault fails the fops named in its "fops" option with the errno in its
// "errno" option, and passes the others through. Registered as "fault".
type Fault struct {
	xlator.Base
	fail  [xlator.NumFops]bool
	errno syscall.Errno
}

// FaultType is the registry entry for Fault.
var FaultType = xlator.Type{Name: "fault", MinChildren: 1, MaxChildren: 1,
	Options: xlator.Schema{
		{Name: "fops", Kind: xlator.KindString, Doc: "comma-separated fop names (READ, WRITE …) or *"},
		{Name: "errno", Kind: xlator.KindInt, Default: "5", Min: 1, Max: 4095, Doc: "errno to return"},
	},
	New: func() xlator.Xlator { return &Fault{} }}

// SetFault makes fop f fail with errno e (0 clears it). Not safe while fops
// are in flight; for tests that set faults between phases.
func (f *Fault) SetFault(fop xlator.Fop, e syscall.Errno) {
	f.fail[fop] = e != 0
	if e != 0 {
		f.errno = e
	}
}

// Init reads the options.
func (f *Fault) Init(ic *xlator.InitContext) error {
	f.errno = syscall.Errno(ic.Options.Int("errno"))
	spec := ic.Options.String("fops")
	for fop := xlator.Fop(0); fop < xlator.NumFops; fop++ {
		if spec == "*" || containsWord(spec, fop.String()) {
			f.fail[fop] = true
		}
	}
	return nil
}

func containsWord(list, w string) bool {
	start := 0
	for i := 0; i <= len(list); i++ {
		if i == len(list) || list[i] == ',' {
			if list[start:i] == w {
				return true
			}
			start = i + 1
		}
	}
	return false
}

func (f *Fault) err(fop xlator.Fop) error {
	if f.fail[fop] {
		return f.errno
	}
	return nil
}

// Readv fails or passes.
func (f *Fault) Readv(c *xlator.Call, fd *xlator.FD, size int, off int64) (*iobuf.Iobref, error) {
	if err := f.err(xlator.FopReadv); err != nil {
		return nil, err
	}
	return f.Base.Readv(c, fd, size, off)
}

// Writev fails or passes.
func (f *Fault) Writev(c *xlator.Call, fd *xlator.FD, data *iobuf.Iobref, off int64) (int, error) {
	if err := f.err(xlator.FopWritev); err != nil {
		return 0, err
	}
	return f.Base.Writev(c, fd, data, off)
}

// Lookup fails or passes.
func (f *Fault) Lookup(c *xlator.Call, loc *xlator.Loc) (xlator.Iatt, error) {
	if err := f.err(xlator.FopLookup); err != nil {
		return xlator.Iatt{}, err
	}
	return f.Base.Lookup(c, loc)
}

// Create fails or passes.
func (f *Fault) Create(c *xlator.Call, loc *xlator.Loc, flags, mode, umask uint32, fd *xlator.FD) (xlator.Iatt, error) {
	if err := f.err(xlator.FopCreate); err != nil {
		return xlator.Iatt{}, err
	}
	return f.Base.Create(c, loc, flags, mode, umask, fd)
}

// Fsync fails or passes.
func (f *Fault) Fsync(c *xlator.Call, fd *xlator.FD, datasync bool) error {
	if err := f.err(xlator.FopFsync); err != nil {
		return err
	}
	return f.Base.Fsync(c, fd, datasync)
}

// Begin starts a call on g for fop f with root credentials; the caller
// ends it with Done.
func Begin(g *xlator.Graph, f xlator.Fop) *xlator.Call {
	return g.Calls().Begin(context.Background(), f, xlator.Creds{}, 0)
}

// Create creates the regular file name in the root through the graph's top
// (O_RDWR, mode 0644, umask 022), as a front end does, and returns its
// linked inode and open fd, each holding a reference the caller drops.
func Create(tb testing.TB, g *xlator.Graph, name string) (*xlator.Inode, *xlator.FD) {
	tb.Helper()
	tab := g.Inodes()
	in := tab.New()
	fd := g.NewFD(in, syscall.O_RDWR, 1, false)
	call := Begin(g, xlator.FopCreate)
	loc := &xlator.Loc{Parent: tab.Root(), Name: name, Inode: in}
	ia, err := g.Top().Create(call, loc, syscall.O_RDWR|syscall.O_CREAT, 0o644, 0o022, fd)
	call.Done()
	if err != nil {
		fd.Unref()
		in.Unref()
		tb.Fatalf("create %s: %v", name, err)
	}
	linked := tab.Link(in, tab.Root(), name, &ia)
	in.Unref()
	return linked, fd
}
